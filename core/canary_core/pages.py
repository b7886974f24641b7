"""The HTML pages of the approval API. Templates live in templates/, autoescaped; no external assets."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urlencode

from jinja2 import Environment, PackageLoader, pass_context, select_autoescape
from jinja2.runtime import Context

from canary_core.model import step_position
from canary_core.slack import IRREVERSIBLE_WARNING
from canary_core.times import human_time, moment
from canary_core.trail import code_words, event_words, function_count

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
_env.filters["words"] = code_words
_env.filters["event_words"] = event_words
_env.filters["step"] = lambda item: step_words(item)
_env.globals["irreversible_warning"] = IRREVERSIBLE_WARNING
_env.filters["share"] = lambda item: current_share(item)
_env.filters["serving"] = lambda item: serving_words(item)
_env.globals["deployment_href"] = lambda *args, **kwargs: deployment_href(*args, **kwargs)

ACTION_WORDS = {"approve": "Approve", "rollback": "Roll back", "promote": "Promote now"}
STATUS_WORDS = {
    "SHIFTING": "Shifting traffic",
    "WAITING": "Waiting for a decision",
    "PROMOTED": "Promoted",
    "ROLLED_BACK": "Rolled back",
    "FAILED": "Failed",
    "REVERTED": "Reverted",
}
# The colour of a status's label (its words say it too): green ended well, red ended badly, blue runs
STATUS_CLASSES = {
    "SHIFTING": "running",
    "WAITING": "running",
    "PROMOTED": "good",
    "ROLLED_BACK": "bad",
    "FAILED": "bad",
    "REVERTED": "warn",
}
_env.filters["status_class"] = lambda status: STATUS_CLASSES.get(str(status), "neutral")
_env.filters["status_label"] = lambda status: STATUS_WORDS.get(str(status), str(status))


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
    item: dict[str, Any],
    action: str,
    form: dict[str, str],
    now: datetime,
    audit_href: str | None = None,
    environment: str = "",
) -> str:
    """`audit_href`: the signed link to the audit page, shown under the deployment; `environment`: the
    stack's (Settings.environment), shown beside the title of every page."""
    steps = (item.get("deployment") or {}).get("steps") or []
    step = int(item.get("step", 0))
    return _env.get_template("confirm.html").render(
        item=item,
        action=action,
        next_weight=steps[step + 1]["weight"] if step + 1 < len(steps) else None,
        action_word=ACTION_WORDS[action],
        form=form,
        time_left=time_left(item, now),
        audit_href=audit_href,
        now=now,
        environment=environment,
    )


def result_page(
    item: dict[str, Any],
    heading: str,
    message: str,
    now: datetime,
    tone: str = "good",
    audit_href: str | None = None,
    weight_after: float | None = None,
    deployment_href: str | None = None,
    environment: str = "",
) -> str:
    """tone: good (green), bad (red) or notice (blue): the colour of the message's edge. `weight_after`: the
    new version's share once the decision is carried out; `deployment_href`: the link to its page."""
    return _env.get_template("result.html").render(
        item=item,
        heading=heading,
        message=message,
        tone=tone,
        time_left=time_left(item, now),
        audit_href=audit_href,
        now=now,
        weight_after=weight_after,
        deployment_href=deployment_href,
        environment=environment,
    )


def audit_page(
    rows: list[dict[str, Any]],
    repository: str | None,
    older: str | None = None,
    access: dict[str, str] | None = None,
    now: datetime | None = None,
    environment: str = "",
) -> str:
    """`older`: the `before` value of the next page, when there may be one; `access`: the signed audit link's
    fields, carried on by every link and the filter of the page; `now`: the clock times are shown against."""
    return _env.get_template("audit.html").render(
        rows=rows,
        repository=repository or "",
        older=older,
        access=access or {},
        now=now or datetime.now(UTC),
        environment=environment,
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
    return step_position(int(item.get("step", 0)), len(steps))


def time_left(item: dict[str, Any], now: datetime) -> str | None:
    expires = item.get("expires_at")
    if not expires or item.get("status") != "WAITING" or item.get("decision"):
        return None
    seconds = int(expires - now.timestamp())
    if seconds <= 0:
        return "expired"
    hours, rest = divmod(seconds, 3600)
    minutes = rest // 60
    until = human_time(expires, now, relative=False)
    return f"{hours} h {minutes} min (until {until})" if hours else f"{minutes} min {rest % 60} s (until {until})"


def deployment_page(
    item: dict[str, Any],
    now: datetime,
    console_url: str | None = None,
    audit_href: str | None = None,
    environment: str = "",
) -> str:
    """One deployment: its functions, its trail as a timeline and its traffic over time (an SVG drawn here:
    no script). `console_url`: the execution in the Step Functions console (none where there is no console)."""
    return _env.get_template("deployment.html").render(
        item=item,
        now=now,
        chart=traffic_chart(item, now),
        console_url=console_url,
        audit_href=audit_href,
        time_left=time_left(item, now),
        environment=environment,
    )


def deployment_href(repository: str, build_no: int | str, access: dict[str, str], depth: int = 1) -> str:
    """The signed link to a deployment's page, relative to a page `depth` levels under the API's stage
    (/deployments and /decide: 1)."""
    path = "/".join(quote(part, safe="") for part in repository.split("/"))
    return f"{'../' * (depth - 1)}deployments/{path}/{int(build_no)}?{urlencode(access)}"


_STEP_EVENT = re.compile(r"step \d+ of \d+: new version at (\d+)%")
_ENDING_SHARE = {"outcome: PROMOTED": 100.0, "outcome: ROLLED_BACK": 0.0, "reverted": 0.0}
CHART_WIDTH, CHART_HEIGHT, CHART_LEFT, CHART_BOTTOM = 480, 160, 60, 30  # room for labels a phone can read


def current_share(item: dict[str, Any]) -> float:
    """The new version's share of traffic now: all once promoted, none once rolled back or reverted."""
    ended = {"PROMOTED": 1.0, "ROLLED_BACK": 0.0, "REVERTED": 0.0}
    return ended.get(str(item.get("status")), float(item.get("weight") or 0))


SERVING_WORDS = {
    "PROMOTED": "Every alias serves its new version.",
    "ROLLED_BACK": "Every alias is back on its version before.",
    "REVERTED": "Every alias was reverted to its version before.",
}


def serving_words(item: dict[str, Any]) -> str:
    """Which of the function table's versions the aliases serve: both while the deployment runs, one once it
    ended well or was put back; nothing said after a failure (its aliases may stand anywhere)."""
    if item.get("status") in ("SHIFTING", "WAITING"):
        share = current_share(item)
        return f"Each alias sends {share:.0%} of its traffic to the new version, the rest to the version before."
    return SERVING_WORDS.get(str(item.get("status")), "")


def traffic_points(item: dict[str, Any]) -> list[tuple[datetime, float]]:
    """The new version's share of traffic (percent) over time, from the trail: the first step's weight when
    it started, each later step's, 100 once promoted, 0 once rolled back or reverted. A failed ending is left
    out: its aliases may stand anywhere."""
    steps = (item.get("deployment") or {}).get("steps") or []
    first = steps[0].get("weight") if steps else (item.get("weight") if not item.get("step") else None)
    points: list[tuple[datetime, float]] = []
    for event in item.get("trail") or []:
        at, name = moment(event.get("at")), str(event.get("event", ""))
        step = _STEP_EVENT.fullmatch(name)
        share = (
            float(first) * 100
            if name == "started" and first is not None
            else float(step.group(1))
            if step
            else _ENDING_SHARE.get(name)
        )
        if at is not None and share is not None:
            points.append((at, share))
    return points


def traffic_chart(item: dict[str, Any], now: datetime) -> dict[str, Any] | None:
    """The geometry of the traffic chart: a step line (the share holds until the next change), to `now`
    while the deployment runs. None without two moments to draw between."""
    points = traffic_points(item)
    if not points:
        return None
    running = item.get("status") in ("SHIFTING", "WAITING")
    end = max(now, points[-1][0]) if running else points[-1][0]
    start = points[0][0]
    span = (end - start).total_seconds()
    if span <= 0:
        return None
    plot_width, plot_height = CHART_WIDTH - CHART_LEFT - 8, CHART_HEIGHT - CHART_BOTTOM - 8

    def x(at: datetime) -> float:
        return round(CHART_LEFT + (at - start).total_seconds() / span * plot_width, 1)

    def y(share: float) -> float:
        return round(8 + (100 - share) / 100 * plot_height, 1)

    line: list[str] = []
    for index, (at, share) in enumerate(points):
        if index:
            line.append(f"{x(at)},{y(points[index - 1][1])}")
        line.append(f"{x(at)},{y(share)}")
    line.append(f"{x(end)},{y(points[-1][1])}")
    changes = ", ".join(f"{share:.0f}% at {human_time(at, now, relative=False)}" for at, share in points)
    return {
        "width": CHART_WIDTH,
        "height": CHART_HEIGHT,
        "line": " ".join(line),
        "dots": [{"x": x(at), "y": y(share), "share": share} for at, share in points],
        "grid": [{"y": y(share), "label": f"{share}%"} for share in (0, 50, 100)],
        "left": CHART_LEFT,
        "right": CHART_WIDTH - 8,
        "bottom": CHART_HEIGHT - 6,
        "start": human_time(start, now, relative=False),
        "end": "now" if running else human_time(end, now, relative=False),
        "summary": f"New version's share of traffic: {changes}.",
    }
