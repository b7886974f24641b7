"""`canary demo`: a few sample functions deployed with a canary on the local runtime, start to finish."""

from __future__ import annotations

import io
import json
import os
import sys
import time
import zipfile
from collections import Counter
from collections.abc import Sequence
from typing import Any

import boto3

from canary_core.pages import format_time
from canary_core.trail import DeploymentsTable
from lambda_canary.browser import audit_link, decision_links, open_and_submit
from lambda_canary.local.runtime import LocalRuntime

SAMPLE_FUNCTIONS = ("orders-api", "payments", "notifications")
ALIAS = "live"
LOCAL_ROLE_ARN = "arn:aws:iam::123456789012:role/lambda-canary-local"
AUTO_CHOICES = ("approve", "rollback")
# The aws CLI's waiters poll every second; the local runtime's updates take a fraction of that.
WAITER_CONFIG = {"Delay": 0.1, "MaxAttempts": 600}


def sample_code(version: int) -> bytes:
    """A deployment package whose handler says which build it is."""
    return _package(f"def handler(event, context):\n    return {{'build': {version}}}\n")


def faulty_code(version: int, failure_share: float) -> bytes:
    """A deployment package whose handler says which build it is, but raises for about `failure_share` (0 to 1)
    of its invocations, each drawn on its own: a faulty build, for a canary analysis to catch."""
    if not 0.0 <= failure_share <= 1.0:
        raise ValueError(f"failure_share must be between 0 and 1 (a share of invocations), not {failure_share!r}")
    return _package(
        "import random\n\n"
        f"FAILURE_SHARE = {failure_share!r}\n\n\n"
        "def handler(event, context):\n"
        "    if random.random() < FAILURE_SHARE:\n"
        f"        raise RuntimeError('build {version} failed (it fails {failure_share:.0%} of its invocations)')\n"
        f"    return {{'build': {version}}}\n"
    )


def _package(source: str) -> bytes:
    """A zip holding app.py with `source` (handler app.handler)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("app.py", source)
    return buffer.getvalue()


def create_function_with_alias(lambda_client: Any, name: str, alias: str = ALIAS) -> None:
    """Version 1 of a function, its alias pinned to it: the state a service is in after its first release."""
    create_functions_with_alias(lambda_client, [name], alias)


def create_functions_with_alias(lambda_client: Any, names: Sequence[str], alias: str = ALIAS) -> None:
    """`create_function_with_alias` for several functions: all created, then each published once it is Active
    (Lambda refuses to publish a function that is still Pending)."""
    for name in names:
        lambda_client.create_function(
            FunctionName=name,
            Runtime="python3.12",
            Role=LOCAL_ROLE_ARN,
            Handler="app.handler",
            Code={"ZipFile": sample_code(1)},
        )
    for name in names:
        lambda_client.get_waiter("function_active_v2").wait(FunctionName=name, WaiterConfig=WAITER_CONFIG)
        version = lambda_client.publish_version(FunctionName=name)["Version"]
        lambda_client.create_alias(FunctionName=name, Name=alias, FunctionVersion=version)


def ship_code(lambda_client: Any, name: str, build: int) -> None:
    """What CI does before it starts an execution: upload the new code to $LATEST, wait for the update."""
    ship_codes(lambda_client, [name], build)


def ship_codes(lambda_client: Any, names: Sequence[str], build: int, failure_share: float = 0.0) -> None:
    """`ship_code` for several functions: every upload, then `aws lambda wait function-updated` for each.
    failure_share: above 0, a faulty build that fails that share of its invocations (faulty_code)."""
    code = faulty_code(build, failure_share) if failure_share else sample_code(build)
    for name in names:
        lambda_client.update_function_code(FunctionName=name, ZipFile=code)
    for name in names:
        lambda_client.get_waiter("function_updated_v2").wait(FunctionName=name, WaiterConfig=WAITER_CONFIG)


def wait_for_execution(sfn_client: Any, execution_arn: str, timeout: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        execution: dict[str, Any] = sfn_client.describe_execution(executionArn=execution_arn)
        if execution["status"] != "RUNNING":
            return execution
        time.sleep(0.1)
    raise TimeoutError(f"execution {execution_arn} still running after {timeout} s")


def wait_for_slack(runtime: LocalRuntime, count: int, timeout: float) -> list[Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if len(runtime.slack.messages) >= count:
            return runtime.slack.messages
        time.sleep(0.1)
    raise TimeoutError(f"fewer than {count} Slack messages after {timeout} s")


def alias_state(lambda_client: Any, name: str, alias: str = ALIAS) -> tuple[str, dict[str, float]]:
    """(main version, additional version weights) of a function's alias, read back with boto3."""
    answer = lambda_client.get_alias(FunctionName=name, Name=alias)
    return answer["FunctionVersion"], answer.get("RoutingConfig", {}).get("AdditionalVersionWeights") or {}


def alias_line(lambda_client: Any, name: str) -> str:
    version, weights = alias_state(lambda_client, name)
    split = ", ".join(f"v{v} gets {w:.0%}" for v, w in weights.items())
    return f"  {name:<14} {ALIAS} -> v{version}" + (f" ({split})" if split else "")


def traffic_line(lambda_client: Any, name: str, invocations: int) -> str:
    """Invoke the alias and count which version ran each time (ExecutedVersion): the canary split, seen."""
    ran = Counter(
        lambda_client.invoke(FunctionName=f"{name}:{ALIAS}", Payload=b"{}")["ExecutedVersion"]
        for _ in range(invocations)
    )
    split = ", ".join(f"v{version} x{count}" for version, count in sorted(ran.items()))
    return f"  {name:<14} {invocations} invocations of {ALIAS} ran {split}"


def run(port: int, approval_port: int) -> int:
    auto = os.environ.get("DEMO_AUTO", "").strip().lower()
    if auto and auto not in AUTO_CHOICES:
        print(
            f"DEMO_AUTO={auto!r} is not understood; use DEMO_AUTO=approve or DEMO_AUTO=rollback",
            file=sys.stderr,
        )
        return 2
    started = time.monotonic()
    print(f"Starting the local runtime (AWS emulator on :{port}, approval API on :{approval_port}) ...")
    with LocalRuntime(port=port, approval_port=approval_port, log_level="WARNING") as runtime:
        lam, sfn = boto3.client("lambda"), boto3.client("stepfunctions")
        table = DeploymentsTable(boto3.resource("dynamodb").Table(runtime.outputs["DeploymentsTableName"]))
        print(f"Deploying version 1 of {', '.join(SAMPLE_FUNCTIONS)} with alias '{ALIAS}' pinned to it ...")
        create_functions_with_alias(lam, SAMPLE_FUNCTIONS)
        print("Shipping build 2 (the new code CI uploaded) ...")
        ship_codes(lam, SAMPLE_FUNCTIONS, 2)
        print("\nAliases before:")
        for name in SAMPLE_FUNCTIONS:
            print(alias_line(lam, name))
        request = {
            "repository": "demo-shop",
            "build_no": 2,
            "functions": list(SAMPLE_FUNCTIONS),
            "weight": 0.1,
            "build_url": "https://ci.example.com/demo-shop/2",
        }
        print(f"\nStarting execution demo-shop-2 with input {json.dumps(request)}")
        execution_arn = sfn.start_execution(
            stateMachineArn=runtime.outputs["StateMachineArn"], name="demo-shop-2", input=json.dumps(request)
        )["executionArn"]
        request_message = wait_for_slack(runtime, 1, timeout=60)[0]
        links = decision_links(request_message)
        print("\nCanary running. Aliases now:")
        for name in SAMPLE_FUNCTIONS:
            print(alias_line(lam, name))
        print("Traffic (each alias invoked; the version that ran, as Lambda reports it):")
        for name in SAMPLE_FUNCTIONS:
            print(traffic_line(lam, name, 100))
        print(f"\nApprove:   {links['approve']}\nRoll back: {links['rollback']}")
        print(f"Every deployment and decision (signed link, a week): {audit_link(request_message)}\n")
        if auto:
            print(f"DEMO_AUTO={auto}: opening the {auto} link and pressing its button ...")
            response = open_and_submit(links[auto])
            print(f"  -> HTTP {response.status_code}")
            timeout = 120.0
        else:
            print("Open one of the links in a browser on this machine and press the button (Ctrl-C to stop).")
            timeout = 3600 + 60  # the stack's default approval timeout, plus the roll back
        try:
            execution = wait_for_execution(sfn, execution_arn, timeout=timeout)
        except KeyboardInterrupt:
            print("\nStopped before a decision.")
            return 130
        print(f"\nExecution {execution['status']}" + (f": {execution.get('error')}" if execution.get("error") else ""))
        if execution.get("cause"):
            print(f"  cause: {execution['cause']}")
        print("\nAliases after:")
        for name in SAMPLE_FUNCTIONS:
            print(alias_line(lam, name))
        for name in SAMPLE_FUNCTIONS:
            print(traffic_line(lam, name, 20))
        item = table.get("demo-shop", 2) or {"trail": []}
        print(f"\nTrail of demo-shop build 2 (table {runtime.outputs['DeploymentsTableName']}):")
        for event in item["trail"]:
            extra = ", ".join(f"{k}={event[k]}" for k in ("decided_by", "source_ip", "user_agent") if k in event)
            print(f"  {format_time(event['at'])}  {event['event']}" + (f"  ({extra})" if extra else ""))
        print(f"\nDone in {time.monotonic() - started:.1f} s.")
        expected = {"approve": "SUCCEEDED", "rollback": "FAILED"}.get(auto)
        return 0 if expected is None or execution["status"] == expected else 1
