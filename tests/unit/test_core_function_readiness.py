"""Publish Versions and Shift Traffic on a Lambda as strict as AWS about function states (moto patched with
lambda_canary.local.function_states): publishing waits for CI's update, refuses one that failed, and traffic
goes only to an Active version. Without the waits, Lambda answers ResourceConflictException."""

from __future__ import annotations

import boto3
import pytest
from botocore.exceptions import ClientError, WaiterError

from canary_core import aliases
from canary_core.aliases import Waiting
from canary_core.errors import AliasUpdateFailed, InvalidInput
from canary_core.model import FunctionTarget
from canary_core.validation import DeploymentRequest, resolve_functions
from lambda_canary.demo import WAITER_CONFIG, create_functions_with_alias, sample_code
from lambda_canary.local import function_states, moto_patches

SECONDS = 0.3
ARN = "arn:aws:lambda:us-east-1:123456789012:function:"


@pytest.fixture
def strict_lambda(monkeypatch, lambda_client):
    """moto with every patch of moto_patches: creates and updates take SECONDS, as they take seconds on AWS."""
    for owner, attribute, replacement in moto_patches.PATCHES.values():
        monkeypatch.setattr(owner, attribute, replacement)
    function_states.configure(SECONDS)
    boto3.client("iam").create_role(RoleName="lambda-canary-local", AssumeRolePolicyDocument="{}")
    yield lambda_client
    function_states.clear()


@pytest.fixture
def uploaded(strict_lambda, make_deployment):
    """uploaded(name): alias live on version 1, build 2 uploaded by CI a moment ago (its update InProgress)."""

    def make(name: str, update_seconds: float = SECONDS):
        create_functions_with_alias(strict_lambda, [name])
        function_states.configure(update_seconds)
        strict_lambda.update_function_code(FunctionName=name, ZipFile=sample_code(2))
        return make_deployment(functions=[FunctionTarget(name, ARN + name, "1")])

    return make


def request_for(*functions: str) -> DeploymentRequest:
    return DeploymentRequest("my-app", 760, functions, {}, "live", 0.1, False, None, 3600)


def alias_of(lambda_client, name):
    alias = lambda_client.get_alias(FunctionName=name, Name="live")
    return alias["FunctionVersion"], alias.get("RoutingConfig", {}).get("AdditionalVersionWeights", {})


def test_publishing_right_after_an_upload_is_refused_by_lambda(uploaded, strict_lambda):
    # given build 2 uploaded a moment ago
    uploaded("ready-refused")

    # when it is published at once, as Publish Versions did before it waited
    with pytest.raises(ClientError) as refused:
        strict_lambda.publish_version(FunctionName="ready-refused")

    # then Lambda refuses: the update is in progress
    assert refused.value.response["Error"]["Code"] == "ResourceConflictException"


def test_publish_versions_waits_for_the_update_then_publishes(uploaded, strict_lambda):
    # given build 2 uploaded a moment ago, its update InProgress
    deployment = uploaded("ready-wait")
    assert strict_lambda.get_function(FunctionName="ready-wait")["Configuration"]["LastUpdateStatus"] == "InProgress"

    # when Publish Versions runs
    published = aliases.publish_versions(strict_lambda, deployment, Waiting.start(seconds=30, poll_seconds=0.05))

    # then it waited for the update and published build 2 as version 2
    assert published.functions[0].new_version == "2"
    code = strict_lambda.get_function_configuration(FunctionName="ready-wait", Qualifier="2")["CodeSha256"]
    assert code == strict_lambda.get_function_configuration(FunctionName="ready-wait")["CodeSha256"]


def test_publish_versions_refuses_an_update_that_failed(uploaded, strict_lambda):
    # given build 2's update made to fail
    function_states.fail_next_update("ready-failed", "The role cannot be assumed.", "InvalidConfiguration")
    deployment = uploaded("ready-failed")

    # when Publish Versions runs
    with pytest.raises(AliasUpdateFailed) as failed:
        aliases.publish_versions(strict_lambda, deployment, Waiting.start(seconds=30, poll_seconds=0.05))

    # then it names the function and the reason, and publishes nothing
    reason = failed.value.failures["ready-failed"]
    assert "the last update of its code or configuration failed" in reason
    assert "InvalidConfiguration: The role cannot be assumed." in reason
    versions = strict_lambda.list_versions_by_function(FunctionName="ready-failed")["Versions"]
    assert [v["Version"] for v in versions] == ["$LATEST", "1"]


def test_publish_versions_gives_up_at_its_deadline(uploaded, strict_lambda):
    # given an update that lasts a minute
    deployment = uploaded("ready-slow", update_seconds=60)

    # when Publish Versions may wait no time at all
    with pytest.raises(AliasUpdateFailed) as failed:
        aliases.publish_versions(strict_lambda, deployment, Waiting.start(seconds=0, poll_seconds=0.05))

    # then it fails, saying what it waited for
    assert "$LATEST still not ready (State Active, LastUpdateStatus InProgress)" in failed.value.failures["ready-slow"]


def published_deployment(strict_lambda, uploaded, name, held_seconds):
    deployment = uploaded(name)
    function_states.hold_versions_pending(name, held_seconds)
    return aliases.publish_versions(strict_lambda, deployment, Waiting.start(seconds=30, poll_seconds=0.05))


def test_shift_traffic_waits_until_the_new_version_is_active(uploaded, strict_lambda):
    # given version 2 published and Pending for a moment (SnapStart, say)
    deployment = published_deployment(strict_lambda, uploaded, "ready-pending", SECONDS)
    assert strict_lambda.get_function(FunctionName="ready-pending", Qualifier="2")["Configuration"]["State"] == (
        "Pending"
    )

    # when traffic is shifted
    aliases.shift_traffic(strict_lambda, deployment, waiting=Waiting.start(seconds=30, poll_seconds=0.05))

    # then the alias sends 10% to version 2, which is Active
    assert alias_of(strict_lambda, "ready-pending") == ("1", {"2": 0.1})
    assert strict_lambda.get_function(FunctionName="ready-pending", Qualifier="2")["Configuration"]["State"] == "Active"


def test_shift_traffic_sends_nothing_to_a_version_still_pending_at_its_deadline(uploaded, strict_lambda):
    # given version 2 Pending for a minute
    deployment = published_deployment(strict_lambda, uploaded, "ready-stuck", 60)

    # when traffic is shifted with no time to wait
    with pytest.raises(AliasUpdateFailed) as failed:
        aliases.shift_traffic(strict_lambda, deployment, waiting=Waiting.start(seconds=0, poll_seconds=0.05))

    # then the step fails naming the version, and the alias is as it was
    assert "version 2 still not ready (State Pending" in failed.value.failures["ready-stuck"]
    assert alias_of(strict_lambda, "ready-stuck") == ("1", {})


def test_validate_input_refuses_a_function_whose_last_update_failed(strict_lambda):
    # given a function whose upload of build 2 failed (Lambda kept build 1)
    create_functions_with_alias(strict_lambda, ["ready-broken"])
    function_states.fail_next_update("ready-broken", "The role cannot be assumed.", "InvalidConfiguration")
    strict_lambda.update_function_code(FunctionName="ready-broken", ZipFile=sample_code(2))
    with pytest.raises(WaiterError, match="Failed"):  # what `aws lambda wait function-updated` reports
        strict_lambda.get_waiter("function_updated_v2").wait(FunctionName="ready-broken", WaiterConfig=WAITER_CONFIG)

    # when Validate Input resolves it
    with pytest.raises(InvalidInput) as invalid:
        resolve_functions(strict_lambda, request_for("ready-broken"))

    # then it is refused, naming the function, the reason and what to do
    (problem,) = invalid.value.problems
    assert problem.startswith(
        "functions: 'ready-broken' last update failed (InvalidConfiguration: The role cannot be assumed.), so "
        "Lambda kept the code and settings from before it; fix the cause, upload the build again"
    )


def test_validate_input_refuses_a_function_whose_latest_has_another_dead_letter_queue(strict_lambda):
    # given a function with alias live on version 1 (no dead-letter queue), given one since
    create_functions_with_alias(strict_lambda, ["ready-dlq"])
    queue = "arn:aws:sqs:us-east-1:123456789012:ready-dlq"
    strict_lambda.update_function_configuration(FunctionName="ready-dlq", DeadLetterConfig={"TargetArn": queue})
    strict_lambda.get_waiter("function_updated_v2").wait(FunctionName="ready-dlq", WaiterConfig=WAITER_CONFIG)

    # when Validate Input resolves it
    with pytest.raises(InvalidInput) as invalid:
        resolve_functions(strict_lambda, request_for("ready-dlq"))

    # then it is refused, naming the queue: Lambda would refuse to weight the alias between the two versions
    (problem,) = invalid.value.problems
    assert problem.startswith(
        f"functions: 'ready-dlq' $LATEST has dead-letter queue {queue}, a different dead-letter configuration "
        "than version 1"
    )
