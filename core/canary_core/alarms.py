"""CloudWatch alarms a deployment watches: which are in ALARM, and which do not exist.

An alarm that does not exist would watch nothing: Validate Input refuses it (`missing_alarms`), and one deleted
while the deployment runs is reported by `alarms_in_alarm` as AlarmMissing, for the workflow to roll back
rather than go on unwatched. INSUFFICIENT_DATA is not ALARM (as CodeDeploy reads it).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from canary_core.errors import AlarmMissing, InvalidInput

BATCH = 100  # DescribeAlarms takes at most 100 AlarmNames per call
ALARM_TYPES = ["MetricAlarm", "CompositeAlarm"]  # without AlarmTypes, DescribeAlarms returns metric alarms only


def alarm_states(cloudwatch: Any, names: Sequence[str]) -> dict[str, str]:
    """{name: StateValue} of the alarms among `names` that exist (OK, ALARM or INSUFFICIENT_DATA)."""
    states: dict[str, str] = {}
    for batch in _batches(list(dict.fromkeys(names))):
        token: str | None = None
        while True:
            page = cloudwatch.describe_alarms(
                AlarmNames=batch, AlarmTypes=ALARM_TYPES, MaxRecords=BATCH, **({"NextToken": token} if token else {})
            )
            for alarm in (*page.get("MetricAlarms", ()), *page.get("CompositeAlarms", ())):
                states[alarm["AlarmName"]] = alarm["StateValue"]
            token = page.get("NextToken")
            if not token:
                break
    return states


def missing_alarms(cloudwatch: Any, names: Sequence[str]) -> list[str]:
    """The names among `names` that name no alarm in this account and region, in their order."""
    states = alarm_states(cloudwatch, names)
    return [name for name in dict.fromkeys(names) if name not in states]


def check_alarms_exist(cloudwatch: Any, names: Sequence[str]) -> None:
    """InvalidInput naming each alarm that does not exist, and the fix."""
    missing = missing_alarms(cloudwatch, names) if names else []
    if missing:
        raise InvalidInput(
            [
                f"alarms: {name!r} is not an alarm in this account and region, so it would watch nothing; check its "
                "name (`aws cloudwatch describe-alarms --alarm-names ...`), or remove it from the input or the "
                "stack's Alarms parameter"
                for name in missing
            ]
        )


def alarms_in_alarm(cloudwatch: Any, names: Sequence[str]) -> list[str]:
    """The names among `names` whose alarm is in state ALARM, in their order. Raises AlarmMissing for alarms
    that no longer exist: a deployment must not go on believing it is watched."""
    if not names:
        return []
    states = alarm_states(cloudwatch, names)
    gone = [name for name in dict.fromkeys(names) if name not in states]
    if gone:
        raise AlarmMissing(gone)
    return [name for name in dict.fromkeys(names) if states[name] == "ALARM"]


def _batches(names: list[str]) -> Iterator[list[str]]:
    for start in range(0, len(names), BATCH):
        yield names[start : start + BATCH]
