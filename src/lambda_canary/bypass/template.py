"""The alias-bypass audit of a SAM or CloudFormation template (YAML or JSON).

A function is under canary when the template gives it an alias: `AutoPublishAlias` on an
AWS::Serverless::Function, or an AWS::Lambda::Alias whose FunctionName is `!Ref F` / `!GetAtt F.Arn`.
Such a function is reached without its alias (a finding) when one of these names it by `!Ref F`,
`!GetAtt F.Arn`, `${F}` / `${F.Arn}` in a `!Sub` not followed by `:<alias or version>`, its literal ARN or name
(when its FunctionName is literal), or `:$LATEST`:

- AWS::Lambda::EventSourceMapping FunctionName; AWS::SNS::Subscription Endpoint and AWS::SNS::Topic
  Subscription[].Endpoint; AWS::ApiGateway::Method Integration.Uri, AWS::ApiGatewayV2::Integration
  IntegrationUri, AWS::ApiGatewayV2::Api Target, and the OpenAPI bodies (AWS::ApiGateway::RestApi /
  AWS::ApiGatewayV2::Api Body, AWS::Serverless::Api / HttpApi DefinitionBody: x-amazon-apigateway-integration
  uri); AWS::Events::Rule Targets[].Arn; AWS::Scheduler::Schedule Target.Arn; AWS::S3::Bucket
  LambdaConfigurations[].Function; AWS::Lambda::Permission FunctionName (a permission on the unqualified
  function lets a caller invoke it, not the alias); AWS::Lambda::Url without a Qualifier (or `$LATEST`);
  AWS::Lambda::EventInvokeConfig with Qualifier `$LATEST`; Step Functions definitions (DefinitionString,
  Definition, DefinitionSubstitutions, and a local DefinitionUri file).
- SAM: `Events`, `EventInvokeConfig` and `FunctionUrlConfig` of a function without AutoPublishAlias go to the
  unqualified function (SAM wires them to the alias only when AutoPublishAlias is set: then they are fine).

A reference through any alias or any version is fine. `alias` names the alias deployments move: the fix names
it when the function has it (otherwise the function's own alias). Not read: DefinitionS3Location and
templates nested in other stacks (AWS::CloudFormation::Stack, AWS::Serverless::Application).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from cfnlint.decode import cfn_json, cfn_yaml

from lambda_canary.bypass.report import DEFAULT_ALIAS, Finding, by_location

_ARN = re.compile(r"arn:[\w-]+:lambda:[\w-]*:\d*:function:([A-Za-z0-9_-]+)(?::([A-Za-z0-9$_-]+))?")
_SUB_VARIABLE = re.compile(r"\$\{([^}!]+)\}(?::([A-Za-z0-9$_-]+))?")
_LATEST = "$LATEST"

ESM = "event source mapping"
SNS = "SNS subscription"
API = "API Gateway integration"
RULE = "EventBridge rule"
SCHEDULE = "EventBridge Scheduler schedule"
S3 = "S3 notification"
PERMISSION = "Lambda permission"
URL = "function URL"
INVOKE_CONFIG = "EventInvokeConfig"
STATE_MACHINE = "Step Functions definition"

# SAM event source types -> the kind of caller SAM makes of them
_SAM_EVENT_KINDS = {
    "SQS": ESM,
    "Kinesis": ESM,
    "DynamoDB": ESM,
    "MQ": ESM,
    "MSK": ESM,
    "SelfManagedKafka": ESM,
    "DocumentDB": ESM,
    "SNS": SNS,
    "S3": S3,
    "Api": API,
    "HttpApi": API,
    "Schedule": RULE,
    "CloudWatchEvent": RULE,
    "EventBridgeRule": RULE,
    "ScheduleV2": SCHEDULE,
}


@dataclass(frozen=True)
class _Alias:
    name: str  # the alias's name, e.g. live
    ref: str  # how to name its ARN in the template: "!Ref OrdersFunction.Alias" or "!Ref OrdersLive"


@dataclass(frozen=True)
class _Hit:
    function: str  # logical id of the function under canary
    line: int
    latest: bool  # named with :$LATEST (rather than unqualified)
    substituted: bool  # inside a !Sub string (the fix appends :alias there)


class _Audit:
    def __init__(self, path: Path, alias: str | None) -> None:
        self.path = path
        self.yaml = path.suffix.lower() != ".json"
        try:
            loaded = cfn_yaml.load(str(path)) if self.yaml else cfn_json.load(str(path))
        except (yaml.YAMLError, ValueError) as error:  # cfn-lint's decode errors name the line
            detail = " ".join(str(error).split())
            raise ValueError(f"{path}: not valid {'YAML' if self.yaml else 'JSON'} ({detail})") from None
        if not isinstance(loaded, dict) or not isinstance(loaded.get("Resources"), dict):
            raise ValueError(f"{path}: not a CloudFormation or SAM template (no Resources section)")
        self.body: dict[str, Any] = loaded
        self.resources: dict[str, Any] = loaded["Resources"]
        self.wanted = alias or DEFAULT_ALIAS
        self.aliases = self._aliases()
        self.names = {  # literal FunctionName -> logical id, for literal ARNs and names
            str(self.resources[f]["Properties"]["FunctionName"]): f
            for f in self.aliases
            if isinstance(self.resources[f].get("Properties", {}).get("FunctionName"), str)
        }
        self.findings: list[Finding] = []

    # --- which functions are under canary ---------------------------------------------------------------

    def _aliases(self) -> dict[str, _Alias]:
        found: dict[str, list[_Alias]] = {}
        for logical_id, resource in self.resources.items():
            if not isinstance(resource, dict):
                continue
            kind, properties = resource.get("Type"), resource.get("Properties") or {}
            if kind == "AWS::Serverless::Function" and "AutoPublishAlias" in properties:
                name = self._parameter_value(properties["AutoPublishAlias"])
                found.setdefault(logical_id, []).append(_Alias(name, f"!Ref {logical_id}.Alias"))
            elif kind == "AWS::Lambda::Alias":
                target = self._function_of(properties.get("FunctionName"))
                if target is not None:
                    name = self._parameter_value(properties.get("Name", self.wanted))
                    found.setdefault(target, []).append(_Alias(name, f"!Ref {logical_id}"))
        chosen = {}
        for function, aliases in found.items():
            named = [a for a in aliases if a.name == self.wanted]
            chosen[function] = (named or aliases)[0]
        return chosen

    def _parameter_value(self, value: Any) -> str:
        if isinstance(value, dict) and set(value) == {"Ref"}:
            parameter = self.body.get("Parameters", {}).get(value["Ref"], {})
            return str(parameter.get("Default", self.wanted))
        return str(value)

    def _function_of(self, value: Any) -> str | None:
        """The logical id of the function a FunctionName names (!Ref F, !GetAtt F.Arn), if it is a function."""
        target = None
        if isinstance(value, dict) and "Ref" in value:
            target = value["Ref"]
        elif isinstance(value, dict) and "Fn::GetAtt" in value:
            target = _get_att(value["Fn::GetAtt"])[0]
        function_types = ("AWS::Lambda::Function", "AWS::Serverless::Function")
        if isinstance(target, str) and self.resources.get(target, {}).get("Type") in function_types:
            return target
        return None

    # --- references ---------------------------------------------------------------------------------------

    def hits(self, value: Any, line: int, whole: bool = True) -> Iterator[_Hit]:
        """Every reference in `value` to a function under canary that names neither an alias nor a version.

        line: the line of the key that holds `value` (nested keys and list items carry their own). whole: `value`
        is the whole property, so a plain string equal to a function's name names it (deeper, it may be any text).
        """
        if isinstance(value, dict):
            if set(value) == {"Ref"} and value["Ref"] in self.aliases:
                yield _Hit(value["Ref"], line, latest=False, substituted=False)
            elif set(value) == {"Fn::GetAtt"}:
                target, attribute = _get_att(value["Fn::GetAtt"])
                if target in self.aliases and attribute == "Arn":
                    yield _Hit(target, line, latest=False, substituted=False)
            elif set(value) == {"Fn::Sub"}:
                yield from self._sub_hits(value["Fn::Sub"], line)
            elif set(value) == {"Fn::Join"}:
                yield from self._join_hits(value["Fn::Join"], line)
            else:
                for key, item in value.items():
                    yield from self.hits(item, _line(key, line), whole=False)
        elif isinstance(value, list):
            for item in value:
                yield from self.hits(item, _line(item, line), whole=False)
        elif isinstance(value, str):
            if whole and value in self.names:
                yield _Hit(self.names[value], line, latest=False, substituted=False)
            yield from self._literal_hits(value, line)

    def _literal_hits(self, text: str, line: int) -> Iterator[_Hit]:
        for match in _ARN.finditer(text):
            name, qualifier = match.group(1), match.group(2)
            if name in self.names and qualifier in (None, _LATEST):
                yield _Hit(
                    self.names[name], line + self._lines_before(text, match.start()), qualifier == _LATEST, False
                )

    def _lines_before(self, text: str, offset: int) -> int:
        """Lines from a YAML block scalar's indicator (the node's line) to `offset` in its text."""
        if not self.yaml or "\n" not in text:
            return 0
        return 1 + text.count("\n", 0, offset)

    def _sub_hits(self, argument: Any, line: int) -> Iterator[_Hit]:
        text, variables = (argument[0], argument[1]) if isinstance(argument, list) else (argument, {})
        if not isinstance(text, str) or not isinstance(variables, dict):
            return
        mapped: dict[str, str] = {}
        for name, value in variables.items():
            target = self._function_of(value)
            if target in self.aliases:
                mapped[str(name)] = target
            else:
                yield from self.hits(value, _line(name, line))
        for match in _SUB_VARIABLE.finditer(text):
            variable, qualifier = match.group(1), match.group(2)
            if variable in mapped:
                target = mapped[variable]
            elif variable in self.aliases or variable.removesuffix(".Arn") in self.aliases:
                target = variable.removesuffix(".Arn")
            else:
                continue
            if qualifier in (None, _LATEST):
                yield _Hit(target, line + self._lines_before(text, match.start()), qualifier == _LATEST, True)
        yield from self._literal_hits(re.sub(r"\$\{[^}]*\}", "", text), line)

    def _join_hits(self, argument: Any, line: int) -> Iterator[_Hit]:
        if not (isinstance(argument, list) and len(argument) == 2 and isinstance(argument[1], list)):
            return
        delimiter, parts = argument[0], argument[1]
        for index, part in enumerate(parts):
            following = parts[index + 1] if index + 1 < len(parts) else None
            qualified = (delimiter == ":" and following is not None) or (
                isinstance(following, str) and following.startswith(":")
            )
            latest = qualified and isinstance(following, str) and following.lstrip(":").startswith(_LATEST)
            for hit in self.hits(part, line):
                if not qualified or latest:
                    yield _Hit(hit.function, hit.line, latest or hit.latest, hit.substituted)

    # --- findings --------------------------------------------------------------------------------------------

    def add(self, resource: str, kind: str, hit: _Hit, fix: str) -> None:
        self.findings.append(Finding(resource, kind, hit.function, f"{self.path.name}:{hit.line}", self.fix(fix, hit)))

    def fix(self, template: str, hit: _Hit) -> str:
        """`template` with {ref} (the alias's ARN as the template writes it), {sub} and {alias} filled in."""
        function = self.aliases[hit.function]
        ref = function.ref if self.yaml else json.dumps({"Ref": function.ref.removeprefix("!Ref ")})
        return template.format(ref=ref, sub=f"${{{hit.function}.Arn}}:{function.name}", alias=function.name)

    def check(self, resource: str, kind: str, container: Any, key: str, line: int, fix: str) -> None:
        """Findings for what `container[key]` names (nothing when the container or the key is missing)."""
        if not isinstance(container, dict) or key not in container:
            return
        for hit in self.hits(container[key], _key_line(container, key, line)):
            self.add(resource, kind, hit, "{sub} in the Fn::Sub string" if hit.substituted else fix)

    def run(self) -> list[Finding]:
        for logical_id, resource in self.resources.items():
            if not isinstance(resource, dict):
                continue
            properties = resource.get("Properties") or {}
            if not isinstance(properties, dict):
                continue
            line = _line(resource, 1)
            handler = _HANDLERS.get(str(resource.get("Type")))
            if handler is not None:
                handler(self, logical_id, properties, line)
        return sorted(set(self.findings), key=by_location)


def _get_att(argument: Any) -> tuple[str, str]:
    if isinstance(argument, str):
        target, _, attribute = argument.partition(".")
        return target, attribute
    if isinstance(argument, list) and len(argument) == 2:
        return str(argument[0]), str(argument[1])
    return "", ""


def _line(node: Any, default: int) -> int:
    mark = getattr(node, "start_mark", None)
    return int(mark.line) + 1 if mark is not None and getattr(mark, "line", None) is not None else default


def _items(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list) else []


def _key_line(properties: Any, key: str, default: int) -> int:
    for candidate in properties if isinstance(properties, dict) else ():
        if candidate == key:
            return _line(candidate, default)
    return default


# --- one handler per resource type ------------------------------------------------------------------------


def _event_source_mapping(audit: _Audit, logical_id: str, properties: dict[str, Any], line: int) -> None:
    audit.check(logical_id, ESM, properties, "FunctionName", line, "FunctionName: {ref}")


def _sns_subscription(audit: _Audit, logical_id: str, properties: dict[str, Any], line: int) -> None:
    audit.check(logical_id, SNS, properties, "Endpoint", line, "Endpoint: {ref}")


def _sns_topic(audit: _Audit, logical_id: str, properties: dict[str, Any], line: int) -> None:
    for subscription in _items(properties.get("Subscription")):
        if isinstance(subscription, dict):
            audit.check(logical_id, SNS, subscription, "Endpoint", _line(subscription, line), "Endpoint: {ref}")


def _api_method(audit: _Audit, logical_id: str, properties: dict[str, Any], line: int) -> None:
    integration = properties.get("Integration") or {}
    if isinstance(integration, dict):
        audit.check(logical_id, API, integration, "Uri", _line(integration, line), "Uri: {sub}")


def _api_v2_integration(audit: _Audit, logical_id: str, properties: dict[str, Any], line: int) -> None:
    audit.check(logical_id, API, properties, "IntegrationUri", line, "IntegrationUri: {ref}")


def _openapi(key: str) -> Any:
    def handler(audit: _Audit, logical_id: str, properties: dict[str, Any], line: int) -> None:
        fix = "uri: functions/{sub}/invocations in x-amazon-apigateway-integration"
        audit.check(logical_id, API, properties, key, line, fix)
        audit.check(logical_id, API, properties, "Target", line, "Target: {ref}")

    return handler


def _rule(audit: _Audit, logical_id: str, properties: dict[str, Any], line: int) -> None:
    for target in _items(properties.get("Targets")):
        if isinstance(target, dict):
            audit.check(logical_id, RULE, target, "Arn", _line(target, line), "Arn: {ref}")


def _schedule(audit: _Audit, logical_id: str, properties: dict[str, Any], line: int) -> None:
    target = properties.get("Target") or {}
    if isinstance(target, dict):
        audit.check(logical_id, SCHEDULE, target, "Arn", _line(target, line), "Arn: {ref}")


def _bucket(audit: _Audit, logical_id: str, properties: dict[str, Any], line: int) -> None:
    notifications = properties.get("NotificationConfiguration") or {}
    if isinstance(notifications, dict):
        for configuration in _items(notifications.get("LambdaConfigurations")):
            if isinstance(configuration, dict):
                audit.check(logical_id, S3, configuration, "Function", _line(configuration, line), "Function: {ref}")


def _permission(audit: _Audit, logical_id: str, properties: dict[str, Any], line: int) -> None:
    audit.check(logical_id, PERMISSION, properties, "FunctionName", line, "FunctionName: {ref}")


def _url(audit: _Audit, logical_id: str, properties: dict[str, Any], line: int) -> None:
    qualifier = properties.get("Qualifier")
    if qualifier is None or qualifier == _LATEST:
        for hit in audit.hits(properties.get("TargetFunctionArn"), _key_line(properties, "TargetFunctionArn", line)):
            audit.add(logical_id, URL, hit, "Qualifier: {alias}")


def _invoke_config(audit: _Audit, logical_id: str, properties: dict[str, Any], line: int) -> None:
    if properties.get("Qualifier") == _LATEST:
        for hit in audit.hits(properties.get("FunctionName"), _key_line(properties, "FunctionName", line)):
            qualifier_line = _key_line(properties, "Qualifier", hit.line)
            audit.add(logical_id, INVOKE_CONFIG, _Hit(hit.function, qualifier_line, True, False), "Qualifier: {alias}")


def _state_machine(audit: _Audit, logical_id: str, properties: dict[str, Any], line: int) -> None:
    fix = "name the alias: {sub}"
    for key in ("DefinitionString", "Definition"):
        audit.check(logical_id, STATE_MACHINE, properties, key, line, fix)
    definition_uri = properties.get("DefinitionUri")
    local_file = audit.path.parent / definition_uri if isinstance(definition_uri, str) else None
    if local_file is not None and not local_file.is_file():
        local_file = None
    # the definition the substitutions go into: the local file (its lines are reported), or the inline one
    definition = local_file.read_text() if local_file is not None else _inline(properties)
    substitutions = properties.get("DefinitionSubstitutions") or {}
    for name, value in substitutions.items() if isinstance(substitutions, dict) else ():
        for hit in audit.hits(value, _line(name, line)):
            function = audit.aliases[hit.function]
            fix = f"{name}: {{ref}} (or ${{{{{name}}}}}:{function.name} in the definition)"
            usages = list(re.finditer(r"\$\{" + re.escape(str(name)) + r"\}(?::([A-Za-z0-9$_-]+))?", definition or ""))
            if definition is None or (local_file is None and usages == []):  # unseen use: an unqualified ARN
                audit.add(logical_id, STATE_MACHINE, hit, fix)
            for usage in usages:
                if usage.group(1) not in (None, _LATEST):
                    continue
                if local_file is None:
                    audit.add(logical_id, STATE_MACHINE, hit, fix)
                    break
                where = f"{local_file.name}:{definition.count(chr(10), 0, usage.start()) + 1}"  # type: ignore[union-attr]
                audit.findings.append(Finding(logical_id, STATE_MACHINE, hit.function, where, audit.fix(fix, hit)))
    if local_file is not None and definition is not None:
        for number, text in enumerate(definition.splitlines(), start=1):
            for match in _ARN.finditer(text):
                function_id = audit.names.get(match.group(1))
                if function_id is not None and match.group(2) in (None, _LATEST):
                    arn = match.group(0).removesuffix(":" + _LATEST)
                    fix = f"{arn}:{audit.aliases[function_id].name}"
                    audit.findings.append(
                        Finding(logical_id, STATE_MACHINE, function_id, f"{local_file.name}:{number}", fix)
                    )


def _inline(properties: dict[str, Any]) -> str | None:
    if "Definition" in properties:
        return json.dumps(properties["Definition"])
    text = properties.get("DefinitionString")
    if isinstance(text, dict) and "Fn::Sub" in text:
        text = text["Fn::Sub"][0] if isinstance(text["Fn::Sub"], list) else text["Fn::Sub"]
    return text if isinstance(text, str) else None


def _sam_function(audit: _Audit, logical_id: str, properties: dict[str, Any], line: int) -> None:
    if logical_id not in audit.aliases or "AutoPublishAlias" in properties:
        return  # SAM wires the events, the invoke config and the URL of an AutoPublishAlias function to it
    fix = f"AutoPublishAlias: {audit.aliases[logical_id].name} on {logical_id} (SAM then wires its Events to the alias)"
    events = properties.get("Events") or {}
    for name, event in events.items() if isinstance(events, dict) else ():
        kind = _SAM_EVENT_KINDS.get(str(event.get("Type")) if isinstance(event, dict) else "", "event source")
        hit = _Hit(logical_id, _line(name, line), latest=False, substituted=False)
        audit.add(f"{logical_id}.Events.{name}", kind, hit, fix)
    for key, kind in (("EventInvokeConfig", INVOKE_CONFIG), ("FunctionUrlConfig", URL)):
        if key in properties:
            hit = _Hit(logical_id, _key_line(properties, key, line), latest=False, substituted=False)
            audit.add(f"{logical_id}.{key}", kind, hit, fix.replace("its Events", f"its {key}"))


_HANDLERS = {
    "AWS::Lambda::EventSourceMapping": _event_source_mapping,
    "AWS::SNS::Subscription": _sns_subscription,
    "AWS::SNS::Topic": _sns_topic,
    "AWS::ApiGateway::Method": _api_method,
    "AWS::ApiGatewayV2::Integration": _api_v2_integration,
    "AWS::ApiGateway::RestApi": _openapi("Body"),
    "AWS::ApiGatewayV2::Api": _openapi("Body"),
    "AWS::Serverless::Api": _openapi("DefinitionBody"),
    "AWS::Serverless::HttpApi": _openapi("DefinitionBody"),
    "AWS::Events::Rule": _rule,
    "AWS::Scheduler::Schedule": _schedule,
    "AWS::S3::Bucket": _bucket,
    "AWS::Lambda::Permission": _permission,
    "AWS::Lambda::Url": _url,
    "AWS::Lambda::EventInvokeConfig": _invoke_config,
    "AWS::StepFunctions::StateMachine": _state_machine,
    "AWS::Serverless::StateMachine": _state_machine,
    "AWS::Serverless::Function": _sam_function,
}


def find_in_template(path: Path, alias: str | None = None) -> list[Finding]:
    """Every caller in the template that reaches a function under canary without its alias (module docstring)."""
    return _Audit(Path(path), alias).run()


def under_canary_in_template(path: Path, alias: str | None = None) -> list[str]:
    """The template's functions under canary (with an alias): the ones whose callers the audit checks."""
    return sorted(_Audit(Path(path), alias).aliases)
