"""canary_core.alarms: the alarms a deployment watches, read from CloudWatch (moto) in batches of 100 names."""

from __future__ import annotations

from typing import Any

import boto3
import pytest

from canary_core.alarms import BATCH, alarms_in_alarm, check_alarms_exist, missing_alarms
from canary_core.errors import AlarmMissing, InvalidInput
from canary_testing import put_errors_alarm


class Counting:
    """The CloudWatch client, each DescribeAlarms call's AlarmNames kept."""

    def __init__(self, client: Any) -> None:
        self.client, self.calls = client, []

    def describe_alarms(self, **request: Any) -> Any:
        self.calls.append(request["AlarmNames"])
        return self.client.describe_alarms(**request)


@pytest.fixture
def cloudwatch(aws):
    return Counting(boto3.client("cloudwatch", region_name="us-east-1"))


def make_alarms(cloudwatch, *names: str, alarm: tuple[str, ...] = ()) -> None:
    for name in names:
        put_errors_alarm(cloudwatch.client, name)
    for name in alarm:
        cloudwatch.client.set_alarm_state(AlarmName=name, StateValue="ALARM", StateReason="test")


def test_only_the_alarms_in_state_alarm_are_named_in_their_order(cloudwatch):
    # given three alarms, two of them in ALARM (set as `aws cloudwatch set-alarm-state` sets them)
    make_alarms(cloudwatch, "orders-errors", "payments-errors", "latency", alarm=("latency", "orders-errors"))

    # when the deployment's alarms are read
    # then the two in ALARM are named, in the order the deployment lists them
    assert alarms_in_alarm(cloudwatch, ["orders-errors", "payments-errors", "latency"]) == ["orders-errors", "latency"]


def test_no_alarm_watched_makes_no_call(cloudwatch):
    assert alarms_in_alarm(cloudwatch, []) == []
    check_alarms_exist(cloudwatch, [])
    assert cloudwatch.calls == []


def test_more_than_a_hundred_alarms_are_read_in_batches_of_a_hundred_names(cloudwatch):
    # given 250 alarms, the last one in ALARM
    names = [f"alarm-{i:03}" for i in range(250)]
    make_alarms(cloudwatch, *names, alarm=("alarm-249",))

    # when they are read
    in_alarm = alarms_in_alarm(cloudwatch, names)

    # then three calls named at most 100 each, and every alarm was read
    assert in_alarm == ["alarm-249"]
    assert [len(call) for call in cloudwatch.calls] == [BATCH, BATCH, 50]


def test_an_alarm_deleted_while_the_deployment_runs_is_reported_apart(cloudwatch):
    # given a watched alarm that was deleted
    make_alarms(cloudwatch, "orders-errors", "gone")
    cloudwatch.client.delete_alarms(AlarmNames=["gone"])

    # when the alarms are read
    # then the missing one is reported as such, never as "not in alarm"
    with pytest.raises(AlarmMissing) as missing:
        alarms_in_alarm(cloudwatch, ["orders-errors", "gone"])
    assert missing.value.names == ["gone"]


def test_a_misspelt_alarm_is_refused_naming_it_and_the_fix(cloudwatch):
    # given one alarm, and an input naming it and a misspelling
    make_alarms(cloudwatch, "orders-errors")

    # when their existence is checked
    assert missing_alarms(cloudwatch, ["orders-errors", "orders-erors"]) == ["orders-erors"]
    with pytest.raises(InvalidInput) as invalid:
        check_alarms_exist(cloudwatch, ["orders-errors", "orders-erors"])

    # then the misspelt one is named, with the fix
    assert invalid.value.problems == [
        "alarms: 'orders-erors' is not an alarm in this account and region, so it would watch nothing; check its "
        "name (`aws cloudwatch describe-alarms --alarm-names ...`), or remove it from the input or the stack's "
        "Alarms parameter"
    ]
