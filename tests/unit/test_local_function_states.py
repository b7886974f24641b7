"""The local runtime's Lambda function states on patched moto, as AWS reports them (gap 9 of
lambda_canary.local.moto_patches): a create is Pending, an update InProgress, for the configured seconds;
meanwhile Lambda refuses to publish, update or invoke; an update can end Failed; a version can stay Pending."""

from __future__ import annotations

import json

import boto3
import pytest
from botocore.exceptions import ClientError, WaiterError
from moto import mock_aws

from canary_testing.fleet import create_function_with_alias
from lambda_canary.demo import LOCAL_ROLE_ARN, WAITER_CONFIG, sample_code
from lambda_canary.local import function_states, moto_patches

SECONDS = 1.0  # long enough for a cold start (a worker process) to run inside it, on a busy machine


@pytest.fixture
def lam(monkeypatch):
    """Lambda on moto with every patch of moto_patches applied, creates and updates taking SECONDS."""
    for owner, attribute, replacement in moto_patches.PATCHES.values():
        monkeypatch.setattr(owner, attribute, replacement)
    function_states.configure(SECONDS)
    with mock_aws(config={"lambda": {"use_docker": False}}):
        boto3.client("iam", region_name="us-east-1").create_role(
            RoleName="lambda-canary-local", AssumeRolePolicyDocument="{}"
        )
        yield boto3.client("lambda", region_name="us-east-1")
    function_states.clear()


def create(lam, name="orders-api"):
    return lam.create_function(
        FunctionName=name, Runtime="python3.12", Role=LOCAL_ROLE_ARN, Handler="app.handler",
        Code={"ZipFile": sample_code(1)},
    )  # fmt: skip


def error_of(call, **arguments):
    with pytest.raises(ClientError) as raised:
        call(**arguments)
    return raised.value.response["Error"]


def test_a_new_function_is_pending_and_refuses_publish_and_invoke_until_active(lam):
    # given a function just created
    created = create(lam)

    # then it is Pending, and Lambda refuses to publish or invoke it
    assert (created["State"], created["StateReasonCode"]) == ("Pending", "Creating")
    assert "LastUpdateStatus" not in created
    refused = error_of(lam.publish_version, FunctionName="orders-api")
    assert refused["Code"] == "ResourceConflictException"
    assert "currently in the following state: Pending" in refused["Message"]
    assert error_of(lam.invoke, FunctionName="orders-api", Payload=b"{}")["Code"] == "ResourceConflictException"

    # when the CLI's waiter waits for it
    lam.get_waiter("function_active_v2").wait(FunctionName="orders-api", WaiterConfig=WAITER_CONFIG)

    # then it is Active and Successful, and publishes
    configuration = lam.get_function(FunctionName="orders-api")["Configuration"]
    assert (configuration["State"], configuration["LastUpdateStatus"]) == ("Active", "Successful")
    assert lam.publish_version(FunctionName="orders-api")["Version"] == "1"


@pytest.mark.parametrize(
    "update",
    [
        {"ZipFile": sample_code(2)},
        {"Timeout": 10},
    ],
    ids=["UpdateFunctionCode", "UpdateFunctionConfiguration"],
)
def test_an_update_is_in_progress_and_refuses_publish_and_updates_until_successful(lam, update):
    # given a function with alias live on version 1
    create_function_with_alias(lam, "orders-api")

    # when its code or configuration is updated
    if "ZipFile" in update:
        lam.update_function_code(FunctionName="orders-api", **update)
    else:
        lam.update_function_configuration(FunctionName="orders-api", **update)

    # then the update is InProgress, $LATEST still runs build 1, and PublishVersion and another update are
    # refused as AWS refuses them
    assert lam.get_function_configuration(FunctionName="orders-api")["LastUpdateStatus"] == "InProgress"
    assert json.loads(lam.invoke(FunctionName="orders-api", Payload=b"{}")["Payload"].read()) == {"build": 1}
    refused = error_of(lam.publish_version, FunctionName="orders-api")
    assert refused == {
        "Code": "ResourceConflictException",
        "Message": "The operation cannot be performed at this time. An update is in progress for resource: "
        "arn:aws:lambda:us-east-1:123456789012:function:orders-api",
    }
    again = error_of(lam.update_function_configuration, FunctionName="orders-api", Timeout=20)
    assert again["Code"] == "ResourceConflictException"

    # and once `aws lambda wait function-updated` returns, it is Successful and publishes version 2
    lam.get_waiter("function_updated_v2").wait(FunctionName="orders-api", WaiterConfig=WAITER_CONFIG)
    assert lam.get_function_configuration(FunctionName="orders-api")["LastUpdateStatus"] == "Successful"
    assert lam.publish_version(FunctionName="orders-api")["Version"] == "2"
    if "ZipFile" in update:  # and the new code runs
        assert json.loads(lam.invoke(FunctionName="orders-api", Payload=b"{}")["Payload"].read()) == {"build": 2}


def test_an_update_made_to_fail_ends_failed_with_its_reason(lam):
    # given a function whose next update is made to fail
    create_function_with_alias(lam, "orders-api")
    function_states.fail_next_update("orders-api", "The role cannot be assumed.", "InvalidConfiguration")

    # when its code is updated and the CLI's waiter waits for it
    lam.update_function_code(FunctionName="orders-api", ZipFile=sample_code(2))
    with pytest.raises(WaiterError, match="Failed"):
        lam.get_waiter("function_updated_v2").wait(FunctionName="orders-api", WaiterConfig=WAITER_CONFIG)

    # then the update is Failed, with its reason and code, and $LATEST still runs build 1 (Lambda abandoned it)
    configuration = lam.get_function_configuration(FunctionName="orders-api")
    assert configuration["LastUpdateStatus"] == "Failed"
    assert configuration["LastUpdateStatusReason"] == "The role cannot be assumed."
    assert configuration["LastUpdateStatusReasonCode"] == "InvalidConfiguration"
    assert configuration["CodeSha256"] == lam.get_function_configuration(FunctionName="orders-api:1")["CodeSha256"]
    assert json.loads(lam.invoke(FunctionName="orders-api", Payload=b"{}")["Payload"].read()) == {"build": 1}


def test_a_held_version_is_pending_and_not_invoked_until_active(lam):
    # given a function whose published versions are held Pending for a while (SnapStart, say)
    create_function_with_alias(lam, "orders-api")
    function_states.hold_versions_pending("orders-api", SECONDS)
    lam.update_function_code(FunctionName="orders-api", ZipFile=sample_code(2))
    lam.get_waiter("function_updated_v2").wait(FunctionName="orders-api", WaiterConfig=WAITER_CONFIG)

    # when version 2 is published
    published = lam.publish_version(FunctionName="orders-api")

    # then version 2 is Pending and is not invoked, while $LATEST and version 1 are Active
    assert (published["Version"], published["State"]) == ("2", "Pending")
    assert error_of(lam.invoke, FunctionName="orders-api:2", Payload=b"{}")["Code"] == "ResourceConflictException"
    assert lam.get_function(FunctionName="orders-api", Qualifier="1")["Configuration"]["State"] == "Active"
    assert lam.get_function(FunctionName="orders-api")["Configuration"]["State"] == "Active"

    # and once the waiter sees it Active, it runs
    lam.get_waiter("function_active_v2").wait(FunctionName="orders-api", Qualifier="2", WaiterConfig=WAITER_CONFIG)
    assert lam.invoke(FunctionName="orders-api:2", Payload=b"{}")["ExecutedVersion"] == "2"


def test_with_no_update_time_everything_is_done_at_once(lam):
    # given function states turned off (--function-update-seconds 0)
    function_states.configure(0)

    # when a function is created, updated and published at once
    create(lam)
    lam.update_function_code(FunctionName="orders-api", ZipFile=sample_code(2))

    # then nothing is refused
    assert lam.publish_version(FunctionName="orders-api")["Version"] == "1"
    assert lam.get_function_configuration(FunctionName="orders-api")["LastUpdateStatus"] == "Successful"


@pytest.mark.parametrize(
    ("change", "refusal"),
    [
        ("role", "Specified versions must be associated with the same execution role"),
        ("dead-letter queue", "Specified versions must be associated with the same dead letter config"),
    ],
)
def test_an_alias_is_not_weighted_between_versions_with_another_role_or_dead_letter_queue(lam, change, refusal):
    # given version 2 published with another execution role, or a dead-letter queue version 1 lacks
    function_states.configure(0)
    create_function_with_alias(lam, "orders-api")
    if change == "role":
        other = boto3.client("iam", region_name="us-east-1").create_role(
            RoleName="orders-other", AssumeRolePolicyDocument="{}"
        )
        lam.update_function_configuration(FunctionName="orders-api", Role=other["Role"]["Arn"])
    else:
        queue = "arn:aws:sqs:us-east-1:123456789012:orders-dlq"
        lam.update_function_configuration(FunctionName="orders-api", DeadLetterConfig={"TargetArn": queue})
        assert lam.get_function_configuration(FunctionName="orders-api")["DeadLetterConfig"] == {"TargetArn": queue}
    lam.publish_version(FunctionName="orders-api")

    # when alias live is weighted between them
    refused = error_of(
        lam.update_alias, FunctionName="orders-api", Name="live", RoutingConfig={"AdditionalVersionWeights": {"2": 0.1}}
    )

    # then Lambda refuses, as AWS does, and the alias is as it was
    assert refused == {"Code": "InvalidParameterValueException", "Message": refusal}
    assert lam.get_alias(FunctionName="orders-api", Name="live").get("RoutingConfig", {}).get(
        "AdditionalVersionWeights"
    ) in (None, {})
