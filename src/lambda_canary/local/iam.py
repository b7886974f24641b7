"""The stack's IAM on the local runtime: a function's code may call only the actions its policies allow.

moto checks no permissions, so a policy missing an action would show only on AWS. Here each function's
`Policies` in template.yaml (SAM policy templates expanded the way SAM expands them, inline statements as
written) become the actions it is allowed, and an AWS call its code makes outside them fails with the
AccessDeniedException AWS returns. Actions are checked; resources are not.

The caller is known from `running_function`, which the Lambda runner sets while a handler runs (and which
threads started with a copy of the handler's context inherit).
"""

from __future__ import annotations

import fnmatch
import logging
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError
from samtranslator.policy_template_processor.processor import PolicyTemplatesProcessor

from lambda_canary.local.template import ACCOUNT_ID

running_function: ContextVar[str | None] = ContextVar("running_function", default=None)
# Where an IAM action is not named after the API operation it allows
_ACTIONS_NAMED_OTHERWISE = {"lambda:Invoke": "lambda:InvokeFunction"}


@dataclass(frozen=True)
class FunctionPolicy:
    logical_id: str
    actions: tuple[str, ...]  # patterns, as IAM writes them ("dynamodb:GetItem", "logs:*")

    def allows(self, action: str) -> bool:
        return any(fnmatch.fnmatchcase(action.lower(), pattern.lower()) for pattern in self.actions)


_policies: dict[str, FunctionPolicy] = {}  # deployed function name -> its policy
denied: list[str] = []  # every refusal's message, oldest first: code may swallow the error, this keeps it
logger = logging.getLogger(__name__)
_templates = PolicyTemplatesProcessor(PolicyTemplatesProcessor.get_default_policy_templates_json())


def policy_of(logical_id: str, properties: dict[str, Any]) -> FunctionPolicy:
    """The Allow actions of a function's `Policies` (managed policies by name grant no API action here).
    A policy template's parameters only name resources, so they are passed on unresolved."""
    actions: list[str] = []
    for policy in properties.get("Policies", []):
        if not isinstance(policy, dict):
            continue  # a managed policy's name (AWSXrayWriteOnlyAccess, say): nothing the code calls
        if "Statement" in policy:
            statements = policy["Statement"]
        else:
            ((name, parameters),) = policy.items()
            statements = _templates.convert(name, parameters or {})["Statement"]
        for statement in statements:
            if statement.get("Effect") == "Allow":
                listed = statement.get("Action", [])
                actions.extend([listed] if isinstance(listed, str) else listed)
    return FunctionPolicy(logical_id, tuple(actions))


def register(function_name: str, policy: FunctionPolicy) -> None:
    _policies[function_name] = policy


def clear() -> None:
    _policies.clear()
    denied.clear()


def check(service: str, operation: str) -> None:
    """Raise AWS's AccessDeniedException when the running function may not call service:operation."""
    function = running_function.get()
    policy = _policies.get(function) if function else None
    action = _ACTIONS_NAMED_OTHERWISE.get(f"{service}:{operation}", f"{service}:{operation}")
    if policy is None or policy.allows(action):
        return
    message = (
        f"User: arn:aws:sts::{ACCOUNT_ID}:assumed-role/{policy.logical_id}Role/{function} is not authorized to "
        f"perform: {action} because no identity-based policy allows the {action} action "
        f"(template.yaml: add it to {policy.logical_id}'s Policies)"
    )
    denied.append(message)
    logger.warning("AccessDenied: %s", message)
    response: Any = {
        "Error": {"Code": "AccessDeniedException", "Message": message},
        "ResponseMetadata": {"HTTPStatusCode": 403},
    }
    raise ClientError(response, operation)
