"""What a click on an approve / roll-back link does: GET shows, POST decides. Returns (status, HTML page)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from canary_core.decisions import DecisionNotDelivered, decide, decided_before
from canary_core.errors import LinkRejected
from canary_core.links import FIELDS as LINK_FIELDS
from canary_core.links import AuditLink, DecisionLink, verify
from canary_core.model import Decision
from canary_core.pages import confirm_page, deployment_href, error_page, result_page, status_words, steps_left
from canary_core.times import human_time
from canary_core.trail import LATE_DECISIONS, DeploymentsTable

DECIDED_BY_LINK = "approval link"
DECIDED_WORDS = {"approve": "approved", "rollback": "rolled back"}


@dataclass(frozen=True)
class Visitor:
    source_ip: str | None
    user_agent: str | None


def cross_site(headers: Mapping[str, str]) -> str | None:
    """Why a POST is not the confirmation page's own form (None when it is). Browsers say where a request
    comes from: `Sec-Fetch-Site` (every current browser), else `Origin`, which must be this API's own host.
    A request that says neither is refused too: a decision is only taken from the page's button."""
    lower = {name.lower(): value for name, value in headers.items()}
    site = lower.get("sec-fetch-site")
    if site is not None:
        return None if site == "same-origin" else f"it came from another site (Sec-Fetch-Site: {site})"
    origin, host = lower.get("origin"), lower.get("host")
    if not origin:
        return "it does not say where it came from (no Origin or Sec-Fetch-Site header)"
    if not host or urlsplit(origin).netloc.lower() != host.lower():
        return f"it came from another site (Origin: {origin})"
    return None


def refuse_cross_site(reason: str) -> tuple[int, str]:
    return 403, error_page(
        403,
        "Decide from the confirmation page",
        f"This decision was refused because {reason}. Open the link from the message and press its button; "
        "nothing was changed.",
    )


def show(
    params: Mapping[str, str],
    table: DeploymentsTable,
    secret: bytes | Sequence[bytes],
    now: datetime,
    environment: str = "",
) -> tuple[int, str]:
    """GET: never changes anything (link previews and mail scanners fetch links). `environment`: the stack's,
    shown on every page."""
    try:
        link = verify(params, secret, now)
    except LinkRejected as error:
        return _rejected(error, table, now, environment)
    item = table.get(link.repository, link.build_no)
    if item is None:
        return _unknown(link)
    audit = audit_href(secret, now)
    if decided_before(item, link.step):
        return 200, _already_decided(item, now, audit, environment)
    form = {name: value for name, value in params.items() if name in LINK_FIELDS}
    return 200, confirm_page(item, link.action, form, now, audit_href=audit, environment=environment)


def submit(
    form: Mapping[str, str],
    table: DeploymentsTable,
    sfn_client: Any,
    secret: bytes | Sequence[bytes],
    visitor: Visitor,
    now: datetime,
    environment: str = "",
) -> tuple[int, str]:
    """POST: the first decision wins; later ones are shown what was decided."""
    try:
        link = verify(form, secret, now)
    except LinkRejected as error:
        return _rejected(error, table, now, environment)
    item = table.get(link.repository, link.build_no)
    if item is None:
        return _unknown(link)
    audit = audit_href(secret, now)
    user_agent = (visitor.user_agent or "")[:200] or None
    decision = Decision(link.action, DECIDED_BY_LINK, now.isoformat(), visitor.source_ip, user_agent, step=link.step)
    if decided_before(item, link.step):  # answered from what is stored: counted, nothing else written or sent
        table.count_ignored(link.repository, link.build_no, LATE_DECISIONS, now, **decision.as_item())
        return 409, _already_decided(item, now, audit, environment)
    try:
        result = decide(table, sfn_client, link.repository, link.build_no, decision, now)
    except DecisionNotDelivered as error:
        return 503, error_page(503, "Try again in a moment", str(error))
    current = table.get(link.repository, link.build_no) or result.item
    if not result.won:
        return 409, _already_decided(current, now, audit, environment)
    title = f"{current['repository']} build {current['build_no']}"
    if not result.delivered:
        return 409, result_page(
            current,
            f"Too late: {title} is no longer waiting",
            f"Your decision was recorded, but {result.problem}. The outcome is in the trail below.",
            now,
            tone="bad",
            audit_href=audit,
            environment=environment,
        )
    steps = (current.get("deployment") or {}).get("steps") or []
    if link.action == "approve" and steps_left(current):
        heading, message = f"Approved: {title}", "The next step of its schedule starts now."
        after = float(steps[int(current.get("step", 0)) + 1]["weight"])
    elif link.action in ("approve", "promote"):
        heading, message = f"Approved: {title}", "Every alias is being promoted to its new version now."
        after = 1.0
    else:
        heading, message = (
            f"Rolled back: {title}",
            "Every alias is being put back on its previous version now.",
        )
        after = 0.0
    tone = "notice" if link.action == "rollback" else "good"
    message += " The outcome will be posted to Slack."
    page = result_page(
        current,
        heading,
        message,
        now,
        tone=tone,
        audit_href=audit,
        weight_after=after,
        deployment_href=deployment_link(current, secret, now),
        environment=environment,
    )
    return 200, page


def _rejected(error: LinkRejected, table: DeploymentsTable, now: datetime, environment: str) -> tuple[int, str]:
    """A link that cannot be used. One that is authentic but expired still shows its deployment and trail."""
    item = table.get(error.link.repository, error.link.build_no) if error.link else None
    if item is None:
        return error.status, error_page(error.status, "This link cannot be used", str(error))
    return error.status, result_page(
        item, "This link cannot be used", f"{error} Nothing was changed.", now, tone="bad", environment=environment
    )


def _unknown(link: DecisionLink) -> tuple[int, str]:
    return 404, error_page(
        404,
        "Unknown deployment",
        f"There is no deployment {link.repository} build {link.build_no} in this environment.",
    )


def audit_href(secrets: bytes | Sequence[bytes], now: datetime) -> str:
    """The audit page's signed link, relative to the page that shows it, signed with the current key."""
    current = secrets if isinstance(secrets, bytes) else secrets[0]
    return AuditLink.from_now(now).relative_url(current)


def deployment_link(item: dict[str, Any], secrets: bytes | Sequence[bytes], now: datetime) -> str:
    """The deployment's page, relative to …/decide, signed as the audit page's link."""
    current = secrets if isinstance(secrets, bytes) else secrets[0]
    return deployment_href(item["repository"], item["build_no"], AuditLink.from_now(now).params(current))


def _already_decided(item: dict[str, Any], now: datetime, audit: str, environment: str) -> str:
    title = f"{item['repository']} build {item['build_no']}"
    decision = item.get("decision")
    if decision:
        word = DECIDED_WORDS[decision["action"]]
        message = (
            f"This deployment was already decided: {word} by {decision['decided_by']} "
            f"at {human_time(decision['decided_at'], now)}."
        )
    else:
        outcome = item.get("outcome") or {}
        message = f"This deployment already ended ({status_words(item)}). {outcome.get('cause', '')}".strip()
    return result_page(
        item, f"Already decided: {title}", message, now, tone="notice", audit_href=audit, environment=environment
    )
