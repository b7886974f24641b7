"""The audit trail people read: every deployment's decision, newest first, optionally for one repository."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote

from canary_core.pages import step_words
from canary_core.trail import DeploymentsTable, function_count

MAX_ROWS = 200


def console_url(execution_arn: str) -> str:
    """The execution's page in the Step Functions console."""
    region = execution_arn.split(":")[3]
    return (
        f"https://{region}.console.aws.amazon.com/states/home?region={region}"
        f"#/v2/executions/details/{quote(execution_arn, safe='')}"
    )


class BadCursor(ValueError):
    """A `before` value that no page of the audit could have given."""


def audit_page_rows(
    table: DeploymentsTable, repository: str | None, before: str | None, limit: int = MAX_ROWS
) -> tuple[list[dict[str, Any]], str | None]:
    """A page of rows and the `before` value of the next page (None on the last one). One repository's pages
    go by build number, every repository's by start time."""
    if repository and before is not None and not re.fullmatch(r"[0-9]{1,18}", before):
        raise BadCursor(f"before={before!r}: with a repository, before is a build number (as the Older link gives)")
    rows = audit_rows(table, repository, limit, before)
    if len(rows) < limit:
        return rows, None
    return rows, str(rows[-1]["build_no"] if repository else rows[-1]["started_at"])


def audit_rows(
    table: DeploymentsTable, repository: str | None, limit: int = MAX_ROWS, before: str | int | None = None
) -> list[dict[str, Any]]:
    """One row per deployment: what was deployed, who decided what and when, how it ended (newest first;
    `before`: the cursor of the next page, see DeploymentsTable.recent)."""
    items = table.recent(repository, limit, before)
    rows = []
    for item in items:
        decision = item.get("decision") or {}
        outcome = item.get("outcome") or {}
        analysis = item.get("analysis") or {}
        rows.append(
            {
                "repository": item["repository"],
                "build_no": item["build_no"],
                "build_url": item.get("build_url"),
                "status": item.get("status"),
                "started_at": item.get("started_at"),
                "finished_at": item.get("finished_at"),
                "functions": function_count(item),
                "action": decision.get("action"),
                "delivered": decision.get("delivered", bool(decision)),
                "decided_by": decision.get("decided_by"),
                "decided_at": decision.get("decided_at"),
                "source_ip": decision.get("source_ip"),
                "cause": outcome.get("cause"),
                "step": step_words(item),
                # the latest comparison of the new version with the old: its verdict and the unhealthy ones
                "analysis": analysis.get("verdict"),
                "analysis_summary": analysis.get("summary"),
                "unhealthy": [
                    {"name": f["name"], "reason": f["reason"]}
                    for f in analysis.get("functions", [])
                    if f.get("verdict") == "unhealthy"
                ],
                "comparisons": analysis.get("functions", []),  # per function: verdict, old and new figures
                "execution_arn": item.get("execution_arn"),
                "console_url": console_url(item["execution_arn"]) if item.get("execution_arn") else None,
            }
        )
    return rows
