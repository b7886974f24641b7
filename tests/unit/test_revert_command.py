"""lambda_canary.revert: the command's arguments, checked before anything is read or moved."""

from __future__ import annotations

import io
from datetime import timedelta
from typing import Any

import boto3
import pytest

from lambda_canary.revert import EXIT_BAD_ARGS, BadArguments, cli_revert, parse_window

OUTPUTS = {
    "StateMachineArn": "arn:aws:states:us-east-1:123456789012:stateMachine:canary",
    "DeploymentsTableName": "deployments",
    "FunctionsTableName": "functions",
    "LocksTableName": "locks",
}


class NoAws:
    """Clients that must not be made: bad arguments are refused before any AWS call."""

    def client(self, service_name: str) -> Any:
        raise AssertionError(f"{service_name} client made")

    def resource(self, service_name: str) -> Any:
        raise AssertionError(f"{service_name} resource made")


@pytest.mark.parametrize(
    ("text", "window"),
    [
        ("1h", timedelta(hours=1)),
        ("30m", timedelta(minutes=30)),
        ("1h30m", timedelta(minutes=90)),
        ("2d", timedelta(days=2)),
    ],
)
def test_a_window_reads_as_people_write_it(text, window):
    assert parse_window(text) == window


@pytest.mark.parametrize("text", ["", "1", "h", "-1h", "1 hour", "0m", "31d", "1h;rm"])
def test_a_window_that_is_not_one_is_refused_with_an_example(text):
    with pytest.raises(BadArguments, match=r"--since: .* (is not a duration|is outside)"):
        parse_window(text)


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        ({}, "pass REPOSITORY BUILD"),
        ({"repository": "my-app"}, "pass REPOSITORY BUILD"),
        ({"repository": "my-app", "build": "0"}, "BUILD: '0' is not a build number"),
        ({"repository": "my-app", "build": 760, "since": "1h"}, "not both"),
        ({"repositories": ["my-app"]}, "--repository narrows --since"),
        ({"since": "1h", "output": "yaml"}, "--output: 'yaml' is not table or json"),
    ],
)
def test_bad_arguments_exit_2_naming_the_fix_before_any_aws_call(arguments, expected):
    err = io.StringIO()
    assert cli_revert(NoAws(), OUTPUTS, out=io.StringIO(), err=err, **arguments) == EXIT_BAD_ARGS
    assert expected in err.getvalue()


def test_outputs_of_another_stack_are_refused_naming_what_is_missing():
    err = io.StringIO()
    outputs = {"StateMachineArn": OUTPUTS["StateMachineArn"]}
    assert cli_revert(NoAws(), outputs, "my-app", 760, out=io.StringIO(), err=err) == EXIT_BAD_ARGS
    assert "lack DeploymentsTableName, FunctionsTableName, LocksTableName" in err.getvalue()


def test_an_aws_refusal_exits_1_saying_so_without_a_traceback(aws):
    # given a stack whose tables do not exist (or may not be read)
    err = io.StringIO()

    # when a revert is asked
    code = cli_revert(boto3, OUTPUTS, "my-app", 760, out=io.StringIO(), err=err)

    # then it exits 1, naming AWS's error, and says Slack's settings could not be read either
    assert code == 1
    assert "ResourceNotFoundException" in err.getvalue()
    assert "the stack's Slack settings could not be read" in err.getvalue()
