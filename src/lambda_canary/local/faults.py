"""Faults the local runtime can inject, to test what happens when AWS fails.

A test arms a fault ("the next UpdateAlias of function X fails", "the next 3 UpdateItem calls on table T
fail"); moto_patches consults `check` before moto carries the call out. The error is the one AWS returns,
so the workflow sees what it would see on AWS. `arm_events` drops or delays the execution status change
events EventBridge delivers (best effort on AWS: usually once, sometimes never).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from moto.awslambda.exceptions import LambdaClientError

from lambda_canary.local.names import function_name_and_qualifier


class InjectedFault(LambdaClientError):
    def __init__(self, code: str, message: str, status: int) -> None:
        super().__init__(code, message)
        self.code = status


@dataclass
class _Fault:
    api: str
    function_name: str
    remaining: int
    skip: int
    code: str
    message: str
    status: int


_lock = threading.Lock()
_armed: list[_Fault] = []


def arm(
    api: str,
    function_name: str,
    *,
    times: int = 1,
    skip: int = 0,
    code: str = "InvalidParameterValueException",
    message: str = "injected fault",
    status: int = 400,
) -> None:
    """The next `times` calls of `api` for `function_name` (a function, or a table for "UpdateItem" and
    "PutItem") fail with `code`, once the first `skip` calls have passed."""
    with _lock:
        _armed.append(_Fault(api, function_name, times, skip, code, message, status))


def armed() -> list[_Fault]:
    """The faults armed so far, with what each has left to do (`remaining`)."""
    with _lock:
        return list(_armed)


def clear() -> None:
    with _lock:
        _armed.clear()
        _event_faults.clear()


def check(api: str, function_name: str) -> None:
    name = function_name_and_qualifier(function_name)[0]
    with _lock:
        for fault in _armed:
            if fault.api == api and fault.function_name == name and fault.remaining > 0:
                if fault.skip > 0:
                    fault.skip -= 1
                    return
                fault.remaining -= 1
                raise InjectedFault(fault.code, fault.message, fault.status)


# --- EventBridge's execution status change events (delivered by events.ExecutionWatcher) ----------------


@dataclass
class _EventFault:
    execution_arn: str | None  # None: every execution
    remaining: int | None  # None: until cleared
    delay: float | None  # None: dropped; else delivered this many seconds late


_event_faults: list[_EventFault] = []


def arm_events(execution_arn: str | None = None, *, times: int | None = 1, delay: float | None = None) -> None:
    """The next `times` ending events of `execution_arn` (None: of every execution; times None: all of them
    until `clear`) are dropped, as EventBridge sometimes does, or with `delay`, delivered that many seconds late."""
    with _lock:
        _event_faults.append(_EventFault(execution_arn, times, delay))


def event_delay(execution_arn: str) -> float | None:
    """Seconds to hold the ending event of `execution_arn` back before delivering it; None: drop it."""
    with _lock:
        for fault in _event_faults:
            if fault.execution_arn in (None, execution_arn) and (fault.remaining is None or fault.remaining > 0):
                if fault.remaining is not None:
                    fault.remaining -= 1
                return fault.delay
    return 0.0
