"""The template's EventBridge rules, run locally: execution status changes and schedules.

moto emits no EventBridge events: the local runtime watches the state machines' executions and, when one
ends, sends each matching rule's target function the event AWS would send ("Step Functions Execution
Status Change"). On AWS the rule does this; here it is what makes `canary local` clean up a stopped execution.
Like EventBridge's, delivery is best effort when a test says so (faults.arm_events: dropped or late).
A scheduled rule (a function's `Schedule` event) sends its target a "Scheduled Event" every interval.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import boto3

from lambda_canary.local import faults
from lambda_canary.local.template import ACCOUNT_ID, REGION

ENDED = ("SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED")

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Rule:
    pattern: dict[str, Any]
    function_name: str


def matches(pattern: dict[str, Any], event: dict[str, Any]) -> bool:
    """EventBridge's matching for the forms the template uses: lists of literals, nested objects."""
    for key, expected in pattern.items():
        value = event.get(key)
        if isinstance(expected, dict):
            if not isinstance(value, dict) or not matches(expected, value):
                return False
        elif isinstance(expected, list):
            if value not in expected:
                return False
        elif value != expected:
            return False
    return True


def status_change_event(execution: dict[str, Any]) -> dict[str, Any]:
    def millis(moment: Any) -> int | None:
        return int(moment.timestamp() * 1000) if isinstance(moment, datetime) else None

    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Step Functions Execution Status Change",
        "source": "aws.states",
        "account": ACCOUNT_ID,
        "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": REGION,
        "resources": [execution["executionArn"]],
        "detail": {
            "executionArn": execution["executionArn"],
            "stateMachineArn": execution["stateMachineArn"],
            "name": execution["name"],
            "status": execution["status"],
            "startDate": millis(execution.get("startDate")),
            "stopDate": millis(execution.get("stopDate")),
            "input": execution.get("input"),
            "output": execution.get("output"),
            "inputDetails": {"included": True},
            "outputDetails": {"included": True} if execution.get("output") else None,
        },
    }


class ExecutionWatcher:
    """Polls the executions of `state_machine_arns` and delivers each ending to the matching rules."""

    def __init__(self, rules: list[Rule], state_machine_arns: list[str], interval: float = 0.5) -> None:
        self.rules, self.state_machine_arns, self.interval = rules, state_machine_arns, interval
        self._seen: dict[str, str] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="execution-events", daemon=True)

    def start(self) -> None:
        if self.rules:
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=10)

    def _run(self) -> None:
        sfn, lam = boto3.client("stepfunctions"), boto3.client("lambda")
        while not self._stop.wait(self.interval):
            try:
                self._poll(sfn, lam)
            except Exception:
                logger.debug("execution poll failed", exc_info=True)

    def _poll(self, sfn: Any, lam: Any) -> None:
        for arn in self.state_machine_arns:
            for page in sfn.get_paginator("list_executions").paginate(stateMachineArn=arn):
                for summary in page["executions"]:
                    execution_arn, status = summary["executionArn"], summary["status"]
                    if status in ENDED and self._seen.get(execution_arn) != status:
                        self._deliver(sfn, lam, execution_arn)
                    self._seen[execution_arn] = status

    def _deliver(self, sfn: Any, lam: Any, execution_arn: str) -> None:
        event = status_change_event(sfn.describe_execution(executionArn=execution_arn))
        targets = [rule.function_name for rule in self.rules if matches(rule.pattern, event)]
        if not targets:
            return
        delay = faults.event_delay(execution_arn)
        if delay is None:
            logger.info("ending event of %s dropped (injected fault)", execution_arn)
            return
        if delay > 0:
            timer = threading.Timer(delay, _send, args=(lam, targets, event))
            timer.daemon = True
            timer.start()
            return
        _send(lam, targets, event)


def _send(lam: Any, targets: list[str], event: dict[str, Any]) -> None:
    for function_name in targets:
        lam.invoke(FunctionName=function_name, InvocationType="Event", Payload=json.dumps(event))


@dataclass(frozen=True)
class Schedule:
    """A scheduled rule: its target function, and its rule's name and expression (rate(5 minutes))."""

    rule_name: str
    expression: str
    function_name: str


def scheduled_event(schedule: Schedule, now: datetime) -> dict[str, Any]:
    """The event EventBridge sends a scheduled rule's target."""
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": ACCOUNT_ID,
        "time": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": REGION,
        "resources": [f"arn:aws:events:{REGION}:{ACCOUNT_ID}:rule/{schedule.rule_name}"],
        "detail": {},
    }


def rate_seconds(expression: str) -> float:
    """The interval of a rate() expression: rate(5 minutes) is 300 s."""
    match = re.fullmatch(r"rate\((\d+) (minute|minutes|hour|hours|day|days)\)", expression.strip())
    if not match:
        raise ValueError(f"the local runtime runs rate() schedules only, not {expression!r}")
    unit = {"minute": 60, "hour": 3600, "day": 86400}[match.group(2).rstrip("s")]
    return int(match.group(1)) * unit


class Scheduler:
    """Sends each schedule's target its Scheduled Event every `interval` seconds (None: the rule's rate)."""

    def __init__(self, schedules: list[Schedule], interval: float | None = None) -> None:
        self.schedules, self.interval = schedules, interval
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._run, args=(schedule,), name=f"schedule-{schedule.rule_name}", daemon=True)
            for schedule in schedules
        ]

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            if thread.is_alive():
                thread.join(timeout=10)

    def _run(self, schedule: Schedule) -> None:
        lam = boto3.client("lambda")
        every = self.interval if self.interval is not None else rate_seconds(schedule.expression)
        while not self._stop.wait(every):
            try:
                event = scheduled_event(schedule, datetime.now(UTC))
                lam.invoke(FunctionName=schedule.function_name, InvocationType="Event", Payload=json.dumps(event))
            except Exception:
                logger.debug("scheduled event not sent", exc_info=True)
