"""Start and stop the local runtime: the emulator, the stack from template.yaml, the approval port."""

from __future__ import annotations

import logging
import os
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import requests
from moto.server import ThreadedMotoServer
from werkzeug.serving import BaseWSGIServer

from lambda_canary.local import async_invoke, function_states, lambda_runner, moto_patches
from lambda_canary.local.events import ExecutionWatcher, Scheduler
from lambda_canary.local.gateway import (
    SLACK_API_PATH,
    SLACK_RESPONSE_PATH,
    SLACK_WEBHOOK_PATH,
    ApprovalGateway,
    SlackSink,
    serve,
)
from lambda_canary.local.project import PROJECT_ROOT, STACK_NAME
from lambda_canary.local.quota import quota
from lambda_canary.local.stack import LocalStack, deploy, register
from lambda_canary.local.template import REGION, Template

HOST = "127.0.0.1"


@dataclass
class LocalRuntime:
    port: int = 4566
    approval_port: int = 8765
    template_path: Path = PROJECT_ROOT / "template.yaml"
    parameter_overrides: dict[str, str] = field(default_factory=dict)
    log_level: str = "INFO"
    api_rate: float | None = None  # simulate Lambda's control-plane quota (requests/s per API); None: off
    api_latency: float = 0.0  # seconds each control-plane call takes
    # seconds a function stays Pending after its creation and its update InProgress, as on AWS; 0: at once
    function_update_seconds: float = 2.0
    sweep_seconds: float | None = None  # the interval of the template's schedules; None: as the template says
    async_retry_seconds: float = 1.0  # wait before a failed Event invocation's first retry (AWS: 60 s)
    worker_idle_seconds: float = 60.0  # a function's execution environment is stopped after this long idle
    stack: LocalStack = field(init=False, default_factory=LocalStack)
    slack: SlackSink = field(init=False, default_factory=SlackSink)
    _moto: ThreadedMotoServer | None = field(init=False, default=None)
    _gateway: BaseWSGIServer | None = field(init=False, default=None)
    _watcher: ExecutionWatcher | None = field(init=False, default=None)
    _scheduler: Scheduler | None = field(init=False, default=None)

    @property
    def endpoint_url(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def approval_url(self) -> str:
        return f"http://{HOST}:{self.approval_port}"

    @property
    def outputs(self) -> dict[str, str]:
        return {**self.stack.outputs, "AwsEndpointUrl": self.endpoint_url}

    def start(self) -> LocalRuntime:
        for port in (self.port, self.approval_port):
            _ensure_free(port)
        _point_aws_clients_at(self.endpoint_url, self.port)
        quota.configure(rate=self.api_rate, latency=self.api_latency)
        function_states.configure(self.function_update_seconds)
        lambda_runner.pool.configure(
            endpoint_url=self.endpoint_url,
            # What stands in for AWS here, on every function: no X-Ray daemon, no CloudWatch metrics, and the
            # Slack sink standing in for interactions' response_urls, besides Slack's own hosts
            variables={
                "POWERTOOLS_TRACE_DISABLED": "true",
                "POWERTOOLS_METRICS_DISABLED": "true",
                "SLACK_EXTRA_RESPONSE_URL_PREFIXES": self.approval_url + SLACK_RESPONSE_PATH + "/",
                "CONSOLE_LINKS": "false",  # no AWS console shows this runtime's executions
            },
            # New values for variables the template gives (a function without the variable does not get it)
            replacements={
                # Without a simulated quota there is nothing to pace for: the functions run unpaced.
                **({} if self.api_rate else {"LAMBDA_API_RATE_PER_SECOND": "0"}),
                # Tasks here move a handful of aliases in well under a second: no need to wait 30 s
                "CLEAN_UP_SETTLE_SECONDS": "1",
                # Ending events arrive within a second here: the sweep leaves an ending to its event that long
                "SWEEP_GRACE_SECONDS": "3",
                # Slack cannot be reached from here: its Web API is the local sink
                "SLACK_API_URL": self.approval_url + SLACK_API_PATH,
                "POWERTOOLS_LOG_LEVEL": self.log_level,
            },
            idle_seconds=self.worker_idle_seconds,
        )
        async_invoke.configure(retry_seconds=self.async_retry_seconds)
        moto_patches.apply()
        _quiet_emulator_logs(self.log_level)
        self._moto = ThreadedMotoServer(ip_address=HOST, port=self.port, verbose=False)
        self._moto.start()
        configure = {"stepfunctions": {"execute_state_machine": True}, "lambda": {"use_docker": False}}
        requests.post(f"{self.endpoint_url}/moto-api/config", json=configure, timeout=10).raise_for_status()
        # The Slack sink stands in for the webhook; the local stack may deploy functions of any name.
        overrides = {
            "SlackWebhookUrl": self.approval_url + SLACK_WEBHOOK_PATH,
            "ManagedFunctionPrefix": "*",
            **self.parameter_overrides,
        }
        template = Template.load(self.template_path, overrides, STACK_NAME)
        self.stack = deploy(template, self.approval_url)
        wait_until_active(list(self.stack.function_names.values()))  # as CloudFormation does before it reports done
        # DescribeStacks and ListStackResources answer, as for a deployed stack
        register(STACK_NAME, self.outputs, template.parameters, self.stack.log_groups)
        gateway = ApprovalGateway(
            self.stack.routes, self.stack.api_stage, lambda: self.outputs, self.slack, self.stack.allowed_cidrs
        )
        self._gateway = serve(gateway, HOST, self.approval_port)
        self._watcher = ExecutionWatcher(self.stack.rules, self.stack.state_machine_arns)
        self._watcher.start()
        self._scheduler = Scheduler(self.stack.schedules, self.sweep_seconds)
        self._scheduler.start()
        return self

    def stop(self) -> None:
        async_invoke.stop()
        if self._scheduler is not None:
            self._scheduler.stop()
            self._scheduler = None
        if self._watcher is not None:
            self._watcher.stop()
            self._watcher = None
        if self._gateway is not None:
            self._gateway.shutdown()
            self._gateway.server_close()
            self._gateway = None
        if self._moto is not None:
            self._moto.stop()
            self._moto = None
        lambda_runner.pool.shutdown()
        moto_patches.remove()

    def __enter__(self) -> LocalRuntime:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()


def wait_until_active(function_names: list[str], timeout: float = 300.0) -> None:
    """Wait, as `aws lambda wait function-active-v2` does, until every function can be invoked."""
    deadline = time.monotonic() + timeout
    lambda_client = boto3.client("lambda")
    for name in function_names:
        while lambda_client.get_function(FunctionName=name)["Configuration"]["State"] == "Pending":
            if time.monotonic() > deadline:
                raise TimeoutError(f"function {name} still Pending after {timeout:.0f} s")
            time.sleep(0.1)


def _ensure_free(port: int) -> None:
    """moto's server waits forever for a port it cannot bind: find out first."""
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((HOST, port))
        except OSError as error:
            raise OSError(f"Address already in use: port {port} on {HOST}") from error


def _quiet_emulator_logs(level: str) -> None:
    """The emulator logs every request and every failed state; keep that for DEBUG only."""
    quiet = logging.DEBUG if level == "DEBUG" else logging.CRITICAL
    for name in ("werkzeug", "moto"):
        logging.getLogger(name).setLevel(quiet)


def _point_aws_clients_at(endpoint_url: str, port: int) -> None:
    """Every boto3 client of this process (the CLI's, the handlers', the interpreter's) talks to the emulator."""
    os.environ.update(
        {
            "AWS_ENDPOINT_URL": endpoint_url,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": REGION,
            "AWS_REGION": REGION,
            "MOTO_PORT": str(port),  # where moto's state machine interpreter calls Lambda and DynamoDB
        }
    )
    os.environ.pop("AWS_PROFILE", None)
    os.environ.pop("AWS_SESSION_TOKEN", None)
