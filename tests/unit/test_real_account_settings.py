"""What a first deployment to a real account needs from template.yaml, samconfig.toml and the ASL file."""

from __future__ import annotations

import json
import tomllib

import pytest

from lambda_canary.local.template import Template

REQUIRED = {"SlackWebhookUrl": "https://hooks.slack.com/services/T0/B0/x", "ManagedFunctionPrefix": "my-app-"}
# Lambda errors a task invocation can meet that say nothing about the code (AWS's own list for Lambda tasks)
TRANSIENT_LAMBDA_ERRORS = {
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
    "Lambda.TooManyRequestsException",
    "Lambda.ClientExecutionTimeoutException",
}


@pytest.fixture
def template(project_root):
    return Template.load(project_root / "template.yaml", REQUIRED, "unit-stack")


@pytest.fixture
def asl(project_root):
    return json.loads((project_root / "statemachine" / "canary.asl.json").read_text())


def test_tables_and_secrets_outlive_the_stack(template):
    # given the stateful resources: the decision trail, the locks, the signing key and the Slack secrets
    stateful = {
        **template.resources("AWS::DynamoDB::Table"),
        **template.resources("AWS::SecretsManager::Secret"),
    }
    # then deleting or replacing the stack keeps every one of them
    assert stateful
    for logical_id, spec in stateful.items():
        assert spec.get("DeletionPolicy") == "Retain", logical_id
        assert spec.get("UpdateReplacePolicy") == "Retain", logical_id


def test_every_environment_names_its_region(project_root):
    # given samconfig.toml
    config = tomllib.loads((project_root / "samconfig.toml").read_text())
    # then each environment that deploys says where, rather than taking the caller's default region
    environments = [name for name, section in config.items() if isinstance(section, dict) and "deploy" in section]
    assert sorted(environments) == ["dev", "prod", "qa"]
    for name in environments:
        assert config[name]["global"]["parameters"]["region"], name


def test_every_lambda_task_retries_the_transient_lambda_errors(asl):
    # given every task state that invokes a Lambda function
    tasks = {name: s for name, s in asl["States"].items() if s["Type"] == "Task" and "LambdaInvoke" in s["Resource"]}
    assert len(tasks) >= 8
    for name, state in tasks.items():
        # then its first retrier covers each transient Lambda error, client execution timeouts included
        assert set(state["Retry"][0]["ErrorEquals"]) == TRANSIENT_LAMBDA_ERRORS, name


def test_the_workflow_names_no_partition(asl, template):
    # given the ASL file: it names no ARN itself, its service integrations come from the template
    assert "arn:" not in json.dumps(asl)
    resources = {s["Resource"] for s in asl["States"].values() if s["Type"] == "Task"}
    assert resources == {"${LambdaInvoke}", "${LambdaInvokeWaitForTaskToken}"}
    # and the template builds them in the stack's partition (aws-us-gov, aws-cn work too)
    machine = next(iter(template.resources("AWS::Serverless::StateMachine").values()))
    substitutions = machine["Properties"]["DefinitionSubstitutions"]
    assert substitutions["LambdaInvoke"] == {"Fn::Sub": "arn:${AWS::Partition}:states:::lambda:invoke"}
    assert template.resolve(substitutions["LambdaInvokeWaitForTaskToken"]) == (
        "arn:aws:states:::lambda:invoke.waitForTaskToken"
    )


def test_traces_never_record_handler_responses(template):
    # given the functions' shared settings: responses carry signed links and can pass X-Ray's 64 KB
    variables = template.function_globals()["Environment"]["Variables"]
    # then Powertools' tracer records no response
    assert variables["POWERTOOLS_TRACER_CAPTURE_RESPONSE"] == "false"
