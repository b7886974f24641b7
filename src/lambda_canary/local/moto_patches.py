"""Every change this project makes to the AWS emulator (moto), in one place.

Each patch covers a gap between moto and AWS that the workflow depends on, and each has a test in
tests/unit/test_moto_gaps.py that shows the gap on unpatched moto, so a moto upgrade tells which patches
are still needed. moto is pinned exactly (pyproject.toml) because these reach into its internals.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from moto.awslambda.models import LambdaBackend
from moto.awslambda_simple.models import LambdaSimpleBackend

from lambda_canary.local import faults, lambda_runner

_ORIGINALS: dict[tuple[type, str], Callable[..., Any]] = {
    (LambdaSimpleBackend, "invoke"): LambdaSimpleBackend.invoke,
    (LambdaBackend, "update_alias"): LambdaBackend.update_alias,
    (LambdaBackend, "publish_version"): LambdaBackend.publish_version,
}


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


def _update_alias_with_faults(self: LambdaBackend, *args: Any, **kwargs: Any) -> Any:
    """Not a gap: lets tests make one function's UpdateAlias fail as AWS can (see faults.py)."""
    faults.check("UpdateAlias", kwargs["function_name"] if "function_name" in kwargs else args[1])
    return _ORIGINALS[(LambdaBackend, "update_alias")](self, *args, **kwargs)


def _publish_version_with_faults(self: LambdaBackend, *args: Any, **kwargs: Any) -> Any:
    """Not a gap: lets tests make one function's PublishVersion fail as AWS can (see faults.py)."""
    faults.check("PublishVersion", kwargs["function_name"] if "function_name" in kwargs else args[0])
    return _ORIGINALS[(LambdaBackend, "publish_version")](self, *args, **kwargs)


PATCHES = {
    "lambda invoke runs the deployed handler": (LambdaSimpleBackend, "invoke", _invoke_real_handler),
    "fault injection: UpdateAlias": (LambdaBackend, "update_alias", _update_alias_with_faults),
    "fault injection: PublishVersion": (LambdaBackend, "publish_version", _publish_version_with_faults),
}


def apply() -> None:
    for owner, attribute, replacement in PATCHES.values():
        setattr(owner, attribute, replacement)


def remove() -> None:
    for (owner, attribute), original in _ORIGINALS.items():
        setattr(owner, attribute, original)
    faults.clear()
