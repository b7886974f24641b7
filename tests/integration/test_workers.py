"""The local runtime runs every function as Lambda does: in execution environments of its own, with the
stack's layer built from core/ as `sam build` builds it, and its AWS calls held to its own role's policies."""

from __future__ import annotations

import io
import json
import uuid
import zipfile
from pathlib import Path

import boto3
import pytest

from lambda_canary.demo import LOCAL_ROLE_ARN
from lambda_canary.local import iam, lambda_runner
from lambda_canary.local.runtime import wait_until_active

IMPORTS = """
import importlib

def handler(event, context):
    found = {}
    for name in event["modules"]:
        try:
            found[name] = importlib.import_module(name).__file__
        except ImportError as error:
            found[name] = f"missing: {error}"
    return found
"""

READS_TABLE = """
import boto3
from botocore.exceptions import ClientError

def handler(event, context):
    try:
        boto3.client("dynamodb").describe_table(TableName=event["table"])
        return "read"
    except ClientError as error:
        return error.response["Error"]["Code"]
"""


def _zip(source: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("app.py", source)
    return buffer.getvalue()


def _function(source: str) -> str:
    name = f"fn-{uuid.uuid4().hex[:8]}"
    boto3.client("lambda").create_function(
        FunctionName=name,
        Runtime="python3.12",
        Role=LOCAL_ROLE_ARN,
        Handler="app.handler",
        Code={"ZipFile": _zip(source)},
        Timeout=60,  # its imports run in the handler, on a machine that may be busy
    )
    wait_until_active([name])  # a new function is Pending for a moment, as on AWS
    return name


def _invoke(name: str, event: dict) -> object:
    response = boto3.client("lambda").invoke(FunctionName=name, Payload=json.dumps(event))
    assert "FunctionError" not in response, response["Payload"].read()
    return json.loads(response["Payload"].read())


def test_the_stack_layer_holds_canary_core_and_what_its_requirements_name_and_nothing_else(runtime):
    # given the stack's layer (built from core/ and core/requirements.txt), a function using it, one without it
    (layer,) = runtime.stack.layers.values()
    with_layer, without_layer = _function(IMPORTS), _function(IMPORTS)
    lambda_runner.pool.attach_layers(with_layer, [layer])
    modules = ["canary_core.model", "jinja2", "slack_sdk", "aws_lambda_powertools", "botocore", "pytest", "moto"]
    modules.append("requests")  # the CLI's and the tests', not the layer's: slack-sdk reaches Slack with urllib

    # when each imports the core, its dependencies, the runtime's botocore and two packages only the tests have
    found = _invoke(with_layer, {"modules": modules})
    bare = _invoke(without_layer, {"modules": modules})

    # then the layer provides the core and its pinned packages (botocore too: the layer's shadows the
    # runtime's); what core/requirements.txt does not name is missing, though this process has it
    for name in ("canary_core.model", "jinja2", "slack_sdk", "aws_lambda_powertools", "botocore"):
        assert Path(found[name]).is_relative_to(layer / "python"), (name, found[name])
    assert found["pytest"] == "missing: No module named 'pytest'"
    assert found["moto"] == "missing: No module named 'moto'"
    assert found["requests"] == "missing: No module named 'requests'"
    # and without the layer only the runtime's own packages are there
    assert bare["canary_core.model"] == "missing: No module named 'canary_core'"
    assert bare["jinja2"] == "missing: No module named 'jinja2'"
    assert not bare["botocore"].startswith("missing")


def test_a_functions_calls_are_decided_by_the_credentials_of_its_own_environment(runtime):
    # given two functions with the same code reading the deployments table: one holding Record Outcome's
    # policies (it may), the other Roll Back's (it may not)
    reader, publisher = _function(READS_TABLE), _function(READS_TABLE)
    functions = runtime.stack.function_names
    iam.register(reader, iam.policy(functions["RecordOutcomeFunction"]))
    iam.register(publisher, iam.policy(functions["RollBackFunction"]))
    table = runtime.outputs["DeploymentsTableName"]

    # when each reads the table, and so does the test with its own credentials
    answers = {name: _invoke(name, {"table": table}) for name in (reader, publisher)}
    own = boto3.client("dynamodb").describe_table(TableName=table)

    # then the emulator answered each by its caller's policies, as AWS answers by the caller's role
    refused, iam.denied[:] = list(iam.denied), []  # expected here: not a missing permission of the stack
    assert answers == {reader: "read", publisher: "AccessDeniedException"}
    assert len(refused) == 1 and f"RollBackFunctionRole/{publisher} is not authorized" in refused[0]
    assert own["Table"]["TableName"] == table


@pytest.mark.parametrize("logical_id", ["RequestApprovalFunction", "CheckCanaryFunction"])
def test_every_function_that_builds_links_is_given_the_apis_address(runtime, logical_id):
    # given a function of the stack that posts approve / roll-back links
    name = runtime.stack.function_names[logical_id]

    # when its configuration is read back
    variables = boto3.client("lambda").get_function_configuration(FunctionName=name)["Environment"]["Variables"]

    # then its own environment has the approval API's address
    assert variables["APPROVAL_API_URL"] == runtime.outputs["ApprovalApiUrl"]
