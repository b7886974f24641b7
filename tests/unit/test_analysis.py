"""Canary analysis (canary_core.analysis): reading each version's figures from CloudWatch, the exact test that
the new version fails more often, and the verdicts drawn from them."""

from __future__ import annotations

import json
import math
import random
import re
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import boto3
import pytest
from moto.cloudwatch.models import Statistics
from scipy.stats import chi2_contingency, fisher_exact, hypergeom

from canary_core.analysis import (
    HEALTHY,
    MAX_QUERIES_PER_CALL,
    NOT_ENOUGH_TRAFFIC,
    QUERY_ID,
    UNHEALTHY,
    DeploymentVerdict,
    Figures,
    VersionFigures,
    higher_failure_p_value,
    judge,
    judge_deployment,
    period_for,
    read_figures,
)
from canary_core.limits import LISTED, MAX_CAUSE_CHARACTERS
from canary_core.model import Analysis, FunctionTarget
from canary_testing import ACCOUNT_ID, FIXED_NOW, REGION

ANALYSIS = Analysis(mode="rollback", min_invocations=100, confidence=0.99, max_p99_ratio=1.5)
START = FIXED_NOW - timedelta(minutes=10)  # traffic moved ten minutes before the fixed clock
END = FIXED_NOW


def figures(version: str, invocations: int, errors: int = 0, throttles: int = 0, p99: float | None = 100.0) -> Any:
    return VersionFigures(version, invocations, errors, throttles, p99)


def old(invocations: int, errors: int = 0, throttles: int = 0, p99: float | None = 100.0) -> VersionFigures:
    return figures("1", invocations, errors, throttles, p99)


def new(invocations: int, errors: int = 0, throttles: int = 0, p99: float | None = 100.0) -> VersionFigures:
    return figures("2", invocations, errors, throttles, p99)


# --- the exact test, against scipy ----------------------------------------------------------------------------


def _random_tables(seed: int, count: int, most: int) -> Iterator[tuple[int, int, int, int]]:
    """(new failures, new requests, old failures, old requests): rare failures, common ones, zero counts."""
    rng = random.Random(seed)
    for _ in range(count):
        new_requests, old_requests = rng.randint(0, most), rng.randint(0, most)
        if rng.random() < 0.5:  # failures rare, as they usually are: a few, often none
            yield rng.randint(0, min(new_requests, 6)), new_requests, rng.randint(0, min(old_requests, 6)), old_requests
        else:
            yield rng.randint(0, new_requests), new_requests, rng.randint(0, old_requests), old_requests


def test_the_p_value_is_fishers_exact_one_sided_p_value_as_scipy_computes_it():
    for a, n, c, m in _random_tables(seed=8, count=2_000, most=3_000):
        # given a table of failures and successes of both versions
        table = [[a, n - a], [c, m - c]]

        # when the p-value is computed here and by scipy
        ours = higher_failure_p_value(a, n, c, m)
        theirs = fisher_exact(table, alternative="greater").pvalue

        # then they agree (relative 1e-9, or both below 1e-300)
        assert ours == pytest.approx(theirs, rel=1e-9, abs=1e-300), table


def test_the_p_value_is_the_hypergeometric_upper_tail_for_millions_of_requests():
    for a, n, c, m in _random_tables(seed=80, count=200, most=5_000_000):
        # given large tables (the test sums from the nearest end of the tail and stops when terms vanish)
        total, failures = n + m, a + c

        # when the p-value is computed here and as scipy's hypergeometric survival function
        ours = higher_failure_p_value(a, n, c, m)
        theirs = hypergeom.sf(a - 1, total, failures, n)

        # then they agree to a relative 1e-6 (lgamma of numbers in the millions keeps about 8 digits)
        assert ours == pytest.approx(theirs, rel=1e-6, abs=1e-300), (a, n, c, m)


def test_the_exact_test_agrees_with_the_chi_square_test_once_samples_are_large():
    rng = random.Random(88)
    for _ in range(200):
        # given thousands of requests to each version and rates of 1% to 20% (the normal approximation holds)
        n, m = rng.randint(20_000, 60_000), rng.randint(20_000, 60_000)
        a, c = round(n * rng.uniform(0.01, 0.2)), round(m * rng.uniform(0.01, 0.2))
        if a / n <= c / m:
            continue

        # when both tests judge whether the new version fails more often
        exact = higher_failure_p_value(a, n, c, m)
        chi2 = chi2_contingency([[a, n - a], [c, m - c]], correction=True).pvalue / 2  # one-sided: half

        # then they say the same at 99%, and their p-values are close where it matters
        assert (exact <= 0.01) == (chi2 <= 0.01) or abs(exact - chi2) < 0.002, (a, n, c, m, exact, chi2)


def test_one_error_against_none_is_not_significant_where_a_z_test_would_say_it_is():
    # given 1 error in 100 requests to the new version, none in 3,000 to the old one
    # when the p-value is computed
    p_value = higher_failure_p_value(1, 100, 0, 3_000)

    # then it is the chance that the one failure falls among the new version's requests: 100 / 3,100
    assert p_value == pytest.approx(100 / 3_100)
    # while the pooled z-test, on the same table, would call it significant far beyond 99%
    pooled = 1 / 3_100
    z = (1 / 100) / math.sqrt(pooled * (1 - pooled) * (1 / 100 + 1 / 3_000))
    assert 0.5 * math.erfc(z / math.sqrt(2)) < 1e-7


def test_no_failures_or_no_requests_give_a_p_value_of_one():
    # given tables with nothing to tell: no failure at all, no request to either version, all requests failing
    tables = [(0, 500, 0, 5_000), (0, 0, 0, 0), (0, 0, 5, 10), (5, 5, 0, 0), (300, 300, 3_000, 3_000)]

    # when their p-values are computed, then none is below one
    assert [higher_failure_p_value(*table) for table in tables] == [1.0] * len(tables)


def test_failures_beyond_the_requests_are_refused():
    with pytest.raises(ValueError, match="failures must be between 0 and the requests"):
        higher_failure_p_value(11, 10, 0, 10)


# --- judging one function -------------------------------------------------------------------------------------


def test_a_new_version_failing_more_is_unhealthy_with_both_versions_figures_in_the_reason():
    # given 41 errors in 340 requests to the new version, 15 in 3,060 to the old one
    # when judged
    verdict = judge(old(3_060, errors=15), new(340, errors=41), ANALYSIS)

    # then it is unhealthy, and the reason gives both rates, both sample sizes and the confidence
    assert verdict.verdict == UNHEALTHY
    assert verdict.reason.startswith("errors 12.1% of 340 vs 0.5% of 3,060: higher at 99% confidence (p = ")
    assert verdict.p_value is not None and verdict.p_value < 1e-20


def test_both_versions_failing_alike_is_not_the_new_versions_fault():
    for old_errors, new_errors in [(300, 35), (3_060, 340), (1_500, 180)]:
        # given the old version already failing (10%, 100%, 49%), the new one failing about as often
        # when judged
        verdict = judge(old(3_060, errors=old_errors), new(340, errors=new_errors), ANALYSIS)

        # then the new version is not blamed: it is healthy
        assert verdict.verdict == HEALTHY, verdict.reason
        assert ": not higher at 99% confidence" in verdict.reason


def test_below_the_minimum_of_new_requests_the_verdict_is_never_healthy():
    rng = random.Random(7)
    for _ in range(500):
        # given fewer new requests than the minimum, with any errors, throttles and durations on either side
        invocations = rng.randint(0, 99)
        new_figures = new(invocations, rng.randint(0, invocations), rng.randint(0, 99 - invocations), rng.uniform(1, 9))
        old_invocations = rng.randint(0, 10_000)
        old_figures = old(old_invocations, rng.randint(0, old_invocations), p99=rng.uniform(1, 9))

        # when judged
        verdict = judge(old_figures, new_figures, ANALYSIS)

        # then there is not enough traffic yet, and the reason says how much there was and how much is needed
        assert verdict.verdict == NOT_ENOUGH_TRAFFIC
        assert verdict.reason == f"{new_figures.requests} requests to the new version, 100 needed"


def test_an_old_version_with_too_little_traffic_cannot_vouch_for_the_new_one():
    # given 40 requests to the old version (the new one has 400, with as few errors)
    # when judged
    verdict = judge(old(40), new(400, errors=1), ANALYSIS)

    # then the verdict is not enough traffic, saying that the old version lacks it
    assert verdict.verdict == NOT_ENOUGH_TRAFFIC
    assert verdict.reason.endswith("but 40 requests to the old version, 100 needed")


def test_an_old_version_with_too_little_traffic_still_shows_a_new_version_failing_far_more():
    # given 40 requests to the old version without an error, and a new version failing 30% of 400
    # when judged
    verdict = judge(old(40), new(400, errors=120), ANALYSIS)

    # then the exact test, which accounts for the old version's small sample, finds it worse
    assert verdict.verdict == UNHEALTHY


def test_a_p99_more_than_the_ratio_above_the_old_one_is_unhealthy():
    # given the same error rates, and a new p99 of 151 ms, 1.51 times the old version's 100 ms
    # when judged
    slower = judge(old(3_000, p99=100.0), new(300, p99=151.0), ANALYSIS)
    as_fast = judge(old(3_000, p99=100.0), new(300, p99=150.0), ANALYSIS)

    # then above 1.5 times it is unhealthy, saying so with both figures; at 1.5 times, healthy
    assert slower.verdict == UNHEALTHY
    assert slower.reason.startswith("p99 151 ms vs 100 ms: more than 1.5 times; errors 0% of 300 vs 0% of 3,000")
    assert (as_fast.verdict, as_fast.reason) == (
        HEALTHY,
        "errors 0% of 300 vs 0% of 3,000: not higher at 99% confidence; p99 150 ms vs 100 ms",
    )


@pytest.mark.parametrize(("old_p99", "new_p99"), [(0.04, 0.1), (2.0, 11.9)])
def test_a_p99_a_few_milliseconds_slower_is_not_a_regression_whatever_the_ratio(old_p99, new_p99):
    # given durations of a few milliseconds: the new p99 2.5 or 6 times the old one, but under 10 ms slower
    # when judged
    verdict = judge(old(3_000, p99=old_p99), new(300, p99=new_p99), ANALYSIS)

    # then it is healthy: a ratio of tiny durations is noise
    assert verdict.verdict == HEALTHY


def test_the_p99_is_compared_only_when_both_versions_have_enough_invocations():
    # given a new p99 three times the old one, the new version's requests mostly throttled alike
    # when judged with 60 invocations (and 60 throttles) to the new version
    verdict = judge(old(3_000, throttles=3_000, p99=100.0), new(60, throttles=60, p99=300.0), ANALYSIS)

    # then the durations are not compared: 60 invocations give no p99 worth comparing
    assert verdict.verdict == HEALTHY
    assert "p99" not in verdict.reason


def test_throttles_count_as_failed_requests_of_their_version():
    # given a new version throttled for 100 of its 300 requests, the old one never
    # when judged
    throttled = judge(old(3_000), new(200, throttles=100), ANALYSIS)
    # and given both throttled about alike (the concurrency they share ran out)
    alike = judge(old(2_000, throttles=1_000), new(200, throttles=100), ANALYSIS)

    # then the first is unhealthy, naming the throttles; the second is not blamed
    assert throttled.verdict == UNHEALTHY
    assert throttled.reason.startswith("errors 33.3% of 300, 100 throttled vs 0% of 3,000: higher")
    assert alike.verdict == HEALTHY


def test_the_confidence_decides_how_strong_the_evidence_must_be():
    # given 8 errors in 300 requests against 30 in 3,000 (p about 0.02)
    old_figures, new_figures = old(3_000, errors=30), new(300, errors=8)

    # when judged at 95% and at 99% confidence
    at_95 = judge(old_figures, new_figures, Analysis(confidence=0.95))
    at_99 = judge(old_figures, new_figures, Analysis(confidence=0.99))

    # then only the lower confidence calls it unhealthy
    assert 0.01 < (at_95.p_value or 0) < 0.05
    assert (at_95.verdict, at_99.verdict) == (UNHEALTHY, HEALTHY)
    assert "higher at 95% confidence" in at_95.reason


# --- judging a deployment -------------------------------------------------------------------------------------


def _fleet(unhealthy: int, short: int, healthy: int) -> dict[str, Figures]:
    fleet = {f"bad-{i:04d}": Figures(old(3_060, errors=15), new(340, errors=41)) for i in range(unhealthy)}
    fleet |= {f"new-{i:04d}": Figures(old(3_060), new(20)) for i in range(short)}
    fleet |= {f"ok-{i:04d}": Figures(old(3_060, errors=15), new(340, errors=2)) for i in range(healthy)}
    return fleet


def test_one_unhealthy_function_makes_the_deployment_unhealthy_and_the_cause_names_it_with_its_figures():
    # given 1 unhealthy function, 2 without enough traffic and 67 healthy
    # when the deployment is judged
    verdict = judge_deployment(_fleet(1, 2, 67), ANALYSIS)

    # then it is unhealthy, counted by verdict, and the cause names the function, its versions and figures
    assert verdict.verdict == UNHEALTHY
    assert verdict.counts == {UNHEALTHY: 1, NOT_ENOUGH_TRAFFIC: 2, HEALTHY: 67}
    assert verdict.summary == "1 of 70 functions unhealthy, 2 without enough traffic yet, 67 healthy"
    assert verdict.cause.startswith(
        "canary analysis: 1 of 70 functions unhealthy, 2 without enough traffic yet, 67 healthy: "
        "bad-0000 (version 2 against 1): errors 12.1% of 340 vs 0.5% of 3,060: higher at 99% confidence"
    )


def test_a_function_without_enough_traffic_keeps_the_deployment_from_being_healthy():
    # given 69 healthy functions and one with 20 new requests
    # when the deployment is judged
    verdict = judge_deployment(_fleet(0, 1, 69), ANALYSIS)

    # then it cannot be told healthy yet, and there is no cause to roll back
    assert (verdict.verdict, verdict.cause) == (NOT_ENOUGH_TRAFFIC, "")


def test_every_function_healthy_is_a_healthy_deployment():
    verdict = judge_deployment(_fleet(0, 0, 70), ANALYSIS)

    assert verdict.verdict == HEALTHY
    assert verdict.summary == "70 of 70 functions healthy"


def test_a_function_cloudwatch_could_not_answer_for_is_not_judged_healthy():
    # given a function whose figures CloudWatch answered only in part
    fleet = {"orders-api": Figures(old(3_060), new(340), incomplete="Errors of version 2: InternalError")}

    # when the deployment is judged
    verdict = judge_deployment(fleet, ANALYSIS)

    # then it cannot be told, and says why
    assert verdict.verdict == NOT_ENOUGH_TRAFFIC
    assert verdict.comparisons[0].reason == (
        "CloudWatch did not answer every figure: Errors of version 2: InternalError"
    )


def test_a_thousand_functions_judged_keep_a_small_item_with_the_unhealthy_ones_first():
    # given 1,000 functions: 300 unhealthy, 200 without enough traffic, 500 healthy
    # when the deployment is judged and made an item
    verdict = judge_deployment(_fleet(300, 200, 500), ANALYSIS)
    item = verdict.as_item()

    # then the item is plain JSON of a few KB: the first LISTED unhealthy functions, every count, the cause
    text = json.dumps(item)
    assert json.loads(text) == item
    assert len(text) < 16_000
    assert [f["name"] for f in item["functions"]] == [f"bad-{i:04d}" for i in range(LISTED)]
    assert item["counts"] == {UNHEALTHY: 300, NOT_ENOUGH_TRAFFIC: 200, HEALTHY: 500}
    assert item["functions"][0]["new"] == {
        "version": "2",
        "requests": 340,
        "errors": 41,
        "throttles": 0,
        "error_rate": 0.120588,
        "p99_ms": 100.0,
    }
    assert item["cause"].endswith(f"and {300 - LISTED} more unhealthy")
    assert len(item["cause"]) <= MAX_CAUSE_CHARACTERS


def test_the_kept_comparisons_fill_up_with_functions_lacking_traffic_then_healthy_ones():
    verdict = judge_deployment(_fleet(2, 3, 30), ANALYSIS)

    assert [c.verdict for c in verdict.comparisons] == [UNHEALTHY] * 2 + [NOT_ENOUGH_TRAFFIC] * 3 + [HEALTHY] * 15


def test_a_deployment_with_nothing_to_compare_says_so():
    verdict = judge_deployment({}, ANALYSIS)

    assert (verdict.verdict, verdict.summary, verdict.cause) == (
        HEALTHY,
        "no function to compare (none has both an old and a new version)",
        "",
    )


# --- reading CloudWatch ---------------------------------------------------------------------------------------


def _percentiles_of_single_values(original: Callable[..., Any]) -> Callable[..., Any]:
    """moto 5.2.5 answers no percentile statistic (GetMetricData fails serialising None for "p99"). AWS
    answers the percentile of the values put: this stand-in computes it, by nearest rank, for single values."""

    def get_statistics_for_type(self: Statistics, stat: str) -> Any:
        value = original(self, stat)
        percentile = re.fullmatch(r"p(\d+(?:\.\d+)?)", stat)
        values = sorted(self.metric_single_values_list)
        if value is None and percentile and values:
            return values[max(0, math.ceil(float(percentile.group(1)) / 100 * len(values)) - 1)]
        return value

    return get_statistics_for_type


@pytest.fixture
def cloudwatch(aws: None, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setattr(
        Statistics, "get_statistics_for_type", _percentiles_of_single_values(Statistics.get_statistics_for_type)
    )
    return boto3.client("cloudwatch", region_name=REGION)


def _put(
    cloudwatch: Any,
    name: str,
    version: str,
    alias: str = "live",
    at: datetime = START + timedelta(minutes=5),
    durations: list[float] | None = None,
    **counts: int,
) -> None:
    """Lambda's figures of one version under an alias, as Lambda publishes them (counts put as one datum each:
    their Sum is what the analysis reads)."""
    dimensions = [
        {"Name": "FunctionName", "Value": name},
        {"Name": "Resource", "Value": f"{name}:{alias}"},
        {"Name": "ExecutedVersion", "Value": version},
    ]
    data: list[dict[str, Any]] = [
        {"MetricName": metric, "Dimensions": dimensions, "Value": value, "Timestamp": at, "Unit": "Count"}
        for metric, value in counts.items()
    ]
    if durations:
        data.append(
            {
                "MetricName": "Duration",
                "Dimensions": dimensions,
                "Values": durations,
                "Timestamp": at,
                "Unit": "Milliseconds",
            }
        )
    cloudwatch.put_metric_data(Namespace="AWS/Lambda", MetricData=data)


def _target(name: str, old_version: str = "1", new_version: str | None = "2") -> FunctionTarget:
    return FunctionTarget(name, f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:{name}", old_version, new_version)


def _calls(cloudwatch: Any) -> list[list[dict[str, Any]]]:
    """The MetricDataQueries of every GetMetricData call the client makes from now on."""
    calls: list[list[dict[str, Any]]] = []
    cloudwatch.meta.events.register(
        "provide-client-params.cloudwatch.GetMetricData",
        lambda params, **_: calls.append(params["MetricDataQueries"]),
    )
    return calls


def test_each_versions_figures_are_read_under_the_alias(cloudwatch):
    # given Lambda's figures of versions 1 and 2 of orders-api under alias live, with figures beside them that
    # are not the deployment's: another alias, another function, data before the window
    _put(cloudwatch, "orders-api", "1", Invocations=3_060, Errors=15, durations=[float(d) for d in range(1, 101)])
    _put(cloudwatch, "orders-api", "2", Invocations=300, Errors=41, Throttles=40, durations=[250.0] * 50)
    _put(cloudwatch, "orders-api", "2", alias="beta", Invocations=9_999, Errors=9_999)
    _put(cloudwatch, "billing", "2", Invocations=7_777, Errors=7_777)
    _put(cloudwatch, "orders-api", "2", at=START - timedelta(minutes=1), Invocations=5_555, Errors=5_555)

    # when the deployment's figures are read for the window
    read = read_figures(cloudwatch, [_target("orders-api")], "live", START, END)

    # then each version has its own figures, from the alias and the window only
    assert read == {
        "orders-api": Figures(
            old=VersionFigures("1", invocations=3_060, errors=15, throttles=0, p99_ms=99.0),
            new=VersionFigures("2", invocations=300, errors=41, throttles=40, p99_ms=250.0),
        )
    }


def test_a_version_lambda_published_nothing_for_has_zero_figures(cloudwatch):
    # given figures for the old version only (Lambda publishes nothing while a version has no invocation)
    _put(cloudwatch, "orders-api", "1", Invocations=3_060, durations=[80.0])

    # when read
    read = read_figures(cloudwatch, [_target("orders-api")], "live", START, END)

    # then the new version has zero requests and no p99, which the judgement calls not enough traffic
    assert read["orders-api"].new == VersionFigures("2", 0, 0, 0, None)
    assert judge(read["orders-api"].old, read["orders-api"].new, ANALYSIS).verdict == NOT_ENOUGH_TRAFFIC


def test_functions_without_two_versions_to_compare_get_no_figures_and_cost_no_query(cloudwatch):
    # given functions not published yet, unchanged (publishing gave back their version), pinned from $LATEST
    functions = [_target("unpublished", new_version=None), _target("same", "4", "4"), _target("pinned", "$LATEST")]
    calls = _calls(cloudwatch)

    # when read
    read = read_figures(cloudwatch, functions, "live", START, END)

    # then none has figures, and CloudWatch was not asked
    assert (read, calls) == ({}, [])


def test_a_thousand_functions_are_read_in_sixteen_calls_within_getmetricdatas_limits(cloudwatch):
    # given 1,000 functions, every hundredth with figures (moto scans every datum for every query: few datums)
    functions = [_target(f"fn-{i:04d}-{'x' * 50}") for i in range(1_000)]
    for i in range(0, 1_000, 100):
        _put(cloudwatch, functions[i].name, "1", Invocations=1_000 + i, Errors=i // 100)
        _put(cloudwatch, functions[i].name, "2", Invocations=100 + i, Throttles=1)
    calls = _calls(cloudwatch)

    # when all are read
    read = read_figures(cloudwatch, functions, "live", START, END)

    # then 8,000 queries (2 versions, 4 metrics) went in 16 calls of at most 500, each Id valid and unique in its call
    assert [len(queries) for queries in calls] == [MAX_QUERIES_PER_CALL] * 16
    for queries in calls:
        ids = [query["Id"] for query in queries]
        assert len(set(ids)) == len(ids)
        assert all(QUERY_ID.match(query_id) for query_id in ids)
    # and every function has its own figures back
    assert len(read) == 1_000
    assert read[functions[700].name].old == VersionFigures("1", 1_700, 7, 0, None)
    assert read[functions[700].name].new == VersionFigures("2", 800, 0, 1, None)
    assert read[functions[701].name].new == VersionFigures("2", 0, 0, 0, None)


def test_the_whole_window_is_one_period_at_the_resolution_cloudwatch_keeps():
    # given windows of 10 minutes, 10 minutes and a second, 20 days and 100 days
    start = FIXED_NOW
    windows = [timedelta(minutes=10), timedelta(minutes=10, seconds=1), timedelta(days=20), timedelta(days=100)]

    # when each is given its period
    periods = [period_for(start, start + window) for window in windows]

    # then each covers the window in whole minutes (five minutes past 15 days, hours past 63 days)
    assert periods == [600, 660, 20 * 86_400, 100 * 86_400]
    assert period_for(start, start + timedelta(seconds=5)) == 60
    with pytest.raises(ValueError, match="the window ends"):
        period_for(start, start)


class PagedCloudWatch:
    """GetMetricData answering in two pages (as AWS does past MaxDatapoints), the second page with a status."""

    def __init__(self, status: str = "Complete") -> None:
        self.status = status
        self.requests: list[dict[str, Any]] = []

    def get_metric_data(self, **request: Any) -> dict[str, Any]:
        self.requests.append(request)
        ids = [query["Id"] for query in request["MetricDataQueries"]]
        if "NextToken" not in request:
            return {
                "MetricDataResults": [{"Id": i, "Values": [100.0], "StatusCode": "PartialData"} for i in ids],
                "NextToken": "page-2",
            }
        results = [{"Id": i, "Values": [10.0], "StatusCode": "Complete"} for i in ids]
        results[1] |= {"StatusCode": self.status, "Messages": [{"Code": "x", "Value": "try again"}]}
        return {"MetricDataResults": results}


def test_pages_are_followed_and_a_querys_values_summed_across_them():
    # given a CloudWatch answering each query's data points over two pages
    paged = PagedCloudWatch()

    # when read
    read = read_figures(paged, [_target("orders-api")], "live", START, END)

    # then the second page was asked for with the token, and counts add up; the p99 is the higher data point
    assert [r.get("NextToken") for r in paged.requests] == [None, "page-2"]
    assert read["orders-api"] == Figures(
        VersionFigures("1", 110, 110, 110, 100.0), VersionFigures("2", 110, 110, 110, 100.0)
    )


def test_a_query_cloudwatch_could_not_answer_marks_the_figures_incomplete():
    # given a CloudWatch answering InternalError for the old version's Errors
    # when read
    read = read_figures(PagedCloudWatch(status="InternalError"), [_target("orders-api")], "live", START, END)

    # then the function's figures say what is missing (and are then not judged healthy)
    assert read["orders-api"].incomplete == "Errors of version 1: InternalError: try again"


def test_the_window_starts_on_its_minute_and_one_period_reaches_its_end():
    # given a window from 09:20:34 to 09:30:34 (CloudWatch rounds a start time down to its minute)
    paged = PagedCloudWatch()
    start = FIXED_NOW - timedelta(minutes=9, seconds=26)

    # when read
    read_figures(paged, [_target("orders-api")], "live", start, start + timedelta(minutes=10))

    # then the request starts at 09:20:00 with a period of 11 minutes: one data point up to 09:31:00
    request = paged.requests[0]
    assert request["StartTime"] == FIXED_NOW.replace(minute=20)
    assert {query["MetricStat"]["Period"] for query in request["MetricDataQueries"]} == {660}


def test_a_minimum_of_zero_still_never_calls_a_version_nobody_called_healthy():
    # given no request to either version, and an analysis asking for no minimum
    # when judged
    verdict = judge(old(0), new(0), Analysis(min_invocations=0))

    # then there is not enough traffic (one request at the least)
    assert (verdict.verdict, verdict.reason) == (NOT_ENOUGH_TRAFFIC, "0 requests to the new version, 1 needed")


def test_a_verdict_comes_back_whole_from_its_item_as_json_and_dynamodb_give_it():
    # given a deployment's verdict made an item, through JSON, its numbers as DynamoDB gives them back
    verdict = judge_deployment(_fleet(2, 1, 3), ANALYSIS)
    item = json.loads(json.dumps(verdict.as_item()), parse_float=Decimal, parse_int=Decimal)

    # when read back
    again = DeploymentVerdict.from_item(item)

    # then it is the same verdict, with the same summary and cause
    assert again == verdict
    assert (again.summary, again.cause) == (verdict.summary, verdict.cause)
