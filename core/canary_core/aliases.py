"""The four alias operations of a canary, each over every function of a deployment at once."""

from __future__ import annotations

from typing import Any

from canary_core.errors import AliasUpdateFailed
from canary_core.fanout import fan_out
from canary_core.model import Deployment, FunctionTarget

NO_WEIGHTS: dict[str, Any] = {"AdditionalVersionWeights": {}}


def publish_versions(lambda_client: Any, deployment: Deployment) -> Deployment:
    """Publish the code CI uploaded as a new version of every function.

    Publishing unchanged code gives back the existing version; such a function is left as it is.
    """

    def publish(target: FunctionTarget) -> FunctionTarget:
        version = lambda_client.publish_version(
            FunctionName=target.function_arn,
            Description=f"{deployment.repository} build {deployment.build_no}",
        )["Version"]
        return FunctionTarget(target.name, target.function_arn, target.old_version, version)

    return deployment.with_functions(_run("Publish Versions", publish, deployment))


def shift_traffic(lambda_client: Any, deployment: Deployment) -> Deployment:
    """Send `weight` of each alias's traffic to the new version; the main version stays as it is.

    An alias on $LATEST cannot split traffic (weights need two published versions): it is pinned to the
    new version, and a roll back puts it back on $LATEST.
    """

    def shift(target: FunctionTarget) -> FunctionTarget:
        if target.unchanged:
            return target
        if target.pinned_from_latest:
            _update(lambda_client, deployment, target, version=target.new_version)
        else:
            weights = {"AdditionalVersionWeights": {target.new_version: deployment.weight}}
            _update(lambda_client, deployment, target, routing=weights)
        return target

    _run("Shift Traffic", shift, deployment)
    return deployment


def promote(lambda_client: Any, deployment: Deployment) -> Deployment:
    """Every alias runs the new version alone."""

    def to_new(target: FunctionTarget) -> FunctionTarget:
        _update(lambda_client, deployment, target, version=target.new_version or target.old_version)
        return target

    _run("Promote", to_new, deployment)
    return deployment


def roll_back(lambda_client: Any, deployment: Deployment) -> Deployment:
    """Every alias runs the version it ran before the deployment alone.

    Safe to repeat and safe at any point of the workflow: it only ever writes the recorded old state.
    """

    def to_old(target: FunctionTarget) -> FunctionTarget:
        _update(lambda_client, deployment, target, version=target.old_version)
        return target

    _run("Roll Back", to_old, deployment)
    return deployment


def _update(
    lambda_client: Any,
    deployment: Deployment,
    target: FunctionTarget,
    *,
    version: str | None = None,
    routing: dict[str, Any] | None = None,
) -> None:
    arguments: dict[str, Any] = {
        "FunctionName": target.function_arn,
        "Name": deployment.alias,
        "RoutingConfig": NO_WEIGHTS if routing is None else routing,
    }
    if version is not None:
        arguments["FunctionVersion"] = version
    lambda_client.update_alias(**arguments)


def _run(operation: str, call: Any, deployment: Deployment) -> list[FunctionTarget]:
    results = fan_out(call, deployment.functions, label=operation)
    failures = {
        target.name: _reason(result)
        for target, result in zip(deployment.functions, results, strict=True)
        if isinstance(result, BaseException)
    }
    if failures:
        raise AliasUpdateFailed(operation, failures)
    return [r for r in results if isinstance(r, FunctionTarget)]


def _reason(error: BaseException) -> str:
    response = getattr(error, "response", None)
    if isinstance(response, dict) and "Error" in response:
        return f"{response['Error'].get('Code')}: {response['Error'].get('Message')}"
    return f"{type(error).__name__}: {error}"
