"""The local runtime records Lambda's invocation metrics in the emulator's CloudWatch, read back with real
GetMetricData calls as the canary analysis makes them (metrics.py; gaps 12 and 13 of moto_patches)."""

from __future__ import annotations

import io
import json
import threading
import time
import zipfile
from collections import Counter
from datetime import UTC, datetime, timedelta

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from canary_testing.fleet import create_function_with_alias, ship_code
from lambda_canary.demo import ship_codes
from lambda_canary.local import async_invoke, lambda_runner, moto_patches

FUNCTION = "orders-api"


@pytest.fixture
def cloudwatch(lam):
    return boto3.client("cloudwatch", region_name="us-east-1")


def publish_build(lam, build, failure_share=0.0):
    ship_codes(lam, [FUNCTION], build, failure_share=failure_share)
    return lam.publish_version(FunctionName=FUNCTION)["Version"]


def query(query_id, metric, dimensions, stat="Sum"):
    """A GetMetricData query as the analysis makes it: AWS/Lambda, one minute periods."""
    return {
        "Id": query_id,
        "MetricStat": {
            "Metric": {
                "Namespace": "AWS/Lambda",
                "MetricName": metric,
                "Dimensions": [{"Name": name, "Value": value} for name, value in dimensions.items()],
            },
            "Period": 60,
            "Stat": stat,
        },
    }


def executed(version, alias="live"):
    return {"FunctionName": FUNCTION, "Resource": f"{FUNCTION}:{alias}", "ExecutedVersion": version}


def totals(cloudwatch, *queries):
    """{query id: the sum of its values over the last ten minutes} (None: no data point)."""
    now = datetime.now(UTC)
    answer = cloudwatch.get_metric_data(
        MetricDataQueries=list(queries), StartTime=now - timedelta(minutes=10), EndTime=now + timedelta(minutes=1)
    )
    return {r["Id"]: (sum(r["Values"]) if r["Values"] else None) for r in answer["MetricDataResults"]}


def invoke_many(lam, count, **target):
    """{ExecutedVersion: invocations} over `count` invocations, and how many answered a FunctionError."""
    ran, failed = Counter(), 0
    for _ in range(count):
        response = lam.invoke(Payload=b"{}", **target)
        ran[response["ExecutedVersion"]] += 1
        failed += "FunctionError" in response
    return ran, failed


def test_each_version_behind_a_weighted_alias_has_its_own_counts(lam, cloudwatch):
    # given orders-api's alias live on version 1 with 30% on version 2, and a seeded draw
    create_function_with_alias(lam, FUNCTION)
    new = publish_build(lam, 2)
    lam.update_alias(FunctionName=FUNCTION, Name="live", RoutingConfig={"AdditionalVersionWeights": {new: 0.3}})
    moto_patches.ROUTING_RANDOM.seed(8)

    # when the alias is invoked 60 times
    ran, _ = invoke_many(lam, 60, FunctionName=FUNCTION, Qualifier="live")

    # then GetMetricData counts each version's invocations as they ran, with no error, and their p99 duration
    assert set(ran) == {"1", "2"}
    found = totals(
        cloudwatch,
        query("old", "Invocations", executed("1")),
        query("new", "Invocations", executed("2")),
        query("olderrors", "Errors", executed("1")),
        query("newerrors", "Errors", executed("2")),
        query("alias", "Invocations", {"FunctionName": FUNCTION, "Resource": f"{FUNCTION}:live"}),
        query("function", "Invocations", {"FunctionName": FUNCTION}),
        query("p99", "Duration", executed("2"), stat="p99"),
    )
    assert (found["old"], found["new"]) == (ran["1"], ran["2"])
    assert (found["olderrors"], found["newerrors"]) == (0, 0)
    assert found["alias"] == found["function"] == 60
    assert found["p99"] is not None and 0 < found["p99"] < 10_000


def test_errors_are_counted_for_the_version_that_raised(lam, cloudwatch):
    # given alias live on version 1 with half its traffic on version 2, a build that fails every invocation
    create_function_with_alias(lam, FUNCTION)
    new = publish_build(lam, 2, failure_share=1.0)
    lam.update_alias(FunctionName=FUNCTION, Name="live", RoutingConfig={"AdditionalVersionWeights": {new: 0.5}})
    moto_patches.ROUTING_RANDOM.seed(3)

    # when the alias is invoked 30 times
    ran, failed = invoke_many(lam, 30, FunctionName=f"{FUNCTION}:live")

    # then every error is version 2's, as many as its invocations, and version 1 has none
    found = totals(
        cloudwatch,
        query("old", "Errors", executed("1")),
        query("new", "Errors", executed("2")),
        query("all", "Errors", {"FunctionName": FUNCTION}),
    )
    assert failed == ran["2"] > 0
    assert (found["old"], found["new"], found["all"]) == (0, ran["2"], ran["2"])


def test_an_unqualified_or_version_invocation_has_no_executed_version(lam, cloudwatch):
    # given orders-api with alias live on version 1, and build 2 on $LATEST
    create_function_with_alias(lam, FUNCTION)
    ship_code(lam, FUNCTION, 2)

    # when the function is invoked twice without a qualifier and three times as version 1
    invoke_many(lam, 2, FunctionName=FUNCTION)
    invoke_many(lam, 3, FunctionName=FUNCTION, Qualifier="1")

    # then the function counts five; version 1's Resource three, with no ExecutedVersion; nothing under the alias
    listed = cloudwatch.list_metrics(Namespace="AWS/Lambda", MetricName="Invocations")["Metrics"]
    dimension_sets = {frozenset((d["Name"], d["Value"]) for d in metric["Dimensions"]) for metric in listed}
    assert dimension_sets == {
        frozenset(),
        frozenset({("FunctionName", FUNCTION)}),
        frozenset({("FunctionName", FUNCTION), ("Resource", f"{FUNCTION}:1")}),
    }
    found = totals(
        cloudwatch,
        query("function", "Invocations", {"FunctionName": FUNCTION}),
        query("version", "Invocations", {"FunctionName": FUNCTION, "Resource": f"{FUNCTION}:1"}),
        query("alias", "Invocations", {"FunctionName": FUNCTION, "Resource": f"{FUNCTION}:live"}),
    )
    assert found == {"function": 5, "version": 3, "alias": None}


def test_an_invocation_refused_for_concurrency_is_a_throttle_not_an_invocation(lam, cloudwatch, monkeypatch):
    # given a function that holds its only execution environment until told, and a short wait for a free one
    create_function_with_alias(lam, FUNCTION)
    source = "import time\ndef handler(event, context):\n    time.sleep(event.get('hold', 0))\n    return {}\n"
    ship_codes(lam, [FUNCTION], 2)
    lam.update_function_code(FunctionName=FUNCTION, ZipFile=_zip(source))
    lam.get_waiter("function_updated_v2").wait(FunctionName=FUNCTION, WaiterConfig={"Delay": 0.1})
    lambda_runner.pool.configure(max_per_function=1)
    monkeypatch.setattr(lambda_runner, "QUEUE_SECONDS", 0.2)
    holder = threading.Thread(target=lam.invoke, kwargs={"FunctionName": FUNCTION, "Payload": b'{"hold": 3}'})
    holder.start()
    _wait_until(lambda: lambda_runner.pool.running, "the first invocation's environment")

    # when a second invocation comes while the only environment is busy (from a client that does not retry)
    once = boto3.client(
        "lambda", region_name="us-east-1", config=Config(retries={"mode": "standard", "total_max_attempts": 1})
    )
    with pytest.raises(ClientError) as refused:
        once.invoke(FunctionName=FUNCTION, Payload=b"{}")
    holder.join(timeout=30)

    # then it is refused as Lambda throttles, and CloudWatch has one throttle and one invocation
    assert refused.value.response["Error"]["Code"] == "TooManyRequestsException"
    found = totals(
        cloudwatch,
        query("throttles", "Throttles", {"FunctionName": FUNCTION}),
        query("invocations", "Invocations", {"FunctionName": FUNCTION}),
    )
    assert found == {"throttles": 1, "invocations": 1}


def test_percentiles_and_trimmed_statistics_of_single_values(lam, cloudwatch):
    # given durations of 1 to 100 ms put as single values in one minute
    now = datetime.now(UTC).replace(second=30)
    data = [{"MetricName": "Duration", "Value": float(v), "Dimensions": [], "Timestamp": now} for v in range(1, 101)]
    for start in range(0, 100, 20):
        cloudwatch.put_metric_data(Namespace="AWS/Lambda", MetricData=data[start : start + 20])

    # when statistics of them are asked for
    stats = ("p99", "p50", "p100", "tm90", "tc90", "ts10", "TM(10%:90%)", "IQM", "Sum", "SampleCount")
    found = totals(cloudwatch, *(query(f"q{i}", "Duration", {}, stat) for i, stat in enumerate(stats)))

    # then each is CloudWatch's: the nearest rank's value, the mean, count or sum of the values kept
    assert [found[f"q{i}"] for i in range(len(stats))] == [99, 50, 100, 45.5, 90, 55, 50.5, 50.5, 5050, 100]


def test_an_unknown_statistic_is_refused_by_name(lam, cloudwatch):
    # given nothing; when a query asks for a statistic CloudWatch does not know
    with pytest.raises(ClientError) as refused:
        totals(cloudwatch, query("q", "Duration", {}, "p99x"))

    # then the error names it
    assert "p99x" in refused.value.response["Error"]["Message"]


def _zip(source):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("app.py", source)
    return buffer.getvalue()


def _wait_until(condition, what, timeout=30.0):
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} not there after {timeout} s")
        time.sleep(0.05)


def test_the_faulty_build_answers_a_json_error(lam):
    # given a function whose version 2 fails every invocation
    create_function_with_alias(lam, FUNCTION)
    version = publish_build(lam, 2, failure_share=1.0)

    # when version 2 is invoked, then it answers an Unhandled error naming its build
    response = lam.invoke(FunctionName=FUNCTION, Qualifier=version, Payload=b"{}")
    assert response["FunctionError"] == "Unhandled"
    assert "build 2 failed" in json.loads(response["Payload"].read())["errorMessage"]


def test_an_alarm_set_to_alarm_is_described_so_and_keeps_its_state_through_an_update(lam, cloudwatch):
    # given an alarm on orders-api's errors, as a stack's Alarms parameter names one
    alarm = {
        "AlarmName": "orders-api-errors",
        "Namespace": "AWS/Lambda",
        "MetricName": "Errors",
        "Dimensions": [{"Name": "FunctionName", "Value": FUNCTION}],
        "Statistic": "Sum",
        "Period": 60,
        "EvaluationPeriods": 1,
        "Threshold": 1.0,
        "ComparisonOperator": "GreaterThanOrEqualToThreshold",
    }
    cloudwatch.put_metric_alarm(**alarm)
    created = cloudwatch.describe_alarms(AlarmNames=["orders-api-errors"])["MetricAlarms"]

    # when a test sets it to ALARM, then its threshold is changed
    cloudwatch.set_alarm_state(AlarmName="orders-api-errors", StateValue="ALARM", StateReason="errors seen")
    cloudwatch.put_metric_alarm(**{**alarm, "Threshold": 3.0})
    described = cloudwatch.describe_alarms(AlarmNames=["orders-api-errors", "no-such-alarm"])["MetricAlarms"]

    # then it started INSUFFICIENT_DATA, as on AWS, and is described in ALARM with the new threshold
    assert [a["StateValue"] for a in created] == ["INSUFFICIENT_DATA"]
    assert [(a["AlarmName"], a["StateValue"], a["StateReason"], a["Threshold"]) for a in described] == [
        ("orders-api-errors", "ALARM", "errors seen", 3.0)
    ]


def test_an_event_invocation_counts_each_attempt_under_its_alias(lam, cloudwatch, monkeypatch):
    # given alias live wholly on a version 2 that fails, retried once a moment later when invoked asynchronously
    create_function_with_alias(lam, FUNCTION)
    new = publish_build(lam, 2, failure_share=1.0)
    lam.update_alias(FunctionName=FUNCTION, Name="live", FunctionVersion=new)
    lam.put_function_event_invoke_config(FunctionName=FUNCTION, Qualifier="live", MaximumRetryAttempts=1)
    monkeypatch.setitem(async_invoke._settings, "retry_seconds", 0.05)

    # when the alias is invoked once with InvocationType Event
    assert lam.invoke(FunctionName=FUNCTION, Qualifier="live", InvocationType="Event")["StatusCode"] == 202

    # then both attempts count as invocations and errors of version 2 under the alias, as Lambda counts them
    def counted():
        found = totals(
            cloudwatch,
            query("invocations", "Invocations", executed(new)),
            query("errors", "Errors", executed(new)),
        )
        return found if found["invocations"] == 2 else None

    _wait_until(counted, "two attempts counted")
    assert counted() == {"invocations": 2, "errors": 2}
