"""Shared fixtures of the unit tests: no network, fake AWS credentials, moto in-process, a fixed clock.

Every AWS call in a unit test goes to moto's in-process mock (`mock_aws`), never to a server: sockets are
blocked for every test under tests/unit, and AWS_ENDPOINT_URL (which the local runtime sets) is removed.
"""

from __future__ import annotations

import io
import json
import os
import uuid
import zipfile
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any
from unittest.mock import patch

import aws_xray_sdk.core  # noqa: F401 - see XRAY_NOTE below
import boto3
import botocore.loaders
import botocore.session
import pytest
from botocore.exceptions import ClientError
from cfnlint.decode.cfn_yaml import load as load_cfn_yaml
from moto import mock_aws
from pytest_socket import disable_socket
from slack_fake import SLACK_API, SLACK_BOT_TOKEN, SLACK_CHANNEL, SLACK_WEBHOOK, SlackHttp

from canary_core.locks import FunctionLocks
from canary_core.model import Deployment, FunctionTarget
from canary_core.slack import AppChannel, WebhookChannel
from canary_core.targets import FunctionsTable
from canary_core.trail import DeploymentsTable
from canary_testing import ACCOUNT_ID, FIXED_NOW, REGION
from lambda_canary.local import lambda_runner, moto_patches

# XRAY_NOTE: Powertools' Tracer imports the X-Ray SDK, whose recorder creates a UDP socket (for the X-Ray
# daemon) on first import. It is imported above, at collection, before the socket guard exists; with
# POWERTOOLS_TRACE_DISABLED=true nothing is ever sent through it.

PROJECT_ROOT = Path(__file__).resolve().parents[2]
EVENTS = PROJECT_ROOT / "events"
TEMPLATE = PROJECT_ROOT / "template.yaml"


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    """No unit test may open a network socket (this hook only sees items under tests/unit).

    tryfirst: the guard is in place before the test's fixtures are set up; pytest-socket's own teardown
    hook lifts it after each test.
    """
    disable_socket(allow_unix_socket=True)


@pytest.fixture(autouse=True)
def _no_leftover_execution_environments() -> Iterator[None]:
    """A test that invoked functions through the patched emulator leaves no worker process to the next."""
    yield
    if lambda_runner.pool.running:
        lambda_runner.pool.shutdown()
        lambda_runner.pool.configure()


@pytest.fixture
def patched_lambda(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """Lambda (and CloudWatch) on moto with every patch of moto_patches applied, undone after the test,
    without Docker: a function's code runs in its worker, as on the local runtime."""
    for owner, attribute, replacement in moto_patches.PATCHES.values():
        monkeypatch.setattr(owner, attribute, replacement)
    with mock_aws(config={"lambda": {"use_docker": False}}):
        boto3.client("iam", region_name=REGION).create_role(
            RoleName="lambda-canary-local", AssumeRolePolicyDocument="{}"
        )
        yield boto3.client("lambda", region_name=REGION)


@pytest.fixture
def lam(patched_lambda: Any) -> Any:
    return patched_lambda


@pytest.fixture(autouse=True)
def unit_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fake credentials, one region, no endpoint override: boto3 can only ever reach moto's mock."""
    for name in list(os.environ):
        if name.startswith("AWS_ENDPOINT_URL") or name in ("AWS_PROFILE", "AWS_CONFIG_FILE", "MOTO_PORT"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_SECURITY_TOKEN", "testing")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_REGION", REGION)
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", "lambda-canary")
    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "true")
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "LambdaCanary")
    # moto has no request quota: fan_out is unpaced, so no unit test sleeps (pacing is tested with a fake clock)
    monkeypatch.setenv("LAMBDA_API_RATE_PER_SECOND", "0")
    # Clean Up waits for a stopped execution's task Lambda to settle; nothing runs late in a unit test
    monkeypatch.setenv("CLEAN_UP_SETTLE_SECONDS", "0")


@pytest.fixture
def project_root() -> Path:
    return PROJECT_ROOT


@pytest.fixture
def now() -> datetime:
    return FIXED_NOW


@pytest.fixture
def link_secret() -> bytes:
    return b"unit-test-link-secret"


class FakeLambdaContext:
    """The attributes Powertools reads from the context Lambda passes to a handler."""

    def __init__(self, function_name: str = "lambda-canary-unit-test") -> None:
        self.function_name = function_name
        self.function_version = "$LATEST"
        self.invoked_function_arn = f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:{function_name}"
        self.memory_limit_in_mb = 512
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{function_name}"
        self.log_stream_name = "2025/04/07/[$LATEST]unit"

    def get_remaining_time_in_millis(self) -> int:
        return 60_000


@pytest.fixture
def lambda_context() -> FakeLambdaContext:
    return FakeLambdaContext()


@pytest.fixture
def load_event() -> Callable[[str], dict[str, Any]]:
    """A sample event from events/, by file name."""

    def load(name: str) -> dict[str, Any]:
        return dict(json.loads((EVENTS / name).read_text()))

    return load


# --- moto, in-process ---------------------------------------------------------------------------------


# botocore reads each service's model files once per session, and moto gives every test a fresh session: one
# loader shared by all of them reads the (read-only) models once per run, which keeps the suite fast.
_SHARED_LOADER = botocore.loaders.create_loader()


@pytest.fixture
def aws() -> Iterator[None]:
    """moto's in-process mock of every AWS service; Lambda never runs code (no Docker)."""
    with mock_aws(config={"lambda": {"use_docker": False}}):
        session = botocore.session.get_session()
        session.register_component("data_loader", _SHARED_LOADER)
        boto3.setup_default_session(botocore_session=session)
        yield


@pytest.fixture
def lambda_client(aws: None) -> Any:
    return boto3.client("lambda", region_name=REGION)


def zip_of(source: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("app.py", source)
    return buffer.getvalue()


@pytest.fixture
def make_function(aws: None, lambda_client: Any) -> Callable[..., str]:
    """make_function(name, alias=..., alias_version=...) creates a function (and its alias); returns its ARN.

    alias_version "$LATEST" points the alias at $LATEST; "1" publishes version 1 first and points it there.
    CI's upload of the next build is `upload(name)`, so that publishing gives a new version.
    """
    role = boto3.client("iam").create_role(
        RoleName=f"unit-role-{uuid.uuid4().hex[:8]}",
        AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": []}),
    )["Role"]["Arn"]

    def make(name: str, alias: str | None = "live", alias_version: str = "1") -> str:
        arn = lambda_client.create_function(
            FunctionName=name,
            Runtime="python3.12",
            Role=role,
            Handler="app.handler",
            Code={"ZipFile": zip_of(f"def handler(event, context):\n    return {{'build': 1, 'name': {name!r}}}\n")},
        )["FunctionArn"]
        if alias_version != "$LATEST":
            assert lambda_client.publish_version(FunctionName=name)["Version"] == alias_version
        if alias is not None:
            lambda_client.create_alias(FunctionName=name, Name=alias, FunctionVersion=alias_version)
        return str(arn)

    return make


@pytest.fixture
def upload(lambda_client: Any) -> Callable[[str, int], None]:
    """What CI does before starting an execution: upload a build's code to $LATEST."""

    def upload_build(name: str, build: int = 2) -> None:
        source = f"def handler(event, context):\n    return {{'build': {build}, 'name': {name!r}}}\n"
        lambda_client.update_function_code(FunctionName=name, ZipFile=zip_of(source))

    return upload_build


def _table_properties(resource: str) -> dict[str, Any]:
    """A table's key schema, attributes and billing mode, exactly as template.yaml declares them."""
    properties = load_cfn_yaml(str(TEMPLATE))["Resources"][resource]["Properties"]
    plain = json.loads(json.dumps(properties))  # cfn-lint's node classes to plain dicts and strings
    keys = ("KeySchema", "AttributeDefinitions", "BillingMode", "GlobalSecondaryIndexes")
    return {key: plain[key] for key in keys if key in plain}


def _create_table(resource: str, properties: dict[str, Any]) -> Any:
    name = f"lambda-canary-unit-{resource}-{uuid.uuid4().hex[:8]}"
    boto3.client("dynamodb", region_name=REGION).create_table(TableName=name, **properties)
    return boto3.resource("dynamodb", region_name=REGION).Table(name)


@pytest.fixture(scope="session")
def template_table_properties() -> dict[str, Any]:
    """The DeploymentsTable's key schema, attributes and billing mode, exactly as template.yaml declares them."""
    return _table_properties("DeploymentsTable")


@pytest.fixture(scope="session")
def template_locks_table_properties() -> dict[str, Any]:
    """The LocksTable's key schema, attributes and billing mode, exactly as template.yaml declares them."""
    return _table_properties("LocksTable")


@pytest.fixture
def dynamodb_table(aws: None, template_table_properties: dict[str, Any]) -> Any:
    """The deployments table as template.yaml declares it, as a boto3 Table resource."""
    return _create_table("DeploymentsTable", template_table_properties)


@pytest.fixture
def table(dynamodb_table: Any) -> DeploymentsTable:
    return DeploymentsTable(dynamodb_table)


@pytest.fixture
def functions_dynamodb_table(aws: None) -> Any:
    """The functions table as template.yaml declares it, as a boto3 Table resource."""
    return _create_table("FunctionsTable", _table_properties("FunctionsTable"))


@pytest.fixture
def functions_table(functions_dynamodb_table: Any) -> FunctionsTable:
    """Where each deployment's functions are kept (the state carries none)."""
    return FunctionsTable(functions_dynamodb_table)


@pytest.fixture
def locks_dynamodb_table(aws: None, template_locks_table_properties: dict[str, Any]) -> Any:
    """The locks table as template.yaml declares it, as a boto3 Table resource."""
    return _create_table("LocksTable", template_locks_table_properties)


@pytest.fixture
def locks(locks_dynamodb_table: Any) -> FunctionLocks:
    return FunctionLocks(locks_dynamodb_table)


# --- the deployment record ----------------------------------------------------------------------------


@pytest.fixture
def make_deployment() -> Callable[..., Deployment]:
    """make_deployment(repository=..., build_no=..., functions=[...], ...): a Deployment with sensible defaults."""

    def make(**overrides: Any) -> Deployment:
        values: dict[str, Any] = {
            "repository": "my-app",
            "build_no": 760,
            "alias": "live",
            "weight": 0.1,
            "pre_approve": False,
            "build_url": "https://ci.example.com/my-app/760",
            "approval_timeout_seconds": 3600,
            "execution_arn": f"arn:aws:states:{REGION}:{ACCOUNT_ID}:execution:canary:my-app-760",
            "functions": (
                FunctionTarget("orders-api", f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:orders-api", "1", "2"),
            ),
        }
        values.update(overrides)
        values["functions"] = tuple(values["functions"])
        return Deployment(**values)

    return make


WAITING_TASK = "token-of-the-waiting-task"  # the task token waiting_deployment stores unless told otherwise


@pytest.fixture
def waiting_deployment(
    table: DeploymentsTable, functions_table: FunctionsTable, make_deployment: Callable[..., Deployment], now: datetime
) -> Callable[..., Deployment]:
    """waiting_deployment(**overrides): a deployment opened in the table and waiting for a decision."""

    def make(task_token: str | None = WAITING_TASK, **overrides: Any) -> Deployment:
        """task_token=None: between two waits (Check Canary runs), no task waits and no token is stored."""
        deployment = make_deployment(**overrides)
        table.open(deployment, now)
        functions_table.save(deployment)
        expires_at = int(now.timestamp()) + deployment.approval_timeout_seconds
        table.await_decision(deployment, expires_at, now)
        if task_token is not None:
            table.store_token(deployment.repository, deployment.build_no, task_token)
        return deployment

    return make


# --- a Step Functions client that knows SendTaskSuccess and DescribeExecution ---------------------------


# The messages Step Functions answers SendTaskSuccess with, by error code.
SEND_TASK_SUCCESS_ERRORS = {
    "TaskTimedOut": "Task Timed Out: 'Provided task does not exist anymore'",
    "TaskDoesNotExist": "Task Does Not Exist: 'Provided task does not exist'",
    "InvalidToken": "Invalid Token: 'Invalid token'",
    "ThrottlingException": "Rate exceeded",
}


class FakeStepFunctions:
    """Records send_task_success and describe_execution calls.

    With `error_code`, SendTaskSuccess answers with that ClientError instead (the token is gone, a throttle);
    DescribeExecution answers with `execution_status` (RUNNING, or how the execution ended), in the shape
    boto3 returns it, or with ExecutionDoesNotExist when it is None.
    """

    def __init__(self, error_code: str | None = None, execution_status: str | None = "RUNNING") -> None:
        self.error_code = error_code
        self.execution_status = execution_status
        self.calls: list[dict[str, str]] = []
        self.described: list[str] = []

    def send_task_success(self, *, taskToken: str, output: str) -> dict[str, Any]:
        self.calls.append({"taskToken": taskToken, "output": output})
        if self.error_code is not None:
            message = SEND_TASK_SUCCESS_ERRORS.get(self.error_code, self.error_code)
            raise ClientError({"Error": {"Code": self.error_code, "Message": message}}, "SendTaskSuccess")
        return {}

    def describe_execution(self, *, executionArn: str) -> dict[str, Any]:
        self.described.append(executionArn)
        if self.execution_status is None:
            raise ClientError(
                {"Error": {"Code": "ExecutionDoesNotExist", "Message": f"Execution Does Not Exist: '{executionArn}'"}},
                "DescribeExecution",
            )
        state_machine = executionArn.replace(":execution:", ":stateMachine:").rsplit(":", 1)[0]
        answer: dict[str, Any] = {
            "executionArn": executionArn,
            "stateMachineArn": state_machine,
            "name": executionArn.rsplit(":", 1)[1],
            "status": self.execution_status,
            "startDate": FIXED_NOW,
        }
        if self.execution_status != "RUNNING":
            answer["stopDate"] = FIXED_NOW
        return answer


@pytest.fixture
def sfn() -> FakeStepFunctions:
    return FakeStepFunctions()


@pytest.fixture
def make_sfn() -> Callable[..., FakeStepFunctions]:
    """make_sfn(error_code=..., execution_status=...): a FakeStepFunctions answering as told."""
    return FakeStepFunctions


@pytest.fixture
def timed_out_sfn() -> FakeStepFunctions:
    """The task timed out and the execution has ended since (it rolled back at its deadline and failed)."""
    return FakeStepFunctions(error_code="TaskTimedOut", execution_status="FAILED")


# --- Slack, answering the connections slack-sdk opens (slack_fake.SlackHttp) ----------------------------


@pytest.fixture
def slack_http(monkeypatch: pytest.MonkeyPatch) -> Iterator[SlackHttp]:
    """Slack, answering every request of the test (a webhook, the Web API, a response_url) at the network:
    http.client's connection classes, which urllib (under slack-sdk) opens for each request."""
    for name in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy"):
        monkeypatch.delenv(name, raising=False)  # slack-sdk would send through the proxy
    fake = SlackHttp()
    with (
        patch("http.client.HTTPSConnection", new=fake.connection("https")),
        patch("http.client.HTTPConnection", new=fake.connection("http")),
    ):
        yield fake


@pytest.fixture
def webhook_channel() -> WebhookChannel:
    return WebhookChannel(SLACK_WEBHOOK)


@pytest.fixture
def app_channel() -> AppChannel:
    return AppChannel(SLACK_BOT_TOKEN, SLACK_CHANNEL, SLACK_API)
