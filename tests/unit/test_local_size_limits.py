"""AWS's size limits on the local runtime: what moto takes and AWS refuses is refused, as AWS refuses it
(gaps 9 and 10 of lambda_canary.local.moto_patches; the state and item limits moto enforces itself)."""

from __future__ import annotations

import json

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws
from test_moto_gaps import FAIL_WITH_CAUSE, _failed_execution

from canary_testing.fleet import create_function_with_alias
from lambda_canary.local import moto_patches


@pytest.fixture
def patched(monkeypatch):
    """moto with every patch of moto_patches applied (undone after the test), running state machines."""
    for owner, attribute, replacement in moto_patches.PATCHES.values():
        monkeypatch.setattr(owner, attribute, replacement)
    config = {"stepfunctions": {"execute_state_machine": True}, "lambda": {"use_docker": False}}
    with mock_aws(config=config):
        boto3.client("iam", region_name="us-east-1").create_role(
            RoleName="lambda-canary-local", AssumeRolePolicyDocument="{}"
        )
        yield


@pytest.mark.parametrize(
    ("invocation_type", "size", "refused"),
    [
        ("Event", 1_000_000, False),
        ("Event", 1_100_000, True),  # AWS: 1 MB for an asynchronous invocation
        ("RequestResponse", 1_100_000, False),
        ("RequestResponse", 6_400_000, True),  # AWS: 6 MB for a synchronous one
    ],
)
def test_invoke_refuses_a_payload_over_awss_limit(patched, invocation_type, size, refused):
    # given a function, and a payload of `size` bytes
    lam = boto3.client("lambda", region_name="us-east-1")
    create_function_with_alias(lam, "orders-api")
    payload = json.dumps({"blob": "x" * (size - 12)})

    # when the function is invoked with it
    def invoke():
        return lam.invoke(FunctionName="orders-api", InvocationType=invocation_type, Payload=payload)

    # then one over the limit is refused with AWS's error, and one within it is not
    if refused:
        with pytest.raises(ClientError) as error:
            invoke()
        assert error.value.response["Error"]["Code"] == "RequestTooLargeException"
        assert error.value.response["ResponseMetadata"]["HTTPStatusCode"] == 413
    else:
        assert invoke()["StatusCode"] in (200, 202)


def test_a_cause_is_kept_to_32768_characters(patched):
    # given a Fail state whose cause is 40,000 characters long
    # when it runs
    described = _failed_execution(FAIL_WITH_CAUSE, {"cause": "c" * 40_000})

    # then the execution keeps the first 32,768 characters of it, as Step Functions does
    assert described["status"] == "FAILED"
    assert described["cause"] == "c" * 32_768
