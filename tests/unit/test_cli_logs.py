"""`canary logs` on moto: the handlers' log lines about one deployment, from the stack's log groups."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import boto3
import pytest

from lambda_canary.cli import main

GROUP = "/aws/lambda/unit-validate-input"
STREAM = "2026/12/02/[$LATEST]abc"


@pytest.fixture
def machine(aws):
    definition = {"StartAt": "Wait", "States": {"Wait": {"Type": "Pass", "End": True}}}
    role = "arn:aws:iam::123456789012:role/canary"
    sfn = boto3.client("stepfunctions")
    return sfn.create_state_machine(name="canary", definition=json.dumps(definition), roleArn=role)["stateMachineArn"]


@pytest.fixture
def stack(aws, dynamodb_table, machine):
    """A deployed stack: its deployments table and state machine as outputs, one function's log group."""
    template = {
        "Resources": {"ValidateInputLogs": {"Type": "AWS::Logs::LogGroup", "Properties": {"LogGroupName": GROUP}}},
        "Outputs": {"DeploymentsTableName": {"Value": dynamodb_table.name}, "StateMachineArn": {"Value": machine}},
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


def put_lines(lines):
    logs = boto3.client("logs")
    logs.create_log_stream(logGroupName=GROUP, logStreamName=STREAM)
    logs.put_log_events(logGroupName=GROUP, logStreamName=STREAM, logEvents=lines)


def test_logs_as_text_show_time_with_seconds_level_function_and_message_with_its_fields(
    stack, table, make_deployment, capsys
):
    # given a Powertools line about my-app build 760 in Validate Input's log group
    now = datetime.now(UTC) - timedelta(minutes=1)
    table.open(make_deployment(), now)
    at = now.replace(microsecond=0) + timedelta(seconds=7)
    body = {"level": "INFO", "location": "x:1", "message": "deployment opened", "timestamp": "...",
            "service": "canary", "deployment": "my-app build 760", "functions": 2}  # fmt: skip
    put_lines([{"timestamp": int(at.timestamp() * 1000), "message": json.dumps(body)}])

    # when `canary logs my-app 760` prints a table
    assert main(["logs", "my-app", "760", "--stack", stack]) == 0

    # then the line reads: time with seconds, level, the function (its log group's logical id), message, fields
    out = capsys.readouterr().out
    assert at.strftime("%Y-%m-%d %H:%M:%S UTC") in out
    assert "INFO" in out and "ValidateInput" in out
    assert 'deployment opened (deployment="my-app build 760", functions=2)' in out
    assert "location" not in out and '"level"' not in out


def test_logs_of_a_build_that_does_not_exist_exit_1_as_status_does(stack, capsys):
    # when the logs of a build nobody deployed are asked for
    with pytest.raises(SystemExit) as exited:
        main(["logs", "nobody", "1", "--stack", stack])

    # then it says there is no such deployment, and exits 1
    assert exited.value.code == 1
    assert "no deployment of nobody build 1 in this stack" in capsys.readouterr().err


def test_logs_of_a_rejected_build_find_its_rejection(stack, machine, capsys):
    # given my-app build 760's input was rejected (no deployment item), its rejection logged naming the build
    sfn = boto3.client("stepfunctions")
    body = json.dumps({"repository": "my-app", "build_no": 760, "functions": ["x"]})
    arn = sfn.start_execution(stateMachineArn=machine, name="my-app-760", input=body)["executionArn"]
    sfn.stop_execution(executionArn=arn, error="Canary.InvalidInput", cause="functions: 'x' does not exist")
    rejected = {"level": "WARNING", "message": "input rejected", "deployment": "my-app build 760"}
    put_lines([{"timestamp": int(datetime.now(UTC).timestamp() * 1000), "message": json.dumps(rejected)}])

    # when `canary logs my-app 760` runs
    assert main(["logs", "my-app", "760", "--stack", stack, "--output", "json"]) == 0

    # then the rejection is found, whole
    (line,) = json.loads(capsys.readouterr().out)
    assert (line["level"], line["fields"]["message"]) == ("WARNING", "input rejected")


HOSTILE = "bad \x1b]0;owned\x07\x1b[2J\x1b[31mred\x9b1m\rfake\x00line\tend"  # OSC title, clear, colour, CSI, CR


def test_logs_as_text_strip_control_characters_a_line_carries_and_json_keeps_them(
    stack, table, make_deployment, capsys
):
    # given a log line about my-app build 760 whose message carries escape sequences and control characters
    # (text of an execution input, as a rejected input's problems are logged)
    now = datetime.now(UTC) - timedelta(minutes=1)
    table.open(make_deployment(), now)
    body = {"level": "WARNING", "message": HOSTILE, "deployment": "my-app build 760"}
    put_lines([{"timestamp": int(now.timestamp() * 1000) + 1000, "message": json.dumps(body)}])

    # when `canary logs` prints a table, and then JSON
    assert main(["logs", "my-app", "760", "--stack", stack]) == 0
    out = capsys.readouterr().out
    assert main(["logs", "my-app", "760", "--stack", stack, "--output", "json"]) == 0
    (line,) = json.loads(capsys.readouterr().out)

    # then the table has the message's text without one control character (the tab kept: rich shows it as
    # spaces), and the JSON keeps the line exactly as it was logged
    assert not any(c in out for c in "\x1b\x07\x9b\r\x00")
    assert "bad ]0;owned[2J[31mred1m fakeline end" in " ".join(out.split())
    assert line["fields"]["message"] == HOSTILE
