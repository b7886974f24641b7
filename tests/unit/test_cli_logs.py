"""`canary logs` on moto: the handlers' log lines about one deployment, from the stack's log groups."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import boto3
import pytest

from lambda_canary.cli import main

GROUP = "/aws/lambda/unit-validate-input"


@pytest.fixture
def stack(aws, dynamodb_table):
    """A deployed stack: its deployments table as an output, and one function's log group as a resource."""
    template = {
        "Resources": {"ValidateInputLogs": {"Type": "AWS::Logs::LogGroup", "Properties": {"LogGroupName": GROUP}}},
        "Outputs": {"DeploymentsTableName": {"Value": dynamodb_table.name}},
    }
    boto3.client("cloudformation").create_stack(StackName="lambda-canary-unit", TemplateBody=json.dumps(template))
    return "lambda-canary-unit"


def test_logs_prints_the_lines_that_name_the_deployment_and_no_other(stack, table, make_deployment, capsys):
    # given my-app build 760 opened a minute ago (CloudWatch Logs takes no lines older than 14 days), and log
    # lines about it and about another build in the stack's log group
    now = datetime.now(UTC) - timedelta(minutes=1)
    table.open(make_deployment(), now)
    logs = boto3.client("logs")
    logs.create_log_stream(logGroupName=GROUP, logStreamName="2026/12/02/[$LATEST]abc")
    at = int(now.timestamp() * 1000)
    lines = [
        {"timestamp": at + 1000, "message": '{"message": "deployment opened", "deployment": "my-app build 760"}'},
        {"timestamp": at + 2000, "message": '{"message": "deployment opened", "deployment": "my-app build 761"}'},
        {"timestamp": at + 3000, "message": '{"message": "shifted", "execution": "my-app-760"}'},
        {"timestamp": at + 4000, "message": '{"message": "shifted", "execution": "my-app-7601"}'},
    ]
    logs.put_log_events(logGroupName=GROUP, logStreamName="2026/12/02/[$LATEST]abc", logEvents=lines)

    # when `canary logs my-app 760` runs with --output json
    assert main(["logs", "my-app", "760", "--stack", stack, "--output", "json"]) == 0

    # then the two lines about build 760 are printed, oldest first, with their log group
    printed = json.loads(capsys.readouterr().out)
    assert [line["message"] for line in printed] == [lines[0]["message"], lines[2]["message"]]
    assert {line["group"] for line in printed} == {GROUP}
