"""The `canary` command: `canary local` runs the local runtime, `canary demo` runs the demo on it."""

from __future__ import annotations

import argparse
import json
import signal
import threading
from collections.abc import Sequence
from typing import Any

from lambda_canary import demo
from lambda_canary.local.layer import LayerBuildError
from lambda_canary.local.runtime import LocalRuntime


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="canary", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    local = commands.add_parser(
        "local",
        help="run the AWS emulator with the stack from template.yaml until interrupted",
        description="Start the AWS emulator in this process, deploy into it what template.yaml declares, "
        "serve the approval API and a Slack webhook sink. Runs until Ctrl-C.",
    )
    local_demo = commands.add_parser("demo", help="deploy sample functions with a canary and decide it")
    for command in (local, local_demo):
        command.add_argument("--port", type=_port, default=4566, help="AWS endpoint port (default 4566)")
        command.add_argument(
            "--approval-port",
            type=_port,
            default=8765,
            help="approval API and Slack sink port (default 8765)",
        )
    local.add_argument(
        "--parameter",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a template parameter for the local stack (repeatable), e.g. --parameter AllowedCidrs=10.0.0.0/8",
    )
    local.add_argument(
        "--api-rate",
        type=float,
        default=None,
        help="simulate Lambda's control-plane quota: requests per second per API (AWS: 15); default off",
    )
    local.add_argument("--api-latency", type=float, default=0.0, help="seconds each simulated control-plane call takes")
    local.add_argument(
        "--function-update-seconds",
        type=_seconds,
        default=2.0,
        help="seconds a new function stays Pending and an update InProgress, during which Lambda refuses "
        "PublishVersion and further updates, as on AWS (default 2; 0: at once)",
    )
    local.add_argument(
        "--sweep-seconds",
        type=_interval,
        default=None,
        help="interval of the template's schedules (the sweeper); default: the template's rate (5 minutes)",
    )
    local.add_argument(
        "--async-retry-seconds",
        type=_interval,
        default=1.0,
        help="wait before retrying a failed asynchronous invocation, doubled for the second (AWS: 60); default 1",
    )
    local.add_argument(
        "--log-level",
        default="INFO",
        choices=["DEBUG", "INFO", "WARNING", "ERROR"],
        help="the functions' log level",
    )
    args = parser.parse_args(argv)
    if args.port == args.approval_port:
        parser.error("--port and --approval-port must differ")
    try:
        if args.command == "demo":
            return demo.run(args.port, args.approval_port)
        overrides = dict(_parameter(p, parser) for p in args.parameter)
        runtime = LocalRuntime(
            parameter_overrides=overrides,
            port=args.port,
            approval_port=args.approval_port,
            log_level=args.log_level,
            api_rate=args.api_rate,
            api_latency=args.api_latency,
            function_update_seconds=args.function_update_seconds,
            sweep_seconds=args.sweep_seconds,
            async_retry_seconds=args.async_retry_seconds,
        )
        return run_local(runtime)
    except ValueError as error:  # the template's parameters or rules
        parser.exit(2, f"canary: {error}\n")
    except LayerBuildError as error:
        parser.exit(1, f"canary: {error}\n")
    except OSError as error:
        if "Address already in use" in str(error):
            parser.exit(1, f"canary: {error}; pick other ports with --port / --approval-port\n")
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
            f"Outputs:      {runtime.approval_url}/_local/outputs\n"
            f"Slack sink:   {runtime.approval_url}/_local/slack\n"
            "Running; Ctrl-C to stop.",
            flush=True,
        )
        stop.wait()
        print("Stopping ...", flush=True)
    return 0


def _parameter(value: str, parser: argparse.ArgumentParser) -> tuple[str, str]:
    name, equals, setting = value.partition("=")
    if not equals or not name:
        parser.error(f"--parameter {value!r}: write NAME=VALUE, e.g. --parameter AllowedCidrs=10.0.0.0/8")
    return name, setting


def _seconds(value: str) -> float:
    try:
        seconds = float(value)
    except ValueError:
        seconds = -1.0
    if not 0 <= seconds <= 600:
        raise argparse.ArgumentTypeError(f"{value} is not a number of seconds from 0 to 600")
    return seconds


def _interval(value: str) -> float:
    try:
        seconds = float(value)
    except ValueError:
        seconds = -1.0
    if not 0 < seconds <= 86400:
        raise argparse.ArgumentTypeError(f"{value} is not a number of seconds (more than 0, at most 86400)")
    return seconds


def _port(value: str) -> int:
    port = int(value)
    if not 1 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{value} is not a port number (1-65535)")
    return port


if __name__ == "__main__":
    raise SystemExit(main())
