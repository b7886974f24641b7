"""canary_core.hooks: a hook function invoked with the deployment, on the local runtime's Lambda (the code runs)."""

from __future__ import annotations

import io
import json
import zipfile

from canary_core.hooks import MAX_ERROR_CHARS, MAX_PAYLOAD_BYTES, HookResult, hook_payload, run_hook
from canary_core.model import Deployment, FunctionTarget
from lambda_canary.demo import LOCAL_ROLE_ARN

ARN = "arn:aws:lambda:us-east-1:123456789012:function:"


def make_hook(lam, name: str, body: str, timeout: int = 30) -> str:
    """A hook function whose handler runs `body` (the event is `event`); waits until it is Active."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("app.py", "import json, time\ndef handler(event, context):\n    " + body + "\n")
    lam.create_function(
        FunctionName=name,
        Runtime="python3.12",
        Role=LOCAL_ROLE_ARN,
        Handler="app.handler",
        Code={"ZipFile": buffer.getvalue()},
        Timeout=timeout,
    )
    lam.get_waiter("function_active_v2").wait(FunctionName=name, WaiterConfig={"Delay": 0.1, "MaxAttempts": 300})
    return name


def deployment(count: int = 2, name_length: int = 0) -> Deployment:
    functions = tuple(
        FunctionTarget(name=(f"my-app-{i}-" + "x" * name_length)[:64], function_arn=f"{ARN}my-app-{i}", old_version="3")
        for i in range(count)
    )
    functions = tuple(FunctionTarget(f.name, f"{ARN}{f.name}", "3", "4") for f in functions)
    return Deployment(
        repository="my-app",
        build_no=760,
        alias="live",
        weight=0.1,
        pre_approve=False,
        build_url="https://ci.example.com/760",
        approval_timeout_seconds=3600,
        execution_arn="arn:aws:states:us-east-1:123456789012:execution:canary:760",
        functions=functions,
    )


def test_a_hook_that_returns_succeeds_and_receives_the_deployment(lam):
    # given a hook that fails unless it is given every function's old and new version
    body = (
        "assert [(f['name'], f['old_version'], f['new_version']) for f in event['functions']] == "
        "[('my-app-0-', '3', '4'), ('my-app-1-', '3', '4')], event\n"
        "    assert (event['repository'], event['build_no'], event['alias'], event['hook']) == "
        "('my-app', 760, 'live', 'before_traffic'), event\n"
        "    return {'checked': len(event['functions'])}"
    )
    hook = make_hook(lam, "my-app-smoke", body)

    # when it is run with the deployment's payload
    result = run_hook(lam, hook, hook_payload(deployment(), "before_traffic"))

    # then it succeeded
    assert result == HookResult(function="my-app-smoke", ok=True)
    assert result.error is None


def test_a_hook_that_raises_fails_with_its_error_type_and_message(lam):
    # given a hook that raises
    hook = make_hook(lam, "my-app-smoke", "raise RuntimeError('orders endpoint answered 500')")

    # when it is run
    result = run_hook(lam, hook, hook_payload(deployment()))

    # then it failed, naming the function's error
    assert (result.ok, result.error_type) == (False, "RuntimeError")
    assert result.error == "RuntimeError: orders endpoint answered 500"


def test_a_long_error_message_is_capped(lam):
    hook = make_hook(lam, "my-app-smoke", "raise ValueError('x' * 100000)")
    result = run_hook(lam, hook, hook_payload(deployment()))
    assert result.ok is False
    assert len(result.error_message or "") == MAX_ERROR_CHARS


def test_a_hook_that_times_out_fails(lam):
    # given a hook with a one-second timeout that sleeps longer when given a deployment, its environment warm
    # (the local runtime gives a cold start's init ten seconds of its own, as Lambda does)
    hook = make_hook(lam, "my-app-slow", "time.sleep(3 if 'functions' in event else 0)", timeout=1)
    assert "FunctionError" not in lam.invoke(FunctionName=hook, Payload=b"{}")

    # when it is run
    result = run_hook(lam, hook, hook_payload(deployment()))

    # then it failed, as Lambda names a timeout
    assert (result.ok, result.error_type) == (False, "Sandbox.Timedout")


def test_a_hook_that_does_not_exist_fails_with_lambdas_error(lam):
    result = run_hook(lam, "my-app-missing", hook_payload(deployment()))
    assert (result.ok, result.error_type) == (False, "ResourceNotFoundException")


def test_the_payload_of_the_largest_deployment_stays_far_below_lambdas_limit():
    # given a deployment of 1,000 functions with 64-character names
    payload = hook_payload(deployment(count=1000, name_length=64), "after_promote")

    # when it is encoded as run_hook sends it
    size = len(json.dumps(payload).encode())

    # then it is well under 6 MB (a tenth of it)
    assert len(payload["functions"]) == 1000
    assert size < MAX_PAYLOAD_BYTES / 10


def test_a_payload_above_lambdas_limit_is_not_sent():
    class Refuses:
        def invoke(self, **_: object) -> None:
            raise AssertionError("a payload above 6 MB must not be sent")

    result = run_hook(Refuses(), "my-app-smoke", {"blob": "x" * MAX_PAYLOAD_BYTES})
    assert (result.ok, result.error_type) == (False, "RequestTooLargeException")
