"""`canary status` and `canary history` on moto, reading the deployments table named by --table."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import click
import pytest

from lambda_canary.cli import main
from lambda_canary.cli.deploy import parse_since

MACHINE = "arn:aws:states:us-east-1:123456789012:stateMachine:canary"


def test_status_in_ci_without_arguments_shows_the_ci_s_own_build(aws, dynamodb_table, table, make_deployment, capsys,
                                                                  monkeypatch):  # fmt: skip
    # given my-app build 760 opened, and a GitHub Actions job of that build
    table.open(make_deployment(), datetime.now(UTC))
    for name, value in {"GITHUB_ACTIONS": "true", "GITHUB_REPOSITORY": "my-app", "GITHUB_RUN_NUMBER": "760"}.items():
        monkeypatch.setenv(name, value)

    # when `canary status` runs with no REPOSITORY BUILD
    code = main(["status", "--state-machine-arn", MACHINE, "--table", dynamodb_table.name, "--output", "json"])

    # then it shows that build
    assert code == 0
    shown = json.loads(capsys.readouterr().out)
    assert (shown["repository"], shown["build_no"], shown["status"]) == ("my-app", 760, "SHIFTING")


def test_history_since_leaves_out_older_deployments(aws, dynamodb_table, table, make_deployment, capsys):
    # given one deployment started 3 days ago and one an hour ago
    now = datetime.now(UTC)
    table.open(make_deployment(build_no=759), now - timedelta(days=3))
    table.open(make_deployment(build_no=760), now - timedelta(hours=1))

    # when the history of the last day is read
    code = main(["history", "--since", "1d", "--state-machine-arn", MACHINE, "--table", dynamodb_table.name,
                 "--output", "json"])  # fmt: skip

    # then only the recent one is listed
    assert code == 0
    assert [row["build_no"] for row in json.loads(capsys.readouterr().out)] == [760]


@pytest.mark.parametrize(("value", "expected"), [("30m", timedelta(minutes=30)), ("7d", timedelta(days=7))])
def test_a_window_is_read_in_minutes_hours_days_or_weeks(value, expected):
    assert parse_since(value) == expected


@pytest.mark.parametrize("value", ["7", "1y", "-1h", "soon"])
def test_a_window_that_is_not_one_is_refused_with_examples(value):
    with pytest.raises(click.BadParameter, match=r"pass e\.g\. 30m, 12h, 7d or 2w"):
        parse_since(value)
