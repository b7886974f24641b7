"""Opening a deployment: validate it, lock its functions, supersede an older deployment if asked, open its
record. What Validate Input does."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from canary_core import aws
from canary_core.alarms import check_alarms_exist
from canary_core.cleanup import awaits_clean_up
from canary_core.decisions import DecisionNotDelivered, decide
from canary_core.errors import InvalidInput
from canary_core.executions import execution_running
from canary_core.hooks import check_hooks_exist
from canary_core.locks import FunctionLocks, Holder
from canary_core.model import SUPERSEDED_BY, WAITING, Decision, Defaults, Deployment
from canary_core.targets import FunctionsTable
from canary_core.trail import DeploymentsTable
from canary_core.validation import lookup_problems, parse_request, resolve_functions

SUPERSEDE_WAIT_SECONDS = 120
POLL_SECONDS = 1.0


def open_deployment(
    raw_input: Any,
    execution_arn: str,
    defaults: Defaults,
    *,
    lambda_client: Any,
    table: DeploymentsTable,
    functions: FunctionsTable,
    locks: FunctionLocks,
    sfn_client: Any,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
    sleep: Callable[[float], None] = time.sleep,
    wait_seconds: float = SUPERSEDE_WAIT_SECONDS,
    managed_prefix: str = "*",
    cloudwatch_client: Any = None,
) -> Deployment:
    """Validate, lock every function, supersede if asked, and open the deployment's record.

    Raises InvalidInput, holding nothing, for bad input, busy functions, aliases split by something else
    and a build that was already deployed, and for alarms and hooks that do not exist.
    """
    try:
        request = parse_request(raw_input, defaults, managed_prefix)
    except InvalidInput as error:  # every problem at once: the functions' too
        raise InvalidInput(
            [*error.problems, *lookup_problems(lambda_client, raw_input, defaults, managed_prefix)]
        ) from None
    if request.alarms:  # a client of its own unless given one: the alarms are never accepted unchecked
        check_alarms_exist(cloudwatch_client or aws.cloudwatch_client(), request.alarms)
    check_hooks_exist(lambda_client, request.hooks)
    splits: dict[str, str] = {}
    deployment = Deployment(
        repository=request.repository,
        build_no=request.build_no,
        alias=request.alias,
        weight=request.weight,
        pre_approve=request.pre_approve,
        build_url=request.build_url,
        approval_timeout_seconds=request.approval_timeout_seconds,
        on_timeout=request.on_timeout,
        steps=request.steps,
        analysis=request.analysis,
        alarms=request.alarms,
        hooks=request.hooks,
        irreversible=request.irreversible,
        execution_arn=execution_arn,
        functions=tuple(resolve_functions(lambda_client, request, splits=splits)),
    )
    superseded = _lock(deployment, request.supersede, table, locks, sfn_client, now, sleep, wait_seconds)
    try:
        if superseded:  # the older canaries were rolled back: read the aliases as they are now
            deployment = deployment.with_functions(resolve_functions(lambda_client, request))
        elif splits:  # split by something that holds no lock: not this workflow's to undo
            raise InvalidInput(list(splits.values()))
        functions.save(deployment)  # first: whatever later reads the deployment's item finds its functions
        table.open(deployment, now())
    except BaseException:
        locks.release(deployment)
        raise
    return deployment


def _lock(
    deployment: Deployment,
    supersede: bool,
    table: DeploymentsTable,
    locks: FunctionLocks,
    sfn_client: Any,
    now: Callable[[], datetime],
    sleep: Callable[[float], None],
    wait_seconds: float,
) -> bool:
    """Take every function's lock; True if older deployments had to be superseded first."""
    conflicts = _acquire(deployment, locks, sfn_client, table, now)
    if conflicts and not supersede:
        raise InvalidInput(
            [
                f"functions: {name!r} is being deployed by {holder.title} (execution {holder.execution_arn}); "
                'wait for it to end, or start this deployment with "supersede": true to roll that one back first'
                for name, holder in sorted(conflicts.items())
            ]
        )
    superseded = bool(conflicts)
    deadline = time.monotonic() + wait_seconds
    while conflicts:
        for holder in set(conflicts.values()):
            _roll_back_superseded(holder, deployment, table, sfn_client, now())
        if time.monotonic() > deadline:
            busy = ", ".join(sorted({h.title for h in conflicts.values()}))
            raise InvalidInput(
                [f"supersede: {busy} still holds its functions after {wait_seconds:.0f} s; try again when it ends"]
            )
        sleep(POLL_SECONDS)
        conflicts = _acquire(deployment, locks, sfn_client, table, now)
    return superseded


def _acquire(
    deployment: Deployment,
    locks: FunctionLocks,
    sfn_client: Any,
    table: DeploymentsTable,
    now: Callable[[], datetime],
) -> dict[str, Holder]:
    """Acquire; locks left by an execution that no longer runs (it died before it could release them) are
    taken over: nothing can be waiting on them. Unless its aliases may still be split (its ending event not
    handled yet, or its roll back failed): Clean Up or its sweep puts them back, and this deployment is
    refused until then, holding nothing."""
    conflicts = locks.acquire(deployment, now())
    # Only an execution known to have ended gives its locks up: when in doubt, the lock is respected.
    dead = {h.execution_arn for h in conflicts.values() if execution_running(sfn_client, h.execution_arn) is False}
    if not dead:
        return conflicts
    pending = {
        holder.execution_arn
        for holder in conflicts.values()
        if holder.execution_arn in dead
        and awaits_clean_up(table.get(holder.repository, holder.build_no), holder.execution_arn)
    }
    if pending:
        raise InvalidInput(
            [
                f"functions: {name!r} may still carry the canary of {holder.title}, whose execution ended before "
                f"its aliases were put back (execution {holder.execution_arn}); Clean Up puts them back within "
                "minutes (it sweeps every 5 minutes): start this deployment again then"
                for name, holder in sorted(conflicts.items())
                if holder.execution_arn in pending
            ]
        )
    for name, holder in conflicts.items():
        if holder.execution_arn in dead:
            arn = next(f.function_arn for f in deployment.functions if f.name == name)
            locks.take_over(arn, holder.execution_arn)
    return locks.acquire(deployment, now())


def _roll_back_superseded(
    holder: Holder, successor: Deployment, table: DeploymentsTable, sfn_client: Any, now: datetime
) -> None:
    """An older deployment waiting for a decision is rolled back; one still shifting is waited for."""
    item = table.get(holder.repository, holder.build_no)
    if not item or item.get("status") != WAITING or item.get("decision"):
        return
    decision = Decision("rollback", f"{SUPERSEDED_BY}{successor.title}", now.isoformat())
    with contextlib.suppress(DecisionNotDelivered):  # taken back: the next poll tries again
        decide(table, sfn_client, holder.repository, holder.build_no, decision, now)
