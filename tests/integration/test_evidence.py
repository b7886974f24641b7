"""Evidence before the click, on the local runtime: the canary analysis reading real GetMetricData figures of
real traffic, alarms set with set-alarm-state, progressive steps and traffic hooks, the real state machine
deciding, aliases read back with boto3."""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl

import boto3
import requests

from canary_testing import put_errors_alarm
from canary_testing.browser import FORM_HEADERS
from lambda_canary.demo import LOCAL_ROLE_ARN, WAITER_CONFIG, package, ship_codes
from lambda_canary.local.gateway import decision_links
from lambda_canary.traffic import Traffic

# Checks every second; 30 new-version requests are enough to judge (the stack's default asks 100)
QUICK_ANALYSIS = {"mode": "rollback", "interval_seconds": 1, "min_invocations": 30}


def wait_until(what: str, found: Callable[[], Any], timeout: float = 60.0, seen: Callable[[], Any] = str) -> Any:
    """`found()` once it is truthy; fails naming `what` and what `seen()` shows after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = found()
        if value:
            return value
        time.sleep(0.2)
    raise TimeoutError(f"{what}: not after {timeout} s ({seen()})")


def healthy(fleet: Any, what: str = "a healthy verdict") -> None:
    wait_until(what, lambda: verdict(fleet) == "healthy", seen=lambda: (fleet.item() or {}).get("analysis"))


def verdict(fleet: Any) -> str | None:
    return ((fleet.item() or {}).get("analysis") or {}).get("verdict")


def decide(url: str) -> requests.Response:
    """Post a decision link's fields as its confirmation page's form does."""
    address, _, query = url.partition("?")
    return requests.post(address, data=dict(parse_qsl(query)), headers=FORM_HEADERS, timeout=10)


def test_a_healthy_canary_is_called_healthy_only_once_it_has_enough_traffic(make_fleet):
    # given a canary of two functions, half of each alias's traffic on the new version, analysed every second
    fleet = make_fleet(2)
    execution = fleet.start(weight=0.5, analysis=QUICK_ANALYSIS)
    links = fleet.links()

    # when no traffic comes, then the analysis says "not enough traffic yet", never healthy
    assert wait_until("a first verdict", lambda: verdict(fleet)) == "not_enough_traffic"
    assert fleet.sfn.describe_execution(executionArn=execution)["status"] == "RUNNING"

    # when traffic runs, then it becomes healthy once the new version served its minimum of requests
    with Traffic(fleet.lam, fleet.names, rate=40):
        healthy(fleet)
    analysis = fleet.item()["analysis"]
    assert {row["name"] for row in analysis["functions"]} == set(fleet.names)
    assert all(row["new"]["requests"] >= 30 and row["new"]["errors"] == 0 for row in analysis["functions"])
    trail = [event["event"] for event in fleet.item()["trail"]]
    assert trail.index("analysis: not_enough_traffic") < trail.index("analysis: healthy")

    # and the confirmation page shows the comparison; a healthy verdict alone decides nothing at a manual gate
    page = requests.get(links["approve"], timeout=10).text
    assert "Canary analysis: healthy" in page and fleet.names[0] in page
    assert fleet.aliases() == {name: ("1", {"2": 0.5}) for name in fleet.names}
    assert decide(links["approve"]).status_code == 200
    assert fleet.wait(execution)["status"] == "SUCCEEDED"


def test_a_faulty_canary_is_rolled_back_by_the_analysis_with_its_figures(make_fleet):
    # given a canary whose new version fails half of its invocations
    fleet = make_fleet(2, ship=False)
    ship_codes(fleet.lam, fleet.names, fleet.build_no, failure_share=0.5)
    execution = fleet.start(weight=0.5, analysis=QUICK_ANALYSIS)
    fleet.links()

    # when traffic runs, nobody clicking
    with Traffic(fleet.lam, fleet.names, rate=40):
        ended = fleet.wait(execution)

    # then the analysis rolled every alias back, and the execution's cause says so with the figures
    assert ended["status"] == "FAILED" and ended["error"] == "Canary.RolledBack"
    assert ended["cause"].startswith("Rolled back by canary analysis")
    assert "higher at 99% confidence" in ended["cause"]
    assert fleet.aliases() == {name: ("1", {}) for name in fleet.names}

    # and the trail holds the decision with its figures; Slack was told the verdict and the outcome
    decision = fleet.item()["decision"]
    assert (decision["action"], decision["decided_by"]) == ("rollback", "canary analysis")
    assert re.search(r"errors \d+\.\d% of \d+ vs 0% of \d+: higher at 99% confidence", decision["reason"])
    texts = [message["text"] for message in fleet.messages()]
    assert any(text.startswith("Canary analysis of") and "unhealthy" in text for text in texts)
    assert any(text.startswith("Rolled back") and "canary analysis" in text for text in texts)


def test_both_versions_failing_alike_is_not_blamed_on_the_new_one(make_fleet):
    # given functions whose running version already fails a third of its calls (build 2, promoted before)
    fleet = make_fleet(2, ship=False)
    ship_codes(fleet.lam, fleet.names, 2, failure_share=1 / 3)
    assert fleet.wait(fleet.start(pre_approve=True, analysis={"mode": "off"}))["status"] == "SUCCEEDED"

    # when build 3 fails the same third, and its canary gets traffic with the analysis in rollback mode
    fleet.build_no = 3
    ship_codes(fleet.lam, fleet.names, 3, failure_share=1 / 3)
    execution = fleet.start(weight=0.5, analysis=QUICK_ANALYSIS)
    links = fleet.links()
    with Traffic(fleet.lam, fleet.names, rate=40):
        healthy(fleet)

    # then the new version is not blamed: the canary still waits, its errors compared with the old version's
    rows = fleet.item()["analysis"]["functions"]
    assert all(row["old"]["errors"] > 0 and row["new"]["errors"] > 0 for row in rows)
    assert fleet.sfn.describe_execution(executionArn=execution)["status"] == "RUNNING"
    assert decide(links["approve"]).status_code == 200
    assert fleet.wait(execution)["status"] == "SUCCEEDED"


def test_an_alarm_in_alarm_rolls_back(make_fleet):
    # given an alarm the deployment watches, and a canary waiting for a decision
    cloudwatch = boto3.client("cloudwatch")
    alarm = f"errors-{uuid.uuid4().hex[:8]}"
    put_errors_alarm(cloudwatch, alarm)
    fleet = make_fleet(2)
    execution = fleet.start(alarms=[alarm], analysis={"mode": "off", "interval_seconds": 1})
    fleet.links()

    # when the alarm goes to ALARM (as `aws cloudwatch set-alarm-state` sets it)
    cloudwatch.set_alarm_state(AlarmName=alarm, StateValue="ALARM", StateReason="errors")

    # then the deployment is rolled back, decided by the alarm
    ended = fleet.wait(execution)
    assert ended["status"] == "FAILED" and ended["cause"].startswith(f"Rolled back by alarm {alarm}")
    assert fleet.aliases() == {name: ("1", {}) for name in fleet.names}
    assert fleet.item()["decision"]["decided_by"] == f"alarm {alarm}"


def test_a_schedule_waits_at_manual_gates_and_moves_through_auto_gates_by_itself(make_fleet):
    # given a three-step schedule: a manual gate at 10%, then two auto gates that bake one second each
    fleet = make_fleet(2)
    steps = [
        {"weight": 0.1, "gate": "manual"},
        {"weight": 0.3, "gate": "auto", "bake_seconds": 1},
        {"weight": 0.5, "gate": "auto", "bake_seconds": 1},
    ]
    execution = fleet.start(steps=steps, analysis={**QUICK_ANALYSIS, "min_invocations": 20})
    request = fleet.wait_for_message(1)[0]
    assert "step 1 of 3" in request["text"] and "Approve to move to 30%" in request["text"]

    # when nobody clicks, then the first step waits, traffic or not
    with Traffic(fleet.lam, fleet.names, rate=40):
        healthy(fleet, "a healthy verdict at step 1")
        assert fleet.aliases() == {name: ("1", {"2": 0.1}) for name in fleet.names}

        # when its approve link is clicked
        assert decide(fleet.links()["approve"]).status_code == 200

        # then the schedule moves to 30%, then 50%, each once the analysis says healthy, then promotes
        ended = fleet.wait(execution)
    assert ended["status"] == "SUCCEEDED"
    assert fleet.aliases() == {name: ("2", {}) for name in fleet.names}
    trail = fleet.item()["trail"]
    events = [event["event"] for event in trail]
    assert "step 2 of 3: new version at 30%" in events and "step 3 of 3: new version at 50%" in events
    auto = [e for e in trail if e.get("decided_by") == "canary analysis" and e["event"] == "decision: approve"]
    assert len(auto) == 2


def test_a_stale_link_of_an_earlier_step_decides_nothing_later(make_fleet):
    # given a two-step schedule of manual gates, its first step approved by its link
    fleet = make_fleet(1)
    execution = fleet.start(steps=[{"weight": 0.1}, {"weight": 0.5}], analysis={"mode": "off"})
    first = fleet.links()
    assert decide(first["approve"]).status_code == 200
    wait_until("the second step", lambda: fleet.aliases()[fleet.names[0]] == ("1", {"2": 0.5}))
    second = wait_until("the second request", lambda: [m for m in fleet.messages() if "step 2 of 2" in m["text"]])

    # when the first step's roll-back link is used now
    late = decide(first["rollback"])

    # then it decides nothing: the second step still waits; its own links decide it
    assert late.status_code == 409
    assert fleet.aliases()[fleet.names[0]] == ("1", {"2": 0.5})
    assert set(decision_links(second[0])) == {"approve", "rollback"}  # the last step: no "promote now"
    assert decide(decision_links(second[0])["approve"]).status_code == 200
    assert fleet.wait(execution)["status"] == "SUCCEEDED"


def hook_function(lam: Any, fails: bool) -> str:
    """A hook: a function in the stack's prefix that records what it was given, and fails when asked."""
    name = f"fn-hook-{uuid.uuid4().hex[:8]}"
    body = "raise RuntimeError('smoke test failed: /health answered 500')" if fails else "return {'ok': True}"
    code = package(f"def handler(event, context):\n    print(event)\n    {body}\n")
    lam.create_function(
        FunctionName=name,
        Runtime="python3.12",
        Role=LOCAL_ROLE_ARN,
        Handler="app.handler",
        Code={"ZipFile": code},
    )
    lam.get_waiter("function_active_v2").wait(FunctionName=name, WaiterConfig=WAITER_CONFIG)
    return name


def test_a_failing_before_traffic_hook_leaves_every_alias_untouched(make_fleet):
    # given a before-traffic hook that fails
    fleet = make_fleet(2)
    hook = hook_function(fleet.lam, fails=True)

    # when a deployment runs with it
    ended = fleet.wait(fleet.start(hooks={"before_traffic": hook}))

    # then it ends with nothing moved, the hook's error in the cause and the trail
    assert ended["status"] == "FAILED" and ended["error"] == "Canary.DeploymentFailed"
    assert "smoke test failed" in ended["cause"] and "No alias had moved" in ended["cause"]
    assert fleet.aliases() == {name: ("1", {}) for name in fleet.names}
    hook_events = [e for e in fleet.item()["trail"] if e["event"].startswith("before-traffic hook")]
    assert hook_events and "smoke test failed" in json.dumps(hook_events)


def test_a_failing_after_promote_hook_rolls_the_promotion_back(make_fleet):
    # given an after-promote hook that fails, and a pre-approved deployment
    fleet = make_fleet(2)
    hook = hook_function(fleet.lam, fails=True)

    # when it is promoted
    ended = fleet.wait(fleet.start(pre_approve=True, hooks={"after_promote": hook}))

    # then the promotion was rolled back: every alias on its old version, the hook's error in the cause
    assert ended["status"] == "FAILED"
    assert "smoke test failed" in ended["cause"]
    assert fleet.aliases() == {name: ("1", {}) for name in fleet.names}


def test_a_passing_before_traffic_hook_is_recorded(make_fleet):
    # given a before-traffic hook that passes
    fleet = make_fleet(2)
    hook = hook_function(fleet.lam, fails=False)

    # when a pre-approved deployment runs with it
    ended = fleet.wait(fleet.start(pre_approve=True, hooks={"before_traffic": hook}))

    # then it is promoted, and the trail says the hook passed
    assert ended["status"] == "SUCCEEDED"
    assert any(e["event"] == "before-traffic hook passed" for e in fleet.item()["trail"])
