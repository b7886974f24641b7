"""The audit trail people read: every deployment's decision, newest first, optionally for one repository."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from canary_core.trail import DeploymentsTable

MAX_ROWS = 200


def console_url(execution_arn: str) -> str:
    """The execution's page in the Step Functions console."""
    region = execution_arn.split(":")[3]
    return (
        f"https://{region}.console.aws.amazon.com/states/home?region={region}"
        f"#/v2/executions/details/{quote(execution_arn, safe='')}"
    )


def audit_rows(
    table: DeploymentsTable, repository: str | None, limit: int = MAX_ROWS, before: str | None = None
) -> list[dict[str, Any]]:
    """One row per deployment: what was deployed, who decided what and when, how it ended (newest first;
    `before`: only deployments started before that time, for the next page)."""
    items = table.recent(repository, limit, before)
    rows = []
    for item in items:
        decision = item.get("decision") or {}
        outcome = item.get("outcome") or {}
        rows.append(
            {
                "repository": item["repository"],
                "build_no": item["build_no"],
                "build_url": item.get("build_url"),
                "status": item.get("status"),
                "started_at": item.get("started_at"),
                "finished_at": item.get("finished_at"),
                "functions": len(item.get("functions", [])),
                "action": decision.get("action"),
                "delivered": decision.get("delivered", bool(decision)),
                "decided_by": decision.get("decided_by"),
                "decided_at": decision.get("decided_at"),
                "source_ip": decision.get("source_ip"),
                "cause": outcome.get("cause"),
                "execution_arn": item.get("execution_arn"),
                "console_url": console_url(item["execution_arn"]) if item.get("execution_arn") else None,
            }
        )
    return rows
