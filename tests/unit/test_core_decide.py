"""canary_core.decisions.decide: write the decision (first wins), then resume the waiting execution."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from botocore.exceptions import ClientError

from canary_core.decisions import DecisionNotDelivered, decide, resume_output
from canary_core.model import Decision


@pytest.fixture
def approve(now):
    return Decision("approve", "approval link", now.isoformat(), "203.0.113.24", "Firefox")


def test_the_winning_decision_resumes_the_execution_with_its_output(table, sfn, waiting_deployment, approve, now):
    # given a deployment waiting on task token "token-decide-winner"
    waiting_deployment(task_token="token-decide-winner")

    # when it is approved
    result = decide(table, sfn, "my-app", 760, approve, now)

    # then the decision won, the execution was resumed once with that token, and the output is the decision
    assert (result.won, result.delivered, result.problem) == (True, True, None)
    assert len(sfn.calls) == 1
    assert sfn.described == []
    assert sfn.calls[0]["taskToken"] == "token-decide-winner"
    assert json.loads(sfn.calls[0]["output"]) == {
        "action": "approve",
        "decided_by": "approval link",
        "decided_at": approve.decided_at,
    }
    assert result.item["decision"]["action"] == "approve"


def test_a_later_decision_loses_resumes_nothing_and_is_counted(table, sfn, waiting_deployment, approve, now):
    # given a deployment that was already approved
    waiting_deployment()
    decide(table, sfn, "my-app", 760, approve, now)
    sfn.calls.clear()

    # when someone clicks roll back two minutes later
    later = now + timedelta(minutes=2)
    rollback = Decision("rollback", "approval link", later.isoformat(), "198.51.100.7", "Safari")
    result = decide(table, sfn, "my-app", 760, rollback, later)

    # then it lost, nothing was sent to Step Functions, and the ignored click is counted, not added to the trail
    assert (result.won, result.delivered) == (False, False)
    assert result.item["decision"]["action"] == "approve"
    assert sfn.calls == []
    assert sfn.described == []
    item = table.get("my-app", 760)
    assert item["trail"][-1]["event"] == "decision: approve"
    assert item["late_decisions"] == 1
    assert (item["last_of_late_decisions"]["at"], item["last_of_late_decisions"]["source_ip"]) == (
        later.isoformat(),
        "198.51.100.7",
    )


def test_a_decision_for_a_timed_out_task_is_recorded_but_not_delivered(
    table, timed_out_sfn, waiting_deployment, approve, now
):
    # given a waiting deployment whose task already timed out in Step Functions
    waiting_deployment(task_token="token-timed-out")

    # when it is approved
    result = decide(table, timed_out_sfn, "my-app", 760, approve, now)

    # then the decision won but was not delivered (the execution has ended), with the reason, and the trail says so
    assert (result.won, result.delivered) == (True, False)
    assert result.problem == "the execution was no longer waiting (TaskTimedOut)"
    assert timed_out_sfn.calls[0]["taskToken"] == "token-timed-out"
    assert timed_out_sfn.described == [table.get("my-app", 760)["execution_arn"]]
    assert table.get("my-app", 760)["trail"][-1] == {
        "at": now.isoformat(),
        "event": "decision not delivered",
        "reason": "the execution was no longer waiting (TaskTimedOut)",
    }


class ThrottledStepFunctions:
    def send_task_success(self, **kwargs):
        raise ClientError({"Error": {"Code": "ThrottlingException", "Message": "Rate exceeded"}}, "SendTaskSuccess")


def test_any_other_step_functions_error_is_raised(table, waiting_deployment, approve, now):
    # given Step Functions is throttling
    waiting_deployment()

    # when a decision is taken
    # then the error is not swallowed, and the decision is taken back so that a later click can deliver it
    with pytest.raises(DecisionNotDelivered, match="ThrottlingException"):
        decide(table, ThrottledStepFunctions(), "my-app", 760, approve, now)
    item = table.get("my-app", 760)
    assert "decision" not in item
    assert item["trail"][-1]["event"] == "decision withdrawn: approve"


def test_a_decision_whose_delivery_failed_can_be_delivered_by_clicking_again(
    table, sfn, waiting_deployment, approve, now
):
    # given an approval whose SendTaskSuccess failed with a throttle
    waiting_deployment(task_token="token-retry")
    with pytest.raises(DecisionNotDelivered):
        decide(table, ThrottledStepFunctions(), "my-app", 760, approve, now)

    # when the same person clicks approve again a minute later
    again = Decision("approve", "approval link", (now + timedelta(minutes=1)).isoformat())
    result = decide(table, sfn, "my-app", 760, again, now + timedelta(minutes=1))

    # then the execution is resumed
    assert result.delivered
    assert [call["taskToken"] for call in sfn.calls] == ["token-retry"]


# --- no task waits: between two waits (a reminder), or before the first (pre-approval) -----------------


def test_a_decision_while_no_task_waits_is_delivered_when_the_execution_runs(
    table, sfn, waiting_deployment, approve, now
):
    # given a waiting deployment between two waits (no token stored), whose execution runs
    deployment = waiting_deployment(task_token=None)

    # when it is approved
    result = decide(table, sfn, "my-app", 760, approve, now)

    # then nothing is resumed (no task waits), the execution was checked, and the decision counts as delivered:
    # the next Await Decision takes it at once
    assert (result.won, result.delivered, result.problem) == (True, True, None)
    assert sfn.calls == []
    assert sfn.described == [deployment.execution_arn]
    item = table.get("my-app", 760)
    assert item["decision"] == approve.as_item()
    assert item["trail"][-1]["event"] == "decision: approve"


@pytest.mark.parametrize("status", ["SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"])
def test_a_decision_while_no_task_waits_and_the_execution_ended_is_not_delivered(
    table, make_sfn, waiting_deployment, approve, now, status
):
    # given a waiting deployment with no token, whose execution has ended (`status`)
    deployment = waiting_deployment(task_token=None)
    ended = make_sfn(execution_status=status)

    # when it is approved
    result = decide(table, ended, "my-app", 760, approve, now)

    # then the decision is recorded but not delivered, and the trail says why
    assert (result.won, result.delivered) == (True, False)
    assert result.problem == "the execution was no longer waiting (no task waiting)"
    assert ended.described == [deployment.execution_arn]
    assert table.get("my-app", 760)["decision"] == {**approve.as_item(), "delivered": False}
    assert table.get("my-app", 760)["trail"][-1] == {
        "at": now.isoformat(),
        "event": "decision not delivered",
        "reason": "the execution was no longer waiting (no task waiting)",
    }


def test_a_token_gone_while_the_execution_still_runs_is_delivered_by_the_next_wait(
    table, make_sfn, waiting_deployment, approve, now
):
    # given a wait that just timed out for a reminder: its token is gone, the execution runs on
    waiting_deployment(task_token="token-of-the-last-wait")
    between = make_sfn(error_code="TaskTimedOut", execution_status="RUNNING")

    # when it is approved
    result = decide(table, between, "my-app", 760, approve, now)

    # then the decision stands and counts as delivered (Await Decision resumes with it), nothing is noted
    assert (result.won, result.delivered, result.problem) == (True, True, None)
    assert [call["taskToken"] for call in between.calls] == ["token-of-the-last-wait"]
    item = table.get("my-app", 760)
    assert item["decision"] == approve.as_item()
    assert item["trail"][-1]["event"] == "decision: approve"


def test_an_execution_step_functions_does_not_know_counts_as_not_running(
    table, make_sfn, waiting_deployment, approve, now
):
    # given a waiting deployment with no token, whose execution Step Functions does not know
    deployment = waiting_deployment(task_token=None)
    unknown = make_sfn(execution_status=None)

    # when it is approved
    result = decide(table, unknown, "my-app", 760, approve, now)

    # then it is not delivered, and nothing is raised
    assert unknown.described == [deployment.execution_arn]
    assert (result.won, result.delivered) == (True, False)
    assert result.problem == "the execution was no longer waiting (no task waiting)"


def test_resume_output_is_the_action_who_and_when_only(now):
    # given a decision from Slack, with the user's id and address
    decision = Decision("approve", "alice", now.isoformat(), "203.0.113.24", "Slackbot", "U0ALICE")

    # when the output the execution is resumed with is made, from the decision or from the stored item
    # then it carries what the state machine and Record Outcome read, nothing else
    expected = {"action": "approve", "decided_by": "alice", "decided_at": now.isoformat()}
    assert resume_output(decision) == expected
    assert resume_output(decision.as_item()) == expected
