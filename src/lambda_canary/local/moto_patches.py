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
from lambda_canary.local.quota import quota

_ORIGINALS: dict[tuple[type, str], Callable[..., Any]] = {
    (LambdaSimpleBackend, "invoke"): LambdaSimpleBackend.invoke,
    (LambdaBackend, "update_alias"): LambdaBackend.update_alias,
    (LambdaBackend, "publish_version"): LambdaBackend.publish_version,
    (LambdaBackend, "get_alias"): LambdaBackend.get_alias,
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


def _control_plane(api: str, original: Callable[..., Any], name_argument: int) -> Callable[..., Any]:
    """Not a gap: the simulated request quota (quota.py) and injected faults (faults.py) for one API."""

    def call(self: LambdaBackend, *args: Any, **kwargs: Any) -> Any:
        function_name = kwargs["function_name"] if "function_name" in kwargs else args[name_argument]
        quota.admit(api)
        faults.check(api, function_name)
        return original(self, *args, **kwargs)

    return call


PATCHES = {
    "lambda invoke runs the deployed handler": (LambdaSimpleBackend, "invoke", _invoke_real_handler),
    "control plane: UpdateAlias": (
        LambdaBackend,
        "update_alias",
        _control_plane("UpdateAlias", _ORIGINALS[(LambdaBackend, "update_alias")], 1),
    ),
    "control plane: PublishVersion": (
        LambdaBackend,
        "publish_version",
        _control_plane("PublishVersion", _ORIGINALS[(LambdaBackend, "publish_version")], 0),
    ),
    "control plane: GetAlias": (
        LambdaBackend,
        "get_alias",
        _control_plane("GetAlias", _ORIGINALS[(LambdaBackend, "get_alias")], 1),
    ),
}


def apply() -> None:
    for owner, attribute, replacement in PATCHES.values():
        setattr(owner, attribute, replacement)


def remove() -> None:
    for (owner, attribute), original in _ORIGINALS.items():
        setattr(owner, attribute, original)
    faults.clear()
    quota.configure(rate=None, latency=0.0)
