"""canary_core.approval.check_canary with evidence: alarms and the canary analysis deciding between two waits,
auto gates moving on, and what Slack and the table are told. The evidence is what canary_core.evidence
gathers from CloudWatch (its reading is tested in test_analysis and the integration tests); here it is given.

Slack is faked at the network (conftest's SlackHttp: Slack's own answers).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest
from botocore.exceptions import ClientError
from slack_fake import SLACK_API, SLACK_WEBHOOK

from canary_core.approval import Messenger, check_canary, plan_wait, request_decision
from canary_core.evidence import Evidence
from canary_core.model import ANALYSIS, Analysis, Step

API_URL = "https://abc123defg.execute-api.us-east-1.amazonaws.com/v1"
ROLLBACK_MODE = Analysis(mode="rollback", interval_seconds=60, min_invocations=100)


def figures(verdict: str, new_errors: int = 0) -> dict:
    """An analysis item as canary_core.analysis gives it (DeploymentVerdict.as_item)."""
    row = {
        "name": "orders-api",
        "verdict": verdict,
        "reason": f"errors {new_errors / 3:.1f}% of 300 vs 0% of 2,700",
        "old": {"version": "1", "requests": 2700, "errors": 0, "throttles": 0, "error_rate": 0, "p99_ms": 80.0},
        "new": {
            "version": "2",
            "requests": 300,
            "errors": new_errors,
            "throttles": 0,
            "error_rate": new_errors / 300,
            "p99_ms": 85.0,
        },
    }
    return {
        "verdict": verdict,
        "summary": f"1 of 1 functions {verdict.replace('_', ' ')}",
        "counts": {verdict: 1},
        "functions": [row],
        "cause": f"canary analysis: orders-api (version 2 against 1): {row['reason']}",
    }


class Gathered:
    """The evidence a check finds, and the checks that asked for it (deployment, since, now)."""

    def __init__(self, evidence: Evidence) -> None:
        self.evidence = evidence
        self.calls: list[tuple] = []

    def __call__(self, deployment, since, now):
        self.calls.append((deployment, since, now))
        return self.evidence


@pytest.fixture
def t0(now):
    return int(now.timestamp())


def messenger(channel, interactive=False):
    return Messenger(channel, lambda: b"secret", API_URL, "prod", interactive=interactive)


def check(deployment, plan, channel, evidence, *, table, at, interactive=False):
    gathered = Gathered(evidence)
    result = check_canary(deployment, plan, messenger(channel, interactive), table=table, gather=gathered, now=at)
    return result, gathered


def first_plan(deployment, t0):
    """The plan Request Approval made at t0 for the first step, its weight set at t0."""
    return plan_wait(deployment, 0, t0, t0 + 3600, [t0 + 1800, t0 + 3000], t0)


def test_a_deployment_that_watches_makes_its_first_check_one_interval_after_its_weight_moved(make_deployment, t0):
    # given a deployment analysed every 60 s, and one that watches only an alarm
    analysed = make_deployment(analysis=ROLLBACK_MODE)
    alarmed = make_deployment(alarms=("errors",), analysis=Analysis(mode="off", interval_seconds=30))

    # when their first waits are planned
    # then each wait ends at the first check, well before the first reminder
    assert (first_plan(analysed, t0).next_check_at, first_plan(analysed, t0).next_wait_seconds) == (t0 + 60, 60)
    assert first_plan(alarmed, t0).next_wait_seconds == 30


def test_a_check_that_is_not_due_reads_nothing(table, waiting_deployment, webhook_channel, slack_http, now, t0):
    # given a deployment analysed every 60 s, 30 s into its first step (a reminder's wait ended early: a retry)
    deployment = waiting_deployment(analysis=ROLLBACK_MODE)

    # when Check Canary runs
    plan, gathered = check(
        deployment, first_plan(deployment, t0), webhook_channel, Evidence(), table=table, at=now + timedelta(seconds=30)
    )

    # then it reads neither metrics nor alarms, and waits until the check is due
    assert gathered.calls == []
    assert plan.next_wait_seconds == 30


def test_an_alarm_in_alarm_rolls_back_naming_it(table, waiting_deployment, webhook_channel, slack_http, now, t0):
    # given a deployment watching two alarms, one of them in ALARM when its first check is due
    deployment = waiting_deployment(alarms=("api-errors", "p99-latency"), analysis=Analysis(interval_seconds=60))
    evidence = Evidence(alarms_firing=("p99-latency",))

    # when Check Canary runs at the check
    plan, gathered = check(
        deployment, first_plan(deployment, t0), webhook_channel, evidence, table=table, at=now + timedelta(seconds=60)
    )

    # then it recorded a roll back decided by that alarm, and the next wait resumes with it at once
    (call,) = gathered.calls
    assert call[1] == now and call[2] == now + timedelta(seconds=60)  # the window starts when the weight moved
    decision = table.get("my-app", 760)["decision"]
    assert (decision["action"], decision["decided_by"]) == ("rollback", "alarm p99-latency")
    assert decision["reason"] == "alarm p99-latency is in ALARM"
    assert plan.next_wait_seconds == 1


def test_an_unhealthy_verdict_in_rollback_mode_rolls_back_with_its_figures(
    table, waiting_deployment, webhook_channel, slack_http, now, t0
):
    # given a deployment analysed in rollback mode, whose new version fails far more than the old one
    deployment = waiting_deployment(analysis=ROLLBACK_MODE)
    evidence = Evidence(analysis=figures("unhealthy", new_errors=36))

    # when Check Canary runs at the check
    plan, _ = check(
        deployment, first_plan(deployment, t0), webhook_channel, evidence, table=table, at=now + timedelta(seconds=60)
    )

    # then the roll back is decided by the canary analysis, its reason the figures
    item = table.get("my-app", 760)
    assert (item["decision"]["action"], item["decision"]["decided_by"]) == ("rollback", ANALYSIS)
    assert (
        item["decision"]["reason"]
        == "canary analysis: orders-api (version 2 against 1): errors 12.0% of 300 vs 0% of 2,700"
    )
    assert (plan.verdict, plan.next_wait_seconds) == ("unhealthy", 1)

    # and the comparison is kept for the pages, the new verdict is in the trail and in Slack with its figures
    assert item["analysis"]["functions"][0]["new"]["errors"] == 36
    assert any(e["event"] == "analysis: unhealthy" for e in item["trail"])
    (message,) = slack_http.to(SLACK_WEBHOOK)
    assert message["text"].startswith("Canary analysis of my-app build 760: unhealthy.")
    assert "v2: 300 requests, 12.0% failed, p99 85 ms" in str(message["blocks"])


def test_an_unhealthy_verdict_in_advise_mode_only_reports(
    table, waiting_deployment, webhook_channel, slack_http, now, t0
):
    # given a deployment analysed in advise mode, its new version unhealthy
    deployment = waiting_deployment(analysis=replace(ROLLBACK_MODE, mode="advise"))
    evidence = Evidence(analysis=figures("unhealthy", new_errors=36))

    # when Check Canary runs at the check
    plan, _ = check(
        deployment, first_plan(deployment, t0), webhook_channel, evidence, table=table, at=now + timedelta(seconds=60)
    )

    # then nothing is decided: the verdict is posted and the next check is an interval later
    assert "decision" not in table.get("my-app", 760)
    assert len(slack_http.to(SLACK_WEBHOOK)) == 1
    assert (plan.verdict, plan.next_check_at, plan.next_wait_seconds) == ("unhealthy", t0 + 120, 60)

    # when the next check finds the same verdict, then Slack is not told again
    check(deployment, plan, webhook_channel, evidence, table=table, at=now + timedelta(seconds=120))
    assert len(slack_http.to(SLACK_WEBHOOK)) == 1


SCHEDULE = (Step(0.1, "manual"), Step(0.3, "auto", bake_seconds=600))


def second_step_plan(deployment, t0):
    """The plan of the schedule's auto gate, its weight set at t0."""
    return plan_wait(deployment, 1, t0, t0 + 3600, [], t0)


@pytest.mark.parametrize(
    ("elapsed", "verdict", "moves_on"),
    [
        (300, "healthy", False),  # healthy, but still baking
        (600, "healthy", True),  # baked and healthy: the gate opens
        (600, "not_enough_traffic", False),  # baked, but the analysis cannot tell: a click decides
    ],
)
def test_an_auto_gate_moves_on_once_baked_and_healthy(
    table, waiting_deployment, webhook_channel, slack_http, now, t0, elapsed, verdict, moves_on
):
    # given the auto gate of a schedule, analysed every 60 s, that bakes for 600 s
    deployment = waiting_deployment(steps=SCHEDULE, analysis=ROLLBACK_MODE)
    plan = replace(second_step_plan(deployment, t0), next_check_at=t0 + elapsed)
    table._table.update_item(
        Key={"repository": "my-app", "build_no": 760},
        UpdateExpression="SET step = :one",
        ExpressionAttributeValues={":one": 1},
    )

    # when Check Canary runs `elapsed` seconds into the step with that verdict
    check(
        deployment,
        plan,
        webhook_channel,
        Evidence(analysis=figures(verdict)),
        table=table,
        at=now + timedelta(seconds=elapsed),
    )

    # then the gate opens only when baked and healthy, approved by the canary analysis on that step
    decision = table.get("my-app", 760).get("decision")
    if moves_on:
        assert (decision["action"], decision["decided_by"], decision["step"]) == ("approve", ANALYSIS, 1)
        assert decision["reason"].startswith("healthy after 600 s at 30%")
    else:
        assert decision is None


def test_a_wait_of_an_auto_gate_ends_when_its_bake_does(make_deployment, t0):
    # given an auto gate baking 600 s, analysed every 60 s, with a check that was put off past the bake
    deployment = make_deployment(steps=SCHEDULE, analysis=ROLLBACK_MODE)

    # when its wait is planned 500 s in, the next check at 700 s
    plan = plan_wait(deployment, 1, t0, t0 + 3600, [], t0 + 500, next_check_at=t0 + 700)

    # then the wait ends when the bake does
    assert plan.next_wait_seconds == 100


def test_a_slack_apps_request_shows_the_latest_comparison_in_place(
    table, opened_for_app, app_channel, slack_http, now, t0
):
    # given a Slack app's request for a decision, analysed in advise mode
    deployment = opened_for_app
    plan = request_decision(
        deployment, messenger(app_channel, interactive=True), table=table, sfn_client=None, now=now, step_started_at=t0
    )

    # when the first check finds the canary healthy
    check(
        deployment,
        plan,
        app_channel,
        Evidence(analysis=figures("healthy")),
        table=table,
        at=now + timedelta(seconds=60),
        interactive=True,
    )

    # then the request is updated in place, its buttons kept, showing the figures; the thread says the verdict
    (update,) = slack_http.to(f"{SLACK_API}/chat.update")
    assert "v1: 2700 requests" in str(update["blocks"]) and any(b["type"] == "actions" for b in update["blocks"])
    request, reply = slack_http.to(f"{SLACK_API}/chat.postMessage")
    assert "thread_ts" not in request
    assert reply["thread_ts"] == table.get("my-app", 760)["slack_message"]["ts"] == update["ts"]
    assert reply["text"].startswith("Canary analysis of my-app build 760: healthy.")


@pytest.fixture
def opened_for_app(table, make_deployment, now):
    deployment = make_deployment(analysis=replace(ROLLBACK_MODE, mode="advise"))
    table.open(deployment, now)
    return deployment


def test_cloudwatch_not_answering_is_noted_and_the_next_check_reads_again(
    table, waiting_deployment, webhook_channel, slack_http, now, t0
):
    # given a deployment analysed in rollback mode, and CloudWatch throttling its reads at the check
    deployment = waiting_deployment(analysis=ROLLBACK_MODE)

    def throttled(deployment, since, now):
        raise ClientError({"Error": {"Code": "Throttling", "Message": "Rate exceeded"}}, "GetMetricData")

    # when Check Canary runs at the check
    plan = check_canary(
        deployment,
        first_plan(deployment, t0),
        messenger(webhook_channel),
        table=table,
        gather=throttled,
        now=now + timedelta(seconds=60),
    )

    # then nothing is decided on no evidence: the trail says so, and the next check is an interval later
    item = table.get("my-app", 760)
    assert "decision" not in item
    assert item["trail"][-1]["event"] == "canary check failed" and "Rate exceeded" in item["trail"][-1]["reason"]
    assert (plan.next_check_at, plan.next_wait_seconds) == (t0 + 120, 60)
