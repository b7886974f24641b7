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


def lambda_tasks(asl):
    return {name: state for name, state in asl["States"].items() if state["Type"] == "Task"}


def test_every_lambda_task_retries_the_transient_lambda_errors_with_one_policy(asl):
    # given every task state (each invokes a Lambda function)
    tasks = lambda_tasks(asl)
    assert len(tasks) >= 9
    # then its first retrier covers each transient Lambda error, client execution timeouts included
    for name, state in tasks.items():
        assert set(state["Retry"][0]["ErrorEquals"]) == TRANSIENT_LAMBDA_ERRORS, name
    # and it is one policy: the ASL has no shared retriers, so every task repeats it; only Roll Back, the step
    # that must not give up, may try more often
    policies = {json.dumps({**state["Retry"][0], "MaxAttempts": None}) for state in tasks.values()}
    assert len(policies) == 1
    assert {state["Retry"][0]["MaxAttempts"] for name, state in tasks.items() if name != "Roll Back"} == {5}


def test_every_state_says_what_it_is_for(asl):
    # given the state machine: then every state has a Comment (the console shows it)
    assert [name for name, state in asl["States"].items() if not state.get("Comment")] == []


def test_each_task_writes_its_own_part_of_the_state(asl):
    # given the task states, Validate Input aside (it starts the state as {"deployment": ...})
    tasks = {name: state for name, state in lambda_tasks(asl).items() if name != "Validate Input"}
    # then each writes its result to a path of its own, and none replaces the state with its output
    assert all(state["ResultPath"].startswith("$.") for state in tasks.values())
    assert not any("OutputPath" in state for state in tasks.values())
    written = {state["ResultPath"] for state in tasks.values()}
    assert written == {"$.traffic", "$.approval", "$.decision", "$.promotion", "$.rollback", "$.outcome"}
    assert asl["States"]["Validate Input"]["ResultSelector"] == {"deployment.$": "$"}


def test_the_workflow_names_no_partition(asl, template):
    # given the ASL file: it names no ARN itself; its functions and the callback integration come from the template
    assert "arn:" not in json.dumps(asl)
    resources = {s["Resource"] for s in asl["States"].values() if s["Type"] == "Task"}
    assert "${LambdaInvokeWaitForTaskToken}" in resources
    assert all(r.endswith("FunctionArn}") for r in resources - {"${LambdaInvokeWaitForTaskToken}"})
    # and the template builds the integration in the stack's partition (aws-us-gov, aws-cn work too)
    machine = next(iter(template.resources("AWS::Serverless::StateMachine").values()))
    substitutions = machine["Properties"]["DefinitionSubstitutions"]
    assert substitutions["LambdaInvokeWaitForTaskToken"] == {
        "Fn::Sub": "arn:${AWS::Partition}:states:::lambda:invoke.waitForTaskToken"
    }


def test_traces_never_record_handler_responses(template):
    # given the functions' shared settings: responses carry signed links and can pass X-Ray's 64 KB
    variables = template.function_globals()["Environment"]["Variables"]
    # then Powertools' tracer records no response
    assert variables["POWERTOOLS_TRACER_CAPTURE_RESPONSE"] == "false"
