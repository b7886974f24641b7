"""`canary local` in its own process, driven by nothing but the aws CLI and HTTP, as a user would."""

from __future__ import annotations

import io
import json
import subprocess
import zipfile
from pathlib import Path
from urllib.parse import parse_qsl

import pytest
import requests

from canary_testing import CANARY
from canary_testing.browser import FORM_HEADERS, forms_in
from lambda_canary.local.gateway import decision_links

ROOT = Path(__file__).resolve().parents[2]
CI_INPUT = json.loads((ROOT / "events" / "start-execution.json").read_text())


@pytest.fixture(scope="module")
def local(start_local):
    """`canary local` with the README deploy example's prefix: the stack may deploy my-app-* functions only."""
    return start_local("--parameter", "ManagedFunctionPrefix=my-app-")


def _zip(tmp_path: Path, build: int) -> Path:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("app.py", f"def handler(event, context):\n    return {{'build': {build}}}\n")
    path = tmp_path / f"build-{build}.zip"
    path.write_bytes(buffer.getvalue())
    return path


def _alias(local, name: str) -> tuple[str, dict]:
    alias = local.aws("lambda", "get-alias", "--function-name", name, "--name", "live")
    return alias["FunctionVersion"], alias.get("RoutingConfig", {}).get("AdditionalVersionWeights", {})


def test_a_client_with_only_the_aws_cli_deploys_approves_rolls_back_and_is_refused(local, tmp_path):
    names = ["my-app-orders", "my-app-payments"]  # the functions events/start-execution.json names
    role = local.aws(
        "iam", "create-role", "--role-name", "app", "--assume-role-policy-document", '{"Version":"2012-10-17"}'
    )["Role"]["Arn"]
    for name in names:
        local.aws(
            "lambda", "create-function", "--function-name", name, "--runtime", "python3.12", "--role", role,
            "--handler", "app.handler", "--zip-file", f"fileb://{_zip(tmp_path, 759)}",
        )  # fmt: skip
        local.aws("lambda", "wait", "function-active-v2", "--function-name", name)
        version = local.aws("lambda", "publish-version", "--function-name", name)["Version"]
        local.aws("lambda", "create-alias", "--function-name", name, "--name", "live", "--function-version", version)
        # the README's CI steps: upload, then wait for the update to finish
        local.aws(
            "lambda", "update-function-code", "--function-name", name, "--zip-file", f"fileb://{_zip(tmp_path, 760)}"
        )
        local.aws("lambda", "wait", "function-updated", "--function-name", name)

    # CI starts one execution with the documented input and exits
    started = local.aws(
        "stepfunctions", "start-execution", "--state-machine-arn", local.outputs["StateMachineArn"],
        "--name", "my-app-760", "--input", json.dumps(CI_INPUT),
    )  # fmt: skip
    links = decision_links(local.wait_for_slack(1)[0])

    # GET the approve link: a confirmation page, aliases unchanged
    page = requests.get(links["approve"], timeout=10)
    assert page.status_code == 200
    assert {name: _alias(local, name) for name in names} == {name: ("1", {"2": 0.1}) for name in names}

    # submit the page's form: every alias promoted
    form = forms_in(page.text)[0]
    assert (
        requests.post(links["approve"].split("?")[0], data=form.fields, headers=FORM_HEADERS, timeout=10).status_code
        == 200
    )
    assert local.wait_for_execution(started["executionArn"])["status"] == "SUCCEEDED"
    assert {name: _alias(local, name) for name in names} == {name: ("2", {}) for name in names}
    out = tmp_path / "out.json"
    invoked = local.aws("lambda", "invoke", "--function-name", "my-app-orders", "--qualifier", "live", str(out))
    assert invoked["ExecutedVersion"] == "2" and json.loads(out.read_text()) == {"build": 760}

    # the next build, rolled back; this CI does not wait for its uploads: Publish Versions waits for them
    for name in names:
        local.aws(
            "lambda", "update-function-code", "--function-name", name, "--zip-file", f"fileb://{_zip(tmp_path, 761)}"
        )
    rollback_input = {**CI_INPUT, "build_no": 761}
    started = local.aws(
        "stepfunctions", "start-execution", "--state-machine-arn", local.outputs["StateMachineArn"],
        "--name", "my-app-761", "--input", json.dumps(rollback_input),
    )  # fmt: skip
    links = decision_links(local.wait_for_slack(3)[2])
    url, _, query = links["rollback"].partition("?")
    assert requests.post(url, data=dict(parse_qsl(query)), headers=FORM_HEADERS, timeout=10).status_code == 200
    ended = local.wait_for_execution(started["executionArn"])
    assert ended["status"] == "FAILED" and ended["error"] == "Canary.RolledBack"
    assert {name: _alias(local, name) for name in names} == {name: ("2", {}) for name in names}

    # bad input: the execution fails at once and no alias changes
    bad_input = {**CI_INPUT, "build_no": 762, "weight": 1.5}
    started = local.aws(
        "stepfunctions", "start-execution", "--state-machine-arn", local.outputs["StateMachineArn"],
        "--name", "my-app-762", "--input", json.dumps(bad_input),
    )  # fmt: skip
    ended = local.wait_for_execution(started["executionArn"])
    assert ended["status"] == "FAILED" and ended["error"] == "Canary.InvalidInput"
    assert "weight: 1.5 is outside 0..1" in ended["cause"]
    assert {name: _alias(local, name) for name in names} == {name: ("2", {}) for name in names}

    # a function outside the stack's ManagedFunctionPrefix: refused, naming the parameter; nothing moves
    outside_input = {**CI_INPUT, "build_no": 763, "functions": [*CI_INPUT["functions"], "orders-api"]}
    started = local.aws(
        "stepfunctions", "start-execution", "--state-machine-arn", local.outputs["StateMachineArn"],
        "--name", "my-app-763", "--input", json.dumps(outside_input),
    )  # fmt: skip
    ended = local.wait_for_execution(started["executionArn"])
    assert ended["status"] == "FAILED" and ended["error"] == "Canary.InvalidInput"
    assert "'orders-api' is outside this stack's ManagedFunctionPrefix ('my-app-')" in ended["cause"]
    # the stack's policy (the defaults: a production stack's): whoever starts an execution cannot skip the
    # approval (each way is tested on its own in tests/unit/test_core_validation.py); the input is refused
    # naming each parameter that forbids it, and nothing moves
    for name in names:
        local.aws(
            "lambda", "update-function-code", "--function-name", name, "--zip-file", f"fileb://{_zip(tmp_path, 764)}"
        )
    skip = {"pre_approve": True, "weight": 1, "approval_timeout_seconds": 1, "on_timeout": "promote"}
    started = local.aws(
        "stepfunctions", "start-execution", "--state-machine-arn", local.outputs["StateMachineArn"],
        "--name", "my-app-764", "--input", json.dumps({**CI_INPUT, "build_no": 764, **skip}),
    )  # fmt: skip
    ended = local.wait_for_execution(started["executionArn"])
    assert (ended["status"], ended["error"]) == ("FAILED", "Canary.InvalidInput")
    assert all(p in ended["cause"] for p in ("AllowPreApprove", "MaxNewVersionWeight", "AllowOnTimeoutPromote"))
    assert {name: _alias(local, name) for name in names} == {name: ("2", {}) for name in names}

    # the table holds the trail of every decision
    items = local.aws(
        "dynamodb", "query", "--table-name", local.outputs["DeploymentsTableName"],
        "--key-condition-expression", "repository = :r", "--expression-attribute-values", '{":r": {"S": "my-app"}}',
    )["Items"]  # fmt: skip
    assert [(i["build_no"]["N"], i["status"]["S"]) for i in items] == [("760", "PROMOTED"), ("761", "ROLLED_BACK")]

    # the functions' log lines are in CloudWatch Logs, as on AWS: Lambda's own lines in an app function's
    # group, and `canary logs` reads the stack's log groups for the lines about one deployment
    orders = local.aws("logs", "filter-log-events", "--log-group-name", "/aws/lambda/my-app-orders")["events"]
    assert any(e["message"].startswith("REPORT RequestId: ") for e in orders)
    logs = subprocess.run(
        [str(CANARY), "logs", "my-app", "760", "--output", "json",
         "--stack", "lambda-canary-local", "--endpoint-url", local.outputs["AwsEndpointUrl"]],
        env=local.cli_env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert logs.returncode == 0, logs.stderr
    lines = json.loads(logs.stdout)
    messages = [json.loads(line["message"])["message"] for line in lines]  # Powertools logs JSON lines
    assert messages[0] == "deployment opened" and "deployment ended" in messages
    assert all("my-app build 760" in line["message"] or "my-app-760" in line["message"] for line in lines)
    assert {line["group"] for line in lines} >= {"lambda-canary-local-ValidateInputLogs"}

    # Ctrl-C stops it cleanly
    assert local.stop() == 0


def test_allowed_cidrs_keep_other_networks_out_of_the_approval_api(start_local):
    # given the stack deployed with AllowedCidrs that do not include this machine
    local = start_local("--parameter", "AllowedCidrs=10.0.0.0/8,192.168.0.0/16")
    api = local.outputs["ApprovalApiUrl"]

    # when the approval API is called from 127.0.0.1
    pages = [requests.get(f"{api}/decide", timeout=10), requests.get(f"{api}/deployments", timeout=10)]

    # then API Gateway's resource policy answer comes back, and the function never runs
    for page in pages:
        assert page.status_code == 403
        assert "not authorized to perform: execute-api:Invoke" in page.json()["Message"]
    assert local.stop() == 0


def test_bad_parameter_is_refused_with_the_fix():
    completed = subprocess.run(
        [str(CANARY), "local", "--parameter", "AllowedCidrs"], capture_output=True, text=True, timeout=60
    )
    assert completed.returncode == 2
    assert "write NAME=VALUE" in completed.stderr


def test_canary_local_refuses_what_exceeds_awss_size_limits(start_local, tmp_path):
    # given a function on a `canary local` of its own (the module's is stopped by the test above), and a
    # state machine failing with a 40,000-character cause
    local = start_local()
    role = local.aws("iam", "create-role", "--role-name", "limits", "--assume-role-policy-document", "{}")
    arn = role["Role"]["Arn"]
    local.aws(
        "lambda", "create-function", "--function-name", "my-app-limits", "--runtime", "python3.12",
        "--role", arn, "--handler", "app.handler", "--zip-file", f"fileb://{_zip(tmp_path, 1)}",
    )  # fmt: skip
    local.aws("lambda", "wait", "function-active-v2", "--function-name", "my-app-limits")
    fails = {"StartAt": "Fail", "States": {"Fail": {"Type": "Fail", "Error": "Big", "CausePath": "$.cause"}}}
    machine = local.aws(
        "stepfunctions", "create-state-machine", "--name", "limits", "--role-arn", arn,
        "--definition", json.dumps(fails),
    )  # fmt: skip

    # when the function is invoked asynchronously with 1.1 MB, and the state machine runs
    lam = local.client("lambda")
    with pytest.raises(lam.exceptions.RequestTooLargeException) as refused:
        lam.invoke(FunctionName="my-app-limits", InvocationType="Event", Payload=json.dumps({"x": "y" * 1_100_000}))
    started = local.aws(
        "stepfunctions", "start-execution", "--state-machine-arn", machine["stateMachineArn"], "--name", "big",
        "--input", json.dumps({"cause": "c" * 40_000}),
    )  # fmt: skip
    ended = local.wait_for_execution(started["executionArn"])

    # then the invocation is refused as AWS refuses it (1 MB asynchronous), and the cause is kept to 32,768
    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 413
    assert (ended["status"], ended["error"], len(ended["cause"])) == ("FAILED", "Big", 32_768)


def test_invocations_show_in_cloudwatch_and_alarms_are_set_with_the_aws_cli(start_local, tmp_path):
    # given `canary local` with a function whose alias live is on version 1
    local = start_local()
    role = local.aws(
        "iam", "create-role", "--role-name", "metrics", "--assume-role-policy-document", '{"Version":"2012-10-17"}'
    )["Role"]["Arn"]
    local.aws(
        "lambda", "create-function", "--function-name", "my-app-metrics", "--runtime", "python3.12", "--role", role,
        "--handler", "app.handler", "--zip-file", f"fileb://{_zip(tmp_path, 1)}",
    )  # fmt: skip
    local.aws("lambda", "wait", "function-active-v2", "--function-name", "my-app-metrics")
    local.aws("lambda", "publish-version", "--function-name", "my-app-metrics")
    local.aws(
        "lambda", "create-alias", "--function-name", "my-app-metrics", "--name", "live", "--function-version", "1"
    )

    # when the alias is invoked three times, then Lambda's metrics are read with get-metric-data
    for _ in range(3):
        local.aws("lambda", "invoke", "--function-name", "my-app-metrics:live", str(tmp_path / "out.json"))
    dimensions = [
        {"Name": "FunctionName", "Value": "my-app-metrics"},
        {"Name": "Resource", "Value": "my-app-metrics:live"},
        {"Name": "ExecutedVersion", "Value": "1"},
    ]
    queries = [
        {
            "Id": metric.lower(),
            "MetricStat": {
                "Metric": {"Namespace": "AWS/Lambda", "MetricName": metric, "Dimensions": dimensions},
                "Period": 60,
                "Stat": stat,
            },
        }
        for metric, stat in (("Invocations", "Sum"), ("Errors", "Sum"), ("Duration", "p99"))
    ]
    read = local.aws(
        "cloudwatch", "get-metric-data", "--metric-data-queries", json.dumps(queries),
        "--start-time", "2020-01-01T00:00:00Z", "--end-time", "2100-01-01T00:00:00Z",
    )  # fmt: skip
    sums = {result["Id"]: sum(result["Values"]) for result in read["MetricDataResults"]}

    # then the three invocations ran version 1 without error, and their p99 duration is known
    assert (sums["invocations"], sums["errors"]) == (3, 0)
    assert sums["duration"] > 0

    # when an alarm is created, then set to ALARM with the aws CLI
    local.aws(
        "cloudwatch", "put-metric-alarm", "--alarm-name", "my-app-metrics-errors", "--namespace", "AWS/Lambda",
        "--metric-name", "Errors", "--dimensions", "Name=FunctionName,Value=my-app-metrics", "--statistic", "Sum",
        "--period", "60", "--evaluation-periods", "1", "--threshold", "1",
        "--comparison-operator", "GreaterThanOrEqualToThreshold",
    )  # fmt: skip
    before = local.aws("cloudwatch", "describe-alarms", "--alarm-names", "my-app-metrics-errors")["MetricAlarms"]
    local.aws(
        "cloudwatch", "set-alarm-state", "--alarm-name", "my-app-metrics-errors", "--state-value", "ALARM",
        "--state-reason", "set by a test",
    )  # fmt: skip
    after = local.aws("cloudwatch", "describe-alarms", "--alarm-names", "my-app-metrics-errors")["MetricAlarms"]

    # then describe-alarms reports the state it was set to
    assert [alarm["StateValue"] for alarm in before] != ["ALARM"]
    assert [(alarm["AlarmName"], alarm["StateValue"], alarm["StateReason"]) for alarm in after] == [
        ("my-app-metrics-errors", "ALARM", "set by a test")
    ]
