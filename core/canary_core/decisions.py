"""Taking a decision: write it (first one wins), then resume the waiting execution.

The click handler and pre-approval both come through here, so a pre-approved deployment leaves the same
trail as a clicked one.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from canary_core.executions import execution_running
from canary_core.model import WAITING, Decision
from canary_core.trail import LATE_DECISIONS, DeploymentsTable

logger = logging.getLogger(__name__)

# The execution is no longer waiting for this token (it timed out, was stopped, or already resumed).
_TOKEN_GONE = ("TaskTimedOut", "TaskDoesNotExist", "InvalidToken")


class DecisionNotDelivered(Exception):
    """Resuming the execution failed for a reason that may pass; the decision was taken back."""


@dataclass(frozen=True)
class DecisionResult:
    won: bool  # this decision was the first one
    delivered: bool  # the execution was resumed with it
    item: dict[str, Any]  # the deployment as the table holds it now
    problem: str | None = None  # why a winning decision did not reach the execution


def decided_before(item: dict[str, Any], step: int = 0) -> bool:
    """The deployment took its decision on `step` already, moved past it, or no longer waits for one: a
    click only gets told."""
    return bool(item.get("decision")) or item.get("status") != WAITING or int(item.get("step", 0)) != step


def decide(
    table: DeploymentsTable,
    sfn_client: Any,
    repository: str,
    build_no: int,
    decision: Decision,
    now: datetime,
) -> DecisionResult:
    won, item = table.record_decision(repository, build_no, decision)
    if not won:
        table.count_ignored(repository, build_no, LATE_DECISIONS, now, **decision.as_item())
        return DecisionResult(won=False, delivered=False, item=item)
    code = "no task waiting"
    if item.get("task_token"):
        try:
            sfn_client.send_task_success(taskToken=item["task_token"], output=json.dumps(resume_output(decision)))
            return DecisionResult(won=True, delivered=True, item=item)
        except Exception as error:
            code = error.response["Error"]["Code"] if isinstance(error, ClientError) else type(error).__name__
            if code not in _TOKEN_GONE:
                # The execution still waits: take the decision back so that the next click can deliver it.
                table.withdraw_decision(repository, build_no, decision, now, reason=f"not delivered ({code})")
                raise DecisionNotDelivered(
                    f"Your decision could not reach the workflow ({code}). Nothing was decided: try again in a moment."
                ) from error
    # No task waits right now (between two waits, for a reminder): the next wait takes the recorded
    # decision at once, as long as the execution runs (when its status cannot be read, it is assumed to).
    if execution_running(sfn_client, item.get("execution_arn")) is not False:
        return DecisionResult(won=True, delivered=True, item=item)
    problem = f"the execution was no longer waiting ({code})"
    table.mark_undelivered(repository, build_no, now, problem)
    return DecisionResult(won=True, delivered=False, item=item, problem=problem)


def resume_output(decision: Decision | dict[str, Any]) -> dict[str, Any]:
    """What a waiting execution is resumed with: the state machine reads $.decision.action."""
    values = decision if isinstance(decision, dict) else decision.as_item()
    return {key: values.get(key) for key in ("action", "decided_by", "decided_at")}
