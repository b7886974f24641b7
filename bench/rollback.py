"""How fast a fleet is rolled back and promoted, against the floor Lambda's control-plane quota sets.

Runs on the local runtime with the quota simulated (15 requests per second per API, TooManyRequestsException
above it, a per-call latency). For N = 10, 70, 300, 1,000 functions it prints, for a roll back and for a
promote: seconds from the decision's POST to the last alias updated, the floor N/15, their ratio, throttles
seen and retried, and how the execution ended; and seconds from the start to the deployment waiting for a
decision, against its floor 2N/15 (validation reads every alias, then publishing and shifting overlap); a
plain sequential boto3 loop doing the same work as the baseline; and
what one deployment costs in Step Functions state transitions and Lambda invocations.

    .venv/bin/python bench/rollback.py [--sizes 10 70 300 1000] [--latency 0.03]
"""

from __future__ import annotations

import argparse
import json
import socket
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import boto3
import requests

from lambda_canary.demo import create_functions_with_alias, ship_codes, wait_for_execution
from lambda_canary.local.gateway import decision_links
from lambda_canary.local.quota import quota
from lambda_canary.local.runtime import LocalRuntime

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # the tests' support package
from canary_testing.browser import FORM_HEADERS, forms_in

RATE = 15.0
STATE_MACHINE_PRICE_PER_TRANSITION = 0.025 / 1000  # USD, Standard workflows, us-east-1


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def make_fleet(lam: Any, size: int) -> list[str]:
    prefix = f"b{uuid.uuid4().hex[:6]}"
    names = [f"{prefix}-{i:03d}" for i in range(size)]
    create_functions_with_alias(lam, names)
    return names


def decide(runtime: LocalRuntime, lam: Any, sfn: Any, names: list[str], build: int, action: str) -> dict[str, Any]:
    """Start a canary of build `build`, then press `action`; measure the POST to the last UpdateAlias."""
    quota.configure(rate=None, latency=0.0)  # set-up is not what is measured
    ship_codes(lam, names, build)  # and wait for the updates, as CI does
    repository = f"bench-{uuid.uuid4().hex[:6]}"
    request = {"repository": repository, "build_no": build, "functions": names}
    quota.configure(rate=RATE, latency=runtime.api_latency)
    started = time.monotonic()
    execution = sfn.start_execution(
        stateMachineArn=runtime.outputs["StateMachineArn"],
        name=f"{repository}-{build}",
        input=json.dumps(request),
    )["executionArn"]
    title = f"{repository} build {build}"
    deadline = time.monotonic() + 600
    while not (messages := [m for m in runtime.slack.messages if title in m["text"]]):
        if time.monotonic() > deadline:
            raise TimeoutError("no Slack message")
        time.sleep(0.05)
    waiting_after = time.monotonic() - started
    link = decision_links(messages[0])[action]
    page = requests.get(link, timeout=30)
    form = forms_in(page.text)[0]
    quota.reset_counters()
    clicked = time.monotonic()
    requests.post(link.split("?")[0], data=form.fields, headers=FORM_HEADERS, timeout=30).raise_for_status()
    ended = wait_for_execution(sfn, execution, timeout=900)
    expected = ("SUCCEEDED", None) if action == "approve" else ("FAILED", "Canary.RolledBack")
    ending = (ended["status"], ended.get("error"))
    assert ending == expected, f"{title} ended {ending}, not {expected}: {ended.get('cause')}"
    last_update = quota.last_admitted.get("UpdateAlias", clicked)
    updates, throttled = quota.calls["UpdateAlias"], quota.throttled["UpdateAlias"]
    quota.configure(rate=None, latency=0.0)
    expected_version = str(build) if action == "approve" else None
    for name in names:
        alias = lam.get_alias(FunctionName=name, Name="live")
        assert not alias.get("RoutingConfig", {}).get("AdditionalVersionWeights"), f"{name} still has weights"
        if expected_version is not None:
            assert alias["FunctionVersion"] == expected_version, (name, alias["FunctionVersion"])
    history = sfn.get_execution_history(executionArn=execution, maxResults=1000)["events"]
    return {
        "ending": ended.get("error") or ended["status"],
        "seconds": last_update - clicked,
        "to_waiting": waiting_after,
        "throttled": throttled,
        "retried": updates - len(names),  # calls beyond one per function: throttled calls sent again
        "transitions": sum(1 for e in history if e["type"].endswith("StateEntered")),
        # a task invoking its function by ARN is LambdaFunctionScheduled; the callback integration TaskScheduled
        "invocations": sum(1 for e in history if e["type"] in ("TaskScheduled", "LambdaFunctionScheduled")),
    }


def sequential_loop(lam: Any, names: list[str], latency: float) -> dict[str, Any]:
    """The baseline: the same work as Roll Back (GetAlias for the RevisionId, then UpdateAlias with it), one
    boto3 call after another, botocore's default retries, no pacing."""
    for name in names:  # give every alias a weight to clear
        version = lam.get_alias(FunctionName=name, Name="live")["FunctionVersion"]
        lam.update_alias(FunctionName=name, Name="live", RoutingConfig={"AdditionalVersionWeights": {version: 0.1}})
    client = boto3.client("lambda")
    quota.configure(rate=RATE, latency=latency)
    started = time.monotonic()
    failed = 0
    for name in names:
        try:
            revision = client.get_alias(FunctionName=name, Name="live")["RevisionId"]
            client.update_alias(
                FunctionName=name, Name="live", RoutingConfig={"AdditionalVersionWeights": {}}, RevisionId=revision
            )
        except client.exceptions.TooManyRequestsException:
            failed += 1
    seconds = time.monotonic() - started
    throttled = quota.throttled["UpdateAlias"] + quota.throttled["GetAlias"]
    quota.configure(rate=None, latency=0.0)
    return {"seconds": seconds, "throttled": throttled, "failed": failed}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10, 70, 300, 1000])
    parser.add_argument(
        "--latency", type=float, default=0.1, help="seconds each control-plane call takes (default 0.1)"
    )
    args = parser.parse_args()
    runtime = LocalRuntime(
        port=free_port(), approval_port=free_port(), log_level="ERROR", api_rate=RATE, api_latency=args.latency
    ).start()
    lam, sfn = boto3.client("lambda"), boto3.client("stepfunctions")
    print(f"Simulated quota: {RATE:.0f} requests/s per API, {args.latency * 1000:.0f} ms per call\n")
    header = (
        f"{'N':>4} {'action':<9} {'ending':<17} {'seconds':>8} {'floor N/15':>10} {'ratio':>6} {'throttled':>9} "
        f"{'retried':>8} {'transitions':>11} {'invocations':>11} {'to waiting':>10} {'floor 2N/15':>11} {'ratio':>6}"
    )
    rows, baselines = [], []
    try:
        for size in args.sizes:
            quota.configure(rate=None, latency=0.0)
            names = make_fleet(lam, size)
            for build, action in ((2, "rollback"), (3, "approve")):
                result = decide(runtime, lam, sfn, names, build, action)
                rows.append((size, action, result))
            baselines.append((size, sequential_loop(lam, names, args.latency)))
    finally:
        runtime.stop()
    print(header)
    for size, action, r in rows:
        floor = size / RATE
        print(
            f"{size:>4} {action:<9} {r['ending']:<17} {r['seconds']:>8.2f} {floor:>10.2f} {r['seconds'] / floor:>6.2f} "
            f"{r['throttled']:>9} {r['retried']:>8} {r['transitions']:>11} {r['invocations']:>11} "
            f"{r['to_waiting']:>9.1f}s {2 * floor:>11.2f} {r['to_waiting'] / (2 * floor):>6.2f}"
        )
    print(
        "\nBaseline: a sequential boto3 loop clearing the same aliases, GetAlias then UpdateAlias with its RevisionId"
    )
    print(f"{'N':>4} {'seconds':>8} {'floor N/15':>10} {'ratio':>6} {'throttled':>9} {'failed':>6}")
    for size, b in baselines:
        floor = size / RATE
        print(
            f"{size:>4} {b['seconds']:>8.2f} {floor:>10.2f} {b['seconds'] / floor:>6.2f} {b['throttled']:>9} "
            f"{b['failed']:>6}"
        )
    transitions = {r["transitions"] for _, _, r in rows}
    print(
        f"\nOne deployment costs {sorted(transitions)} state transitions whatever N is "
        f"(${max(transitions) * STATE_MACHINE_PRICE_PER_TRANSITION:.5f} at $0.025 per 1,000) "
        f"and {sorted({r['invocations'] for _, _, r in rows})} Lambda invocations."
    )


if __name__ == "__main__":
    main()
