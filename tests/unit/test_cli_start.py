"""`canary start` on moto: it waits for the workflow to accept or reject the input, prints one JSON object with
--output json, and retries a rejected build under the next attempt's name."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import boto3
import pytest
from moto.stepfunctions.models import stepfunctions_backends

from canary_testing import ACCOUNT_ID, REGION
from lambda_canary.cli import deploy, main

ROLE = f"arn:aws:iam::{ACCOUNT_ID}:role/canary"


@pytest.fixture
def machine(aws):
    """A state machine whose executions stay RUNNING (moto runs no state): what Validate Input does is written
    into the table by each test."""
    definition = {"StartAt": "Wait", "States": {"Wait": {"Type": "Pass", "End": True}}}
    sfn = boto3.client("stepfunctions", region_name=REGION)
    return sfn.create_state_machine(name="canary", definition=json.dumps(definition), roleArn=ROLE)["stateMachineArn"]


@pytest.fixture
def fast(monkeypatch):
    monkeypatch.setattr(deploy, "POLL_SECONDS", 0.01)


def execution(machine: str, name: str) -> str:
    return machine.replace(":stateMachine:", ":execution:") + ":" + name


def start(machine: str, table_name: str, *extra: str) -> int:
    return main(["start", "--repository", "my-app", "--build", "760", "--functions", "orders-api",
                 "--state-machine-arn", machine, "--table", table_name, *extra])  # fmt: skip


def earlier(machine: str, name: str, build_no: int = 760, repository: str = "my-app") -> str:
    """An earlier execution of the build, ended (stopped) without opening a deployment."""
    sfn = boto3.client("stepfunctions", region_name=REGION)
    body = json.dumps({"repository": repository, "build_no": build_no, "functions": ["orders-api"]})
    arn = sfn.start_execution(stateMachineArn=machine, name=name, input=body)["executionArn"]
    sfn.stop_execution(executionArn=arn, error="Canary.InvalidInput", cause="functions: 'x' does not exist")
    return arn


def test_start_without_wait_exits_0_once_the_input_is_accepted_and_says_so(
    machine, dynamodb_table, table, make_deployment, fast, capsys
):
    # given Validate Input accepts the input (the deployment's item names this execution)
    table.open(make_deployment(execution_arn=execution(machine, "my-app-760")), datetime.now(UTC))

    # when `canary start` runs without --wait
    code = start(machine, dynamodb_table.name)

    # then it prints the execution first on stdout, says what it waits for and that it was accepted, and exits 0
    printed = capsys.readouterr()
    assert code == 0
    assert printed.out.splitlines()[0] == execution(machine, "my-app-760")
    assert "Waiting for the workflow to validate my-app build 760's input ... (up to 150 s)" in printed.err
    assert "Accepted: my-app build 760 is shifting" in printed.err


@pytest.mark.parametrize("output", ["table", "json"])
def test_start_without_wait_gives_up_waiting_for_validation_after_its_bound_and_exits_4(
    machine, dynamodb_table, fast, monkeypatch, capsys, output
):
    # given a workflow that has not validated the input yet (no item, the execution still running)
    monkeypatch.setattr(deploy, "VALIDATION_SECONDS", 0.05)

    # when `canary start` runs without --wait
    code = start(machine, dynamodb_table.name, "--output", output)

    # then after its bound it says the execution started, is not validated yet and goes on, with the link, and
    # exits 4 (timed out: the outcome is unknown), not 0 ("input accepted")
    assert code == 4
    printed = capsys.readouterr()
    err = " ".join(printed.err.split())
    assert "Started, not yet validated after 0 s" in err and execution(machine, "my-app-760") in err
    assert "it goes on" in err
    if output == "json":
        shown = json.loads(printed.out)
        assert (shown["status"], shown["exit_code"]) == ("NOT_VALIDATED", 4)
        assert shown["exit_meaning"].startswith("timed out") and "not validated" in shown["exit_meaning"]


def test_start_output_json_prints_one_object_with_the_outcome(machine, dynamodb_table, table, make_deployment, fast,
                                                              capsys):  # fmt: skip
    # given Validate Input accepts the input
    table.open(make_deployment(execution_arn=execution(machine, "my-app-760")), datetime.now(UTC))

    # when `canary start --output json` runs
    code = start(machine, dynamodb_table.name, "--output", "json")

    # then stdout is one JSON object: the execution, its name, where it stands and what the exit code means
    shown = json.loads(capsys.readouterr().out)
    assert code == 0
    assert shown["execution_arn"] == execution(machine, "my-app-760") and shown["name"] == "my-app-760"
    assert (shown["status"], shown["exit_code"]) == ("ACCEPTED", 0)
    assert shown["exit_meaning"].startswith("done")


def started_minutes_ago(execution_arn: str, minutes: int) -> None:
    """Move a moto execution's start back in time, as if it had been started `minutes` ago."""
    backend = stepfunctions_backends[ACCOUNT_ID][REGION]
    (found,) = [e for m in backend.state_machines for e in m.executions if e.execution_arn == execution_arn]
    found.start_date -= timedelta(minutes=minutes)


def test_start_execution_with_the_same_name_and_input_returns_the_running_execution(machine):
    # given a running execution (Step Functions: the same name and input on an open execution is idempotent)
    sfn = boto3.client("stepfunctions", region_name=REGION)
    body = json.dumps({"repository": "my-app", "build_no": 760, "functions": ["a"]})
    first = sfn.start_execution(stateMachineArn=machine, name="my-app-760", input=body)
    started_minutes_ago(first["executionArn"], 3)

    # when it is started again with the same name and input
    again = sfn.start_execution(stateMachineArn=machine, name="my-app-760", input=body)

    # then the call succeeds with that execution and its (earlier) start, and no second execution exists
    assert again["executionArn"] == first["executionArn"]
    assert again["startDate"] < datetime.now(UTC) - timedelta(minutes=2)
    assert len(sfn.list_executions(stateMachineArn=machine)["executions"]) == 1


@pytest.mark.parametrize("wait", [False, True])
def test_a_re_run_with_the_same_input_while_it_runs_says_it_is_already_running(
    machine, dynamodb_table, table, make_deployment, fast, monkeypatch, capsys, wait
):
    # given build 760 started by a first CI run 3 minutes ago, its input accepted (its deployment is open; with
    # --wait, it has been promoted since)
    monkeypatch.setattr(deploy, "VALIDATION_SECONDS", 0.05)
    assert start(machine, dynamodb_table.name) == 4
    assert "Started my-app build 760: 1 function(s)" in capsys.readouterr().err  # just started: not "already"
    started_minutes_ago(execution(machine, "my-app-760"), 3)
    deployment = make_deployment(execution_arn=execution(machine, "my-app-760"))
    table.open(deployment, datetime.now(UTC))
    if wait:
        table.record_outcome(deployment, {"status": "PROMOTED", "cause": "approved"}, datetime.now(UTC))

    # when the CI job is re-run with the same input (--output json for the object it prints)
    code = start(machine, dynamodb_table.name, "--output", "json", *(["--wait"] if wait else []))

    # then it does not claim to have started it: it names the running execution and its start, and goes on
    # as for its own (the state without --wait, the ending with it), with the usual exit code
    printed = capsys.readouterr()
    err = " ".join(printed.err.split())
    assert "Started my-app build 760" not in err
    assert "my-app build 760 is already running (started " in err and ", 3 min ago): " in err
    assert ("following it" in err) if wait else ("Accepted: my-app build 760 is" in err)
    shown = json.loads(printed.out)
    assert shown["already_running"] is True and shown["execution_arn"] == execution(machine, "my-app-760")
    assert (shown["status"], code) == (("PROMOTED", 0) if wait else ("ACCEPTED", 0))
    listed = boto3.client("stepfunctions", region_name=REGION).list_executions(stateMachineArn=machine)
    assert [e["name"] for e in listed["executions"]] == ["my-app-760"]


def test_a_rejected_build_is_retried_under_the_next_attempt_s_name(machine, dynamodb_table, fast, monkeypatch,
                                                                   capsys):  # fmt: skip
    # given build 760's first two attempts were rejected (no deployment item), and an unrelated execution
    # holds a name of the same shape (repository my-app-760's build 3)
    earlier(machine, "my-app-760")
    earlier(machine, "my-app-760-2")
    earlier(machine, "my-app-760-3", build_no=3, repository="my-app-760")
    monkeypatch.setattr(deploy, "VALIDATION_SECONDS", 0.05)

    # when `canary start` runs for build 760 again (a CI re-run keeps the build number)
    code = start(machine, dynamodb_table.name)

    # then it starts attempt 4 and says why (not validated within the bound: exit 4)
    printed = capsys.readouterr()
    assert code == 4
    assert printed.out.splitlines()[0] == execution(machine, "my-app-760-4")
    assert "(attempt 4: the earlier input was rejected)" in printed.err


def test_a_re_run_of_a_build_that_opened_a_deployment_reports_it_instead_of_starting_another(
    machine, dynamodb_table, table, make_deployment, capsys
):
    # given build 760's execution opened its deployment
    arn = earlier(machine, "my-app-760")
    deployment = make_deployment(execution_arn=arn)
    table.open(deployment, datetime.now(UTC))

    # when `canary start` runs for build 760 again (a CI re-run), while it waits, then once promoted
    waiting = start(machine, dynamodb_table.name)
    said_waiting = capsys.readouterr().err
    table.record_outcome(deployment, {"status": "PROMOTED"}, datetime.now(UTC))
    promoted = start(machine, dynamodb_table.name)

    # then nothing else is started: the re-run reports that deployment, and exits as it stands or ended
    assert waiting == 0 and "my-app build 760 is already running (started " in said_waiting
    assert promoted == 0
    assert "my-app build 760 was deployed already (started " in capsys.readouterr().err
    listed = boto3.client("stepfunctions", region_name=REGION).list_executions(stateMachineArn=machine)
    assert [e["name"] for e in listed["executions"]] == ["my-app-760"]


def test_a_build_whose_attempt_is_still_being_validated_is_not_started_again(machine, dynamodb_table, capsys):
    # given build 760's execution is running and has not opened a deployment yet
    sfn = boto3.client("stepfunctions", region_name=REGION)
    body = json.dumps({"repository": "my-app", "build_no": 760, "functions": ["a"]})
    sfn.start_execution(stateMachineArn=machine, name="my-app-760", input=body)

    # when `canary start` runs for build 760 with another input
    with pytest.raises(SystemExit) as exited:
        start(machine, dynamodb_table.name, "--weight", "0.2")

    # then it is refused: wait for that one
    assert exited.value.code == 5
    assert "whose input is not validated yet" in capsys.readouterr().err


def test_status_of_a_rejected_build_shows_its_latest_attempt(machine, dynamodb_table, capsys):
    # given build 760 rejected twice
    earlier(machine, "my-app-760")
    latest = earlier(machine, "my-app-760-2")

    # when its status is read
    code = main(["status", "my-app", "760", "--state-machine-arn", machine, "--table", dynamodb_table.name,
                 "--output", "json"])  # fmt: skip

    # then the latest attempt's execution is shown
    assert code == 0
    assert json.loads(capsys.readouterr().out)["execution_arn"] == latest


def test_a_lock_conflict_s_cause_names_the_cli_option():
    cause = 'wait for it to end, or start this deployment with "supersede": true to roll that one back first'
    assert deploy.cli_words(cause) == (
        "wait for it to end, or start this deployment with --supersede to roll that one back first"
    )
