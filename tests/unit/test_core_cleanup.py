"""canary_core.cleanup.clean_up on moto: an execution ended outside the workflow's own paths (stopped, timed out,
failed); its aliases are put back, its ending recorded and its locks released."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pytest
from botocore.exceptions import ClientError

from canary_core import aliases, slack
from canary_core.cleanup import CleanUpResources, clean_up
from canary_core.model import FAILED, PROMOTED, ROLLED_BACK, Decision, FunctionTarget
from canary_core.outcome import FAILED_ERROR, ROLLBACK_FAILED_ERROR
from lambda_canary.demo import alias_state

EXECUTION = "arn:aws:states:us-east-1:123456789012:execution:canary:my-app-760"
STATE_MACHINE = "arn:aws:states:us-east-1:123456789012:stateMachine:canary"
INPUT = {"repository": "my-app", "build_no": 760, "functions": ["orders-api", "payments"]}


def ended(status: str = "ABORTED", execution_arn: str = EXECUTION, raw_input: Any = INPUT) -> dict[str, Any]:
    """The detail of the "Step Functions Execution Status Change" event EventBridge sends for an execution's end."""
    return {
        "executionArn": execution_arn,
        "stateMachineArn": STATE_MACHINE,
        "name": execution_arn.rsplit(":", 1)[1],
        "status": status,
        "startDate": 1744018200000,
        "stopDate": 1744019100000,
        "input": raw_input if isinstance(raw_input, str) else json.dumps(raw_input),
        "output": None,
        "inputDetails": {"included": True},
        "outputDetails": None,
    }


class Notified:
    """The notify callback: records each (deployment, outcome) it is given."""

    def __init__(self) -> None:
        self.calls: list[tuple[Any, dict[str, Any]]] = []

    def __call__(self, deployment: Any, outcome: dict[str, Any]) -> None:
        self.calls.append((deployment, outcome))


class NoLambda:
    """A Lambda client that must not be used: any call fails the test."""

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"Lambda {name} was called")


@pytest.fixture
def notified() -> Notified:
    return Notified()


@pytest.fixture
def clean(table, functions_table, locks, lambda_client, notified, now):
    """clean(detail, **overrides): Clean Up for an ending event, with this module's tables, locks, moto's
    Lambda, the Notified recorder and the fixed clock (each can be overridden)."""

    def run(detail: dict[str, Any], rejected: Any = None, **overrides: Any) -> dict[str, Any]:
        context = CleanUpResources(table, functions_table, locks, lambda_client, notified, now)
        return clean_up(detail, replace(context, **overrides), rejected=rejected)

    return run


@pytest.fixture
def opened(make_function, upload, make_deployment, table, functions_table, locks, now):
    """Build 760 of orders-api and payments (version 1 behind "live"), opened and locked by Validate Input."""
    targets = []
    for name in ("orders-api", "payments"):
        arn = make_function(name)
        upload(name, 760)
        targets.append(FunctionTarget(name, arn, "1"))
    deployment = make_deployment(functions=targets, execution_arn=EXECUTION)
    table.open(deployment, now)
    functions_table.save(deployment)
    assert locks.acquire(deployment, now) == {}
    return deployment


@pytest.fixture
def waiting(opened, lambda_client, table, functions_table, now):
    """Build 760 after Publish Versions, Shift Traffic (10% on version 2), Request Approval and Await Decision."""
    deployment = aliases.publish_versions(lambda_client, opened)
    functions_table.save(deployment)
    table.save_state(deployment)
    aliases.shift_traffic(lambda_client, deployment)
    table.await_decision(deployment, int(now.timestamp()) + 3600, now)
    table.store_token(deployment.repository, deployment.build_no, "token-of-the-aborted-execution")
    return deployment


def locks_left(locks_dynamodb_table) -> list[str]:
    return sorted(item["execution_arn"] for item in locks_dynamodb_table.scan(ConsistentRead=True)["Items"])


def test_an_aborted_waiting_deployment_is_rolled_back_recorded_and_unlocked(
    waiting, table, locks, lambda_client, locks_dynamodb_table, notified, now, functions_table, clean
):
    # given build 760 waits for a decision with 10% on version 2, and its execution is stopped from the console
    # when Clean Up gets the execution's ABORTED event
    result = clean(ended("ABORTED"))

    # then every alias runs version 1 alone again
    assert result == {"cleaned": True, "rolled_back": True, "execution_status": "ABORTED"}
    assert alias_state(lambda_client, "orders-api") == ("1", {})
    assert alias_state(lambda_client, "payments") == ("1", {})

    # and the ending is recorded as a failed deployment that was rolled back, and the task token is gone
    item = table.get("my-app", 760)
    assert item["status"] == ROLLED_BACK
    assert "task_token" not in item
    assert item["outcome"] == {
        "status": ROLLED_BACK,
        "error": FAILED_ERROR,
        "cause": "The execution ended ABORTED before the deployment did; "
        "every alias was put back to the version it ran before.",
        "recorded_by": "clean-up",
        "summary": {
            "repository": "my-app",
            "build_no": 760,
            "execution_arn": EXECUTION,
            "decided_by": None,
            "decided_at": None,
        },
    }
    assert item["trail"][-1]["event"] == "outcome: ROLLED_BACK"

    # and the locks are released, and the outcome was sent on with the deployment's versions
    assert locks_left(locks_dynamodb_table) == []
    ((deployment, outcome),) = notified.calls
    assert outcome == item["outcome"]
    assert [(f.name, f.old_version, f.new_version) for f in deployment.functions] == [
        ("orders-api", "1", "2"),
        ("payments", "1", "2"),
    ]


def test_a_timed_out_execution_names_its_status_in_the_cause(
    waiting, table, locks, lambda_client, notified, now, functions_table, clean
):
    # given build 760 waits, and its execution reaches the state machine's timeout
    # when Clean Up gets the TIMED_OUT event
    clean(ended("TIMED_OUT"))

    # then the cause says how the execution ended
    assert table.get("my-app", 760)["outcome"]["cause"].startswith(
        "The execution ended TIMED_OUT before the deployment did; "
    )


def test_an_alias_changed_by_hand_is_left_and_named_in_the_cause(
    waiting, table, locks, lambda_client, locks_dynamodb_table, notified, now, functions_table, clean
):
    # given build 760 waits, and someone set payments' alias by hand: version 2, with 50% on version 1
    lambda_client.update_alias(
        FunctionName="payments",
        Name="live",
        FunctionVersion="2",
        RoutingConfig={"AdditionalVersionWeights": {"1": 0.5}},
    )

    # when Clean Up gets the ABORTED event
    clean(ended("ABORTED"))

    # then orders-api is put back, payments is left as it was set and named in the cause; the locks are released
    assert alias_state(lambda_client, "orders-api") == ("1", {})
    assert alias_state(lambda_client, "payments") == ("2", {"1": 0.5})
    cause = table.get("my-app", 760)["outcome"]["cause"]
    assert cause.endswith(
        "every alias was put back to the version it ran before. payments was left as someone else set it "
        "(changed outside the workflow: expected v1 with v2 at 10% or v2 or v1, found v2 with v1 at 50%)."
    )
    assert locks_left(locks_dynamodb_table) == []


def test_a_deployment_that_already_recorded_its_outcome_only_has_its_locks_released(
    waiting, table, locks, lambda_client, locks_dynamodb_table, notified, now, functions_table, clean
):
    # given build 760 was promoted and recorded, but its execution then failed before releasing its locks
    aliases.promote(lambda_client, waiting)
    table.record_outcome(waiting, {"status": PROMOTED, "summary": {}}, now)

    # when Clean Up gets the FAILED event (with a Lambda client it must not use)
    result = clean(ended("FAILED"), lambda_client=NoLambda())

    # then nothing is rolled back or recorded again, nobody is told, and the locks are released
    assert result == {"cleaned": True, "rolled_back": False, "execution_status": "FAILED"}
    assert alias_state(lambda_client, "orders-api") == ("2", {})
    item = table.get("my-app", 760)
    assert item["status"] == PROMOTED and item["trail"][-1]["event"] == "outcome: PROMOTED"
    assert notified.calls == []
    assert locks_left(locks_dynamodb_table) == []


@pytest.fixture
def approved(waiting, table, now):
    """Build 760 waits, and was approved by a click (the execution was resumed with approve)."""
    decision = Decision("approve", "approval link", now.isoformat(), source_ip="203.0.113.24")
    assert table.record_decision("my-app", 760, decision)[0]
    return waiting


def test_a_promoted_deployment_whose_last_step_failed_is_recorded_as_promoted_not_undone(
    approved, table, locks, lambda_client, locks_dynamodb_table, notified, now, functions_table, clean
):
    # given build 760 was approved and every alias promoted, and Record Outcome then failed
    aliases.promote(lambda_client, approved)

    # when Clean Up gets the FAILED event
    result = clean(ended("FAILED"))

    # then the promotion stays, the ending is recorded as promoted, sent on, and the locks are released
    assert result == {"cleaned": True, "rolled_back": False, "execution_status": "FAILED"}
    assert alias_state(lambda_client, "orders-api") == ("2", {})
    assert alias_state(lambda_client, "payments") == ("2", {})
    item = table.get("my-app", 760)
    assert item["status"] == PROMOTED
    assert item["outcome"]["cause"] == "Every alias was promoted; the execution then ended FAILED before recording it."
    assert "error" not in item["outcome"]
    assert [outcome["status"] for _, outcome in notified.calls] == [PROMOTED]
    assert locks_left(locks_dynamodb_table) == []


def test_an_approved_deployment_stopped_halfway_through_promote_is_rolled_back(
    approved, table, locks, lambda_client, locks_dynamodb_table, notified, now, functions_table, clean
):
    # given build 760 was approved, and its execution was stopped after Promote had moved orders-api only
    aliases.promote(lambda_client, approved.with_functions(approved.functions[:1]))
    assert alias_state(lambda_client, "orders-api") == ("2", {})

    # when Clean Up gets the ABORTED event
    result = clean(ended("ABORTED"))

    # then both aliases are back on version 1 alone, and the ending is a roll back
    assert result["rolled_back"] is True
    assert alias_state(lambda_client, "orders-api") == ("1", {})
    assert alias_state(lambda_client, "payments") == ("1", {})
    assert table.get("my-app", 760)["status"] == ROLLED_BACK
    assert locks_left(locks_dynamodb_table) == []


def test_the_slack_outcome_of_a_promotion_recorded_by_clean_up_names_who_approved(
    approved, table, locks, lambda_client, notified, now, functions_table, clean
):
    # given build 760 was approved by a link and promoted, and Record Outcome then failed
    aliases.promote(lambda_client, approved)
    clean(ended("FAILED"))

    # when the outcome is turned into the Slack message Clean Up's handler posts
    ((deployment, outcome),) = notified.calls
    text = slack.outcome_message(deployment, outcome, "prod")["text"]

    # then it says who approved and when, as Record Outcome's message does
    assert "None" not in text
    assert "Approved by approval link at 2025-04-07 09:30 UTC." in text


def test_an_execution_that_opened_no_deployment_is_left_alone(
    waiting, table, locks, lambda_client, locks_dynamodb_table, notified, now, functions_table, clean
):
    # given build 760 waits under its execution; a second execution for the same build was rejected (build taken)
    before = table.get("my-app", 760)
    rejected = EXECUTION + "-again"

    # when Clean Up gets the rejected execution's FAILED event
    result = clean(ended("FAILED", execution_arn=rejected), lambda_client=NoLambda())

    # then nothing is done: the running deployment keeps its canary, its record and its locks
    assert result == {"cleaned": False, "reason": "this execution opened no deployment (rejected input)"}
    assert table.get("my-app", 760) == before
    assert alias_state(lambda_client, "orders-api") == ("1", {"2": 0.1})
    assert locks_left(locks_dynamodb_table) == [EXECUTION, EXECUTION]
    assert notified.calls == []


def test_an_execution_whose_build_was_never_opened_is_left_alone(
    table, locks, notified, now, aws, locks_dynamodb_table, functions_table, clean
):
    # given no deployment of my-app build 760 was ever opened (its input was rejected)
    # when Clean Up gets the execution's FAILED event
    result = clean(ended("FAILED"), lambda_client=NoLambda())

    # then nothing is done
    assert result == {"cleaned": False, "reason": "this execution opened no deployment (rejected input)"}
    assert table.get("my-app", 760) is None
    assert notified.calls == []


@pytest.mark.parametrize("raw_input", ["not json", {"build_no": 760}, {"repository": "my-app", "build_no": "x"}, "[]"])
def test_an_execution_whose_input_names_no_deployment_is_left_alone(
    opened, table, locks, locks_dynamodb_table, notified, now, raw_input, functions_table, clean
):
    # given an execution whose input names no repository and build number
    # when Clean Up gets its FAILED event
    result = clean(ended("FAILED", raw_input=raw_input), lambda_client=NoLambda())

    # then nothing is done
    assert result == {"cleaned": False, "reason": "the execution's input names no deployment"}
    assert locks_left(locks_dynamodb_table) == [EXECUTION, EXECUTION]
    assert notified.calls == []


def test_an_execution_stopped_before_shift_traffic_records_that_no_alias_had_moved(
    opened, table, locks, locks_dynamodb_table, notified, now, functions_table, clean
):
    # given build 760 was opened and locked, and its execution is stopped during Publish Versions (no state saved)
    # when Clean Up gets the ABORTED event (with a Lambda client it must not use)
    result = clean(ended("ABORTED"), lambda_client=NoLambda())

    # then no alias is touched, the outcome says no alias had moved, and the locks are released
    assert result == {"cleaned": True, "rolled_back": False, "execution_status": "ABORTED"}
    item = table.get("my-app", 760)
    assert item["status"] == ROLLED_BACK
    assert item["outcome"]["error"] == FAILED_ERROR
    assert item["outcome"]["cause"] == "The execution ended ABORTED before the deployment did; no alias had moved."
    assert locks_left(locks_dynamodb_table) == []
    ((deployment, _),) = notified.calls
    assert [(f.name, f.function_arn) for f in deployment.functions] == [
        (f.name, f.function_arn) for f in opened.functions
    ]


def test_the_slack_outcome_of_an_execution_stopped_before_shift_traffic_shows_no_made_up_versions(
    opened, table, locks, notified, now, functions_table, clean
):
    # given build 760 was opened and locked, and its execution is stopped before Shift Traffic
    clean(ended("ABORTED"), lambda_client=NoLambda())

    # when the outcome is turned into the Slack message Clean Up's handler posts
    ((deployment, outcome),) = notified.calls
    message = slack.outcome_message(deployment, outcome, "prod")

    # then no function line shows an empty or missing version: each function is listed as not changed
    assert "vNone" not in json.dumps(message) and " v -> " not in json.dumps(message)
    assert message["blocks"][-1]["text"]["text"] == "`orders-api`: not changed\n`payments`: not changed"


def test_the_locks_are_kept_when_an_alias_cannot_be_put_back(
    waiting, table, locks, lambda_client, locks_dynamodb_table, notified, now, functions_table, clean
):
    # given build 760 waits, and payments was deleted meanwhile
    lambda_client.delete_function(FunctionName="payments")

    # when Clean Up gets the ABORTED event
    with pytest.raises(Exception) as failed:
        clean(ended("ABORTED"))

    # then it raises (Lambda's retries of the event will run it again), naming the function it could not put back
    problem = (
        "Roll Back failed for 1 function(s): payments: ResourceNotFoundException: "
        "Function not found: arn:aws:lambda:us-east-1:123456789012:function:payments"
    )
    assert str(failed.value) == problem

    # and orders-api is put back
    assert alias_state(lambda_client, "orders-api") == ("1", {})

    # and the ending is recorded as a failed roll back, by clean-up, and sent on
    item = table.get("my-app", 760)
    assert item["status"] == FAILED
    assert "task_token" not in item
    assert item["outcome"] == {
        "status": FAILED,
        "error": ROLLBACK_FAILED_ERROR,
        "cause": f"The execution ended ABORTED; putting the aliases back failed: {problem}",
        "recorded_by": "clean-up",
        "summary": {
            "repository": "my-app",
            "build_no": 760,
            "execution_arn": EXECUTION,
            "decided_by": None,
            "decided_at": None,
        },
    }
    assert item["trail"][-1]["event"] == "outcome: FAILED"
    assert [outcome for _, outcome in notified.calls] == [item["outcome"]]

    # and the locks are kept: the sweeper finds them and tries again
    assert locks_left(locks_dynamodb_table) == [EXECUTION, EXECUTION]


def test_an_alias_a_still_running_task_moves_after_the_first_pass_is_put_back_by_the_second(
    waiting, table, locks, lambda_client, notified, now, functions_table, clean
):
    # given an aborted execution whose Promote Lambda is still running: it promotes orders-api while Clean Up
    # waits for such tasks to settle (the fake sleep below plays that late Promote)
    slept: list[float] = []

    def late_promote(seconds: float) -> None:
        slept.append(seconds)
        lambda_client.update_alias(
            FunctionName="orders-api", Name="live", FunctionVersion="2", RoutingConfig={"AdditionalVersionWeights": {}}
        )

    # when Clean Up runs with a settle time
    result = clean(ended("ABORTED"), settle_seconds=30, sleep=late_promote)

    # then it waited once, and its second pass put the late-promoted alias back too
    assert slept == [30]
    assert result["rolled_back"] is True
    assert alias_state(lambda_client, "orders-api") == ("1", {})
    assert alias_state(lambda_client, "payments") == ("1", {})
    assert "left as someone else set it" not in table.get("my-app", 760)["outcome"]["cause"]


GAVE_UP = "Roll back failed, aliases may still carry weights: Roll Back failed for 2 function(s): throttled"


@pytest.fixture
def gave_up(waiting, table, locks, now):
    """Build 760 waited, then its own roll back gave up: Record Outcome wrote Canary.RollbackFailed and kept
    its locks; the aliases still send 10% to version 2."""
    table.record_outcome(waiting, {"status": FAILED, "error": ROLLBACK_FAILED_ERROR, "cause": GAVE_UP}, now)
    return waiting


def test_a_roll_back_the_workflow_gave_up_on_is_tried_again(
    gave_up, table, locks, lambda_client, locks_dynamodb_table, notified, now, functions_table, clean
):
    # given build 760's own roll back gave up, aliases still split
    assert alias_state(lambda_client, "orders-api") == ("1", {"2": 0.1})

    # when Clean Up gets the FAILED event, the throttling over
    result = clean(ended("FAILED"))

    # then every alias is back, and the ending is now a roll back, recorded by clean-up and sent on
    assert result == {"cleaned": True, "rolled_back": True, "execution_status": "FAILED"}
    assert {name: alias_state(lambda_client, name) for name in ("orders-api", "payments")} == {
        "orders-api": ("1", {}),
        "payments": ("1", {}),
    }
    outcome = table.get("my-app", 760)["outcome"]
    assert (outcome["status"], outcome["error"], outcome["recorded_by"]) == (ROLLED_BACK, FAILED_ERROR, "clean-up")
    assert outcome["cause"].startswith(f"The workflow could not put the aliases back ({GAVE_UP})")
    assert [sent for _, sent in notified.calls] == [outcome]
    assert locks_left(locks_dynamodb_table) == []


class PaymentsRefused:
    """The Lambda client, except that UpdateAlias of payments fails (Lambda having a bad moment)."""

    def __init__(self, lambda_client: Any) -> None:
        self._client = lambda_client

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def update_alias(self, **arguments: Any) -> Any:
        if arguments["FunctionName"].endswith(":payments"):
            raise ClientError({"Error": {"Code": "ServiceException", "Message": "try later"}}, "UpdateAlias")
        return self._client.update_alias(**arguments)


def test_a_roll_back_that_fails_again_is_noted_and_raised_for_lambda_to_retry(
    gave_up, table, locks, lambda_client, locks_dynamodb_table, notified, now, functions_table, clean
):
    # given build 760's own roll back gave up, and payments cannot be put back yet
    refused = PaymentsRefused(lambda_client)

    # when Clean Up gets the FAILED event
    with pytest.raises(Exception, match="Roll Back failed for 1 function"):
        clean(ended("FAILED"), lambda_client=refused)

    # then what it could put back is back, the failure is in the trail, the locks are kept for the sweeper,
    # the ending unchanged
    assert alias_state(lambda_client, "orders-api") == ("1", {})
    item = table.get("my-app", 760)
    assert item["trail"][-1]["event"] == "clean-up roll back failed"
    assert item["outcome"]["error"] == ROLLBACK_FAILED_ERROR and notified.calls == []
    assert locks_left(locks_dynamodb_table) == [EXECUTION, EXECUTION]


def test_a_function_deleted_since_the_roll_back_gave_up_has_nothing_left_to_put_back(
    gave_up, table, locks, lambda_client, locks_dynamodb_table, notified, now, functions_table, clean
):
    # given build 760's own roll back gave up, and payments was deleted since
    lambda_client.delete_function(FunctionName="payments")

    # when Clean Up (or the sweep) tries again
    result = clean(ended("FAILED"))

    # then orders-api is put back, and the deployment ends rolled back, naming payments: no more retries
    assert result["rolled_back"] is True
    assert alias_state(lambda_client, "orders-api") == ("1", {})
    outcome = table.get("my-app", 760)["outcome"]
    assert outcome["status"] == ROLLED_BACK
    assert "payments no longer exists: nothing to put back." in outcome["cause"]
    assert locks_left(locks_dynamodb_table) == []


def test_a_retried_roll_back_leaves_functions_a_newer_deployment_holds(
    gave_up, table, locks, lambda_client, locks_dynamodb_table, make_deployment, notified, now, functions_table, clean
):
    # given build 760's own roll back gave up, and build 761 has since taken payments's lock over
    newer_execution = EXECUTION.replace("760", "761")
    newer = make_deployment(build_no=761, execution_arn=newer_execution, functions=[gave_up.functions[1]])
    locks.take_over(gave_up.functions[1].function_arn, EXECUTION)
    assert locks.acquire(newer, now) == {}

    # when Clean Up gets build 760's FAILED event
    result = clean(ended("FAILED"))

    # then orders-api is put back, payments is left to build 761 (named in the cause), which keeps its lock
    assert result["rolled_back"] is True
    assert alias_state(lambda_client, "orders-api") == ("1", {})
    assert alias_state(lambda_client, "payments") == ("1", {"2": 0.1})
    assert "payments was left to my-app build 761." in table.get("my-app", 760)["outcome"]["cause"]
    assert locks_left(locks_dynamodb_table) == [newer_execution]


def test_the_ended_deployment_is_pruned_once_its_locks_are_free(
    waiting, table, locks, lambda_client, locks_dynamodb_table, notified, now, functions_table, clean
):
    # given build 760 waits, and its execution is stopped
    pruned: list[tuple[list[str], list[str]]] = []

    def prune(deployment):
        pruned.append(([f.name for f in deployment.functions], locks_left(locks_dynamodb_table)))

    # when Clean Up gets the ABORTED event, with pruning
    clean(ended("ABORTED"), prune=prune)

    # then the deployment's functions were handed to pruning once, after its locks were released
    assert pruned == [(["orders-api", "payments"], [])]


def test_a_deployment_whose_roll_back_failed_is_not_pruned(
    waiting, table, locks, lambda_client, notified, now, functions_table, clean
):
    # given build 760 waits, and payments was deleted meanwhile (its alias cannot be put back)
    lambda_client.delete_function(FunctionName="payments")
    pruned: list[object] = []

    # when Clean Up gets the ABORTED event and the roll back fails
    with pytest.raises(Exception, match="Roll Back failed"):
        clean(ended("ABORTED"), prune=pruned.append)

    # then nothing is pruned before the deployment has really ended
    assert pruned == []


def test_a_version_recorded_and_shifted_while_clean_up_settles_is_put_back(
    opened, table, functions_table, locks, lambda_client, locks_dynamodb_table, notified, now, clean
):
    # given build 760 stopped while Publish And Shift ran: orders-api's version 2 recorded and shifted,
    # payments' not recorded yet
    published = aliases.publish_versions(lambda_client, opened)
    table.save_state(published)
    functions_table.record_new_versions(published, {0})
    aliases.shift_traffic(lambda_client, published.with_functions([published.functions[0]]))

    def task_goes_on(seconds: float) -> None:
        """The stopped execution's task Lambda runs on while Clean Up waits: it records payments and shifts it."""
        functions_table.record_new_versions(published, {1})
        aliases.shift_traffic(lambda_client, published.with_functions([published.functions[1]]))

    # when Clean Up gets the ABORTED event and waits for the task to settle
    result = clean(ended("ABORTED"), settle_seconds=30, sleep=task_goes_on)

    # then both aliases run version 1 alone (the second pass knew payments' new version), and no lock is left
    assert result["rolled_back"] is True
    assert alias_state(lambda_client, "orders-api") == ("1", {})
    assert alias_state(lambda_client, "payments") == ("1", {})
    assert "someone else" not in table.get("my-app", 760)["outcome"]["cause"]
    assert locks_left(locks_dynamodb_table) == []


class Told:
    """The `rejected` callback: records each (title, execution) it is told of."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []

    def __call__(self, title: str, execution_arn: str) -> None:
        self.calls.append((title, execution_arn))


def test_a_failed_execution_whose_build_was_never_opened_is_told_naming_the_build(table, notified, aws, clean):
    # given no deployment of my-app build 760 was opened: its input was rejected
    told = Told()

    # when Clean Up gets the execution's FAILED event
    result = clean(ended("FAILED"), lambda_client=NoLambda(), rejected=told)

    # then the build is named to the rejected callback, and nothing else is done
    assert told.calls == [("my-app build 760", EXECUTION)]
    assert result == {"cleaned": False, "reason": "this execution opened no deployment (rejected input)", "told": True}
    assert notified.calls == []


def test_a_rejected_second_execution_of_a_running_build_is_told_and_the_running_one_left(waiting, table, clean):
    # given build 760 waits under its execution; a second execution for the same build was rejected
    before, told = table.get("my-app", 760), Told()

    # when Clean Up gets the second execution's FAILED event
    clean(ended("FAILED", execution_arn=EXECUTION + "-again"), lambda_client=NoLambda(), rejected=told)

    # then the rejection is told, and the running deployment is untouched
    assert told.calls == [("my-app build 760", EXECUTION + "-again")]
    assert table.get("my-app", 760) == before


@pytest.mark.parametrize("status", ["ABORTED", "TIMED_OUT", "SUCCEEDED"])
def test_an_ending_other_than_failed_without_a_deployment_is_not_told(status, aws, clean):
    # given an execution that opened no deployment and ended otherwise than FAILED (stopped by a person, say)
    told = Told()

    # when Clean Up gets its event
    clean(ended(status), lambda_client=NoLambda(), rejected=told)

    # then nobody is told
    assert told.calls == []


def test_a_failed_execution_whose_input_names_no_build_is_told_by_its_name(aws, clean):
    # given an execution whose input is not JSON at all
    told = Told()

    # when Clean Up gets its FAILED event
    result = clean(ended("FAILED", raw_input="not json"), lambda_client=NoLambda(), rejected=told)

    # then it is told by the execution's name
    assert told.calls == [("execution my-app-760", EXECUTION)]
    assert result["told"] is True


def test_an_opened_deployment_is_not_told_as_rejected(opened, clean, locks_dynamodb_table):
    # given build 760 was opened by its execution (its functions locked), which then failed
    told = Told()

    # when Clean Up gets the FAILED event
    clean(ended("FAILED"), rejected=told)

    # then it is cleaned up as an ending, not told as a rejection
    assert told.calls == []
    assert locks_left(locks_dynamodb_table) == []


def test_the_rejection_message_names_the_build_and_the_cause_and_escapes_them():
    # given an InvalidInput cause that carries Slack control characters
    cause = "functions: '<!channel>' does not exist in this account and region; check the name"

    # when the message is built
    message = slack.rejected_message("my-app build 760", "Canary.InvalidInput", cause, "prod")

    # then it says rejected, names the build and the cause, escaped, and that nothing changed
    assert message["text"].startswith("Rejected: my-app build 760. functions: '&lt;!channel&gt;' does not exist")
    assert message["blocks"][0]["text"]["text"] == "Rejected: my-app build 760"
    assert "No alias was changed" in message["blocks"][1]["text"]["text"]
    assert "<!channel>" not in json.dumps(message)


def test_a_failure_before_traffic_is_worded_as_a_failure():
    # when the message for a Validate Input that failed (not a refused input) is built
    message = slack.rejected_message("my-app build 760", "Canary.DeploymentFailed", None, "dev")

    # then it says it failed before any traffic moved, with the error as the cause
    assert message["text"] == "Failed before any traffic moved: my-app build 760. Canary.DeploymentFailed"
