"""Read template.yaml and resolve the intrinsic functions the local stack needs.

The template stays the one description of the stack: the local runtime reads the same resources,
parameters, Globals, environment variables and DefinitionSubstitutions that CloudFormation deploys.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cfnlint.decode.cfn_yaml import load as load_cfn_yaml

REGION = "us-east-1"
ACCOUNT_ID = "123456789012"
_SUB_VARIABLE = re.compile(r"\$\{([^}!]+)\}")


@dataclass
class Template:
    path: Path
    body: dict[str, Any]
    parameters: dict[str, str]
    stack_name: str
    # What Ref / Fn::GetAtt give for each resource created so far: {logical id: {"Ref": ..., "Arn": ...}}
    attributes: dict[str, dict[str, str]] = field(default_factory=dict)
    # URLs of AWS endpoints that the local runtime serves itself: {AWS URL prefix: local URL prefix}
    url_rewrites: dict[str, str] = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path, overrides: dict[str, str], stack_name: str) -> Template:
        body = _plain(load_cfn_yaml(str(path)))
        parameters: dict[str, str] = {}
        for name, spec in body.get("Parameters", {}).items():
            if name in overrides:
                parameters[name] = str(overrides[name])
            elif "Default" in spec:
                parameters[name] = str(spec["Default"])
            else:
                raise ValueError(f"template parameter {name} has no default: pass a value for it")
        unknown = set(overrides) - set(parameters)
        if unknown:
            raise ValueError(f"unknown template parameters: {', '.join(sorted(unknown))}")
        template = cls(path=path, body=body, parameters=parameters, stack_name=stack_name)
        template.check_rules()
        return template

    def check_rules(self) -> None:
        """The template's Rules, as CloudFormation checks them before creating anything."""
        for rule in self.body.get("Rules", {}).values():
            if "RuleCondition" in rule and not self._truth(rule["RuleCondition"]):
                continue
            for assertion in rule.get("Assertions", []):
                if not self._truth(assertion["Assert"]):
                    raise ValueError(assertion.get("AssertDescription", "a template rule failed"))

    @property
    def root(self) -> Path:
        return self.path.parent

    def resources(self, resource_type: str) -> dict[str, dict[str, Any]]:
        return {k: v for k, v in self.body["Resources"].items() if v["Type"] == resource_type}

    def function_globals(self) -> dict[str, Any]:
        return dict(self.body.get("Globals", {}).get("Function", {}))

    def resolve(self, value: Any) -> Any:
        """Resolve Ref, Fn::GetAtt, Fn::Sub, Fn::Join (and plain containers) against parameters and resources."""
        if isinstance(value, list):
            return [self.resolve(v) for v in value]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            ((key, argument),) = value.items()
            if key == "Ref":  # a CommaDelimitedList parameter gives a list, as CloudFormation gives it
                listed = self.body.get("Parameters", {}).get(argument, {}).get("Type") == "CommaDelimitedList"
                return self._ref(argument).split(",") if listed else self._ref(argument)
            if key == "Fn::Join":
                separator, values = argument
                return separator.join(str(v) for v in self.resolve(values))
            if key == "Fn::GetAtt":
                logical_id, attribute = argument if isinstance(argument, list) else argument.split(".", 1)
                return self._attribute(logical_id, attribute)
            if key == "Fn::Sub":
                return self._localize(self._sub(argument))
            if key == "Fn::If":
                condition, when_true, when_false = argument
                return self.resolve(when_true if self.condition(condition) else when_false)
        return {k: self.resolve(v) for k, v in value.items()}

    def condition(self, name: str) -> bool:
        """Evaluate one of the template's Conditions (Fn::Equals, Fn::Not, Fn::And, Fn::Or, Condition)."""
        return self._truth(self.body.get("Conditions", {})[name])

    def _truth(self, expression: Any) -> bool:
        ((key, argument),) = expression.items()
        if key == "Fn::Equals":
            return bool(str(self.resolve(argument[0])) == str(self.resolve(argument[1])))
        if key == "Fn::Not":
            return not self._truth(argument[0])
        if key == "Fn::And":
            return all(self._truth(a) for a in argument)
        if key == "Fn::Or":
            return any(self._truth(a) for a in argument)
        if key == "Condition":
            return self.condition(argument)
        raise ValueError(f"the local runtime cannot evaluate the condition function {key}")

    def _localize(self, text: str) -> str:
        for aws_prefix, local_prefix in self.url_rewrites.items():
            text = text.replace(aws_prefix, local_prefix)
        return text

    def _ref(self, name: str) -> str:
        pseudo = {
            "AWS::Region": REGION,
            "AWS::AccountId": ACCOUNT_ID,
            "AWS::StackName": self.stack_name,
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
        }
        if name in pseudo:
            return pseudo[name]
        if name in self.parameters:
            return self.parameters[name]
        return self._attribute(name, "Ref")

    def _attribute(self, logical_id: str, attribute: str) -> str:
        try:
            return self.attributes[logical_id][attribute]
        except KeyError:
            raise ValueError(f"{logical_id}.{attribute} is not available in the local stack") from None

    def _sub(self, argument: str | list[Any]) -> str:
        text, variables = (argument, {}) if isinstance(argument, str) else (argument[0], argument[1])

        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if name in variables:
                return str(self.resolve(variables[name]))
            if "." in name and not name.startswith("AWS::"):
                return self._attribute(*name.split(".", 1))
            return self._ref(name)

        return _SUB_VARIABLE.sub(replace, text).replace("${!", "${")


def _plain(value: Any) -> Any:
    """cfn-lint's node classes to plain dicts and lists."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, str):
        return str(value)
    return value
