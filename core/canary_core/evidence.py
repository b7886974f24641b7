"""What the canary shows while a step waits: the watched alarms, and the new version against the old.

Check Canary calls `gather` when a check is due (every `analysis.interval_seconds` from the step's start).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from canary_core.alarms import alarms_in_alarm
from canary_core.analysis import judge_deployment, read_figures
from canary_core.model import Deployment


@dataclass(frozen=True)
class Evidence:
    """The watched alarms in ALARM, and the analysis (None: off)."""

    alarms_firing: tuple[str, ...] = ()
    analysis: dict[str, Any] | None = None  # canary_core.analysis: verdict, summary, cause, functions


Gather = Callable[[Deployment, datetime, datetime], Evidence]  # (deployment, step started, now) -> Evidence


def gatherer(cloudwatch: Any) -> Gather:
    """Evidence read from CloudWatch: DescribeAlarms for the alarms, GetMetricData for the analysis."""

    def gather(deployment: Deployment, since: datetime, now: datetime) -> Evidence:
        firing = tuple(alarms_in_alarm(cloudwatch, deployment.alarms)) if deployment.alarms else ()
        analysis = None
        if deployment.analysis.mode != "off":
            figures = read_figures(cloudwatch, deployment.functions, deployment.alias, since, now)
            analysis = judge_deployment(figures, deployment.analysis).as_item()
        return Evidence(firing, analysis)

    return gather
