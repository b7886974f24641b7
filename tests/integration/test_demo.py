"""`canary demo` as a newcomer runs it (`make demo`), deciding by itself with DEMO_AUTO."""

from __future__ import annotations

import fcntl
import os
import pty
import re
import select
import signal
import subprocess
import termios
import time

import pytest
import requests

from canary_testing import CANARY, environment_without_aws, free_port
from canary_testing.browser import open_and_submit

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
    assert "  canary analysis of the deployment: unhealthy (" in during
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
    positions = [during.index(f"every alias (3 functions): live -> v1 (v2 gets {share}%)") for share in (10, 25, 50)]
    assert positions == sorted(positions)
    assert "  canary analysis of the deployment: healthy (" in during
    assert ended.startswith("SUCCEEDED")
    assert all(f"{name:<14} live -> v2\n" in ended for name in FUNCTIONS)
    assert ended.count("decision: approve  (decided_by=canary analysis, reason=healthy after 4 s") == 2
    assert "step 3 of 3: new version at 50%" in ended


def test_an_unknown_scenario_is_refused_naming_the_choices():
    # when the demo is asked for a scenario it does not have, then it says which it has, and runs nothing
    demo = run_demo("", "chaos")
    assert demo.returncode == 2
    assert "DEMO_SCENARIO='chaos' is not understood; use one of classic, faulty, steps" in demo.stderr


def _take_terminal() -> None:
    """In the demo's process, before it runs: make the pseudo-terminal on stdin its controlling terminal, and
    let Ctrl-C interrupt it as in a shell (a test run in the background may have inherited SIGINT ignored)."""
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)
    signal.signal(signal.SIGINT, signal.SIG_DFL)


class Terminal:
    """`canary demo` in a terminal of its own (a pseudo-terminal), as a person runs it: no DEMO_AUTO."""

    def __init__(self) -> None:
        self.master, follower = pty.openpty()
        self.process = subprocess.Popen(
            [str(CANARY), "demo", "--port", str(free_port()), "--approval-port", str(free_port())],
            stdin=follower,
            stdout=follower,
            stderr=follower,
            env={**environment_without_aws(), "DEMO_AUTO": "", "DEMO_SCENARIO": ""},
            start_new_session=True,
            preexec_fn=_take_terminal,  # the terminal is the demo's own, as in a shell
        )
        os.close(follower)
        self.output = ""

    def wait_for(self, pattern: str, timeout: float) -> re.Match[str]:
        """Read the terminal until `pattern` appears in what the demo printed."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            match = re.search(pattern, self.output)
            if match:
                return match
            ready, _, _ = select.select([self.master], [], [], 0.2)
            if ready:
                try:
                    self.output += os.read(self.master, 65536).decode(errors="replace").replace("\r\n", "\n")
                except OSError:  # the demo exited and closed its end
                    break
        raise AssertionError(f"{pattern!r} not printed after {timeout} s:\n{self.output[-3000:]}")

    def ctrl_c(self) -> int:
        """Type Ctrl-C: the terminal sends SIGINT to every process of the demo's group, as a shell's would.
        Returns the exit code, once everything the demo wrote has been read."""
        os.write(self.master, b"\x03")
        code = self.process.wait(timeout=30)
        self._read_to_end()
        return code

    def _read_to_end(self) -> None:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and select.select([self.master], [], [], 0.2)[0]:
            try:
                chunk = os.read(self.master, 65536)
            except OSError:  # nothing left: the demo closed its end
                return
            if not chunk:
                return
            self.output += chunk.decode(errors="replace").replace("\r\n", "\n")

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=30)
        os.close(self.master)


@pytest.fixture
def terminal():
    demo = Terminal()
    yield demo
    demo.close()


def test_in_a_terminal_the_demo_waits_for_a_click_then_keeps_its_pages_up_until_ctrl_c(terminal):
    # given the demo in a terminal, waiting for a person
    approve = terminal.wait_for(r"Approve: +(\S+)", timeout=120).group(1)
    terminal.wait_for(r"press the button \(Ctrl-C to stop\)", timeout=5)

    # when the person opens the approve link and presses its button
    assert open_and_submit(approve).status_code == 200

    # then the demo reports the promotion and keeps serving the audit page and the deployment's page
    terminal.wait_for(r"Execution SUCCEEDED", timeout=60)
    audit = terminal.wait_for(r"Every deployment: (\S+)", timeout=30).group(1)
    page = terminal.wait_for(r"This one: +(\S+)", timeout=5).group(1)
    assert "/deployments/demo-shop/2?" in page
    audit_page, deployment_page = requests.get(audit, timeout=10), requests.get(page, timeout=10)
    assert audit_page.status_code == 200 and "demo-shop" in audit_page.text
    assert deployment_page.status_code == 200 and "orders-api" in deployment_page.text
    assert terminal.process.poll() is None  # still up after answering

    # and Ctrl-C stops it cleanly, with the demo's result (0: it ended as the person decided)
    assert terminal.ctrl_c() == 0
    terminal.wait_for(r"Stopping the local runtime\.", timeout=5)
    assert "Traceback" not in terminal.output  # its worker processes got the same Ctrl-C, and said nothing
    with pytest.raises(requests.ConnectionError):
        requests.get(audit, timeout=5)


def test_ctrl_c_before_anyone_decides_stops_the_demo_and_says_so(terminal):
    # given the demo in a terminal, waiting for a person
    terminal.wait_for(r"press the button \(Ctrl-C to stop\)", timeout=120)

    # when the person presses Ctrl-C instead of a link
    code = terminal.ctrl_c()

    # then the demo says it stopped before the end and exits 130, as a shell reports an interrupt
    terminal.wait_for(r"Stopped before the deployment ended \(Ctrl-C\)\.", timeout=5)
    assert code == 130
    assert "Traceback" not in terminal.output
