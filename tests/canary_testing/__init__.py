"""What tests of every suite share, imported by name (never from a conftest: with several conftest modules,
`from conftest import ...` reaches whichever was imported first)."""

from __future__ import annotations

import os
import socket
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

CANARY = Path(sys.executable).with_name("canary")  # the project's CLI, as installed in this environment
AWS_CLI = Path(sys.executable).with_name("aws")
REGION = "us-east-1"
ACCOUNT_ID = "123456789012"  # moto's default account
FIXED_NOW = datetime(2025, 4, 7, 9, 30, tzinfo=UTC)  # the fixed clock unit tests pass into the core


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def environment_without_aws() -> dict[str, str]:
    """This process's environment minus what points AWS clients at the shared runtime: a child starts its own."""
    return {k: v for k, v in os.environ.items() if not k.startswith("AWS_") and k != "MOTO_PORT"}


def put_errors_alarm(cloudwatch: Any, name: str) -> None:
    """A CloudWatch alarm on Lambda's Errors (its state is set by the test with set_alarm_state)."""
    cloudwatch.put_metric_alarm(
        AlarmName=name,
        Namespace="AWS/Lambda",
        MetricName="Errors",
        Statistic="Sum",
        Period=60,
        EvaluationPeriods=1,
        Threshold=1,
        ComparisonOperator="GreaterThanOrEqualToThreshold",
    )
