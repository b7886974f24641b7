"""A canary's traffic on the local runtime, counted in its CloudWatch as Lambda counts it: the figures a canary
analysis reads, for the new version behind the alias's weight and the version it replaces."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import boto3

from canary_testing.browser import open_and_submit
from lambda_canary.traffic import Traffic


def invocations_by_version(names):
    """{(function, version): Invocations} under alias live, from one GetMetricData call (Sum, one-minute periods)."""
    queries, keys = [], {}
    for name in names:
        for version in ("1", "2"):
            keys[f"q{len(queries)}"] = (name, version)
            dimensions = {"FunctionName": name, "Resource": f"{name}:live", "ExecutedVersion": version}
            queries.append(
                {
                    "Id": f"q{len(queries)}",
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
            )
    now = datetime.now(UTC)
    answer = boto3.client("cloudwatch").get_metric_data(
        MetricDataQueries=queries, StartTime=now - timedelta(minutes=10), EndTime=now + timedelta(minutes=1)
    )
    found = {keys[r["Id"]]: int(sum(r["Values"])) for r in answer["MetricDataResults"]}
    return {key: count for key, count in found.items() if count}


def test_a_canarys_traffic_is_counted_per_version_in_cloudwatch(make_fleet):
    # given a deployment of two functions waiting for a decision, half of each alias's traffic on version 2
    fleet = make_fleet(2)
    execution = fleet.start(weight=0.5)
    links = fleet.links()
    assert fleet.aliases() == {name: ("1", {"2": 0.5}) for name in fleet.names}

    # when traffic runs on their aliases until 60 invocations were sent
    with Traffic(boto3.client("lambda"), fleet.names, rate=40) as traffic:
        deadline = time.monotonic() + 60
        while traffic.counts()[0] < 60:
            assert time.monotonic() < deadline, f"traffic sent only {traffic.counts()} in 60 s"
            time.sleep(0.1)

    # then CloudWatch counts, per function and version that ran, exactly what the traffic saw, both versions ran
    assert traffic.failed == 0
    assert invocations_by_version(fleet.names) == dict(traffic.executed)
    assert {version for _, version in traffic.executed} == {"1", "2"}

    # and the deployment is rolled back (nothing left waiting)
    open_and_submit(links["rollback"])
    assert fleet.wait(execution)["status"] == "FAILED"
