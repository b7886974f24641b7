"""Where moto (the pinned version) differs from AWS, shown on UNPATCHED moto.

Each patch in lambda_canary.local.moto_patches.PATCHES that covers a gap has a test here that shows the gap
still exists; the other tests pin gaps the project works around in its own code. When a moto upgrade makes
one of these tests fail, moto now behaves like AWS there: the patch (or the workaround) may no longer be
needed.
"""

from __future__ import annotations

import io
import json
import time
import zipfile
from datetime import UTC, datetime, timedelta

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws
from moto.awslambda_simple.models import LambdaSimpleBackend
from moto.stepfunctions.parser.asl.component.state.exec.state_task import state_task_lambda

from lambda_canary.local import moto_patches

# PATCHES entries whose names start so cover no gap between moto and AWS: they add the simulated request
# quota and fault injection that tests use ("Not a gap" in moto_patches).
NOT_GAP_PREFIXES = ("control plane:", "fault injection:")


@pytest.fixture
def unpatched_moto(monkeypatch):
    """moto as released: every patch of moto_patches undone for this test (even if a local runtime applied them)."""
    for owner, attribute in moto_patches._ORIGINALS:
        monkeypatch.setattr(owner, attribute, moto_patches._ORIGINALS[(owner, attribute)])


@pytest.fixture
def moto_without_docker(unpatched_moto):
    """Unpatched moto, in-process, with Lambda that runs no containers (as the local runtime configures it)."""
    with mock_aws(config={"lambda": {"use_docker": False}}):
        yield boto3.client("lambda", region_name="us-east-1")


@pytest.fixture
def function_with_alias(moto_without_docker):
    """A function whose handler returns {"handled": True}, published as version 1 with alias "live" on it."""
    role = boto3.client("iam").create_role(RoleName="moto-gaps-role", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    moto_without_docker.create_function(
        FunctionName="moto-gap-function",
        Runtime="python3.12",
        Role=role,
        Handler="app.handler",
        Code={"ZipFile": _zip("def handler(event, context):\n    return {'handled': True}\n")},
    )
    moto_without_docker.publish_version(FunctionName="moto-gap-function")
    moto_without_docker.create_alias(FunctionName="moto-gap-function", Name="live", FunctionVersion="1")
    return "moto-gap-function"


def test_lambda_invoke_runs_the_deployed_handler(moto_without_docker, function_with_alias):
    """Gap covered by PATCHES["lambda invoke runs the deployed handler"].

    Without Docker, moto's Invoke echoes the payload back instead of running the handler, so the local
    runtime runs the handler itself. When this test fails after a moto upgrade, the patch may no longer be
    needed.
    """
    # given a function whose handler returns {"handled": True}, on moto without Docker and without the patch
    payload = {"state": {"deployment": "my-app build 760"}}

    # when it is invoked
    response = moto_without_docker.invoke(FunctionName=function_with_alias, Payload=json.dumps(payload))

    # then moto answers with the payload it was sent, not with the handler's result
    answer = json.loads(response["Payload"].read())
    assert answer == payload
    assert answer != {"handled": True}
    assert "FunctionError" not in response


def test_invoking_an_alias_never_says_which_version_ran(moto_without_docker, function_with_alias):
    """Gap covered by PATCHES["lambda invoke runs the deployed handler, on the version its alias routes to"].

    moto runs an alias's main version whatever its AdditionalVersionWeights and returns no ExecutedVersion; on
    AWS each invocation goes to the additional version with its weight, and the response names the version
    that ran. When this test fails after a moto upgrade, look again at moto's routing: the patch may no longer
    be needed.
    """
    # given alias live on version 1 with the whole share on a version 2, without the patch
    moto_without_docker.update_function_code(FunctionName=function_with_alias, ZipFile=_zip("def handler(e, c): 2"))
    moto_without_docker.publish_version(FunctionName=function_with_alias)
    moto_without_docker.update_alias(
        FunctionName=function_with_alias, Name="live", RoutingConfig={"AdditionalVersionWeights": {"2": 1.0}}
    )

    # when the alias is invoked
    response = moto_without_docker.invoke(FunctionName=f"{function_with_alias}:live", Payload="{}")

    # then nothing says which version ran
    assert "ExecutedVersion" not in response


def test_an_event_invocation_is_answered_only_after_the_function_ran(
    moto_without_docker, function_with_alias, monkeypatch
):
    """Gap covered by PATCHES["lambda invoke runs the deployed handler, ... in the background for Event"].

    moto runs an asynchronous (Event) invocation before it answers; AWS queues it and answers 202 at once, so
    a caller (the click handler answering Slack) never waits for it. When this test fails after a moto
    upgrade, the background part of the patch may no longer be needed.
    """
    # given moto's Lambda, unpatched, whose backend takes half a second to run the function
    monkeypatch.setattr(LambdaSimpleBackend, "invoke", lambda *args: time.sleep(0.5) or b"")

    # when the function is invoked with InvocationType Event
    started = time.monotonic()
    response = moto_without_docker.invoke(FunctionName=function_with_alias, InvocationType="Event", Payload="{}")

    # then the 202 came only after the function ran
    assert response["StatusCode"] == 202
    assert time.monotonic() - started >= 0.5


def test_a_failing_event_invocation_is_run_once_and_sent_nowhere(moto_without_docker, function_with_alias, monkeypatch):
    """Gap covered by PATCHES["lambda invoke runs ..., retried, then sent to its on-failure destination"].

    A function invoked with InvocationType Event that fails is run once by moto, and nothing reaches the
    OnFailure destination of its EventInvokeConfig; AWS runs it again up to MaximumRetryAttempts times, then
    sends an invocation record there. When this test fails after a moto upgrade, async_invoke.py may no
    longer be needed.
    """
    # given a function whose failed asynchronous invocations go to an SQS queue after 2 retries, and whose
    # code fails every time it runs
    sqs = boto3.client("sqs", region_name="us-east-1")
    queue = sqs.create_queue(QueueName="moto-gap-dead-letters")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    moto_without_docker.put_function_event_invoke_config(
        FunctionName=function_with_alias,
        MaximumRetryAttempts=2,
        DestinationConfig={"OnFailure": {"Destination": queue_arn}},
    )
    runs: list[str] = []

    def failing(self, function_name, qualifier, body, headers, response_headers):
        runs.append(function_name)
        response_headers["x-amz-function-error"] = "Unhandled"
        return b'{"errorMessage": "failed"}'

    monkeypatch.setattr(LambdaSimpleBackend, "invoke", failing)

    # when it is invoked asynchronously
    response = moto_without_docker.invoke(FunctionName=function_with_alias, InvocationType="Event", Payload="{}")

    # then it ran once (moto answers after running it), and the queue received nothing
    assert response["StatusCode"] == 202
    assert runs == [function_with_alias]
    assert "Messages" not in sqs.receive_message(QueueUrl=queue, WaitTimeSeconds=0)


def test_list_versions_by_function_finds_nothing_by_arn(moto_without_docker, function_with_alias):
    """Gap covered by PATCHES["ListVersionsByFunction reads a function ARN"].

    moto finds the function of ListVersionsByFunction by name only: by its ARN (which AWS accepts, and which
    pruning passes) it lists no version, and for a function that does not exist it answers an empty list
    where AWS answers ResourceNotFoundException. When this test fails after a moto upgrade, the patch may no
    longer be needed.
    """
    # given a function with $LATEST and version 1
    arn = moto_without_docker.get_function(FunctionName=function_with_alias)["Configuration"]["FunctionArn"]

    # when its versions are listed by name, by ARN, and those of a function that does not exist
    by_name = moto_without_docker.list_versions_by_function(FunctionName=function_with_alias)["Versions"]
    by_arn = moto_without_docker.list_versions_by_function(FunctionName=arn)["Versions"]
    missing = moto_without_docker.list_versions_by_function(FunctionName="no-such-function")["Versions"]

    # then only the name finds them
    assert [v["Version"] for v in by_name] == ["$LATEST", "1"]
    assert by_arn == [] and missing == []


def test_list_aliases_refuses_a_function_arn(moto_without_docker, function_with_alias):
    """Gap covered by PATCHES["ListAliases reads a function ARN"].

    moto reads ListAliases's function from the request path without decoding it: a function ARN (which AWS
    accepts, and which pruning passes) is not found. When this test fails after a moto upgrade, the patch may
    no longer be needed.
    """
    # given a function with alias live
    arn = moto_without_docker.get_function(FunctionName=function_with_alias)["Configuration"]["FunctionArn"]

    # when its aliases are listed by name, then by ARN
    by_name = moto_without_docker.list_aliases(FunctionName=function_with_alias)["Aliases"]

    # then the name finds the alias, and the ARN is refused as an unknown function
    assert [a["Name"] for a in by_name] == ["live"]
    with pytest.raises(moto_without_docker.exceptions.ResourceNotFoundException):
        moto_without_docker.list_aliases(FunctionName=arn)


def test_invoke_drops_the_qualifier_parameter(moto_without_docker, function_with_alias, monkeypatch):
    """Gap covered by PATCHES["Invoke reads the Qualifier parameter and refuses payloads over AWS's limits"].

    moto's Invoke reads a lowercase `qualifier` query parameter; boto3 and the aws CLI send `Qualifier`, so an
    alias or version named that way is dropped and $LATEST runs. When this test fails after a moto upgrade,
    the patch may no longer be needed.
    """
    # given moto's Lambda, unpatched, recording what its Invoke hands to the backend
    received = []
    monkeypatch.setattr(
        LambdaSimpleBackend, "invoke", lambda self, name, qualifier, *rest: received.append((name, qualifier)) or b"{}"
    )

    # when the function is invoked with Qualifier="live"
    moto_without_docker.invoke(FunctionName=function_with_alias, Qualifier="live", Payload="{}")

    # then the backend is asked for the function with no qualifier at all
    assert received == [(function_with_alias, None)]


def test_a_caller_whose_policies_allow_nothing_is_answered(moto_without_docker, function_with_alias):
    """Gap covered by PATCHES["a function's calls are limited to its template policies"].

    moto checks no permissions unless told to: a caller whose IAM identity has no policy at all is answered.
    On AWS a function's calls are limited by its execution role. When this test fails after a moto upgrade,
    moto may now enforce IAM by default: see whether it can apply a function's role to its code, and whether
    the patch is still needed.
    """
    # given an IAM user with no policy, and its access key, on moto without the patch
    iam_client = boto3.client("iam", region_name="us-east-1")
    iam_client.create_user(UserName="moto-gap-nobody")
    key = iam_client.create_access_key(UserName="moto-gap-nobody")["AccessKey"]
    nobody = boto3.client(
        "lambda",
        region_name="us-east-1",
        aws_access_key_id=key["AccessKeyId"],
        aws_secret_access_key=key["SecretAccessKey"],
    )

    # when it reads an alias
    alias = nobody.get_alias(FunctionName=function_with_alias, Name="live")

    # then moto answers as if it were allowed
    assert alias["Name"] == "live"


def test_update_alias_does_not_change_the_revision_id(moto_without_docker, function_with_alias):
    """Gap covered by PATCHES["alias updates renew the RevisionId"].

    moto keeps an alias's RevisionId when the alias is updated; AWS gives it a new one. The workflow updates
    aliases with compare-and-set on the RevisionId, so it depends on this. When this test fails after a moto
    upgrade, the patch may no longer be needed.
    """
    # given an alias and its revision
    before = moto_without_docker.get_alias(FunctionName=function_with_alias, Name="live")["RevisionId"]

    # when the alias is updated to send 10% to another version
    moto_without_docker.update_function_code(FunctionName=function_with_alias, ZipFile=_zip("def handler(e, c): 2"))
    moto_without_docker.publish_version(FunctionName=function_with_alias)
    updated = moto_without_docker.update_alias(
        FunctionName=function_with_alias, Name="live", RoutingConfig={"AdditionalVersionWeights": {"2": 0.1}}
    )

    # then the revision did not change (AWS would give a new RevisionId)
    assert updated["RoutingConfig"] == {"AdditionalVersionWeights": {"2": 0.1}}
    assert updated["RevisionId"] == before
    assert moto_without_docker.get_alias(FunctionName=function_with_alias, Name="live")["RevisionId"] == before


def test_update_alias_accepts_a_routing_weight_above_one(moto_without_docker, function_with_alias):
    """moto accepts an AdditionalVersionWeights weight of 1.5; AWS rejects weights outside 0..1.

    The project validates the weight itself (parse_request: "weight: 1.5 is outside 0..1"), so a bad weight
    never reaches UpdateAlias, locally or on AWS. When this test fails after a moto upgrade, moto validates
    weights as AWS does.
    """
    # given an alias on version 1 and a version 2
    moto_without_docker.update_function_code(FunctionName=function_with_alias, ZipFile=_zip("def handler(e, c): 2"))
    moto_without_docker.publish_version(FunctionName=function_with_alias)

    # when the alias is given a weight of 1.5 for version 2
    updated = moto_without_docker.update_alias(
        FunctionName=function_with_alias, Name="live", RoutingConfig={"AdditionalVersionWeights": {"2": 1.5}}
    )

    # then moto stores it (AWS answers ValidationException)
    assert updated["RoutingConfig"] == {"AdditionalVersionWeights": {"2": 1.5}}


def test_update_alias_ignores_a_stale_revision_id(moto_without_docker, function_with_alias):
    """Gap covered by PATCHES["UpdateAlias checks the RevisionId"].

    moto ignores UpdateAlias's RevisionId; AWS answers PreconditionFailedException when it is not the alias's
    latest, which is how the workflow notices an alias changed by someone else. When this test fails after a
    moto upgrade, the patch may no longer be needed.
    """
    # given an alias and a version 2
    moto_without_docker.update_function_code(FunctionName=function_with_alias, ZipFile=_zip("def handler(e, c): 2"))
    moto_without_docker.publish_version(FunctionName=function_with_alias)

    # when it is updated with a RevisionId that was never its own
    updated = moto_without_docker.update_alias(
        FunctionName=function_with_alias, Name="live", FunctionVersion="2", RevisionId="not-the-latest-revision"
    )

    # then moto carries the update out (AWS would refuse it)
    assert updated["FunctionVersion"] == "2"


def _waiting_execution(function_name: str) -> tuple:
    """An execution of a one-state machine waiting on a .waitForTaskToken task, on moto's interpreter."""
    sfn = boto3.client("stepfunctions", region_name="us-east-1")
    role = boto3.client("iam").create_role(RoleName="moto-gaps-sfn", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    definition = {
        "StartAt": "Wait For Token",
        "States": {
            "Wait For Token": {
                "Type": "Task",
                "Resource": "arn:aws:states:::lambda:invoke.waitForTaskToken",
                "Parameters": {"FunctionName": function_name, "Payload": {"token.$": "$$.Task.Token"}},
                "End": True,
            }
        },
    }
    machine = sfn.create_state_machine(name="moto-gap", definition=json.dumps(definition), roleArn=role)
    execution = sfn.start_execution(stateMachineArn=machine["stateMachineArn"], name="waiting")["executionArn"]
    deadline = time.monotonic() + 10
    while not any(e["type"] == "TaskSubmitted" for e in sfn.get_execution_history(executionArn=execution)["events"]):
        assert time.monotonic() < deadline, "the execution never reached its wait"
        time.sleep(0.05)
    return sfn, execution


def _status_after(sfn, execution: str, seconds: float) -> str:
    deadline = time.monotonic() + seconds
    status = "RUNNING"
    while time.monotonic() < deadline and status == "RUNNING":
        status = sfn.describe_execution(executionArn=execution)["status"]
        time.sleep(0.05)
    return status


def test_a_new_function_is_active_at_once(moto_without_docker):
    """Gap covered by PATCHES["a create takes time"] and PATCHES["GetFunction reports a create Pending ..."].

    On AWS a new function is Pending for a moment, and Lambda refuses to publish or invoke it meanwhile.
    """
    # given unpatched moto
    role = boto3.client("iam").create_role(RoleName="moto-gaps-new", AssumeRolePolicyDocument="{}")["Role"]["Arn"]

    # when a function is created
    created = moto_without_docker.create_function(
        FunctionName="moto-gap-new", Runtime="python3.12", Role=role, Handler="app.handler",
        Code={"ZipFile": _zip("def handler(event, context):\n    return {}\n")},
    )  # fmt: skip

    # then it is Active at once, and can be published at once (AWS: Pending, ResourceConflictException)
    assert created["State"] == "Active"
    assert moto_without_docker.get_function(FunctionName="moto-gap-new")["Configuration"]["State"] == "Active"
    assert moto_without_docker.publish_version(FunctionName="moto-gap-new")["Version"] == "1"


def test_an_update_is_finished_at_once(moto_without_docker, function_with_alias):
    """Gap covered by PATCHES["UpdateFunctionCode takes time ..."], ["UpdateFunctionConfiguration takes
    time ..."], ["PublishVersion is refused while ..."] and ["GetFunction reports ... InProgress ..."].

    On AWS an update is InProgress for a while, and PublishVersion or another update meanwhile fails with
    ResourceConflictException ("An update is in progress for resource: ...").
    """
    # given unpatched moto and a function
    # when its code is updated
    moto_without_docker.update_function_code(
        FunctionName=function_with_alias, ZipFile=_zip("def handler(event, context):\n    return 2\n")
    )

    # then the update is over at once: Successful, a configuration update and a publish go through at once
    configuration = moto_without_docker.get_function_configuration(FunctionName=function_with_alias)
    assert configuration["LastUpdateStatus"] == "Successful"
    moto_without_docker.update_function_configuration(FunctionName=function_with_alias, Timeout=10)
    moto_without_docker.update_function_code(
        FunctionName=function_with_alias, ZipFile=_zip("def handler(event, context):\n    return 3\n")
    )
    assert moto_without_docker.publish_version(FunctionName=function_with_alias)["Version"] == "2"


def test_an_alias_is_weighted_between_versions_with_different_roles_and_dead_letter_queues(
    moto_without_docker, function_with_alias
):
    """Gap covered by PATCHES["UpdateAlias weights only versions with the same execution role and dead-letter
    queue ..."].

    AWS refuses the weighted UpdateAlias ("Specified versions must be associated with the same execution
    role"), and keeps a function's DeadLetterConfig; moto weights any two versions and drops DeadLetterConfig.
    """
    # given version 2 published with another execution role and a dead-letter queue
    other = boto3.client("iam").create_role(RoleName="moto-gaps-other", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    queue = "arn:aws:sqs:us-east-1:123456789012:moto-gaps-dlq"
    moto_without_docker.update_function_configuration(
        FunctionName=function_with_alias, Role=other, DeadLetterConfig={"TargetArn": queue}
    )
    assert moto_without_docker.publish_version(FunctionName=function_with_alias)["Version"] == "2"

    # when alias live is weighted between version 1 and version 2
    moto_without_docker.update_alias(
        FunctionName=function_with_alias, Name="live", RoutingConfig={"AdditionalVersionWeights": {"2": 0.1}}
    )

    # then moto accepts it, and reports no dead-letter queue at all
    alias = moto_without_docker.get_alias(FunctionName=function_with_alias, Name="live")
    assert alias["RoutingConfig"] == {"AdditionalVersionWeights": {"2": 0.1}}
    assert "DeadLetterConfig" not in moto_without_docker.get_function_configuration(FunctionName=function_with_alias)


@pytest.fixture
def interpreter(unpatched_moto):
    """Unpatched moto running state machines (as the local runtime configures it), Lambda without Docker."""
    config = {"stepfunctions": {"execute_state_machine": True}, "lambda": {"use_docker": False}}
    with mock_aws(config=config):
        yield


def test_stop_execution_leaves_a_task_token_wait_running(interpreter, function_with_alias_in_interpreter):
    """Gap covered by PATCHES["StopExecution ends a task-token wait"].

    On AWS a stopped execution is ABORTED at once; moto's interpreter keeps waiting for the task token.
    When this test fails after a moto upgrade, the patch may no longer be needed.
    """
    # given an execution waiting for a task token
    sfn, execution = _waiting_execution(function_with_alias_in_interpreter)

    # when it is stopped
    sfn.stop_execution(executionArn=execution, error="Operator", cause="stopped")

    # then moto still reports it RUNNING a second later (AWS: ABORTED)
    assert _status_after(sfn, execution, 1.0) == "RUNNING"
    _end_wait(sfn, execution)


def test_a_stopped_wait_ends_failed_not_aborted(interpreter, function_with_alias_in_interpreter, monkeypatch):
    """Gap covered by PATCHES["a stopped execution stays ABORTED"].

    With only the wait interrupted, moto turns the stop into a failure: the interrupted task's error
    overwrites the stopped state. When this test fails after a moto upgrade, the patch may no longer be needed.
    """
    # given an execution waiting for a task token, and stops that interrupt waits (the other patch alone)
    owner, attribute, replacement = moto_patches.PATCHES["StopExecution ends a task-token wait"]
    monkeypatch.setattr(owner, attribute, replacement)
    sfn, execution = _waiting_execution(function_with_alias_in_interpreter)

    # when it is stopped
    sfn.stop_execution(executionArn=execution, error="Operator", cause="stopped")

    # then it ends FAILED (AWS: ABORTED)
    assert _status_after(sfn, execution, 5.0) == "FAILED"


def _end_wait(sfn, execution: str) -> None:
    """Send the waiting task its failure so that moto's interpreter thread ends with the test."""
    history = sfn.get_execution_history(executionArn=execution)["events"]
    scheduled = next(e for e in history if e["type"] == "TaskScheduled")
    token = json.loads(scheduled["taskScheduledEventDetails"]["parameters"])["Payload"]["token"]
    sfn.send_task_failure(taskToken=token, error="Test", cause="the test is over")


@pytest.fixture
def function_with_alias_in_interpreter(interpreter):
    role = boto3.client("iam").create_role(RoleName="moto-gaps-fn", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    boto3.client("lambda", region_name="us-east-1").create_function(
        FunctionName="moto-gap-waiter", Runtime="python3.12", Role=role, Handler="app.handler",
        Code={"ZipFile": _zip("def handler(event, context):\n    return {}\n")},
    )  # fmt: skip
    return "moto-gap-waiter"


def test_invoke_accepts_a_payload_over_awss_limit(moto_without_docker, function_with_alias):
    """Gap covered by PATCHES["Invoke reads the Qualifier parameter and refuses payloads over AWS's limits"].

    AWS refuses an Event invocation whose payload passes 1 MB (6 MB synchronous) with
    RequestTooLargeException; moto takes it. When this test fails after a moto upgrade, the size check
    of the patch may no longer be needed.
    """
    # given a payload of 1.1 MB
    payload = json.dumps({"blob": "x" * 1_100_000})

    # when the function is invoked asynchronously with it
    answer = moto_without_docker.invoke(FunctionName=function_with_alias, InvocationType="Event", Payload=payload)

    # then moto accepts it (AWS: RequestTooLargeException)
    assert answer["StatusCode"] == 202


def _failed_execution(definition: dict, execution_input: dict) -> dict:
    """Run a state machine on moto's interpreter to its end; its describe_execution."""
    sfn = boto3.client("stepfunctions", region_name="us-east-1")
    role = boto3.client("iam").create_role(RoleName="moto-gaps-fail", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    machine = sfn.create_state_machine(name="moto-gap-fail", definition=json.dumps(definition), roleArn=role)
    execution = sfn.start_execution(
        stateMachineArn=machine["stateMachineArn"], name="fails", input=json.dumps(execution_input)
    )["executionArn"]
    deadline = time.monotonic() + 10
    while (described := sfn.describe_execution(executionArn=execution))["status"] == "RUNNING":
        assert time.monotonic() < deadline, "the execution never ended"
        time.sleep(0.05)
    return described


FAIL_WITH_CAUSE = {"StartAt": "Fail", "States": {"Fail": {"Type": "Fail", "Error": "E", "CausePath": "$.cause"}}}


def test_a_cause_is_kept_whole_past_32768_characters(interpreter):
    """Gap covered by PATCHES["Step Functions keeps 32,768 characters of a cause"].

    Step Functions keeps at most 32,768 characters of an error's cause (ExecutionFailedEventDetails); moto
    keeps it whole. When this test fails after a moto upgrade, the patch may no longer be needed.
    """
    # given a Fail state whose cause is 40,000 characters long
    # when it runs
    described = _failed_execution(FAIL_WITH_CAUSE, {"cause": "c" * 40_000})

    # then moto keeps all of it (AWS: 32,768)
    assert (described["status"], len(described["cause"])) == ("FAILED", 40_000)


def test_a_lambda_task_names_a_lambda_api_error_exception(interpreter, function_with_alias_in_interpreter, monkeypatch):
    """Gap covered by PATCHES["a Lambda task names Lambda's API errors Lambda.<code>"].

    A task whose Resource is a function's ARN reports an error of Lambda's API as "Lambda.<code>" on AWS
    (Lambda.ServiceException, Lambda.TooManyRequestsException: what a Retry names); moto reports "Exception".
    When this test fails after a moto upgrade, the patch may no longer be needed.
    """

    # given a task invoking a function by its ARN, and Lambda's Invoke answering 500 ServiceException
    def lambda_fails(*args, **kwargs):
        raise ClientError({"Error": {"Code": "ServiceException", "Message": "internal"}}, "Invoke")

    monkeypatch.setattr(state_task_lambda.lambda_eval_utils, "execute_lambda_function_integration", lambda_fails)
    arn = f"arn:aws:lambda:us-east-1:123456789012:function:{function_with_alias_in_interpreter}"
    definition = {"StartAt": "Call", "States": {"Call": {"Type": "Task", "Resource": arn, "End": True}}}

    # when it runs
    described = _failed_execution(definition, {})

    # then moto names the error "Exception" (AWS: Lambda.ServiceException)
    assert (described["status"], described["error"]) == ("FAILED", "Exception")


# Limits moto enforces as AWS does: no patch needed. When one of these fails after a moto upgrade, the local
# runtime needs a patch to keep refusing what AWS refuses.


def test_moto_refuses_a_state_over_256_kb(interpreter, function_with_alias_in_interpreter):
    # given a task whose result is twice its 150 KB input (moto's Lambda without Docker echoes the payload)
    definition = {
        "StartAt": "Double",
        "States": {
            "Double": {
                "Type": "Task",
                "Resource": "arn:aws:states:::lambda:invoke",
                "Parameters": {"FunctionName": function_with_alias_in_interpreter, "Payload": {"a.$": "$", "b.$": "$"}},
                "End": True,
            }
        },
    }
    # when it runs
    described = _failed_execution(definition, {"blob": "x" * 150_000})

    # then the execution fails with States.DataLimitExceeded, as on AWS
    assert (described["status"], described["error"]) == ("FAILED", "States.DataLimitExceeded")


def test_moto_refuses_a_dynamodb_item_over_400_kb(moto_without_docker):
    # given a table holding an item of 300 KB
    dynamodb = boto3.client("dynamodb", region_name="us-east-1")
    dynamodb.create_table(
        TableName="moto-gap-items",
        KeySchema=[{"AttributeName": "k", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "k", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    dynamodb.put_item(TableName="moto-gap-items", Item={"k": {"S": "a"}, "v": {"L": [{"S": "x" * 300_000}]}})

    # when an update would take it past 400 KB
    # then it is refused, as on AWS
    with pytest.raises(ClientError, match="Item size to update has exceeded the maximum allowed size"):
        dynamodb.update_item(
            TableName="moto-gap-items",
            Key={"k": {"S": "a"}},
            UpdateExpression="SET v = list_append(v, :more)",
            ExpressionAttributeValues={":more": {"L": [{"S": "x" * 150_000}]}},
        )


def test_invocations_publish_no_lambda_metrics(moto_without_docker, function_with_alias):
    """Gap covered by PATCHES["lambda invoke runs the deployed handler, ..., and records its metrics"].

    Lambda records Invocations, Errors and Duration in CloudWatch (AWS/Lambda) for every invocation; moto's
    Lambda records nothing, so an analysis that reads them would see no traffic. When this test fails after a
    moto upgrade, metrics.py may no longer be needed.
    """
    # given a function with alias live, on unpatched moto
    # when the alias is invoked three times
    for _ in range(3):
        moto_without_docker.invoke(FunctionName=f"{function_with_alias}:live", Payload="{}")

    # then CloudWatch knows no metric of the AWS/Lambda namespace
    cloudwatch = boto3.client("cloudwatch", region_name="us-east-1")
    assert cloudwatch.list_metrics(Namespace="AWS/Lambda")["Metrics"] == []


def test_invocations_write_nothing_to_cloudwatch_logs(moto_without_docker, function_with_alias):
    """Gap covered by PATCHES["lambda invoke runs the deployed handler, ..., and records its metrics and logs"].

    Lambda delivers every invocation's START, END and REPORT lines, and what the function printed, to its log
    group; moto's Lambda runs nothing and writes nothing there. When this test fails after a moto upgrade,
    logs.py may no longer be needed.
    """
    # given a function with alias live, on unpatched moto
    # when the alias is invoked
    moto_without_docker.invoke(FunctionName=f"{function_with_alias}:live", Payload="{}")

    # then CloudWatch Logs has no log group for the function, nor any other
    logs = boto3.client("logs", region_name="us-east-1")
    assert logs.describe_log_groups()["logGroups"] == []


def test_a_functions_logging_config_is_dropped(moto_without_docker, function_with_alias):
    """Gap covered by PATCHES["a create takes time and keeps LoggingConfig"] and PATCHES["GetFunction reports
    ..., and the function's LoggingConfig"].

    Lambda keeps a function's LoggingConfig (where its logs go, given at create or update) and reports it,
    by default {"LogFormat": "Text", "LogGroup": "/aws/lambda/<name>"}; moto drops it. When this test fails
    after a moto upgrade, the LoggingConfig part of the patches may no longer be needed.
    """
    # given a function created with its logs sent to a log group of the stack's
    role = boto3.client("iam").create_role(RoleName="moto-gaps-logging", AssumeRolePolicyDocument="{}")["Role"]
    moto_without_docker.create_function(
        FunctionName="moto-gap-logging", Runtime="python3.12", Role=role["Arn"], Handler="app.handler",
        Code={"ZipFile": _zip("def handler(event, context):\n    return {}\n")},
        LoggingConfig={"LogFormat": "Text", "LogGroup": "my-stack-ValidateInputLogs"},
    )  # fmt: skip

    # when its configuration is read, then nothing says where its logs go (nor does the default function's)
    assert "LoggingConfig" not in moto_without_docker.get_function_configuration(FunctionName="moto-gap-logging")
    assert "LoggingConfig" not in moto_without_docker.get_function_configuration(FunctionName=function_with_alias)


def test_a_logging_config_lambda_refuses_is_taken(moto_without_docker, function_with_alias):
    """Gap covered by PATCHES["a create takes time and keeps LoggingConfig"] (and the update patches).

    Lambda refuses a LoggingConfig whose LogFormat or log levels are outside its API's lists, or whose log group
    name CloudWatch Logs would refuse (InvalidParameterValueException); moto takes any. When this test fails
    after a moto upgrade, the check may no longer be needed.
    """
    # when a function's configuration is updated with a log format Lambda does not have
    answer = moto_without_docker.update_function_configuration(
        FunctionName=function_with_alias, LoggingConfig={"LogFormat": "Bogus", "LogGroup": "no spaces allowed"}
    )

    # then moto takes it
    assert answer["FunctionName"] == function_with_alias


def _duration_query(dimensions, stat, namespace="AWS/Lambda"):
    return {
        "Id": "duration",
        "MetricStat": {
            "Metric": {"Namespace": namespace, "MetricName": "Duration", "Dimensions": dimensions},
            "Period": 60,
            "Stat": stat,
        },
    }


def _metric_values(cloudwatch, query, now):
    answer = cloudwatch.get_metric_data(
        MetricDataQueries=[query], StartTime=now - timedelta(minutes=5), EndTime=now + timedelta(minutes=1)
    )
    return answer["MetricDataResults"][0]["Values"]


CANARY_DIMENSIONS = [
    {"Name": "FunctionName", "Value": "orders-api"},
    {"Name": "Resource", "Value": "orders-api:live"},
    {"Name": "ExecutedVersion", "Value": "2"},
]


def test_get_metric_data_answers_no_percentile(unpatched_moto):
    """Gap covered by PATCHES["GetMetricData matches namespace and dimensions as CloudWatch does and computes
    percentiles"].

    CloudWatch computes percentiles (p99) of single values; moto's GetMetricData has no value for them and the
    call fails. When this test fails after a moto upgrade, that part of the patch may no longer be needed.
    """
    with mock_aws():
        # given durations of 1 to 100 ms put as single values
        cloudwatch = boto3.client("cloudwatch", region_name="us-east-1")
        now = datetime.now(UTC)
        for value in range(1, 101):
            datum = {"MetricName": "Duration", "Value": float(value), "Dimensions": CANARY_DIMENSIONS, "Timestamp": now}
            cloudwatch.put_metric_data(Namespace="AWS/Lambda", MetricData=[datum])

        # when their p99 is asked for (and, to show the data is there, their maximum)
        try:
            p99 = _metric_values(cloudwatch, _duration_query(CANARY_DIMENSIONS, "p99"), now)
        except (TypeError, ClientError) as error:
            p99 = error
        maximum = _metric_values(cloudwatch, _duration_query(CANARY_DIMENSIONS, "Maximum"), now)

        # then the maximum is there, the 99th percentile (99 ms) is not
        assert maximum == [100.0]
        assert p99 != [99.0]


def test_get_metric_data_mixes_namespaces_and_depends_on_dimension_order(unpatched_moto):
    """Gap covered by PATCHES["GetMetricData matches namespace and dimensions as CloudWatch does and computes
    percentiles"].

    CloudWatch identifies a metric by namespace, name and its set of dimensions; moto's GetMetricData ignores
    the namespace of a query that names dimensions, and finds the dimensions only in some orders. When this
    test fails after a moto upgrade, that part of the patch may no longer be needed.
    """
    with mock_aws():
        # given a 10 ms duration in AWS/Lambda and a 1000 ms one of the same name and dimensions elsewhere
        cloudwatch = boto3.client("cloudwatch", region_name="us-east-1")
        now = datetime.now(UTC)
        for namespace, value in (("AWS/Lambda", 10.0), ("Other/Service", 1000.0)):
            datum = {"MetricName": "Duration", "Value": value, "Dimensions": CANARY_DIMENSIONS, "Timestamp": now}
            cloudwatch.put_metric_data(Namespace=namespace, MetricData=[datum])

        # when AWS/Lambda's sum is asked for, with the dimensions in the order put, then in another order
        as_put = _metric_values(cloudwatch, _duration_query(CANARY_DIMENSIONS, "Sum"), now)
        reordered = [CANARY_DIMENSIONS[1], CANARY_DIMENSIONS[2], CANARY_DIMENSIONS[0]]
        other_order = _metric_values(cloudwatch, _duration_query(reordered, "Sum"), now)

        # then the first sum counts the other namespace's value, and the second finds nothing (AWS: [10.0] twice)
        assert as_put == [1010.0]
        assert other_order == []


def test_an_alarm_starts_ok_and_an_update_resets_it(unpatched_moto):
    """Gap covered by PATCHES["a new alarm is INSUFFICIENT_DATA and an updated one keeps its state"].

    CloudWatch starts a new alarm in INSUFFICIENT_DATA, and PutMetricAlarm on an existing alarm leaves its
    state as it was; moto starts it in OK and puts an updated alarm back to OK. When this test fails after a
    moto upgrade, the patch may no longer be needed.
    """
    with mock_aws():
        # given an alarm just created
        cloudwatch = boto3.client("cloudwatch", region_name="us-east-1")
        alarm = {
            "AlarmName": "orders-api-errors",
            "Namespace": "AWS/Lambda",
            "MetricName": "Errors",
            "Statistic": "Sum",
            "Period": 60,
            "EvaluationPeriods": 1,
            "Threshold": 1.0,
            "ComparisonOperator": "GreaterThanOrEqualToThreshold",
        }
        cloudwatch.put_metric_alarm(**alarm)
        created = cloudwatch.describe_alarms(AlarmNames=["orders-api-errors"])["MetricAlarms"][0]["StateValue"]

        # when it is set to ALARM, then its threshold is updated
        cloudwatch.set_alarm_state(AlarmName="orders-api-errors", StateValue="ALARM", StateReason="test")
        cloudwatch.put_metric_alarm(**{**alarm, "Threshold": 5.0})
        updated = cloudwatch.describe_alarms(AlarmNames=["orders-api-errors"])["MetricAlarms"][0]["StateValue"]

        # then it started OK and the update put it back to OK (AWS: INSUFFICIENT_DATA, then ALARM kept)
        assert (created, updated) == ("OK", "OK")


GAP_TESTS = {
    "a Lambda task names Lambda's API errors Lambda.<code>": (test_a_lambda_task_names_a_lambda_api_error_exception,),
    "lambda invoke runs the deployed handler, on the version its alias routes to, in the background for Event, "
    "retried, then sent to its on-failure destination, and records its metrics and logs": (
        test_lambda_invoke_runs_the_deployed_handler,
        test_invoking_an_alias_never_says_which_version_ran,
        test_an_event_invocation_is_answered_only_after_the_function_ran,
        test_a_failing_event_invocation_is_run_once_and_sent_nowhere,
        test_invocations_publish_no_lambda_metrics,
        test_invocations_write_nothing_to_cloudwatch_logs,
    ),
    "a new alarm is INSUFFICIENT_DATA and an updated one keeps its state": (
        test_an_alarm_starts_ok_and_an_update_resets_it
    ),
    "GetMetricData matches namespace and dimensions as CloudWatch does and computes percentiles": (
        test_get_metric_data_answers_no_percentile,
        test_get_metric_data_mixes_namespaces_and_depends_on_dimension_order,
    ),
    "Invoke reads the Qualifier parameter and refuses payloads over AWS's limits": (
        test_invoke_drops_the_qualifier_parameter,
        test_invoke_accepts_a_payload_over_awss_limit,
    ),
    "Step Functions keeps 32,768 characters of a cause": test_a_cause_is_kept_whole_past_32768_characters,
    "a function's calls are limited to its template policies": test_a_caller_whose_policies_allow_nothing_is_answered,
    "StopExecution ends a task-token wait": test_stop_execution_leaves_a_task_token_wait_running,
    "a stopped execution stays ABORTED": test_a_stopped_wait_ends_failed_not_aborted,
    "alias updates renew the RevisionId": test_update_alias_does_not_change_the_revision_id,
    "ListVersionsByFunction reads a function ARN": test_list_versions_by_function_finds_nothing_by_arn,
    "ListAliases reads a function ARN": test_list_aliases_refuses_a_function_arn,
    "UpdateAlias checks the RevisionId": test_update_alias_ignores_a_stale_revision_id,
    "PublishVersion is refused while the function is created or updated (and the control plane)": (
        test_a_new_function_is_active_at_once,
        test_an_update_is_finished_at_once,
    ),
    "GetFunction reports a create Pending and an update InProgress, then Active and Successful or Failed, "
    "and the function's LoggingConfig": (
        test_a_new_function_is_active_at_once,
        test_an_update_is_finished_at_once,
        test_a_functions_logging_config_is_dropped,
    ),
    "a create takes time and keeps LoggingConfig": (
        test_a_new_function_is_active_at_once,
        test_a_functions_logging_config_is_dropped,
        test_a_logging_config_lambda_refuses_is_taken,
    ),
    "UpdateAlias weights only versions with the same execution role and dead-letter queue (and the control plane)": (
        test_an_alias_is_weighted_between_versions_with_different_roles_and_dead_letter_queues
    ),
    "UpdateFunctionCode takes time and is refused during another update": test_an_update_is_finished_at_once,
    "UpdateFunctionConfiguration takes time and is refused during another update": test_an_update_is_finished_at_once,
}


def test_every_patch_for_a_gap_has_a_test_here():
    # given the patches the local runtime applies to moto
    # when those that cover a gap are listed
    gaps = {name for name in moto_patches.PATCHES if not name.startswith(NOT_GAP_PREFIXES)}

    # then each has a test in this file that shows the gap on unpatched moto (add one with a new patch)
    assert gaps == set(GAP_TESTS)


def test_apply_installs_every_patch_over_moto_own_methods(monkeypatch):
    # given moto as it is now (restored after this test, whatever it was)
    for owner, attribute, _ in moto_patches.PATCHES.values():
        monkeypatch.setattr(owner, attribute, getattr(owner, attribute))

    # when the patches are applied
    moto_patches.apply()

    # then each replacement is installed, and each replaced method is kept as moto's own for remove()
    for owner, attribute, replacement in moto_patches.PATCHES.values():
        assert getattr(owner, attribute) is replacement
        assert moto_patches._ORIGINALS[(owner, attribute)] is not replacement


def _zip(source: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("app.py", source)
    return buffer.getvalue()
