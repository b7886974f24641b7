"""The `canary` command's options, parsed without starting anything."""

from __future__ import annotations

import subprocess
import sys

import pytest

from lambda_canary import cli
from lambda_canary.cli import local as cli_local


@pytest.fixture
def started(monkeypatch):
    """The LocalRuntime `canary local` would run, captured instead of started."""
    runtimes = []
    monkeypatch.setattr(cli_local, "run_local", lambda runtime: runtimes.append(runtime) or 0)
    return runtimes


def test_function_update_seconds_reaches_the_local_runtime(started):
    # when `canary local` is given --function-update-seconds 0.5
    assert cli.main(["local", "--function-update-seconds", "0.5"]) == 0

    # then the runtime's creates and updates take half a second
    (runtime,) = started
    assert runtime.function_update_seconds == 0.5


def test_function_updates_take_two_seconds_unless_told(started):
    # when `canary local` is given no option
    cli.main(["local"])

    # then creates and updates take 2 s, as a short one does on AWS
    assert started[0].function_update_seconds == 2.0


@pytest.mark.parametrize("value", ["-1", "soon", "601"])
def test_a_bad_function_update_seconds_is_refused_naming_the_range(started, capsys, value):
    # when `canary local` is given a value that is not 0 to 600 seconds
    with pytest.raises(SystemExit) as exited:
        cli.main(["local", "--function-update-seconds", value])

    # then it exits with a usage error that names the option and the range, and starts nothing
    assert exited.value.code == 2
    assert f"'--function-update-seconds': {value} is not a number of seconds from 0 to 600" in capsys.readouterr().err
    assert started == []


@pytest.mark.parametrize("command", ["local", "demo"])
def test_local_and_demo_outside_the_project_s_checkout_say_so_in_one_line(started, capsys, monkeypatch, tmp_path,
                                                                          command):  # fmt: skip
    # given the package installed without the project's checkout (no template.yaml, functions/, ... beside it)
    monkeypatch.setattr(cli_local, "PROJECT_ROOT", tmp_path)

    # when `canary local` or `canary demo` runs
    with pytest.raises(SystemExit) as exited:
        cli.main([command])

    # then it exits 2 with one line naming what is missing and where to run it, and starts nothing
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert f"canary {command} needs the lambda-canary project's checkout" in err
    assert "template.yaml, functions, statemachine, core not found in" in err and "run it from a clone" in err
    assert started == []


def python(code: str) -> subprocess.CompletedProcess[str]:
    """`code` in a new interpreter of this environment: what it imports is its own."""
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False)


def test_the_cli_starts_without_the_emulator_or_the_template_parsers():
    # when the `canary` command is loaded, as every command's run loads it
    loaded = python(
        "import sys, lambda_canary.cli\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'moto', 'cfnlint', 'hcl2', 'werkzeug'}))"
    )

    # then neither the emulator (the `local` extra) nor the audit's parsers were imported
    assert loaded.returncode == 0, loaded.stderr
    assert loaded.stdout.strip() == "[]"


@pytest.mark.parametrize("command", ["local", "demo"])
def test_local_and_demo_without_the_local_extra_say_how_to_install_it(command):
    # given an installation without the emulator (pip install lambda-canary, without [local])
    without_moto = "import sys\nsys.modules['moto'] = None\nfrom lambda_canary.cli import main\n"

    # when `canary local` or `canary demo` runs there
    ran = python(without_moto + f"main(['{command}', '--port', '1', '--approval-port', '2'])")

    # then it exits 2 with one line naming the extra, and no traceback
    assert ran.returncode == 2
    assert ran.stderr == (
        f"canary: canary {command} needs the local runtime's packages, which this installation lacks: "
        "pip install 'lambda-canary[local]' (a clone's `make setup` installs them)\n"
    )
