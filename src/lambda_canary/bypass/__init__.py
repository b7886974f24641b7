"""The alias-bypass audit (`canary audit`): everything that invokes a function under canary without its alias.

A canary gives the new version a weight of the function's alias: whatever calls the function by its unqualified
name or ARN, or by `$LATEST`, gets none of that split (it runs whatever `$LATEST` is), so a 10% canary is silently
0% or 100% for that caller. The audit reads a template (template.py), a Terraform directory (terraform.py) or the
account itself (account.py); each module's docstring says exactly what counts as a bypass there.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

import boto3
from botocore.exceptions import BotoCoreError

from lambda_canary.bypass.account import audit_account, find_in_account, functions_of_stack
from lambda_canary.bypass.report import DEFAULT_ALIAS, OUTPUTS, Finding, render
from lambda_canary.bypass.template import find_in_template, under_canary_in_template
from lambda_canary.bypass.terraform import find_in_terraform, under_canary_in_terraform

__all__ = ["Finding", "cli_audit", "find_in_account", "find_in_template", "find_in_terraform", "render"]

NOTHING_CHECKED = 6  # no function with an alias was found: no caller was checked (not an all-clear)
_ALIAS_NAME = "letters, digits, '-' or '_' (1-128 characters, not only digits), e.g. --alias live"


def cli_audit(
    template: Path | None,
    terraform: Path | None,
    functions: Sequence[str] | None,
    stack: str | None,
    alias: str | None,
    output: str,
    clients: Any = None,
    *,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
) -> int:
    """`canary audit`: 0 when nothing bypasses the alias, 1 with findings, 2 for bad arguments (named, with the fix),
    6 when no function with an alias was found, so nothing was checked.

    clients: for --functions / --stack, a boto3 Session or a mapping of service name to client; None for boto3's
    default session (which honours AWS_ENDPOINT_URL, so the local runtime is audited the same way).
    """
    out, err = stdout or sys.stdout, stderr or sys.stderr
    alias = alias or DEFAULT_ALIAS
    problem = _problem(template, terraform, functions, stack, alias, output)
    if problem is not None:
        print(f"canary audit: {problem}", file=err)
        return 2
    findings: list[Finding] = []
    checked = 0  # functions under canary whose callers were read
    try:
        if template is not None:
            findings += find_in_template(template, alias)
            checked += len(under_canary_in_template(template, alias))
        if terraform is not None:
            findings += find_in_terraform(terraform, alias)
            checked += len(under_canary_in_terraform(terraform, alias))
        if functions or stack:
            if clients is None:
                clients = boto3.Session()
            names = list(functions or [])
            if stack:
                names += functions_of_stack(clients, stack, alias)
            if names:
                audited = audit_account(clients, names, alias)
                findings += audited.findings
                checked += len(audited.checked)  # a function without the alias is not under canary: not checked
                for name in audited.without_alias:
                    print(f"canary audit: --functions {name}: has no alias {alias}, so it was not checked", file=err)
    except ValueError as error:  # a file that does not parse, a stack that does not exist
        print(f"canary audit: {error}", file=err)
        return 2
    except BotoCoreError as error:  # no credentials, no region, an endpoint that does not answer
        print(f"canary audit: {error}; check --region / --profile / --endpoint-url (AWS_ENDPOINT_URL)", file=err)
        return 2
    if not checked:
        where = ", ".join(
            place
            for place, given in (
                (f"template {template}", template is not None),
                (f"Terraform directory {terraform}", terraform is not None),
                (f"functions {', '.join(functions or [])}", bool(functions)),
                (f"stack {stack} (its ManagedFunctionPrefix)", bool(stack)),
            )
            if given
        )
        print(
            f"canary audit: nothing was checked: no function with an alias was found in {where}. A function is "
            f"under canary when it has an alias (AutoPublishAlias, AWS::Lambda::Alias, aws_lambda_alias; on a "
            f"stack, the alias {alias}): point the audit at the template or stack of the functions you deploy",
            file=err,
        )
        if output == "json":
            print(render([], output), file=out)
        return NOTHING_CHECKED
    print(render(findings, output), file=out)
    return 1 if findings else 0


def _problem(
    template: Path | None,
    terraform: Path | None,
    functions: Sequence[str] | None,
    stack: str | None,
    alias: str,
    output: str,
) -> str | None:
    if template is None and terraform is None and not functions and not stack:
        return "nothing to audit: give --template FILE, --terraform DIR, --functions NAME ... or --stack NAME"
    if template is not None and not Path(template).is_file():
        return f"--template {template}: no such file; give the path of a SAM or CloudFormation template"
    if terraform is not None and not Path(terraform).is_dir():
        return f"--terraform {terraform}: no such directory; give the directory holding the .tf files"
    if not re.fullmatch(r"(?!^[0-9]+$)[a-zA-Z0-9_-]{1,128}", alias):
        return f"--alias {alias!r}: {_ALIAS_NAME}"
    if output not in OUTPUTS:
        return f"--output {output!r}: write --output table or --output json"
    return None
