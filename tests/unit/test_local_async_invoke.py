"""lambda_canary.local.async_invoke: an Event invocation that fails is retried as its EventInvokeConfig says,
then its invocation record goes to the on-failure SQS queue, as AWS does."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
from moto.awslambda.models import EventInvokeConfig

from lambda_canary.local import async_invoke

FUNCTION_ARN = "arn:aws:lambda:us-east-1:123456789012:function:stack-CleanUp"


class Function:
    """The attributes of a moto LambdaFunction that async_invoke reads."""

    def __init__(self, config: dict[str, Any] | None) -> None:
        self.function_name, self.function_arn, self.version = "stack-CleanUp", FUNCTION_ARN, "$LATEST"
        self.event_invoke_config = [EventInvokeConfig(FUNCTION_ARN, "", config)] if config is not None else []


class Handler:
    """Fails the first `failures` runs, then answers {"ok": true}; records each payload it ran with."""

    def __init__(self, failures: int) -> None:
        self.failures, self.runs = failures, []

    def __call__(self, function: Any, payload: Any, headers: dict[str, str]) -> bytes:
        self.runs.append(payload)
        if len(self.runs) <= self.failures:
            headers["x-amz-function-error"] = "Unhandled"
            return json.dumps(
                {"errorMessage": f"attempt {len(self.runs)} failed", "errorType": "RuntimeError"}
            ).encode()
        return b'{"ok": true}'


@pytest.fixture
def queue(aws):
    sqs = boto3.client("sqs")
    url = sqs.create_queue(QueueName="dead-letters")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    async_invoke.configure(retry_seconds=0.01)
    yield url, arn
    async_invoke.configure(retry_seconds=async_invoke.AWS_RETRY_SECONDS)


def received(url: str) -> list[dict[str, Any]]:
    messages = boto3.client("sqs").receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
    return [json.loads(m["Body"]) for m in messages]


def test_a_failing_invocation_is_retried_then_its_record_goes_to_the_queue(queue):
    # given a function with 2 retries and an on-failure queue, whose code fails every time
    url, arn = queue
    function = Function({"MaximumRetryAttempts": 2, "DestinationConfig": {"OnFailure": {"Destination": arn}}})
    handler = Handler(failures=99)

    # when it is invoked asynchronously
    async_invoke.run(function, b'{"detail": {"status": "ABORTED"}}', handler)

    # then it ran three times, and the queue got the invocation record AWS sends after the last failure
    assert len(handler.runs) == 3
    (record,) = received(url)
    assert record["version"] == "1.0"
    assert record["requestContext"]["functionArn"] == f"{FUNCTION_ARN}:$LATEST"
    assert record["requestContext"]["condition"] == "RetriesExhausted"
    assert record["requestContext"]["approximateInvokeCount"] == 3
    assert record["requestPayload"] == {"detail": {"status": "ABORTED"}}
    assert record["responseContext"] == {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"}
    assert record["responsePayload"] == {"errorMessage": "attempt 3 failed", "errorType": "RuntimeError"}


def test_a_retry_that_succeeds_sends_nothing(queue):
    # given a function that fails once, then succeeds
    url, arn = queue
    function = Function({"MaximumRetryAttempts": 2, "DestinationConfig": {"OnFailure": {"Destination": arn}}})
    handler = Handler(failures=1)

    # when it is invoked asynchronously
    async_invoke.run(function, b"{}", handler)

    # then the retry ran it again and nothing reached the queue
    assert len(handler.runs) == 2
    assert received(url) == []


def test_without_a_configuration_lambda_retries_twice(queue):
    # given a function with no EventInvokeConfig (AWS's defaults: 2 retries, no destination)
    handler = Handler(failures=99)

    # when it is invoked asynchronously
    async_invoke.run(Function(None), b"{}", handler)

    # then it ran three times
    assert len(handler.runs) == 3


def test_an_event_older_than_its_maximum_age_is_not_retried(queue):
    # given a function whose events may be 60 s old at most, the first retry waiting 60 s (as on AWS)
    url, arn = queue
    async_invoke.configure(retry_seconds=60.0)
    function = Function({"MaximumEventAgeInSeconds": 60, "DestinationConfig": {"OnFailure": {"Destination": arn}}})
    handler = Handler(failures=99)

    # when it fails
    async_invoke.run(function, b"{}", handler)

    # then it is not retried: the record says the event grew too old
    assert len(handler.runs) == 1
    (record,) = received(url)
    assert record["requestContext"]["condition"] == "EventAgeExceeded"
    assert record["requestContext"]["approximateInvokeCount"] == 1
