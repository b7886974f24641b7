"""The alias-bypass audit of an account (or the local runtime), read from the APIs.

The functions under canary are the ones named (`--functions`) that have the alias (one without it is named
and not checked), or with `--stack` every function inside the canary stack's ManagedFunctionPrefix that has the
alias. A caller reaches one without its alias (a finding)
when what it invokes is the function's unqualified ARN or `:$LATEST`:

- event source mappings (Lambda ListEventSourceMappings), SNS subscriptions (protocol lambda), API Gateway
  integrations (REST: each method's integration URI; HTTP: each integration's URI), EventBridge targets (every
  event bus), EventBridge Scheduler schedules, S3 bucket notifications, Step Functions definitions;
- the function's own resource policy (each statement of GetPolicy without a qualifier: it lets its principal
  invoke the unqualified function, not the alias), a function URL without a qualifier, and an EventInvokeConfig
  on `$LATEST`.

Calls through any alias or version are fine. Each finding's resource is the caller's ARN (or id), its location
the ARN it was read from. Reading needs the matching List/Get/Describe permissions; a refusal is reported
naming the call, never skipped.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from lambda_canary.bypass.report import Finding, by_location

_ARN = re.compile(r"arn:[\w-]+:lambda:[\w-]+:\d+:function:([A-Za-z0-9_-]+)(?::([A-Za-z0-9$_-]+))?")
_LATEST = "$LATEST"
_NOT_FOUND = ("ResourceNotFoundException", "NoSuchBucket", "NotFoundException", "NoSuchKey")


@dataclass(frozen=True)
class _Target:
    name: str
    arn: str  # unqualified


class _Clients:
    def __init__(self, source: Any) -> None:
        self.source = source
        self.cache: dict[str, Any] = {}

    def __call__(self, service: str) -> Any:
        if service not in self.cache:
            if isinstance(self.source, Mapping):
                self.cache[service] = self.source[service]
            elif hasattr(self.source, "client"):
                self.cache[service] = self.source.client(service)
            else:
                self.cache[service] = self.source(service)
        return self.cache[service]


def _pages(client: Any, operation: str, key: str, **arguments: Any) -> Iterator[Any]:
    for page in client.get_paginator(operation).paginate(**arguments):
        yield from page.get(key, [])


class _Audit:
    def __init__(self, clients: _Clients, functions: Sequence[str], alias: str) -> None:
        self.clients = clients
        self.alias = alias
        self.targets: dict[str, _Target] = {}  # unqualified ARN -> target: the functions that have the alias
        self.without_alias: list[str] = []  # as given: not under canary, so not checked
        for function in functions:
            try:
                arn = clients("lambda").get_function(FunctionName=function)["Configuration"]["FunctionArn"]
            except ClientError as error:
                if error.response["Error"]["Code"] in _NOT_FOUND:
                    raise ValueError(f"--functions {function}: no such function in this account and region") from None
                raise
            arn = ":".join(arn.split(":")[:7])  # a qualified name or ARN names the function all the same
            target = _Target(arn.split(":")[6], arn)
            if _has_alias(clients("lambda"), target.name, alias):
                self.targets[arn] = target
            else:
                self.without_alias.append(function)
        self.findings: list[Finding] = []

    def bypassed(self, text: str) -> Iterator[tuple[_Target, bool]]:
        """The functions under canary that `text` (an ARN, a URI, a definition) names unqualified or $LATEST."""
        for match in _ARN.finditer(text):
            unqualified = match.group(0).removesuffix(f":{match.group(2)}") if match.group(2) else match.group(0)
            if unqualified in self.targets and match.group(2) in (None, _LATEST):
                yield self.targets[unqualified], match.group(2) == _LATEST

    def add(self, resource: str, kind: str, target: _Target, location: str, fix: str) -> None:
        self.findings.append(Finding(resource, kind, target.arn, location, fix))

    def alias_arn(self, target: _Target) -> str:
        return f"{target.arn}:{self.alias}"

    def read(self, call: str, reader: Callable[[], None]) -> None:
        try:
            reader()
        except ClientError as error:
            code = error.response["Error"]["Code"]
            raise ValueError(
                f"{call}: {code} ({error.response['Error'].get('Message', '')}); the audit needs read access to it"
            ) from None

    # --- one reader per kind of caller ----------------------------------------------------------------------

    def event_source_mappings(self) -> None:
        for mapping in _pages(self.clients("lambda"), "list_event_source_mappings", "EventSourceMappings"):
            for target, _ in self.bypassed(mapping.get("FunctionArn", "")):
                resource = mapping.get("EventSourceMappingArn") or mapping["UUID"]
                uuid, arn = mapping["UUID"], self.alias_arn(target)
                fix = f"aws lambda update-event-source-mapping --uuid {uuid} --function-name {arn}"
                self.add(resource, "event source mapping", target, mapping.get("EventSourceArn", resource), fix)

    def function_settings(self) -> None:
        lam = self.clients("lambda")
        for target in self.targets.values():
            try:
                policy = json.loads(lam.get_policy(FunctionName=target.name)["Policy"])
            except ClientError as error:
                if error.response["Error"]["Code"] not in _NOT_FOUND:
                    raise
                policy = {"Statement": []}
            for statement in policy.get("Statement", []):
                # on AWS the unqualified function's policy only has its own statements; read the Resource anyway
                if not any(True for _ in self.bypassed(json.dumps(statement.get("Resource", target.arn)))):
                    continue
                sid = statement.get("Sid", "")
                fix = (
                    f"aws lambda add-permission --function-name {target.name} --qualifier {self.alias} ... then "
                    f"aws lambda remove-permission --function-name {target.name} --statement-id {sid}"
                )
                self.add(f"{target.arn} statement {sid}", "Lambda permission", target, target.arn, fix)
            try:
                url = lam.get_function_url_config(FunctionName=target.name)
            except ClientError as error:
                if error.response["Error"]["Code"] not in _NOT_FOUND:
                    raise
            else:
                fix = f"aws lambda create-function-url-config --function-name {target.name} --qualifier {self.alias}"
                for _ in self.bypassed(url.get("FunctionArn", target.arn)):
                    self.add(url["FunctionUrl"], "function URL", target, url.get("FunctionArn", target.arn), fix)
            try:
                configs = lam.list_function_event_invoke_configs(FunctionName=target.name)
            except ClientError as error:
                if error.response["Error"]["Code"] not in _NOT_FOUND:
                    raise
                configs = {}
            for config in configs.get("FunctionEventInvokeConfigs", []):
                for _ in self.bypassed(config.get("FunctionArn", "")):
                    fix = (
                        f"aws lambda put-function-event-invoke-config --function-name {target.name} "
                        f"--qualifier {self.alias} ... (and delete the one on $LATEST)"
                    )
                    self.add(config["FunctionArn"], "EventInvokeConfig", target, config["FunctionArn"], fix)

    def sns_subscriptions(self) -> None:
        for subscription in _pages(self.clients("sns"), "list_subscriptions", "Subscriptions"):
            if subscription.get("Protocol") != "lambda":
                continue
            for target, _ in self.bypassed(subscription.get("Endpoint", "")):
                fix = f"subscribe {self.alias_arn(target)} to {subscription['TopicArn']}, then unsubscribe this one"
                self.add(subscription["SubscriptionArn"], "SNS subscription", target, subscription["TopicArn"], fix)

    def rest_apis(self) -> None:
        client = self.clients("apigateway")
        for api in _pages(client, "get_rest_apis", "items"):
            for resource in _pages(client, "get_resources", "items", restApiId=api["id"]):
                for method in resource.get("resourceMethods", {}) or {}:
                    try:
                        integration = client.get_integration(
                            restApiId=api["id"], resourceId=resource["id"], httpMethod=method
                        )
                    except ClientError as error:
                        if error.response["Error"]["Code"] in _NOT_FOUND:
                            continue
                        raise
                    for target, _ in self.bypassed(integration.get("uri", "")):
                        where = f"REST API {api['id']} {method} {resource['path']}"
                        fix = f"integration uri .../functions/{self.alias_arn(target)}/invocations"
                        self.add(where, "API Gateway integration", target, where, fix)

    def http_apis(self) -> None:
        client = self.clients("apigatewayv2")
        for api in _pages(client, "get_apis", "Items"):
            for integration in _pages(client, "get_integrations", "Items", ApiId=api["ApiId"]):
                for target, _ in self.bypassed(integration.get("IntegrationUri", "")):
                    where = f"HTTP API {api['ApiId']} integration {integration['IntegrationId']}"
                    fix = f"IntegrationUri {self.alias_arn(target)}"
                    self.add(where, "API Gateway integration", target, where, fix)

    def eventbridge_targets(self) -> None:
        client = self.clients("events")
        for bus in client.list_event_buses().get("EventBuses", []):
            for rule in _pages(client, "list_rules", "Rules", EventBusName=bus["Name"]):
                targets = _pages(client, "list_targets_by_rule", "Targets", Rule=rule["Name"], EventBusName=bus["Name"])
                for rule_target in targets:
                    for target, _ in self.bypassed(rule_target.get("Arn", "")):
                        fix = f"target Arn {self.alias_arn(target)} (put-targets --rule {rule['Name']})"
                        self.add(
                            f"{rule['Arn']} target {rule_target['Id']}", "EventBridge rule", target, rule["Arn"], fix
                        )

    def schedules(self) -> None:
        client = self.clients("scheduler")
        for summary in _pages(client, "list_schedules", "Schedules"):
            schedule = client.get_schedule(Name=summary["Name"], GroupName=summary.get("GroupName", "default"))
            for target, _ in self.bypassed(schedule.get("Target", {}).get("Arn", "")):
                fix = f"Target.Arn {self.alias_arn(target)} (aws scheduler update-schedule --name {summary['Name']})"
                self.add(schedule["Arn"], "EventBridge Scheduler schedule", target, schedule["Arn"], fix)

    def bucket_notifications(self) -> None:
        client = self.clients("s3")
        for bucket in _pages(client, "list_buckets", "Buckets"):
            configuration = client.get_bucket_notification_configuration(Bucket=bucket["Name"])
            for notification in configuration.get("LambdaFunctionConfigurations", []):
                for target, _ in self.bypassed(notification.get("LambdaFunctionArn", "")):
                    fix = f"LambdaFunctionArn {self.alias_arn(target)} (put-bucket-notification-configuration)"
                    location = f"arn:aws:s3:::{bucket['Name']}"
                    resource = f"{location} notification {notification.get('Id', '')}".rstrip()
                    self.add(resource, "S3 notification", target, location, fix)

    def state_machines(self) -> None:
        client = self.clients("stepfunctions")
        for machine in _pages(client, "list_state_machines", "stateMachines"):
            definition = client.describe_state_machine(stateMachineArn=machine["stateMachineArn"])["definition"]
            for target, _ in self.bypassed(definition):
                fix = f"name {self.alias_arn(target)} in the definition"
                arn = machine["stateMachineArn"]
                self.add(arn, "Step Functions definition", target, arn, fix)

    def run(self) -> list[Finding]:
        readers = {
            "lambda ListEventSourceMappings": self.event_source_mappings,
            "lambda GetPolicy / GetFunctionUrlConfig / ListFunctionEventInvokeConfigs": self.function_settings,
            "sns ListSubscriptions": self.sns_subscriptions,
            "apigateway GetRestApis / GetResources / GetIntegration": self.rest_apis,
            "apigatewayv2 GetApis / GetIntegrations": self.http_apis,
            "events ListEventBuses / ListRules / ListTargetsByRule": self.eventbridge_targets,
            "scheduler ListSchedules / GetSchedule": self.schedules,
            "s3 ListBuckets / GetBucketNotificationConfiguration": self.bucket_notifications,
            "states ListStateMachines / DescribeStateMachine": self.state_machines,
        }
        if self.targets:
            for call, reader in readers.items():
                self.read(call, reader)
        return sorted(set(self.findings), key=by_location)


@dataclass(frozen=True)
class AccountAudit:
    """What the account's audit found: the findings, the functions it checked (those with the alias, as
    unqualified ARNs) and the functions given that have no such alias (not under canary: not checked)."""

    findings: list[Finding]
    checked: tuple[str, ...]
    without_alias: tuple[str, ...]


def audit_account(session_or_clients: Any, functions: Sequence[str], alias: str) -> AccountAudit:
    """Every caller in the account that reaches one of `functions` (names or ARNs) that has the alias without it.

    session_or_clients: a boto3 Session, a mapping of service name ("lambda", "sns", ...) to client, or a function
    from service name to client."""
    audit = _Audit(_Clients(session_or_clients), functions, alias)
    return AccountAudit(audit.run(), tuple(audit.targets), tuple(audit.without_alias))


def find_in_account(session_or_clients: Any, functions: Sequence[str], alias: str) -> list[Finding]:
    """The findings of `audit_account`."""
    return audit_account(session_or_clients, functions, alias).findings


def _has_alias(lam: Any, function: str, alias: str) -> bool:
    return any(existing["Name"] == alias for existing in _pages(lam, "list_aliases", "Aliases", FunctionName=function))


def functions_of_stack(session_or_clients: Any, stack: str, alias: str) -> list[str]:
    """The functions a canary stack may shift: inside its ManagedFunctionPrefix, with the alias."""
    clients = _Clients(session_or_clients)
    try:
        described = clients("cloudformation").describe_stacks(StackName=stack)["Stacks"][0]
    except ClientError as error:
        raise ValueError(f"--stack {stack}: {error.response['Error'].get('Message', 'no such stack')}") from None
    parameters = {p["ParameterKey"]: p.get("ParameterValue", "") for p in described.get("Parameters", [])}
    if "ManagedFunctionPrefix" not in parameters:
        raise ValueError(f"--stack {stack}: not a lambda-canary stack (no ManagedFunctionPrefix parameter)")
    prefix = parameters["ManagedFunctionPrefix"]
    lam = clients("lambda")
    names = []
    for function in _pages(lam, "list_functions", "Functions"):
        name = function["FunctionName"]
        if prefix != "*" and not name.startswith(prefix):
            continue
        if _has_alias(lam, name, alias):
            names.append(name)
    return names
