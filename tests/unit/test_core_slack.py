"""canary_core.slack: the Block Kit messages (request for a decision, outcome) and posting them."""

from __future__ import annotations

import logging
from http.client import RemoteDisconnected

import pytest
from slack_fake import Dropped, http_response

from canary_core import slack
from canary_core.model import FunctionTarget
from canary_core.slack import SlackError

APPROVE_URL = "https://abc123defg.execute-api.us-east-1.amazonaws.com/v1/decide?action=approve&signature=a1"
ROLLBACK_URL = "https://abc123defg.execute-api.us-east-1.amazonaws.com/v1/decide?action=rollback&signature=b2"
URLS = {"approve": APPROVE_URL, "rollback": ROLLBACK_URL}
EXPIRES_AT = 1744021800  # 2025-04-07 10:30 UTC
WEBHOOK = "https://hooks.slack.com/services/T000/B000/unit-test-webhook"


def sections(message):
    return [block["text"]["text"] for block in message["blocks"] if block["type"] == "section"]


def actions(message):
    return [block for block in message["blocks"] if block["type"] == "actions"]


@pytest.fixture
def two_functions():
    return (
        FunctionTarget("orders-api", "arn:aws:lambda:us-east-1:123456789012:function:orders-api", "1", "2"),
        FunctionTarget("payments", "arn:aws:lambda:us-east-1:123456789012:function:payments", "7", "9"),
    )


def test_the_request_has_a_header_the_build_link_and_the_facts(make_deployment, two_functions):
    # given build 760 of my-app with a build URL
    deployment = make_deployment(functions=two_functions)

    # when the request for a decision is made
    message = slack.request_message(deployment, URLS, "prod", EXPIRES_AT)

    # then it has a header, the share and the deadline, and the build number links to the CI build
    assert message["blocks"][0] == {
        "type": "header",
        "text": {"type": "plain_text", "text": "Canary: my-app build 760"},
    }
    summary = sections(message)[0]
    assert "Canary: my-app build 760 has 10% of traffic. Approve or roll back by 2025-04-07 10:30 UTC." in summary
    assert "*Build:* <https://ci.example.com/my-app/760|760>" in summary
    assert "*Alias:* `live`" in summary and "*Environment:* prod" in summary and "*Functions:* 2" in summary


def test_the_request_lists_each_function_with_old_and_new_version_and_weight(make_deployment, two_functions):
    # given two functions moving from 1 to 2 and from 7 to 9
    deployment = make_deployment(functions=two_functions, weight=0.25)

    # when the request is made
    message = slack.request_message(deployment, URLS, "prod", EXPIRES_AT)

    # then each function has a line with its versions and the weight of the new one
    assert sections(message)[1] == "`orders-api` v1 -> v2 at 25%\n`payments` v7 -> v9 at 25%"


def test_the_request_says_what_happens_to_pinned_and_unchanged_functions(make_deployment):
    # given one function first deployed from $LATEST and one whose code did not change
    deployment = make_deployment(
        functions=[
            FunctionTarget("first-time", "arn:aws:lambda:us-east-1:123456789012:function:first-time", "$LATEST", "1"),
            FunctionTarget("same-code", "arn:aws:lambda:us-east-1:123456789012:function:same-code", "4", "4"),
        ]
    )

    # when the request is made
    message = slack.request_message(deployment, URLS, "prod", EXPIRES_AT)

    # then their lines say so
    assert sections(message)[1] == (
        "`first-time` $LATEST -> v1: first deployment, pinned (no earlier version)\n"
        "`same-code` v4: code unchanged, left as it is"
    )


def test_the_request_has_approve_and_roll_back_buttons_with_the_links(make_deployment):
    # given a deployment waiting for a decision
    deployment = make_deployment()

    # when the request is made with the two signed links
    message = slack.request_message(deployment, URLS, "prod", EXPIRES_AT)

    # then the last block ("decision") holds the two buttons, each opening its link
    assert message["blocks"][-1] == {
        "type": "actions",
        "block_id": "decision",
        "elements": [
            {
                "type": "button",
                "text": {"type": "plain_text", "text": "Approve"},
                "url": APPROVE_URL,
                "action_id": "approve",
                "style": "primary",
            },
            {
                "type": "button",
                "text": {"type": "plain_text", "text": "Roll back"},
                "url": ROLLBACK_URL,
                "action_id": "rollback",
                "style": "danger",
            },
        ],
    }
    assert slack.escape(APPROVE_URL) in message["text"] and slack.escape(ROLLBACK_URL) in message["text"]


def test_slack_does_not_unfurl_the_links_of_any_message(make_deployment):
    # given a deployment
    deployment = make_deployment()

    # when its request and its outcome messages are made
    request = slack.request_message(deployment, URLS, "prod", EXPIRES_AT)
    outcome = slack.outcome_message(deployment, {"status": "PROMOTED", "summary": {}}, "prod")

    # then Slack is told not to preview the links (a preview would fetch the approve link)
    for message in (request, outcome):
        assert message["unfurl_links"] is False
        assert message["unfurl_media"] is False


def test_a_pre_approved_request_has_no_buttons(make_deployment):
    # given a pre-approved deployment (no links are made)
    deployment = make_deployment(pre_approve=True)

    # when the request is made without URLs
    message = slack.request_message(deployment, {}, "dev", EXPIRES_AT)

    # then there is no actions block, and the text says it is promoting
    assert actions(message) == []
    assert message["text"] == "Canary: my-app build 760 is pre-approved in dev; promoting now."
    assert "decide?" not in str(message)


def test_a_request_for_300_functions_stays_within_slack_limits(make_deployment):
    # given 300 functions with 64-character names, each deployed for the first time (the longest lines)
    functions = [
        FunctionTarget(
            name := f"fn-{index:03d}-".ljust(64, "x"),
            f"arn:aws:lambda:us-east-1:123456789012:function:{name}",
            "$LATEST",
            "1",
        )
        for index in range(300)
    ]
    deployment = make_deployment(functions=functions)

    # when the request is made
    message = slack.request_message(deployment, URLS, "prod", EXPIRES_AT)

    # then it has at most 50 blocks, each section at most 3000 characters, and still the buttons
    assert len(message["blocks"]) <= 50
    assert all(len(text) <= 3000 for text in sections(message))
    assert len(actions(message)) == 1

    # and the functions not listed are counted in one closing line
    listed = [line for text in sections(message)[1:] for line in text.split("\n") if line.startswith("`fn-")]
    last_line = sections(message)[-1].split("\n")[-1]
    assert last_line == f"... and {300 - len(listed)} more"
    assert 0 < len(listed) < 300


def test_a_request_for_a_few_functions_lists_them_all(make_deployment, two_functions):
    # given two functions
    deployment = make_deployment(functions=two_functions)

    # when the request is made
    message = slack.request_message(deployment, URLS, "prod", EXPIRES_AT)

    # then nothing is summarised
    assert "more" not in "\n".join(sections(message))


def test_mrkdwn_control_characters_are_escaped(make_deployment):
    # given a deployment record whose repository and outcome cause contain <, > and &
    deployment = make_deployment(repository="a&b<c>")
    outcome = {"status": "FAILED", "cause": "Roll back failed: <!channel> & <https://evil.example|click>"}

    # when its messages are made
    request = slack.request_message(deployment, URLS, "prod", EXPIRES_AT)
    ended = slack.outcome_message(deployment, outcome, "prod")

    # then the mrkdwn sections carry them escaped: no mention, no link can be smuggled in
    assert "*Repository:* a&amp;b&lt;c&gt;" in sections(request)[0]
    assert "Canary: a&amp;b&lt;c&gt; build 760" in sections(request)[0]
    assert sections(ended)[0].startswith(
        "Roll back failed: &lt;!channel&gt; &amp; &lt;https://evil.example|click&gt;\n"
    )
    assert "<!channel>" not in str(ended["blocks"])


def test_the_outcome_of_a_promoted_deployment_says_who_approved(make_deployment, two_functions):
    # given a promoted deployment
    deployment = make_deployment(functions=two_functions)
    outcome = {
        "status": "PROMOTED",
        "summary": {"decided_by": "approval link", "decided_at": "2025-04-07T09:45:00+00:00"},
    }

    # when the outcome message is made
    message = slack.outcome_message(deployment, outcome, "prod")

    # then it says promoted, who approved and when, and lists the versions now running
    assert message["blocks"][0]["text"]["text"] == "Promoted: my-app build 760"
    assert message["text"] == ("Promoted: my-app build 760. Approved by approval link at 2025-04-07 09:45 UTC.")
    assert sections(message)[1] == "`orders-api` v1 -> v2\n`payments` v7 -> v9"
    assert actions(message) == []


def test_the_outcome_of_a_rolled_back_deployment_gives_the_cause(make_deployment, two_functions):
    # given a deployment rolled back by a person
    deployment = make_deployment(functions=two_functions)
    outcome = {
        "status": "ROLLED_BACK",
        "error": "Canary.RolledBack",
        "cause": "Rolled back by approval link at 2025-04-07T09:45:00+00:00.",
    }

    # when the outcome message is made
    message = slack.outcome_message(deployment, outcome, "prod")

    # then it says rolled back and why, and the new versions got no traffic in the end
    assert message["blocks"][0]["text"]["text"] == "Rolled back: my-app build 760"
    assert sections(message)[0].startswith("Rolled back by approval link at 2025-04-07T09:45:00+00:00.\n")
    assert sections(message)[1] == "`orders-api` v1 -> v2 at 0%\n`payments` v7 -> v9 at 0%"


def test_the_outcome_of_a_failed_roll_back_says_failed(make_deployment):
    # given a deployment whose roll back failed
    outcome = {"status": "FAILED", "error": "Canary.RollbackFailed", "cause": "Roll back failed"}

    # when the outcome message is made
    message = slack.outcome_message(make_deployment(), outcome, "prod")

    # then the header says failed
    assert message["blocks"][0]["text"]["text"] == "Failed: my-app build 760"


def test_post_sends_the_message_as_json_with_a_timeout(make_deployment, slack_http):
    # given Slack's webhook answers 200 ok (its default)
    message = slack.outcome_message(make_deployment(), {"status": "PROMOTED", "summary": {}}, "prod")

    # when the message is posted
    slack.post(WEBHOOK, message)

    # then it went to the webhook once, as JSON, with a timeout
    (request,) = slack_http.requests
    assert (request["url"], request["method"], request["timeout"]) == (WEBHOOK, "POST", 5.0)
    assert request["headers"]["Content-Type"] == "application/json;charset=utf-8"
    assert request["json"] == message


def test_post_to_an_unreachable_webhook_raises_slack_error_without_the_url(slack_http):
    # given the webhook's connection is refused, each time
    slack_http.answers[WEBHOOK] = ConnectionRefusedError(111, f"Connection refused: {WEBHOOK}")

    # when a message is posted
    with pytest.raises(SlackError) as error:
        slack.post(WEBHOOK, {"text": "hello"})

    # then the error says unreachable and why, and does not leak the webhook URL (a secret)
    assert str(error.value) == "Slack unreachable: ConnectionRefusedError"
    assert WEBHOOK not in str(error.value)
    # and it was tried twice: the request never left, so a second try cannot post twice
    assert [request["delivered"] for request in slack_http.requests] == [False, False]


def test_a_webhooks_url_and_messages_stay_out_of_the_logs_at_debug(slack_http, caplog):
    # given the function's logging at DEBUG (AWS_LAMBDA_LOG_LEVEL, say)
    caplog.set_level(logging.DEBUG)

    # when a message is posted to the webhook (a secret: whoever has it can post)
    slack.post(WEBHOOK, {"text": "hello from the canary"})

    # then neither the URL nor the message was logged
    assert len(slack_http.requests) == 1
    assert WEBHOOK not in caplog.text and "hello from the canary" not in caplog.text


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        (http_response(500, "internal_error"), "Slack answered 500: internal_error"),
        (http_response(404, "no_service"), "Slack answered 404: no_service"),
        (http_response(400, "invalid_payload"), "Slack answered 400: invalid_payload"),
        (http_response(403, "x" * 300), f"Slack answered 403: {'x' * 200}"),
    ],
)
def test_post_answered_with_an_error_raises_slack_error_with_the_status(slack_http, answer, expected):
    # given the webhook refuses the message (its text says why; a long answer is cut at 200 characters)
    slack_http.answers[WEBHOOK] = answer

    # when a message is posted
    with pytest.raises(SlackError) as error:
        slack.post(WEBHOOK, {"text": "hello"})

    # then the error gives the status and Slack's answer, and the message went once (no retry on an answer)
    assert str(error.value) == expected
    assert len(slack_http.requests) == 1


def test_a_build_url_cannot_smuggle_a_mention_into_the_message(make_deployment):
    # given a build URL (accepted by parse_request) that carries a channel mention
    deployment = make_deployment(build_url="https://ci.example.com/760|<!channel>")

    # when the request for a decision is made
    message = slack.request_message(deployment, URLS, "prod", EXPIRES_AT)

    # then the mention is not live mrkdwn
    assert "<!channel>" not in sections(message)[0]


# --- app mode: buttons with values, reminders, the decided message --------------------------------------


def test_app_buttons_carry_their_value_and_no_url(make_deployment):
    # given the values a Slack app's buttons carry (each action's signed link fields)
    values = {"approve": "repository=my-app&action=approve", "rollback": "repository=my-app&action=rollback"}

    # when the request is made with them
    message = slack.request_message(make_deployment(), URLS, "prod", EXPIRES_AT, values)

    # then the buttons post their value to the app instead of opening a link; the links stay in the text
    (block,) = actions(message)
    assert block["block_id"] == "decision"
    assert [(button["action_id"], button.get("value"), "url" in button) for button in block["elements"]] == [
        ("approve", values["approve"], False),
        ("rollback", values["rollback"], False),
    ]
    assert slack.escape(APPROVE_URL) in message["text"] and slack.escape(ROLLBACK_URL) in message["text"]


def test_app_buttons_without_links_when_only_approvers_decide(make_deployment):
    # given button values, and links hidden (only the app's named approvers may decide)
    values = {"approve": "a", "rollback": "r"}

    # when the request is made
    message = slack.request_message(make_deployment(), URLS, "prod", EXPIRES_AT, values, show_links=False)

    # then the buttons are the only way: no link anywhere in the message
    assert message["text"] == (
        "Canary: my-app build 760 has 10% of traffic. Approve or roll back by 2025-04-07 10:30 UTC."
    )
    assert "decide?" not in str(message)
    assert [button["value"] for button in actions(message)[0]["elements"]] == ["a", "r"]


def test_a_function_publish_versions_never_reached_is_listed_as_not_changed(make_deployment):
    # given a deployment that ended before Publish Versions (no new version)
    deployment = make_deployment(
        functions=[FunctionTarget("orders-api", "arn:aws:lambda:us-east-1:123456789012:function:orders-api", "1")]
    )

    # when its outcome is made
    message = slack.outcome_message(deployment, {"status": "ROLLED_BACK", "cause": "Stopped."}, "prod")

    # then its line says it was not changed, with no made-up version
    assert sections(message)[1] == "`orders-api`: not changed"


@pytest.mark.parametrize(
    ("on_timeout", "policy"),
    [("rollback", "rolled back"), ("promote", "promoted")],
)
def test_a_reminder_says_the_time_left_and_what_happens_then(make_deployment, on_timeout, policy):
    # given a deployment whose deadline is 10:30 UTC, half an hour away
    deployment = make_deployment(on_timeout=on_timeout)

    # when its reminder is made
    message = slack.reminder_message(deployment, URLS, EXPIRES_AT, EXPIRES_AT - 1800)

    # then it says how long is left, until when, and what the policy does; both links are there
    text = f"Reminder: my-app build 760 still waits for a decision: 30 min left (until 10:30 UTC); then it is {policy}."
    assert message == {
        "text": slack.escape(f"{text} Approve: {APPROVE_URL} Roll back: {ROLLBACK_URL}"),
        "blocks": [
            {
                "type": "section",
                "text": {"type": "mrkdwn", "text": f"{text}\n<{APPROVE_URL}|Approve> · <{ROLLBACK_URL}|Roll back>"},
            }
        ],
        "unfurl_links": False,
        "unfurl_media": False,
    }


def test_a_reminder_without_links_points_nowhere(make_deployment):
    # given links hidden (only the app's approvers decide, with the request's buttons)
    # when the reminder is made ten minutes before the deadline
    message = slack.reminder_message(make_deployment(), {}, EXPIRES_AT, EXPIRES_AT - 600)

    # then it only says how long is left
    assert message["text"] == (
        "Reminder: my-app build 760 still waits for a decision: 10 min left (until 10:30 UTC); then it is rolled back."
    )
    assert "decide?" not in str(message)


def test_the_decided_message_says_who_and_what_happens_now():
    # given a roll back decided by alice from Slack
    # when the message replacing the request is made
    message = slack.decided_message("my-app build 760", "rollback", "alice", "2025-04-07T09:45:00+00:00")

    # then it has no buttons, and says who decided, when, and what the workflow does now
    assert message == {
        "text": "my-app build 760: Rolled back by alice at 09:45 UTC: putting every alias back now.",
        "blocks": [
            {"type": "header", "text": {"type": "plain_text", "text": "Rolled back: my-app build 760"}},
            {
                "type": "section",
                "text": {
                    "type": "mrkdwn",
                    "text": "Rolled back by alice at 09:45 UTC: putting every alias back now.",
                },
            },
        ],
    }


def test_the_decided_message_escapes_the_slack_name():
    # given a decider whose display name holds mrkdwn control characters
    # when the message is made
    message = slack.decided_message("my-app build 760", "approve", "<!channel> & co", "2025-04-07T09:45:00+00:00")

    # then no mention can be smuggled into the section or the notification text
    assert message["blocks"][1]["text"]["text"].startswith("Approved by &lt;!channel&gt; &amp; co at ")
    assert message["text"].startswith("my-app build 760: Approved by &lt;!channel&gt; &amp; co at ")


# --- the channels: an incoming webhook, a Slack app's bot, a response_url --------------------------------

BOT_TOKEN = "xoxb-1234567890-0987654321-unitTestBotToken"
API = "https://slack.com/api"
POSTED = {"ok": True, "channel": "C0123456789", "ts": "1795690000.000100", "message": {"text": "hello"}}
NOT_FOUND = {"ok": False, "error": "channel_not_found"}


@pytest.fixture
def app():
    return slack.AppChannel(BOT_TOKEN, "C0123456789", API + "/")


def test_an_app_posts_with_chat_post_message_and_returns_the_message_ref(app, slack_http):
    # given Slack answers chat.postMessage with ok, the channel id and the message ts
    slack_http.answers[f"{API}/chat.postMessage"] = http_response(200, POSTED)

    # when a message is posted
    ref = app.post({"text": "hello", "blocks": []})

    # then it went to chat.postMessage (api_url's trailing slash dropped) in the channel, as JSON, with the
    # bot token and a timeout
    (request,) = slack_http.requests
    assert (request["url"], request["method"], request["timeout"]) == (f"{API}/chat.postMessage", "POST", 5.0)
    assert request["json"] == {"channel": "C0123456789", "text": "hello", "blocks": []}
    assert request["headers"]["Authorization"] == f"Bearer {BOT_TOKEN}"
    assert request["headers"]["Content-Type"] == "application/json;charset=utf-8"
    # and the reference is what chat.update and thread replies need
    assert ref == {"channel": "C0123456789", "ts": "1795690000.000100"}


def test_an_app_updates_a_message_in_place(app, slack_http):
    # given a posted message's reference
    ref = {"channel": "C0123456789", "ts": "1795690000.000100"}

    # when it is updated
    app.update(ref, {"text": "Promoted", "blocks": []})

    # then chat.update got the channel and ts of that message, with the bot token
    (request,) = slack_http.requests
    assert request["url"] == f"{API}/chat.update"
    assert request["json"] == {"channel": "C0123456789", "ts": "1795690000.000100", "text": "Promoted", "blocks": []}
    assert request["headers"]["Authorization"] == f"Bearer {BOT_TOKEN}"


def test_an_app_replies_in_the_thread_of_a_message(app, slack_http):
    # given a posted message's reference
    ref = {"channel": "C0123456789", "ts": "1795690000.000100"}

    # when a reply is posted
    app.reply(ref, {"text": "Reminder"})

    # then it is a chat.postMessage in that message's thread
    assert slack_http.to(f"{API}/chat.postMessage") == [
        {"channel": "C0123456789", "thread_ts": "1795690000.000100", "text": "Reminder"}
    ]


def test_an_app_reads_a_user_groups_members(app, slack_http):
    # given Slack's user group S0RELEASE with two members
    slack_http.usergroups["S0RELEASE"] = ["U0ALICE", "U0BOB"]

    # when the app reads its members
    members = app.group_members("S0RELEASE")

    # then they came from usergroups.users.list (a form, as slack-sdk sends read methods) with the bot token
    assert members == {"U0ALICE", "U0BOB"}
    (request,) = slack_http.requests
    assert (request["url"], request["form"]) == (f"{API}/usergroups.users.list", {"usergroup": "S0RELEASE"})
    assert request["headers"]["Authorization"] == f"Bearer {BOT_TOKEN}"


def test_an_unknown_user_group_raises_with_slacks_error(app, slack_http):
    # given no user group S0GONE
    # when the app reads its members
    with pytest.raises(SlackError) as error:
        app.group_members("S0GONE")

    # then the error names the method and Slack's error code
    assert str(error.value) == "Slack usergroups.users.list failed: no_such_subteam"


def test_an_app_call_slack_refuses_raises_with_slacks_error(app, slack_http):
    # given Slack answers HTTP 200 with ok false (its way of refusing)
    slack_http.answers[f"{API}/chat.postMessage"] = http_response(200, NOT_FOUND)

    # when a message is posted
    with pytest.raises(SlackError) as error:
        app.post({"text": "hello"})

    # then the error names the method and Slack's error code, not the token
    assert str(error.value) == "Slack chat.postMessage failed: channel_not_found"
    assert BOT_TOKEN not in str(error.value)


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        (
            http_response(429, {"ok": False, "error": "ratelimited"}, headers={"Retry-After": "30"}),
            "Slack chat.update failed: ratelimited",
        ),
        (http_response(502, "<html>Bad Gateway</html>"), "Slack chat.update failed: 502"),
        (http_response(200, "<html>a captive portal</html>"), "Slack chat.update failed: 200"),
    ],
)
def test_an_app_call_answered_with_an_http_error_raises_at_once(app, slack_http, answer, expected):
    # given Slack answers with an HTTP error (JSON, or an HTML page from a proxy)
    slack_http.answers[f"{API}/chat.update"] = answer

    # when a message is updated
    with pytest.raises(SlackError) as error:
        app.update({"channel": "C0123456789", "ts": "1795690000.000100"}, {"text": "x"})

    # then the error names the method and what Slack said, after one request: a 429 is not waited out (its
    # Retry-After could outlast the function)
    assert str(error.value) == expected
    assert len(slack_http.requests) == 1


def test_an_unreachable_slack_api_raises_without_the_token(app, slack_http):
    # given the Slack API's connection is refused, each time
    slack_http.answers[f"{API}/chat.postMessage"] = ConnectionRefusedError(111, f"refused; Bearer {BOT_TOKEN}")

    # when a message is posted
    with pytest.raises(SlackError) as error:
        app.post({"text": "hello"})

    # then the error says which call and why, and not the token
    assert str(error.value) == "Slack unreachable (chat.postMessage): ConnectionRefusedError"
    # and it was tried once more (the request had not left), then given up
    assert [request["delivered"] for request in slack_http.requests] == [False, False]


def test_a_connection_refused_once_is_tried_again_and_posts_once(app, slack_http):
    # given chat.postMessage's connection is refused, then accepted
    slack_http.answers[f"{API}/chat.postMessage"] = [ConnectionRefusedError(111, "refused"), http_response(200, POSTED)]

    # when a message is posted
    ref = app.post({"text": "hello"})

    # then it was posted on the second try, once
    assert ref == {"channel": "C0123456789", "ts": "1795690000.000100"}
    assert [request["delivered"] for request in slack_http.requests] == [False, True]
    assert slack_http.to(f"{API}/chat.postMessage") == [{"channel": "C0123456789", "text": "hello"}]


@pytest.mark.parametrize(
    ("failure", "why"),
    [
        (Dropped(RemoteDisconnected("Remote end closed connection without response")), "RemoteDisconnected"),
        (Dropped(ConnectionResetError(104, "Connection reset by peer")), "ConnectionResetError"),
        (Dropped(TimeoutError("timed out")), "TimeoutError"),
        (TimeoutError("timed out"), "TimeoutError"),
    ],
)
def test_a_call_that_may_have_reached_slack_or_timed_out_is_not_sent_again(app, slack_http, failure, why):
    # given the connection drops after the request went out (Slack may have posted it), or times out
    slack_http.answers[f"{API}/chat.postMessage"] = [failure, http_response(200, POSTED)]

    # when a message is posted
    with pytest.raises(SlackError) as error:
        app.post({"text": "hello"})

    # then it fails after one request: a second could post the message twice, or outlast the function
    assert str(error.value) == f"Slack unreachable (chat.postMessage): {why}"
    assert len(slack_http.requests) == 1


def test_an_app_that_is_not_on_http_is_refused_without_a_request(slack_http):
    # given an API URL that is not http(s)
    app = slack.AppChannel(BOT_TOKEN, "C0123456789", "file:///etc")

    # when a message is posted
    with pytest.raises(SlackError) as error:
        app.post({"text": "hello"})

    # then nothing was sent, and the error says which call
    assert str(error.value) == "Slack unreachable (chat.postMessage): SlackRequestError"
    assert slack_http.requests == []


def test_a_webhook_posts_replies_as_new_messages_and_cannot_update(slack_http):
    # given an incoming webhook answering "ok"
    channel = slack.WebhookChannel(WEBHOOK)

    # when a message is posted and a reply sent
    ref = channel.post({"text": "request"})
    channel.reply({"channel": "C0123456789", "ts": "1"}, {"text": "reminder"})

    # then both went to the webhook as new messages, and there is no reference to update
    assert ref is None
    assert slack_http.to(WEBHOOK) == [{"text": "request"}, {"text": "reminder"}]
    assert {request["url"] for request in slack_http.requests} == {WEBHOOK}

    # and an update is refused
    with pytest.raises(SlackError, match=r"^an incoming webhook cannot update a message$"):
        channel.update({"channel": "C0123456789", "ts": "1"}, {"text": "outcome"})


def test_respond_posts_to_the_response_url_and_raises_when_slack_refuses(slack_http):
    # given an interaction's response_url
    response_url = "https://hooks.slack.com/actions/T0CANARY/1795690000/abcdefABCDEF0123456789"
    reply = {"response_type": "ephemeral", "replace_original": False, "text": "Nothing was changed."}

    # when a reply is sent, then sent again after the URL expired (Slack answers 404)
    slack.respond(response_url, reply)
    slack_http.answers[response_url] = http_response(404, "expired_url")
    with pytest.raises(SlackError) as error:
        slack.respond(response_url, reply)

    # then the first went as JSON with a timeout, and the second raised with Slack's answer
    first = slack_http.requests[0]
    assert (first["url"], first["json"], first["timeout"]) == (response_url, reply, 5.0)
    assert str(error.value) == "Slack answered 404: expired_url"


def test_a_rolled_back_irreversible_deployment_says_its_data_changes_were_not_undone(make_deployment):
    # given an irreversible deployment rolled back, and the same deployment promoted
    deployment = make_deployment(irreversible=True)
    rolled_back = slack.outcome_message(deployment, {"status": "ROLLED_BACK", "cause": "Rolled back by bob."}, "prod")
    promoted = slack.outcome_message(
        deployment, {"status": "PROMOTED", "summary": {"decided_by": "bob", "decided_at": "now"}}, "prod"
    )

    # then the roll back's message says data changes are not undone; the promotion's does not need to
    assert rolled_back["text"] == f"Rolled back: my-app build 760. Rolled back by bob. {slack.IRREVERSIBLE_DATA}"
    assert slack.IRREVERSIBLE_DATA not in promoted["text"]


def test_the_analysis_message_says_its_verdicts_in_words(make_deployment):
    # given an analysis that has not seen enough traffic yet on one function
    figures = {"version": "1", "requests": 3, "error_rate": 0.0, "p99_ms": None}
    analysis = {
        "verdict": "not_enough_traffic",
        "summary": "1 function without enough traffic yet",
        "functions": [{"name": "orders", "verdict": "not_enough_traffic", "old": figures, "new": figures}],
    }

    # when its Slack message is made
    message = slack.analysis_message(make_deployment(), analysis, 0)

    # then it reads "not enough traffic", never the code
    text = str(message)
    assert "analysis of my-app build 760: not enough traffic." in text and "`orders` not enough traffic:" in text
    assert "not_enough_traffic" not in text
