"""Nothing left split when AWS drops an event: the sweep (the template's schedule on Clean Up) finds locks held
by executions that ended and cleans each up as Clean Up would; what Clean Up cannot finish after Lambda's
retries lands on the stack's dead-letter queue."""

from __future__ import annotations

import json
import time
from typing import Any

import boto3

from canary_testing.browser import open_and_submit
from lambda_canary.local import faults

SWEEP_GRACE_SECONDS = 3.0  # the local runtime's SWEEP_GRACE_SECONDS


def locks_held(fleet) -> list[str]:
    locks = boto3.resource("dynamodb").Table(fleet.runtime.outputs["LocksTableName"])
    arns = [locks.get_item(Key={"function_arn": f"{_function_arn(name)}"}).get("Item") for name in fleet.names]
    return [item["function_arn"] for item in arns if item]


def _function_arn(name: str) -> str:
    return f"arn:aws:lambda:us-east-1:123456789012:function:{name}"


def wait_until_swept(fleet) -> dict[str, Any]:
    """The deployment's item once it is ended and cleaned up: no alias split, no lock held. Within the sweep
    interval from now (the execution has ended): the grace, the next sweep and the clean-up it runs."""
    timeout = SWEEP_GRACE_SECONDS + fleet.runtime.sweep_seconds + 10.0
    deadline = time.monotonic() + timeout
    while True:
        item = fleet.item() or {}
        split = {name: weights for name, (_, weights) in fleet.aliases().items() if weights}
        if item.get("status") in {"ROLLED_BACK", "PROMOTED"} and not split and not locks_held(fleet):
            return item
        assert time.monotonic() < deadline, f"not swept after {timeout} s: {item.get('status')}, {split}"
        time.sleep(0.2)


def test_a_roll_back_that_gave_up_is_finished_by_the_sweep_when_the_ending_event_is_dropped(make_fleet):
    # given a canary waiting for a decision, one of whose aliases refuses every update of the workflow's
    # roll back (four attempts), and whose ending event EventBridge will never deliver
    fleet = make_fleet(3)
    execution = fleet.start()
    links = fleet.links()
    faults.arm_events(execution, times=None)
    faults.arm("UpdateAlias", fleet.names[1], times=4, message="Alias update rejected")

    # when it is rolled back
    open_and_submit(links["rollback"])

    # then the workflow gives up with that alias still split, keeping the deployment's locks
    ended = fleet.wait(execution)
    assert ended["error"] == "Canary.RollbackFailed"

    # and the sweep puts that alias back, records the ending and frees every lock
    item = wait_until_swept(fleet)
    assert fleet.aliases() == {name: ("1", {}) for name in fleet.names}
    assert (item["status"], item["outcome"]["recorded_by"]) == ("ROLLED_BACK", "clean-up")
    assert "Clean Up put them back afterwards" in item["outcome"]["cause"]


def test_an_execution_stopped_from_the_console_is_swept_when_its_event_is_dropped(make_fleet):
    # given a canary waiting for a decision (10% on version 2), whose ending event will never be delivered
    fleet = make_fleet(3)
    execution = fleet.start()
    fleet.links()
    faults.arm_events(execution)

    # when it is stopped from the console
    fleet.sfn.stop_execution(executionArn=execution, error="Operator", cause="stopped from the console")
    assert fleet.wait(execution)["status"] == "ABORTED"

    # then the sweep puts every alias back, records the ending and frees the locks
    item = wait_until_swept(fleet)
    assert fleet.aliases() == {name: ("1", {}) for name in fleet.names}
    assert item["status"] == "ROLLED_BACK" and "ended ABORTED" in item["outcome"]["cause"]


def test_a_late_ending_event_after_the_sweep_changes_nothing(make_fleet):
    # given a canary whose ending event comes 8 seconds late (the sweep runs first)
    fleet = make_fleet(2)
    execution = fleet.start()
    fleet.links()
    faults.arm_events(execution, delay=8.0)

    # when it is stopped, and swept
    fleet.sfn.stop_execution(executionArn=execution, error="Operator", cause="stopped from the console")
    item = wait_until_swept(fleet)
    trail = len(item["trail"])

    # then the late event's Clean Up, once it has run, leaves everything as the sweep left it
    time.sleep(8.0 + 2.0)  # not a timing assertion: lets the late event arrive before the state is read again
    assert fleet.aliases() == {name: ("1", {}) for name in fleet.names}
    assert len(fleet.item()["trail"]) == trail


def test_clean_up_failing_is_retried_then_sent_to_the_dead_letter_queue_and_swept_once_it_can(make_fleet, runtime):
    # given a canary waiting for a decision, one of whose aliases refuses every update for now
    fleet = make_fleet(2)
    execution = fleet.start()
    fleet.links()
    faults.arm("UpdateAlias", fleet.names[0], times=1000, message="Alias update rejected")

    # when it is stopped from the console: Clean Up gets the event, fails, and Lambda retries it twice
    fleet.sfn.stop_execution(executionArn=execution, error="Operator", cause="stopped from the console")

    # then the event lands on the stack's dead-letter queue with the invocation record AWS sends
    record = _dead_letter_for(runtime, execution, timeout=30)
    assert record["requestContext"]["condition"] == "RetriesExhausted"
    assert record["requestContext"]["approximateInvokeCount"] == 3
    assert record["requestContext"]["functionArn"].endswith(
        f":{runtime.stack.function_names['CleanUpFunction']}:$LATEST"
    )
    assert record["responseContext"]["functionError"] == "Unhandled"
    assert fleet.names[0] in record["responsePayload"]["errorMessage"]
    assert record["requestPayload"]["detail"]["status"] == "ABORTED"

    # and meanwhile the deployment keeps its locks, its failed roll back recorded
    assert locks_held(fleet) != []
    assert fleet.item()["outcome"]["error"] == "Canary.RollbackFailed"

    # and once the alias can be updated again, the sweep puts it back and frees the locks
    faults.clear()
    item = wait_until_swept(fleet)
    assert fleet.aliases() == {name: ("1", {}) for name in fleet.names}
    assert item["status"] == "ROLLED_BACK"


def _dead_letter_for(runtime, execution_arn: str, timeout: float) -> dict[str, Any]:
    """The invocation record on the dead-letter queue for Clean Up's run on this execution's ending event."""
    sqs = boto3.client("sqs")
    queue = runtime.outputs["DeadLetterQueueUrl"]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        answer = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10, VisibilityTimeout=0, WaitTimeSeconds=1)
        for message in answer.get("Messages", []):
            record = json.loads(message["Body"])
            if (record.get("requestPayload") or {}).get("detail", {}).get("executionArn") == execution_arn:
                return dict(record)
    raise TimeoutError(f"no dead-letter record for {execution_arn} after {timeout} s")


def test_canary_local_runs_the_sweep_at_the_interval_it_is_given(start_local):
    # given `canary local --sweep-seconds 1`, and a lock left on a function by an execution of its state
    # machine that Step Functions does not know (it never opened a deployment)
    local = start_local("--sweep-seconds", "1")
    ghost = local.outputs["StateMachineArn"].replace(":stateMachine:", ":execution:") + ":ghost-1"
    lock = {
        "function_arn": {"S": "arn:aws:lambda:us-east-1:123456789012:function:orders-api"},
        "repository": {"S": "my-app"},
        "build_no": {"N": "1"},
        "execution_arn": {"S": ghost},
        "acquired_at": {"S": "2026-12-01T00:00:00+00:00"},
    }
    table = local.outputs["LocksTableName"]
    local.aws("dynamodb", "put-item", "--table-name", table, "--item", json.dumps(lock))

    # when the sweep runs, then the lock is dropped within a few intervals (read with the aws CLI)
    key = json.dumps({"function_arn": lock["function_arn"]})
    deadline = time.monotonic() + 20
    while local.aws("dynamodb", "get-item", "--table-name", table, "--key", key).get("Item"):
        assert time.monotonic() < deadline, "the sweep of canary local left the lock"
        time.sleep(0.5)
