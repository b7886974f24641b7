"""The alias-bypass audit of Terraform: the fixture directory has every kind of caller twice, once reaching a
function under canary without its alias (a finding, at the line that names the function) and once through it."""

from __future__ import annotations

from pathlib import Path

import pytest

from lambda_canary.bypass import Finding, find_in_terraform

TERRAFORM = Path(__file__).parents[1] / "fixtures" / "bypass" / "terraform"

TERRAFORM_FINDINGS = [
    (
        "aws_lambda_event_source_mapping.bypass",
        "event source mapping",
        "aws_lambda_function.orders",
        "callers.tf:4",
        "function_name = aws_lambda_alias.orders_live.arn",
    ),
    (
        "aws_sns_topic_subscription.bypass",
        "SNS subscription",
        "aws_lambda_function.billing",
        "callers.tf:15",
        "endpoint = aws_lambda_alias.billing_live.arn",
    ),
    (
        "aws_api_gateway_integration.bypass",
        "API Gateway integration",
        "aws_lambda_function.orders",
        "callers.tf:30",
        "uri = aws_lambda_alias.orders_live.invoke_arn",
    ),
    (
        "aws_apigatewayv2_integration.bypass",
        "API Gateway integration",
        "aws_lambda_function.billing",
        "callers.tf:45",
        "integration_uri = aws_lambda_alias.billing_live.invoke_arn",
    ),
    (
        "aws_api_gateway_rest_api.openapi",
        "API Gateway integration",
        "aws_lambda_function.orders",
        "callers.tf:64",
        "uri = aws_lambda_alias.orders_live.invoke_arn in the OpenAPI body's x-amazon-apigateway-integration",
    ),
    (
        "aws_cloudwatch_event_target.bypass",
        "EventBridge rule",
        "aws_lambda_function.orders",
        "callers.tf:81",
        "arn = aws_lambda_alias.orders_live.arn",
    ),
    (
        "aws_scheduler_schedule.bypass",
        "EventBridge Scheduler schedule",
        "aws_lambda_function.billing",
        "callers.tf:95",
        "arn = aws_lambda_alias.billing_live.arn",
    ),
    (
        "aws_s3_bucket_notification.uploads",
        "S3 notification",
        "aws_lambda_function.orders",
        "callers.tf:118",
        "lambda_function_arn = aws_lambda_alias.orders_live.arn",
    ),
    (
        "aws_lambda_permission.bypass",
        "Lambda permission",
        "aws_lambda_function.orders",
        "callers.tf:126",
        "qualifier = aws_lambda_alias.orders_live.name",
    ),
    (
        "aws_lambda_function_url.bypass",
        "function URL",
        "aws_lambda_function.billing",
        "callers.tf:137",
        "qualifier = aws_lambda_alias.billing_live.name",
    ),
    (
        "aws_lambda_function_event_invoke_config.bypass",
        "EventInvokeConfig",
        "aws_lambda_function.billing",
        "callers.tf:149",
        "qualifier = aws_lambda_alias.billing_live.name",
    ),
    (
        "aws_sfn_state_machine.bypass",
        "Step Functions definition",
        "aws_lambda_function.orders",
        "callers.tf:165",
        "aws_lambda_alias.orders_live.arn in the definition",
    ),
]


def test_every_terraform_bypass_is_found_at_its_line_with_its_fix_and_no_aliased_twin_is() -> None:
    # given .tf files with each kind of caller naming aws_lambda_function.X.arn / .function_name / .invoke_arn,
    # a literal ARN or $LATEST, and the same callers through the alias or a version
    # when the directory is audited
    findings = find_in_terraform(TERRAFORM)
    # then exactly the bypasses are found, each fix naming the alias resource's attribute to use
    assert findings == [Finding(*row) for row in TERRAFORM_FINDINGS]


def test_a_function_no_alias_points_at_is_not_under_canary() -> None:
    # given aws_lambda_function.reports, which an event target calls by its unqualified ARN but has no alias
    # when the directory is audited
    findings = find_in_terraform(TERRAFORM)
    # then nothing is said about it
    assert all(finding.function != "aws_lambda_function.reports" for finding in findings)


def test_a_repeated_nested_block_is_read_whole(tmp_path: Path) -> None:
    # given a bucket notification whose second lambda_function block (of two) bypasses the alias
    functions = (TERRAFORM / "functions.tf").read_text()
    (tmp_path / "functions.tf").write_text(functions)
    (tmp_path / "bucket.tf").write_text(
        'resource "aws_s3_bucket_notification" "b" {\n'
        '  bucket = "b"\n'
        "  lambda_function {\n"
        "    lambda_function_arn = aws_lambda_alias.orders_live.arn\n"
        "  }\n"
        "  lambda_function {\n"
        "    lambda_function_arn = aws_lambda_function.orders.arn\n"
        "  }\n"
        "}\n"
    )
    # when the directory is audited
    findings = find_in_terraform(tmp_path)
    # then the second block's line is the finding
    assert [(f.resource, f.location) for f in findings] == [("aws_s3_bucket_notification.b", "bucket.tf:7")]


def test_a_file_that_is_not_hcl_is_refused_naming_it(tmp_path: Path) -> None:
    # given a .tf file that does not parse
    (tmp_path / "broken.tf").write_text('resource "aws_lambda_function" {\n')
    # when the directory is audited
    # then the error names the file
    with pytest.raises(ValueError, match=r"broken\.tf: not valid HCL"):
        find_in_terraform(tmp_path)


def test_a_name_is_a_reference_only_as_a_whole_attribute(tmp_path: Path) -> None:
    # given billing under canary (its alias names it by its literal name), a mapping whose function_name is
    # "billing", and a state machine whose definition merely mentions the word billing
    (tmp_path / "functions.tf").write_text((TERRAFORM / "functions.tf").read_text())
    (tmp_path / "callers.tf").write_text(
        'resource "aws_lambda_event_source_mapping" "m" {\n'
        '  event_source_arn = "arn:aws:sqs:us-east-1:123456789012:q"\n'
        '  function_name    = "billing"\n'
        "}\n"
        'resource "aws_sfn_state_machine" "s" {\n'
        '  definition = jsonencode({ Comment = "billing", StartAt = "A", States = {} })\n'
        "}\n"
    )
    # when the directory is audited
    findings = find_in_terraform(tmp_path)
    # then the mapping is a finding and the definition's words are not
    assert [(f.resource, f.location) for f in findings] == [("aws_lambda_event_source_mapping.m", "callers.tf:3")]
