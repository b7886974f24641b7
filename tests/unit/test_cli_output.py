"""What the `canary` commands print: whole values in CI logs, wrapped (never cut) values in a terminal."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from canary_testing import ACCOUNT_ID, REGION
from lambda_canary.cli import main
from lambda_canary.cli.context import Aws, CliError, console, printable
from lambda_canary.cli.deploy import follow

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


CONTROLS = "\x1b\x07\x9b\r\x00\x7f"


def test_printable_strips_c0_and_c1_controls_keeps_tabs_and_turns_line_breaks_into_spaces():
    assert printable("a\x1b[31mb\x07c\x9bd\x00e\x7ff\x85g") == "a[31mbcdef g"
    assert printable("one\ntwo\r\nthree\rfour\tfive") == "one two three four\tfive"
    assert printable("plain text, unicode é ✓ 日本") == "plain text, unicode é ✓ 日本"


def test_status_and_start_print_no_control_character_from_a_cause(aws, dynamodb_table, table, make_deployment, capsys):
    # given a deployment that ended with a cause (also in its trail) carrying escape sequences and a line break
    deployment = make_deployment()
    table.open(deployment, datetime.now(UTC))
    cause = "functions: '\x1b]8;;http://evil\x07x\x1b]8;;\x07' does not exist\x1b[2J\nPROMOTED by ana"
    table.record_outcome(deployment, {"status": "FAILED", "error": "Canary.Failed", "cause": cause}, datetime.now(UTC))
    args = ["--state-machine-arn", MACHINE, "--table", dynamodb_table.name]

    # when `canary status` prints its table, and `canary start --wait` of the same build follows it to its end
    assert main(["status", "my-app", "760", *args]) == 0
    status_out = capsys.readouterr().out
    followed = follow(Aws(state_machine_arn=MACHINE, table_name=dynamodb_table.name), "my-app", 760,
                      deployment.execution_arn, 5, console(stderr=True))  # fmt: skip
    follow_err = capsys.readouterr().err

    # then neither prints a control character, the cause's words are there, and no line is faked
    assert followed.exit_code == 5
    for printed in (status_out, follow_err):
        assert not any(c in printed for c in CONTROLS), repr(printed)
        assert "does not exist[2J PROMOTED by ana" in " ".join(printed.split())
    assert not any(line.startswith("PROMOTED") for line in follow_err.splitlines())


def test_an_error_message_keeps_its_own_lines_and_loses_the_control_characters_of_aws_text(capsys):
    # given an error whose message quotes AWS's text carrying an escape sequence, over two lines of its own
    error = CliError("AWS refused StartExecution: \x1b[2J\x1b]0;owned\x07bad input\n  second line")

    # when it is shown
    error.show()

    # then it has both its lines, and no control character
    err = capsys.readouterr().err
    assert err == "canary: AWS refused StartExecution: [2J]0;ownedbad input\n  second line\n"
