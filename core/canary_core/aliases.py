"""The four alias operations of a canary, each over every function of a deployment at once."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from botocore.exceptions import ClientError

from canary_core.errors import AliasChangedOutside, AliasUpdateFailed, ExecutionEnded
from canary_core.fanout import fan_out
from canary_core.model import Deployment, FunctionTarget


def publish_versions(lambda_client: Any, deployment: Deployment) -> Deployment:
    """Publish the code CI uploaded as a new version of every function.

    Publishing unchanged code gives back the existing version; such a function is left as it is.
    """

    def publish(target: FunctionTarget) -> FunctionTarget:
        arguments = {"FunctionName": target.function_arn, "Description": deployment.title}
        if target.code_sha256:
            arguments["CodeSha256"] = target.code_sha256  # Lambda refuses to publish any other code
        version = lambda_client.publish_version(**arguments)["Version"]
        return replace(target, new_version=version)

    return deployment.with_functions(_run("Publish Versions", publish, deployment))


@dataclass(frozen=True)
class AliasState:
    """What an alias serves: its main version and the weights of additional versions."""

    version: str
    weights: tuple[tuple[str, float], ...] = ()

    @classmethod
    def of(cls, alias: dict[str, Any]) -> AliasState:
        weights = (alias.get("RoutingConfig") or {}).get("AdditionalVersionWeights") or {}
        return cls(alias["FunctionVersion"], tuple(sorted((v, float(w)) for v, w in weights.items())))

    def describe(self) -> str:
        split = ", ".join(f"v{v} at {w:.0%}" for v, w in self.weights)
        return f"v{self.version}" + (f" with {split}" if split else "")


def before(target: FunctionTarget) -> AliasState:
    return AliasState(target.old_version)


def canary(target: FunctionTarget, weight: float) -> AliasState:
    assert target.new_version is not None
    if target.pinned_from_latest:
        return AliasState(target.new_version)
    return AliasState(target.old_version, ((target.new_version, weight),))


def promoted(target: FunctionTarget) -> AliasState:
    assert target.new_version is not None
    return AliasState(target.new_version)


StillRunning = Callable[[], bool]  # whether the execution moving the aliases still runs


def shift_traffic(lambda_client: Any, deployment: Deployment, still_running: StillRunning = lambda: True) -> Deployment:
    """Send `weight` of each alias's traffic to the new version; the main version stays as it is.

    An alias on $LATEST cannot split traffic (weights need two published versions): it is pinned to the
    new version, and a roll back puts it back on $LATEST. Once `still_running` says the execution ended
    (stopped: Clean Up is putting every alias back), no further alias is moved.
    """

    def shift(target: FunctionTarget) -> FunctionTarget:
        if not target.unchanged:
            _unless_ended(still_running)
            _move(lambda_client, deployment, target, canary(target, deployment.weight), [before(target)])
        return target

    _run("Shift Traffic", shift, deployment)
    return deployment


def promote(lambda_client: Any, deployment: Deployment, still_running: StillRunning = lambda: True) -> Deployment:
    """Every alias runs the new version alone (none more once `still_running` says the execution ended)."""

    def to_new(target: FunctionTarget) -> FunctionTarget:
        if not target.unchanged:
            _unless_ended(still_running)
            _move(lambda_client, deployment, target, promoted(target), [canary(target, deployment.weight)])
        return target

    _run("Promote", to_new, deployment)
    return deployment


def roll_back(lambda_client: Any, deployment: Deployment) -> tuple[Deployment, dict[str, str]]:
    """Every alias runs the version it ran before the deployment alone.

    Safe to repeat and at any point of the workflow. An alias found in a state this deployment never set
    was changed outside the workflow: it is left as it is and reported, {function: what changed}.
    """
    changed_outside: dict[str, str] = {}

    def to_old(target: FunctionTarget) -> FunctionTarget:
        moved_from = [] if target.new_version is None else [canary(target, deployment.weight), promoted(target)]
        try:
            _move(lambda_client, deployment, target, before(target), moved_from)
        except AliasChangedOutside as changed:
            changed_outside[target.name] = str(changed)
        return target

    _run("Roll Back", to_old, deployment)
    return deployment, changed_outside


def all_promoted(lambda_client: Any, deployment: Deployment) -> bool:
    """Every alias serves the new version alone (a promote that finished)."""

    def is_promoted(target: FunctionTarget) -> bool:
        if target.new_version is None:
            return False
        if target.unchanged:
            return True
        alias = lambda_client.get_alias(FunctionName=target.function_arn, Name=deployment.alias)
        return AliasState.of(alias) == promoted(target)

    return all(result is True for result in fan_out(is_promoted, deployment.functions))


def _unless_ended(still_running: StillRunning) -> None:
    if not still_running():
        raise ExecutionEnded("not moved: the execution ended (Clean Up puts every alias back)")


def _move(
    lambda_client: Any, deployment: Deployment, target: FunctionTarget, to: AliasState, allowed: list[AliasState]
) -> None:
    """Set the alias to `to` if it is in one of the `allowed` states (compare-and-set on its RevisionId).

    Already at `to`: nothing to do (a retried step). In any other state: changed outside the workflow.
    """
    alias = lambda_client.get_alias(FunctionName=target.function_arn, Name=deployment.alias)
    current = AliasState.of(alias)
    if current == to:
        return
    if current not in allowed:
        expected = " or ".join(state.describe() for state in [*allowed, to])
        raise AliasChangedOutside(f"changed outside the workflow: expected {expected}, found {current.describe()}")
    try:
        lambda_client.update_alias(
            FunctionName=target.function_arn,
            Name=deployment.alias,
            FunctionVersion=to.version,
            RoutingConfig={"AdditionalVersionWeights": dict(to.weights)},
            RevisionId=alias["RevisionId"],
        )
    except ClientError as error:
        if error.response["Error"]["Code"] != "PreconditionFailedException":
            raise
        # A retried call whose first attempt went through meets its own new revision: that is success.
        if AliasState.of(lambda_client.get_alias(FunctionName=target.function_arn, Name=deployment.alias)) == to:
            return
        raise AliasChangedOutside(
            f"changed outside the workflow while being updated (was {current.describe()})"
        ) from error


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
    return str(error) if isinstance(error, AliasChangedOutside | ExecutionEnded) else f"{type(error).__name__}: {error}"
