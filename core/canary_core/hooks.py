"""Traffic hooks: a Lambda function invoked with the deployment before any weight moves (before_traffic) and
after promotion (after_promote), as CodeDeploy's BeforeAllowTraffic / AfterAllowTraffic hooks.

A hook succeeds when its invocation returns without a FunctionError; anything else (the function raised or
timed out, Lambda refused the call) is a failure, with the error's type and its message capped so that it
fits in the trail and an execution's cause.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from canary_core.errors import AfterPromoteHookFailed, BeforeTrafficHookFailed, InvalidInput
from canary_core.model import Deployment, Hooks
from canary_core.trail import DeploymentsTable

MAX_PAYLOAD_BYTES = 6 * 1024 * 1024  # Lambda's limit for a synchronous invocation's request
MAX_ERROR_CHARS = 1_000  # of a hook's error message, kept in the trail and the cause
# A hook runs once: no retry that could run it again after a read timeout (botocore's standard retries resend
# a request whose answer did not come in time), and a read timeout above Lambda's 15-minute maximum.
HOOK_CLIENT_CONFIG = Config(read_timeout=910, connect_timeout=10, retries={"mode": "standard", "max_attempts": 1})


@dataclass(frozen=True)
class HookResult:
    function: str
    ok: bool
    error_type: str | None = None  # the function's errorType, or the code Lambda answered with
    error_message: str | None = None  # capped at MAX_ERROR_CHARS

    @property
    def error(self) -> str | None:
        """ "<type>: <message>" for a failure, as the trail and the cause say it."""
        return None if self.ok else f"{self.error_type}: {self.error_message}"


def hook_payload(deployment: Deployment, hook: str | None = None) -> dict[str, Any]:
    """What a hook is invoked with: the deployment and each function's versions (new_version None before it is
    published). About 300 bytes a function: 1,000 functions of 64-character names are about 0.3 MB, far below
    Lambda's 6 MB (run_hook refuses a larger payload rather than sending it)."""
    payload: dict[str, Any] = {
        "repository": deployment.repository,
        "build_no": deployment.build_no,
        "build_url": deployment.build_url,
        "alias": deployment.alias,
        "execution_arn": deployment.execution_arn,
        "functions": [
            {
                "name": target.name,
                "function_arn": target.function_arn,
                "old_version": target.old_version,
                "new_version": target.new_version,
            }
            for target in deployment.functions
        ],
    }
    if hook is not None:
        payload["hook"] = hook
    return payload


def run_hook(lambda_client: Any, function: str, payload: dict[str, Any]) -> HookResult:
    """Invoke `function` (RequestResponse) with `payload` and wait for its answer. `lambda_client` should be made
    with HOOK_CLIENT_CONFIG: the hook may run for minutes and must not be run twice."""
    body = json.dumps(payload).encode()
    if len(body) > MAX_PAYLOAD_BYTES:
        return _failed(function, "RequestTooLargeException", f"the payload is {len(body)} bytes, above 6 MB")
    try:
        response = lambda_client.invoke(FunctionName=function, InvocationType="RequestResponse", Payload=body)
        answer = response["Payload"].read()
    except ClientError as error:
        return _failed(function, error.response["Error"]["Code"], error.response["Error"].get("Message", str(error)))
    except BotoCoreError as error:  # no answer in time, no connection: the hook's outcome is unknown
        return _failed(function, type(error).__name__, str(error))
    if response.get("FunctionError"):
        try:
            raised = json.loads(answer)
        except ValueError:
            raised = None
        if isinstance(raised, dict):
            return _failed(function, str(raised.get("errorType", "Unhandled")), str(raised.get("errorMessage", "")))
        return _failed(function, str(response["FunctionError"]), answer.decode(errors="replace"))
    return HookResult(function=function, ok=True)


def check_hooks_exist(lambda_client: Any, hooks: Hooks) -> None:
    """InvalidInput naming each hook function that does not exist: found at Validate Input, not after the
    promotion it would then roll back."""
    problems: list[str] = []
    for name, function in (("before_traffic", hooks.before_traffic), ("after_promote", hooks.after_promote)):
        if not function:
            continue
        try:
            lambda_client.get_function(FunctionName=function)
        except ClientError as error:
            if error.response["Error"]["Code"] != "ResourceNotFoundException":
                raise
            problems.append(
                f"hooks.{name}: {function!r} does not exist in this account and region; check the name (the input's "
                "hooks, or the stack's BeforeTrafficHook / AfterPromoteHook parameter)"
            )
    if problems:
        raise InvalidInput(problems)


def _failed(function: str, error_type: str, message: str) -> HookResult:
    capped = message if len(message) <= MAX_ERROR_CHARS else message[: MAX_ERROR_CHARS - 1] + "…"
    return HookResult(function=function, ok=False, error_type=error_type[:200], error_message=capped)


def before_traffic(lambda_client: Any, deployment: Deployment, table: DeploymentsTable, now: datetime) -> None:
    """Run the deployment's before-traffic hook (its new versions published, no weight moved yet); raise
    BeforeTrafficHookFailed when it fails. Recorded in the trail either way."""
    _run(lambda_client, deployment, deployment.hooks.before_traffic, "before-traffic", table, now)


def after_promote(lambda_client: Any, deployment: Deployment, table: DeploymentsTable, now: datetime) -> None:
    """Run the deployment's after-promote hook (every alias on the new version); raise AfterPromoteHookFailed
    when it fails, for the state machine to roll the promotion back. Recorded in the trail either way."""
    _run(lambda_client, deployment, deployment.hooks.after_promote, "after-promote", table, now)


def _run(
    lambda_client: Any,
    deployment: Deployment,
    function: str | None,
    kind: str,
    table: DeploymentsTable,
    now: datetime,
) -> None:
    if not function:
        return
    result = run_hook(lambda_client, function, hook_payload(deployment, kind.replace("-", "_")))
    if result.ok:
        table.note(deployment.repository, deployment.build_no, now, f"{kind} hook passed", function=function)
        return
    table.note(
        deployment.repository, deployment.build_no, now, f"{kind} hook failed", function=function, error=result.error
    )
    failure = BeforeTrafficHookFailed if kind == "before-traffic" else AfterPromoteHookFailed
    raise failure(f"the {kind} hook {function} failed: {result.error}")
