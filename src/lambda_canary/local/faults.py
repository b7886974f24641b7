"""Faults the local runtime can inject, to test what happens when AWS fails.

A test arms a fault ("the next UpdateAlias of function X fails", "the next 3 UpdateItem calls on table T
fail"); moto_patches consults `check` before moto carries the call out. The error is the one AWS returns,
so the workflow sees what it would see on AWS.
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
