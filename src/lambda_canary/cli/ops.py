"""`canary outputs`, `logs`, `revert` (lambda_canary.revert) and `audit` (lambda_canary.bypass)."""

from __future__ import annotations

import json
import os
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import click

from lambda_canary.cli import attempts, ci
from lambda_canary.cli.context import OK, USAGE, Aws, CliError, aws_options
from lambda_canary.cli.deploy import _deployment_arguments, parse_since
from lambda_canary.revert import cli_revert

LOG_MARGIN = timedelta(minutes=5)  # a handler's lines may come a little before the item's times


@click.command(epilog="Example:\n\n  canary outputs --stack lambda-canary-local --endpoint-url http://127.0.0.1:4566")
@aws_options
def outputs(aws: Aws) -> int:
    """Print the stack's outputs: the state machine, the tables, the approval API."""
    aws.emit(aws.outputs())
    return OK


@click.command(epilog="Example:\n\n  canary logs my-app 760 --stack lambda-canary")
@aws_options
@click.argument("repository", required=False)
@click.argument("build_no", metavar="BUILD", required=False)
def logs(aws: Aws, repository: str | None, build_no: str | None) -> int:
    """Print the handlers' log lines about one deployment, from the stack's CloudWatch Logs log groups.

    Lines that name the execution or the deployment ("my-app build 760") between its start and end: the time
    (with seconds), the level, the function and the message with its fields; --output json keeps each whole
    line. For a build whose input was rejected, its latest attempt's lines (the rejection names the build).
    """
    repository, number = _deployment_arguments(repository, build_no)
    if not aws.stack:
        raise CliError("logs reads the log groups of a stack: pass --stack NAME", USAGE)
    name, started, finished = _searched(aws, repository, number)
    cloudformation, cloudwatch = aws.client("cloudformation"), aws.client("logs")
    groups = {
        resource["PhysicalResourceId"]: resource["LogicalResourceId"].removesuffix("Logs")
        for page in cloudformation.get_paginator("list_stack_resources").paginate(StackName=aws.stack)
        for resource in page["StackResourceSummaries"]
        if resource["ResourceType"] == "AWS::Logs::LogGroup"
    }
    if not groups:
        raise CliError(f"stack {aws.stack} has no log groups (AWS::Logs::LogGroup): is it lambda-canary's stack?")
    found: dict[str, dict[str, Any]] = {}  # by eventId: a line that names both terms is found twice
    for group, function in groups.items():
        for term in (name, f"{repository} build {number}"):  # one quoted term a call: the execution, the title
            paginator = cloudwatch.get_paginator("filter_log_events")
            for page in paginator.paginate(
                logGroupName=group,
                filterPattern=json.dumps(term),
                startTime=int((started - LOG_MARGIN).timestamp() * 1000),
                endTime=int((finished + LOG_MARGIN).timestamp() * 1000),
            ):
                # a term is matched as a substring: build 760's must not bring build 7601's lines
                whole = re.compile(re.escape(term) + r"(?![0-9])")
                for event in page["events"]:
                    if whole.search(event["message"]):
                        found[event["eventId"]] = _line(group, function, event)
    lines = sorted(found.values(), key=lambda line: str(line["at"]))
    if not lines:
        click.echo(f"no log lines name {repository} build {number} in {len(groups)} log group(s)", err=True)
    if aws.output == "json":
        aws.emit(lines)
        return OK
    shown = [
        {
            "at": datetime.fromisoformat(line["at"]).strftime("%Y-%m-%d %H:%M:%S UTC"),
            "level": line["level"],
            "function": line["function"],
            "message": line["text"],
        }
        for line in lines
    ]
    aws.emit(lines, rows=shown, columns=("at", "level", "function", "message"))
    return OK


# What every Powertools line carries: left out of the text, kept in --output json
POWERTOOLS_KEYS = {
    "level", "location", "message", "timestamp", "service", "cold_start", "function_name", "function_memory_size",
    "function_arn", "function_request_id", "xray_trace_id", "sampling_rate",
}  # fmt: skip
EXTRA_CHARACTERS = 300  # of the structured extras a text line shows


def _line(group: str, function: str, event: dict[str, Any]) -> dict[str, Any]:
    """One log line: when, the level, the function, the message (and its fields, if it is Powertools JSON)."""
    raw = str(event["message"]).rstrip()
    try:
        fields = json.loads(raw)
    except ValueError:
        fields = None
    fields = fields if isinstance(fields, dict) else {}
    extras = {k: v for k, v in fields.items() if k not in POWERTOOLS_KEYS}
    text = str(fields.get("message", raw)) if fields else raw
    if extras:
        shown = ", ".join(f"{k}={json.dumps(v, default=str)}" for k, v in extras.items())
        text += f" ({shown[:EXTRA_CHARACTERS]}{'...' if len(shown) > EXTRA_CHARACTERS else ''})"
    return {
        "at": datetime.fromtimestamp(event["timestamp"] / 1000, UTC).isoformat(),
        "level": str(fields.get("level", "")),
        "function": function,
        "group": group,
        "text": text,
        "message": raw,
        "fields": fields,
    }


def _searched(aws: Aws, repository: str, number: int) -> tuple[str, datetime, datetime]:
    """The execution name and the time window to search: the deployment's, or (a rejected build) its latest
    attempt's execution; no such build is an error, as for `canary status`."""
    item = aws.deployments().get(repository, number)
    now = datetime.now(UTC)
    if item is not None:
        name = str(item.get("execution_arn") or ci.execution_name(repository, number)).rsplit(":", 1)[-1]
        started = _moment(item.get("started_at")) or now - timedelta(days=7)
        return name, started, _moment(item.get("finished_at")) or now
    execution = attempts.latest(aws.client("stepfunctions"), aws.state_machine(), repository, number)
    if execution is None:
        raise CliError(f"no deployment of {repository} build {number} in this stack; list them with `canary history`")
    stopped = execution.get("stopDate")
    return str(execution["name"]), execution["startDate"], stopped or now


def _moment(value: str | None) -> datetime | None:
    try:
        return datetime.fromisoformat(value) if value else None
    except ValueError:
        return None


@click.command(
    epilog="Examples:\n\n  canary revert my-app 760 --stack lambda-canary\n\n"
    "  canary revert --since 1h --repository my-app --dry-run --stack lambda-canary"
)
@aws_options
@click.argument("repository", required=False)
@click.argument("build_no", metavar="BUILD", required=False)
@click.option("--since", help="the incident button: revert every deployment promoted in this window (1h, 30m)")
@click.option("--repository", "repositories", multiple=True, help="with --since: only these repositories")
@click.option("--dry-run", is_flag=True, help="show what would move, move nothing")
@click.option("--force", is_flag=True, help="revert a deployment marked irreversible (data changes stay)")
def revert(
    aws: Aws,
    repository: str | None,
    build_no: str | None,
    since: str | None,
    repositories: tuple[str, ...],
    dry_run: bool,
    force: bool,
) -> int:
    """Put every alias of a promoted deployment back to the version it ran before that deployment.

    A function a later deployment has promoted since is refused (named); a function under a running canary
    is never touched. With --since, every deployment promoted in the window, newest first.
    """
    if since is not None:
        parse_since(since)  # refused here, with the others, before anything is read
    elif repository is None or build_no is None:
        raise CliError("which deployment? pass REPOSITORY BUILD, or --since 1h for every one in a window", USAGE)
    return int(
        cli_revert(
            aws,
            aws.outputs(),
            repository=repository,
            build=build_no,
            since=since,
            repositories=list(repositories) or None,
            dry_run=dry_run,
            force=force,
            output=aws.output,
        )
    )


@click.command(
    epilog="Examples:\n\n  canary audit --template template.yaml\n\n"
    "  canary audit --terraform infra/ --alias live\n\n  canary audit --functions my-app-orders --stack app"
)
@click.option("--template", type=click.Path(exists=True, dir_okay=False), help="a SAM or CloudFormation template")
@click.option("--terraform", type=click.Path(exists=True, file_okay=False), help="a directory of Terraform files")
@click.option("--functions", multiple=True, help="functions to audit in the account (their triggers, policies)")
@click.option(
    "--stack",
    envvar="CANARY_AUDIT_STACK",
    help="audit the functions of this deployed stack (env CANARY_AUDIT_STACK; with nothing else to audit, "
    "CANARY_STACK as every command reads it)",
)
@click.option("--alias", default="live", show_default=True, help="the alias every caller should invoke")
@click.option("--region", help="AWS region")
@click.option("--profile", help="a profile of ~/.aws/config")
@click.option("--endpoint-url", envvar="AWS_ENDPOINT_URL", help="AWS endpoint, e.g. http://127.0.0.1:4566")
@click.option("--output", type=click.Choice(["table", "json"]), default="table", show_default=True)
def audit(
    template: str | None,
    terraform: str | None,
    functions: tuple[str, ...],
    stack: str | None,
    alias: str,
    region: str | None,
    profile: str | None,
    endpoint_url: str | None,
    output: str,
) -> int:
    """Find what invokes a function without going through its alias (a canary would not cover it).

    Exits 0 when nothing bypasses the alias, 1 when something does (each finding names the resource, where it
    is and the fix), 2 for arguments it cannot use, 6 when no function with an alias was found: nothing was
    checked.
    """
    if stack is None and template is None and terraform is None and not functions:
        stack = os.environ.get("CANARY_STACK") or None  # `canary audit` alone: the stack every command reads
    aws = Aws(stack=stack, region=region, profile=profile, endpoint_url=endpoint_url, output=output)
    names = [name for entry in functions for name in entry.replace(",", " ").split()]
    paths = (Path(template) if template else None, Path(terraform) if terraform else None)
    from lambda_canary import bypass  # its template and Terraform parsers load in a third of a second: here only

    return int(bypass.cli_audit(*paths, names, stack, alias, output, aws.client))
