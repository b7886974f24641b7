"""`canary local` in its own process, driven by nothing but the aws CLI and HTTP, as a user would."""

from __future__ import annotations

import io
import json
import os
import signal
import socket
import subprocess
import sys
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qsl

import pytest
import requests

from lambda_canary.browser import decision_links, forms_in

ROOT = Path(__file__).resolve().parents[2]
CANARY = Path(sys.executable).with_name("canary")
AWS = Path(sys.executable).with_name("aws")
CI_INPUT = json.loads((ROOT / "events" / "start-execution.json").read_text())


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class LocalProcess:
    def __init__(self, *options: str) -> None:
        self.port, self.approval_port = _free_port(), _free_port()
        self.approval_url = f"http://127.0.0.1:{self.approval_port}"
        clean_env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_") and k != "MOTO_PORT"}
        self.process = subprocess.Popen(
            [str(CANARY), "local", "--port", str(self.port), "--approval-port", str(self.approval_port), *options],
            env=clean_env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.outputs = self._wait_for_outputs(timeout=60)
        self.cli_env = {
            **clean_env,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
        }

    def _wait_for_outputs(self, timeout: float) -> dict[str, str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"canary local exited early:\n{self.process.stdout.read()}")  # type: ignore[union-attr]
            try:
                return dict(requests.get(f"{self.approval_url}/_local/outputs", timeout=2).json())
            except requests.ConnectionError:
                time.sleep(0.2)
        raise TimeoutError("canary local did not serve /_local/outputs in time")

    def aws(self, *args: str) -> dict:
        completed = subprocess.run(
            [str(AWS), "--endpoint-url", self.outputs["AwsEndpointUrl"], "--output", "json", *args],
            env=self.cli_env,
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        return json.loads(completed.stdout) if completed.stdout.strip() else {}

    def slack(self) -> list[dict]:
        return requests.get(f"{self.approval_url}/_local/slack", timeout=10).json()

    def wait_for_execution(self, arn: str, timeout: float = 60) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            execution = self.aws("stepfunctions", "describe-execution", "--execution-arn", arn)
            if execution["status"] != "RUNNING":
                return execution
            time.sleep(0.3)
        raise TimeoutError(f"{arn} still running")

    def wait_for_slack(self, count: int, timeout: float = 30) -> list[dict]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if len(messages := self.slack()) >= count:
                return messages
            time.sleep(0.2)
        raise TimeoutError(f"fewer than {count} Slack messages")

    def stop(self) -> int:
        self.process.send_signal(signal.SIGINT)
        return self.process.wait(timeout=20)


@pytest.fixture(scope="module")
def local() -> Iterator[LocalProcess]:
    process = LocalProcess()
    yield process
    if process.process.poll() is None:
        process.process.kill()


def _zip(tmp_path: Path, build: int) -> Path:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("app.py", f"def handler(event, context):\n    return {{'build': {build}}}\n")
    path = tmp_path / f"build-{build}.zip"
    path.write_bytes(buffer.getvalue())
    return path


def _alias(local: LocalProcess, name: str) -> tuple[str, dict]:
    alias = local.aws("lambda", "get-alias", "--function-name", name, "--name", "live")
    return alias["FunctionVersion"], alias.get("RoutingConfig", {}).get("AdditionalVersionWeights", {})


def test_a_client_with_only_the_aws_cli_deploys_approves_rolls_back_and_is_refused(local, tmp_path):
    names = ["orders-api", "payments"]  # the functions events/start-execution.json names
    role = local.aws(
        "iam", "create-role", "--role-name", "app", "--assume-role-policy-document", '{"Version":"2012-10-17"}'
    )["Role"]["Arn"]
    for name in names:
        local.aws(
            "lambda", "create-function", "--function-name", name, "--runtime", "python3.12", "--role", role,
            "--handler", "app.handler", "--zip-file", f"fileb://{_zip(tmp_path, 759)}",
        )  # fmt: skip
        version = local.aws("lambda", "publish-version", "--function-name", name)["Version"]
        local.aws("lambda", "create-alias", "--function-name", name, "--name", "live", "--function-version", version)
        local.aws(
            "lambda", "update-function-code", "--function-name", name, "--zip-file", f"fileb://{_zip(tmp_path, 760)}"
        )

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
    assert requests.post(links["approve"].split("?")[0], data=form.fields, timeout=10).status_code == 200
    assert local.wait_for_execution(started["executionArn"])["status"] == "SUCCEEDED"
    assert {name: _alias(local, name) for name in names} == {name: ("2", {}) for name in names}

    # the next build, rolled back
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
    assert requests.post(url, data=dict(parse_qsl(query)), timeout=10).status_code == 200
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

    # the table holds the trail of every decision
    items = local.aws(
        "dynamodb", "query", "--table-name", local.outputs["DeploymentsTableName"],
        "--key-condition-expression", "repository = :r", "--expression-attribute-values", '{":r": {"S": "my-app"}}',
    )["Items"]  # fmt: skip
    assert [(i["build_no"]["N"], i["status"]["S"]) for i in items] == [("760", "PROMOTED"), ("761", "ROLLED_BACK")]

    # Ctrl-C stops it cleanly
    assert local.stop() == 0


def test_allowed_cidrs_keep_other_networks_out_of_the_approval_api():
    # given the stack deployed with AllowedCidrs that do not include this machine
    local = LocalProcess("--parameter", "AllowedCidrs=10.0.0.0/8,192.168.0.0/16")
    try:
        api = local.outputs["ApprovalApiUrl"]

        # when the approval API is called from 127.0.0.1
        pages = [requests.get(f"{api}/decide", timeout=10), requests.get(f"{api}/deployments", timeout=10)]

        # then API Gateway's resource policy answer comes back, and the function never runs
        for page in pages:
            assert page.status_code == 403
            assert "not authorized to perform: execute-api:Invoke" in page.json()["Message"]
        assert local.stop() == 0
    finally:
        if local.process.poll() is None:
            local.process.kill()


def test_bad_parameter_is_refused_with_the_fix():
    completed = subprocess.run(
        [str(CANARY), "local", "--parameter", "AllowedCidrs"], capture_output=True, text=True, timeout=60
    )
    assert completed.returncode == 2
    assert "write NAME=VALUE" in completed.stderr
