"""The alias-bypass audit of SAM and CloudFormation templates: each fixture has every kind of caller twice, once
reaching the function without its alias (a finding, at the line that names the function) and once through it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import cfnlint.api
import pytest

from lambda_canary.bypass import Finding, find_in_template, render

FIXTURES = Path(__file__).parents[1] / "fixtures" / "bypass"

SAM_FINDINGS = [
    (
        "MachineFromFile",
        "Step Functions definition",
        "OrdersFunction",
        "machine.asl.json:4",
        "OrdersArn: !Ref OrdersFunction.Alias (or ${OrdersArn}:live in the definition)",
    ),
    (
        "MachineFromFile",
        "Step Functions definition",
        "OrdersFunction",
        "machine.asl.json:9",
        "arn:aws:lambda:us-east-1:123456789012:function:orders:live",
    ),
    (
        "BillingFunction.Events.Nightly",
        "EventBridge rule",
        "BillingFunction",
        "sam.yaml:36",
        "AutoPublishAlias: live on BillingFunction (SAM then wires its Events to the alias)",
    ),
    (
        "BillingFunction.FunctionUrlConfig",
        "function URL",
        "BillingFunction",
        "sam.yaml:40",
        "AutoPublishAlias: live on BillingFunction (SAM then wires its FunctionUrlConfig to the alias)",
    ),
    (
        "QueueMappingBypass",
        "event source mapping",
        "OrdersFunction",
        "sam.yaml:69",
        "FunctionName: !Ref OrdersFunction.Alias",
    ),
    ("Topic", "SNS subscription", "BillingFunction", "sam.yaml:81", "Endpoint: !Ref BillingLive"),
    ("SubscriptionBypass", "SNS subscription", "OrdersFunction", "sam.yaml:89", "Endpoint: !Ref OrdersFunction.Alias"),
    (
        "MethodBypass",
        "API Gateway integration",
        "OrdersFunction",
        "sam.yaml:111",
        "${OrdersFunction.Arn}:live in the Fn::Sub string",
    ),
    (
        "IntegrationBypass",
        "API Gateway integration",
        "BillingFunction",
        "sam.yaml:135",
        "IntegrationUri: !Ref BillingLive",
    ),
    (
        "OpenApi",
        "API Gateway integration",
        "OrdersFunction",
        "sam.yaml:156",
        "${OrdersFunction.Arn}:live in the Fn::Sub string",
    ),
    ("RuleBypass", "EventBridge rule", "OrdersFunction", "sam.yaml:169", "Arn: !Ref OrdersFunction.Alias"),
    (
        "ScheduleBypass",
        "EventBridge Scheduler schedule",
        "BillingFunction",
        "sam.yaml:180",
        "${BillingFunction.Arn}:live in the Fn::Sub string",
    ),
    ("Bucket", "S3 notification", "OrdersFunction", "sam.yaml:198", "Function: !Ref OrdersFunction.Alias"),
    (
        "PermissionBypass",
        "Lambda permission",
        "OrdersFunction",
        "sam.yaml:207",
        "FunctionName: !Ref OrdersFunction.Alias",
    ),
    ("UrlBypass", "function URL", "BillingFunction", "sam.yaml:219", "Qualifier: live"),
    ("InvokeConfigBypass", "EventInvokeConfig", "BillingFunction", "sam.yaml:231", "Qualifier: live"),
    (
        "MachineInline",
        "Step Functions definition",
        "BillingFunction",
        "sam.yaml:255",
        "${BillingFunction.Arn}:live in the Fn::Sub string",
    ),
]

CLOUDFORMATION_FINDINGS = [
    (
        "MappingBypass",
        "event source mapping",
        "OrdersFunction",
        "cloudformation.json:53",
        'FunctionName: {"Ref": "OrdersLive"}',
    ),
    (
        "SubscriptionBypass",
        "SNS subscription",
        "OrdersFunction",
        "cloudformation.json:83",
        'Endpoint: {"Ref": "OrdersLive"}',
    ),
    (
        "Api",
        "API Gateway integration",
        "OrdersFunction",
        "cloudformation.json:115",
        "uri: functions/${OrdersFunction.Arn}:live/invocations in x-amazon-apigateway-integration",
    ),
    (
        "MethodBypass",
        "API Gateway integration",
        "OrdersFunction",
        "cloudformation.json:181",
        "${OrdersFunction.Arn}:live in the Fn::Sub string",
    ),
    (
        "HttpApi",
        "API Gateway integration",
        "OrdersFunction",
        "cloudformation.json:222",
        'Target: {"Ref": "OrdersLive"}',
    ),
    (
        "IntegrationBypass",
        "API Gateway integration",
        "OrdersFunction",
        "cloudformation.json:247",
        "${OrdersFunction.Arn}:live in the Fn::Sub string",
    ),
    ("Rule", "EventBridge rule", "OrdersFunction", "cloudformation.json:282", 'Arn: {"Ref": "OrdersLive"}'),
    (
        "ScheduleBypass",
        "EventBridge Scheduler schedule",
        "OrdersFunction",
        "cloudformation.json:306",
        'Arn: {"Ref": "OrdersLive"}',
    ),
    ("Bucket", "S3 notification", "OrdersFunction", "cloudformation.json:338", 'Function: {"Ref": "OrdersLive"}'),
    (
        "PermissionBypass",
        "Lambda permission",
        "OrdersFunction",
        "cloudformation.json:360",
        'FunctionName: {"Ref": "OrdersLive"}',
    ),
    ("UrlBypass", "function URL", "OrdersFunction", "cloudformation.json:387", "Qualifier: live"),
    ("InvokeConfigBypass", "EventInvokeConfig", "OrdersFunction", "cloudformation.json:408", "Qualifier: live"),
    (
        "MachineBypass",
        "Step Functions definition",
        "OrdersFunction",
        "cloudformation.json:442",
        'OrdersArn: {"Ref": "OrdersLive"} (or ${OrdersArn}:live in the definition)',
    ),
]


def test_every_sam_bypass_is_found_at_its_line_with_its_fix_and_no_aliased_twin_is() -> None:
    # given a SAM template with each kind of caller bypassing the alias and the same caller through it
    # when it is audited
    findings = find_in_template(FIXTURES / "sam.yaml")
    # then exactly the bypasses are found (SAM events of an AutoPublishAlias function are wired to the alias)
    assert findings == [Finding(*row) for row in SAM_FINDINGS]


def test_every_cloudformation_json_bypass_is_found_at_its_line_with_its_fix() -> None:
    # given a plain CloudFormation template in JSON with every kind, bypassing and aliased
    # when it is audited
    findings = find_in_template(FIXTURES / "cloudformation.json")
    # then exactly the bypasses are found, each fix written in the template's own syntax
    assert findings == [Finding(*row) for row in CLOUDFORMATION_FINDINGS]


def test_a_function_without_an_alias_is_not_under_canary() -> None:
    # given the fixture's PlainFunction, which has no alias but is called by its events
    # when the template is audited
    findings = find_in_template(FIXTURES / "sam.yaml")
    # then nothing is said about it: no canary shifts it
    assert all(finding.function != "PlainFunction" for finding in findings)


def test_the_projects_own_template_passes(project_root: Path) -> None:
    # given the project's template.yaml
    # when it is audited
    findings = find_in_template(project_root / "template.yaml")
    # then nothing bypasses an alias
    assert findings == []


def test_the_fix_prefers_the_alias_deployments_move() -> None:
    # given BillingFunction's only alias, live
    # when the audit is told deployments move an alias that BillingFunction does not have
    findings = find_in_template(FIXTURES / "sam.yaml", alias="blue")
    # then its callers are still findings, and each fix names the alias it has
    billing = [finding for finding in findings if finding.function == "BillingFunction"]
    assert len(billing) == 8
    assert "live" in billing[0].fix


def test_the_table_aligns_its_columns_and_json_round_trips() -> None:
    # given the SAM findings
    findings = find_in_template(FIXTURES / "sam.yaml")
    # when rendered as a table and as JSON
    table = render(findings, "table").splitlines()
    data = json.loads(render(findings, "json"))
    # then every row's location starts in the same column, and JSON holds every field of every finding
    column = table[0].index("LOCATION")
    assert all(line[column:].split()[0].count(":") >= 1 for line in table[1 : len(findings) + 1])
    assert [Finding(**item) for item in data] == findings
    assert render([], "table") == "No caller bypasses the alias."


def _audit(*arguments: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "lambda_canary.bypass", *arguments]
    return subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)


def test_the_command_exits_1_with_findings_0_without_and_6_with_nothing_to_check(
    project_root: Path, tmp_path: Path
) -> None:
    # given a template with bypasses, one whose function with an alias is called through it, and the project's
    # own template (whose functions have no alias: no canary covers them)
    aliased = tmp_path / "aliased.yaml"
    aliased.write_text(
        "Resources:\n  F:\n    Type: AWS::Serverless::Function\n"
        "    Properties: {Handler: app.handler, Runtime: python3.13, CodeUri: src/, AutoPublishAlias: live}\n"
    )
    # when each is audited with the command, as JSON
    found = _audit("--template", str(FIXTURES / "sam.yaml"), "--output", "json")
    clean = _audit("--template", str(aliased))
    unchecked = _audit("--template", str(project_root / "template.yaml"))
    # then the exit code says whether anything bypasses, or that nothing was checked, and the output says so
    assert found.returncode == 1, found.stderr
    assert len(json.loads(found.stdout)) == len(SAM_FINDINGS)
    assert clean.returncode == 0, clean.stderr
    assert clean.stdout.strip() == "No caller bypasses the alias."
    assert unchecked.returncode == 6, unchecked.stderr
    assert "nothing was checked: no function with an alias was found" in unchecked.stderr


def test_bad_arguments_exit_2_naming_the_option_and_the_fix(tmp_path: Path) -> None:
    # given arguments that cannot be audited
    broken = tmp_path / "broken.yaml"
    broken.write_text("Resources:\n  A: [\n")
    cases = {
        ("--template", str(broken)): "broken.yaml: not valid YAML",
        (): "give --template FILE",
        ("--template", str(tmp_path / "missing.yaml")): "--template",
        ("--terraform", str(tmp_path / "missing")): "--terraform",
        ("--template", str(FIXTURES / "sam.yaml"), "--output", "xml"): "--output table or --output json",
        ("--template", str(FIXTURES / "sam.yaml"), "--alias", "12"): "--alias",
        ("--functions", "orders", "--profile", "no-such-profile-here"): "--profile no-such-profile-here: no such",
    }
    for arguments, message in cases.items():
        # when the command runs with them
        result = _audit(*arguments)
        # then it exits 2 and says which option is wrong and what to write
        assert result.returncode == 2, arguments
        assert message in result.stderr, (arguments, result.stderr)
        assert result.stdout == ""


def test_a_name_is_a_reference_only_as_a_whole_property(tmp_path: Path) -> None:
    # given a function named orders under canary, a mapping whose FunctionName is "orders", and an OpenAPI body
    # that merely mentions the word orders
    template = tmp_path / "template.yaml"
    template.write_text(
        "Resources:\n"
        "  Orders:\n"
        "    Type: AWS::Serverless::Function\n"
        "    Properties: {FunctionName: orders, AutoPublishAlias: live, Runtime: python3.12, Handler: a.b}\n"
        "  Mapping:\n"
        "    Type: AWS::Lambda::EventSourceMapping\n"
        "    Properties: {EventSourceArn: arn:aws:sqs:us-east-1:123456789012:q, FunctionName: orders}\n"
        "  Api:\n"
        "    Type: AWS::Serverless::Api\n"
        "    Properties:\n"
        "      StageName: v1\n"
        "      DefinitionBody: {paths: {/orders: {get: {operationId: orders, tags: [orders]}}}}\n"
    )
    # when it is audited
    findings = find_in_template(template)
    # then the mapping is a finding and the body's words are not
    assert [(f.resource, f.location) for f in findings] == [("Mapping", "template.yaml:7")]


def test_the_table_prints_no_control_character() -> None:
    # given a finding whose resource name (read from an account) carries a terminal escape sequence
    finding = Finding("arn:aws:s3:::b notification \x1b]0;owned\x07", "S3 notification", "f", "arn:aws:s3:::b", "fix")
    # when it is rendered as a table
    table = render([finding], "table")
    # then the escape characters are replaced, and JSON escapes them
    assert "\x1b" not in table and "\x07" not in table
    assert "notification ?]0;owned?" in table
    assert "\\u001b" in render([finding], "json")


@pytest.mark.parametrize("name", ["sam.yaml", "cloudformation.json"])
def test_the_fixtures_are_templates_cloudformation_accepts(name: str) -> None:
    # given a fixture template
    # when cfn-lint (what `sam validate --lint` runs) checks it
    matches = cfnlint.api.lint_file(FIXTURES / name, cfnlint.api.ManualArgs(regions=["us-east-1"]))
    # then it has no error or warning: the audit is tested on templates that deploy
    assert [str(match) for match in matches] == []
