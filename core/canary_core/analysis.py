"""Canary analysis: the new version of each function against the version it replaces, under the same alias.

Lambda publishes its metrics per function, alias (`Resource` = "name:alias") and `ExecutedVersion`, so the two
versions behind one weighted alias can be told apart. `read_figures` reads, for each, the requests, errors,
throttles and p99 duration since traffic moved; `judge` compares the two; `judge_deployment` sums the
comparisons up for the workflow, the trail and Slack.

How a function is judged (`judge`):

- Requests are invocations plus throttles, and failures are errors plus throttles: a caller sees a throttled
  request fail like an error, and Lambda does not count it in `Invocations`. Throttles come from the
  function's concurrency, which both versions share: when both are throttled alike, the test below does not
  blame the new one; when the new version is throttled more (it runs longer, or has less concurrency of its
  own), its callers fail more and it is judged for it.
- Fewer than `min_invocations` requests to the new version: "not_enough_traffic", never "healthy".
- Error rate: Fisher's exact test, one-sided, that the new version's failure rate is higher than the old
  one's; "unhealthy" when its p-value is at most 1 - `confidence`. The test is exact for any sample size
  (it conditions on both versions' requests and the failures of both), so zero counts and small samples need
  no special case, and it never calls a difference significant that the samples cannot show: one error in 100
  requests against none in 3,000 is p = 0.03, not "significant" (the pooled z-test would say p < 1e-7 there).
  Both versions failing alike is not significant, whatever the rate.
- Fewer than `min_invocations` requests to the old version: the test above may still find the new version
  worse (it accounts for the old version's small sample), but a new version that is not found worse is
  "not_enough_traffic": too few requests to the old version to vouch for the new one.
- Duration: once both versions have `min_invocations` invocations, a new p99 above `max_p99_ratio` times the
  old p99 is "unhealthy".
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from canary_core.limits import LISTED, capped_cause, listing
from canary_core.model import Analysis, FunctionTarget

HEALTHY = "healthy"
UNHEALTHY = "unhealthy"
NOT_ENOUGH_TRAFFIC = "not_enough_traffic"
VERDICTS = (UNHEALTHY, NOT_ENOUGH_TRAFFIC, HEALTHY)  # the worst first

NAMESPACE = "AWS/Lambda"
COUNTS = ("Invocations", "Errors", "Throttles")  # read with the Sum statistic
DURATION = "Duration"  # read with the p99 statistic (milliseconds)
PERCENTILE = "p99"

# GetMetricData's limits (CloudWatch API reference): at most 500 queries a call, at most 100,800 data points a
# call (more come with a NextToken), each query's Id unique in its call and matching this pattern.
MAX_QUERIES_PER_CALL = 500
MAX_DATAPOINTS_PER_CALL = 100_800
QUERY_ID = re.compile(r"^[a-z][a-zA-Z0-9_]*$")
MAX_CALLS = 10_000  # pages of one GetMetricData batch followed before giving up (never reached: one page each)


# --- figures -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class VersionFigures:
    """One version's figures under the alias, over the window read."""

    version: str
    invocations: int = 0
    errors: int = 0
    throttles: int = 0
    p99_ms: float | None = None  # None: no invocation in the window

    @property
    def requests(self) -> int:
        """What callers sent to this version: invocations, and requests Lambda throttled."""
        return self.invocations + self.throttles

    @property
    def failures(self) -> int:
        """Requests that failed: errors and throttles (never more than the requests)."""
        return min(self.errors + self.throttles, self.requests)

    @property
    def failure_rate(self) -> float:
        return self.failures / self.requests if self.requests else 0.0

    def as_item(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "requests": self.requests,
            "errors": self.errors,
            "throttles": self.throttles,
            "error_rate": round(self.failure_rate, 6),
            "p99_ms": None if self.p99_ms is None else round(self.p99_ms, 1),
        }

    @classmethod
    def from_item(cls, item: Mapping[str, Any]) -> VersionFigures:
        """Back from `as_item` (numbers as JSON or DynamoDB give them back)."""
        p99 = item.get("p99_ms")
        throttles = int(item["throttles"])
        return cls(
            str(item["version"]),
            int(item["requests"]) - throttles,
            int(item["errors"]),
            throttles,
            None if p99 is None else float(p99),
        )


@dataclass(frozen=True)
class Figures:
    """A function's old and new version, read together."""

    old: VersionFigures
    new: VersionFigures
    incomplete: str | None = None  # CloudWatch could not answer every query (its status and message)


def read_figures(
    cloudwatch: Any,
    functions: Sequence[FunctionTarget],
    alias: str,
    start: datetime,
    end: datetime,
) -> dict[str, Figures]:
    """Each function's old and new version's figures under `alias` from `start` to `end`, by function name.

    Functions without a version to compare (no new version, an unchanged one, an alias pinned from $LATEST)
    get none. The queries of all functions go in as few GetMetricData calls as its limits allow (4 per
    version: 8,000 for 1,000 functions, 16 calls).

    The whole window is one period (`period_for`), from `start` rounded down to its minute as CloudWatch
    rounds it, so each query answers one data point: the counts over the window, and the p99 of every
    invocation in it. Should CloudWatch still answer several data points for a
    query, counts are summed, and the p99 is the highest of them: percentiles cannot be added up, and the
    highest one is at least the window's p99 (every part has at most 1% of its invocations above it).
    """
    compared = [f for f in functions if f.new_version is not None and not f.unchanged and not f.pinned_from_latest]
    if not compared:
        return {}
    start = start.replace(second=0, microsecond=0)  # as CloudWatch rounds it: the period then reaches `end`
    period = period_for(start, end)
    queries: list[tuple[str, str, str]] = []  # (function name, version, metric), its position giving its Id
    for function in compared:
        for version in (function.old_version, str(function.new_version)):
            queries.extend((function.name, version, metric) for metric in (*COUNTS, DURATION))
    values: dict[int, list[float]] = {}
    problems: dict[int, str] = {}
    for first in range(0, len(queries), MAX_QUERIES_PER_CALL):
        batch = list(enumerate(queries[first : first + MAX_QUERIES_PER_CALL], start=first))
        request = [_query(index, name, alias, version, metric, period) for index, (name, version, metric) in batch]
        for result in _results(cloudwatch, request, start, end):
            index = int(str(result["Id"])[1:])
            values.setdefault(index, []).extend(float(v) for v in result.get("Values", ()))
            status = result.get("StatusCode", "Complete")
            if status not in ("Complete", "PartialData"):  # PartialData: the rest comes with the NextToken
                messages = "; ".join(str(m.get("Value", "")) for m in result.get("Messages", ()))
                problems[index] = f"{status}{': ' + messages if messages else ''}"
    figures: dict[str, Figures] = {}
    index = 0
    for function in compared:
        pair: list[VersionFigures] = []
        problem = None
        for version in (function.old_version, str(function.new_version)):
            invocations, errors, throttles = (max(0, round(sum(values.get(index + i, ())))) for i in range(len(COUNTS)))
            durations = values.get(index + len(COUNTS), [])
            for i in range(len(COUNTS) + 1):
                if index + i in problems:
                    problem = f"{queries[index + i][2]} of version {version}: {problems[index + i]}"
            pair.append(VersionFigures(version, invocations, errors, throttles, max(durations) if durations else None))
            index += len(COUNTS) + 1
        figures[function.name] = Figures(pair[0], pair[1], problem)
    return figures


def period_for(start: datetime, end: datetime) -> int:
    """A period covering the whole window as one data point: the window in seconds, rounded up to the
    resolution CloudWatch keeps for data as old as `start` when `end` is now (1 minute for 15 days, 5 minutes
    for 63 days, then an hour)."""
    if end <= start:
        raise ValueError(f"the window ends ({end.isoformat()}) before it starts ({start.isoformat()})")
    age = end - start
    resolution = 60 if age <= timedelta(days=15) else 300 if age <= timedelta(days=63) else 3600
    return max(resolution, math.ceil(age.total_seconds() / resolution) * resolution)


def _query(index: int, name: str, alias: str, version: str, metric: str, period: int) -> dict[str, Any]:
    query_id = f"m{index}"  # QUERY_ID's shape, unique in its call
    dimensions = [
        {"Name": "FunctionName", "Value": name},
        {"Name": "Resource", "Value": f"{name}:{alias}"},
        {"Name": "ExecutedVersion", "Value": version},
    ]
    return {
        "Id": query_id,
        "MetricStat": {
            "Metric": {"Namespace": NAMESPACE, "MetricName": metric, "Dimensions": dimensions},
            "Period": period,
            "Stat": PERCENTILE if metric == DURATION else "Sum",
        },
        "ReturnData": True,
    }


def _results(cloudwatch: Any, queries: list[dict[str, Any]], start: datetime, end: datetime) -> Iterable[Any]:
    """Every MetricDataResult of one call, following its NextToken (a query's values may span pages)."""
    token: str | None = None
    for _ in range(MAX_CALLS):
        request: dict[str, Any] = {
            "MetricDataQueries": queries,
            "StartTime": start,
            "EndTime": end,
            "MaxDatapoints": MAX_DATAPOINTS_PER_CALL,
        }
        if token:
            request["NextToken"] = token
        answer = cloudwatch.get_metric_data(**request)
        yield from answer.get("MetricDataResults", ())
        token = answer.get("NextToken")
        if not token:
            return
    raise RuntimeError(f"GetMetricData gave a NextToken {MAX_CALLS} times in a row for {len(queries)} queries")


# --- the test ----------------------------------------------------------------------------------------------


def higher_failure_p_value(new_failures: int, new_requests: int, old_failures: int, old_requests: int) -> float:
    """Fisher's exact test, one-sided: the probability, were both versions alike, of the new version having at
    least `new_failures` of all the failures, given both versions' requests and the failures of both.

    With N requests in all, K failures in all and n requests to the new version, the new version's failures
    X follow the hypergeometric law P(X = x) = C(K, x) C(N - K, n - x) / C(N, n), and the p-value is P(X >= a).
    It is summed from the tail's end nearest to `new_failures`, term by term (each term is the last one times a
    ratio of integers), and stops once the terms no longer change the sum: a few dozen terms for the usual
    figures, some thousands for millions of requests failing at high rates.
    """
    if not (0 <= new_failures <= new_requests and 0 <= old_failures <= old_requests):
        raise ValueError("failures must be between 0 and the requests of their version")
    a, n = new_failures, new_requests
    total, failures = new_requests + old_requests, new_failures + old_failures
    lowest, highest = max(0, n - (total - failures)), min(failures, n)
    if a <= lowest:
        return 1.0
    mode = (n + 1) * (failures + 1) // (total + 2)
    others = total - failures - n  # N - K - n
    if a > mode:  # the upper tail, from a up: each term smaller than the one before
        return math.exp(_log_pmf(a, total, failures, n)) * _tail(
            a, highest, lambda x: (failures - x) * (n - x) / ((x + 1) * (others + x + 1)), step=1
        )
    # at or below the mode the terms decrease from a - 1 down: sum that lower tail; the p-value is what it leaves
    below = math.exp(_log_pmf(a - 1, total, failures, n)) * _tail(
        a - 1, lowest, lambda x: x * (others + x) / ((failures - x + 1) * (n - x + 1)), step=-1
    )
    return max(0.0, 1.0 - below)


def _tail(start: int, end: int, ratio: Callable[[int], float], step: int) -> float:
    """1 + t1 + t2 + ..., each term the one before times ratio(x), from `start` towards `end` (inclusive)."""
    term, total, x = 1.0, 1.0, start
    while x != end:
        term *= ratio(x)
        x += step
        total += term
        if term <= total * 1e-17:
            break
    return total


def _log_pmf(x: int, total: int, failures: int, n: int) -> float:
    return _log_choose(failures, x) + _log_choose(total - failures, n - x) - _log_choose(total, n)


def _log_choose(n: int, k: int) -> float:
    return math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1)


# --- judging one function ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Verdict:
    verdict: str  # see VERDICTS
    reason: str  # with the figures: "errors 12.0% of 340 vs 0.5% of 3,060: higher at 99% confidence (p = 1e-07)"
    p_value: float | None = None  # of the error-rate test, when it ran


def judge(old: VersionFigures, new: VersionFigures, analysis: Analysis) -> Verdict:
    """The new version against the old one (see the module's text for the rules)."""
    needed = max(1, analysis.min_invocations)  # a version nobody called is never healthy
    if new.requests < needed:
        return Verdict(NOT_ENOUGH_TRAFFIC, f"{new.requests:,} requests to the new version, {needed:,} needed")
    p_value = higher_failure_p_value(new.failures, new.requests, old.failures, old.requests)
    errors = f"errors {_rate(new)} vs {_rate(old)}"
    confidence = f"{analysis.confidence * 100:g}% confidence"
    if p_value <= 1 - analysis.confidence:
        return Verdict(UNHEALTHY, f"{errors}: higher at {confidence} (p = {p_value:.2g})", p_value)
    errors = f"{errors}: not higher at {confidence}"
    if old.requests < needed:
        return Verdict(
            NOT_ENOUGH_TRAFFIC,
            f"{errors}, but {old.requests:,} requests to the old version, {needed:,} needed",
            p_value,
        )
    if new.invocations >= needed and old.invocations >= needed and new.p99_ms is not None and old.p99_ms:
        durations = f"p99 {_ms(new.p99_ms)} vs {_ms(old.p99_ms)}"
        if new.p99_ms > analysis.max_p99_ratio * old.p99_ms:
            return Verdict(UNHEALTHY, f"{durations}: more than {analysis.max_p99_ratio:g} times; {errors}", p_value)
        return Verdict(HEALTHY, f"{errors}; {durations}", p_value)
    return Verdict(HEALTHY, errors, p_value)


def _rate(figures: VersionFigures) -> str:
    throttled = f", {figures.throttles:,} throttled" if figures.throttles else ""
    return f"{_percent(figures.failure_rate)} of {figures.requests:,}{throttled}"


def _percent(rate: float) -> str:
    """12.0%, 0.5%, 0.031% (two significant digits below 0.1%), 0%."""
    if rate == 0:
        return "0%"
    return f"{rate:.1%}" if rate >= 0.001 else f"{rate * 100:.2g}%"


def _ms(value: float) -> str:
    return f"{value:,.0f} ms" if value >= 10 else f"{value:.1f} ms"


# --- judging a deployment ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Comparison:
    """One function's latest comparison."""

    name: str
    old: VersionFigures
    new: VersionFigures
    verdict: str
    reason: str

    def as_item(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "verdict": self.verdict,
            "reason": self.reason,
            "old": self.old.as_item(),
            "new": self.new.as_item(),
        }

    @classmethod
    def from_item(cls, item: Mapping[str, Any]) -> Comparison:
        return cls(
            str(item["name"]),
            VersionFigures.from_item(item["old"]),
            VersionFigures.from_item(item["new"]),
            str(item["verdict"]),
            str(item["reason"]),
        )


@dataclass(frozen=True)
class DeploymentVerdict:
    """The deployment's verdict, the functions that explain it, and how many functions had each verdict."""

    verdict: str
    counts: Mapping[str, int]  # functions by verdict (every verdict named, zeros too)
    comparisons: tuple[Comparison, ...]  # the unhealthy ones first, then the others, at most LISTED in all

    @property
    def judged(self) -> int:
        return sum(self.counts.values())

    @property
    def summary(self) -> str:
        """One line: "2 of 70 functions unhealthy, 3 without enough traffic yet, 65 healthy"."""
        if not self.judged:
            return "no function to compare (none has both an old and a new version)"
        words = {UNHEALTHY: "unhealthy", NOT_ENOUGH_TRAFFIC: "without enough traffic yet", HEALTHY: "healthy"}
        counted = [v for v in VERDICTS if self.counts[v]]
        first = f"{self.counts[counted[0]]:,} of {self.judged:,} functions {words[counted[0]]}"
        return ", ".join([first, *(f"{self.counts[v]:,} {words[v]}" for v in counted[1:])])

    @property
    def cause(self) -> str:
        """Why the canary analysis rolls back: the unhealthy functions with their figures (empty when none)."""
        unhealthy = [c for c in self.comparisons if c.verdict == UNHEALTHY]
        if not unhealthy:
            return ""
        named = [f"{c.name} (version {c.new.version} against {c.old.version}): {c.reason}" for c in unhealthy]
        left_out = self.counts[UNHEALTHY] - len(unhealthy)
        text = f"canary analysis: {self.summary}: " + listing(named)
        if left_out > 0:
            text += f"; and {left_out:,} more unhealthy"
        return capped_cause(text)

    def as_item(self) -> dict[str, Any]:
        return {
            "verdict": self.verdict,
            "summary": self.summary,
            "counts": dict(self.counts),
            "functions": [c.as_item() for c in self.comparisons],
            "cause": self.cause,
        }

    @classmethod
    def from_item(cls, item: Mapping[str, Any]) -> DeploymentVerdict:
        """Back from `as_item` (its summary and cause are worked out again from the rest)."""
        counts = {verdict: int(item["counts"].get(verdict, 0)) for verdict in VERDICTS}
        comparisons = tuple(Comparison.from_item(c) for c in item["functions"])
        return cls(str(item["verdict"]), counts, comparisons)


def judge_deployment(figures: Mapping[str, Figures], analysis: Analysis, most: int = LISTED) -> DeploymentVerdict:
    """Every function judged: "unhealthy" if any is, else "not_enough_traffic" if any cannot be told yet (too
    little traffic, or CloudWatch could not answer for it), else "healthy" (also when no function has
    figures: nothing is worse). The `most` comparisons kept are the unhealthy ones first, then those without
    enough traffic, then the healthy ones, each by name."""
    comparisons: list[Comparison] = []
    for name in sorted(figures):
        f = figures[name]
        if f.incomplete is not None:
            verdict = Verdict(NOT_ENOUGH_TRAFFIC, f"CloudWatch did not answer every figure: {f.incomplete}")
        else:
            verdict = judge(f.old, f.new, analysis)
        comparisons.append(Comparison(name, f.old, f.new, verdict.verdict, verdict.reason))
    counts = {v: sum(1 for c in comparisons if c.verdict == v) for v in VERDICTS}
    overall = next((v for v in VERDICTS if counts[v]), HEALTHY)
    kept = sorted(comparisons, key=lambda c: VERDICTS.index(c.verdict))[:most]
    return DeploymentVerdict(overall, counts, tuple(kept))
