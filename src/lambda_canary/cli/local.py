"""`canary local` runs the local runtime; `canary demo` runs the demo on it.

The local runtime (moto and its server) is imported only when one of them runs: every other command starts
without it, and works where only `pip install lambda-canary` was done (CI); these two need the `local` extra.
"""

from __future__ import annotations

import json
import signal
import threading
from typing import TYPE_CHECKING, Any

import click

from lambda_canary.cli.context import ERROR, USAGE, CliError
from lambda_canary.local.layer import LayerBuildError  # the standard library only
from lambda_canary.local.project import CHECKOUT, PROJECT_ROOT, STACK_NAME, missing_from_checkout

if TYPE_CHECKING:
    from lambda_canary.local.runtime import LocalRuntime


class _Seconds(click.ParamType):
    """Seconds within [low, high] (low itself excluded when `open_low`)."""

    name = "seconds"

    def __init__(self, low: float, high: float, words: str, open_low: bool = False) -> None:
        self.low, self.high, self.words, self.open_low = low, high, words, open_low

    def convert(self, value: Any, param: Any, ctx: Any) -> float:
        try:
            seconds = float(value)
        except (TypeError, ValueError):
            seconds = float("nan")
        if not (self.low < seconds if self.open_low else self.low <= seconds) or not seconds <= self.high:
            self.fail(f"{value} is not a number of seconds {self.words}", param, ctx)
        return seconds


PORT = click.IntRange(1, 65535)
ports = [
    click.option("--port", type=PORT, default=4566, show_default=True, help="AWS endpoint port"),
    click.option(
        "--approval-port", type=PORT, default=8765, show_default=True, help="approval API and Slack sink port"
    ),
]


def _with_ports(command: Any) -> Any:
    for option in reversed(ports):
        command = option(command)
    return command


@click.command(
    "local",
    epilog="Example:\n\n  canary local --parameter AllowedCidrs=10.0.0.0/8\n\n"
    f"then, in another terminal: canary status my-app 760 --stack {STACK_NAME} --endpoint-url http://127.0.0.1:4566",
)
@_with_ports
@click.option(
    "--parameter",
    "parameters",
    multiple=True,
    metavar="NAME=VALUE",
    help="a template parameter for the local stack (repeatable), e.g. --parameter AllowedCidrs=10.0.0.0/8",
)
@click.option(
    "--api-rate",
    type=float,
    default=None,
    help="simulate Lambda's control-plane quota: requests per second per API (AWS: 15); default off",
)
@click.option("--api-latency", type=float, default=0.0, help="seconds each simulated control-plane call takes")
@click.option(
    "--function-update-seconds",
    type=_Seconds(0, 600, "from 0 to 600"),
    default=2.0,
    help="seconds a new function stays Pending and an update InProgress, during which Lambda refuses "
    "PublishVersion and further updates, as on AWS (default 2; 0: at once)",
)
@click.option(
    "--sweep-seconds",
    type=_Seconds(0, 86400, "(more than 0, at most 86400)", open_low=True),
    default=None,
    help="interval of the template's schedules (the sweeper); default: the template's rate",
)
@click.option(
    "--async-retry-seconds",
    type=_Seconds(0, 86400, "(more than 0, at most 86400)", open_low=True),
    default=1.0,
    help="wait before retrying a failed asynchronous invocation, doubled for the second (AWS: 60); default 1",
)
@click.option(
    "--log-level",
    type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"]),
    default="INFO",
    help="the functions' log level",
)
def local_command(
    port: int,
    approval_port: int,
    parameters: tuple[str, ...],
    api_rate: float | None,
    api_latency: float,
    function_update_seconds: float,
    sweep_seconds: float | None,
    async_retry_seconds: float,
    log_level: str,
) -> int:
    """Run the AWS emulator with the stack from template.yaml until interrupted.

    Starts the AWS emulator in this process, deploys into it what template.yaml declares (as stack
    lambda-canary-local), serves the approval API and a Slack webhook sink. Runs until Ctrl-C.
    """
    _distinct(port, approval_port)
    _need_checkout("local")
    overrides = dict(_parameter(p) for p in parameters)
    LocalRuntime = _local_runtime("local").LocalRuntime
    return _guarded(
        lambda: run_local(
            LocalRuntime(
                parameter_overrides=overrides,
                port=port,
                approval_port=approval_port,
                log_level=log_level,
                api_rate=api_rate,
                api_latency=api_latency,
                function_update_seconds=function_update_seconds,
                sweep_seconds=sweep_seconds,
                async_retry_seconds=async_retry_seconds,
            )
        )
    )


@click.command("demo", epilog="Example:\n\n  canary demo --port 4600 --approval-port 8800")
@_with_ports
def demo_command(port: int, approval_port: int) -> int:
    """Deploy sample functions with a canary on the local runtime, and decide it."""
    _distinct(port, approval_port)
    _need_checkout("demo")
    _local_runtime("demo")
    from lambda_canary import demo

    return _guarded(lambda: demo.run(port, approval_port))


def _distinct(port: int, approval_port: int) -> None:
    if port == approval_port:
        raise click.UsageError("--port and --approval-port must differ")


def _need_checkout(command: str) -> None:
    """The local runtime builds its stack from the project's own files, which a pip-installed package lacks."""
    root = PROJECT_ROOT
    missing = missing_from_checkout(root)
    if missing:
        raise CliError(
            f"canary {command} needs the lambda-canary project's checkout ({', '.join(CHECKOUT)}), and "
            f"{', '.join(missing)} not found in {root}: run it from a clone of the repository "
            "(`make setup`, then `.venv/bin/canary " + command + "`)",
            USAGE,
        )


def _local_runtime(command: str) -> Any:
    """The local runtime's module, or a clear error when its packages (the `local` extra: moto) are missing."""
    try:
        from lambda_canary.local import runtime
    except ModuleNotFoundError as error:
        if (error.name or "").split(".")[0] != "moto":
            raise
        raise CliError(
            f"canary {command} needs the local runtime's packages, which this installation lacks: "
            "pip install 'lambda-canary[local]' (a clone's `make setup` installs them)",
            USAGE,
        ) from None
    return runtime


def _guarded(run: Any) -> int:
    try:
        return int(run())
    except ValueError as error:  # the template's parameters or rules
        raise CliError(str(error), USAGE) from error
    except LayerBuildError as error:
        raise CliError(str(error), ERROR) from error
    except OSError as error:
        if "Address already in use" in str(error):
            raise CliError(f"{error}; pick other ports with --port / --approval-port", ERROR) from error
        raise


def run_local(runtime: LocalRuntime) -> int:
    stop = threading.Event()

    def request_stop(*_: Any) -> None:
        stop.set()

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    with runtime:
        print(json.dumps(runtime.outputs, indent=2))
        print(
            f"\nAWS endpoint: {runtime.endpoint_url} (e.g. aws --endpoint-url {runtime.endpoint_url} "
            "stepfunctions list-executions ...)\n"
            f"Stack:        {STACK_NAME} (canary status REPOSITORY BUILD --stack {STACK_NAME} "
            f"--endpoint-url {runtime.endpoint_url})\n"
            f"Outputs:      {runtime.approval_url}/_local/outputs\n"
            f"Slack sink:   {runtime.approval_url}/_local/slack\n"
            "Running; Ctrl-C to stop.",
            flush=True,
        )
        stop.wait()
        print("Stopping ...", flush=True)
    return 0


def _parameter(value: str) -> tuple[str, str]:
    name, equals, setting = value.partition("=")
    if not equals or not name:
        raise click.BadParameter(
            f"{value!r}: write NAME=VALUE, e.g. --parameter AllowedCidrs=10.0.0.0/8", param_hint="--parameter"
        )
    return name, setting
