"""What the integration and browser tests share: the local runtime (moto in this process, the stack from
template.yaml), fleets of functions with the invariant check after each test, and `canary local` processes.

Each test makes its own functions and repository with unique names, so tests never see each other's state.
The unit tests (tests/unit) use none of it: they run on moto's in-process mock with sockets disabled.
"""

from __future__ import annotations

import json
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import boto3
import pytest
import requests
from boto3.dynamodb.conditions import Key

from canary_core.trail import DeploymentsTable
from canary_testing import AWS_CLI, CANARY, environment_without_aws, free_port
from lambda_canary.demo import alias_state, create_functions_with_alias, ship_codes, wait_for_execution
from lambda_canary.local import faults, iam
from lambda_canary.local.gateway import decision_links
from lambda_canary.local.runtime import LocalRuntime

EXECUTION_TIMEOUT = 60.0
UPDATE_SECONDS = 0.5
TEST_STACK_POLICY = {
    "AllowPreApprove": "true",
    "AllowOnTimeoutPromote": "true",
    "MinPromoteTimeoutSeconds": "1",
    "MaxNewVersionWeight": "1",
    # the laxest analysis: each test asks for the analysis it needs (an input may only be stricter)
    "AnalysisMode": "off",
    "AnalysisMinInvocations": "20",
    # durations of a few milliseconds on a loaded machine say nothing of a build: the tests judge errors
    "AnalysisMaxP99Ratio": "100",
}
SWEEP_SECONDS = 2.0  # the template's sweep schedule, run this often by the tests' runtime


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/integration" in str(item.path):
            item.add_marker(pytest.mark.integration)
    # The slowest tests start first: with -n, the other workers run everything else while they run
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


@pytest.fixture(scope="session")
def runtime() -> Iterator[LocalRuntime]:
    # Creates and updates take half a second, as they take seconds on AWS: the workflow must wait for them.
    # A stack whose policy lets the tests ask for pre-approval and short promote-on-timeout deadlines (a dev
    # stack's); the default policy, a production stack's, is what test_aws_cli's `canary local` runs.
    local = LocalRuntime(
        port=free_port(),
        approval_port=free_port(),
        log_level="WARNING",
        function_update_seconds=UPDATE_SECONDS,
        parameter_overrides=TEST_STACK_POLICY,
        sweep_seconds=SWEEP_SECONDS,
    ).start()
    yield local
    local.stop()


@pytest.fixture(autouse=True)
def _no_leftover_faults() -> Iterator[None]:
    yield
    faults.clear()


@dataclass
class Fleet:
    """A service's functions, each with alias `live` on version 1 and build 2's code uploaded by CI."""

    runtime: LocalRuntime
    names: list[str]
    repository: str = field(default_factory=lambda: f"repo-{uuid.uuid4().hex[:8]}")
    build_no: int = 2

    def __post_init__(self) -> None:
        self.lam = boto3.client("lambda")
        self.sfn = boto3.client("stepfunctions")
        self.table = DeploymentsTable(boto3.resource("dynamodb").Table(self.runtime.outputs["DeploymentsTableName"]))

    def aliases(self) -> dict[str, tuple[str, dict[str, float]]]:
        """{function: (main version, additional version weights)} read back with boto3."""
        return {name: alias_state(self.lam, name) for name in self.names}

    def request(self, **overrides: Any) -> dict[str, Any]:
        return {
            "repository": self.repository,
            "build_no": self.build_no,
            "functions": list(self.names),
            "build_url": f"https://ci.example.com/{self.repository}/{self.build_no}",
            **overrides,
        }

    def start(self, request: dict[str, Any] | None = None, **overrides: Any) -> str:
        body = request if request is not None else self.request(**overrides)
        name = f"{self.repository}-{self.build_no}-{uuid.uuid4().hex[:6]}"
        return str(
            self.sfn.start_execution(
                stateMachineArn=self.runtime.outputs["StateMachineArn"], name=name, input=json.dumps(body)
            )["executionArn"]
        )

    def wait(self, execution_arn: str) -> dict[str, Any]:
        return wait_for_execution(self.sfn, execution_arn, timeout=EXECUTION_TIMEOUT)

    def messages(self) -> list[dict[str, Any]]:
        """Slack payloads about this fleet's deployment, oldest first, read from the sink over HTTP."""
        everything = requests.get(f"{self.runtime.approval_url}/_local/slack", timeout=10).json()
        title = f"{self.repository} build {self.build_no}"
        return [m for m in everything if title in m["text"]]

    def wait_for_message(self, count: int = 1, timeout: float = 30.0) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            messages = self.messages()
            if len(messages) >= count:
                return messages
            time.sleep(0.1)
        raise TimeoutError(f"fewer than {count} Slack messages for {self.repository} after {timeout} s")

    def wait_for_text(self, prefix: str, timeout: float = 30.0) -> dict[str, Any]:
        """The first Slack message about this deployment whose text starts with prefix."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = [m for m in self.messages() if m["text"].startswith(prefix)]
            if found:
                return found[0]
            time.sleep(0.1)
        raise TimeoutError(f"no Slack message starting {prefix!r} for {self.repository} after {timeout} s")

    def links(self) -> dict[str, str]:
        return decision_links(self.wait_for_message(1)[0])

    def item(self) -> dict[str, Any] | None:
        return self.table.get(self.repository, self.build_no)

    def assert_no_weights_left(self) -> None:
        """The invariant after every ending: no alias still splits traffic."""
        assert {name: weights for name, (_, weights) in self.aliases().items() if weights} == {}


ENDINGS = {
    "PROMOTED": {"SUCCEEDED"},
    "REVERTED": {"SUCCEEDED"},
    "ROLLED_BACK": {"FAILED", "ABORTED", "TIMED_OUT"},
    "FAILED": {"FAILED"},
}


@pytest.fixture
def make_fleet(runtime: LocalRuntime) -> Iterator[Any]:
    fleets: list[Fleet] = []

    def make(count: int = 3, *, ship: bool = True, name_length: int = 0) -> Fleet:
        """`count` functions; `name_length`: names padded to that many characters (Lambda allows 64)."""
        prefix = f"fn-{uuid.uuid4().hex[:8]}"
        names = [f"{prefix}-{index:04d}" for index in range(count)]
        if name_length:
            names = [f"{name}-".ljust(name_length, "x") for name in names]
        fleet = Fleet(runtime, names)
        create_functions_with_alias(fleet.lam, names)
        if ship:
            ship_codes(fleet.lam, names, fleet.build_no)
        fleets.append(fleet)
        return fleet

    yield make
    faults.clear()
    for fleet in fleets:
        assert_invariants(fleet)


def assert_invariants(fleet: Fleet) -> None:
    """After every test: no alias carries weights unless its deployment still waits (on an execution that
    still runs), no lock is left, and every deployment in the table has an ending that matches its execution."""
    locks = boto3.resource("dynamodb").Table(fleet.runtime.outputs["LocksTableName"])
    functions = boto3.resource("dynamodb").Table(fleet.runtime.outputs["FunctionsTableName"])
    deployments = fleet.table._table.query(KeyConditionExpression=Key("repository").eq(fleet.repository))["Items"]
    still_waiting: set[str] = set()
    for item in deployments:
        execution = fleet.sfn.describe_execution(executionArn=item["execution_arn"])
        by_execution = Key("execution_arn").eq(item["execution_arn"])
        chunks = functions.query(KeyConditionExpression=by_execution, ConsistentRead=True)["Items"]
        targets = [target for chunk in chunks for target in chunk["functions"]]
        assert len(targets) == item["functions"], f"build {item['build_no']}: functions missing from their table"
        if item["status"] == "WAITING":
            assert execution["status"] == "RUNNING", f"build {item['build_no']} waits on a {execution['status']} run"
            still_waiting.update(target["name"] for target in targets)
            continue
        by_clean_up = item.get("outcome", {}).get("recorded_by") == "clean-up"  # the execution died first
        expected = {"FAILED", "ABORTED", "TIMED_OUT"} if by_clean_up else ENDINGS[item["status"]]
        assert execution["status"] in expected, (item["status"], execution["status"])
        arns = [target["function_arn"] for target in targets]
        held = [arn for arn in arns if locks.get_item(Key={"function_arn": arn}).get("Item")]
        assert held == [], f"locks left by {item['repository']} build {item['build_no']}: {held}"
    split = {name: weights for name, (_, weights) in fleet.aliases().items() if weights and name not in still_waiting}
    assert split == {}, f"aliases left carrying weights: {split}"


@pytest.fixture(autouse=True)
def no_access_denied(request: pytest.FixtureRequest) -> Iterator[None]:
    """After every test on the in-process runtime: no function made an AWS call its template policies deny
    (code may catch the AccessDeniedException; the runtime keeps every refusal)."""
    yield
    if "runtime" in request.fixturenames:
        refused, iam.denied[:] = list(iam.denied), []
        assert refused == [], "calls template.yaml does not allow:\n" + "\n".join(refused)


class LocalProcess:
    """`canary local` in its own process, as a user runs it; reached over HTTP and the aws CLI only."""

    def __init__(self, *options: str) -> None:
        self.port, self.approval_port = free_port(), free_port()
        self.approval_url = f"http://127.0.0.1:{self.approval_port}"
        clean_env = environment_without_aws()
        self.process = subprocess.Popen(
            [
                str(CANARY),
                "local",
                "--port",
                str(self.port),
                "--approval-port",
                str(self.approval_port),
                "--function-update-seconds",
                str(UPDATE_SECONDS),
                *options,
            ],
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

    def client(self, service: str) -> Any:
        """A boto3 client of this process's emulator (not the session runtime's)."""
        return boto3.client(
            service,
            endpoint_url=self.outputs["AwsEndpointUrl"],
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )

    def aws(self, *args: str) -> dict:
        completed = subprocess.run(
            [str(AWS_CLI), "--endpoint-url", self.outputs["AwsEndpointUrl"], "--output", "json", *args],
            env=self.cli_env,
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        return json.loads(completed.stdout) if completed.stdout.strip() else {}

    def slack(self) -> list[dict]:
        return requests.get(f"{self.approval_url}/_local/slack", timeout=10).json()

    def slack_log(self) -> list[dict]:
        return requests.get(f"{self.approval_url}/_local/slack/log", timeout=10).json()

    def wait_for_execution(self, arn: str, timeout: float = 60) -> dict:
        sfn = self.client("stepfunctions")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            execution = sfn.describe_execution(executionArn=arn)
            if execution["status"] != "RUNNING":
                return dict(execution)
            time.sleep(0.2)
        raise TimeoutError(f"{arn} still running")

    def wait_for_slack(self, count: int, timeout: float = 30) -> list[dict]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if len(messages := self.slack()) >= count:
                return messages
            time.sleep(0.2)
        raise TimeoutError(f"fewer than {count} Slack messages")

    def denied(self) -> list[str]:
        """Calls its stack's functions made that their template policies do not allow (see local/iam.py)."""
        return list(requests.get(f"{self.approval_url}/_local/iam/denied", timeout=10).json())

    def stop(self) -> int:
        self.process.send_signal(signal.SIGINT)
        return self.process.wait(timeout=20)


@pytest.fixture(scope="module")
def start_local() -> Iterator[Any]:
    """start_local(*options): a `canary local` process, stopped after the module's tests."""
    started: list[LocalProcess] = []

    def start(*options: str) -> LocalProcess:
        started.append(LocalProcess(*options))
        return started[-1]

    yield start
    refused = [message for local in started if local.process.poll() is None for message in local.denied()]
    for local in started:
        if local.process.poll() is None:
            local.process.kill()
    assert refused == [], "calls template.yaml does not allow:\n" + "\n".join(refused)
