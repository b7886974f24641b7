"""lambda_canary.local.events and faults: the scheduled rule's event and interval, and ending events dropped
or delayed on demand (EventBridge's delivery is best effort)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from lambda_canary.local import faults
from lambda_canary.local.events import Schedule, rate_seconds, scheduled_event

EXECUTION = "arn:aws:states:us-east-1:123456789012:execution:canary:my-app-760"
OTHER = "arn:aws:states:us-east-1:123456789012:execution:canary:my-app-761"


@pytest.fixture(autouse=True)
def no_faults():
    yield
    faults.clear()


def test_rate_expressions_give_their_interval():
    assert rate_seconds("rate(5 minutes)") == 300
    assert rate_seconds("rate(1 minute)") == 60
    assert rate_seconds("rate(2 hours)") == 7200


def test_a_cron_expression_is_refused_naming_it():
    with pytest.raises(ValueError, match=r"rate\(\) schedules only, not 'cron\(0 12 \* \* \? \*\)'"):
        rate_seconds("cron(0 12 * * ? *)")


def test_the_scheduled_event_is_the_one_eventbridge_sends():
    # given the template's sweep schedule
    schedule = Schedule("stack-CleanUpFunction-Sweep", "rate(5 minutes)", "stack-CleanUpFunction")

    # when its event is built
    event = scheduled_event(schedule, datetime(2026, 12, 2, 6, 0, tzinfo=UTC))

    # then it has EventBridge's shape for a scheduled rule, naming the rule
    assert event["detail-type"] == "Scheduled Event" and event["source"] == "aws.events"
    assert event["resources"] == ["arn:aws:events:us-east-1:123456789012:rule/stack-CleanUpFunction-Sweep"]
    assert event["time"] == "2026-12-02T06:00:00Z" and event["detail"] == {}


def test_ending_events_are_delivered_at_once_unless_a_fault_is_armed():
    assert faults.event_delay(EXECUTION) == 0.0


def test_the_next_ending_event_of_an_execution_is_dropped_once():
    # given the next ending event of one execution is to be dropped
    faults.arm_events(EXECUTION)

    # then that event is dropped, the next one and other executions' are delivered
    assert faults.event_delay(OTHER) == 0.0
    assert faults.event_delay(EXECUTION) is None
    assert faults.event_delay(EXECUTION) == 0.0


def test_every_ending_event_is_delayed_until_cleared():
    # given every execution's ending events are to come 5 seconds late
    faults.arm_events(times=None, delay=5.0)

    # then each is delayed, until the faults are cleared
    assert [faults.event_delay(EXECUTION), faults.event_delay(OTHER), faults.event_delay(EXECUTION)] == [5.0] * 3
    faults.clear()
    assert faults.event_delay(EXECUTION) == 0.0
