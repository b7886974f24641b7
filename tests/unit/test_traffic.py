"""lambda_canary.traffic: steady invocations of some functions' aliases, on the local runtime's Lambda (patched
moto in this process, each function in execution environments of its own)."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import boto3
import pytest

from lambda_canary.demo import create_functions_with_alias, ship_codes
from lambda_canary.traffic import Traffic

FUNCTIONS = ["orders-api", "payments"]


@pytest.fixture
def lam(patched_lambda):
    """Two functions with alias live, on the patched emulator."""
    create_functions_with_alias(patched_lambda, FUNCTIONS)
    return patched_lambda


def wait_for(traffic, sent, timeout=60.0):
    deadline = time.monotonic() + timeout
    while traffic.counts()[0] < sent:
        if time.monotonic() > deadline:
            raise TimeoutError(f"fewer than {sent} invocations sent after {timeout} s: {traffic.counts()}")
        time.sleep(0.05)


def invocations_in_cloudwatch(function, version="1"):
    """Lambda's Invocations of `function`'s version behind alias live, read as the analysis reads them."""
    now = datetime.now(UTC)
    dimensions = {"FunctionName": function, "Resource": f"{function}:live", "ExecutedVersion": version}
    query = {
        "Id": "invocations",
        "MetricStat": {
            "Metric": {
                "Namespace": "AWS/Lambda",
                "MetricName": "Invocations",
                "Dimensions": [{"Name": k, "Value": v} for k, v in dimensions.items()],
            },
            "Period": 60,
            "Stat": "Sum",
        },
    }
    answer = boto3.client("cloudwatch", region_name="us-east-1").get_metric_data(
        MetricDataQueries=[query], StartTime=now - timedelta(minutes=10), EndTime=now + timedelta(minutes=1)
    )
    return int(sum(answer["MetricDataResults"][0]["Values"]))


def test_traffic_is_spread_over_the_aliases_and_stops_when_told(lam):
    # given two functions with alias live on version 1
    # when traffic runs at 50 requests per second until it has sent 40, then stops
    with Traffic(lam, FUNCTIONS, rate=50, workers=3) as traffic:
        wait_for(traffic, 40)
    sent, failed = traffic.counts()

    # then each function got half of it (in turn), nothing failed, every invocation ran version 1 of its alias,
    # and nothing more is sent once stop() has returned
    assert failed == 0 and sent >= 40
    per_function = {name: traffic.executed[(name, "1")] for name in FUNCTIONS}
    assert sum(per_function.values()) == sent
    assert abs(per_function["orders-api"] - per_function["payments"]) <= 1
    assert {name: invocations_in_cloudwatch(name) for name in FUNCTIONS} == per_function
    assert not traffic.running
    assert traffic.counts() == (sent, failed)


def test_failed_invocations_are_counted_by_their_error(lam):
    # given alias live of both functions on a version 2 that fails every invocation
    ship_codes(lam, FUNCTIONS, 2, failure_share=1.0)
    for name in FUNCTIONS:
        lam.publish_version(FunctionName=name)
        lam.update_alias(FunctionName=name, Name="live", FunctionVersion="2")

    # when traffic runs until it has sent 10
    with Traffic(lam, FUNCTIONS, rate=50) as traffic:
        wait_for(traffic, 10)

    # then every invocation is counted failed, as a function error, on version 2
    assert traffic.failed == traffic.sent >= 10
    assert traffic.failures == {"Unhandled": traffic.sent}
    assert {version for _, version in traffic.executed} == {"2"}


@pytest.mark.parametrize(
    ("arguments", "field"),
    [
        ({"functions": []}, "functions"),
        ({"rate": 0}, "rate"),
        ({"rate": -5}, "rate"),
        ({"workers": 0}, "workers"),
        ({"workers": 1000}, "workers"),
    ],
)
def test_bad_settings_are_refused_naming_the_field(arguments, field):
    # given settings with one bad field; when traffic is made with them, then the error names the field
    settings = {"functions": FUNCTIONS, **arguments}
    with pytest.raises(ValueError, match=rf"^{field} must"):
        Traffic(None, settings.pop("functions"), **settings)


def test_traffic_started_twice_is_refused(lam):
    # given traffic that ran and stopped
    traffic = Traffic(lam, FUNCTIONS, rate=1)
    with traffic:
        pass

    # when it is started again, then it says to make another
    with pytest.raises(RuntimeError, match="already started"):
        traffic.start()
