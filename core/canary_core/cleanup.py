"""Clean Up: when an execution ends outside the workflow's own paths (stopped from the console, timed
out, a failure in its last step), put its aliases back, record the ending and release its locks.

On AWS an EventBridge rule on the state machine's execution status changes runs it; it is safe for every
ending (a deployment that already recorded its outcome only has its locks released, if any are left). When
the workflow's own roll back gave up (Canary.RollbackFailed: a throttling storm, say), Clean Up tries it
again; if it fails again it raises, so that Lambda's retries of the event try once more, minutes later.
EventBridge may also never deliver the event: the sweeper (sweep.py) runs the same clean-up for every
execution that ended still holding locks, and a deployment keeps its locks until its aliases are put back.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from canary_core import aliases
from canary_core.errors import AliasUpdateFailed
from canary_core.limits import listing
from canary_core.locks import FunctionLocks, Holder
from canary_core.model import FAILED, PROMOTED, REVERTED, ROLLED_BACK, Deployment
from canary_core.outcome import FAILED_ERROR, ROLLBACK_FAILED_ERROR, aliases_may_be_split
from canary_core.targets import FunctionsTable
from canary_core.trail import DeploymentsTable, function_count

FINAL = (PROMOTED, ROLLED_BACK, FAILED, REVERTED)  # REVERTED: promoted, then reverted (canary_core.revert)


@dataclass(frozen=True)
class CleanUpResources:
    """What a clean-up works with, the same for the ending event's and the sweep's: the stack's tables, locks
    and Lambda, who is told of an outcome, the clock; how long a last task may take to settle (and how to
    wait for it), and what prunes old versions once the deployment is over."""

    table: DeploymentsTable
    functions: FunctionsTable
    locks: FunctionLocks
    lambda_client: Any
    notify: Callable[[Deployment, dict[str, Any]], None]
    now: datetime
    settle_seconds: float = 0.0
    sleep: Callable[[float], None] = time.sleep
    prune: Callable[[Deployment], object] | None = None


def clean_up(
    detail: dict[str, Any], resources: CleanUpResources, rejected: Callable[[str, str], None] | None = None
) -> dict[str, Any]:
    """`detail`: the detail of a "Step Functions Execution Status Change" event. `rejected(title, execution_arn)`
    is told of an execution that failed without opening a deployment (its input refused, or Validate Input
    failed): nobody else is, once the CI job that started it has left."""
    execution_arn, status = detail["executionArn"], detail["status"]
    tell = rejected if status == "FAILED" and rejected is not None else None
    try:
        request = json.loads(detail.get("input") or "{}")
        repository, build_no = str(request["repository"]), int(request["build_no"])
    except (ValueError, KeyError, TypeError):
        unnamed: dict[str, Any] = {"cleaned": False, "reason": "the execution's input names no deployment"}
        if tell is not None:
            tell(f"execution {str(detail.get('name') or execution_arn.rsplit(':', 1)[-1])[:80]}", execution_arn)
            unnamed["told"] = True
        return unnamed
    result = clean_up_execution(execution_arn, status, repository, build_no, resources)
    if not result["cleaned"] and tell is not None:
        tell(f"{repository[:200]} build {build_no}", execution_arn)
        result["told"] = True
    return result


def clean_up_execution(
    execution_arn: str, status: str, repository: str, build_no: int, resources: CleanUpResources
) -> dict[str, Any]:
    """Put back what the ended execution `execution_arn` (of deployment `repository` build `build_no`) left:
    what the event's Clean Up and the sweeper both do. Its locks are kept while an alias may still be split
    (a roll back that failed raises): the sweeper finds them and tries again. Once the deployment has ended
    and its locks are free, the resources' `prune` (prune.prune_after) deletes its functions' old versions."""
    table, functions, locks, lambda_client, notify, now = (
        resources.table,
        resources.functions,
        resources.locks,
        resources.lambda_client,
        resources.notify,
        resources.now,
    )
    item = table.get(repository, build_no)
    if item is None or item.get("execution_arn") != execution_arn:
        return {"cleaned": False, "reason": "this execution opened no deployment (rejected input)"}
    traffic_may_have_moved = "deployment" in item  # saved by Publish And Shift before it moves any alias
    opened = Deployment.from_state(item["deployment"]) if traffic_may_have_moved else _opened(item, execution_arn)
    deployment = functions.load(opened)  # as Validate Input (old versions) and Publish And Shift (new) saved them
    decision = item.get("decision") or {}
    summary = {
        "repository": repository,
        "build_no": build_no,
        "execution_arn": execution_arn,
        "decided_by": decision.get("decided_by"),
        "decided_at": decision.get("decided_at"),
    }
    rolled_back = False
    approved = decision.get("action") == "approve"
    if item.get("status") not in FINAL and approved and aliases.all_promoted(lambda_client, deployment):
        # Promote finished and only the last step failed: the deployment is done, not to be undone.
        outcome = {
            "status": PROMOTED,
            "cause": f"Every alias was promoted; the execution then ended {status} before recording it.",
            "recorded_by": "clean-up",
            "summary": summary,
        }
        table.record_outcome(deployment, outcome, now)
        notify(deployment, outcome)
    elif _roll_back_gave_up(item) and traffic_may_have_moved:
        # Its locks are kept when it fails, but a newer deployment may have taken some of them over since.
        mine, taken = _lock_what_is_free(locks, deployment, now)
        gone: list[str] = []
        try:
            mine, changed_outside = aliases.roll_back(lambda_client, mine)
        except Exception as error:
            if not _only_gone(error):
                # Tried again every sweep until it succeeds: the trail keeps a bounded number of these
                table.note_unless_full(repository, build_no, now, "clean-up roll back failed", reason=str(error))
                raise  # the locks stay: Lambda's retries of the event, or the sweeper, try again
            # Functions (or aliases) deleted since carry no weights: nothing left to put back for them
            gone, changed_outside = sorted(getattr(error, "failures", {})), {}
        left_to_others = _sentences((f"{name} was left to {h.title}." for name, h in sorted(taken.items())), "newer")
        left_to_others += _sentences((f"{name} no longer exists: nothing to put back." for name in gone), "gone")
        outcome = {
            "status": ROLLED_BACK,
            "error": FAILED_ERROR,
            "cause": f"The workflow could not put the aliases back ({item['outcome'].get('cause', '')}); "
            "Clean Up put them back afterwards." + left_to_others + _left_alone(changed_outside),
            "recorded_by": "clean-up",
            "summary": summary,
        }
        table.record_outcome(deployment, outcome, now)
        notify(deployment, outcome)
        rolled_back = True
    elif item.get("status") not in FINAL:
        after = "no alias had moved."
        if traffic_may_have_moved:
            try:
                deployment, changed_outside = _roll_back_settled(
                    lambda_client,
                    deployment,
                    resources.settle_seconds,
                    resources.sleep,
                    reload=lambda: functions.load(opened),
                )
            except Exception as error:
                # Record it and keep the locks: the sweeper finds them and tries again (a next deployment of
                # these functions takes the locks of an ended execution over, and its validation refuses an
                # alias left with weights, naming it, so nothing builds on a half-shifted fleet).
                outcome = {
                    "status": FAILED,
                    "error": ROLLBACK_FAILED_ERROR,
                    "cause": f"The execution ended {status}; putting the aliases back failed: {error}",
                    "summary": summary,
                    "recorded_by": "clean-up",
                }
                table.record_outcome(deployment, outcome, now)
                notify(deployment, outcome)
                raise  # Lambda's retries of the event run Clean Up again: it then retries the roll back
            after = "every alias was put back to the version it ran before." + _left_alone(changed_outside)
            rolled_back = True
        outcome = {
            "status": ROLLED_BACK,
            "error": FAILED_ERROR,
            "cause": f"The execution ended {status} before the deployment did; {after}",
            "recorded_by": "clean-up",
            "summary": summary,
        }
        table.record_outcome(deployment, outcome, now)
        notify(deployment, outcome)
    locks.release(deployment)
    if resources.prune is not None:
        resources.prune(deployment)
    return {"cleaned": True, "rolled_back": rolled_back, "execution_status": status}


def _lock_what_is_free(
    locks: FunctionLocks, deployment: Deployment, now: datetime
) -> tuple[Deployment, dict[str, Holder]]:
    """Lock the deployment's functions again; those another execution holds are left out, with their holder."""
    taken = locks.acquire(deployment, now)  # all or nothing
    if not taken:
        return deployment, {}
    free = deployment.with_functions([f for f in deployment.functions if f.name not in taken])
    if locks.acquire(free, now):
        raise RuntimeError("functions were locked by another deployment while Clean Up ran: it will try again")
    return free, taken


def awaits_clean_up(item: dict[str, Any] | None, execution_arn: str) -> bool:
    """Whether the deployment of an ended execution (its item) may still leave aliases split: traffic moved
    and it never recorded an ending, or its roll back failed. Clean Up or the sweep will put them back; until
    then its locks must stand."""
    if item is None or item.get("execution_arn") != execution_arn or "deployment" not in item:
        return False  # never opened, or ended before any alias moved
    return item.get("status") not in FINAL or _roll_back_gave_up(item)


def _only_gone(error: Exception) -> bool:
    """A roll back that failed only for functions or aliases that no longer exist."""
    failures = error.failures if isinstance(error, AliasUpdateFailed) else {}
    return bool(failures) and all(reason.startswith("ResourceNotFoundException") for reason in failures.values())


def _roll_back_gave_up(item: dict[str, Any]) -> bool:
    return item.get("status") == FAILED and aliases_may_be_split(item.get("outcome") or {})


def _left_alone(changed_outside: dict[str, str]) -> str:
    changes = sorted(changed_outside.items())
    return _sentences((f"{name} was left as someone else set it ({change})." for name, change in changes), "changed")


_MORE = {
    "newer": "more were left to newer deployments.",
    "gone": "more no longer exist.",
    "changed": "more were left as someone else set them.",
}


def _sentences(sentences: Iterable[str], kind: str) -> str:
    """One sentence per function, the first few of them, each after a space (a cause stays within its limit)."""
    listed = listing(sentences, separator=" ", what=_MORE[kind])
    return f" {listed}" if listed else ""


def _roll_back_settled(
    lambda_client: Any,
    deployment: Deployment,
    settle_seconds: float,
    sleep: Callable[[float], None],
    reload: Callable[[], Deployment],
) -> tuple[Deployment, dict[str, str]]:
    """Stopping an execution does not stop the task Lambda it was running (a Publish And Shift or Promote over
    hundreds of functions takes seconds): roll back, let that task finish, roll back what it moved since,
    with the versions it recorded meanwhile (`reload`: the functions table again). The second pass also
    restores aliases the first found mid-update; what is left was changed by hand."""
    deployment, changed = aliases.roll_back(lambda_client, deployment)
    if settle_seconds > 0:
        sleep(settle_seconds)
        deployment, changed = aliases.roll_back(lambda_client, reload())
    return deployment, changed


def _opened(item: dict[str, Any], execution_arn: str) -> Deployment:
    """A deployment that ended before Publish And Shift: no alias moved, only its locks may be held. Its
    functions are loaded from the functions table."""
    return Deployment(
        repository=item["repository"],
        build_no=int(item["build_no"]),
        alias=item["alias"],
        weight=float(item["weight"]),
        pre_approve=bool(item.get("pre_approve")),
        build_url=item.get("build_url"),
        approval_timeout_seconds=0,
        execution_arn=execution_arn,
        function_count=function_count(item),
    )
