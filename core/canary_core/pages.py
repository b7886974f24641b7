"""The HTML pages of the approval API. Templates live in templates/, autoescaped; no external assets."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from jinja2 import Environment, PackageLoader, pass_context, select_autoescape
from jinja2.runtime import Context

from canary_core.slack import IRREVERSIBLE_WARNING
from canary_core.times import human_time
from canary_core.trail import function_count

_env = Environment(
    loader=PackageLoader("canary_core", "templates"),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
)


@pass_context
def _when(context: Context, value: str | float | None) -> str:
    """A time on a page: "12:04 UTC, 3 min ago", against the `now` the page was rendered with."""
    return human_time(value, context.get("now"))


_env.filters["when"] = _when
_env.filters["status"] = lambda item: status_words(item)
_env.filters["function_count"] = function_count
_env.filters["step"] = lambda item: step_words(item)
_env.globals["irreversible_warning"] = IRREVERSIBLE_WARNING

ACTION_WORDS = {"approve": "Approve", "rollback": "Roll back", "promote": "Promote now"}
STATUS_WORDS = {
    "SHIFTING": "Shifting traffic",
    "WAITING": "Waiting for a decision",
    "PROMOTED": "Promoted",
    "ROLLED_BACK": "Rolled back",
    "FAILED": "Failed",
    "REVERTED": "Reverted",
}


def format_time(value: str | None) -> str:
    """An ISO timestamp with its date, where no `now` is at hand: 2026-11-26 12:48 UTC (see times.human_time)."""
    return human_time(value)


def status_words(item: dict[str, Any]) -> str:
    decision = item.get("decision")
    if item.get("status") == "WAITING" and decision:
        if decision.get("action") == "rollback":
            return "Decided: rolling back"
        return (
            "Decided: next step" if steps_left(item) and decision.get("action") == "approve" else "Decided: promoting"
        )
    return STATUS_WORDS.get(str(item.get("status")), str(item.get("status")))


def confirm_page(
    item: dict[str, Any], action: str, form: dict[str, str], now: datetime, audit_href: str | None = None
) -> str:
    """`audit_href`: the signed link to the audit page, shown under the deployment."""
    steps = (item.get("deployment") or {}).get("steps") or []
    step = int(item.get("step", 0))
    return _env.get_template("confirm.html").render(
        item=item,
        action=action,
        next_weight=steps[step + 1]["weight"] if step + 1 < len(steps) else None,
        action_word=ACTION_WORDS[action],
        form=form,
        time_left=_time_left(item, now),
        audit_href=audit_href,
        now=now,
    )


def result_page(
    item: dict[str, Any],
    heading: str,
    message: str,
    now: datetime,
    tone: str = "good",
    audit_href: str | None = None,
) -> str:
    """tone: good (green), bad (red) or notice (blue): the colour of the message's edge."""
    return _env.get_template("result.html").render(
        item=item,
        heading=heading,
        message=message,
        tone=tone,
        time_left=_time_left(item, now),
        audit_href=audit_href,
        now=now,
    )


def audit_page(
    rows: list[dict[str, Any]],
    repository: str | None,
    older: str | None = None,
    access: dict[str, str] | None = None,
    now: datetime | None = None,
) -> str:
    """`older`: the `before` value of the next page, when there may be one; `access`: the signed audit link's
    fields, carried on by every link and the filter of the page; `now`: the clock times are shown against."""
    return _env.get_template("audit.html").render(
        rows=rows, repository=repository or "", older=older, access=access or {}, now=now or datetime.now(UTC)
    )


def error_page(status: int, heading: str, message: str) -> str:
    return _env.get_template("error.html").render(status=status, heading=heading, message=message)


def steps_left(item: dict[str, Any]) -> int:
    """How many steps of its schedule the deployment has after the current one."""
    steps = (item.get("deployment") or {}).get("steps") or [{}]
    return len(steps) - 1 - int(item.get("step", 0))


def step_words(item: dict[str, Any]) -> str:
    """ "2 of 3" for a schedule; empty for a single step."""
    steps = (item.get("deployment") or {}).get("steps") or [{}]
    return f"{int(item.get('step', 0)) + 1} of {len(steps)}" if len(steps) > 1 else ""


def _time_left(item: dict[str, Any], now: datetime) -> str | None:
    expires = item.get("expires_at")
    if not expires or item.get("status") != "WAITING" or item.get("decision"):
        return None
    seconds = int(expires - now.timestamp())
    if seconds <= 0:
        return "expired"
    hours, rest = divmod(seconds, 3600)
    minutes = rest // 60
    until = datetime.fromtimestamp(expires, UTC).strftime("%H:%M UTC")
    return f"{hours} h {minutes} min (until {until})" if hours else f"{minutes} min {rest % 60} s (until {until})"
