"""How a deployment ended, worked out from the state the workflow carries to its last step."""

from __future__ import annotations

import json
from typing import Any

from canary_core.limits import capped_cause, listing
from canary_core.model import FAILED, PROMOTED, ROLLED_BACK, SUPERSEDED_BY, TIMEOUT, WorkflowState
from canary_core.times import clock_time

ROLLED_BACK_ERROR = "Canary.RolledBack"  # someone, pre-approval policy or the timeout chose to roll back
FAILED_ERROR = "Canary.DeploymentFailed"  # an error; every alias was put back
ROLLBACK_FAILED_ERROR = "Canary.RollbackFailed"  # an error, and some aliases could not be put back
BEFORE_TRAFFIC_HOOK_FAILED = "BeforeTrafficHookFailed"  # the error Publish And Shift raises: no weight moved
SUMMARY_FUNCTIONS = 100  # functions listed with their versions in the summary (the execution's output)


def describe_outcome(state: WorkflowState) -> dict[str, Any]:
    """The outcome record: status, the Step Functions error and cause for a failed ending, and a summary.
    `state.deployment` has its functions loaded."""
    outcome = _outcome(state)
    if "cause" in outcome:
        outcome["cause"] = capped_cause(outcome["cause"])
    return outcome


def _outcome(state: WorkflowState) -> dict[str, Any]:
    deployment = state.deployment
    decision = state.decision or {}
    summary = {
        "repository": deployment.repository,
        "build_no": deployment.build_no,
        "alias": deployment.alias,
        "execution_arn": deployment.execution_arn,
        "decided_by": decision.get("decided_by"),
        "decided_at": decision.get("decided_at"),
        **({"steps": len(deployment.steps)} if len(deployment.steps) > 1 else {}),
        "functions": [
            {"name": f.name, "old_version": f.old_version, "new_version": f.new_version}
            for f in deployment.functions[:SUMMARY_FUNCTIONS]
        ],
    }
    if deployment.function_count > SUMMARY_FUNCTIONS:  # all of them: the functions table, by execution ARN
        summary["functions_left_out"] = deployment.function_count - SUMMARY_FUNCTIONS
    latest = [f.name for f in deployment.functions if f.pinned_from_latest and f.new_version]
    on_latest = (
        f" {listing(latest, ', ')} ran $LATEST before (no earlier version): back on $LATEST, which holds the new code."
        if latest
        else ""
    )
    rollback = state.rollback or {}
    left = rollback.get("changed_outside") or {}
    left_out = int(rollback.get("changed_outside_count", len(left))) - len(left)
    left_alone = (
        " Left as someone else set them: "
        + "; ".join(f"{name} ({change})" for name, change in sorted(left.items()))
        + (f"; and {left_out} more" if left_out > 0 else "")
        if left
        else ""
    )
    if state.rollback_error:
        return {
            "status": FAILED,
            "error": ROLLBACK_FAILED_ERROR,
            "cause": "Roll back failed, aliases may still carry weights: "
            + _message(state.rollback_error)
            + (f" (after: {_message(state.error)})" if state.error else ""),
            "summary": summary,
        }
    if state.error:
        put_back = (
            "No alias had moved; none was changed."
            if state.error.get("Error") == BEFORE_TRAFFIC_HOOK_FAILED
            else "Every alias was put back to the version it ran before."
        )
        return {
            "status": ROLLED_BACK,
            "error": FAILED_ERROR,
            "cause": f"{_message(state.error)}. {put_back}" + on_latest + left_alone,
            "summary": summary,
        }
    if state.promotion:
        return {"status": PROMOTED, "summary": summary}
    who = decision.get("decided_by", "unknown")
    if who == TIMEOUT:
        cause = f"No decision within {deployment.approval_timeout_seconds} seconds: rolled back (reason: timeout)."
    elif who.startswith(SUPERSEDED_BY):  # a newer deployment took the functions: it is the reason, not a person
        cause = f"Rolled back at {clock_time(decision.get('decided_at', '?'))}: {who}."
    elif decision.get("reason"):  # the workflow decided by itself (an alarm, the analysis): with its figures
        reason = decision["reason"].removeprefix(f"{who}: ")
        cause = f"Rolled back by {who} at {clock_time(decision.get('decided_at', '?'))}: {reason}"
    else:
        cause = f"Rolled back by {who} at {clock_time(decision.get('decided_at', '?'))}."
    return {
        "status": ROLLED_BACK,
        "error": ROLLED_BACK_ERROR,
        "cause": cause + on_latest + left_alone,
        "summary": summary,
    }


def aliases_may_be_split(outcome: dict[str, Any]) -> bool:
    """An ending whose roll back failed: the deployment keeps its locks, so that Clean Up or the sweeper
    finds it and puts its aliases back."""
    return outcome.get("error") == ROLLBACK_FAILED_ERROR


def _message(error: dict[str, Any]) -> str:
    """A Catch's {Error, Cause}; a Lambda's Cause is a JSON object with errorMessage."""
    cause = error.get("Cause", "")
    try:
        parsed = json.loads(cause)
        if isinstance(parsed, dict) and "errorMessage" in parsed:
            cause = parsed["errorMessage"]
    except (TypeError, ValueError):
        pass
    return f"{error.get('Error', 'Error')}: {cause}"
