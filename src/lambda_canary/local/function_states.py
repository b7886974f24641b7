"""Lambda function states on the local runtime, as AWS reports them.

On AWS a function is `Pending` for a moment after CreateFunction; after UpdateFunctionCode or
UpdateFunctionConfiguration its `LastUpdateStatus` is `InProgress` until the update finishes, then
`Successful` (or `Failed`, with a reason); a published version can be `Pending` before it takes traffic
(SnapStart, provisioned concurrency). While a function is Pending or its update InProgress, Lambda refuses
PublishVersion and further updates with ResourceConflictException, and refuses to invoke a Pending function.
moto reports `Active` / `Successful` at once; moto_patches asks this module instead.

`configure(seconds)` sets how long creates and updates take (0: at once, as moto). Tests make the next update
of a function end `Failed` (`fail_next_update`) or the versions published of a function stay `Pending`
(`hold_versions_pending`).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from moto.awslambda.exceptions import LambdaClientError

from lambda_canary.local.names import function_name_and_qualifier

LATEST = "$LATEST"


class ResourceConflict(LambdaClientError):
    """What AWS answers to an operation on a function that is still being created or updated."""

    code = 409

    def __init__(self, message: str) -> None:
        super().__init__("ResourceConflictException", message)


@dataclass(frozen=True)
class Status:
    """The state fields of one function version, as GetFunction(Configuration) returns them."""

    state: str = "Active"
    state_reason: str | None = None
    state_reason_code: str | None = None
    last_update_status: str = "Successful"
    last_update_reason: str | None = None
    last_update_reason_code: str | None = None

    def fields(self) -> dict[str, str]:
        values = {
            "State": self.state,
            "StateReason": self.state_reason,
            "StateReasonCode": self.state_reason_code,
            "LastUpdateStatus": self.last_update_status,
            "LastUpdateStatusReason": self.last_update_reason,
            "LastUpdateStatusReasonCode": self.last_update_reason_code,
        }
        return {key: value for key, value in values.items() if value is not None}


@dataclass
class _Change:
    kind: str  # "create" | "update" | "publish"
    until: float  # time.monotonic() when it ends
    failure: tuple[str, str] | None = None  # (reason, code) an update ends with, when it fails


_lock = threading.Lock()
_seconds = 0.0
_changes: dict[tuple[str, str], _Change] = {}  # (function name, version) -> its last create/update/publish
_failing: dict[str, tuple[str, str]] = {}  # function name -> (reason, code) its next update fails with
_held: dict[str, float] = {}  # function name -> seconds each version published of it stays Pending


def configure(seconds: float) -> None:
    """How long a create or an update takes (0: done at once, as moto does)."""
    global _seconds
    with _lock:
        _seconds = max(0.0, seconds)


def clear() -> None:
    with _lock:
        _changes.clear()
        _failing.clear()
        _held.clear()
    configure(0.0)


def fail_next_update(
    function_name: str,
    reason: str = "The function's execution role cannot be assumed by Lambda.",
    code: str = "InvalidConfiguration",
) -> None:
    """The next UpdateFunctionCode/Configuration of the function ends `Failed` with this reason and code."""
    with _lock:
        _failing[function_name_and_qualifier(function_name)[0]] = (reason, code)


def hold_versions_pending(function_name: str, seconds: float) -> None:
    """Each version published of the function from now on stays `Pending` for `seconds`."""
    with _lock:
        _held[function_name_and_qualifier(function_name)[0]] = seconds


def created(function_name: str) -> None:
    with _lock:
        if _seconds:
            _changes[(function_name, LATEST)] = _Change("create", time.monotonic() + _seconds)


def next_update_fails(function_name: str) -> tuple[str, str] | None:
    """(reason, code) the update being made will fail with, if a test asked for that (asked once, used once)."""
    with _lock:
        return _failing.pop(function_name, None)


def updated(function_name: str, failure: tuple[str, str] | None = None) -> None:
    with _lock:
        if _seconds or failure:
            _changes[(function_name, LATEST)] = _Change("update", time.monotonic() + _seconds, failure)


def published(function_name: str, version: str) -> None:
    with _lock:
        held = _held.get(function_name)
        if held:
            _changes[(function_name, version)] = _Change("publish", time.monotonic() + held)


def status(function_name: str, version: str = LATEST) -> Status:
    with _lock:
        change = _changes.get((function_name, str(version)))
    if change is None:
        return Status()
    busy = time.monotonic() < change.until
    if change.kind in ("create", "publish"):
        if busy:
            reason = "The function is being created." if change.kind == "create" else "Lambda is preparing the version."
            return Status(state="Pending", state_reason=reason, state_reason_code="Creating")
        return Status()
    if busy:
        return Status(last_update_status="InProgress", last_update_reason="The function is being updated.",
                      last_update_reason_code="Updating")  # fmt: skip
    if change.failure:
        reason, code = change.failure
        return Status(last_update_status="Failed", last_update_reason=reason, last_update_reason_code=code)
    return Status()


def refuse_while_busy(function_name: str, function_arn: str) -> None:
    """Raise AWS's ResourceConflictException when the function is still being created or updated."""
    current = status(function_name)
    if current.state == "Pending":
        raise ResourceConflict(
            "The operation cannot be performed at this time. The function is currently in the following state: Pending"
        )
    if current.last_update_status == "InProgress":
        raise ResourceConflict(
            f"The operation cannot be performed at this time. An update is in progress for resource: {function_arn}"
        )


def refuse_invoke_while_pending(function_name: str, version: str) -> None:
    """Lambda does not invoke a function, or a version, that is Pending."""
    if status(function_name, version).state == "Pending":
        raise ResourceConflict(
            "The operation cannot be performed at this time. The function is currently in the following state: Pending"
        )
