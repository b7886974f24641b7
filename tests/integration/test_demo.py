"""`canary demo` as a newcomer runs it (`make demo`), deciding by itself with DEMO_AUTO."""

from __future__ import annotations

import re
import subprocess

import pytest

from canary_testing import CANARY, environment_without_aws, free_port

FUNCTIONS = ("orders-api", "payments", "notifications")


def run_demo(auto: str, scenario: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(CANARY), "demo", "--port", str(free_port()), "--approval-port", str(free_port())],
        env={**environment_without_aws(), "DEMO_AUTO": auto, "DEMO_SCENARIO": scenario},
        capture_output=True,
        text=True,
        timeout=120,
    )


def traffic(output: str, part: str) -> dict[str, dict[str, int]]:
    """{function: {version: invocations}} from the traffic lines of one part of the demo's output."""
    lines = re.findall(r"^ +(\S+) +\d+ invocations of live ran (.+)$", part, re.MULTILINE)
    return {name: {v: int(n) for v, n in re.findall(r"v(\d+) x(\d+)", split)} for name, split in lines}


@pytest.mark.parametrize(("auto", "status", "after"), [("approve", "SUCCEEDED", "2"), ("rollback", "FAILED", "1")])
def test_the_demo_decides_by_itself_and_shows_aliases_traffic_and_trail(auto, status, after):
    # when the demo runs with DEMO_AUTO
    demo = run_demo(auto)

    # then it exits 0, and shows the canary splitting traffic, then every alias on one version
    assert demo.returncode == 0, demo.stdout + demo.stderr
    during, _, ended = demo.stdout.partition("\nExecution ")
    assert ended.startswith(status)
    assert all(f"{name:<14} live -> v1 (v2 gets 10%)" in during for name in FUNCTIONS)
    canary = traffic(demo.stdout, during)
    assert set(canary) == set(FUNCTIONS) and all(sum(split.values()) == 100 for split in canary.values())
    assert all(set(split) <= {"1", "2"} for split in canary.values())
    assert sum(split.get("2", 0) for split in canary.values()) > 0  # 300 draws at 10%: all missing is ~1e-14
    assert all(f"{name:<14} live -> v{after}\n" in ended for name in FUNCTIONS)
    assert traffic(demo.stdout, ended) == {name: {after: 20} for name in FUNCTIONS}
    assert f"decision: {auto}" in ended and "decided_by=approval link" in ended


def test_the_faulty_scenario_is_rolled_back_by_the_analysis_with_no_click():
    # when the demo runs a build that fails 30% of its invocations, with traffic and nobody clicking
    demo = run_demo("", "faulty")

    # then it exits 0 after the analysis rolled every alias back, printing the figures that decided it
    assert demo.returncode == 0, demo.stdout + demo.stderr
    during, _, ended = demo.stdout.partition("\nExecution ")
    assert "analysis: unhealthy" in during
    assert ended.startswith("FAILED: Canary.RolledBack")
    assert re.search(r"cause: Rolled back by canary analysis at .*errors \d+\.\d% of \d+ vs 0% of \d+", ended)
    assert all(f"{name:<14} live -> v1\n" in ended for name in FUNCTIONS)
    assert "decision: rollback  (decided_by=canary analysis" in ended


def test_the_steps_scenario_walks_its_schedule():
    # when the demo runs a three-step schedule, its manual gate approved by DEMO_AUTO
    demo = run_demo("approve", "steps")

    # then the weights went 10%, 25%, 50%, the auto gates opened by the analysis, and every alias is promoted
    assert demo.returncode == 0, demo.stdout + demo.stderr
    during, _, ended = demo.stdout.partition("\nExecution ")
    positions = [during.index(f"(v2 gets {share}%)") for share in (10, 25, 50)]
    assert positions == sorted(positions)
    assert ended.startswith("SUCCEEDED")
    assert all(f"{name:<14} live -> v2\n" in ended for name in FUNCTIONS)
    assert ended.count("decision: approve  (decided_by=canary analysis, reason=healthy after 4 s") == 2
    assert "step 3 of 3: new version at 50%" in ended


def test_an_unknown_scenario_is_refused_naming_the_choices():
    # when the demo is asked for a scenario it does not have, then it says which it has, and runs nothing
    demo = run_demo("", "chaos")
    assert demo.returncode == 2
    assert "DEMO_SCENARIO='chaos' is not understood; use one of classic, faulty, steps" in demo.stderr
