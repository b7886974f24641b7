"""The sweeper: Clean Up for executions whose ending event never came.

EventBridge delivers Step Functions' execution status changes on a best-effort basis: usually once,
sometimes never. Every few minutes (a schedule in template.yaml) the sweeper reads the locks table (one
small item per function a deployment holds, a page at a time), asks Step Functions once per distinct
execution whether it still runs, and cleans up each one that ended exactly as Clean Up would
(`cleanup.clean_up_execution`, one place for that logic). A deployment keeps its locks until its aliases
are put back, so a failed clean-up is found again by the next sweep.

An execution that ended less than `grace_seconds` ago is left to its event for now (Clean Up is probably
at work on it); the next sweep takes it if the event never came.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from canary_core.locks import FunctionLocks, Holder, revert_hold_expired

GONE = "GONE"  # the execution is no longer known to Step Functions (closed executions are kept 90 days)

logger = logging.getLogger(__name__)

# clean(holder, status, settle_seconds) -> Clean Up's result ({"cleaned": bool, ...})
Clean = Callable[[Holder, str, float], dict[str, Any]]


class SweepIncomplete(Exception):
    """Some executions could not be cleaned up: raised after every other one was, so that the invocation
    is retried and, once retries run out, lands on the stack's dead-letter queue."""


def sweep(
    *,
    locks: FunctionLocks,
    sfn_client: Any,
    clean: Clean,
    now: datetime,
    grace_seconds: float,
    settle_seconds: float = 0.0,
) -> dict[str, Any]:
    """Clean up every execution that ended still holding locks. `settle_seconds` is Clean Up's wait for a
    task Lambda of a stopped execution to finish; only what is left of it since the stop is waited."""
    held: dict[str, list[str]] = {}
    holders: dict[str, Holder] = {}
    for function_arn, holder in locks.held().items():
        held.setdefault(holder.execution_arn, []).append(function_arn)
        holders[holder.execution_arn] = holder
    summary: dict[str, Any] = {"executions": len(held), "running": 0, "left_to_event": 0, "cleaned": []}
    failed: dict[str, str] = {}
    for execution_arn, function_arns in sorted(held.items()):
        expired = revert_hold_expired(execution_arn, now)
        if expired is not None:  # a revert's, not an execution's: dropped once its time is over
            if expired:
                for function_arn in function_arns:
                    locks.take_over(function_arn, execution_arn)
                summary["cleaned"].append(execution_arn)
            else:
                summary["running"] += 1
            continue
        try:
            status, age = _ending(sfn_client, execution_arn, now)
        except Exception as error:  # noqa: BLE001 - one execution's status must not stop the sweep
            failed[execution_arn] = f"its status could not be read: {error}"
            continue
        if status == "RUNNING":
            summary["running"] += 1
            continue
        if age is not None and age < grace_seconds:
            summary["left_to_event"] += 1
            continue
        try:
            settle = max(0.0, settle_seconds - age) if age is not None else 0.0
            result = clean(holders[execution_arn], status, settle)
            if not result.get("cleaned"):
                # It never opened its deployment (Validate Input ended between locking and recording): no
                # alias moved, only its locks are left.
                for function_arn in function_arns:
                    locks.take_over(function_arn, execution_arn)
            summary["cleaned"].append(execution_arn)
        except Exception as error:  # noqa: BLE001 - reported below, after every other execution is swept
            failed[execution_arn] = f"{type(error).__name__}: {error}"
    if failed:
        logger.warning("sweep incomplete", extra={"summary": summary, "failed": failed})
        raise SweepIncomplete(
            f"{len(failed)} ended execution(s) still hold locks: "
            + "; ".join(f"{arn}: {reason}" for arn, reason in sorted(failed.items()))
        )
    return summary


def _ending(sfn_client: Any, execution_arn: str, now: datetime) -> tuple[str, float | None]:
    """The execution's status and the seconds since it stopped (None: not known)."""
    try:
        execution = sfn_client.describe_execution(executionArn=execution_arn)
    except ClientError as error:
        if error.response["Error"]["Code"] == "ExecutionDoesNotExist":
            return GONE, None
        raise
    stopped = execution.get("stopDate")
    age = (now - stopped).total_seconds() if isinstance(stopped, datetime) else None
    return str(execution["status"]), age
