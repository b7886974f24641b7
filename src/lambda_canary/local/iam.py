"""The stack's IAM on the local runtime: a function's code may call only the actions its policies allow.

moto checks no permissions, so a policy missing an action would show only on AWS. Here each function's
`Policies` in template.yaml (SAM policy templates expanded the way SAM expands them, inline statements as
written, resources resolved as CloudFormation would) become the statements it is allowed, and an AWS call
its code makes outside them fails with the AccessDeniedException AWS returns. A call is allowed when one
statement matches both its action and its resource; the resource is worked out for the calls this stack
makes (Lambda functions, DynamoDB tables and indexes, Step Functions executions, secrets by ARN) and, for
any other call, the action alone decides.

The check runs where the emulator receives each request (moto_patches), and knows the caller by the
request's access key, as AWS knows it by the caller's role: every function's execution environment gets
credentials of its own (`credentials_of`). Calls with any other key (a test's, the aws CLI's, the state
machine's) are not checked.
"""

from __future__ import annotations

import fnmatch
import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from moto.core.exceptions import JsonRESTError
from samtranslator.policy_template_processor.processor import PolicyTemplatesProcessor

from lambda_canary.local.names import function_name_and_qualifier
from lambda_canary.local.template import ACCOUNT_ID, REGION

# Where an IAM action is not named after the API operation it allows
_ACTIONS_NAMED_OTHERWISE = {"lambda:Invoke": "lambda:InvokeFunction"}


@dataclass(frozen=True)
class Statement:
    actions: tuple[str, ...]  # patterns, as IAM writes them ("dynamodb:GetItem", "logs:*")
    resources: tuple[str, ...]  # ARN patterns ("arn:aws:lambda:...:function:my-app-*", "*")


@dataclass(frozen=True)
class FunctionPolicy:
    logical_id: str
    statements: tuple[Statement, ...]

    def allows(self, action: str, resource: str | None = None) -> bool:
        """Whether one statement allows the action on the resource (None: not known, the action decides)."""
        return any(
            _matches(action, statement.actions) and (resource is None or _matches(resource, statement.resources))
            for statement in self.statements
        )


def _matches(value: str, patterns: tuple[str, ...]) -> bool:
    return any(fnmatch.fnmatchcase(value.lower(), pattern.lower()) for pattern in patterns)


_policies: dict[str, FunctionPolicy] = {}  # deployed function name -> its policy
_callers: dict[str, str] = {}  # access key id -> the function it was issued to
denied: list[str] = []  # every refusal's message, oldest first: code may swallow the error, this keeps it
logger = logging.getLogger(__name__)
_templates = PolicyTemplatesProcessor(PolicyTemplatesProcessor.get_default_policy_templates_json())


def policy_of(
    logical_id: str, properties: dict[str, Any], resolve: Callable[[Any], Any] = lambda value: value
) -> FunctionPolicy:
    """The Allow statements of a function's `Policies` (managed policies by name grant no API action here),
    their resources resolved with `resolve` (the template's intrinsic functions)."""
    statements: list[Statement] = []
    for policy in properties.get("Policies", []):
        if not isinstance(policy, dict):
            continue  # a managed policy's name (AWSXrayWriteOnlyAccess, say): nothing the code calls
        if "Statement" in policy:
            listed = policy["Statement"]
        else:
            ((name, parameters),) = policy.items()
            listed = _templates.convert(name, parameters or {})["Statement"]
        for statement in listed:
            if statement.get("Effect") == "Allow":
                statements.append(
                    Statement(_strings(statement.get("Action")), _strings(resolve(statement.get("Resource"))))
                )
    return FunctionPolicy(logical_id, tuple(statements))


def _strings(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    return tuple(str(v) for v in value) if isinstance(value, list) else (str(value),)


def register(function_name: str, policy: FunctionPolicy) -> None:
    _policies[function_name] = policy
    credentials_of(function_name)


def policy(function_name: str) -> FunctionPolicy | None:
    """The policy registered for a deployed function, if any."""
    return _policies.get(function_name)


def clear() -> None:
    _policies.clear()
    _callers.clear()
    denied.clear()


def credentials_of(function_name: str) -> dict[str, str]:
    """The credentials a function's execution environments get (Lambda's variables for its role's session)."""
    digest = hashlib.sha256(function_name.encode()).hexdigest().upper()
    access_key = f"ASIA{digest[:16]}"
    _callers[access_key] = function_name
    return {
        "AWS_ACCESS_KEY_ID": access_key,
        "AWS_SECRET_ACCESS_KEY": digest[16:56],
        "AWS_SESSION_TOKEN": f"local-session-{digest[:32].lower()}",
    }


def caller_of(access_key: str) -> str | None:
    """The function whose environments were given this access key id; None for any other caller."""
    return _callers.get(access_key)


def check(access_key: str, service: str, operation: str, params: dict[str, Any] | None = None) -> None:
    """Raise AWS's AccessDeniedException when the function calling with this key may not make this call."""
    function = caller_of(access_key)
    policy = _policies.get(function) if function else None
    action = _ACTIONS_NAMED_OTHERWISE.get(f"{service}:{operation}", f"{service}:{operation}")
    resource = resource_of(service, operation, params or {})
    if policy is None or policy.allows(action, resource):
        return
    on = f" on resource: {resource}" if resource else ""
    message = (
        f"User: arn:aws:sts::{ACCOUNT_ID}:assumed-role/{policy.logical_id}Role/{function} is not authorized to "
        f"perform: {action}{on} because no identity-based policy allows the {action} action "
        f"({_fix(policy, action, service)})"
    )
    denied.append(message)
    logger.warning("AccessDenied: %s", message)
    raise AccessDenied(message)


class AccessDenied(JsonRESTError):
    """The answer AWS gives a call its caller's policies do not allow."""

    code = 403

    def __init__(self, message: str) -> None:
        super().__init__("AccessDeniedException", message)


def _fix(policy: FunctionPolicy, action: str, service: str) -> str:
    """What to do about a refusal: a missing action is added to the policy; an action the policy grants on other
    resources is a call outside the stack's scope, which widening the policy would only hide."""
    if not policy.allows(action):
        return f"template.yaml: add it to {policy.logical_id}'s Policies"
    if service == "lambda":
        return (
            "the function is outside the stack's ManagedFunctionPrefix parameter, the functions it may deploy: "
            "deploy functions named with that prefix, or start the local runtime with --parameter "
            "ManagedFunctionPrefix=<their prefix>"
        )
    return f"{policy.logical_id}'s Policies grant it on other resources only: the call names the wrong resource"


def resource_of(service: str, operation: str, params: dict[str, Any]) -> str | None:
    """The ARN IAM checks for this call, for the services the stack calls; None when not worked out here."""
    prefix = f"arn:aws:{service}:{REGION}:{ACCOUNT_ID}"
    if service == "lambda" and "FunctionName" in params:
        name, qualifier = function_name_and_qualifier(str(params["FunctionName"]), params.get("Qualifier"))
        # Invoke and DeleteFunction (of a version) are authorized on the qualified ARN; the others on the function's
        qualified = qualifier and operation in ("Invoke", "DeleteFunction")
        return f"{prefix}:function:{name}" + (f":{qualifier}" if qualified else "")
    if service == "dynamodb" and "TableName" in params:
        index = f"/index/{params['IndexName']}" if params.get("IndexName") else ""
        return f"{prefix}:table/{params['TableName']}{index}"
    if service == "states":
        arn = params.get("executionArn") or params.get("stateMachineArn")
        return str(arn) if arn else None
    if service == "secretsmanager" and str(params.get("SecretId", "")).startswith("arn:"):
        return str(params["SecretId"])
    return None
