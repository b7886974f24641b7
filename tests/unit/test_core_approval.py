"""canary_core.approval: the request for a decision, the wait loop (Await Decision, Check Canary) and the
outcome in Slack.

Slack is faked at the network (conftest's SlackHttp: Slack's own answers); Step Functions by FakeStepFunctions.
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import timedelta
from unittest.mock import patch
from urllib.parse import parse_qs, parse_qsl, urlsplit

import pytest
from slack_fake import SLACK_API, SLACK_BOT_TOKEN, SLACK_CHANNEL, SLACK_WEBHOOK, http_response

from canary_core import clicks, slack
from canary_core.approval import (
    Messenger,
    announce_outcome,
    await_decision,
    check_canary,
    plan_wait,
    reminder_times,
    request_decision,
)
from canary_core.decisions import resume_output
from canary_core.links import AUDIT_LINK_SECONDS, AuditLink, DecisionLink, verify, verify_audit
from canary_core.model import PRE_APPROVAL, TIMEOUT, WAITING, ApprovalPlan, Decision, Deployment
from lambda_canary.local.gateway import audit_link, decision_links

API_URL = "https://abc123defg.execute-api.us-east-1.amazonaws.com/v1"
POST_MESSAGE = f"{SLACK_API}/chat.postMessage"
UPDATE = f"{SLACK_API}/chat.update"
HOUR = 3600


@pytest.fixture
def t0(now):
    """The request's time in seconds: 2025-04-07 09:30:00 UTC."""
    return int(now.timestamp())


@pytest.fixture
def opened(table, make_deployment, now):
    """opened(**overrides): a deployment whose traffic was shifted (the item is open, not yet waiting)."""

    def make(**overrides):
        deployment = make_deployment(**overrides)
        table.open(deployment, now)
        return deployment

    return make


def messenger(channel, secret=b"unused", **options):
    """The stack's messenger for these tests: API_URL, environment prod, a fixed link secret."""
    return Messenger(channel, lambda: secret, API_URL, "prod", **options)


def ask(deployment, channel, *, table, sfn, secret, now, interactive=False):
    return request_decision(
        deployment, messenger(channel, secret, interactive=interactive), table=table, sfn_client=sfn, now=now
    )


def remind(deployment, plan, channel, *, table, secret, at):
    """Check Canary for a deployment that watches neither alarms nor metrics: reminders and the deadline."""
    return check_canary(deployment, plan, messenger(channel, secret), table=table, gather=no_evidence, now=at)


def no_evidence(deployment, since, now):
    raise AssertionError("a deployment that watches nothing is never checked")


def approval_plan(reminders, deadline, on_timeout, now, started=None):
    """The plan of a single-step deployment's wait, made at `now` (its step started at `started`, else now)."""
    deployment = Deployment("my-app", 760, "live", 0.1, False, None, HOUR, "arn", on_timeout=on_timeout)
    return plan_wait(deployment, 0, now if started is None else started, deadline, reminders, now)


# --- when to remind, and the plan the wait loop reads ----------------------------------------------------


@pytest.mark.parametrize(
    ("timeout", "reminders"),
    [
        (HOUR, [1800, 3000]),  # half-time, then ten minutes before the deadline
        (900, [300, 450]),  # ten minutes before comes first
        (1200, [600]),  # both at the same moment: one reminder
        (600, [300]),  # ten minutes before is the request itself: only half-time
        (60, [30]),
        (1, []),  # half-time rounds down to the request itself
    ],
)
def test_reminders_fall_at_half_time_and_ten_minutes_before_inside_the_wait(t0, timeout, reminders):
    # given a request at t0 with `timeout` seconds to decide
    # when the reminder times are worked out
    times = reminder_times(t0, t0 + timeout)

    # then they are the ones strictly inside the wait, in order, each once
    assert times == [t0 + offset for offset in reminders]


def test_the_plan_at_the_request_waits_until_the_first_reminder(t0):
    # given an hour's wait from t0, rolled back at its deadline
    deadline = t0 + HOUR

    # when the plan is made at the request
    plan = approval_plan(reminder_times(t0, deadline), deadline, "rollback", t0)

    # then the first wait lasts until half-time, and both reminders are still to come
    assert plan == ApprovalPlan(
        step=0,
        last_step=True,
        step_started_at=t0,
        deadline=deadline,
        reminders=(t0 + 1800, t0 + 3000),
        on_timeout="rollback",
        next_wait_seconds=1800,
    )


@pytest.mark.parametrize(
    ("elapsed", "reminders_left", "next_wait"),
    [
        (1800, [3000], 1200),  # at half-time: until ten minutes before
        (1803, [3000], 1197),  # a few seconds late: the next wait is shorter, not shifted
        (3000, [], 600),  # after the last reminder: until the deadline
    ],
)
def test_the_plan_after_a_reminder_waits_until_the_next_point(t0, elapsed, reminders_left, next_wait):
    # given an hour's wait from t0 with its two reminders
    deadline = t0 + HOUR

    # when the plan is made again `elapsed` seconds later
    plan = approval_plan([t0 + 1800, t0 + 3000], deadline, "promote", t0 + elapsed, started=t0)

    # then only later reminders are left, and the next wait ends at the next of them or at the deadline
    assert plan.reminders == tuple(t0 + offset for offset in reminders_left)
    assert plan.next_wait_seconds == next_wait
    assert (plan.on_timeout, plan.deadline) == ("promote", deadline)


@pytest.mark.parametrize("late", [0, 1, 90])
def test_the_plan_at_or_past_the_deadline_waits_one_second(t0, late):
    # given an hour's wait from t0 whose reminders were all sent
    deadline = t0 + HOUR

    # when the plan is made at the deadline or after it
    plan = approval_plan([], deadline, "rollback", deadline + late, started=t0)

    # then a wait (were there one) would still be a valid Step Functions timeout
    assert plan.next_wait_seconds == 1


def test_a_one_second_timeout_waits_one_second_without_reminders(t0):
    # given the shortest timeout the input allows
    # when the plan is made at the request
    plan = approval_plan(reminder_times(t0, t0 + 1), t0 + 1, "rollback", t0)

    # then there is nothing to remind, and the single wait is one second
    assert (plan.reminders, plan.next_wait_seconds) == ((), 1)


# --- Request Approval ------------------------------------------------------------------------------------


def test_a_webhook_request_waits_and_posts_buttons_opening_signed_links(
    table, sfn, opened, webhook_channel, slack_http, link_secret, now, t0
):
    # given a deployment that is not pre-approved, with an hour to decide, and a webhook
    deployment = opened(pre_approve=False, approval_timeout_seconds=HOUR)

    # when a decision is requested
    plan = ask(deployment, webhook_channel, table=table, sfn=sfn, secret=link_secret, now=now)

    # then the plan waits until half-time, and the item waits with the deadline but no token yet
    assert plan == approval_plan([t0 + 1800, t0 + 3000], t0 + HOUR, "rollback", t0)
    item = table.get("my-app", 760)
    assert item["status"] == WAITING and item["expires_at"] == t0 + HOUR
    assert "task_token" not in item and "slack_message" not in item
    assert (sfn.calls, sfn.described) == ([], [])

    # and one message went to the webhook, its buttons opening two signed links that expire at the deadline
    (request,) = slack_http.requests
    assert (request["url"], request["timeout"]) == (SLACK_WEBHOOK, 5.0)
    links = decision_links(request["json"])
    assert set(links) == {"approve", "rollback"}
    for action, url in links.items():
        assert url.startswith(f"{API_URL}/decide?")
        link = verify({k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}, link_secret, now)
        assert (link.repository, link.build_no, link.action, link.expires) == ("my-app", 760, action, t0 + HOUR)


def test_an_app_request_posts_buttons_carrying_the_signed_link_and_remembers_the_message(
    table, sfn, opened, app_channel, slack_http, link_secret, now, t0
):
    # given a deployment waiting for a decision in app mode
    deployment = opened(approval_timeout_seconds=HOUR)

    # when a decision is requested
    ask(deployment, app_channel, table=table, sfn=sfn, secret=link_secret, now=now, interactive=True)

    # then chat.postMessage was called once, with the bot token, in the stack's channel
    (request,) = slack_http.requests
    assert request["url"] == POST_MESSAGE
    assert request["headers"]["Authorization"] == f"Bearer {SLACK_BOT_TOKEN}"
    assert request["json"]["channel"] == SLACK_CHANNEL

    # and its buttons post to the app (a value, no url); each value is its own action's signed link
    (actions,) = [block for block in request["json"]["blocks"] if block["type"] == "actions"]
    assert actions["block_id"] == "decision"
    assert [(button["action_id"], "url" in button) for button in actions["elements"]] == [
        ("approve", False),
        ("rollback", False),
    ]
    for button in actions["elements"]:
        assert dict(parse_qsl(button["value"])) == DecisionLink("my-app", 760, button["action_id"], t0 + HOUR).params(
            link_secret
        )

    # and the message Slack answered with is remembered, to be updated when the deployment ends
    assert table.get("my-app", 760)["slack_message"] == {"channel": SLACK_CHANNEL, "ts": "1795690000.000100"}


def test_a_pre_approved_deployment_is_decided_at_once_without_a_token(
    table, sfn, opened, webhook_channel, slack_http, link_secret, now, t0
):
    # given a pre-approved deployment whose execution runs
    deployment = opened(pre_approve=True)

    # when a decision is requested
    dev = Messenger(webhook_channel, lambda: link_secret, API_URL, "dev")
    plan = request_decision(deployment, dev, table=table, sfn_client=sfn, now=now)

    # then approve by "pre-approval" is recorded with the same trail as a click; no token is needed: the
    # execution is only checked to be running (Await Decision takes the decision at once)
    item = table.get("my-app", 760)
    assert item["decision"] == {"action": "approve", "decided_by": PRE_APPROVAL, "decided_at": now.isoformat()}
    assert [event["event"] for event in item["trail"]] == ["started", "waiting for a decision", "decision: approve"]
    assert sfn.calls == []
    assert sfn.described == [deployment.execution_arn]
    assert plan.deadline == t0 + deployment.approval_timeout_seconds

    # and the message says it is promoting, without buttons, with the signed link to the audit page
    (message,) = slack_http.to(SLACK_WEBHOOK)
    assert message["text"] == "Canary: my-app build 760 is pre-approved in dev; promoting now."
    assert decision_links(message) == {}
    audit = urlsplit(audit_link(message))
    assert audit.path == "/v1/deployments"
    assert verify_audit(dict(parse_qsl(audit.query)), link_secret, now) == AuditLink(t0 + AUDIT_LINK_SECONDS)


def test_a_pre_approval_whose_execution_no_longer_runs_is_noted(
    table, timed_out_sfn, opened, webhook_channel, slack_http, now
):
    # given a pre-approved deployment whose execution has ended meanwhile
    deployment = opened(pre_approve=True)

    # when a decision is requested
    ask(deployment, webhook_channel, table=table, sfn=timed_out_sfn, secret=b"unused", now=now)

    # then the decision is recorded, and the trail says it could not be delivered, and why
    item = table.get("my-app", 760)
    assert (item["decision"]["decided_by"], item["decision"]["delivered"]) == (PRE_APPROVAL, False)
    assert item["trail"][-1] == {
        "at": now.isoformat(),
        "event": "decision not delivered",
        "reason": "the execution was no longer waiting (no task waiting)",
    }
    assert timed_out_sfn.calls == []


def test_a_slack_failure_is_noted_with_the_links_and_does_not_stop_the_deployment(
    table, sfn, opened, webhook_channel, slack_http, link_secret, now, t0
):
    # given Slack's webhook answers 500
    slack_http.answers[SLACK_WEBHOOK] = http_response(500, "internal_error")
    deployment = opened()

    # when a decision is requested
    plan = ask(deployment, webhook_channel, table=table, sfn=sfn, secret=link_secret, now=now)

    # then the deployment still waits, and the trail has the failure and both links for an operator to hand on
    assert plan.deadline > t0
    item = table.get("my-app", 760)
    assert item["status"] == WAITING
    assert item["trail"][-1] == {
        "at": now.isoformat(),
        "event": "slack message failed",
        "reason": "Slack answered 500: internal_error",
        "approve_url": DecisionLink("my-app", 760, "approve", t0 + HOUR).url(API_URL, link_secret),
        "rollback_url": DecisionLink("my-app", 760, "rollback", t0 + HOUR).url(API_URL, link_secret),
    }
    assert SLACK_WEBHOOK not in str(item["trail"])


def test_an_app_request_slack_refuses_is_noted_and_no_message_is_remembered(
    table, sfn, opened, app_channel, slack_http, link_secret, now
):
    # given Slack answers chat.postMessage with channel_not_found (HTTP 200, ok false)
    slack_http.answers[POST_MESSAGE] = http_response(200, {"ok": False, "error": "channel_not_found"})
    deployment = opened()

    # when a decision is requested
    ask(deployment, app_channel, table=table, sfn=sfn, secret=link_secret, now=now, interactive=True)

    # then the failure is in the trail, Slack's error named, and there is no message to update later
    item = table.get("my-app", 760)
    assert item["trail"][-1]["event"] == "slack message failed"
    assert item["trail"][-1]["reason"] == "Slack chat.postMessage failed: channel_not_found"
    assert "slack_message" not in item
    assert SLACK_BOT_TOKEN not in str(item)


def test_when_only_approvers_decide_the_request_and_its_failure_carry_no_links(
    table, sfn, opened, app_channel, slack_http, link_secret, now
):
    # given an app stack where only named approvers decide (links off), and Slack refusing the first post
    slack_http.answers[POST_MESSAGE] = http_response(200, {"ok": False, "error": "not_in_channel"})
    deployment = opened()

    # when a decision is requested
    buttons_only = messenger(app_channel, link_secret, interactive=True, show_links=False)
    request_decision(deployment, buttons_only, table=table, sfn_client=sfn, now=now)

    # then the message has buttons with values but no link, and the trail hands no link on either
    (message,) = slack_http.to(POST_MESSAGE)
    assert "/decide?" not in json.dumps(message)
    (buttons,) = [block for block in message["blocks"] if block.get("block_id") == "decision"]
    assert [button["action_id"] for button in buttons["elements"]] == ["approve", "rollback"]
    last = table.get("my-app", 760)["trail"][-1]
    assert last == {
        "at": now.isoformat(),
        "event": "slack message failed",
        "reason": "Slack chat.postMessage failed: not_in_channel",
    }


# --- Await Decision --------------------------------------------------------------------------------------


def test_await_decision_stores_the_token_and_waits(table, sfn, waiting_deployment):
    # given a deployment waiting for a decision, between two waits (no token stored)
    deployment = waiting_deployment(task_token=None)

    # when Await Decision runs with its task's token
    result = await_decision(deployment, "token-await-first", table=table, sfn_client=sfn)

    # then the token is stored and nothing is resumed: the task waits
    assert result == {"resumed": False}
    assert table.get("my-app", 760)["task_token"] == "token-await-first"
    assert sfn.calls == []


def test_await_decision_resumes_at_once_with_a_decision_already_taken(table, sfn, waiting_deployment, now):
    # given a deployment rolled back from Slack while no task waited (its user id and address recorded too)
    deployment = waiting_deployment(task_token=None)
    decision = Decision("rollback", "alice", now.isoformat(), source_ip="203.0.113.24", user_id="U0ALICE")
    assert table.record_decision("my-app", 760, decision)[0]

    # when Await Decision runs with the next task's token
    result = await_decision(deployment, "token-await-next", table=table, sfn_client=sfn)

    # then that task is resumed at once with the decision's output, and the token is stored all the same
    assert result == {"resumed": True}
    (call,) = sfn.calls
    assert call["taskToken"] == "token-await-next"
    assert json.loads(call["output"]) == resume_output(decision)
    assert json.loads(call["output"]) == {"action": "rollback", "decided_by": "alice", "decided_at": now.isoformat()}
    assert table.get("my-app", 760)["task_token"] == "token-await-next"


# --- Check Canary: reminders and the deadline ----------------------------------------------------------------


@pytest.fixture
def hour_plan(t0):
    """The plan Request Approval gave an hour's wait from t0."""
    return approval_plan(reminder_times(t0, t0 + HOUR), t0 + HOUR, "rollback", t0)


def test_a_decision_taken_between_two_waits_sends_the_loop_back_at_once(
    table, waiting_deployment, webhook_channel, slack_http, hour_plan, now
):
    # given the first wait ended at half-time, and an approval was recorded before Check Canary ran
    deployment = waiting_deployment(task_token=None)
    table.record_decision("my-app", 760, Decision("approve", "approval link", now.isoformat()))

    # when Check Canary runs at half-time
    plan = remind(deployment, hour_plan, webhook_channel, table=table, secret=b"unused", at=now + timedelta(hours=0.5))

    # then it reminds nobody, and the next wait is one second (Await Decision resumes with the decision)
    assert plan == replace(hour_plan, next_wait_seconds=1)
    assert slack_http.requests == []


def test_a_due_reminder_is_posted_once_and_noted(
    table, waiting_deployment, webhook_channel, slack_http, hour_plan, link_secret, now, t0
):
    # given an hour's wait whose first wait ended at half-time with no decision
    deployment = waiting_deployment()
    half_time = now + timedelta(minutes=30)

    # when Check Canary runs at half-time
    plan = remind(deployment, hour_plan, webhook_channel, table=table, secret=link_secret, at=half_time)

    # then the reminder is posted with both links, saying how long is left and what happens then
    (message,) = slack_http.to(SLACK_WEBHOOK)
    approve = DecisionLink("my-app", 760, "approve", t0 + HOUR).url(API_URL, link_secret)
    rollback = DecisionLink("my-app", 760, "rollback", t0 + HOUR).url(API_URL, link_secret)
    assert message["text"] == (
        "Reminder: my-app build 760 still waits for a decision: 30 min left (until 10:30 UTC); then it is "
        f"rolled back. Approve: {slack.escape(approve)} Roll back: {slack.escape(rollback)}"
    )

    # and noted in the trail, and the next wait lasts until ten minutes before the deadline
    assert table.get("my-app", 760)["trail"][-1] == {
        "at": half_time.isoformat(),
        "event": "reminder sent",
        "minutes_left": 30,
    }
    assert plan == replace(hour_plan, reminders=(t0 + 3000,), next_wait_seconds=1200)

    # when Check Canary runs again with that plan before the next reminder is due (a retried step)
    again = remind(deployment, plan, webhook_channel, table=table, secret=link_secret, at=half_time)

    # then nothing more is posted or noted
    assert len(slack_http.requests) == 1
    assert again == plan
    assert [event["event"] for event in table.get("my-app", 760)["trail"]].count("reminder sent") == 1


def test_a_reminder_of_an_app_request_is_posted_in_its_thread(
    table, opened, sfn, app_channel, slack_http, link_secret, now, t0
):
    # given an app request posted at t0 and its plan (promoted at the deadline)
    deployment = opened(on_timeout="promote")
    plan = ask(deployment, app_channel, table=table, sfn=sfn, secret=link_secret, now=now, interactive=True)
    ten_before = now + timedelta(minutes=50)

    # when Check Canary runs ten minutes before the deadline (the half-time reminder was sent)
    remind(
        deployment, replace(plan, reminders=(t0 + 3000,)), app_channel, table=table, secret=link_secret, at=ten_before
    )

    # then the reminder is a reply in the request's thread, saying what happens at the deadline
    request, reminder = slack_http.to(POST_MESSAGE)
    assert reminder["channel"] == SLACK_CHANNEL
    assert reminder["thread_ts"] == "1795690000.000100"
    assert reminder["text"].startswith(
        "Reminder: my-app build 760 still waits for a decision: 10 min left (until 10:30 UTC); then it is promoted."
    )
    assert "thread_ts" not in request


def test_a_reminder_slack_refuses_is_noted_and_the_wait_goes_on(
    table, waiting_deployment, webhook_channel, slack_http, hour_plan, link_secret, now, t0
):
    # given the webhook cannot be reached at half-time
    slack_http.answers[SLACK_WEBHOOK] = ConnectionRefusedError(111, "Connection refused")
    deployment = waiting_deployment()
    half_time = now + timedelta(minutes=30)

    # when Check Canary runs
    plan = remind(deployment, hour_plan, webhook_channel, table=table, secret=link_secret, at=half_time)

    # then the failure is noted, the reminder counts as done, and the wait goes on
    events = [event["event"] for event in table.get("my-app", 760)["trail"]]
    assert events[-2:] == ["slack message failed", "reminder sent"]
    assert plan.reminders == (t0 + 3000,)


def test_a_wait_that_ended_before_any_reminder_posts_nothing(
    table, waiting_deployment, webhook_channel, slack_http, hour_plan, now
):
    # given the first wait ended ten minutes in (no reminder is due yet)
    deployment = waiting_deployment()

    # when Check Canary runs
    ten_minutes_in = now + timedelta(minutes=10)
    update = remind(deployment, hour_plan, webhook_channel, table=table, secret=b"unused", at=ten_minutes_in)

    # then nothing is posted, and the next wait ends at half-time
    assert slack_http.requests == []
    assert update == replace(hour_plan, next_wait_seconds=1200)


@pytest.mark.parametrize(("on_timeout", "action"), [("rollback", "rollback"), ("promote", "approve")])
def test_at_the_deadline_the_timeout_policy_decides_like_a_click(
    table, waiting_deployment, webhook_channel, slack_http, t0, now, on_timeout, action
):
    # given the last wait ended at the deadline with no decision
    deployment = waiting_deployment(on_timeout=on_timeout)
    plan = approval_plan([], t0 + HOUR, on_timeout, t0 + 3000, started=t0)
    deadline = now + timedelta(hours=1)

    # when Check Canary runs at the deadline
    result = remind(deployment, plan, webhook_channel, table=table, secret=b"unused", at=deadline)

    # then the policy's decision is recorded first-wins, and the next wait (one second) resumes with it
    timeout = {"action": action, "decided_by": TIMEOUT, "decided_at": deadline.isoformat()}
    assert result == replace(plan, next_wait_seconds=1)
    assert table.get("my-app", 760)["decision"] == timeout
    assert slack_http.requests == []


def test_a_click_recorded_just_before_the_deadline_decision_wins_over_the_timeout(
    table, waiting_deployment, webhook_channel, slack_http, t0, now
):
    # given the last wait ended, and a click was written after the wait ended but before Check Canary decides:
    # Check Canary read no decision, then the timeout's conditional write meets the click's
    deployment = waiting_deployment(task_token=None)
    plan = approval_plan([], t0 + HOUR, "rollback", t0 + 3000, started=t0)
    clicked = Decision("approve", "alice", (now + timedelta(minutes=59, seconds=59.7)).isoformat())
    real_get = table.get

    def read_then_click(repository, build_no):
        item = real_get(repository, build_no)
        table.get = real_get
        assert table.record_decision(repository, build_no, clicked)[0]
        return item

    # when Check Canary runs at the deadline, the click landing right after its read
    with patch.object(table, "get", side_effect=read_then_click):
        result = remind(deployment, plan, webhook_channel, table=table, secret=b"unused", at=now + timedelta(hours=1))

    # then the click stays the decision, and the loop goes back to a wait that resumes with it at once
    assert result == replace(plan, next_wait_seconds=1)
    assert table.get("my-app", 760)["decision"]["decided_by"] == "alice"
    assert [e["event"] for e in table.get("my-app", 760)["trail"]].count("decision: approve") == 1


# --- the outcome -----------------------------------------------------------------------------------------


def test_an_app_outcome_updates_the_request_message_in_place(
    table, opened, sfn, app_channel, slack_http, link_secret, now
):
    # given an app request that was posted, then a promotion
    deployment = opened()
    ask(deployment, app_channel, table=table, sfn=sfn, secret=link_secret, now=now, interactive=True)
    outcome = {"status": "PROMOTED", "summary": {"decided_by": "alice", "decided_at": now.isoformat()}}

    # when the outcome is announced
    announce_outcome(deployment, outcome, messenger(app_channel, link_secret), table=table, now=now)

    # then the request message is updated (no new message), without buttons
    (update,) = slack_http.to(UPDATE)
    assert (update["channel"], update["ts"]) == (SLACK_CHANNEL, "1795690000.000100")
    assert update["text"] == "Promoted: my-app build 760. Approved by alice at 09:30 UTC."
    assert [block["type"] for block in update["blocks"]].count("actions") == 0
    assert len(slack_http.to(POST_MESSAGE)) == 1
    # and the signed link to the audit page the request carried is still at its foot
    audit = urlsplit(audit_link(update))
    assert audit.path == "/v1/deployments"
    t0 = int(now.timestamp())
    assert verify_audit(dict(parse_qsl(audit.query)), link_secret, now) == AuditLink(t0 + AUDIT_LINK_SECONDS)


def test_a_timeout_outcome_is_also_said_in_the_request_thread(
    table, opened, sfn, app_channel, slack_http, link_secret, now
):
    # given an app request that was posted, then rolled back at its deadline
    deployment = opened()
    ask(deployment, app_channel, table=table, sfn=sfn, secret=link_secret, now=now, interactive=True)
    cause = "No decision within 3600 seconds: rolled back (reason: timeout)."
    outcome = {"status": "ROLLED_BACK", "cause": cause, "summary": {"decided_by": TIMEOUT}}

    # when the outcome is announced
    announce_outcome(deployment, outcome, messenger(app_channel), table=table, now=now)

    # then the request message is updated, and the same is posted in its thread (an edit notifies nobody)
    (update,) = slack_http.to(UPDATE)
    _request, reply = slack_http.to(POST_MESSAGE)
    assert reply["thread_ts"] == update["ts"] == "1795690000.000100"
    assert reply["text"] == update["text"] == f"Rolled back: my-app build 760. {cause}"


def test_an_outcome_whose_update_fails_is_posted_as_a_new_message(
    table, opened, sfn, app_channel, slack_http, link_secret, now
):
    # given an app request, and Slack refusing to update it (message_not_found)
    deployment = opened()
    ask(deployment, app_channel, table=table, sfn=sfn, secret=link_secret, now=now, interactive=True)
    slack_http.answers[UPDATE] = http_response(200, {"ok": False, "error": "message_not_found"})
    outcome = {"status": "ROLLED_BACK", "error": "Canary.RolledBack", "cause": "Rolled back by alice."}

    # when the outcome is announced
    announce_outcome(deployment, outcome, messenger(app_channel), table=table, now=now)

    # then the failure is noted and the outcome posted as a new message
    trail = table.get("my-app", 760)["trail"]
    assert trail[-1] == {
        "at": now.isoformat(),
        "event": "slack update failed",
        "reason": "Slack chat.update failed: message_not_found",
    }
    assert slack_http.to(POST_MESSAGE)[-1]["text"] == "Rolled back: my-app build 760. Rolled back by alice."


def test_a_webhook_outcome_is_a_new_message(table, opened, webhook_channel, slack_http, now):
    # given a deployment posted through a webhook (no message to update)
    deployment = opened()
    outcome = {"status": "ROLLED_BACK", "error": "Canary.RolledBack", "cause": "Rolled back by approval link."}

    # when the outcome is announced
    announce_outcome(deployment, outcome, messenger(webhook_channel), table=table, now=now)

    # then it is posted to the webhook, and nothing is noted
    (message,) = slack_http.to(SLACK_WEBHOOK)
    assert message["text"] == "Rolled back: my-app build 760. Rolled back by approval link."
    assert table.get("my-app", 760)["trail"][-1]["event"] == "started"


# --- the deadline and a failed resume --------------------------------------------------------------------


def test_a_throttled_resume_in_await_decision_does_not_fail_the_wait(table, make_sfn, waiting_deployment, now):
    # given an approval recorded between two waits, and Step Functions throttling SendTaskSuccess
    deployment = waiting_deployment(task_token=None)
    table.record_decision("my-app", 760, Decision("approve", "alice", now.isoformat(), user_id="U0ALICE"))
    throttled = make_sfn(error_code="ThrottlingException")

    # when Await Decision runs with the next task's token
    result = await_decision(deployment, "token-throttled-resume", table=table, sfn_client=throttled)

    # then it tried to resume, does not fail (a failed task would roll back), and the task waits with its token:
    # Check Canary finds the approval when this wait ends, and the next wait resumes at once
    assert result == {"resumed": False}
    assert [call["taskToken"] for call in throttled.calls] == ["token-throttled-resume"]
    assert table.get("my-app", 760)["task_token"] == "token-throttled-resume"


def test_a_click_at_the_deadline_is_too_late_as_check_canary_says(
    table, make_sfn, waiting_deployment, webhook_channel, slack_http, link_secret, now, t0
):
    # given the last wait ended at the deadline, and Check Canary reported it (nobody had decided)
    deployment = waiting_deployment(task_token="token-of-the-last-wait")
    deadline = now + timedelta(hours=1)
    plan = approval_plan([], t0 + HOUR, "rollback", t0 + 3000)
    update = remind(deployment, plan, webhook_channel, table=table, secret=link_secret, at=deadline)
    assert update.next_wait_seconds == 1 and table.get("my-app", 760)["decision"]["decided_by"] == TIMEOUT

    # when the approve link is confirmed in that same second, while the execution runs its roll back
    rolling_back = make_sfn(error_code="TaskTimedOut", execution_status="RUNNING")
    link = DecisionLink("my-app", 760, "approve", t0 + HOUR).params(link_secret)
    status, page = clicks.submit(link, table, rolling_back, link_secret, clicks.Visitor("203.0.113.24", "UA"), deadline)

    # then the link has expired: nothing is decided or sent, and the visitor is not told it was approved
    assert status == 410
    assert "Approved: my-app build 760" not in page
    assert table.get("my-app", 760)["decision"]["decided_by"] == TIMEOUT
    assert rolling_back.calls == []


def test_an_irreversible_deployment_is_never_pre_approved_and_its_request_warns_about_data(
    table, sfn, opened, webhook_channel, slack_http, link_secret, now
):
    # given an irreversible deployment whose state says pre-approve (a stack that pre-approves everything)
    deployment = opened(pre_approve=True, irreversible=True, weight=0.0)

    # when a decision is requested
    dev = Messenger(webhook_channel, lambda: link_secret, API_URL, "dev")
    request_decision(deployment, dev, table=table, sfn_client=sfn, now=now)

    # then nothing is decided: the request waits for a person, with its links
    item = table.get("my-app", 760)
    assert "decision" not in item
    assert sfn.described == []
    (message,) = slack_http.to(SLACK_WEBHOOK)
    assert set(decision_links(message)) == {"approve", "rollback"}

    # and the message says, in its text and its blocks, that a roll back will not undo data changes
    assert message["text"].endswith(slack.IRREVERSIBLE_WARNING)
    assert any(slack.IRREVERSIBLE_WARNING in json.dumps(block) for block in message["blocks"])
    assert "will not undo data changes" in slack.IRREVERSIBLE_WARNING
