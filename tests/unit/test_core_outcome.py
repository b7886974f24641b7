"""canary_core.outcome.describe_outcome: how a deployment ended, from the state the workflow carries."""

from __future__ import annotations

import json

import pytest

from canary_core.model import FunctionTarget, WorkflowState
from canary_core.outcome import (
    FAILED_ERROR,
    ROLLBACK_FAILED_ERROR,
    ROLLED_BACK_ERROR,
    describe_outcome,
)

ARN = "arn:aws:lambda:us-east-1:123456789012:function:"


@pytest.fixture
def deployment(make_deployment):
    return make_deployment(approval_timeout_seconds=1800)


def describe(deployment, state):
    """The outcome of `state` (the workflow's state, as Record Outcome receives it) for `deployment`."""
    return describe_outcome(WorkflowState.of({**state, "deployment": deployment.to_state()}).loaded(deployment))


def lambda_error(error_type: str, message: str) -> dict[str, str]:
    """A Catch's {Error, Cause} for a Lambda function that raised: the Cause is Lambda's JSON error."""
    cause = {"errorMessage": message, "errorType": error_type, "stackTrace": ['  File "/var/task/app.py"']}
    return {"Error": error_type, "Cause": json.dumps(cause)}


def test_an_approved_and_promoted_deployment_is_promoted(deployment):
    # given the state after Promote, approved by a link
    decision = {"action": "approve", "decided_by": "approval link", "decided_at": "2025-04-07T09:45:00+00:00"}
    state = {"deployment": deployment.to_state(), "decision": decision, "promotion": {"promoted": True}}

    # when the outcome is described
    outcome = describe(deployment, state)

    # then it is PROMOTED, with no error, and the summary says who decided and which versions
    assert outcome == {
        "status": "PROMOTED",
        "summary": {
            "repository": "my-app",
            "build_no": 760,
            "alias": "live",
            "execution_arn": deployment.execution_arn,
            "decided_by": "approval link",
            "decided_at": "2025-04-07T09:45:00+00:00",
            "functions": [{"name": "orders-api", "old_version": "1", "new_version": "2"}],
        },
    }


def test_a_deployment_rolled_back_by_a_person_names_who_and_when(deployment):
    # given the state after Roll Back, decided by a click
    decision = {"action": "rollback", "decided_by": "approval link", "decided_at": "2025-04-07T09:50:00+00:00"}
    state = {"decision": decision, "rollback": {"changed_outside": {}}}

    # when the outcome is described
    outcome = describe(deployment, state)

    # then it is ROLLED_BACK with the roll-back error and a cause naming who and when
    assert outcome["status"] == "ROLLED_BACK"
    assert outcome["error"] == ROLLED_BACK_ERROR == "Canary.RolledBack"
    assert outcome["cause"] == "Rolled back by approval link at 09:50 UTC."


def test_a_deployment_a_newer_one_superseded_says_so_without_a_who(deployment):
    # given the state after Roll Back, decided when build 761 took the functions over
    decided = {
        "action": "rollback",
        "decided_by": "superseded by my-app build 761",
        "decided_at": "2025-04-07T09:50:00Z",
    }
    state = {"decision": decided, "rollback": {"changed_outside": {}}}

    # when the outcome is described, then the cause reads as a sentence ("by superseded by" before)
    assert describe(deployment, state)["cause"] == "Rolled back at 09:50 UTC: superseded by my-app build 761."


def test_a_deployment_nobody_decided_on_was_rolled_back_by_the_timeout(deployment):
    # given the state the Note Timeout step leaves
    decision = {"action": "rollback", "decided_by": "timeout", "decided_at": "2025-04-07T10:00:00Z"}
    state = {"decision": decision, "rollback": {"changed_outside": {}}}

    # when the outcome is described
    outcome = describe(deployment, state)

    # then the cause says there was no decision within the timeout
    assert outcome["status"] == "ROLLED_BACK"
    assert outcome["error"] == ROLLED_BACK_ERROR
    assert outcome["cause"] == "No decision within 1800 seconds: rolled back (reason: timeout)."
    assert outcome["summary"]["decided_by"] == "timeout"


def test_an_error_rolls_back_and_its_cause_is_the_lambda_error_message(deployment):
    # given a Shift Traffic failure caught into $.error and a successful Roll Back
    error = lambda_error("AliasUpdateFailed", "Shift Traffic failed for 1 function(s): payments: Throttled")
    state = {"error": error, "rollback": {"changed_outside": {}}}

    # when the outcome is described
    outcome = describe(deployment, state)

    # then it is ROLLED_BACK with the failure error, and the cause is the Lambda's errorMessage, in words
    assert outcome["status"] == "ROLLED_BACK"
    assert outcome["error"] == FAILED_ERROR == "Canary.DeploymentFailed"
    assert outcome["cause"] == (
        "AliasUpdateFailed: Shift Traffic failed for 1 function(s): payments: Throttled. "
        "Every alias was put back to the version it ran before."
    )
    assert "stackTrace" not in outcome["cause"]


def test_an_error_whose_cause_is_not_json_is_given_as_it_is(deployment):
    # given a Step Functions error (not a Lambda's) with a plain-text cause
    state = {"error": {"Error": "States.TaskFailed", "Cause": "Lambda was throttled"}}

    # when the outcome is described
    outcome = describe(deployment, state)

    # then the cause is used as it is
    assert outcome["cause"].startswith("States.TaskFailed: Lambda was throttled. ")


def test_a_failed_roll_back_is_failed_and_names_both_errors(deployment):
    # given a Promote error, then a Roll Back that also failed
    state = {
        "error": lambda_error("AliasUpdateFailed", "Promote failed for 1 function(s): orders-api: Throttled"),
        "rollback_error": lambda_error(
            "AliasUpdateFailed", "Roll Back failed for 1 function(s): orders-api: ResourceNotFoundException"
        ),
    }

    # when the outcome is described
    outcome = describe(deployment, state)

    # then it is FAILED with the roll-back error, and the cause gives the roll-back failure, then the first error
    assert outcome["status"] == "FAILED"
    assert outcome["error"] == ROLLBACK_FAILED_ERROR == "Canary.RollbackFailed"
    assert outcome["cause"] == (
        "Roll back failed, aliases may still carry weights: AliasUpdateFailed: Roll Back failed for 1 function(s): "
        "orders-api: ResourceNotFoundException (after: AliasUpdateFailed: Promote failed for 1 function(s): "
        "orders-api: Throttled)"
    )


def test_a_failed_roll_back_after_a_decision_has_no_earlier_error_in_its_cause(deployment):
    # given a person's roll back whose Roll Back step failed
    state = {
        "decision": {"action": "rollback", "decided_by": "approval link", "decided_at": "2025-04-07T09:50:00Z"},
        "rollback_error": lambda_error("AliasUpdateFailed", "Roll Back failed for 1 function(s): x: y"),
    }

    # when the outcome is described
    outcome = describe(deployment, state)

    # then it is FAILED and the cause has no "(after: ...)"
    assert outcome["status"] == "FAILED"
    assert "(after:" not in outcome["cause"]


def test_aliases_changed_outside_are_named_after_a_decided_roll_back(deployment):
    # given the state after Roll Back, decided by a click, which left two aliases someone else had set
    decision = {"action": "rollback", "decided_by": "approval link", "decided_at": "2025-04-07T09:50:00+00:00"}
    changed = {
        "payments": "changed outside the workflow: expected v1 with v2 at 10% or v2 or v1, found v3",
        "billing": "changed outside the workflow while being updated (was v1 with v2 at 10%)",
    }
    state = {"decision": decision, "rollback": {"changed_outside": changed}}

    # when the outcome is described
    outcome = describe(deployment, state)

    # then the cause names each of them, in name order, with what was found
    assert outcome["status"] == "ROLLED_BACK"
    assert outcome["cause"] == (
        "Rolled back by approval link at 09:50 UTC. Left as someone else set them: "
        "billing (changed outside the workflow while being updated (was v1 with v2 at 10%)); "
        "payments (changed outside the workflow: expected v1 with v2 at 10% or v2 or v1, found v3)"
    )


def test_aliases_changed_outside_are_named_after_an_error(deployment):
    # given a Promote failure caught into $.error, and a Roll Back that left one alias someone else had set
    error = lambda_error("AliasUpdateFailed", "Promote failed for 1 function(s): payments: changed outside")
    state = {"error": error, "rollback": {"changed_outside": {"payments": "found v3"}}}

    # when the outcome is described
    outcome = describe(deployment, state)

    # then the cause says every alias was put back, except the one named
    assert outcome["error"] == FAILED_ERROR
    assert outcome["cause"].endswith(
        "Every alias was put back to the version it ran before. Left as someone else set them: payments (found v3)"
    )


def test_no_alias_changed_outside_adds_nothing_to_the_cause(deployment):
    # given a roll back by a click that found every alias as the deployment left it
    decision = {"action": "rollback", "decided_by": "approval link", "decided_at": "2025-04-07T09:50:00+00:00"}

    # when the outcome is described with an empty changed_outside
    outcome = describe(deployment, {"decision": decision, "rollback": {"changed_outside": {}}})

    # then the cause is the plain one
    assert outcome["cause"] == "Rolled back by approval link at 09:50 UTC."


def test_a_roll_back_of_a_function_first_pinned_from_latest_says_it_is_back_on_latest(make_deployment):
    # given a deployment of two functions, `payments` deployed for the first time from $LATEST, rolled back
    deployment = make_deployment(
        functions=[
            FunctionTarget("orders-api", f"{ARN}orders-api", "1", "2"),
            FunctionTarget("payments", f"{ARN}payments", "$LATEST", "1"),
        ]
    )
    decision = {"action": "rollback", "decided_by": "approval link", "decided_at": "2025-04-07T09:50:00+00:00"}

    # when the outcome is described
    outcome = describe(deployment, {"decision": decision, "rollback": {"changed_outside": {}}})

    # then the cause says plainly that payments is back on $LATEST, which holds the new code
    assert outcome["cause"] == (
        "Rolled back by approval link at 09:50 UTC. payments ran $LATEST before (no earlier "
        "version): back on $LATEST, which holds the new code."
    )


def test_an_error_roll_back_of_a_function_pinned_from_latest_says_so_too(make_deployment):
    # given a deployment of a function first pinned from $LATEST, rolled back after an error
    deployment = make_deployment(functions=[FunctionTarget("payments", f"{ARN}payments", "$LATEST", "1")])
    state = {"error": lambda_error("AliasUpdateFailed", "payments: throttled"), "rollback": {"changed_outside": {}}}

    # when the outcome is described
    outcome = describe(deployment, state)

    # then the cause names the error, then the $LATEST function
    assert outcome["cause"] == (
        "AliasUpdateFailed: payments: throttled. Every alias was put back to the version it ran before. "
        "payments ran $LATEST before (no earlier version): back on $LATEST, which holds the new code."
    )


def test_a_function_on_latest_that_was_never_published_is_not_mentioned(make_deployment):
    # given a deployment stopped before Publish Versions, its function on $LATEST (no new version)
    deployment = make_deployment(functions=[FunctionTarget("payments", f"{ARN}payments", "$LATEST")])
    state = {"error": lambda_error("States.Timeout", "Publish Versions timed out"), "rollback": {"changed_outside": {}}}

    # when the outcome is described
    outcome = describe(deployment, state)

    # then nothing is said about $LATEST: no new code ever ran
    assert "$LATEST" not in outcome["cause"]


def test_a_promotion_at_the_deadline_is_recorded_as_decided_by_the_timeout(deployment):
    # given the state after Promote, reached through "Promote On Timeout?" (on_timeout promote)
    decision = {"action": "approve", "decided_by": "timeout", "decided_at": "2025-04-07T10:30:00.123Z"}
    state = {"deployment": deployment.to_state(), "decision": decision, "promotion": {"promoted": True}}

    # when the outcome is described
    outcome = describe(deployment, state)

    # then it is PROMOTED, and the summary says the timeout decided, and when
    assert outcome["status"] == "PROMOTED"
    assert (outcome["summary"]["decided_by"], outcome["summary"]["decided_at"]) == (
        "timeout",
        "2025-04-07T10:30:00.123Z",
    )
