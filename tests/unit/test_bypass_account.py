"""The alias-bypass audit of an account, on the patched emulator: each kind of caller the APIs expose is created
twice, once invoking a function under canary unqualified (or $LATEST) and once through its alias."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest

from lambda_canary.bypass import Finding, cli_audit, find_in_account
from lambda_canary.demo import LOCAL_ROLE_ARN, create_functions_with_alias

REGION = "us-east-1"
ACCOUNT = "123456789012"
ORDERS = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:orders"
BILLING = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:billing"


def _client(service: str) -> Any:
    return boto3.client(service, region_name=REGION)


@pytest.fixture
def account(patched_lambda: Any) -> dict[str, str]:
    """Two functions under canary (alias live) and one caller of each kind twice: bypassing, and aliased.
    Returns what identifies each bypassing caller."""
    lam = patched_lambda
    create_functions_with_alias(lam, ["orders", "billing"], "live")
    made: dict[str, str] = {}

    queue = _client("sqs").create_queue(QueueName="orders")["QueueUrl"]
    queue_arn = _client("sqs").get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    made["mapping"] = lam.create_event_source_mapping(EventSourceArn=queue_arn, FunctionName="orders")["UUID"]
    lam.create_event_source_mapping(EventSourceArn=queue_arn, FunctionName="orders:live")

    topic = _client("sns").create_topic(Name="orders")["TopicArn"]
    made["subscription"] = _client("sns").subscribe(TopicArn=topic, Protocol="lambda", Endpoint=BILLING)[
        "SubscriptionArn"
    ]
    _client("sns").subscribe(TopicArn=topic, Protocol="lambda", Endpoint=f"{BILLING}:live")

    events = _client("events")
    made["rule"] = events.put_rule(Name="every-five-minutes", ScheduleExpression="rate(5 minutes)")["RuleArn"]
    events.put_targets(
        Rule="every-five-minutes", Targets=[{"Id": "bypass", "Arn": ORDERS}, {"Id": "aliased", "Arn": f"{ORDERS}:live"}]
    )

    scheduler = _client("scheduler")
    for name, arn in (("bypass", f"{BILLING}:$LATEST"), ("aliased", f"{BILLING}:live")):
        created = scheduler.create_schedule(
            Name=name,
            ScheduleExpression="rate(1 hour)",
            FlexibleTimeWindow={"Mode": "OFF"},
            Target={"Arn": arn, "RoleArn": LOCAL_ROLE_ARN},
        )
        made.setdefault("schedule", created["ScheduleArn"])

    s3 = _client("s3")
    s3.create_bucket(Bucket="uploads")
    s3.put_bucket_notification_configuration(
        Bucket="uploads",
        NotificationConfiguration={
            "LambdaFunctionConfigurations": [
                {"Id": "bypass", "LambdaFunctionArn": ORDERS, "Events": ["s3:ObjectCreated:*"]},
                {"Id": "aliased", "LambdaFunctionArn": f"{ORDERS}:live", "Events": ["s3:ObjectRemoved:*"]},
            ]
        },
    )

    rest = _client("apigateway")
    api = rest.create_rest_api(name="orders")["id"]
    root = rest.get_resources(restApiId=api)["items"][0]["id"]
    for method, arn in (("GET", ORDERS), ("POST", f"{ORDERS}:live")):
        rest.put_method(restApiId=api, resourceId=root, httpMethod=method, authorizationType="NONE")
        rest.put_integration(
            restApiId=api,
            resourceId=root,
            httpMethod=method,
            type="AWS_PROXY",
            integrationHttpMethod="POST",
            uri=f"arn:aws:apigateway:{REGION}:lambda:path/2015-03-31/functions/{arn}/invocations",
        )
    made["rest_api"] = api

    http = _client("apigatewayv2")
    http_api = http.create_api(Name="billing", ProtocolType="HTTP")["ApiId"]
    made["http_integration"] = http.create_integration(
        ApiId=http_api, IntegrationType="AWS_PROXY", IntegrationUri=BILLING, PayloadFormatVersion="2.0"
    )["IntegrationId"]
    http.create_integration(
        ApiId=http_api, IntegrationType="AWS_PROXY", IntegrationUri=f"{BILLING}:live", PayloadFormatVersion="2.0"
    )
    made["http_api"] = http_api

    lam.add_permission(
        FunctionName="orders", StatementId="s3-bypass", Action="lambda:InvokeFunction", Principal="s3.amazonaws.com"
    )
    lam.add_permission(
        FunctionName="orders",
        Qualifier="live",
        StatementId="s3-aliased",
        Action="lambda:InvokeFunction",
        Principal="s3.amazonaws.com",
    )
    # No aliased twin for the URL: moto keeps one URL per function whatever the qualifier (AWS keeps one per
    # qualifier, and GetFunctionUrlConfig without one, which the audit calls, returns only the unqualified URL)
    made["url"] = lam.create_function_url_config(FunctionName="billing", AuthType="AWS_IAM")["FunctionUrl"]
    lam.put_function_event_invoke_config(FunctionName="billing", Qualifier="$LATEST", MaximumRetryAttempts=0)
    lam.put_function_event_invoke_config(FunctionName="billing", Qualifier="live", MaximumRetryAttempts=0)

    states = _client("stepfunctions")
    for name, arn in (("bypass", ORDERS), ("aliased", f"{ORDERS}:live")):
        definition = {"StartAt": "Order", "States": {"Order": {"Type": "Task", "Resource": arn, "End": True}}}
        created = states.create_state_machine(name=name, definition=json.dumps(definition), roleArn=LOCAL_ROLE_ARN)
        made.setdefault("state_machine", created["stateMachineArn"])
    return made


def test_every_bypass_the_apis_show_is_found_and_no_aliased_twin_is(account: dict[str, str]) -> None:
    # given one caller of each kind bypassing the alias of orders or billing, and its twin through the alias
    # when the account is audited for both functions
    findings = find_in_account(boto3.Session(region_name=REGION), ["orders", "billing"], "live")
    # then exactly the bypassing callers are found, each with the function it reaches
    found = {(finding.kind, finding.function) for finding in findings}
    assert len(findings) == 11, findings
    assert found == {
        ("event source mapping", ORDERS),
        ("SNS subscription", BILLING),
        ("EventBridge rule", ORDERS),
        ("EventBridge Scheduler schedule", BILLING),
        ("S3 notification", ORDERS),
        ("API Gateway integration", ORDERS),
        ("API Gateway integration", BILLING),
        ("Lambda permission", ORDERS),
        ("function URL", BILLING),
        ("EventInvokeConfig", BILLING),
        ("Step Functions definition", ORDERS),
    }
    by_kind = {(finding.kind, finding.function): finding for finding in findings}
    assert by_kind[("SNS subscription", BILLING)].resource == account["subscription"]
    assert by_kind[("EventBridge rule", ORDERS)].resource == f"{account['rule']} target bypass"
    assert by_kind[("EventBridge Scheduler schedule", BILLING)].resource == account["schedule"]
    assert by_kind[("S3 notification", ORDERS)].resource == "arn:aws:s3:::uploads notification bypass"
    assert by_kind[("Lambda permission", ORDERS)].resource == f"{ORDERS} statement s3-bypass"
    assert by_kind[("function URL", BILLING)].resource == account["url"]
    assert by_kind[("Step Functions definition", ORDERS)].resource == account["state_machine"]
    assert account["mapping"] in by_kind[("event source mapping", ORDERS)].fix
    assert f"--function-name {ORDERS}:live" in by_kind[("event source mapping", ORDERS)].fix
    assert by_kind[("API Gateway integration", ORDERS)].resource == f"REST API {account['rest_api']} GET /"
    http_id = f"HTTP API {account['http_api']} integration {account['http_integration']}"
    assert by_kind[("API Gateway integration", BILLING)].resource == http_id


def test_a_function_not_named_is_not_audited(account: dict[str, str]) -> None:
    # given the same account
    # when only billing is audited
    findings = find_in_account(boto3.Session(region_name=REGION), ["billing"], "live")
    # then nothing about orders is reported
    assert {finding.function for finding in findings} == {BILLING}


def test_an_unknown_function_is_a_bad_argument_naming_it(
    patched_lambda: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    # given no function called ghost
    # when the audit is asked about it
    code = cli_audit(None, None, ["ghost"], None, "live", "table", boto3.Session(region_name=REGION))
    # then it exits 2 naming the option and the function
    assert code == 2
    assert "--functions ghost: no such function" in capsys.readouterr().err


def test_the_command_exits_1_on_the_accounts_findings_as_json(
    account: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    # given the account with its bypasses
    # when the command function audits it as JSON
    code = cli_audit(None, None, ["orders", "billing"], None, "live", "json", boto3.Session(region_name=REGION))
    # then it exits 1 and prints every finding
    assert code == 1
    printed = [Finding(**item) for item in json.loads(capsys.readouterr().out)]
    assert len(printed) == 11


def test_a_stack_audits_the_functions_in_its_prefix_that_have_the_alias(
    account: dict[str, str], patched_lambda: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    # given a canary stack managing functions named or*, and a function inside the prefix without the alias
    create_functions_with_alias(patched_lambda, ["orphan"], "blue")
    template = {
        "Parameters": {"ManagedFunctionPrefix": {"Type": "String"}},
        "Resources": {"Placeholder": {"Type": "AWS::SNS::Topic"}},
    }
    _client("cloudformation").create_stack(
        StackName="canary",
        TemplateBody=json.dumps(template),
        Parameters=[{"ParameterKey": "ManagedFunctionPrefix", "ParameterValue": "or"}],
    )
    # when the command function audits the stack
    code = cli_audit(None, None, None, "canary", "live", "json", boto3.Session(region_name=REGION))
    # then only orders is audited (billing is outside the prefix, orphan has no alias live), and it has findings
    assert code == 1
    assert {item["function"] for item in json.loads(capsys.readouterr().out)} == {ORDERS}


def test_a_stack_that_is_not_a_canary_stack_is_a_bad_argument(
    patched_lambda: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    # given a stack without the ManagedFunctionPrefix parameter
    template = {"Resources": {"Placeholder": {"Type": "AWS::SNS::Topic"}}}
    _client("cloudformation").create_stack(StackName="other", TemplateBody=json.dumps(template))
    # when the audit is asked to read it
    code = cli_audit(None, None, None, "other", "live", "table", boto3.Session(region_name=REGION))
    # then it exits 2 naming the option and why
    assert code == 2
    assert "--stack other: not a lambda-canary stack" in capsys.readouterr().err


def test_a_qualified_name_audits_the_function(account: dict[str, str]) -> None:
    # given the account with its bypasses
    # when a function is named with its alias (orders:live)
    findings = find_in_account(boto3.Session(region_name=REGION), ["orders:live"], "live")
    # then the function itself is audited
    assert {finding.function for finding in findings} == {ORDERS}


def test_functions_without_the_alias_are_not_checked_so_the_audit_exits_6(
    patched_lambda: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    # given a function that exists but has no alias live (its only alias is blue): no canary covers it
    create_functions_with_alias(patched_lambda, ["orphan"], "blue")
    # when the account audit is asked about it, for alias live
    code = cli_audit(None, None, ["orphan"], None, "live", "table", boto3.Session(region_name=REGION))
    # then it does not give an all-clear: nothing was checked (exit 6, as a template with no alias), naming it
    err = capsys.readouterr().err
    assert code == 6
    assert "--functions orphan: has no alias live, so it was not checked" in err
    assert "nothing was checked: no function with an alias was found in functions orphan" in err


def test_only_the_functions_with_the_alias_are_checked_and_the_others_named(
    account: dict[str, str], patched_lambda: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    # given orders under canary (alias live, with bypassing callers) and orphan without the alias, whose
    # unqualified caller is no bypass of a canary it does not have
    create_functions_with_alias(patched_lambda, ["orphan"], "blue")
    queue = _client("sqs").create_queue(QueueName="orphan")["QueueUrl"]
    arn = _client("sqs").get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    patched_lambda.create_event_source_mapping(EventSourceArn=arn, FunctionName="orphan")
    # when both are audited
    code = cli_audit(None, None, ["orders", "orphan"], None, "live", "json", boto3.Session(region_name=REGION))
    # then orders' findings are reported (exit 1), none about orphan, which is named as not checked
    printed = capsys.readouterr()
    assert code == 1
    assert {Finding(**item).function for item in json.loads(printed.out)} == {ORDERS}
    assert "--functions orphan: has no alias live, so it was not checked" in printed.err
