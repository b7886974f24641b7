"""Create on the emulator what template.yaml declares: table, secrets, functions, API routes, state machine.

Functions get their real code (a zip of their CodeUri), environment and layers; a layer is built from its
ContentUri as `sam build` builds it (layer.py) and given to the workers that run the functions naming it
(lambda_runner.py). The state machine gets the real ASL file behind DefinitionUri with the template's
DefinitionSubstitutions.
"""

from __future__ import annotations

import io
import json
import secrets
import string
import warnings
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3

from lambda_canary.local import iam, lambda_runner
from lambda_canary.local.events import Rule, Schedule
from lambda_canary.local.layer import build_layer
from lambda_canary.local.template import ACCOUNT_ID, REGION, Template

SUPPORTED_TYPES = {
    "AWS::DynamoDB::Table",
    "AWS::SecretsManager::Secret",
    "AWS::Serverless::Function",
    "AWS::Serverless::Api",
    "AWS::Serverless::StateMachine",
    "AWS::SQS::Queue",
    "AWS::Serverless::LayerVersion",
    "AWS::Logs::LogGroup",  # created with the stack's registration (register), where the functions log
}


@dataclass(frozen=True)
class ApiRoute:
    method: str
    path: str
    function_name: str


@dataclass
class LocalStack:
    outputs: dict[str, str] = field(default_factory=dict)
    routes: list[ApiRoute] = field(default_factory=list)
    api_stage: str = ""
    allowed_cidrs: list[str] = field(default_factory=lambda: ["0.0.0.0/0"])  # the API's resource policy
    function_names: dict[str, str] = field(default_factory=dict)  # logical id -> function name
    rules: list[Rule] = field(default_factory=list)  # EventBridge rules whose target is a function
    schedules: list[Schedule] = field(default_factory=list)  # scheduled rules whose target is a function
    state_machine_arns: list[str] = field(default_factory=list)
    layers: dict[str, Path] = field(default_factory=dict)  # layer version ARN -> its built directory
    # logical id -> the resource as register() declares it: the functions' log groups, named as the stack names
    log_groups: dict[str, dict[str, Any]] = field(default_factory=dict)


def deploy(template: Template, approval_base_url: str) -> LocalStack:
    """Create every resource of `template` on the emulator that boto3 currently points at."""
    unsupported = {
        f"{logical_id} ({spec['Type']})"
        for logical_id, spec in template.body["Resources"].items()
        if spec["Type"] not in SUPPORTED_TYPES
    }
    if unsupported:
        raise ValueError(f"the local runtime cannot create: {', '.join(sorted(unsupported))}")
    stack = LocalStack()
    role_arn = _role()
    for logical_id, spec in template.resources("AWS::DynamoDB::Table").items():
        _table(template, logical_id, spec["Properties"])
    for logical_id, spec in template.resources("AWS::SecretsManager::Secret").items():
        _secret(template, logical_id, spec["Properties"])
    for logical_id, spec in template.resources("AWS::SQS::Queue").items():
        _queue(template, logical_id, spec.get("Properties", {}))
    for logical_id, spec in template.resources("AWS::Serverless::Api").items():
        stack.api_stage = str(template.resolve(spec["Properties"]["StageName"]))
        policy = spec["Properties"].get("Auth", {}).get("ResourcePolicy", {})
        if "IpRangeWhitelist" in policy:
            cidrs = template.resolve(policy["IpRangeWhitelist"])
            stack.allowed_cidrs = [c.strip() for c in (cidrs.split(",") if isinstance(cidrs, str) else cidrs)]
        api_id = logical_id.lower()
        template.attributes[logical_id] = {"Ref": api_id, "RootResourceId": "root"}
        # The API Gateway URL CloudFormation would build is served by the local gateway instead.
        template.url_rewrites[f"https://{api_id}.execute-api.{REGION}.amazonaws.com"] = approval_base_url
    layers = stack.layers
    for logical_id, spec in template.resources("AWS::Serverless::LayerVersion").items():
        arn = f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:layer:{template.stack_name}-{logical_id}:1"
        layers[arn] = build_layer(template.root / spec["Properties"]["ContentUri"])
        template.attributes[logical_id] = {"Ref": arn}
    for logical_id, spec in template.resources("AWS::Logs::LogGroup").items():
        stack.log_groups[logical_id] = _log_group(template, logical_id, spec.get("Properties", {}))
    patterns: list[tuple[Any, str]] = []
    for logical_id, spec in template.resources("AWS::Serverless::Function").items():
        name = _function(template, logical_id, spec["Properties"], role_arn)
        stack.function_names[logical_id] = name
        lambda_runner.pool.attach_layers(name, _layers_of(template, spec["Properties"], layers))
        iam.register(name, iam.policy_of(logical_id, spec["Properties"], template.resolve))
        for event_id, event in spec["Properties"].get("Events", {}).items():
            if event["Type"] == "Api":
                props = event["Properties"]
                stack.routes.append(ApiRoute(props["Method"].upper(), props["Path"], name))
            elif event["Type"] == "EventBridgeRule":
                patterns.append((event["Properties"]["Pattern"], name))
            elif event["Type"] == "Schedule":
                rule_name = f"{template.stack_name}-{logical_id}-{event_id}"[:64]
                stack.schedules.append(
                    Schedule(rule_name, str(template.resolve(event["Properties"]["Schedule"])), name)
                )
    for logical_id, spec in template.resources("AWS::Serverless::StateMachine").items():
        stack.state_machine_arns.append(_state_machine(template, logical_id, spec["Properties"], role_arn))
    # Resolved last: a rule's pattern may name the state machine
    stack.rules = [Rule(template.resolve(pattern), name) for pattern, name in patterns]
    stack.outputs = {
        name: str(template.resolve(output["Value"])) for name, output in template.body.get("Outputs", {}).items()
    }
    return stack


def _role() -> str:
    iam = boto3.client("iam")
    trust = {"Version": "2012-10-17", "Statement": []}
    return str(
        iam.create_role(RoleName="lambda-canary-local", AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    )


def _table(template: Template, logical_id: str, properties: dict[str, Any]) -> None:
    name = f"{template.stack_name}-{logical_id}"
    table = boto3.client("dynamodb").create_table(
        TableName=name,
        KeySchema=properties["KeySchema"],
        AttributeDefinitions=properties["AttributeDefinitions"],
        BillingMode=properties.get("BillingMode", "PAY_PER_REQUEST"),
        **(
            {"GlobalSecondaryIndexes": properties["GlobalSecondaryIndexes"]}
            if "GlobalSecondaryIndexes" in properties
            else {}
        ),
    )["TableDescription"]
    template.attributes[logical_id] = {"Ref": name, "Arn": table["TableArn"]}


def _secret(template: Template, logical_id: str, properties: dict[str, Any]) -> None:
    if "SecretString" in properties:
        value = str(template.resolve(properties["SecretString"]))
    else:
        generate = properties.get("GenerateSecretString", {})
        alphabet = string.ascii_letters + string.digits
        value = "".join(secrets.choice(alphabet) for _ in range(int(generate.get("PasswordLength", 32))))
    arn = boto3.client("secretsmanager").create_secret(Name=f"{template.stack_name}-{logical_id}", SecretString=value)[
        "ARN"
    ]
    template.attributes[logical_id] = {"Ref": arn, "Id": arn}


def _log_group(template: Template, logical_id: str, properties: dict[str, Any]) -> dict[str, Any]:
    """A log group named stack-LogicalId when the template gives no LogGroupName (CloudFormation adds a random
    suffix to such a name; the local stack's names stay predictable), created when the stack is registered
    (register), as CloudFormation creates it before the functions that log there."""
    name = str(template.resolve(properties["LogGroupName"])) if "LogGroupName" in properties else None
    name = name or f"{template.stack_name}-{logical_id}"
    arn = f"arn:aws:logs:{REGION}:{ACCOUNT_ID}:log-group:{name}"
    template.attributes[logical_id] = {"Ref": name, "Arn": f"{arn}:*"}
    declared: dict[str, Any] = {"LogGroupName": name}
    if "RetentionInDays" in properties:
        declared["RetentionInDays"] = int(template.resolve(properties["RetentionInDays"]))
    return {"Type": "AWS::Logs::LogGroup", "Properties": declared}


def _function(template: Template, logical_id: str, properties: dict[str, Any], role_arn: str) -> str:
    settings = {**template.function_globals(), **properties}
    variables = {
        **template.function_globals().get("Environment", {}).get("Variables", {}),
        **properties.get("Environment", {}).get("Variables", {}),
    }
    default_name = f"{template.stack_name}-{logical_id}"[:64]
    name = str(template.resolve(properties["FunctionName"])) if "FunctionName" in properties else default_name
    function = boto3.client("lambda").create_function(
        FunctionName=name,
        Runtime=settings["Runtime"],
        Role=role_arn,
        Handler=settings["Handler"],
        Code={"ZipFile": zip_directory(template.root / settings["CodeUri"])},
        Timeout=int(settings.get("Timeout", 3)),
        MemorySize=int(settings.get("MemorySize", 128)),
        Environment={"Variables": {k: str(template.resolve(v)) for k, v in variables.items()}},
        **_logging_config(template, settings),
    )
    template.attributes[logical_id] = {"Ref": name, "Arn": function["FunctionArn"]}
    if "EventInvokeConfig" in settings:
        _event_invoke_config(template, name, settings["EventInvokeConfig"])
    return name


def _logging_config(template: Template, settings: dict[str, Any]) -> dict[str, Any]:
    """CreateFunction's LoggingConfig argument: where the function's logs go (its stack's log group)."""
    if "LoggingConfig" not in settings:
        return {}
    return {"LoggingConfig": {key: str(template.resolve(value)) for key, value in settings["LoggingConfig"].items()}}


def _event_invoke_config(template: Template, function_name: str, config: dict[str, Any]) -> None:
    """A function's EventInvokeConfig: its retries and destinations for asynchronous invocations (SAM's Type
    of a destination is not Lambda's)."""
    arguments: dict[str, Any] = {
        key: int(template.resolve(config[key]))
        for key in ("MaximumRetryAttempts", "MaximumEventAgeInSeconds")
        if key in config
    }
    destinations = {
        outcome: {"Destination": str(template.resolve(target["Destination"]))}
        for outcome, target in config.get("DestinationConfig", {}).items()
        if "Destination" in target
    }
    if destinations:
        arguments["DestinationConfig"] = destinations
    boto3.client("lambda").put_function_event_invoke_config(FunctionName=function_name, **arguments)


def _queue(template: Template, logical_id: str, properties: dict[str, Any]) -> None:
    name = (
        str(template.resolve(properties["QueueName"]))
        if "QueueName" in properties
        else f"{template.stack_name}-{logical_id}"
    )
    attributes = {
        key: str(template.resolve(properties[key]))
        for key in ("MessageRetentionPeriod", "VisibilityTimeout", "SqsManagedSseEnabled")
        if key in properties
    }
    sqs = boto3.client("sqs")
    url = sqs.create_queue(
        QueueName=name, Attributes={k: v.lower() if v in ("True", "False") else v for k, v in attributes.items()}
    )["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    template.attributes[logical_id] = {"Ref": url, "Arn": arn, "QueueName": name, "QueueUrl": url}


def _layers_of(template: Template, properties: dict[str, Any], built: dict[str, Path]) -> list[Path]:
    """The built layers a function names, in order: Globals' Layers, then its own (SAM appends lists)."""
    arns = [
        template.resolve(a) for a in [*template.function_globals().get("Layers", []), *properties.get("Layers", [])]
    ]
    unknown = [str(arn) for arn in arns if arn not in built]
    if unknown:
        raise ValueError(f"the local runtime can only provide the template's own layers, not {', '.join(unknown)}")
    return [built[arn] for arn in arns]


def _state_machine(template: Template, logical_id: str, properties: dict[str, Any], role_arn: str) -> str:
    definition = (template.root / properties["DefinitionUri"]).read_text()
    for key, value in properties.get("DefinitionSubstitutions", {}).items():
        definition = definition.replace("${" + key + "}", str(template.resolve(value)))
    name = str(template.resolve(properties["Name"])) if "Name" in properties else f"{template.stack_name}-{logical_id}"
    arn = boto3.client("stepfunctions").create_state_machine(
        name=name, definition=definition, roleArn=role_arn, type=properties.get("Type", "STANDARD")
    )["stateMachineArn"]
    template.attributes[logical_id] = {"Ref": arn, "Arn": arn, "Name": name}
    return str(arn)


def zip_directory(directory: Path) -> bytes:
    """The deployment package of a CodeUri: every file below it, as `sam build` would package it."""
    if not directory.is_dir():
        raise ValueError(f"CodeUri {directory} is not a directory")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(directory.rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                archive.write(path, path.relative_to(directory).as_posix())
    return buffer.getvalue()


def register(
    stack_name: str,
    outputs: dict[str, str],
    parameters: dict[str, str] | None = None,
    log_groups: dict[str, dict[str, Any]] | None = None,
) -> None:
    """Answer CloudFormation's DescribeStacks for the local stack with its parameters and outputs, as AWS does
    for a deployed one, so that `canary --stack lambda-canary-local` and `aws cloudformation describe-stacks`
    find them. The stack is built by `deploy`, not by the emulator's CloudFormation: what it holds is a
    placeholder resource, the parameters and outputs as literal values, and the functions' log groups (which
    the emulator creates, so that ListStackResources names them as it does on AWS: `canary logs` reads them)."""
    parameters = parameters or {}
    body = {
        "Description": "lambda-canary's local stack: its resources are created by the local runtime",
        "Parameters": {key: {"Type": "String"} for key in parameters},
        "Resources": {"LocalRuntime": {"Type": "AWS::CloudFormation::WaitConditionHandle"}, **(log_groups or {})},
        "Outputs": {key: {"Value": value} for key, value in outputs.items()},
    }
    # the emulator warns, whenever it reads the stack, that it creates nothing for the placeholder
    warnings.filterwarnings("ignore", message="Tried to parse AWS::CloudFormation::WaitConditionHandle")
    boto3.client("cloudformation").create_stack(
        StackName=stack_name,
        TemplateBody=json.dumps(body),
        Parameters=[{"ParameterKey": key, "ParameterValue": value} for key, value in parameters.items()],
    )
