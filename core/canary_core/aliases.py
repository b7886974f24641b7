"""The four alias operations of a canary, each over every function of a deployment at once."""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ALL_COMPLETED, Future, ThreadPoolExecutor, wait
from contextvars import copy_context
from dataclasses import dataclass, replace
from typing import Any

from botocore.exceptions import ClientError

from canary_core.errors import AliasChangedOutside, AliasUpdateFailed, ExecutionEnded, FunctionNotReady
from canary_core.fanout import MAX_WORKERS, Pacer, api_rate, fan_out, get_function_rate
from canary_core.model import Deployment, FunctionTarget

# How long publishing waits for CI's updates to finish, and shifting for new versions to be Active
# (an update with a VPC or a SnapStart version can take minutes), well inside Publish And Shift's 900 s timeout.
READY_WAIT_SECONDS = 300.0
POLL_SECONDS = 0.5


@dataclass(frozen=True)
class Waiting:
    """How a step waits for functions to settle: a deadline for the whole step, paced GetFunction polls."""

    deadline: float
    pacer: Pacer
    poll_seconds: float = POLL_SECONDS
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.monotonic

    @classmethod
    def start(cls, seconds: float = READY_WAIT_SECONDS, poll_seconds: float = POLL_SECONDS) -> Waiting:
        return cls(time.monotonic() + seconds, Pacer(get_function_rate()), poll_seconds)


def settled_configuration(
    lambda_client: Any, function_arn: str, waiting: Waiting, qualifier: str | None = None
) -> dict[str, Any]:
    """The configuration of $LATEST (or a version) once it is neither Pending nor updating, as
    `aws lambda wait function-updated` / `function-active-v2` wait for it (GetFunction, its own quota)."""
    arguments = {"FunctionName": function_arn, **({"Qualifier": qualifier} if qualifier else {})}
    while True:
        waiting.pacer.wait()
        configuration: dict[str, Any] = lambda_client.get_function(**arguments)["Configuration"]
        busy = configuration.get("State") == "Pending" or configuration.get("LastUpdateStatus") == "InProgress"
        if not busy:
            return configuration
        if waiting.clock() >= waiting.deadline:
            what = f"version {qualifier}" if qualifier else "$LATEST"
            status = f"State {configuration.get('State')}, LastUpdateStatus {configuration.get('LastUpdateStatus')}"
            raise FunctionNotReady(f"{what} still not ready ({status}) at the step's deadline; start a new execution")
        waiting.sleep(waiting.poll_seconds)


def failed_update(configuration: dict[str, Any]) -> str | None:
    """Why the function's last update failed, when it did (Lambda kept the code and settings from before it)."""
    if configuration.get("LastUpdateStatus") != "Failed":
        return None
    code = configuration.get("LastUpdateStatusReasonCode") or "no reason code"
    return f"{code}: {configuration.get('LastUpdateStatusReason') or 'no reason given'}"


def publish_versions(lambda_client: Any, deployment: Deployment, waiting: Waiting | None = None) -> Deployment:
    """Publish the code CI uploaded as a new version of every function, once its update has finished.

    Lambda refuses to publish while an update is in progress (CI uploads and starts the execution at once),
    so each function's update is waited for, until `waiting`'s deadline; an update that failed is refused.
    Publishing unchanged code gives back the existing version; such a function is left as it is.
    """
    waiting = waiting or Waiting.start()
    publishes = Pacer(api_rate())  # PublishVersion's quota; GetFunction polls are paced apart, by `waiting`

    def publish(target: FunctionTarget) -> FunctionTarget:
        return _publish(lambda_client, deployment, target, waiting, publishes)

    return deployment.with_functions(_run("Publish Versions", publish, deployment, rate=0))


def _publish(
    lambda_client: Any, deployment: Deployment, target: FunctionTarget, waiting: Waiting, publishes: Pacer
) -> FunctionTarget:
    """One function's new version, published once its update has finished (see publish_versions)."""
    arguments = {"FunctionName": target.function_arn, "Description": deployment.title}
    if target.code_sha256:
        arguments["CodeSha256"] = target.code_sha256  # Lambda refuses to publish any other code
    while True:
        failure = failed_update(settled_configuration(lambda_client, target.function_arn, waiting))
        if failure:
            raise FunctionNotReady(
                f"the last update of its code or configuration failed ({failure}); Lambda kept what ran "
                "before it: fix the cause, upload again and start a new execution"
            )
        publishes.wait()
        try:
            version = lambda_client.publish_version(**arguments)["Version"]
        except ClientError as error:
            # another update started since the check: wait for that one too
            if error.response["Error"]["Code"] != "ResourceConflictException" or waiting.clock() >= waiting.deadline:
                raise
            continue
        return replace(target, new_version=version)


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
    """The alias during a step at `weight`. At 0 (an irreversible deployment) it stays as it was: no split,
    and no pin of an alias on $LATEST to the new version before approval."""
    assert target.new_version is not None
    if weight == 0:
        return before(target)
    if target.pinned_from_latest:
        return AliasState(target.new_version)
    return AliasState(target.old_version, ((target.new_version, weight),))


def promoted(target: FunctionTarget) -> AliasState:
    assert target.new_version is not None
    return AliasState(target.new_version)


def any_step(target: FunctionTarget, deployment: Deployment) -> list[AliasState]:
    """The states the deployment's schedule may have left the alias in: the canary at any step's weight."""
    return [canary(target, step.weight) for step in deployment.steps]


StillRunning = Callable[[], bool]  # whether the execution moving the aliases still runs


def shift_traffic(
    lambda_client: Any,
    deployment: Deployment,
    still_running: StillRunning = lambda: True,
    waiting: Waiting | None = None,
) -> Deployment:
    """Send `weight` of each alias's traffic to the new version, once it is Active; the main version stays as it is.

    An alias on $LATEST cannot split traffic (weights need two published versions): it is pinned to the
    new version, and a roll back puts it back on $LATEST. Once `still_running` says the execution ended
    (stopped: Clean Up is putting every alias back), no further alias is moved.
    """

    ready = waiting or Waiting.start()

    def shift(target: FunctionTarget) -> FunctionTarget:
        return _shift(lambda_client, deployment, target, still_running, ready)

    _run("Shift Traffic", shift, deployment)
    return deployment


def _shift(
    lambda_client: Any, deployment: Deployment, target: FunctionTarget, still_running: StillRunning, ready: Waiting
) -> FunctionTarget:
    """One alias sends `weight` to the new version, once that version is Active (see shift_traffic)."""
    if not target.unchanged:
        _wait_until_active(lambda_client, target, ready)
        _unless_ended(still_running)
        _move(lambda_client, deployment, target, canary(target, deployment.weight), [before(target)])
    return target


Record = Callable[[Deployment, set[int]], None]  # keep the new versions of the functions at these positions


def publish_and_shift(
    lambda_client: Any,
    deployment: Deployment,
    record: Record,
    still_running: StillRunning = lambda: True,
    waiting: Waiting | None = None,
    record_seconds: float = 1.0,
    before_shifting: Callable[[Deployment], None] | None = None,
) -> Deployment:
    """Publish every function's new version and send it `weight` of the alias's traffic, the two overlapping.

    With `before_shifting` (a before-traffic hook), every version is published first, then it is called with
    the published deployment, and no alias moves unless it returns.

    PublishVersion and GetAlias / UpdateAlias each have a quota of their own: while the first aliases move,
    the next versions are being published, so N functions take about N/15 s rather than N/15 twice. No alias
    moves to a version before `record` has kept it (every `record_seconds`, for what was published since):
    a roll back, or Clean Up after a stopped execution, knows every version traffic may have reached.
    """
    waiting = waiting or Waiting.start()
    publishes, shifts = Pacer(api_rate()), Pacer(api_rate())
    targets = list(deployment.functions)
    failures: dict[str, str] = {}

    def publish(target: FunctionTarget) -> FunctionTarget:
        _unless_ended(still_running)  # a stopped execution publishes nothing more either
        return _publish(lambda_client, deployment, target, waiting, publishes)

    def shift(target: FunctionTarget) -> FunctionTarget:
        shifts.wait()
        return _shift(lambda_client, deployment, target, still_running, waiting)

    with ThreadPoolExecutor(MAX_WORKERS) as publishers, ThreadPoolExecutor(MAX_WORKERS) as shifters:
        published = {publishers.submit(copy_context().run, publish, target): i for i, target in enumerate(targets)}
        shifting: list[tuple[Future[FunctionTarget], FunctionTarget]] = []
        held: list[int] = []  # published and recorded, not shifting yet

        def shift_held() -> None:
            for position in held:
                future = shifters.submit(copy_context().run, shift, targets[position])
                shifting.append((future, targets[position]))
            held.clear()

        while published:
            done, _ = wait(published, timeout=record_seconds, return_when=ALL_COMPLETED)
            recorded: set[int] = set()
            for future in done:
                position = published.pop(future)
                try:
                    targets[position] = future.result()
                    recorded.add(position)
                except Exception as error:  # noqa: BLE001 - reported per function, as _run does
                    failures[targets[position].name] = _reason(error)
            if recorded:
                deployment = deployment.with_functions(targets)
                record(deployment, recorded)
                held.extend(sorted(recorded))
                if before_shifting is None:
                    shift_held()
        if before_shifting is not None and not failures:
            before_shifting(deployment)  # raises to stop: nothing has moved
            shift_held()
        for future, target in shifting:
            try:
                future.result()
            except Exception as error:  # noqa: BLE001 - reported per function
                failures[target.name] = _reason(error)
    if failures:
        raise AliasUpdateFailed("Publish And Shift", failures)
    return deployment


def _wait_until_active(lambda_client: Any, target: FunctionTarget, waiting: Waiting) -> None:
    """Lambda sends no traffic to a version that is not Active (a SnapStart or provisioned version is Pending
    for a while): shift only to an Active one."""
    assert target.new_version is not None
    configuration = settled_configuration(lambda_client, target.function_arn, waiting, target.new_version)
    if configuration.get("State") != "Active":
        reason = configuration.get("StateReason") or "no reason given"
        raise FunctionNotReady(
            f"version {target.new_version} is {configuration.get('State')} ({reason}), not Active: no traffic "
            "was sent to it"
        )


def move_to_step(
    lambda_client: Any, deployment: Deployment, step: int, still_running: StillRunning = lambda: True
) -> Deployment:
    """Every new version gets step `step`'s weight (from the step before it; a retried call finds it done)."""
    previous, weight = deployment.steps[step - 1].weight, deployment.steps[step].weight

    def to_step(target: FunctionTarget) -> FunctionTarget:
        if not target.unchanged:
            _unless_ended(still_running)
            _move(lambda_client, deployment, target, canary(target, weight), [canary(target, previous)])
        return target

    _run("Next Step", to_step, deployment, rate=api_rate())
    return deployment


def promote(lambda_client: Any, deployment: Deployment, still_running: StillRunning = lambda: True) -> Deployment:
    """Every alias runs the new version alone (none more once `still_running` says the execution ended)."""

    def to_new(target: FunctionTarget) -> FunctionTarget:
        if not target.unchanged:
            _unless_ended(still_running)
            _move(lambda_client, deployment, target, promoted(target), any_step(target, deployment))
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
        moved_from = [] if target.new_version is None else [*any_step(target, deployment), promoted(target)]
        try:
            _move(lambda_client, deployment, target, before(target), moved_from)
        except AliasChangedOutside as changed:
            changed_outside[target.name] = str(changed)
        return target

    _run("Roll Back", to_old, deployment)
    return deployment, changed_outside


def revert(lambda_client: Any, deployment: Deployment) -> dict[str, str]:
    """Every alias of a promoted deployment back from its new version to the version it ran before.

    Only an alias that still runs the new version alone is moved (compare-and-set); one already back is
    left as it is; any other (promoted again since, or changed by hand) is refused. Returns {function: why
    it was not moved}, for those refused or failed: one function's failure never stops the others.
    """
    refused: dict[str, str] = {}

    def to_old(target: FunctionTarget) -> FunctionTarget:
        if not target.unchanged and target.new_version is not None:
            try:
                _move(lambda_client, deployment, target, before(target), [promoted(target)])
            except Exception as error:  # noqa: BLE001 - reported per function
                refused[target.name] = _reason(error)
        return target

    fan_out(to_old, deployment.functions, label="Revert")
    return refused


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


def _run(operation: str, call: Any, deployment: Deployment, rate: float | None = None) -> list[FunctionTarget]:
    results = fan_out(call, deployment.functions, label=operation, rate=rate)
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
    known = AliasChangedOutside | ExecutionEnded | FunctionNotReady
    return str(error) if isinstance(error, known) else f"{type(error).__name__}: {error}"
