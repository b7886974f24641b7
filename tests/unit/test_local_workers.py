"""lambda_canary.local.lambda_runner: every function runs in execution environments of its own, as on Lambda
(worker processes: their own variables, module state, temporary directory, path and credentials)."""

from __future__ import annotations

import fcntl
import io
import json
import os
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from lambda_canary.local import iam, lambda_runner, moto_patches
from lambda_canary.local.layer import KEEP_BUILDS, LayerBuildError, build_layer, layer_key

PROBE = """
import json, os, sys, time
from pathlib import Path

calls = 0  # module state: lives as long as the execution environment

def handler(event, context):
    global calls
    calls += 1
    if event.get("raise"):
        raise ValueError(event["raise"])
    if event.get("exit"):
        sys.exit(3)
    if event.get("sleep"):
        time.sleep(event["sleep"])
    if event.get("rendezvous"):  # wait (with a deadline) until `expect` invocations have arrived
        folder = Path(event["rendezvous"])
        (folder / str(os.getpid())).touch()
        deadline = time.monotonic() + 10
        while len(list(folder.iterdir())) < event["expect"] and time.monotonic() < deadline:
            time.sleep(0.02)
    return {
        "variables": dict(os.environ),
        "calls": calls,
        "pid": os.getpid(),
        "tmp": os.environ.get("TMPDIR"),
        "remaining_ms": context.get_remaining_time_in_millis(),
        "request_id": context.aws_request_id,
    }
"""


def _zip(files: dict[str, str]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, source in files.items():
            archive.writestr(name, source)
    return buffer.getvalue()


@pytest.fixture
def lam(monkeypatch):
    """Lambda on moto with every patch applied, without Docker; every worker stopped after the test."""
    for owner, attribute, replacement in moto_patches.PATCHES.values():
        monkeypatch.setattr(owner, attribute, replacement)
    with mock_aws(config={"lambda": {"use_docker": False}}):
        role = boto3.client("iam", region_name="us-east-1").create_role(
            RoleName="workers", AssumeRolePolicyDocument="{}"
        )["Role"]["Arn"]
        client = boto3.client("lambda", region_name="us-east-1")
        client.role_arn = role
        yield client
    lambda_runner.pool.shutdown()
    lambda_runner.pool.configure()
    iam.clear()


def create(lam, name, *, variables=None, files=None, timeout=30):
    lam.create_function(
        FunctionName=name,
        Runtime="python3.12",
        Role=lam.role_arn,
        Handler="app.handler",
        Timeout=timeout,
        Code={"ZipFile": _zip(files or {"app.py": PROBE})},
        Environment={"Variables": variables or {}},
    )


def call(lam, name, event=None):
    response = lam.invoke(FunctionName=name, Payload=json.dumps(event or {}))
    return json.loads(response["Payload"].read()), response.get("FunctionError")


def test_a_variable_set_on_one_function_is_not_seen_by_another(lam, monkeypatch):
    # given two functions, each with a variable of its own, and a variable in the runtime's own process
    create(lam, "orders-api", variables={"ORDERS_ONLY": "orders"})
    create(lam, "payments", variables={"PAYMENTS_ONLY": "payments"})
    monkeypatch.setenv("RUNTIME_PROCESS_ONLY", "leak")

    # when each is invoked
    orders, _ = call(lam, "orders-api")
    payments, _ = call(lam, "payments")

    # then each sees its own variable and Lambda's standard ones, never the other's nor the runtime's
    assert orders["variables"]["ORDERS_ONLY"] == "orders" and "PAYMENTS_ONLY" not in orders["variables"]
    assert payments["variables"]["PAYMENTS_ONLY"] == "payments" and "ORDERS_ONLY" not in payments["variables"]
    for seen in (orders, payments):
        assert "RUNTIME_PROCESS_ONLY" not in seen["variables"]
    assert orders["variables"]["AWS_LAMBDA_FUNCTION_NAME"] == "orders-api"
    assert orders["variables"]["AWS_LAMBDA_FUNCTION_VERSION"] == "$LATEST"
    assert orders["variables"]["AWS_REGION"] == "us-east-1"
    assert orders["variables"]["_HANDLER"] == "app.handler"


def test_module_state_and_tmp_belong_to_one_function_and_last_while_it_stays_warm(lam):
    # given two functions deployed with the same code
    create(lam, "orders-api")
    create(lam, "payments")

    # when one is invoked twice and the other once
    first, _ = call(lam, "orders-api")
    second, _ = call(lam, "orders-api")
    other, _ = call(lam, "payments")

    # then the warm environment kept its module state; the other function started from its own
    assert (first["calls"], second["calls"], other["calls"]) == (1, 2, 1)
    assert first["pid"] == second["pid"] != other["pid"]
    assert first["tmp"] != other["tmp"]


def test_each_function_calls_aws_with_credentials_of_its_own(lam):
    # given two functions
    create(lam, "orders-api")
    create(lam, "payments")

    # when each is invoked
    orders, _ = call(lam, "orders-api")
    payments, _ = call(lam, "payments")

    # then each has its own access key, the one the IAM check knows it by
    assert orders["variables"]["AWS_ACCESS_KEY_ID"] != payments["variables"]["AWS_ACCESS_KEY_ID"]
    assert iam.caller_of(orders["variables"]["AWS_ACCESS_KEY_ID"]) == "orders-api"
    assert orders["variables"]["AWS_ACCESS_KEY_ID"] != os.environ.get("AWS_ACCESS_KEY_ID")


def test_concurrent_invocations_of_one_function_get_environments_of_their_own(lam, tmp_path):
    # given a function whose invocations each wait until two have arrived
    create(lam, "orders-api")
    event = {"rendezvous": str(tmp_path), "expect": 2}

    # when it is invoked twice at the same time
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=2) as pool:
        answers = list(pool.map(lambda _: call(lam, "orders-api", event)[0], range(2)))

    # then two environments ran them, side by side
    assert len({answer["pid"] for answer in answers}) == 2
    assert len(list(tmp_path.iterdir())) == 2


def test_an_exception_a_timeout_and_an_exit_come_back_as_lambdas_errors(lam):
    # given a function with a 1 s timeout
    create(lam, "orders-api", timeout=1)

    # when its handler raises, runs too long, exits
    raised, raised_flag = call(lam, "orders-api", {"raise": "bad order"})
    timed_out, timed_out_flag = call(lam, "orders-api", {"sleep": 5})
    exited, exited_flag = call(lam, "orders-api", {"exit": True})
    after, after_flag = call(lam, "orders-api")

    # then each is Lambda's unhandled error payload, and a fresh environment serves the next call
    assert raised_flag == timed_out_flag == exited_flag == "Unhandled"
    assert (raised["errorType"], raised["errorMessage"]) == ("ValueError", "bad order")
    assert (
        timed_out["errorType"] == "Sandbox.Timedout"
        and "Task timed out after 1.00 seconds" in timed_out["errorMessage"]
    )
    assert exited["errorType"] == "Runtime.ExitError" and "exit status 3" in exited["errorMessage"]
    assert after_flag is None and after["calls"] == 1


def test_a_payload_that_is_not_json_is_refused_before_anything_runs(lam):
    # given a function
    create(lam, "orders-api")

    # when it is invoked with a body that is not JSON
    with pytest.raises(lam.exceptions.InvalidRequestContentException) as refused:
        lam.invoke(FunctionName="orders-api", Payload=b"{not json")

    # then Lambda's InvalidRequestContentException comes back, and no environment was started
    assert "Could not parse request body into json" in str(refused.value)
    assert lambda_runner.pool.running == []


def test_idle_environments_are_stopped(lam):
    # given environments reaped after half a second idle
    lambda_runner.pool.configure(idle_seconds=0.5)
    create(lam, "orders-api")
    call(lam, "orders-api")
    assert [name for name, _ in lambda_runner.pool.running] == ["orders-api"]

    # when nothing invokes it for a while, then its environment is stopped
    deadline = time.monotonic() + 10
    while lambda_runner.pool.running and time.monotonic() < deadline:
        time.sleep(0.1)
    assert lambda_runner.pool.running == []


def test_a_package_the_layer_does_not_install_fails_to_import_even_when_this_process_has_it(lam, tmp_path):
    # given a layer whose module needs jinja2 but which installs nothing (jinja2 is installed in the process
    # that runs the tests), and a function using that layer
    source = tmp_path / "shared"
    source.mkdir()
    (source / "renderer.py").write_text("import jinja2\n")
    # (no requirements.txt: nothing to install, so no pip run)
    layer = build_layer(source, cache=tmp_path / "cache")
    create(lam, "orders-api", files={"app.py": "import renderer\n\ndef handler(event, context):\n    return 1\n"})
    lambda_runner.pool.attach_layers("orders-api", [layer])

    # when the function is invoked
    error, flag = call(lam, "orders-api")

    # then its import fails as it would on Lambda
    assert flag == "Unhandled"
    assert error["errorType"] == "Runtime.ImportModuleError"
    assert error["errorMessage"] == "Unable to import module 'app': No module named 'jinja2'"


def test_a_layers_modules_are_imported_from_the_layer(lam, tmp_path):
    # given a layer with a module, used by a function
    source = tmp_path / "shared"
    source.mkdir()
    (source / "greeting.py").write_text("WORD = 'hello'\n")
    layer = build_layer(source, cache=tmp_path / "cache")
    app = "import greeting\n\ndef handler(event, context):\n    return [greeting.WORD, greeting.__file__]\n"
    create(lam, "orders-api", files={"app.py": app})
    lambda_runner.pool.attach_layers("orders-api", [layer])

    # when the function is invoked
    (word, where), flag = call(lam, "orders-api")

    # then the module came from the layer's python/ directory
    assert flag is None and word == "hello"
    assert Path(where).parent == layer / "python"


def test_a_layer_is_built_once_and_rebuilt_when_its_files_change(tmp_path):
    # given a layer's source
    source = tmp_path / "shared"
    source.mkdir()
    (source / "greeting.py").write_text("WORD = 'hello'\n")

    # when it is built twice, then changed and built again
    first = build_layer(source, cache=tmp_path / "cache")
    again = build_layer(source, cache=tmp_path / "cache")
    (source / "greeting.py").write_text("WORD = 'bye'\n")
    changed = build_layer(source, cache=tmp_path / "cache")

    # then the cache served the second build, and the change made a new one
    assert first == again != changed
    assert layer_key(source) in changed.name
    assert (changed / "python" / "greeting.py").read_text() == "WORD = 'bye'\n"


def test_shutdown_stops_every_environment(lam, tmp_path):
    # given two functions, each with a warm environment
    create(lam, "orders-api")
    create(lam, "payments")
    pids = [call(lam, name)[0]["pid"] for name in ("orders-api", "payments")]

    # when the pool shuts down (the runtime stops)
    lambda_runner.pool.shutdown()

    # then no environment is left, and their processes are gone
    assert lambda_runner.pool.running == []
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


def test_a_layer_whose_requirements_pip_cannot_install_is_refused_naming_the_file(tmp_path):
    # given a layer whose requirements.txt pip cannot read
    source = tmp_path / "shared"
    source.mkdir()
    (source / "requirements.txt").write_text("not a requirement ===\n")

    # when it is built
    with pytest.raises(LayerBuildError) as refused:
        build_layer(source, cache=tmp_path / "cache")

    # then the error names the file and pip's complaint, and nothing half-built is left in the cache
    assert f"building the layer from {source / 'requirements.txt'} failed" in str(refused.value)
    assert "Invalid requirement" in str(refused.value)
    assert list((tmp_path / "cache").iterdir()) == []


def test_a_new_build_of_a_layer_removes_old_builds_nobody_used_for_a_day(tmp_path):
    # given a cache holding five older builds of the layer "core", all last used two days ago but one used
    # an hour ago, and a build of another layer as old
    cache = tmp_path / "cache"
    now = time.time()
    old = [cache / f"core-{n:016x}" for n in range(5)]
    for index, build in enumerate([*old, cache / "other-0000000000000000"]):
        (build / "python").mkdir(parents=True)
        age = 3600 if index == 0 else 2 * 24 * 3600 + index
        os.utime(build, (now - age, now - age))

    # when the layer's files changed and it is built again
    source = tmp_path / "core"
    source.mkdir()
    (source / "module.py").write_text("VALUE = 1\n")
    built = build_layer(source, cache=cache)

    # then the new build and the most recently used older ones stay; the rest, unused for a day, are gone
    assert built.parent == cache and (built / "python" / "module.py").is_file()
    kept = sorted(path.name for path in cache.glob("core-*") if path != built)
    assert kept == sorted(build.name for build in old[: KEEP_BUILDS - 1])
    assert (cache / "other-0000000000000000").is_dir()  # another layer's builds are its own


def test_an_old_build_a_running_local_runtime_holds_stays_and_another_layers_builds_are_its_own(tmp_path):
    # given the cache holding four builds of "core" unused for two days, the oldest held by a running local
    # runtime (a shared lock on its in-use file), and an older build of the layer "core-extra"
    cache = tmp_path / "cache"
    now = time.time()
    builds = [cache / f"core-{n:016x}" for n in range(4)]
    held = None
    for index, build in enumerate([*builds, cache / "core-extra-0000000000000000"]):
        (build / "python").mkdir(parents=True)
        if index == 3:
            held = os.open(build / ".in-use", os.O_RDONLY | os.O_CREAT)
            fcntl.flock(held, fcntl.LOCK_SH)
        age = 2 * 24 * 3600 + index * 60
        os.utime(build, (now - age, now - age))

    # when a new build of "core" is made
    source = tmp_path / "core"
    source.mkdir()
    (source / "module.py").write_text("VALUE = 2\n")
    built = build_layer(source, cache=cache)

    # then the held build stays with the newest ones; only the unheld old one beyond them goes
    try:
        assert built.is_dir() and builds[3].is_dir()
        assert [build.is_dir() for build in builds] == [True, True, False, True]
        assert (cache / "core-extra-0000000000000000").is_dir()
    finally:
        os.close(held)


def test_a_worker_ends_when_its_runtime_is_gone_even_in_the_middle_of_a_handler(tmp_path):
    # given a runtime process (a stand-in) that starts a worker, hands it a request whose handler sleeps for a
    # minute, prints the worker's pid, and dies without stopping it
    code = tmp_path / "code"
    code.mkdir()
    (code / "app.py").write_text("import time\n\ndef handler(event, context):\n    time.sleep(60)\n")
    request = {"payload": "{}", "remaining_ms": 60000, "context": {
        "function_name": "f", "function_version": "$LATEST", "invoked_function_arn": "arn", "memory_limit_in_mb": 128,
        "aws_request_id": "r", "log_group_name": "g", "log_stream_name": "s"}}  # fmt: skip
    runtime = (
        "import json, os, subprocess, sys\n"
        "read, write = os.pipe()\n"
        f"worker = subprocess.Popen([sys.executable, '-I', '-S', {str(lambda_runner.WORKER_SCRIPT)!r}, str(write), "
        f"str(os.getpid()), {str(code)!r}, 'app.handler'], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, "
        "stderr=subprocess.DEVNULL, "
        "pass_fds=(write,), start_new_session=True)\n"
        f"worker.stdin.write(json.dumps({request!r}).encode() + b'\\n'); worker.stdin.flush()\n"
        "print(worker.pid, flush=True)\n"
        "os._exit(0)\n"
    )
    started = subprocess.run([sys.executable, "-c", runtime], capture_output=True, text=True, timeout=30, check=True)
    pid = int(started.stdout)

    # when its runtime is gone, then the worker ends within seconds, not after its handler's minute
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and Path(f"/proc/{pid}").exists() and "Z" not in _state(pid):
        time.sleep(0.2)
    assert not Path(f"/proc/{pid}").exists() or "Z" in _state(pid), "the orphaned worker is still running"


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return "gone"
