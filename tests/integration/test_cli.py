"""`canary` as a user runs it against the local runtime: a process of its own, reaching the emulator through
--stack lambda-canary-local and --endpoint-url only; alias state read back with boto3."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path
from typing import Any

import boto3
import pytest

from canary_testing import CANARY, environment_without_aws
from lambda_canary.local.runtime import STACK_NAME

pytestmark = pytest.mark.integration
DEADLINE = 90  # seconds any one command may take
TEMPLATE = Path(__file__).resolve().parents[2] / "template.yaml"


def canary(runtime: Any, *args: str, timeout: float = DEADLINE) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(CANARY), *args, "--stack", STACK_NAME, "--endpoint-url", runtime.endpoint_url],
        env=_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def started(runtime: Any, *args: str) -> subprocess.Popen[str]:
    """`canary start ... --wait` left running, its output read when it exits."""
    return subprocess.Popen(
        [str(CANARY), "start", *args, "--wait", "--stack", STACK_NAME, "--endpoint-url", runtime.endpoint_url],
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _env() -> dict[str, str]:
    return {
        **environment_without_aws(),
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "COLUMNS": "200",
    }


def wait_for_status(fleet: Any, status: str, timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        item = fleet.item()
        if item and item["status"] == status:
            return item
        time.sleep(0.2)
    raise TimeoutError(f"{fleet.repository} build {fleet.build_no} not {status} after {timeout} s")


def ended(process: subprocess.Popen[str]) -> tuple[int, str]:
    _, err = process.communicate(timeout=DEADLINE)
    return process.returncode, err


def test_start_wait_follows_a_pre_approved_deployment_and_exits_0_when_promoted(runtime, make_fleet):
    # given two functions with build 2's code uploaded
    fleet = make_fleet(2)

    # when CI runs `canary start --wait` with pre-approval
    result = canary(
        runtime, "start", "--repository", fleet.repository, "--build", "2", "--functions", *fleet.names,
        "--pre-approve", "--wait", "--wait-timeout", "60",
    )  # fmt: skip

    # then it prints the execution named repository-build, follows the trail, and exits 0 with every alias promoted
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().endswith(f":{fleet.repository}-2")
    assert "decision: approve" in result.stderr and "PROMOTED" in result.stderr
    assert fleet.aliases() == {name: ("2", {}) for name in fleet.names}


def test_a_rollback_from_the_terminal_ends_start_wait_with_exit_3_naming_the_caller(runtime, make_fleet):
    # given `canary start --wait` following a deployment that waits for a decision at 10%
    fleet = make_fleet(2)
    follower = started(runtime, "--repository", fleet.repository, "--build", "2", "--functions", *fleet.names)
    wait_for_status(fleet, "WAITING")
    assert fleet.aliases() == {name: ("1", {"2": 0.1}) for name in fleet.names}

    # when someone runs `canary rollback REPOSITORY BUILD`
    decided = canary(runtime, "rollback", fleet.repository, "2", "--output", "json")

    # then the decision is recorded with the caller's AWS identity, and the follower exits 3, every alias back
    assert decided.returncode == 0, decided.stderr
    caller = json.loads(decided.stdout)["decided_by"]
    assert caller.startswith("arn:aws:")
    code, err = ended(follower)
    assert code == 3, err
    assert f"ROLLED_BACK: Rolled back by {caller} at " in err  # the cause names who, once
    assert fleet.item()["decision"]["decided_by"] == caller
    assert fleet.aliases() == {name: ("1", {}) for name in fleet.names}


def test_approve_from_the_terminal_promotes_and_a_second_decision_changes_nothing(runtime, make_fleet):
    # given a deployment started without --wait, waiting for a decision
    fleet = make_fleet(2)
    start = canary(runtime, "start", "--repository", fleet.repository, "--build", "2", "--functions", *fleet.names)
    assert start.returncode == 0, start.stderr
    wait_for_status(fleet, "WAITING")

    # when it is approved from a terminal, then rolled back
    approved = canary(runtime, "approve", fleet.repository, "2")
    fleet.wait(start.stdout.strip())
    late = canary(runtime, "rollback", fleet.repository, "2")

    # then the approval promotes every alias, and the late roll back exits 6 (nothing to act on) saying so
    assert approved.returncode == 0, approved.stderr
    assert fleet.item()["status"] == "PROMOTED"
    assert fleet.aliases() == {name: ("2", {}) for name in fleet.names}
    assert late.returncode == 6
    assert "is not waiting for a decision (status PROMOTED" in late.stderr and "nothing was changed" in late.stderr


def test_start_wait_exits_4_when_its_wait_timeout_passes_and_the_deployment_goes_on(runtime, make_fleet):
    # given a deployment nobody decides
    fleet = make_fleet(1)

    # when `canary start --wait --wait-timeout 3` follows it
    result = canary(
        runtime, "start", "--repository", fleet.repository, "--build", "2", "--functions", *fleet.names,
        "--wait", "--wait-timeout", "3",
    )  # fmt: skip

    # then it exits 4, saying the deployment goes on; the deployment still waits
    assert result.returncode == 4, result.stderr
    assert "Still running after 3 s (--wait-timeout); it goes on" in result.stderr
    assert wait_for_status(fleet, "WAITING")["status"] == "WAITING"
    assert canary(runtime, "rollback", fleet.repository, "2").returncode == 0  # leave no canary behind
    fleet.wait(fleet.item()["execution_arn"])


def test_an_invalid_input_exits_5_naming_every_problem_and_is_posted_to_slack(runtime, make_fleet):
    # given one function that exists, one that does not, and a weight out of range
    fleet = make_fleet(1)

    # when `canary start --wait` starts it
    result = canary(
        runtime, "start", "--repository", fleet.repository, "--build", "2", "--functions", fleet.names[0],
        "no-such-function-here", "--weight", "1.5", "--wait",
    )  # fmt: skip

    # then it exits 5 printing both problems, Slack is told naming the build, and no alias moved
    assert result.returncode == 5, result.stderr
    assert "Canary.InvalidInput" in result.stderr
    assert "weight: 1.5 is outside 0..1" in result.stderr
    assert "'no-such-function-here' does not exist" in result.stderr
    told = fleet.wait_for_text("Rejected:")
    assert told["text"].startswith(f"Rejected: {fleet.repository} build 2. ")
    assert "no-such-function-here" in told["text"] and "weight: 1.5" in told["text"]
    assert fleet.aliases() == {fleet.names[0]: ("1", {})}


def test_start_without_wait_exits_5_when_the_workflow_rejects_the_input(runtime, make_fleet):
    # given a weight out of range and a function that does not exist
    fleet = make_fleet(1)

    # when CI runs `canary start` without --wait
    result = canary(
        runtime, "start", "--repository", fleet.repository, "--build", "2", "--functions", fleet.names[0],
        "no-such-function-here", "--weight", "2",
    )  # fmt: skip

    # then it waits for Validate Input's answer and exits 5 with the cause: the job does not go green
    assert result.returncode == 5, result.stderr
    assert "Not deployed (Canary.InvalidInput)" in result.stderr and "weight: 2" in result.stderr
    assert fleet.aliases() == {fleet.names[0]: ("1", {})}


def test_a_rejected_build_is_retried_as_its_next_attempt_and_found_by_status(runtime, make_fleet):
    # given a build rejected (a function that does not exist): no deployment was opened
    fleet = make_fleet(1)
    rejected = canary(runtime, "start", "--repository", fleet.repository, "--build", "2", "--functions", "absent-fn")
    assert rejected.returncode == 5, rejected.stderr

    # when the CI job re-runs with the same build number and a good input, as JSON
    retried = canary(
        runtime, "start", "--repository", fleet.repository, "--build", "2", "--functions", *fleet.names,
        "--output", "json",
    )  # fmt: skip

    # then it starts as attempt 2, is accepted (exit 0), and status shows that deployment
    assert retried.returncode == 0, retried.stderr
    shown = json.loads(retried.stdout)
    assert shown["name"] == f"{fleet.repository}-2-2" and shown["status"] == "ACCEPTED" and shown["exit_code"] == 0
    status = canary(runtime, "status", fleet.repository, "2", "--output", "json")
    assert json.loads(status.stdout)["execution_arn"] == shown["execution_arn"]
    wait_for_status(fleet, "WAITING")
    assert canary(runtime, "rollback", fleet.repository, "2").returncode == 0  # leave no canary behind
    fleet.wait(shown["execution_arn"])


def test_status_history_and_outputs_show_the_trail_as_json_and_as_a_table(runtime, make_fleet):
    # given a promoted deployment
    fleet = make_fleet(1)
    start = canary(
        runtime, "start", "--repository", fleet.repository, "--build", "2", "--functions", *fleet.names,
        "--pre-approve", "--wait",
    )  # fmt: skip
    assert start.returncode == 0, start.stderr

    # when its status, the repository's history and the stack's outputs are read
    status = canary(runtime, "status", fleet.repository, "2", "--output", "json")
    history = canary(runtime, "history", "--repository", fleet.repository, "--since", "1h", "--output", "json")
    table = canary(runtime, "history", "--repository", fleet.repository)
    outputs = canary(runtime, "outputs", "--output", "json")

    # then each shows what the table and the stack hold
    assert status.returncode == history.returncode == table.returncode == outputs.returncode == 0
    shown = json.loads(status.stdout)
    assert shown["status"] == "PROMOTED" and shown["decision"]["decided_by"] == "pre-approval"
    assert shown["trail"][0]["event"] == "started"
    assert "outcome: PROMOTED" in [event["event"] for event in shown["trail"]]
    (row,) = json.loads(history.stdout)
    assert (row["repository"], row["build_no"], row["status"]) == (fleet.repository, 2, "PROMOTED")
    assert fleet.repository in table.stdout and "PROMOTED" in table.stdout
    assert json.loads(outputs.stdout)["StateMachineArn"] == runtime.outputs["StateMachineArn"]


def test_status_of_a_rejected_build_shows_its_execution_and_cause(runtime, make_fleet):
    # given a build whose input was refused (a function that does not exist)
    fleet = make_fleet(1)
    start = canary(runtime, "start", "--repository", fleet.repository, "--build", "2", "--functions", "absent-fn")
    assert start.returncode == 5, start.stderr
    fleet.wait(start.stdout.strip())

    # when its status is read
    status = canary(runtime, "status", fleet.repository, "2", "--output", "json")

    # then the execution's error and cause stand in for the deployment that never existed
    assert status.returncode == 0, status.stderr
    shown = json.loads(status.stdout)
    assert (shown["execution"], shown["error"]) == ("FAILED", "Canary.InvalidInput")
    assert "'absent-fn' does not exist" in shown["cause"]


def test_an_unknown_deployment_or_stack_exits_1_naming_the_fix(runtime):
    # when the status of a build nobody deployed, and of a stack that does not exist, are read
    unknown = canary(runtime, "status", "nobody-deployed-this", "1")
    no_stack = subprocess.run(
        [str(CANARY), "outputs", "--stack", "no-such-stack", "--endpoint-url", runtime.endpoint_url],
        env=_env(), capture_output=True, text=True, timeout=DEADLINE,
    )  # fmt: skip

    # then each exits 1 and says what to do
    assert unknown.returncode == 1
    assert (
        "no deployment of nobody-deployed-this build 1 in this stack; list them with `canary history`" in unknown.stderr
    )
    assert no_stack.returncode == 1
    assert "stack 'no-such-stack' does not exist in us-east-1" in no_stack.stderr


def test_logs_say_so_when_no_line_names_the_deployment(runtime, make_fleet):
    # given a deployment on a runtime whose functions log warnings only: nothing about a healthy deployment
    fleet = make_fleet(1)
    start = canary(runtime, "start", "--repository", fleet.repository, "--build", "2", "--functions", *fleet.names,
                   "--pre-approve", "--wait")  # fmt: skip
    assert start.returncode == 0, start.stderr

    # when its logs are asked for
    logs = canary(runtime, "logs", fleet.repository, "2")

    # then the command says it searched every log group of the stack and found none
    assert logs.returncode == 0, logs.stderr
    groups = TEMPLATE.read_text().count("Type: AWS::Logs::LogGroup")  # one per function of the stack
    assert f"no log lines name {fleet.repository} build 2 in {groups} log group(s)" in logs.stderr

    # though the functions' lines are there: Validate Input's group holds its REPORT lines
    validate = f"{STACK_NAME}-ValidateInputLogs"
    events = boto3.client("logs").filter_log_events(logGroupName=validate)["events"]
    assert any(event["message"].startswith("REPORT RequestId: ") for event in events)


def test_logs_of_a_rejected_build_show_its_rejection_naming_the_build(runtime, make_fleet):
    # given a build whose input was rejected (a function that does not exist)
    fleet = make_fleet(1)
    rejected = canary(runtime, "start", "--repository", fleet.repository, "--build", "2", "--functions", "absent-fn")
    assert rejected.returncode == 5, rejected.stderr

    # when its logs are asked for (a function's lines reach CloudWatch Logs a moment after it ran)
    deadline = time.monotonic() + 30
    while True:
        logs = canary(runtime, "logs", fleet.repository, "2")
        if "input rejected" in logs.stdout or time.monotonic() > deadline:
            break
        time.sleep(0.5)

    # then Validate Input's warning is shown as a line: level, function, message and the problems
    assert logs.returncode == 0, logs.stderr
    (line,) = [text for text in logs.stdout.splitlines() if "input rejected" in text]
    assert "WARNING" in line and "ValidateInput" in line and "absent-fn" in line


def test_output_outside_a_terminal_is_never_cut_however_narrow_columns_is(runtime):
    # when `canary outputs` prints its table into a pipe with COLUMNS=40
    printed = subprocess.run(
        [str(CANARY), "outputs", "--stack", STACK_NAME, "--endpoint-url", runtime.endpoint_url],
        env={**_env(), "COLUMNS": "40"}, capture_output=True, text=True, timeout=DEADLINE,
    )  # fmt: skip

    # then the state machine's ARN is printed whole, on one line
    assert printed.returncode == 0, printed.stderr
    assert any(line.split() == ["StateMachineArn", runtime.outputs["StateMachineArn"]]
               for line in printed.stdout.splitlines())  # fmt: skip


def test_start_wait_exits_4_when_nobody_decides_by_the_approval_deadline(runtime, make_fleet):
    # given a deployment whose approval deadline is 2 seconds away (the stack's policy: roll back then)
    fleet = make_fleet(1)

    # when `canary start --wait` follows it and nobody decides
    result = canary(
        runtime, "start", "--repository", fleet.repository, "--build", "2", "--functions", *fleet.names,
        "--approval-timeout", "2", "--wait",
    )  # fmt: skip

    # then it exits 4 once the deadline rolled it back, naming the timeout; every alias is back
    assert result.returncode == 4, result.stderr
    assert "ROLLED_BACK: No decision within 2 seconds: rolled back (reason: timeout)." in result.stderr
    assert fleet.aliases() == {fleet.names[0]: ("1", {})}


def test_revert_puts_a_promoted_deployment_back_from_the_terminal(runtime, make_fleet):
    # given a deployment of two functions, promoted (pre-approved)
    fleet = make_fleet(2)
    assert fleet.wait(fleet.start(pre_approve=True))["status"] == "SUCCEEDED"
    assert fleet.aliases() == {name: ("2", {}) for name in fleet.names}

    # when `canary revert` is asked what it would do, then does it
    dry = canary(runtime, "revert", fleet.repository, str(fleet.build_no), "--dry-run", "--output", "json")
    assert dry.returncode == 0, dry.stdout + dry.stderr
    assert fleet.aliases() == {name: ("2", {}) for name in fleet.names}
    done = canary(runtime, "revert", fleet.repository, str(fleet.build_no))

    # then every alias runs the version it ran before, and the trail says who reverted
    assert done.returncode == 0, done.stdout + done.stderr
    assert fleet.aliases() == {name: ("1", {}) for name in fleet.names}
    assert fleet.item()["status"] == "REVERTED"


def test_audit_finds_what_bypasses_the_aliases_of_the_local_stacks_functions(runtime, make_fleet):
    # given a function of the stack's scope whose asynchronous invocations are configured on $LATEST
    fleet = make_fleet(1)
    fleet.lam.put_function_event_invoke_config(FunctionName=fleet.names[0], Qualifier="$LATEST", MaximumRetryAttempts=0)

    # when the local stack's functions are audited, as in an account
    audited = canary(runtime, "audit", "--output", "json")

    # then that caller is found, naming the function and the fix, and the exit code says something bypasses
    assert audited.returncode == 1, audited.stdout + audited.stderr
    found = [f for f in json.loads(audited.stdout) if f["function"].endswith(f":function:{fleet.names[0]}")]
    assert [f["kind"] for f in found] == ["EventInvokeConfig"] and "live" in found[0]["fix"]


def test_audit_of_the_projects_own_template_says_nothing_was_checked():
    # when the project's template is audited (its functions have no alias: no canary covers them)
    audited = subprocess.run(
        [str(CANARY), "audit", "--template", "template.yaml"], env=_env(), capture_output=True, text=True, timeout=60
    )
    # then it gives no all-clear: exit 6, saying no function with an alias was found
    assert audited.returncode == 6, audited.stdout + audited.stderr
    assert "No caller bypasses" not in audited.stdout
    assert "nothing was checked: no function with an alias was found in template template.yaml" in audited.stderr
