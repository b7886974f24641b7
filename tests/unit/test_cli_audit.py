"""`canary audit` as a user runs it: what it says when there is nothing to check, and which stack it reads."""

from __future__ import annotations

import json

import pytest

from lambda_canary import bypass
from lambda_canary.cli import main

NO_ALIAS = """\
Resources:
  Orders:
    Type: AWS::Serverless::Function
    Properties: {Handler: app.handler, Runtime: python3.13, CodeUri: src/}
  Queue:
    Type: AWS::Lambda::EventSourceMapping
    Properties: {FunctionName: !Ref Orders, EventSourceArn: arn:aws:sqs:us-east-1:123456789012:q}
"""
WITH_ALIAS = NO_ALIAS.replace("CodeUri: src/}", "CodeUri: src/, AutoPublishAlias: live}").replace(
    "!Ref Orders", "!Ref Orders.Alias"
)


@pytest.mark.parametrize("output", ["table", "json"])
def test_a_template_with_no_alias_anywhere_says_nothing_was_checked_and_exits_6(tmp_path, capsys, output):
    # given a template whose function has no alias (so no canary could cover any of its callers)
    template = tmp_path / "template.yaml"
    template.write_text(NO_ALIAS)

    # when it is audited
    code = main(["audit", "--template", str(template), "--output", output])

    # then it does not give an all-clear: it says nothing was checked, and why, with exit 6
    printed = capsys.readouterr()
    assert code == 6
    assert "No caller bypasses the alias" not in printed.out
    assert f"nothing was checked: no function with an alias was found in template {template}" in printed.err
    if output == "json":
        assert json.loads(printed.out) == []


def test_a_template_whose_callers_use_the_alias_is_all_clear(tmp_path, capsys):
    # given a template whose function has an alias, called through it
    template = tmp_path / "template.yaml"
    template.write_text(WITH_ALIAS)

    # when it is audited; then nothing bypasses the alias, exit 0
    assert main(["audit", "--template", str(template)]) == 0
    assert capsys.readouterr().out.strip() == "No caller bypasses the alias."


@pytest.fixture
def audited(monkeypatch):
    """The arguments the bypass audit is called with, instead of running it."""
    calls = []
    monkeypatch.setattr(bypass, "cli_audit", lambda *args: calls.append(args) or 0)
    monkeypatch.delenv("CANARY_AUDIT_STACK", raising=False)
    return calls


def test_audit_alone_reads_canary_stack_as_every_command_does(audited, monkeypatch):
    # given CANARY_STACK set, as a CI job sets it once for every command
    monkeypatch.setenv("CANARY_STACK", "lambda-canary-prod")

    # when `canary audit` runs with nothing else
    assert main(["audit"]) == 0

    # then it audits that stack's functions
    ((template, terraform, functions, stack, *_),) = audited
    assert (template, terraform, functions, stack) == (None, None, [], "lambda-canary-prod")


def test_audit_of_a_template_does_not_add_canary_stack(audited, monkeypatch, tmp_path):
    # given CANARY_STACK set, and a template to audit
    monkeypatch.setenv("CANARY_STACK", "lambda-canary-prod")
    template = tmp_path / "template.yaml"
    template.write_text(WITH_ALIAS)

    # when `canary audit --template` runs; then only the template is audited, not the account
    assert main(["audit", "--template", str(template)]) == 0
    ((_, _, _, stack, *_),) = audited
    assert stack is None
