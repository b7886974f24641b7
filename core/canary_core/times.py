"""Times as people read them, in one format everywhere (pages, Slack, causes, the demo): "12:04 UTC, 3 min ago"."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal


def moment(value: str | float | Decimal | datetime | None) -> datetime | None:
    """An ISO timestamp, epoch seconds or a datetime as an aware UTC datetime (None when it is none of these)."""
    if value is None or value == "" or isinstance(value, bool):
        return None
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, int | float | Decimal):  # epoch seconds; DynamoDB gives numbers as Decimal
        parsed = datetime.fromtimestamp(float(value), UTC)
    else:
        try:
            parsed = datetime.fromisoformat(str(value))
        except ValueError:
            return None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def human_time(
    value: str | float | Decimal | datetime | None, now: datetime | None = None, relative: bool = True
) -> str:
    """ "12:04 UTC, 3 min ago"; the date comes first when it is not `now`'s day (always without `now`).

    `relative` off: the clock time alone, for text that stays on screen (a Slack message). A value that is no
    time is shown as it is, empty for None."""
    at = moment(value)
    if at is None:
        return "" if value is None else str(value)
    today = now.astimezone(UTC).date() if now else None
    clock = at.strftime("%H:%M UTC") if at.date() == today else at.strftime("%Y-%m-%d %H:%M UTC")
    if now is None or not relative:
        return clock
    return f"{clock}, {_ago(int((now - at).total_seconds()))}"


def clock_time(value: str | float | Decimal | datetime | None) -> str:
    """ "11:34 UTC": the clock time alone, for text written as it happens and kept as it is (a cause, the
    Slack message a decision leaves). A value that is no time is shown as it is."""
    return human_time(value, moment(value), relative=False)


def _ago(seconds: int) -> str:
    if -60 < seconds < 60:
        return "just now"
    later, seconds = seconds < 0, abs(seconds)
    if seconds < 3600:
        span = f"{seconds // 60} min"
    elif seconds < 48 * 3600:
        span = f"{seconds // 3600} h"
    else:
        span = f"{seconds // 86400} days"
    return f"in {span}" if later else f"{span} ago"
