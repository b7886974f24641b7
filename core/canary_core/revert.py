"""Revert: after a promotion, every alias back to the version it ran before that deployment; and the incident
button, every deployment promoted in a recent window reverted, newest first.

The versions come from the functions table (canary_core.targets): old_version is what the alias ran before
the deployment, new_version what it promoted. Only an alias that still runs the new version alone moves
back (compare-and-set on its RevisionId); one that runs anything else (a later deployment promoted it
since, or someone changed it) is refused and named. A function whose lock is held (a canary running, or
another revert) is never touched; the revert holds the locks of the functions it moves while it moves them.
An irreversible deployment (it changed data or schema) is refused unless forced: its code can go back, its
data changes cannot. Every revert is written to the deployment's trail and posted to Slack.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from canary_core import aliases, slack
from canary_core.aliases import AliasState
from canary_core.approval import Channel, reply
from canary_core.fanout import fan_out
from canary_core.limits import first
from canary_core.locks import FunctionLocks, Holder, revert_hold_expired, revert_holder_id
from canary_core.model import PROMOTED, REVERTED, SHIFTING, WAITING, Deployment, FunctionTarget
from canary_core.targets import FunctionsTable
from canary_core.trail import DeploymentsTable
from canary_core.validation import MAX_APPROVAL_TIMEOUT_SECONDS, MAX_STEPS

logger = logging.getLogger(__name__)

# How long before its promotion a deployment may have started: each step of the longest schedule waited its
# whole approval timeout (a deadline per step), plus a day for the work between the waits. The incident
# button looks this far back in start times (the table's index) for promotions inside its window.
LONGEST_DEPLOYMENT = MAX_STEPS * timedelta(seconds=MAX_APPROVAL_TIMEOUT_SECONDS) + timedelta(days=1)


class DeploymentNotFound(LookupError):
    """No deployment of that repository and build number in the trail."""


@dataclass(frozen=True)
class RevertResult:
    """What a revert of one deployment moved (or, on a dry run, would move) and what it refused."""

    repository: str
    build_no: int
    moved: dict[str, str] = field(default_factory=dict)  # function -> "v7 -> v6"
    refused: dict[str, str] = field(default_factory=dict)  # function -> why it was left as it is
    already: tuple[str, ...] = ()  # functions already back on the version they ran before
    refused_deployment: str | None = None  # why nothing was tried (not promoted, irreversible)
    dry_run: bool = False
    forced: bool = False  # an irreversible deployment reverted all the same

    @property
    def title(self) -> str:
        return f"{self.repository} build {self.build_no}"

    @property
    def complete(self) -> bool:
        """Nothing refused: every alias of the deployment is (or would be) back."""
        return self.refused_deployment is None and not self.refused

    def as_dict(self) -> dict[str, Any]:
        return {
            "repository": self.repository,
            "build_no": self.build_no,
            "dry_run": self.dry_run,
            "moved": dict(sorted(self.moved.items())),
            "refused": dict(sorted(self.refused.items())),
            "already": sorted(self.already),
            "refused_deployment": self.refused_deployment,
            "forced": self.forced,
        }


@dataclass(frozen=True)
class RevertSummary:
    """The incident button's results, newest promotion first."""

    since: str  # the window's start (ISO time)
    results: tuple[RevertResult, ...]

    @property
    def complete(self) -> bool:
        return all(result.complete for result in self.results)

    def as_dict(self) -> dict[str, Any]:
        return {
            "since": self.since,
            "deployments": [result.as_dict() for result in self.results],
            "moved": sum(len(result.moved) for result in self.results),
            "refused": sum(len(result.refused) + bool(result.refused_deployment) for result in self.results),
        }


def revert_deployment(
    lambda_client: Any,
    table: DeploymentsTable,
    functions_table: FunctionsTable,
    locks: FunctionLocks,
    repository: str,
    build_no: int,
    decided_by: str,
    now: datetime,
    force: bool = False,
    dry_run: bool = False,
    *,
    channel: Channel | None = None,
    environment: str = "",
    assumed: dict[str, AliasState] | None = None,
) -> RevertResult:
    """Put every alias of a promoted deployment back on the version it ran before it (see the module).

    Raises DeploymentNotFound for a deployment the trail does not hold. A dry run reads, moves nothing and
    writes nothing: its `moved` is what would move. `assumed` ({function ARN: alias state}): what a dry run
    of the incident button takes the aliases to be after the newer deployments it would revert first; a dry
    run adds to it what it would move.
    """
    item = table.get(repository, build_no)
    if item is None:
        raise DeploymentNotFound(
            f"no deployment {repository} build {build_no} in the trail; check the repository and the build "
            "number (`canary history` lists the deployments)"
        )
    result = RevertResult(repository, build_no, dry_run=dry_run)
    status = item.get("status")
    if status not in (PROMOTED, REVERTED):
        why = f"its status is {status}: only a promoted deployment can be reverted"
        if status in (SHIFTING, WAITING):
            why += f"; while it runs, roll it back (`canary rollback {repository} {build_no}`, or its roll-back link)"
        return replace(result, refused_deployment=why)
    if "deployment" not in item:  # recorded before its versions were kept: put its aliases back by hand
        return replace(result, refused_deployment="the trail holds no versions of its functions to go back to")
    deployment = functions_table.load(Deployment.from_state(item["deployment"]))
    if deployment.irreversible and not force:
        why = (
            "irreversible: it changed data or schema, which putting the old code back cannot undo; revert it "
            "with force once the data is known to suit the old code"
        )
        result = replace(result, refused_deployment=why)
        if not dry_run:
            _record(table, deployment, item, result, decided_by, now, channel, environment)
        return result
    result = replace(result, forced=deployment.irreversible)

    movable, refused, already = _plan(lambda_client, deployment, assumed or {})
    # An alias that runs something else may be in another deployment's hands right now: name it
    moved_elsewhere = deployment.with_functions([f for f in deployment.functions if f.name in refused])
    for name, holder in locks.holders(moved_elsewhere).items():
        refused[name] = _locked(holder, now)
    holding = replace(deployment, execution_arn=revert_holder_id(repository, build_no, now)).with_functions(movable)
    if dry_run:
        for name, holder in locks.holders(holding).items():
            refused[name] = _locked(holder, now)
        if assumed is not None:
            assumed.update({f.function_arn: aliases.before(f) for f in movable if f.name not in refused})
        return replace(
            result,
            moved={f.name: _change(f) for f in movable if f.name not in refused},
            refused=refused,
            already=tuple(already),
        )

    while holding.functions:  # each round drops at least one function whose lock is held
        conflicts = locks.acquire(holding, now)
        if not conflicts:
            break
        for name, holder in conflicts.items():
            refused[name] = _locked(holder, now)
        holding = holding.with_functions([f for f in holding.functions if f.name not in conflicts])
    try:
        failed = aliases.revert(lambda_client, holding)
    finally:
        locks.release(holding)
    refused.update(failed)
    result = replace(
        result,
        moved={f.name: _change(f) for f in holding.functions if f.name not in failed},
        refused=refused,
        already=tuple(already),
    )
    if result.moved or result.refused:
        _record(table, deployment, item, result, decided_by, now, channel, environment)
    return result


def revert_since(
    lambda_client: Any,
    table: DeploymentsTable,
    functions_table: FunctionsTable,
    locks: FunctionLocks,
    decided_by: str,
    now: datetime,
    since: timedelta,
    repositories: list[str] | tuple[str, ...] | None = None,
    dry_run: bool = False,
    force: bool = False,
    *,
    channel: Channel | None = None,
    environment: str = "",
) -> RevertSummary:
    """The incident button: every deployment promoted in the last `since` (of `repositories`, or of every
    repository), reverted newest promotion first, so that a function two of them promoted goes back through
    each in turn. A deployment that fails to revert is reported and the others go on."""
    if since <= timedelta(0):
        raise ValueError(f"since: {since} is not a window; pass a positive duration such as 1h")
    start = now - since
    found = table.promoted_since(start.isoformat(), (start - LONGEST_DEPLOYMENT).isoformat())
    wanted = set(repositories or ())
    results = []
    assumed: dict[str, AliasState] = {}  # a dry run: where the newer reverts would have left the aliases
    for entry in found:
        if wanted and entry["repository"] not in wanted:
            continue
        repository, build_no = str(entry["repository"]), int(entry["build_no"])
        try:
            result = revert_deployment(
                lambda_client,
                table,
                functions_table,
                locks,
                repository,
                build_no,
                decided_by,
                now,
                force=force,
                dry_run=dry_run,
                channel=channel,
                environment=environment,
                assumed=assumed if dry_run else None,
            )
        except Exception as error:  # noqa: BLE001 - one deployment's failure must not stop the incident button
            logger.warning("revert of %s build %s failed: %s", repository, build_no, error)
            why = f"failed: {type(error).__name__}: {error}"
            result = RevertResult(repository, build_no, refused_deployment=why, dry_run=dry_run)
        results.append(result)
    return RevertSummary(start.isoformat(), tuple(results))


def _plan(
    lambda_client: Any, deployment: Deployment, assumed: dict[str, AliasState]
) -> tuple[list[FunctionTarget], dict[str, str], list[str]]:
    """(the functions whose alias runs the new version alone, {function: why refused}, functions already back)."""
    changed = [f for f in deployment.functions if f.new_version is not None and not f.unchanged]

    def read(target: FunctionTarget) -> AliasState:
        if target.function_arn in assumed:
            return assumed[target.function_arn]
        return AliasState.of(lambda_client.get_alias(FunctionName=target.function_arn, Name=deployment.alias))

    movable: list[FunctionTarget] = []
    refused: dict[str, str] = {}
    already: list[str] = []
    for target, state in zip(changed, fan_out(read, changed, label="Revert"), strict=True):
        if isinstance(state, BaseException):
            refused[target.name] = f"its alias could not be read: {type(state).__name__}: {state}"
        elif target.pinned_from_latest:  # $LATEST now holds whatever was uploaded last, not the code from before
            refused[target.name] = (
                "its alias ran $LATEST before this deployment (its first): there is no earlier published version "
                "to go back to; left as it is"
            )
        elif state == aliases.before(target):
            already.append(target.name)
        elif state == aliases.promoted(target):
            movable.append(target)
        else:
            refused[target.name] = _runs_else(lambda_client, deployment, target, state)
    return movable, refused, already


def _runs_else(lambda_client: Any, deployment: Deployment, target: FunctionTarget, state: AliasState) -> str:
    """Why an alias that no longer runs what the deployment promoted is left alone, naming who moved it when
    the version says (every version the workflow publishes is described with its deployment's title)."""
    publisher = ""
    try:
        configuration = lambda_client.get_function_configuration(
            FunctionName=target.function_arn, Qualifier=state.version
        )
        description = str(configuration.get("Description") or "")
        if description and description != deployment.title:
            publisher = f", published by {description}"
    except Exception as error:  # noqa: BLE001 - the refusal stands without its publisher's name
        logger.info("no description of %s version %s: %s", target.name, state.version, error)
    return (
        f"its alias runs {state.describe()}{publisher} now, not v{target.new_version} as {deployment.title} "
        "promoted it: a later deployment or a change by hand moved it since; left as it is"
    )


def _locked(holder: Holder, now: datetime) -> str:
    if revert_hold_expired(holder.execution_arn, now) is not None:
        return f"locked: {holder.title} is reverting it; never touched while locked, try again once it ends"
    return (
        f"locked: {holder.title} is deploying it; never touched while locked, try again once it ends (or roll "
        f"it back first: `canary rollback {holder.repository} {holder.build_no}`)"
    )


def _change(target: FunctionTarget) -> str:
    return f"v{target.new_version} -> v{target.old_version}"


def _record(
    table: DeploymentsTable,
    deployment: Deployment,
    item: dict[str, Any],
    result: RevertResult,
    decided_by: str,
    now: datetime,
    channel: Channel | None,
    environment: str,
) -> None:
    """Into the trail (who, what moved, what was refused) and to Slack, in the request's thread if any."""
    refused = dict(result.refused)
    # the first LISTED of each, and how many: a revert of 1,000 functions, repeated, stays within the item's 400 KB
    revert: dict[str, Any] = {
        "decided_by": decided_by,
        "moved": first(result.moved),
        "moved_count": len(result.moved),
        "refused": first(refused),
        "refused_count": len(refused),
        "reason": result.refused_deployment,
        "forced": result.forced or None,
    }
    revert = {key: value for key, value in revert.items() if value is not None}
    table.record_revert(deployment.repository, deployment.build_no, now, revert)
    if channel is not None:
        if result.refused_deployment:
            refused = {"every function": result.refused_deployment}
        message = slack.revert_message(deployment, decided_by, result.moved, refused, environment)
        reply(table, deployment, channel, item.get("slack_message"), message, now)
