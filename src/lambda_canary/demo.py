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
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import boto3
import requests

from canary_core.times import human_time
from canary_core.trail import DeploymentsTable, code_words, event_words
from lambda_canary.local.gateway import audit_link, decision_links
from lambda_canary.local.runtime import LocalRuntime
from lambda_canary.traffic import Traffic

SAMPLE_FUNCTIONS = ("orders-api", "payments", "notifications")
ALIAS = "live"
LOCAL_ROLE_ARN = "arn:aws:iam::123456789012:role/lambda-canary-local"
AUTO_CHOICES = ("approve", "rollback")
# The aws CLI's waiters poll every second; the local runtime's updates take a fraction of that.
WAITER_CONFIG = {"Delay": 0.1, "MaxAttempts": 600}


def sample_code(version: int) -> bytes:
    """A deployment package whose handler says which build it is."""
    return package(f"def handler(event, context):\n    return {{'build': {version}}}\n")


def faulty_code(version: int, failure_share: float) -> bytes:
    """A deployment package whose handler says which build it is, but raises for `failure_share` (0 to 1) of
    the invocations each execution environment serves, evenly spread (every other one for 0.5): a faulty build
    for a canary analysis to catch, the same share every time it runs."""
    if not 0.0 <= failure_share <= 1.0:
        raise ValueError(f"failure_share must be between 0 and 1 (a share of invocations), not {failure_share!r}")
    return package(
        f"FAILURE_SHARE = {failure_share!r}\n"
        "calls = 0\n\n\n"
        "def handler(event, context):\n"
        "    global calls\n"
        "    calls += 1\n"
        "    if int(calls * FAILURE_SHARE) > int((calls - 1) * FAILURE_SHARE):\n"
        f"        raise RuntimeError('build {version} failed (it fails {failure_share:.0%} of its invocations)')\n"
        f"    return {{'build': {version}}}\n"
    )


def package(source: str) -> bytes:
    """A zip holding app.py with `source` (handler app.handler)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("app.py", source)
    return buffer.getvalue()


def create_functions_with_alias(lambda_client: Any, names: Sequence[str], alias: str = ALIAS) -> None:
    """Version 1 of each function, its alias pinned to it: the state a service is in after its first release.
    All are created, then each published once it is Active (Lambda refuses to publish a Pending function)."""
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


def ship_codes(lambda_client: Any, names: Sequence[str], build: int, failure_share: float = 0.0) -> None:
    """What CI does before it starts an execution: upload the new code of every function to $LATEST, then
    `aws lambda wait function-updated` for each.
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
    return f"  {name:<14} {split_words(*alias_state(lambda_client, name))}"


def split_words(version: str, weights: dict[str, float]) -> str:
    """An alias's split: "live -> v1 (v2 gets 10%)"."""
    split = ", ".join(f"v{v} gets {w:.0%}" for v, w in weights.items())
    return f"{ALIAS} -> v{version}" + (f" ({split})" if split else "")


def progress_lines(states: dict[str, tuple[str, dict[str, float]]], analysis: dict[str, Any]) -> list[str]:
    """What the canary looks like now: the split of every alias (one line when they all agree), then the
    canary analysis's verdict, which is the whole deployment's, not one function's."""
    by_split: dict[str, list[str]] = {}
    for name, (version, weights) in states.items():
        by_split.setdefault(split_words(version, weights), []).append(name)
    if len(by_split) == 1:
        ((split, names),) = by_split.items()
        lines = [f"  every alias ({len(names)} functions): {split}"]
    else:
        lines = [f"  {', '.join(names)}: {split}" for split, names in by_split.items()]
    if analysis:
        summary = analysis.get("summary")
        lines.append(
            f"  canary analysis of the deployment: {code_words(analysis['verdict'])}"
            + (f" ({summary})" if summary else "")
        )
    return lines


def traffic_line(lambda_client: Any, name: str, invocations: int) -> str:
    """Invoke the alias and count which version ran each time (ExecutedVersion): the canary split, seen."""
    ran = Counter(
        lambda_client.invoke(FunctionName=f"{name}:{ALIAS}", Payload=b"{}")["ExecutedVersion"]
        for _ in range(invocations)
    )
    split = ", ".join(f"v{version} x{count}" for version, count in sorted(ran.items()))
    return f"  {name:<14} {invocations} invocations of {ALIAS} ran {split}"


SCENARIOS = ("classic", "faulty", "steps")
# What each scenario's stack watches: its analysis reads the metrics every few seconds rather than every minute
SCENARIO_STACKS = {
    "classic": {},
    "faulty": {"AnalysisMode": "rollback", "AnalysisIntervalSeconds": "2", "AnalysisMinInvocations": "30"},
    "steps": {"AnalysisMode": "rollback", "AnalysisIntervalSeconds": "2", "AnalysisMinInvocations": "20"},
}
STEPS = [
    {"weight": 0.1, "gate": "manual"},
    {"weight": 0.25, "gate": "auto", "bake_seconds": 4},
    {"weight": 0.5, "gate": "auto", "bake_seconds": 4},
]
FAULTY_SHARE = 0.3  # of version 2's invocations, in the faulty scenario
TRAFFIC_RATE = 60.0  # requests per second over the three functions, while the canary runs


def run(port: int, approval_port: int) -> int:
    auto = os.environ.get("DEMO_AUTO", "").strip().lower()
    if auto and auto not in AUTO_CHOICES:
        print(
            f"DEMO_AUTO={auto!r} is not understood; use DEMO_AUTO=approve or DEMO_AUTO=rollback",
            file=sys.stderr,
        )
        return 2
    scenario = os.environ.get("DEMO_SCENARIO", "").strip().lower() or "classic"
    if scenario not in SCENARIOS:
        print(f"DEMO_SCENARIO={scenario!r} is not understood; use one of {', '.join(SCENARIOS)}", file=sys.stderr)
        return 2
    try:
        return _story(port, approval_port, auto, scenario)
    except KeyboardInterrupt:  # anywhere before the end: the runtime and its functions stop on the way out
        print("\nStopped before the deployment ended (Ctrl-C).")
        return 130


def _story(port: int, approval_port: int, auto: str, scenario: str) -> int:
    started = time.monotonic()
    print(f"Starting the local runtime (AWS emulator on :{port}, approval API on :{approval_port}) ...")
    stack = SCENARIO_STACKS[scenario]
    if stack:
        print(f"Scenario {scenario}: the stack's parameters {json.dumps(stack)}")
    with LocalRuntime(
        port=port, approval_port=approval_port, log_level="WARNING", parameter_overrides=stack
    ) as runtime:
        lam, sfn = boto3.client("lambda"), boto3.client("stepfunctions")
        table = DeploymentsTable(boto3.resource("dynamodb").Table(runtime.outputs["DeploymentsTableName"]))
        print(f"Deploying version 1 of {', '.join(SAMPLE_FUNCTIONS)} with alias '{ALIAS}' pinned to it ...")
        create_functions_with_alias(lam, SAMPLE_FUNCTIONS)
        failure_share = FAULTY_SHARE if scenario == "faulty" else 0.0
        print(
            "Shipping build 2 (the new code CI uploaded"
            + (f"; it fails {failure_share:.0%} of its invocations) ..." if failure_share else ") ...")
        )
        ship_codes(lam, SAMPLE_FUNCTIONS, 2, failure_share)
        print("\nAliases before:")
        for name in SAMPLE_FUNCTIONS:
            print(alias_line(lam, name))
        request: dict[str, Any] = {
            "repository": "demo-shop",
            "build_no": 2,
            "functions": list(SAMPLE_FUNCTIONS),
            "build_url": "https://ci.example.com/demo-shop/2",
        }
        request.update({"steps": STEPS} if scenario == "steps" else {"weight": 0.1})
        print(f"\nStarting execution demo-shop-2 with input {json.dumps(request)}")
        execution_arn = sfn.start_execution(
            stateMachineArn=runtime.outputs["StateMachineArn"], name="demo-shop-2", input=json.dumps(request)
        )["executionArn"]
        request_message = wait_for_slack(runtime, 1, timeout=60)[0]
        links = decision_links(request_message)
        print("\nCanary running. Aliases now:")
        for name in SAMPLE_FUNCTIONS:
            print(alias_line(lam, name))
        if scenario == "classic":
            print("Traffic (each alias invoked; the version that ran, as Lambda reports it):")
            for name in SAMPLE_FUNCTIONS:
                print(traffic_line(lam, name, 100))
            execution = _decide(sfn, execution_arn, links, request_message, auto)
        else:
            print(f"Traffic: {TRAFFIC_RATE:.0f} requests/s over the three aliases, until the deployment ends.")
            with Traffic(lam, SAMPLE_FUNCTIONS, rate=TRAFFIC_RATE) as traffic:
                watcher = _Watcher(lam, table)
                if scenario == "steps":
                    execution = _walk_steps(sfn, execution_arn, links, request_message, auto, watcher)
                else:
                    print("Nobody clicks: the canary analysis decides.")
                    execution = watcher.until_ended(sfn, execution_arn, timeout=180)
            print(f"  (sent {traffic.sent} requests, {traffic.failed} failed)")
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
            extra = ", ".join(
                f"{k}={event[k]}" for k in ("decided_by", "source_ip", "user_agent", "reason") if k in event
            )
            print(
                f"  {human_time(event['at'], datetime.now(UTC))}  {event_words(event['event'])}"
                + (f"  ({extra})" if extra else "")
            )
        print(f"\nDone in {time.monotonic() - started:.1f} s.")
        expected = {"approve": "SUCCEEDED", "rollback": "FAILED"}.get(auto)
        if scenario == "faulty":
            expected = "FAILED"  # the analysis rolls back, whatever DEMO_AUTO says
        code = 0 if expected is None or execution["status"] == expected else 1
        if not auto and sys.stdin.isatty():
            _serve_pages(audit_link(request_message))
        return code


# What a browser sends with the confirmation page's form (the page is same-origin; its no-referrer policy makes
# Chromium say Origin "null"): the click handler refuses a POST that does not come from its own page.
BROWSER_FORM_HEADERS = {"Origin": "null", "Sec-Fetch-Site": "same-origin"}


def press(link: str, timeout: float = 30.0) -> requests.Response:
    """What a person does with a link from the message: open the confirmation page (a GET changes nothing),
    then press its button, whose form posts the link's signed fields back to the page's own address."""
    page = requests.get(link, timeout=timeout)
    if page.status_code != 200:
        return page  # an expired or already decided link: the page says why, there is no button to press
    return requests.post(
        link, data=dict(parse_qsl(urlsplit(link).query)), headers=BROWSER_FORM_HEADERS, timeout=timeout
    )


def deployment_page_link(audit_url: str, repository: str, build_no: int) -> str:
    """A deployment's page, from the audit page's signed link (the same signed fields)."""
    page, _, query = audit_url.partition("?")
    return f"{page}/{repository}/{build_no}?{query}"


def _serve_pages(audit_url: str) -> None:
    """Keep the runtime, and so its pages, until Ctrl-C: the pages can be looked at after the decision."""
    try:
        print(f"\nThe pages stay up until Ctrl-C:\n  Every deployment: {audit_url}")
        print(f"  This one:         {deployment_page_link(audit_url, 'demo-shop', 2)}")
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        print("\nStopping the local runtime.")


def _decide(sfn: Any, execution_arn: str, links: dict[str, str], message: dict[str, Any], auto: str) -> dict[str, Any]:
    """Print the links and wait for a click, or open one and press its button (DEMO_AUTO)."""
    print(f"\nApprove:   {links['approve']}\nRoll back: {links['rollback']}")
    print(f"Every deployment and decision (signed link, a week): {audit_link(message)}\n")
    if auto:
        print(f"DEMO_AUTO={auto}: opening the {auto} link and pressing its button ...")
        response = press(links[auto])
        print(f"  -> HTTP {response.status_code}")
        timeout = 120.0
    else:
        print("Open one of the links in a browser on this machine and press the button (Ctrl-C to stop).")
        timeout = 3600 + 60  # the stack's default approval timeout, plus the roll back
    return wait_for_execution(sfn, execution_arn, timeout=timeout)


def _walk_steps(
    sfn: Any, execution_arn: str, links: dict[str, str], message: dict[str, Any], auto: str, watcher: _Watcher
) -> dict[str, Any]:
    """The schedule: its first gate is manual (a click, or DEMO_AUTO), the next two move on by themselves."""
    print("Step 1 of 3 is a manual gate at 10%; steps 2 and 3 (25%, 50%) are auto gates the analysis moves on.")
    if auto:
        print(f"DEMO_AUTO={auto}: opening the {auto} link of step 1 and pressing its button ...")
        watcher.until(lambda item: (item.get("analysis") or {}).get("verdict") == "healthy", timeout=60)
        print(f"  -> HTTP {press(links[auto]).status_code}")
    else:
        print(f"\nApprove:   {links['approve']}\nRoll back: {links['rollback']}")
        print(f"Every deployment and decision (signed link, a week): {audit_link(message)}\n")
        print("Open a link in a browser on this machine and press the button (Ctrl-C to stop).")
    return watcher.until_ended(sfn, execution_arn, timeout=300 if auto else 3600 + 300)


class _Watcher:
    """Prints what changes while the canary runs: the aliases' weights and the analysis's verdicts."""

    def __init__(self, lam: Any, table: DeploymentsTable) -> None:
        self.lam, self.table = lam, table
        self.seen: list[str] = []

    def look(self) -> dict[str, Any]:
        """Print the lines of progress_lines that changed since the last look."""
        item = self.table.get("demo-shop", 2) or {}
        states = {name: alias_state(self.lam, name) for name in SAMPLE_FUNCTIONS}
        lines = progress_lines(states, item.get("analysis") or {})
        for line in lines:
            if line not in self.seen:
                print(line)
        self.seen = lines
        return item

    def until(self, done: Any, timeout: float) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            item = self.look()
            if done(item):
                return item
            time.sleep(0.5)
        raise TimeoutError(f"not after {timeout} s")

    def until_ended(self, sfn: Any, execution_arn: str, timeout: float) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.look()
            execution: dict[str, Any] = sfn.describe_execution(executionArn=execution_arn)
            if execution["status"] != "RUNNING":
                return execution
            time.sleep(0.5)
        raise TimeoutError(f"execution {execution_arn} still running after {timeout} s")
