"""The alias-bypass audit of a Terraform directory (its `*.tf` files, read with python-hcl2's parser).

A function is under canary when an `aws_lambda_alias` points at it: its `function_name` is
`aws_lambda_function.F.function_name` (or `.arn`, `.id`), or the literal name of F. A caller reaches it without
the alias (a finding) when it names it by `aws_lambda_function.F.arn`, `.function_name`, `.id` or `.invoke_arn`
(not followed by `:<alias or version>` in a string template), by its literal ARN or name, or with `:$LATEST`:

- aws_lambda_event_source_mapping function_name; aws_sns_topic_subscription endpoint; aws_api_gateway_integration
  uri, aws_apigatewayv2_integration integration_uri, aws_apigatewayv2_api target and the OpenAPI bodies
  (aws_api_gateway_rest_api / aws_apigatewayv2_api body); aws_cloudwatch_event_target arn;
  aws_scheduler_schedule target.arn; aws_s3_bucket_notification lambda_function.lambda_function_arn;
  aws_sfn_state_machine definition (jsonencode, a string template or templatefile's variables);
- aws_lambda_permission, aws_lambda_function_url and aws_lambda_function_event_invoke_config naming the function
  without a `qualifier` (or with `qualifier = "$LATEST"`).

`.qualified_arn`, `.qualified_invoke_arn` and `.version` name a version, and any `aws_lambda_alias` attribute an
alias: both are fine. Not read: modules (`module` blocks and subdirectories), `.tf.json` files, `count` /
`for_each` indexing (`aws_lambda_function.F[0].arn`).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import hcl2
from lark import Token, Tree
from lark.exceptions import LarkError

from lambda_canary.bypass.report import DEFAULT_ALIAS, Finding, by_location

_FUNCTION = "aws_lambda_function"
_UNQUALIFIED = ("arn", "function_name", "id", "invoke_arn")
_ARN = re.compile(r"arn:[\w-]+:lambda:[\w-]*:\d*:function:([A-Za-z0-9_-]+)(?::([A-Za-z0-9$_-]+))?")
_QUALIFIER = re.compile(r":([A-Za-z0-9$_-]+)")
_LATEST = "$LATEST"

# resource type -> (kind, the attribute paths that name what it invokes, the fix: {alias} is the alias's address)
_CALLERS: dict[str, tuple[str, tuple[str, ...], str]] = {
    "aws_lambda_event_source_mapping": ("event source mapping", ("function_name",), "function_name = {alias}.arn"),
    "aws_sns_topic_subscription": ("SNS subscription", ("endpoint",), "endpoint = {alias}.arn"),
    "aws_api_gateway_integration": ("API Gateway integration", ("uri",), "uri = {alias}.invoke_arn"),
    "aws_apigatewayv2_integration": (
        "API Gateway integration",
        ("integration_uri",),
        "integration_uri = {alias}.invoke_arn",
    ),
    "aws_api_gateway_rest_api": (
        "API Gateway integration",
        ("body",),
        "uri = {alias}.invoke_arn in the OpenAPI body's x-amazon-apigateway-integration",
    ),
    "aws_apigatewayv2_api": ("API Gateway integration", ("body", "target"), "{alias}.invoke_arn (the alias)"),
    "aws_cloudwatch_event_target": ("EventBridge rule", ("arn",), "arn = {alias}.arn"),
    "aws_scheduler_schedule": ("EventBridge Scheduler schedule", ("target.arn",), "arn = {alias}.arn"),
    "aws_s3_bucket_notification": (
        "S3 notification",
        ("lambda_function.lambda_function_arn",),
        "lambda_function_arn = {alias}.arn",
    ),
    "aws_sfn_state_machine": ("Step Functions definition", ("definition",), "{alias}.arn in the definition"),
}
# resource type -> kind, for those that name the function and select the alias with `qualifier`
_QUALIFIED = {
    "aws_lambda_permission": "Lambda permission",
    "aws_lambda_function_url": "function URL",
    "aws_lambda_function_event_invoke_config": "EventInvokeConfig",
}


@dataclass(frozen=True)
class _Resource:
    address: str  # aws_sns_topic_subscription.orders
    file: Path
    line: int
    attributes: dict[str, list[Tree[Token]]]  # "target.arn" -> its trees (nested blocks joined with dots, repeatable)

    def first(self, path: str) -> Tree[Token] | None:
        trees = self.attributes.get(path)
        return trees[0] if trees else None


@dataclass(frozen=True)
class _Reference:
    function: str  # the aws_lambda_function's name (F in aws_lambda_function.F)
    line: int
    latest: bool


def _walk(tree: Tree[Token]) -> Iterator[Tree[Token]]:
    """The tree and every subtree in it, parents before their children."""
    yield tree
    for child in tree.children:
        if isinstance(child, Tree):
            yield from _walk(child)


def _text(tree: Tree[Token] | Token) -> str:
    if isinstance(tree, Token):
        return str(tree)
    return "".join(_text(child) for child in tree.children)


def _label(tree: Tree[Token] | Token) -> str:
    text = _text(tree)
    return text[1:-1] if text.startswith('"') and text.endswith('"') else text


def _literal(tree: Tree[Token] | None) -> str | None:
    """An attribute's value when it is a plain quoted string (no interpolation), else None."""
    if tree is None:
        return None
    strings = list(tree.find_data("string"))
    if len(strings) != 1 or any(True for _ in tree.find_data("interpolation")):
        return None
    return _label(strings[0])


def _chain(tree: Tree[Token]) -> list[str] | None:
    """aws_lambda_function.orders.arn as ["aws_lambda_function", "orders", "arn"] (None for anything else)."""
    if tree.data == "expr_term" and len(tree.children) == 1 and isinstance(tree.children[0], Tree):
        return _chain(tree.children[0])
    if tree.data == "identifier":
        return [_text(tree)]
    if tree.data == "get_attr_expr_term" and len(tree.children) == 2:
        head, attribute = tree.children
        if not (isinstance(head, Tree) and isinstance(attribute, Tree) and attribute.data == "get_attr"):
            return None
        names = _chain(head)
        identifiers = [child for child in attribute.children if isinstance(child, Tree)]
        return None if names is None or not identifiers else [*names, _text(identifiers[-1])]
    return None


def _resources(path: Path) -> Iterator[_Resource]:
    try:
        tree = hcl2.parses_to_tree(path.read_text())
    except LarkError as error:
        raise ValueError(f"{path}: not valid HCL ({str(error).splitlines()[0]})") from error
    body = next((child for child in tree.children if isinstance(child, Tree) and child.data == "body"), None)
    for block in body.children if body is not None else ():
        if not (isinstance(block, Tree) and block.data == "block"):
            continue
        parts = [child for child in block.children if isinstance(child, Tree)]
        if len(parts) < 4 or _text(parts[0]) != "resource":
            continue
        attributes: dict[str, list[Tree[Token]]] = {}
        _collect(parts[3], "", attributes)
        yield _Resource(f"{_label(parts[1])}.{_label(parts[2])}", path, block.meta.line, attributes)


def _collect(body: Tree[Token], prefix: str, into: dict[str, list[Tree[Token]]]) -> None:
    for child in body.children:
        if not isinstance(child, Tree):
            continue
        parts = [part for part in child.children if isinstance(part, Tree)]
        if child.data == "attribute":
            into.setdefault(prefix + _text(parts[0]), []).append(child)
        elif child.data == "block":
            nested = next((part for part in parts if part.data == "body"), None)
            if nested is not None:
                _collect(nested, f"{prefix}{_text(parts[0])}.", into)


class _Audit:
    def __init__(self, directory: Path, alias: str | None) -> None:
        self.files = sorted(directory.glob("*.tf"))
        self.resources = [resource for path in self.files for resource in _resources(path)]
        self.wanted = alias or DEFAULT_ALIAS
        self.aliases = self._aliases()
        self.names = {}  # literal function_name -> F, for literal ARNs and names
        for resource in self.resources:
            kind, _, name = resource.address.partition(".")
            literal = _literal(resource.first("function_name"))
            if kind == _FUNCTION and name in self.aliases and literal is not None:
                self.names[literal] = name
        self.findings: list[Finding] = []

    def _aliases(self) -> dict[str, tuple[str, str]]:
        """F -> (the address of its alias, the alias's name), preferring the alias deployments move."""
        literal_names = {}
        for resource in self.resources:
            kind, _, name = resource.address.partition(".")
            literal = _literal(resource.first("function_name"))
            if kind == _FUNCTION and literal is not None:
                literal_names[literal] = name
        found: dict[str, list[tuple[str, str]]] = {}
        for resource in self.resources:
            if not resource.address.startswith("aws_lambda_alias."):
                continue
            target = resource.first("function_name")
            name = _literal(resource.first("name")) or self.wanted
            functions = {chain[1] for chain in self._chains(target) if chain[0] == _FUNCTION}
            literal = _literal(target)
            if literal is not None and literal in literal_names:
                functions.add(literal_names[literal])
            for function in functions:
                found.setdefault(function, []).append((resource.address, name))
        return {
            function: next((a for a in aliases if a[1] == self.wanted), aliases[0])
            for function, aliases in found.items()
        }

    @staticmethod
    def _chains(tree: Tree[Token] | None) -> Iterator[list[str]]:
        for node in _walk(tree) if tree is not None else ():
            chain = _chain(node) if node.data == "get_attr_expr_term" else None
            if chain is not None and len(chain) >= 3:
                yield chain

    def references(self, tree: Tree[Token] | None) -> Iterator[_Reference]:
        """The references in an attribute to a function under canary that name neither an alias nor a version."""
        if tree is None:
            return
        qualified: set[int] = set()  # ids of references a string template follows with :<qualifier>
        latest: set[int] = set()
        for string in tree.find_data("string"):
            parts = string.children
            for index, part in enumerate(parts[:-1]):
                following = parts[index + 1]
                if not (isinstance(part, Tree) and isinstance(following, Tree)):
                    continue
                match = _QUALIFIER.match(_text(following))
                if match is not None and any(True for _ in part.find_data("interpolation")):
                    for node in _walk(part):
                        (latest if match.group(1) == _LATEST else qualified).add(id(node))
        seen: set[int] = set()
        for node in _walk(tree):
            if node.data != "get_attr_expr_term" or id(node) in seen:
                continue
            chain = _chain(node)
            if chain is None or len(chain) != 3:
                continue
            seen.update(id(inner) for inner in _walk(node))
            under_canary = chain[0] == _FUNCTION and chain[1] in self.aliases and chain[2] in _UNQUALIFIED
            if under_canary and id(node) not in qualified:
                yield _Reference(chain[1], node.meta.line, id(node) in latest)
        whole = _literal(tree)  # the attribute's value is just a function's name: it names that function
        if whole is not None and whole in self.names:
            yield _Reference(self.names[whole], tree.meta.line, latest=False)
        for string in tree.find_data("string"):
            text = _label(string)
            for match in _ARN.finditer(text):
                if match.group(1) in self.names and match.group(2) in (None, _LATEST):
                    yield _Reference(self.names[match.group(1)], string.meta.line, match.group(2) == _LATEST)

    def add(self, resource: _Resource, kind: str, reference: _Reference, fix: str) -> None:
        alias_address, alias_name = self.aliases[reference.function]
        fix = fix.format(alias=alias_address, name=alias_name)
        location = f"{resource.file.name}:{reference.line}"
        self.findings.append(Finding(resource.address, kind, f"{_FUNCTION}.{reference.function}", location, fix))

    def run(self) -> list[Finding]:
        for resource in self.resources:
            resource_type = resource.address.partition(".")[0]
            if resource_type in _CALLERS:
                kind, paths, fix = _CALLERS[resource_type]
                for path in paths:
                    for tree in resource.attributes.get(path, []):
                        for reference in self.references(tree):
                            self.add(resource, kind, reference, fix)
            elif resource_type in _QUALIFIED:
                qualifier_tree = resource.first("qualifier")
                qualifier = _literal(qualifier_tree)
                if qualifier_tree is not None and qualifier != _LATEST:
                    continue
                for reference in self.references(resource.first("function_name")):
                    if qualifier_tree is not None:  # qualifier = "$LATEST": that line is the one to change
                        reference = _Reference(reference.function, qualifier_tree.meta.line, latest=True)
                    self.add(resource, _QUALIFIED[resource_type], reference, "qualifier = {alias}.name")
        return sorted(set(self.findings), key=by_location)


def find_in_terraform(directory: Path, alias: str | None = None) -> list[Finding]:
    """Every caller in the directory's .tf files that reaches a function under canary without its alias."""
    return _Audit(Path(directory), alias).run()


def under_canary_in_terraform(directory: Path, alias: str | None = None) -> list[str]:
    """The directory's functions under canary (with an aws_lambda_alias): the ones whose callers are checked."""
    return sorted(_Audit(Path(directory), alias).aliases)
