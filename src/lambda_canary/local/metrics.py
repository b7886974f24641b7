"""Lambda's invocation metrics on the local runtime, recorded in the emulator's CloudWatch as Lambda publishes them.

Lambda sends CloudWatch (namespace `AWS/Lambda`) one data point per invocation of `Invocations` (1), `Errors`
(1 when the function returned an error, else 0) and `Duration` (milliseconds the handler ran), and `Throttles`
(1) for an invocation refused for concurrency, which counts as no invocation. Each goes out under the dimension
sets AWS's documentation names: none (across all functions); `FunctionName` (every version and alias of the
function); `FunctionName` + `Resource` for a qualified invocation (Resource "fn:alias" or "fn:version"); and
`FunctionName` + `Resource` + `ExecutedVersion` (the version that ran) for an invocation through an alias only,
which is how two versions behind one weighted alias are told apart. moto's Lambda publishes none of this.

Data points go straight into moto's CloudWatch backend of the function's account and region, stamped now:
no request, a dozen small objects per invocation.
"""

from __future__ import annotations

import math
import re
import threading
from collections.abc import Sequence
from typing import Any

from moto.cloudwatch.exceptions import InvalidParameterValue
from moto.cloudwatch.models import (
    Dimension,
    MetricAggregatedDatum,
    MetricDatum,
    MetricDatumBase,
    Statistics,
    cloudwatch_backends,
)
from moto.core.utils import utcnow

NAMESPACE = "AWS/Lambda"
_VERSION = re.compile(r"\d+|\$LATEST")
_dimension_sets: dict[tuple[str, str | None, str], tuple[list[Dimension], ...]] = {}
_lock = threading.Lock()


def dimension_sets(function_name: str, qualifier: str | None, executed_version: str) -> tuple[list[Dimension], ...]:
    """The dimension sets an invocation of `function_name` (qualified or not) that ran `executed_version` is
    published under, as Lambda publishes them (kept: the same few lists serve every invocation)."""
    key = (function_name, qualifier, executed_version)
    with _lock:
        cached = _dimension_sets.get(key)
        if cached is None:
            function = Dimension("FunctionName", function_name)
            sets: list[list[Dimension]] = [[], [function]]
            if qualifier is not None:
                resource = Dimension("Resource", f"{function_name}:{qualifier}")
                sets.append([function, resource])
                if not _VERSION.fullmatch(qualifier):  # an alias: which of its versions ran
                    sets.append([function, resource, Dimension("ExecutedVersion", executed_version)])
            cached = _dimension_sets[key] = tuple(sets)
        return cached


def invoked(function: Any, qualifier: str | None, duration_ms: float, error: bool) -> None:
    """Record one invocation of `function` (a moto LambdaFunction: the version that ran), called as
    `function_name[:qualifier]`."""
    points = (("Invocations", 1.0, "Count"), ("Errors", 1.0 if error else 0.0, "Count"))
    _put(function, qualifier, (*points, ("Duration", float(duration_ms), "Milliseconds")))


def throttled(function: Any, qualifier: str | None) -> None:
    """Record an invocation refused for want of concurrency (TooManyRequestsException): a throttle, not an
    invocation."""
    _put(function, qualifier, (("Throttles", 1.0, "Count"),))


def _put(function: Any, qualifier: str | None, points: tuple[tuple[str, float, str], ...]) -> None:
    backend = cloudwatch_backends[function.account_id][function.region]
    now = utcnow()
    for dimensions in dimension_sets(function.function_name, qualifier, str(function.version)):
        for name, value, unit in points:
            datum = MetricDatum(NAMESPACE, name, value, [], now, unit)
            datum.dimensions = dimensions
            backend.metric_data.append(datum)


def clear() -> None:
    with _lock:
        _dimension_sets.clear()


# --- statistics, as GetMetricData computes them ----------------------------------------------------------

STANDARD_STATISTICS = ("SampleCount", "Sum", "Average", "Minimum", "Maximum")
# Extended statistics (CloudWatch's "Statistics definitions"): p99, p99.9; tm99, wm99, tc99, ts99 (the lowest
# 99%); their range forms TM(10%:90%) and the like; IQM, the mean of the middle half.
_PERCENTILE = re.compile(r"p(\d{1,2}(?:\.\d+)?|100)")
_SHORT_RANGE = re.compile(r"(tm|wm|tc|ts)(\d{1,2}(?:\.\d+)?|100)")
_LONG_RANGE = re.compile(r"(TM|WM|TC|TS)\((\d{1,2}(?:\.\d+)?|100)?%:(\d{1,2}(?:\.\d+)?|100)?%\)")


def statistic(data: Sequence[MetricDatumBase], stat: str) -> float | None:
    """`stat` of the data points of one period (None: no value, as CloudWatch gives none)."""
    if stat in STANDARD_STATISTICS:
        statistics = Statistics([stat], utcnow())
        statistics.metric_data = list(data)
        value = statistics.get_statistics_for_type(stat)
        return None if value is None else float(value)
    values = _single_values(data)
    if values is None or not values:
        return None  # statistic sets with a spread: CloudWatch has no percentiles of them either
    values.sort()
    count = len(values)
    if match := _PERCENTILE.fullmatch(stat):
        rank = max(1, math.ceil(float(match[1]) / 100 * count))  # nearest rank
        return values[rank - 1]
    kind, low, high = _range(stat)
    kept = values[math.ceil(low / 100 * count) : math.ceil(high / 100 * count)]
    if kind == "tc":
        return float(len(kept))
    if kind == "ts":
        return float(sum(kept))
    if not kept:
        return None
    if kind == "wm":  # values outside the range count as the range's bounds
        below = math.ceil(low / 100 * count)
        above = count - math.ceil(high / 100 * count)
        return (kept[0] * below + sum(kept) + kept[-1] * above) / count
    return sum(kept) / len(kept)


def check_statistic(stat: str) -> None:
    """InvalidParameterValue, naming the statistic, for one CloudWatch does not know."""
    if stat not in STANDARD_STATISTICS and not _PERCENTILE.fullmatch(stat):
        _range(stat)


def _range(stat: str) -> tuple[str, float, float]:
    """(tm, wm, tc or ts, lower percentage, upper percentage) of a trimmed statistic."""
    if stat == "IQM":
        return "tm", 25.0, 75.0
    if match := _SHORT_RANGE.fullmatch(stat):
        return match[1], 0.0, float(match[2])
    if match := _LONG_RANGE.fullmatch(stat):
        return match[1].lower(), float(match[2] or 0), float(match[3] or 100)
    raise InvalidParameterValue(
        f"The value {stat} for parameter MetricDataQueries.MetricStat.Stat is not supported: use SampleCount, Sum, "
        "Average, Minimum, Maximum, a percentile such as p99, or a trimmed statistic such as tm99 or TM(10%:90%)"
    )


def _single_values(data: Sequence[MetricDatumBase]) -> list[float] | None:
    values: list[float] = []
    for datum in data:
        if isinstance(datum, MetricDatum):
            values.append(float(datum.value))
        elif isinstance(datum, MetricAggregatedDatum) and datum.min == datum.max:
            values.extend([float(datum.min)] * int(datum.sample_count))
        else:
            return None
    return values
