"""Every change this project makes to the AWS emulator (moto), in one place.

Each patch covers a gap between moto and AWS that the workflow depends on, and each has a test in
tests/unit/test_moto_gaps.py that shows the gap on unpatched moto, so a moto upgrade tells which patches
are still needed. moto is pinned exactly (pyproject.toml) because these reach into its internals.
"""

from __future__ import annotations

from typing import Any

from moto.awslambda_simple.models import LambdaSimpleBackend

from lambda_canary.local import lambda_runner

_original_invoke = LambdaSimpleBackend.invoke


def _invoke_real_handler(
    self: LambdaSimpleBackend,
    function_name: str,
    qualifier: str | None,
    body: Any,
    headers: Any,
    response_headers: Any,
) -> bytes:
    """Gap 1: without Docker, moto's Lambda echoes the payload instead of running the code."""
    function = self.get_function(function_name, qualifier)
    return lambda_runner.invoke(function, body, response_headers)


PATCHES = {
    "lambda invoke runs the deployed handler": (LambdaSimpleBackend, "invoke", _invoke_real_handler),
}


def apply() -> None:
    for owner, attribute, replacement in PATCHES.values():
        setattr(owner, attribute, replacement)


def remove() -> None:
    LambdaSimpleBackend.invoke = _original_invoke  # type: ignore[method-assign]
