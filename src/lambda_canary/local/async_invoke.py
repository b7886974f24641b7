"""Lambda's asynchronous (Event) invocations as AWS runs them: retries, then the on-failure destination.

When a function invoked with InvocationType Event returns an error, AWS runs it again up to the
MaximumRetryAttempts of its EventInvokeConfig (default 2), one minute and then two minutes later, unless
the event grew older than MaximumEventAgeInSeconds; then it sends an invocation record to the OnFailure
destination (here an SQS queue), the event and the last error in it. moto does none of this. The local
runtime shortens the waits (`configure`); the record is the one AWS sends.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import boto3

logger = logging.getLogger(__name__)

AWS_RETRY_SECONDS = 60.0  # AWS waits one minute before the first retry, two before the second
DEFAULT_RETRY_ATTEMPTS = 2
DEFAULT_MAXIMUM_EVENT_AGE = 21600

_settings = {"retry_seconds": AWS_RETRY_SECONDS}
_stop = threading.Event()

Invoke = Callable[[Any, Any, dict[str, str]], bytes]  # (function, payload, response headers) -> answer


def configure(retry_seconds: float) -> None:
    """The wait before the first retry (the second waits twice as long), as AWS's one minute, scaled."""
    _settings["retry_seconds"] = retry_seconds
    _stop.clear()


def stop() -> None:
    """Retries still waiting are given up (the runtime is stopping)."""
    _stop.set()


def run(function: Any, payload: Any, invoke: Invoke) -> None:
    """Run an Event invocation of `function` (a moto LambdaFunction) to the end, as Lambda's queue does."""
    config = _config(function)
    attempts = 1 + int(config.get("MaximumRetryAttempts", DEFAULT_RETRY_ATTEMPTS))
    maximum_age = float(config.get("MaximumEventAgeInSeconds", DEFAULT_MAXIMUM_EVENT_AGE))
    started = time.monotonic()
    headers: dict[str, str] = {}
    answer = b""
    condition = "RetriesExhausted"
    for attempt in range(1, attempts + 1):
        headers = {}
        answer = invoke(function, payload, headers)
        if not headers.get("x-amz-function-error"):
            return
        if _stop.is_set():  # the runtime stopped its execution environments under it: nothing to report
            return
        logger.warning(
            "Event invocation %d/%d of %s failed: %s", attempt, attempts, function.function_name, answer.decode()[:2000]
        )
        if attempt == attempts:
            break
        wait = _settings["retry_seconds"] * attempt
        if time.monotonic() - started + wait > maximum_age:
            condition = "EventAgeExceeded"
            break
        if _stop.wait(wait):
            return
    on_failure = (config.get("DestinationConfig") or {}).get("OnFailure") or {}
    if on_failure.get("Destination"):
        _send(on_failure["Destination"], record(function, payload, answer, headers, condition, attempt))


def record(
    function: Any, payload: Any, answer: bytes, headers: dict[str, str], condition: str, attempts: int
) -> dict[str, Any]:
    """The invocation record Lambda sends to an on-failure destination."""
    return {
        "version": "1.0",
        "timestamp": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "requestContext": {
            "requestId": str(uuid.uuid4()),
            "functionArn": ":".join(function.function_arn.split(":")[:7]) + f":{function.version}",
            "condition": condition,
            "approximateInvokeCount": attempts,
        },
        "requestPayload": _json(payload),
        "responseContext": {
            "statusCode": 200,
            "executedVersion": str(function.version),
            "functionError": headers.get("x-amz-function-error", "Unhandled"),
        },
        "responsePayload": _json(answer),
    }


def _config(function: Any) -> dict[str, Any]:
    configs = getattr(function, "event_invoke_config", None) or []
    return dict(configs[0].config) if configs else {}


def _json(value: Any) -> Any:
    try:
        return json.loads(value) if value else None
    except (TypeError, ValueError):
        return value.decode(errors="replace") if isinstance(value, bytes) else value


def _send(destination: str, body: dict[str, Any]) -> None:
    """Deliver to an SQS queue by ARN (arn:aws:sqs:region:account:name), as the Lambda service does."""
    service, name = destination.split(":")[2], destination.rsplit(":", 1)[1]
    if service != "sqs":
        logger.warning("on-failure destination %s not delivered: the local runtime sends to SQS only", destination)
        return
    sqs = boto3.client("sqs")
    sqs.send_message(QueueUrl=sqs.get_queue_url(QueueName=name)["QueueUrl"], MessageBody=json.dumps(body))
