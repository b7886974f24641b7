"""canary_core.sweep on moto: the sweeper finds locks held by executions that ended (their event never came)
and cleans each up as Clean Up would; running executions and fresh endings are left alone."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from botocore.exceptions import ClientError

from canary_core import aliases
from canary_core.cleanup import CleanUpResources, clean_up_execution
from canary_core.locks import FunctionLocks, Holder
from canary_core.model import ROLLED_BACK, FunctionTarget
from canary_core.sweep import GONE, SweepIncomplete, sweep
from lambda_canary.demo import alias_state

EXECUTION = "arn:aws:states:us-east-1:123456789012:execution:canary:my-app-760"
GRACE = 120.0


class Executions:
    """Step Functions' DescribeExecution for a few executions: {arn: (status, seconds since it stopped)};
    an ARN not listed does not exist. Counts the calls per execution."""

    def __init__(self, now: datetime, known: dict[str, tuple[str, float | None]]) -> None:
        self.now, self.known = now, known
        self.described: list[str] = []

    def describe_execution(self, *, executionArn: str) -> dict[str, Any]:
        self.described.append(executionArn)
        if executionArn not in self.known:
            error = {"Code": "ExecutionDoesNotExist", "Message": f"Execution Does Not Exist: '{executionArn}'"}
            raise ClientError({"Error": error}, "DescribeExecution")
        status, age = self.known[executionArn]
        answer: dict[str, Any] = {"executionArn": executionArn, "status": status}
        if age is not None:
            answer["stopDate"] = self.now - timedelta(seconds=age)
        return answer


@pytest.fixture
def waiting(make_function, upload, make_deployment, table, functions_table, locks, lambda_client, now):
    """Build 760 of orders-api and payments waiting for a decision: 10% on version 2, both functions locked."""
    targets = []
    for name in ("orders-api", "payments"):
        arn = make_function(name)
        upload(name, 760)
        targets.append(FunctionTarget(name, arn, "1"))
    deployment = make_deployment(functions=targets, execution_arn=EXECUTION)
    table.open(deployment, now)
    functions_table.save(deployment)
    assert locks.acquire(deployment, now) == {}
    deployment = aliases.publish_versions(lambda_client, deployment)
    functions_table.save(deployment)
    table.save_state(deployment)
    aliases.shift_traffic(lambda_client, deployment)
    table.await_decision(deployment, int(now.timestamp()) + 3600, now)
    return deployment


@pytest.fixture
def run_sweep(table, functions_table, locks, lambda_client, now):
    """run_sweep(executions): one sweep, cleaning up with the real Clean Up logic; returns (summary, cleaned)."""

    def run(executions: Executions, lambda_api: Any = lambda_client) -> tuple[dict[str, Any], list[tuple]]:
        cleaned: list[tuple[str, str, float]] = []

        def clean(holder: Holder, status: str, settle: float) -> dict[str, Any]:
            cleaned.append((holder.execution_arn, status, settle))
            context = CleanUpResources(table, functions_table, locks, lambda_api, lambda deployment, outcome: None, now)
            return clean_up_execution(holder.execution_arn, status, holder.repository, holder.build_no, context)

        summary = sweep(
            locks=locks, sfn_client=executions, clean=clean, now=now, grace_seconds=GRACE, settle_seconds=30
        )
        return summary, cleaned

    return run


def locks_left(locks_dynamodb_table: Any) -> list[str]:
    return sorted(item["execution_arn"] for item in locks_dynamodb_table.scan(ConsistentRead=True)["Items"])


def test_an_execution_that_ended_without_its_event_is_cleaned_up(
    waiting, run_sweep, lambda_client, table, locks_dynamodb_table, now
):
    # given build 760 waits with 10% on version 2, and its execution was stopped 10 minutes ago: no event came
    executions = Executions(now, {EXECUTION: ("ABORTED", 600)})

    # when the sweeper runs
    summary, cleaned = run_sweep(executions)

    # then Step Functions was asked once for the execution (not once per locked function) and it was cleaned
    # up as Clean Up does: both aliases back on version 1 alone, the ending recorded, the locks gone
    assert executions.described == [EXECUTION]
    assert cleaned == [(EXECUTION, "ABORTED", 0.0)]  # stopped long ago: no task of it is still moving aliases
    assert summary == {"executions": 1, "running": 0, "left_to_event": 0, "cleaned": [EXECUTION]}
    assert alias_state(lambda_client, "orders-api") == ("1", {})
    assert alias_state(lambda_client, "payments") == ("1", {})
    item = table.get("my-app", 760)
    assert (item["status"], item["outcome"]["recorded_by"]) == (ROLLED_BACK, "clean-up")
    assert "ended ABORTED" in item["outcome"]["cause"]
    assert locks_left(locks_dynamodb_table) == []


def test_a_running_execution_is_left_alone(waiting, run_sweep, lambda_client, locks_dynamodb_table, now):
    # given build 760 waits for a decision and its execution runs
    executions = Executions(now, {EXECUTION: ("RUNNING", None)})

    # when the sweeper runs
    summary, cleaned = run_sweep(executions)

    # then nothing is cleaned: the canary still splits traffic and holds its locks
    assert cleaned == [] and summary["running"] == 1
    assert alias_state(lambda_client, "orders-api") == ("1", {"2": 0.1})
    assert locks_left(locks_dynamodb_table) == [EXECUTION, EXECUTION]


def test_an_execution_that_just_ended_is_left_to_its_event_then_swept(
    waiting, run_sweep, lambda_client, locks_dynamodb_table, now
):
    # given build 760's execution was stopped 5 seconds ago: Clean Up's event is probably on its way
    executions = Executions(now, {EXECUTION: ("ABORTED", 5)})

    # when the sweeper runs
    summary, cleaned = run_sweep(executions)

    # then it is left for now
    assert cleaned == [] and summary["left_to_event"] == 1
    assert locks_left(locks_dynamodb_table) == [EXECUTION, EXECUTION]

    # and when the event never came, the sweep after the grace period cleans it up, waiting only what is left
    # of the settle time (none)
    executions.known[EXECUTION] = ("ABORTED", GRACE + 1)
    _, cleaned = run_sweep(executions)
    assert cleaned == [(EXECUTION, "ABORTED", 0.0)]
    assert alias_state(lambda_client, "payments") == ("1", {})
    assert locks_left(locks_dynamodb_table) == []


def test_locks_of_an_execution_that_never_opened_its_deployment_are_dropped(
    make_function, make_deployment, locks, run_sweep, lambda_client, locks_dynamodb_table, now
):
    # given an execution that locked orders-api and ended before it recorded its deployment (no item)
    arn = make_function("orders-api")
    orphan = make_deployment(functions=[FunctionTarget("orders-api", arn, "1")], execution_arn=EXECUTION)
    assert locks.acquire(orphan, now) == {}
    executions = Executions(now, {EXECUTION: ("FAILED", 600)})

    # when the sweeper runs
    run_sweep(executions)

    # then its lock is gone and no alias was touched
    assert locks_left(locks_dynamodb_table) == []
    assert alias_state(lambda_client, "orders-api") == ("1", {})


def test_one_failing_clean_up_does_not_stop_the_others_and_is_tried_again_next_sweep(
    waiting,
    make_function,
    upload,
    make_deployment,
    table,
    functions_table,
    locks,
    run_sweep,
    lambda_client,
    locks_dynamodb_table,
    now,
):
    # given build 760 (stopped) and build 761 of another function (failed) both ended holding locks, and
    # orders-api's alias cannot be updated for now
    other = EXECUTION.replace("760", "761")
    arn = make_function("billing")
    upload("billing", 761)
    newer = make_deployment(build_no=761, functions=[FunctionTarget("billing", arn, "1")], execution_arn=other)
    table.open(newer, now)
    functions_table.save(newer)
    assert locks.acquire(newer, now) == {}
    newer = aliases.publish_versions(lambda_client, newer)
    functions_table.save(newer)
    table.save_state(newer)
    aliases.shift_traffic(lambda_client, newer)
    executions = Executions(now, {EXECUTION: ("ABORTED", 600), other: ("FAILED", 600)})

    class OrdersApiRefused:
        def __getattr__(self, name: str) -> Any:
            return getattr(lambda_client, name)

        def update_alias(self, **arguments: Any) -> Any:
            if arguments["FunctionName"].endswith(":orders-api"):
                raise ClientError({"Error": {"Code": "ServiceException", "Message": "try later"}}, "UpdateAlias")
            return lambda_client.update_alias(**arguments)

    # when the sweeper runs
    with pytest.raises(SweepIncomplete) as incomplete:
        run_sweep(executions, lambda_api=OrdersApiRefused())

    # then build 761 is cleaned up, and the sweep fails naming build 760's execution, which keeps its locks
    assert alias_state(lambda_client, "billing") == ("1", {})
    assert EXECUTION in str(incomplete.value) and "orders-api" in str(incomplete.value)
    assert other not in str(incomplete.value)
    assert locks_left(locks_dynamodb_table) == [EXECUTION, EXECUTION]

    # and the next sweep, Lambda answering again, puts orders-api back and frees the locks
    run_sweep(executions)
    assert alias_state(lambda_client, "orders-api") == ("1", {})
    assert locks_left(locks_dynamodb_table) == []
    assert table.get("my-app", 760)["status"] == ROLLED_BACK


def test_an_execution_step_functions_no_longer_knows_is_cleaned_up(
    waiting, run_sweep, lambda_client, locks_dynamodb_table, now
):
    # given build 760's locks, held by an execution Step Functions no longer knows (closed over 90 days ago)
    executions = Executions(now, {})

    # when the sweeper runs
    _, cleaned = run_sweep(executions)

    # then it is cleaned up like an ended one
    assert cleaned == [(EXECUTION, GONE, 0.0)]
    assert alias_state(lambda_client, "orders-api") == ("1", {})
    assert locks_left(locks_dynamodb_table) == []


def test_the_locks_are_read_a_page_at_a_time():
    # given a locks table answering its scan in two pages
    class PagedTable:
        def __init__(self) -> None:
            self.calls: list[dict[str, Any]] = []

        def scan(self, **arguments: Any) -> dict[str, Any]:
            self.calls.append(arguments)
            first = "ExclusiveStartKey" not in arguments
            item = {"function_arn": "fn-a" if first else "fn-b", "repository": "r", "build_no": 7, "execution_arn": "e"}
            return {"Items": [item], **({"LastEvaluatedKey": {"function_arn": "fn-a"}} if first else {})}

    paged = PagedTable()

    # when every lock is read
    held = FunctionLocks(paged).held()

    # then both pages are read, the second from where the first ended
    assert held == {"fn-a": Holder("r", 7, "e"), "fn-b": Holder("r", 7, "e")}
    assert [call.get("ExclusiveStartKey") for call in paged.calls] == [None, {"function_arn": "fn-a"}]
