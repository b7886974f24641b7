"""canary_core.slack_actions: a button pressed in Slack (app mode), accepted then handled, end to end on moto.

Slack's side is the sample payload (events/slack-block-actions.json), signed as Slack signs it; the answers to
the person go to the interaction's response_url through slack.respond, faked at the network (SlackHttp).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import timedelta
from urllib.parse import urlencode

import pytest
from botocore.exceptions import ClientError
from slack_fake import http_response

from canary_core import slack
from canary_core.links import DecisionLink
from canary_core.slack_actions import accept_press, handle_press
from canary_core.slack_requests import SlackRequestRejected

SIGNING_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
RESPONSE_URL = "https://hooks.slack.com/actions/T0CANARY/1795690000/abcdefABCDEF0123456789"  # the sample's


@pytest.fixture
def expires(now):
    return int(now.timestamp()) + 3600


@pytest.fixture
def press(load_event, link_secret, expires, now):
    """press(action, user=..., value=...): (headers, body) of a button press, signed at `now` as Slack signs it.

    The button's value is the signed link of `action` for my-app build 760, unless `value` is given.
    """

    def make(action="approve", *, user=None, value=None, at=None, response_url=None):
        payload = load_event("slack-block-actions.json")
        if response_url:
            payload["response_url"] = response_url
        payload["actions"][0]["action_id"] = action
        payload["actions"][0]["value"] = value or urlencode(
            DecisionLink("my-app", 760, action, expires).params(link_secret)
        )
        if user:
            payload["user"] = user
        body = urlencode({"payload": json.dumps(payload)})
        timestamp = str(int((at or now).timestamp()))
        digest = hmac.new(SIGNING_SECRET.encode(), f"v0:{timestamp}:{body}".encode(), hashlib.sha256).hexdigest()
        headers = {
            "content-type": "application/x-www-form-urlencoded",
            "x-slack-request-timestamp": timestamp,
            "x-slack-signature": f"v0={digest}",
        }
        return headers, body

    return make


@pytest.fixture
def handle(table, sfn, link_secret, now, slack_http):
    """handle(headers, body, approvers=(), sfn_client=sfn, at=now): accept the press as the click handler does,
    then handle it as its own invocation does, answering through slack.respond. Returns Slack's (status, body)."""

    def run(headers, body, *, approvers=(), sfn_client=None, at=None):
        try:
            action = accept_press(headers, body, SIGNING_SECRET, at or now)
        except SlackRequestRejected as error:
            return error.status, str(error)
        handle_press(
            action,
            link_secret=link_secret,
            approvers=approvers,
            table=table,
            sfn_client=sfn_client or sfn,
            respond=slack.respond,
            now=at or now,
        )
        return 200, ""

    return run


def ephemeral(text):
    return {"response_type": "ephemeral", "replace_original": False, "text": text}


def test_an_approval_is_taken_as_the_slack_user_and_replaces_the_message(
    table, sfn, waiting_deployment, press, handle, slack_http, now
):
    # given my-app build 760 waits on a task token, and alice presses Approve
    waiting_deployment(task_token="token-slack-approve")
    headers, body = press("approve")

    # when the press reaches the interactivity endpoint
    answer = handle(headers, body)

    # then Slack gets 200, the decision is alice's with her Slack user id, and the execution is resumed with it
    assert answer == (200, "")
    assert table.get("my-app", 760)["decision"] == {
        "action": "approve",
        "decided_by": "alice",
        "decided_at": now.isoformat(),
        "user_id": "U0ALICE",
    }
    (call,) = sfn.calls
    assert call["taskToken"] == "token-slack-approve"
    assert json.loads(call["output"]) == {"action": "approve", "decided_by": "alice", "decided_at": now.isoformat()}

    # and the message is replaced by who decided and when, without buttons
    (reply,) = slack_http.to(RESPONSE_URL)
    assert reply == {
        "replace_original": True,
        "text": "my-app build 760: Approved by alice at 09:30 UTC: promoting every alias now.",
        "blocks": [
            {"type": "header", "text": {"type": "plain_text", "text": "Approved: my-app build 760"}},
            {
                "type": "section",
                "text": {
                    "type": "mrkdwn",
                    "text": "Approved by alice at 09:30 UTC: promoting every alias now.",
                },
            },
        ],
    }


def test_an_approver_on_the_list_rolls_back(table, sfn, waiting_deployment, press, handle, slack_http, now):
    # given approvers U0ALICE and U0BOB, and alice presses Roll back
    waiting_deployment()
    headers, body = press("rollback")

    # when the press is handled
    handle(headers, body, approvers=("U0BOB", "U0ALICE"))

    # then the deployment is rolled back by alice
    assert table.get("my-app", 760)["decision"]["action"] == "rollback"
    assert json.loads(sfn.calls[0]["output"])["action"] == "rollback"
    assert slack_http.to(RESPONSE_URL)[0]["text"] == (
        "my-app build 760: Rolled back by alice at 09:30 UTC: putting every alias back now."
    )


def test_someone_not_on_the_approvers_list_decides_nothing(
    table, sfn, waiting_deployment, press, handle, slack_http, now
):
    # given only U0BOB may decide, and mallory presses Approve
    waiting_deployment()
    mallory = {"id": "U0MALLORY", "username": "mallory", "name": "mallory", "team_id": "T0CANARY"}
    headers, body = press("approve", user=mallory)

    # when the press is handled
    answer = handle(headers, body, approvers=("U0BOB",))

    # then nothing is decided or resumed; the refusal is counted (who, last) and told to mallory alone
    assert answer == (200, "")
    item = table.get("my-app", 760)
    assert "decision" not in item
    assert sfn.calls == []
    assert item["refused_presses"] == 1
    assert item["last_of_refused_presses"] == {
        "at": now.isoformat(),
        "event": "refused presses",
        "action": "approve",
        "decided_by": "mallory",
        "decided_at": now.isoformat(),
        "user_id": "U0MALLORY",
    }
    assert slack_http.to(RESPONSE_URL) == [
        ephemeral("You are not allowed to decide my-app build 760; nothing was changed.")
    ]


def test_a_replayed_press_is_told_it_was_already_decided(
    table, sfn, waiting_deployment, press, handle, slack_http, now
):
    # given alice's approval went through
    waiting_deployment()
    headers, body = press("approve")
    handle(headers, body)

    # when the very same request arrives again a minute later (Slack's retry, or a replay within five minutes)
    answer = handle(headers, body, at=now + timedelta(minutes=1))

    # then nothing changes: the execution was resumed once, and the second press is told what was decided
    assert answer == (200, "")
    assert len(sfn.calls) == 1
    assert slack_http.to(RESPONSE_URL)[-1] == ephemeral(
        "my-app build 760 was already decided: approve by alice at 2025-04-07 09:30 UTC. Nothing was changed."
    )
    assert table.get("my-app", 760)["late_decisions"] == 1


def test_a_button_whose_link_was_tampered_with_decides_nothing(
    table, sfn, waiting_deployment, press, handle, slack_http, link_secret, expires
):
    # given a button value whose build number was changed to 761 (the signature is still 760's)
    waiting_deployment()
    waiting_deployment(build_no=761)
    params = DecisionLink("my-app", 760, "approve", expires).params(link_secret)
    headers, body = press("approve", value=urlencode({**params, "build_no": "761"}))

    # when the press is handled
    answer = handle(headers, body)

    # then nothing is decided for either build, and the presser is told the button cannot be used
    assert answer == (200, "")
    assert "decision" not in table.get("my-app", 760)
    assert "decision" not in table.get("my-app", 761)
    assert sfn.calls == []
    (reply,) = slack_http.to(RESPONSE_URL)
    assert reply["response_type"] == "ephemeral" and reply["replace_original"] is False
    assert reply["text"].startswith("This button cannot be used: This link's signature does not match")


def test_a_button_carrying_the_other_actions_link_decides_nothing(
    table, sfn, waiting_deployment, press, handle, slack_http, link_secret, expires
):
    # given an Approve button whose value is the (validly signed) roll-back link
    waiting_deployment()
    rollback = urlencode(DecisionLink("my-app", 760, "rollback", expires).params(link_secret))
    headers, body = press("approve", value=rollback)

    # when the press is handled
    handle(headers, body)

    # then nothing is decided, and the presser is told
    assert "decision" not in table.get("my-app", 760)
    assert sfn.calls == []
    assert slack_http.to(RESPONSE_URL) == [ephemeral("This button does not match its deployment; nothing was changed.")]


def test_a_button_pressed_after_the_deadline_decides_nothing(
    table, sfn, waiting_deployment, press, handle, slack_http, now
):
    # given the request's hour has passed
    waiting_deployment()
    later = now + timedelta(hours=1, seconds=1)
    headers, body = press("approve", at=later)

    # when alice presses Approve
    handle(headers, body, at=later)

    # then nothing is decided, and she is told the link expired
    assert "decision" not in table.get("my-app", 760)
    assert slack_http.to(RESPONSE_URL) == [
        ephemeral(
            "This button cannot be used: This link expired at 2025-04-07 10:30 UTC; "
            "the deployment no longer waits for a decision."
        )
    ]


def test_a_press_whose_signature_does_not_match_is_refused_before_anything(
    table, sfn, waiting_deployment, press, handle, slack_http
):
    # given a press whose signature was forged
    waiting_deployment()
    headers, body = press("approve")
    headers["x-slack-signature"] = "v0=" + "0" * 64

    # when it is handled
    answer = handle(headers, body)

    # then Slack gets 401; nothing is decided and nobody is answered
    assert answer == (401, "Slack signature does not match")
    assert "decision" not in table.get("my-app", 760)
    assert slack_http.requests == []


def test_a_failed_reply_does_not_undo_the_decision(table, sfn, waiting_deployment, press, handle, slack_http):
    # given the interaction's response_url has expired (Slack answers 404)
    waiting_deployment(task_token="token-reply-fails")
    slack_http.answers[RESPONSE_URL] = http_response(404, "expired_url")
    headers, body = press("approve")

    # when alice's press is handled
    answer = handle(headers, body)

    # then the decision stands and was delivered; only the reply was lost
    assert answer == (200, "")
    assert table.get("my-app", 760)["decision"]["decided_by"] == "alice"
    assert [call["taskToken"] for call in sfn.calls] == ["token-reply-fails"]
    assert [request["url"] for request in slack_http.requests] == [RESPONSE_URL]


def test_a_press_for_an_execution_that_no_longer_waits_is_told_too_late(
    table, timed_out_sfn, waiting_deployment, press, handle, slack_http
):
    # given the waiting task timed out and the execution has ended
    waiting_deployment()
    headers, body = press("approve")

    # when alice presses Approve
    handle(headers, body, sfn_client=timed_out_sfn)

    # then she is told it was too late, and why
    assert slack_http.to(RESPONSE_URL) == [
        ephemeral(
            "Too late: my-app build 760 was no longer waiting (the execution was no longer waiting (TaskTimedOut))."
        )
    ]


class ThrottledStepFunctions:
    def send_task_success(self, **kwargs):
        raise ClientError({"Error": {"Code": "ThrottlingException", "Message": "Rate exceeded"}}, "SendTaskSuccess")


def test_a_decision_that_could_not_reach_the_workflow_is_taken_back_and_told(
    table, waiting_deployment, press, handle, slack_http
):
    # given Step Functions throttles SendTaskSuccess
    waiting_deployment()
    headers, body = press("approve")

    # when alice presses Approve
    answer = handle(headers, body, sfn_client=ThrottledStepFunctions())

    # then nothing is decided (she can press again), and she is told so
    assert answer == (200, "")
    assert "decision" not in table.get("my-app", 760)
    assert slack_http.to(RESPONSE_URL) == [
        ephemeral(
            "Your decision could not reach the workflow (ThrottlingException). "
            "Nothing was decided: try again in a moment."
        )
    ]


def test_may_decide_names_users_and_members_of_user_groups():
    # given approvers naming one user and one user group, whose members Slack lists
    from canary_core.slack import SlackError
    from canary_core.slack_actions import may_decide

    asked: list[str] = []

    def members(group: str) -> set[str]:
        asked.append(group)
        if group == "S0BROKEN":
            raise SlackError("Slack usergroups.users.list failed: missing_scope")
        return {"U0CAROL"}

    approvers = ("U0ALICE", "S0BROKEN", "S0RELEASE")

    # then the named user and the group's member may decide, anyone else may not, and no approvers means everyone
    assert may_decide("U0ALICE", approvers, members) and asked == []
    assert may_decide("U0CAROL", approvers, members)
    assert not may_decide("U0MALLORY", approvers, members)
    assert not may_decide("U0CAROL", approvers, None)
    assert may_decide("U0ANYONE", (), None)


@pytest.mark.parametrize(
    "response_url",
    [
        "https://evil.example/actions/T0CANARY/1/abc",
        "http://hooks.slack.com/actions/T0CANARY/1/abc",
        "https://hooks.slack.com.evil.example/actions/T0CANARY/1/abc",
        "https://hooks.slack.com@evil.example/actions/T0CANARY/1/abc",
        "https://hooks.slack.com:8443/actions/T0CANARY/1/abc",
        "http://169.254.169.254/latest/meta-data/",
    ],
)
def test_a_reply_goes_only_to_slacks_own_response_url_hosts(
    table, sfn, waiting_deployment, press, handle, slack_http, response_url
):
    # given a signed press whose response_url points somewhere other than Slack
    waiting_deployment(task_token="token-elsewhere")
    headers, body = press("approve", response_url=response_url)

    # when it is handled
    answer = handle(headers, body)

    # then the decision is taken, but nothing is sent anywhere
    assert answer == (200, "")
    assert table.get("my-app", 760)["decision"]["decided_by"] == "alice"
    assert slack_http.requests == []


@pytest.mark.parametrize(
    ("url", "allowed"),
    [
        ("https://hooks.slack.com/actions/T0CANARY/1/abc", True),
        ("https://hooks.slack-gov.com/actions/T0CANARY/1/abc", True),
        ("https://hooks.slack.com", False),
        ("https://hooks.slack.com\\@evil.example/", False),
        ("https://HOOKS.slack.com/actions/T0CANARY/1/abc", False),
        ("not a url", False),
    ],
)
def test_response_url_allowed_matches_scheme_host_and_port(url, allowed):
    # given Slack's response_url prefixes
    # when a URL is checked, then only one on Slack's hosts, over https, on the default port, is allowed
    assert slack.response_url_allowed(url, slack.RESPONSE_URL_PREFIXES) is allowed


def test_an_ephemeral_reply_is_escaped_like_every_text_sent_to_slack(
    table, sfn, waiting_deployment, press, handle, slack_http, now
):
    # given a deployment decided by someone whose Slack name holds control characters
    waiting_deployment(task_token="token-escape")
    sneaky = {"id": "U0ALICE", "username": "<!channel> & <https://evil.example|click>", "team_id": "T0CANARY"}
    handle(*press("approve", user=sneaky))

    # when someone presses again
    handle(*press("rollback"), at=now + timedelta(minutes=1))

    # then the ephemeral reply names the first decider escaped: no mention, no forged link
    (reply,) = [r for r in slack_http.to(RESPONSE_URL) if r.get("response_type") == "ephemeral"]
    assert "&lt;!channel&gt; &amp; &lt;https://evil.example|click&gt;" in reply["text"]
    assert "<!channel>" not in reply["text"]
