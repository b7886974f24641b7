"""What the `canary` commands print: whole values in CI logs, wrapped (never cut) values in a terminal."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from canary_testing import ACCOUNT_ID, REGION
from lambda_canary.cli import main

MACHINE = f"arn:aws:states:{REGION}:{ACCOUNT_ID}:stateMachine:lambda-canary-local-DeploymentStateMachine-abc"
LONG_ARN = (
    f"arn:aws:states:{REGION}:{ACCOUNT_ID}:execution:lambda-canary-local-DeploymentStateMachine-abc:"
    "my-organisation-my-rather-long-application-name-760"
)
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def test_status_outside_a_terminal_prints_every_value_whole(aws, dynamodb_table, table, make_deployment, capsys):
    # given a deployment whose execution ARN is far longer than 80 columns
    table.open(make_deployment(execution_arn=LONG_ARN), datetime.now(UTC))

    # when `canary status` prints a table into a pipe (a CI log), not a terminal
    code = main(["status", "my-app", "760", "--state-machine-arn", MACHINE, "--table", dynamodb_table.name])

    # then the ARN is printed whole, on one line
    assert code == 0
    assert LONG_ARN in capsys.readouterr().out


def test_history_outside_a_terminal_prints_whole_headers(aws, dynamodb_table, table, make_deployment, capsys):
    # given a deployment
    table.open(make_deployment(), datetime.now(UTC))

    # when `canary history` prints its table into a pipe
    code = main(["history", "--state-machine-arn", MACHINE, "--table", dynamodb_table.name])

    # then no header or value is cut
    out = capsys.readouterr().out
    assert code == 0
    assert "repository" in out and "build_no" in out and "started_at" in out and "…" not in out


def test_status_in_a_narrow_terminal_wraps_the_arn_instead_of_cutting_it(
    aws, dynamodb_table, table, make_deployment, capsys, monkeypatch
):
    # given a deployment with a long execution ARN, and a terminal 60 columns wide
    table.open(make_deployment(execution_arn=LONG_ARN), datetime.now(UTC))
    monkeypatch.setenv("FORCE_COLOR", "1")
    monkeypatch.setenv("COLUMNS", "60")

    # when `canary status` prints its table
    code = main(["status", "my-app", "760", "--state-machine-arn", MACHINE, "--table", dynamodb_table.name])

    # then the ARN is wrapped over several lines, every character of it kept
    out = ANSI.sub("", capsys.readouterr().out)
    assert code == 0
    assert max(len(line) for line in out.splitlines()) <= 60
    assert "…" not in out
    assert LONG_ARN in re.sub(r"\s+", "", out)
