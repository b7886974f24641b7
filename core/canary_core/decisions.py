"""Taking a decision: write it (first one wins), then resume the waiting execution.

The click handler and pre-approval both come through here, so a pre-approved deployment leaves the same
trail as a clicked one.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from canary_core.trail import Decision, DeploymentsTable

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
        table.note(repository, build_no, now, f"ignored later {decision.action}", **decision.as_item())
        return DecisionResult(won=False, delivered=False, item=item)
    output = {"action": decision.action, "decided_by": decision.decided_by, "decided_at": decision.decided_at}
    try:
        sfn_client.send_task_success(taskToken=item["task_token"], output=json.dumps(output))
    except Exception as error:
        code = error.response["Error"]["Code"] if isinstance(error, ClientError) else type(error).__name__
        if code not in _TOKEN_GONE:
            # The execution still waits: take the decision back so that the next click can deliver it.
            table.withdraw_decision(repository, build_no, decision, now, reason=f"not delivered ({code})")
            raise DecisionNotDelivered(
                f"Your decision could not reach the workflow ({code}). Nothing was decided: try again in a moment."
            ) from error
        problem = f"the execution was no longer waiting ({code})"
        table.note(repository, build_no, now, "decision not delivered", reason=problem)
        return DecisionResult(won=True, delivered=False, item=item, problem=problem)
    return DecisionResult(won=True, delivered=True, item=item)
