"""The exit codes: how `canary start --wait` turns a deployment's ending into one, and what the others exit with."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime

import boto3
import pytest
from rich.console import Console

from canary_core.outcome import FAILED_ERROR, ROLLBACK_FAILED_ERROR, ROLLED_BACK_ERROR
from lambda_canary.cli import main
from lambda_canary.cli.deploy import _ending

MACHINE = "arn:aws:states:us-east-1:123456789012:stateMachine:canary"


@pytest.mark.parametrize(
    ("status", "error", "decided_by", "code"),
    [
        ("PROMOTED", None, "arn:aws:sts::123456789012:assumed-role/dev/ana", 0),
        ("PROMOTED", None, "pre-approval", 0),
        ("ROLLED_BACK", ROLLED_BACK_ERROR, "arn:aws:sts::123456789012:assumed-role/dev/ana", 3),
        ("ROLLED_BACK", ROLLED_BACK_ERROR, "alarm orders-errors", 3),
        ("ROLLED_BACK", ROLLED_BACK_ERROR, "canary analysis", 3),
        ("ROLLED_BACK", ROLLED_BACK_ERROR, "timeout", 4),
        ("ROLLED_BACK", FAILED_ERROR, None, 5),
        ("FAILED", ROLLBACK_FAILED_ERROR, None, 5),
    ],
)
def test_each_ending_has_its_exit_code_and_prints_who_and_why(status, error, decided_by, code):
    # given a deployment's item at its end
    item = {
        "status": status,
        "decision": {"decided_by": decided_by} if decided_by else {},
        "outcome": {"status": status, "cause": "the cause [as recorded]", **({"error": error} if error else {})},
    }
    printed = io.StringIO()

    # when --wait reads it
    exit_code = _ending(item, Console(file=printed, width=200)).exit_code

    # then the exit code tells how it ended, and the status, who decided and the cause are printed as text
    assert exit_code == code
    assert printed.getvalue().startswith(status)
    assert "the cause [as recorded]" in printed.getvalue()


def test_help_names_every_exit_code_and_what_it_means(capsys):
    # when `canary --help` is read
    assert main(["--help"]) == 0

    # then each exit code 0..6 is named with its meaning, as the README says it
    text = " ".join(capsys.readouterr().out.split())
    for code, words in [
        (0, "done"),
        (1, "AWS could not be reached or refused a call, no such deployment"),
        (2, "bad command line"),
        (3, "rolled back by a decision"),
        (4, "timed out"),
        (5, "failed or input rejected"),
        (6, "nothing to act on, nothing changed"),
    ]:
        assert f"{code} {words}" in text


def test_approving_a_deployment_not_waiting_for_a_decision_exits_6_changing_nothing(
    aws, dynamodb_table, table, make_deployment, capsys
):
    # given a deployment still shifting (not waiting for a decision)
    table.open(make_deployment(), datetime.now(UTC))

    # when it is approved from a terminal
    with pytest.raises(SystemExit) as exited:
        main(["approve", "my-app", "760", "--state-machine-arn", MACHINE, "--table", dynamodb_table.name])

    # then it exits 6 (nothing to act on), not 1 (AWS or no such deployment), and the item is as it was
    assert exited.value.code == 6
    assert "is not waiting for a decision (status SHIFTING); nothing was changed" in capsys.readouterr().err
    assert "decision" not in table.get("my-app", 760)


def test_reverting_a_build_that_does_not_exist_exits_1_as_status_does(aws, dynamodb_table, capsys):
    # given a stack whose outputs name its tables, and no deployment of my-app build 999
    outputs = {
        "StateMachineArn": MACHINE,
        "DeploymentsTableName": dynamodb_table.name,
        "FunctionsTableName": "unit-functions",
        "LocksTableName": "unit-locks",
    }
    template = {
        "Resources": {"Topic": {"Type": "AWS::SNS::Topic"}},
        "Outputs": {key: {"Value": value} for key, value in outputs.items()},
    }
    boto3.client("cloudformation").create_stack(StackName="unit-stack", TemplateBody=json.dumps(template))

    # when `canary revert my-app 999` runs, and `canary status my-app 999`
    reverted = main(["revert", "my-app", "999", "--stack", "unit-stack"])
    revert_err = capsys.readouterr().err
    with pytest.raises(SystemExit) as status:
        main(["status", "my-app", "999", "--stack", "unit-stack"])

    # then both exit 1, saying there is no such deployment
    assert reverted == status.value.code == 1
    assert "my-app" in revert_err and "999" in revert_err


def test_a_refusal_with_output_json_prints_one_object_a_script_can_read(capsys):
    # when a command asks for JSON and is refused (a build number that is not one)
    with pytest.raises(SystemExit) as exited:
        main(["status", "my-app", "seven", "--stack", "lambda-canary", "--output", "json"])

    # then stdout holds one JSON object with the message and the exit code; stderr says it as text
    out, err = capsys.readouterr()
    refusal = json.loads(out)
    assert refusal["exit_code"] == exited.value.code == 2
    assert "'seven' is not a build number" in refusal["error"] and "'seven' is not a build number" in err


def test_a_refusal_without_output_json_prints_nothing_on_stdout(capsys):
    with pytest.raises(SystemExit):
        main(["status", "my-app", "seven", "--stack", "lambda-canary"])
    assert capsys.readouterr().out == ""
