"""canary_core.times: one human format for times, on pages, in Slack and in the demo."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from canary_core.times import clock_time, human_time

NOW = datetime(2026, 12, 2, 12, 7, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ("2026-12-02T12:04:10.123456+00:00", "12:04 UTC, 3 min ago"),
        ("2026-12-02T12:07:00+00:00", "12:07 UTC, just now"),
        ("2026-12-02T09:00:00+00:00", "09:00 UTC, 3 h ago"),
        ("2026-12-01T23:59:00+00:00", "2026-12-01 23:59 UTC, 12 h ago"),
        ("2026-11-28T12:00:00+00:00", "2026-11-28 12:00 UTC, 4 days ago"),
        ("2026-12-02T13:04:00+01:00", "12:04 UTC, 3 min ago"),  # another zone: shown in UTC
        ("2026-12-02T12:30:00", "12:30 UTC, in 22 min"),  # naive: taken as UTC; in the future
        (NOW.timestamp() - 600, "11:57 UTC, 10 min ago"),  # epoch seconds
        (Decimal(int(NOW.timestamp()) + 3600), "13:07 UTC, in 1 h"),  # as DynamoDB gives expires_at back
    ],
)
def test_a_time_reads_as_clock_time_and_how_long_ago(value, shown):
    # given a timestamp in any of the forms the table holds, when it is shown at NOW, then it reads as people say it
    assert human_time(value, NOW) == shown


def test_without_now_or_relative_a_time_is_its_clock_time_with_the_date_when_needed():
    # given a time today and one yesterday
    # when shown without the relative part (a Slack message stays on screen) or without a now
    # then the date appears only when it is not today, and always without a now
    assert human_time("2026-12-02T12:04:59+00:00", NOW, relative=False) == "12:04 UTC"
    assert human_time("2026-12-01T12:04:00+00:00", NOW, relative=False) == "2026-12-01 12:04 UTC"
    assert human_time("2026-12-02T12:04:00+00:00") == "2026-12-02 12:04 UTC"


@pytest.mark.parametrize(("value", "shown"), [(None, ""), ("", ""), ("now", "now"), ("12 o'clock", "12 o'clock")])
def test_what_is_not_a_time_is_shown_as_it_is(value, shown):
    assert human_time(value, NOW) == shown


def test_a_time_written_as_it_happens_is_its_clock_time_alone():
    # given the ISO timestamp a decision records, and values that are no time
    # when it is written into a cause or a message that stays as it is
    # then it reads as the clock time, whatever day it is read on; what is no time is kept as it is
    assert clock_time("2026-12-02T11:34:51.957711+00:00") == "11:34 UTC"
    assert clock_time("?") == "?" and clock_time(None) == ""
