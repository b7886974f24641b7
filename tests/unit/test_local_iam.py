"""lambda_canary.local.iam: the functions' policies in template.yaml, applied to their calls on the local runtime."""

from __future__ import annotations

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from canary_core.fanout import fan_out
from lambda_canary.local import iam, moto_patches
from lambda_canary.local.template import ACCOUNT_ID, REGION, Template

PREFIX = f"arn:aws:{{}}:{REGION}:{ACCOUNT_ID}"


@pytest.fixture
def policies(project_root):
    """{logical id: FunctionPolicy} of every function template.yaml declares for stack "unit" (functions of
    prefix my-app-), resolved against its tables and secrets as the local stack creates them."""
    template = Template.load(
        project_root / "template.yaml",
        {"SlackWebhookUrl": "https://hooks.slack.com/x", "ManagedFunctionPrefix": "my-app-"},
        "unit",
    )
    for table in ("DeploymentsTable", "LocksTable", "FunctionsTable"):
        template.attributes[table] = {"Ref": f"unit-{table}", "Arn": PREFIX.format("dynamodb") + f":table/unit-{table}"}
    for secret in ("LinkSigningSecret", "SlackWebhookSecret", "SlackAppSecret"):
        arn = PREFIX.format("secretsmanager") + f":secret:unit-{secret}-AbCdEf"
        template.attributes[secret] = {"Ref": arn, "Id": arn}
    return {
        logical_id: iam.policy_of(logical_id, spec["Properties"], template.resolve)
        for logical_id, spec in template.resources("AWS::Serverless::Function").items()
    }


@pytest.fixture
def checked(monkeypatch):
    """boto3 on moto with the policy check installed (as the local runtime installs it), the registry emptied after."""
    owner, attribute, replacement = moto_patches.PATCHES["a function's calls are limited to its template policies"]
    monkeypatch.setattr(owner, attribute, replacement)
    with mock_aws():
        yield
    iam.clear()


def client_of(function_name, service):
    """A boto3 client with the credentials the function's execution environments get."""
    credentials = iam.credentials_of(function_name)
    return boto3.client(
        service,
        region_name="us-east-1",
        aws_access_key_id=credentials["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=credentials["AWS_SECRET_ACCESS_KEY"],
        aws_session_token=credentials["AWS_SESSION_TOKEN"],
    )


def test_policy_templates_expand_as_sam_expands_them_and_statements_count_as_written(policies):
    # given the click handler's policies: DynamoDBReadPolicy, an UpdateItem statement, two secrets, two Step
    # Functions statements
    click_handler = policies["ApprovalFunction"]

    # then it may read and update the deployments, read secrets, resume and describe executions, and nothing more
    for action in ["dynamodb:GetItem", "dynamodb:Query", "dynamodb:UpdateItem", "secretsmanager:GetSecretValue"]:
        assert click_handler.allows(action), action
    assert click_handler.allows("states:SendTaskSuccess") and click_handler.allows("states:DescribeExecution")
    for action in ["dynamodb:PutItem", "dynamodb:DeleteItem", "lambda:UpdateAlias", "states:StopExecution"]:
        assert not click_handler.allows(action), action


def test_only_the_functions_that_move_aliases_may_update_them(policies):
    # when each function's policy is asked about UpdateAlias
    movers = {logical_id for logical_id, policy in policies.items() if policy.allows("lambda:UpdateAlias")}

    # then exactly the tasks that shift, promote, roll back and clean up may
    assert movers == {"PublishAndShiftFunction", "PromoteFunction", "RollBackFunction", "CleanUpFunction"}


def test_the_functions_that_read_metrics_alarms_and_run_hooks_may_do_so_and_no_other(policies):
    # when each function's policy is asked about the analysis, the alarms and the hooks
    def may(action: str, resource: str | None = None) -> set[str]:
        return {logical_id for logical_id, policy in policies.items() if policy.allows(action, resource)}

    hook = PREFIX.format("lambda") + ":function:my-app-smoke"
    outside = PREFIX.format("lambda") + ":function:billing-smoke"

    # then the task that checks the canary reads metrics and alarms, Validate Input checks alarms exist, and
    # only the tasks that run hooks invoke, inside ManagedFunctionPrefix
    checkers = {"CheckCanaryFunction"}
    assert may("cloudwatch:GetMetricData") == checkers
    assert may("cloudwatch:DescribeAlarms") == checkers | {"ValidateInputFunction"}
    assert may("lambda:InvokeFunction", hook) == {"PublishAndShiftFunction", "PromoteFunction"}
    assert may("lambda:InvokeFunction", outside) == set()


def test_a_call_outside_the_callers_policies_is_refused_as_aws_refuses_it(checked, policies):
    # given Publish And Shift (Lambda calls, its tables, no secret)
    iam.register("stack-PublishAndShiftFunction", policies["PublishAndShiftFunction"])

    # when a call signed with its credentials reads a secret
    with pytest.raises(ClientError) as refused:
        client_of("stack-PublishAndShiftFunction", "secretsmanager").get_secret_value(SecretId="link-key")

    # then AWS's AccessDeniedException comes back, naming the action and the fix, and the refusal is kept
    error = refused.value.response["Error"]
    assert error["Code"] == "AccessDeniedException"
    assert "is not authorized to perform: secretsmanager:GetSecretValue" in error["Message"]
    assert "template.yaml: add it to PublishAndShiftFunction's Policies" in error["Message"]
    assert iam.denied == [error["Message"]]


def test_a_function_outside_the_managed_prefix_is_refused_pointing_at_the_prefix_not_the_policy(checked, policies):
    # given Promote (UpdateAlias on my-app-* functions)
    iam.register("stack-PromoteFunction", policies["PromoteFunction"])

    # when a call signed with its credentials moves the alias of a function outside the prefix
    with pytest.raises(ClientError) as refused:
        client_of("stack-PromoteFunction", "lambda").update_alias(
            FunctionName="billing-orders", Name="live", FunctionVersion="2"
        )

    # then the refusal points at ManagedFunctionPrefix, and does not tell the user to widen the policy
    message = refused.value.response["Error"]["Message"]
    assert "perform: lambda:UpdateAlias on resource: arn:aws:lambda:us-east-1:123456789012:function:billing-orders" in (
        message
    )
    assert "the function is outside the stack's ManagedFunctionPrefix parameter" in message
    assert "add it to" not in message


def test_an_allowed_call_and_a_call_with_other_credentials_reach_moto(checked, policies):
    # given the click handler registered
    iam.register("stack-ApprovalFunction", policies["ApprovalFunction"])

    # when the test itself lists tables (its own credentials), then the click handler describes the
    # deployments table (allowed)
    outside = boto3.client("dynamodb", region_name="us-east-1").list_tables()
    with pytest.raises(ClientError) as answered:
        client_of("stack-ApprovalFunction", "dynamodb").describe_table(TableName="unit-DeploymentsTable")

    # then both reach moto (which has no such table here), and nothing was refused
    assert outside["TableNames"] == []
    assert answered.value.response["Error"]["Code"] == "ResourceNotFoundException"
    assert iam.denied == []


def test_calls_a_function_fans_out_to_worker_threads_are_checked_as_its_own(checked, policies):
    # given Publish And Shift' client
    iam.register("stack-PublishAndShiftFunction", policies["PublishAndShiftFunction"])
    dynamodb = client_of("stack-PublishAndShiftFunction", "dynamodb")

    # when it makes calls from fan_out's worker threads
    results = fan_out(lambda _: dynamodb.list_tables(), range(3), max_workers=3, rate=1000)

    # then each worker's call is refused: they carry the function's credentials
    assert [type(result) for result in results] == [ClientError] * 3
    assert len(iam.denied) == 3


def test_invoke_is_checked_as_lambda_invoke_function_the_action_iam_names(checked, policies):
    # given the click handler (it may invoke itself: lambda:InvokeFunction) and Publish And Shift (it may not)
    iam.register("unit-approval", policies["ApprovalFunction"])
    iam.register("stack-PublishAndShiftFunction", policies["PublishAndShiftFunction"])
    outcomes = {}

    # when each invokes a function (one moto does not have)
    for name in ("unit-approval", "stack-PublishAndShiftFunction"):
        with pytest.raises(ClientError) as error:
            client_of(name, "lambda").invoke(FunctionName="unit-approval", InvocationType="Event", Payload=b"{}")
        outcomes[name] = error.value.response["Error"]["Code"]

    # then the click handler's call reaches moto, and Publish And Shift is refused lambda:InvokeFunction
    assert outcomes == {
        "unit-approval": "ResourceNotFoundException",
        "stack-PublishAndShiftFunction": "AccessDeniedException",
    }
    assert len(iam.denied) == 1 and "perform: lambda:InvokeFunction" in iam.denied[0]


@pytest.mark.parametrize(
    ("function", "call", "allowed"),
    [
        ("PromoteFunction", ("lambda", "UpdateAlias", {"FunctionName": "my-app-orders", "Name": "live"}), True),
        ("PromoteFunction", ("lambda", "UpdateAlias", {"FunctionName": "billing-orders", "Name": "live"}), False),
        ("ApprovalFunction", ("lambda", "Invoke", {"FunctionName": "unit-approval", "Qualifier": "live"}), True),
        ("ApprovalFunction", ("lambda", "Invoke", {"FunctionName": "unit-PublishAndShiftFunction"}), False),
        ("ApprovalFunction", ("dynamodb", "UpdateItem", {"TableName": "unit-DeploymentsTable"}), True),
        ("ApprovalFunction", ("dynamodb", "UpdateItem", {"TableName": "unit-LocksTable"}), False),
        (
            "ApprovalFunction",
            ("states", "DescribeExecution", {"executionArn": "{states}:execution:unit-canary:b-1"}),
            True,
        ),
        ("ApprovalFunction", ("states", "DescribeExecution", {"executionArn": "{states}:execution:other:b-1"}), False),
        (
            "ApprovalFunction",
            ("secretsmanager", "GetSecretValue", {"SecretId": "{secrets}:secret:unit-LinkSigningSecret-AbCdEf"}),
            True,
        ),
        (
            "PromoteFunction",
            ("secretsmanager", "GetSecretValue", {"SecretId": "{secrets}:secret:unit-LinkSigningSecret-AbCdEf"}),
            False,
        ),
    ],
)
def test_a_call_is_allowed_only_on_the_resources_its_statement_names(policies, function, call, allowed):
    # given one of the stack's functions and a call its code could make
    service, operation, params = call
    params = {
        key: value.format(states=PREFIX.format("states"), secrets=PREFIX.format("secretsmanager"))
        for key, value in params.items()
    }

    # when the call's resource is worked out, then the function's statements allow it or not
    action = f"{service}:{'InvokeFunction' if operation == 'Invoke' else operation}"
    assert policies[function].allows(action, iam.resource_of(service, operation, params)) is allowed


def test_cloudwatch_calls_are_checked_under_iams_cloudwatch_prefix(checked):
    # given a function whose policy allows reading metrics and nothing else of CloudWatch
    statement = {"Effect": "Allow", "Action": ["cloudwatch:GetMetricData"], "Resource": "*"}
    iam.register("stack-AnalyseFunction", iam.policy_of("AnalyseFunction", {"Policies": [{"Statement": [statement]}]}))
    cloudwatch = client_of("stack-AnalyseFunction", "cloudwatch")
    query = {
        "Id": "errors",
        "MetricStat": {
            "Metric": {"Namespace": "AWS/Lambda", "MetricName": "Errors", "Dimensions": []},
            "Period": 60,
            "Stat": "Sum",
        },
    }

    # when it reads metrics, then asks for the alarms' states
    read = cloudwatch.get_metric_data(MetricDataQueries=[query], StartTime=1_700_000_000, EndTime=1_700_000_600)
    with pytest.raises(ClientError) as refused:
        cloudwatch.describe_alarms(AlarmNames=["orders-api-errors"])

    # then the read reaches CloudWatch, and DescribeAlarms is refused as cloudwatch:DescribeAlarms
    assert read["MetricDataResults"][0]["Id"] == "errors"
    assert refused.value.response["Error"]["Code"] == "AccessDeniedException"
    assert "is not authorized to perform: cloudwatch:DescribeAlarms" in refused.value.response["Error"]["Message"]
    assert iam.denied == [refused.value.response["Error"]["Message"]]
