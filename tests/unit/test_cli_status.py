"""`canary status` and `canary history` on moto, reading the deployments table named by --table."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import boto3
import click
import pytest

from lambda_canary.cli import deploy, main
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


def test_status_shows_the_weight_the_time_left_and_the_analysis_verdict(aws, dynamodb_table, table, make_deployment,
                                                                        capsys):  # fmt: skip
    # given a deployment at 10% waiting for a decision for another hour, judged healthy by the canary analysis
    now = datetime.now(UTC)
    deployment = make_deployment()
    table.open(deployment, now)
    table.await_decision(deployment, int(now.timestamp()) + 3600, now)
    analysis = {"verdict": "healthy", "summary": "1 of 1 functions healthy", "counts": {}, "functions": []}
    table.record_analysis("my-app", 760, analysis, now, changed=True)
    arguments = ["status", "my-app", "760", "--state-machine-arn", MACHINE, "--table", dynamodb_table.name]

    # when its status is read as JSON and as text
    assert main([*arguments, "--output", "json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert main(arguments) == 0
    text = " ".join(capsys.readouterr().out.split())

    # then both show the new version's weight, the time left before the deadline and the verdict with its summary
    assert shown["weight"] == 0.1
    assert shown["time_left"].startswith(("59 min", "1 h 0 min"))
    assert shown["analysis"] == {"verdict": "healthy", "summary": "1 of 1 functions healthy"}
    assert "weight 10% of the alias's traffic on the new version" in text
    assert "time_left 59 min" in text or "time_left 1 h 0 min" in text
    assert "analysis healthy: 1 of 1 functions healthy" in text


def test_start_wait_prints_the_weight_as_it_changes(aws, dynamodb_table, table, make_deployment, monkeypatch, capsys):
    # given a running execution whose deployment opens at 10%, moves to 25%, then is promoted
    sfn = boto3.client("stepfunctions")
    definition = json.dumps({"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}})
    machine = sfn.create_state_machine(name="m", definition=definition, roleArn="arn:aws:iam::123456789012:role/r")
    arn = sfn.start_execution(stateMachineArn=machine["stateMachineArn"], name="my-app-760")["executionArn"]
    table.open(make_deployment(execution_arn=arn), datetime.now(UTC))
    changes = [
        {"weight": Decimal("0.25")},
        {"status": "PROMOTED", "outcome": {"status": "PROMOTED"}},
    ]

    def next_change(_seconds):
        change = changes.pop(0)
        names = {f"#{k}": k for k in change}
        dynamodb_table.update_item(
            Key={"repository": "my-app", "build_no": 760},
            UpdateExpression="SET " + ", ".join(f"#{k} = :{k}" for k in change),
            ExpressionAttributeNames=names,
            ExpressionAttributeValues={f":{k}": v for k, v in change.items()},
        )

    monkeypatch.setattr(deploy.time, "sleep", next_change)

    # when `canary start --wait` follows it
    followed = deploy.follow(deploy.Aws(state_machine_arn=machine["stateMachineArn"], table_name=dynamodb_table.name),
                             "my-app", 760, arn, 60, deploy.console(stderr=True))  # fmt: skip

    # then each change of weight is printed as it happens, and it ends promoted
    err = capsys.readouterr().err
    assert followed.exit_code == 0
    assert "new version's weight: 0% -> 10%" in err
    assert "new version's weight: 10% -> 25%" in err
    assert "new version's weight: 25% -> 100%" in err
