"""canary_core.claim.open_deployment on moto: validate, lock the functions, supersede an older canary, open the record.

No test waits: the clock (`now`, `sleep`, and the monotonic clock the supersede deadline reads) is a fake that only
moves when open_deployment sleeps, and "the older execution reacting" happens inside that fake sleep.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta
from types import SimpleNamespace
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from canary_core import aliases, claim
from canary_core.claim import POLL_SECONDS, SUPERSEDE_WAIT_SECONDS, open_deployment
from canary_core.errors import InvalidInput
from canary_core.model import ROLLED_BACK, SHIFTING, WAITING, Defaults, Deployment, Hooks, Step, WorkflowState
from canary_core.outcome import describe_outcome
from canary_testing import put_errors_alarm

EXECUTION = "arn:aws:states:us-east-1:123456789012:execution:canary:"
DEFAULTS = Defaults(alias="live", weight=0.1, pre_approve=False, approval_timeout_seconds=3600)
OLDER_TOKEN = "token-of-build-759"


class FakeClock:
    """now() and a monotonic clock that move only when sleep() is called; each sleep first runs `on_sleep`."""

    def __init__(self, start) -> None:
        self.start = start
        self.elapsed = 0.0
        self.sleeps: list[float] = []
        self.on_sleep: Callable[[], None] = lambda: None

    def now(self):
        return self.start + timedelta(seconds=self.elapsed)

    def monotonic(self) -> float:
        return self.elapsed

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.elapsed += seconds
        self.on_sleep()


@pytest.fixture
def clock(now, monkeypatch) -> FakeClock:
    """The fake clock; the supersede deadline (read from time.monotonic in canary_core.claim) reads it too."""
    fake = FakeClock(now)
    monkeypatch.setattr(claim, "time", SimpleNamespace(monotonic=fake.monotonic))
    return fake


@pytest.fixture
def functions(make_function, upload) -> list[str]:
    """orders-api and payments on version 1 behind alias "live", with build 759's code uploaded."""
    for name in ("orders-api", "payments"):
        make_function(name)
        upload(name, 759)
    return ["orders-api", "payments"]


def request(build_no: int, **fields: Any) -> dict[str, Any]:
    return {"repository": "my-app", "build_no": build_no, "functions": ["orders-api", "payments"], **fields}


class StepFunctions:
    """SendTaskSuccess, recorded; with throttle_first, the first call is throttled (and not delivered).

    DescribeExecution answers RUNNING, unless `statuses` says otherwise for an execution: a status, or an error
    code to raise (ExecutionDoesNotExist, AccessDeniedException).
    """

    def __init__(self, throttle_first: bool = False) -> None:
        self.throttle_first = throttle_first
        self.calls: list[dict[str, str]] = []
        self.delivered: list[dict[str, str]] = []
        self.statuses: dict[str, str] = {}
        self.described: list[str] = []

    def describe_execution(self, *, executionArn: str) -> dict[str, Any]:
        self.described.append(executionArn)
        status = self.statuses.get(executionArn, "RUNNING")
        if not status.isupper():
            raise ClientError({"Error": {"Code": status, "Message": executionArn}}, "DescribeExecution")
        return {"executionArn": executionArn, "status": status, "name": executionArn.rsplit(":", 1)[1]}

    def send_task_success(self, *, taskToken: str, output: str) -> dict[str, Any]:
        call = {"taskToken": taskToken, "output": output}
        self.calls.append(call)
        if self.throttle_first and len(self.calls) == 1:
            raise ClientError({"Error": {"Code": "ThrottlingException", "Message": "Rate exceeded"}}, "SendTaskSuccess")
        self.delivered.append(call)
        return {}


@pytest.fixture
def sfn(request) -> StepFunctions:
    """Step Functions; `@pytest.mark.parametrize("sfn", [True], indirect=True)` throttles its first call."""
    return StepFunctions(throttle_first=getattr(request, "param", False))


@pytest.fixture
def deploy(lambda_client, table, functions_table, locks, sfn, clock):
    """deploy(build_no, **input fields): Validate Input of my-app `build_no`, run by execution my-app-<build_no>."""

    def run(
        build_no: int, execution: str | None = None, wait_seconds: float = SUPERSEDE_WAIT_SECONDS, **fields: Any
    ) -> Deployment:
        return open_deployment(
            request(build_no, **fields),
            EXECUTION + (execution or f"my-app-{build_no}"),
            DEFAULTS,
            lambda_client=lambda_client,
            table=table,
            functions=functions_table,
            locks=locks,
            sfn_client=sfn,
            now=clock.now,
            sleep=clock.sleep,
            wait_seconds=wait_seconds,
            cloudwatch_client=boto3.client("cloudwatch", region_name="us-east-1"),
        )

    return run


@pytest.fixture
def older_waiting(functions, deploy, lambda_client, table, now):
    """Build 759 ran its workflow up to Await Decision: its aliases send 10% to version 2, and it waits."""
    deployment = deploy(759)
    deployment = aliases.publish_versions(lambda_client, deployment)
    table.save_state(deployment)
    aliases.shift_traffic(lambda_client, deployment)
    table.await_decision(deployment, int(now.timestamp()) + 3600, now)
    table.store_token(deployment.repository, deployment.build_no, OLDER_TOKEN)
    return deployment


@pytest.fixture
def older_reacts(older_waiting, sfn, lambda_client, table, locks, clock, upload):
    """Build 759's execution, resumed with a roll back: Roll Back, then Record Outcome (which releases its locks).

    Installed as the clock's on_sleep: the older execution runs while the newer one polls. CI has uploaded build
    760's code meanwhile.
    """
    for name in ("orders-api", "payments"):
        upload(name, 760)

    def react() -> None:
        delivered = [call for call in sfn.delivered if call["taskToken"] == OLDER_TOKEN]
        if not delivered or table.get("my-app", 759)["status"] != WAITING:
            return
        decision = json.loads(delivered[-1]["output"])
        deployment, changed_outside = aliases.roll_back(lambda_client, older_waiting)
        state = WorkflowState(deployment, decision=decision, rollback={"changed_outside": changed_outside})
        table.record_outcome(deployment, describe_outcome(state), clock.now())
        locks.release(deployment)

    clock.on_sleep = react
    return older_waiting


def lock_holders(locks_dynamodb_table) -> dict[str, str]:
    """{function name: execution holding its lock}."""
    items = locks_dynamodb_table.scan(ConsistentRead=True)["Items"]
    return {item["function_arn"].rsplit(":", 1)[1]: item["execution_arn"] for item in items}


def alias_state(lambda_client, function: str) -> tuple[str, dict[str, float]]:
    alias = lambda_client.get_alias(FunctionName=function, Name="live")
    return alias["FunctionVersion"], alias.get("RoutingConfig", {}).get("AdditionalVersionWeights", {})


def test_a_free_deployment_is_locked_and_opened(functions, deploy, table, locks_dynamodb_table, clock):
    # given no other deployment holds orders-api or payments
    # when build 760 is opened
    deployment = deploy(760)

    # then it holds both functions, its record is open, and it never waited
    assert [(f.name, f.old_version) for f in deployment.functions] == [("orders-api", "1"), ("payments", "1")]
    assert lock_holders(locks_dynamodb_table) == {
        "orders-api": EXECUTION + "my-app-760",
        "payments": EXECUTION + "my-app-760",
    }
    assert table.get("my-app", 760)["status"] == SHIFTING
    assert clock.sleeps == []


def test_a_busy_function_without_supersede_names_the_running_deployment_and_the_fix(
    older_waiting, deploy, table, sfn, lambda_client, locks_dynamodb_table
):
    # given build 759 holds both functions and waits for a decision
    # when build 760 is started without "supersede"
    with pytest.raises(InvalidInput) as invalid:
        deploy(760)

    # then each function is named with the deployment and execution running it, and how to supersede it
    holder = f"my-app build 759 (execution {EXECUTION}my-app-759)"
    fix = 'wait for it to end, or start this deployment with "supersede": true to roll that one back first'
    assert invalid.value.problems == [
        f"functions: 'orders-api' is being deployed by {holder}; {fix}",
        f"functions: 'payments' is being deployed by {holder}; {fix}",
    ]

    # and nothing changed: 759 keeps its locks and its canary, nobody decided for it, 760 was not opened
    assert set(lock_holders(locks_dynamodb_table).values()) == {EXECUTION + "my-app-759"}
    assert alias_state(lambda_client, "orders-api") == ("1", {"2": 0.1})
    assert sfn.calls == []
    assert table.get("my-app", 759)["status"] == WAITING
    assert table.get("my-app", 760) is None


def test_supersede_rolls_back_a_waiting_older_deployment_and_takes_over(
    older_reacts, deploy, table, sfn, lambda_client, locks_dynamodb_table, clock, now
):
    # given build 759 waits for a decision with 10% of traffic on version 2
    # when build 760 is started with "supersede": true
    deployment = deploy(760, supersede=True)

    # then 759 got a roll back decision, through the same path as a click, by "superseded by my-app build 760"
    (call,) = sfn.calls
    assert call["taskToken"] == OLDER_TOKEN
    assert json.loads(call["output"]) == {
        "action": "rollback",
        "decided_by": "superseded by my-app build 760",
        "decided_at": now.isoformat(),
    }
    older = table.get("my-app", 759)
    assert older["decision"]["decided_by"] == "superseded by my-app build 760"
    assert older["status"] == ROLLED_BACK

    # and 760 waited one poll for 759 to let go, then read the aliases as 759 left them (version 1 alone)
    assert clock.sleeps == [POLL_SECONDS]
    assert alias_state(lambda_client, "orders-api") == ("1", {})
    assert [(f.name, f.old_version) for f in deployment.functions] == [("orders-api", "1"), ("payments", "1")]

    # and 760 holds both functions and is open
    assert set(lock_holders(locks_dynamodb_table).values()) == {EXECUTION + "my-app-760"}
    assert table.get("my-app", 760)["status"] == SHIFTING


@pytest.mark.parametrize("sfn", [True], indirect=True)
def test_a_supersede_decision_that_could_not_be_delivered_is_sent_again_at_the_next_poll(
    older_reacts, deploy, table, sfn, locks_dynamodb_table, clock
):
    # given build 759 waits, and Step Functions throttles the first SendTaskSuccess
    # when build 760 supersedes it
    deploy(760, supersede=True)

    # then the first decision was taken back and the next poll delivered it again; 759 rolled back
    assert [call["taskToken"] for call in sfn.calls] == [OLDER_TOKEN, OLDER_TOKEN]
    assert len(sfn.delivered) == 1
    events = [event["event"] for event in table.get("my-app", 759)["trail"]]
    assert events[-4:] == [
        "decision: rollback",
        "decision withdrawn: rollback",
        "decision: rollback",
        "outcome: ROLLED_BACK",
    ]
    assert clock.sleeps == [POLL_SECONDS, POLL_SECONDS]
    assert set(lock_holders(locks_dynamodb_table).values()) == {EXECUTION + "my-app-760"}


def test_supersede_gives_up_at_the_deadline_holding_nothing(
    older_waiting, deploy, table, sfn, lambda_client, locks_dynamodb_table, clock
):
    # given build 759 waits, but its execution never reacts to the roll back (its locks stay)
    # when build 760 supersedes it with a deadline of 5 seconds
    with pytest.raises(InvalidInput) as invalid:
        deploy(760, supersede=True, wait_seconds=5)

    # then it gives up after the deadline, naming who still holds the functions
    assert invalid.value.problems == [
        "supersede: my-app build 759 still holds its functions after 5 s; try again when it ends"
    ]
    assert 5 < sum(clock.sleeps) <= 5 + POLL_SECONDS

    # and the roll back decision was sent once, 760 holds nothing and was not opened; 759's canary is as it was
    assert [call["taskToken"] for call in sfn.calls] == [OLDER_TOKEN]
    assert set(lock_holders(locks_dynamodb_table).values()) == {EXECUTION + "my-app-759"}
    assert table.get("my-app", 760) is None
    assert alias_state(lambda_client, "payments") == ("1", {"2": 0.1})


def test_supersede_of_a_deployment_still_shifting_waits_for_it_without_deciding(
    functions, deploy, locks, table, sfn, locks_dynamodb_table, clock
):
    # given build 759 holds the functions but is not waiting for a decision yet (it is still shifting)
    older = deploy(759)

    # and it ends by itself while build 760 polls
    clock.on_sleep = lambda: locks.release(older) if len(clock.sleeps) == 3 else None

    # when build 760 supersedes it
    deploy(760, supersede=True)

    # then no decision was taken for 759; 760 took over once 759 let go
    assert sfn.calls == []
    assert "decision" not in table.get("my-app", 759)
    assert clock.sleeps == [POLL_SECONDS] * 3
    assert set(lock_holders(locks_dynamodb_table).values()) == {EXECUTION + "my-app-760"}


def test_a_build_that_was_already_deployed_is_refused_and_its_locks_released(
    functions, deploy, locks, table, locks_dynamodb_table, now
):
    # given build 760 was deployed before by another execution, which ended and let go of its functions
    first = deploy(760, execution="my-app-760-first")
    table.record_outcome(first, {"status": "PROMOTED", "summary": {}}, now)
    locks.release(first)

    # when an execution starts build 760 again
    with pytest.raises(InvalidInput) as invalid:
        deploy(760, execution="my-app-760-again")

    # then it is refused, naming the execution that deployed it, and the locks it took are released
    assert invalid.value.problems == [
        f"build_no: my-app build 760 was already deployed by execution {EXECUTION}my-app-760-first "
        "(status PROMOTED); deploy a new build number"
    ]
    assert lock_holders(locks_dynamodb_table) == {}
    assert table.get("my-app", 760)["execution_arn"] == EXECUTION + "my-app-760-first"


@pytest.mark.parametrize("supersede", [False, True])
def test_an_alias_split_by_something_that_holds_no_lock_is_refused_and_nothing_held(
    functions, deploy, lambda_client, locks_dynamodb_table, table, supersede
):
    # given someone split orders-api's alias by hand: 50% to version 2, outside any deployment
    lambda_client.publish_version(FunctionName="orders-api")
    lambda_client.update_alias(
        FunctionName="orders-api", Name="live", RoutingConfig={"AdditionalVersionWeights": {"2": 0.5}}
    )

    # when build 760 is started (with or without supersede: there is nothing to supersede)
    with pytest.raises(InvalidInput) as invalid:
        deploy(760, supersede=supersede)

    # then the split alias is named with the fix, nothing is held, and the build was not opened
    assert invalid.value.problems == [
        "functions: 'orders-api' alias 'live' already splits traffic (v2 at 50%); finish or roll back that canary first"
    ]
    assert lock_holders(locks_dynamodb_table) == {}
    assert table.get("my-app", 760) is None


def test_bad_input_is_refused_before_anything_is_locked(functions, deploy, locks_dynamodb_table, table):
    # given an input whose supersede is not a boolean
    # when build 760 is started with it
    with pytest.raises(InvalidInput) as invalid:
        deploy(760, supersede="yes")

    # then the field is named, and nothing is held or opened
    assert invalid.value.problems == ["supersede: 'yes' is not true or false"]
    assert lock_holders(locks_dynamodb_table) == {}
    assert table.get("my-app", 760) is None


def test_an_alarm_that_does_not_exist_is_refused_before_anything_is_locked(
    functions, deploy, locks_dynamodb_table, table
):
    # given one CloudWatch alarm
    put_errors_alarm(boto3.client("cloudwatch", region_name="us-east-1"), "orders-errors")

    # when build 760 asks to watch it and a misspelling of it
    with pytest.raises(InvalidInput) as invalid:
        deploy(760, alarms=["orders-errors", "orders-erors"])

    # then the misspelt alarm is named, and nothing is held or opened
    assert [p.split(";")[0] for p in invalid.value.problems] == [
        "alarms: 'orders-erors' is not an alarm in this account and region, so it would watch nothing"
    ]
    assert lock_holders(locks_dynamodb_table) == {}
    assert table.get("my-app", 760) is None


def test_the_deployment_opened_carries_its_steps_analysis_alarms_and_hooks(functions, deploy, make_function):
    # given an existing alarm and hook function, and an input with a schedule, an analysis, that alarm and hook
    make_function("smoke-test", alias=None)
    put_errors_alarm(boto3.client("cloudwatch", region_name="us-east-1"), "orders-errors")
    steps = [{"weight": 0.05}, {"weight": 0.25, "gate": "auto", "bake_seconds": 600}]

    # when build 760 is opened
    deployment = deploy(
        760,
        steps=steps,
        analysis={"mode": "rollback"},
        alarms=["orders-errors"],
        hooks={"before_traffic": "smoke-test"},
    )

    # then the deployment, and the state the workflow passes on, carry them
    assert deployment.steps == (Step(0.05), Step(0.25, "auto", 600))
    assert (deployment.weight, deployment.analysis.mode, deployment.alarms) == (0.05, "rollback", ("orders-errors",))
    assert Deployment.from_state(deployment.to_state()).hooks == Hooks(before_traffic="smoke-test")


def test_a_hook_that_does_not_exist_is_refused_before_anything_is_locked(
    functions, deploy, locks_dynamodb_table, table
):
    # given no function named smoke-tset
    # when build 760 names it as its after-promote hook
    with pytest.raises(InvalidInput) as invalid:
        deploy(760, hooks={"after_promote": "smoke-tset"})

    # then it is named (not found after the promotion it would roll back), and nothing is held or opened
    assert invalid.value.problems == [
        "hooks.after_promote: 'smoke-tset' does not exist in this account and region; check the name (the input's "
        "hooks, or the stack's BeforeTrafficHook / AfterPromoteHook parameter)"
    ]
    assert lock_holders(locks_dynamodb_table) == {}
    assert table.get("my-app", 760) is None


def test_alarms_are_checked_with_a_client_of_its_own_when_the_caller_gives_none(
    functions, lambda_client, table, functions_table, locks
):
    # given a caller that passes no CloudWatch client, as Validate Input's handler does
    # when an input asks for an alarm that does not exist
    with pytest.raises(InvalidInput) as invalid:
        open_deployment(
            request(760, alarms=["orders-errors"]),
            EXECUTION + "my-app-760",
            DEFAULTS,
            lambda_client=lambda_client,
            table=table,
            functions=functions_table,
            locks=locks,
            sfn_client=StepFunctions(),
        )

    # then it is still checked, and refused
    assert invalid.value.problems[0].startswith("alarms: 'orders-errors' is not an alarm in this account and region")


# --- locks left behind by an execution that died -------------------------------------------------------


@pytest.mark.parametrize("ending", ["FAILED", "ABORTED", "TIMED_OUT", "ExecutionDoesNotExist"])
def test_locks_of_an_execution_that_no_longer_runs_are_taken_over(
    functions, deploy, table, sfn, locks_dynamodb_table, clock, ending
):
    # given build 759 took both locks, and its execution then ended without releasing them (or is unknown)
    deploy(759)
    sfn.statuses[EXECUTION + "my-app-759"] = ending

    # when build 760 is started without "supersede"
    deploy(760)

    # then the dead execution was looked up, and 760 holds both functions at once, deciding nothing for 759
    assert EXECUTION + "my-app-759" in sfn.described
    assert set(lock_holders(locks_dynamodb_table).values()) == {EXECUTION + "my-app-760"}
    assert table.get("my-app", 760)["status"] == SHIFTING
    assert (sfn.calls, clock.sleeps) == ([], [])


def test_locks_of_an_ended_execution_whose_canary_was_not_put_back_are_respected_until_clean_up(
    older_waiting, deploy, table, sfn, locks_dynamodb_table, lambda_client
):
    # given build 759 sends 10% to version 2 and its execution was stopped, its ending event not handled yet
    sfn.statuses[EXECUTION + "my-app-759"] = "ABORTED"

    # when build 760 is started, even with "supersede"
    # then it is refused, naming build 759 and saying Clean Up puts its aliases back within minutes
    with pytest.raises(InvalidInput) as refused:
        deploy(760, supersede=True)
    assert "'orders-api' may still carry the canary of my-app build 759, whose execution ended" in str(refused.value)
    assert "Clean Up puts them back within minutes" in str(refused.value)

    # and build 759 keeps its locks (Clean Up's sweep finds them), its canary untouched, 760 holding nothing
    assert set(lock_holders(locks_dynamodb_table).values()) == {EXECUTION + "my-app-759"}
    assert alias_state(lambda_client, "orders-api") == ("1", {"2": 0.1})
    assert table.get("my-app", 760) is None


def test_locks_of_an_ended_execution_whose_roll_back_failed_are_respected(
    older_waiting, deploy, table, sfn, locks_dynamodb_table, now
):
    # given build 759's roll back gave up (its aliases may still be split) and its execution failed
    failed = {"status": "FAILED", "error": "Canary.RollbackFailed", "cause": "Roll back failed: throttled"}
    table.record_outcome(older_waiting, failed, now)
    sfn.statuses[EXECUTION + "my-app-759"] = "FAILED"

    # when build 760 is started, then it is refused until Clean Up has put the aliases back
    with pytest.raises(InvalidInput, match="may still carry the canary of my-app build 759"):
        deploy(760)
    assert set(lock_holders(locks_dynamodb_table).values()) == {EXECUTION + "my-app-759"}


def test_locks_left_by_an_execution_whose_deployment_ended_are_taken_over(
    older_waiting, deploy, table, sfn, locks_dynamodb_table, lambda_client, now
):
    # given build 759 was rolled back and recorded, but its execution died before releasing its locks
    aliases.roll_back(lambda_client, older_waiting)
    table.record_outcome(older_waiting, {"status": ROLLED_BACK, "error": "Canary.RolledBack", "cause": "-"}, now)
    sfn.statuses[EXECUTION + "my-app-759"] = "FAILED"

    # when build 760 is started, then it takes the locks over
    deploy(760)
    assert set(lock_holders(locks_dynamodb_table).values()) == {EXECUTION + "my-app-760"}


def test_locks_of_an_execution_that_cannot_be_looked_up_are_respected(
    functions, deploy, table, sfn, locks_dynamodb_table
):
    # given build 759 holds both locks, and its execution cannot be looked up (access denied)
    deploy(759)
    sfn.statuses[EXECUTION + "my-app-759"] = "AccessDeniedException"

    # when build 760 is started without "supersede"
    # then it is refused as busy: when in doubt, the lock stands
    with pytest.raises(InvalidInput, match="is being deployed by my-app build 759"):
        deploy(760)
    assert set(lock_holders(locks_dynamodb_table).values()) == {EXECUTION + "my-app-759"}


def test_a_bad_field_and_a_function_that_does_not_exist_are_reported_together(
    functions, deploy, locks_dynamodb_table, table
):
    # given an input whose weight is out of range and that names a function that does not exist
    # when build 760 is started with it
    with pytest.raises(InvalidInput) as invalid:
        deploy(760, weight=1.5, functions=["orders-api", "no-such-function"])

    # then one rejection names both problems, and nothing is held or opened
    assert invalid.value.problems == [
        "weight: 1.5 is outside 0..1; pass a fraction such as 0.1 for 10% of traffic",
        "functions: 'no-such-function' does not exist in this account and region; check the name",
    ]
    assert lock_holders(locks_dynamodb_table) == {}
    assert table.get("my-app", 760) is None


def test_functions_that_do_not_parse_are_not_looked_up_when_the_fields_are_refused(functions, deploy):
    # given an input with a qualified ARN and a bad alias name
    qualified = "arn:aws:lambda:us-east-1:123456789012:function:orders-api:7"

    # when build 760 is started with it
    with pytest.raises(InvalidInput) as invalid:
        deploy(760, alias="bad alias!", functions=[qualified, "payments"])

    # then the field problems are named, and the function that parses is looked up with the stack's alias
    # (it exists: no lookup problem is added)
    assert [problem.split(":")[0] for problem in invalid.value.problems] == ["functions[0]", "alias"]
