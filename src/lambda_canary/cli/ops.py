"""`canary outputs`, `logs`, `revert` (lambda_canary.revert) and `audit` (lambda_canary.bypass)."""

from __future__ import annotations

import json
import os
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import click

from canary_core.pages import format_time
from lambda_canary import bypass
from lambda_canary.cli import ci
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

    Lines that name the execution or the deployment ("my-app build 760") between its start and end.
    """
    repository, number = _deployment_arguments(repository, build_no)
    if not aws.stack:
        raise CliError("logs reads the log groups of a stack: pass --stack NAME", USAGE)
    item = aws.deployments().get(repository, number) or {}
    name = ci.execution_name(repository, number)
    started = _moment(item.get("started_at")) or datetime.now(UTC) - timedelta(days=7)
    finished = _moment(item.get("finished_at")) or datetime.now(UTC)
    cloudformation, cloudwatch = aws.client("cloudformation"), aws.client("logs")
    groups = [
        resource["PhysicalResourceId"]
        for page in cloudformation.get_paginator("list_stack_resources").paginate(StackName=aws.stack)
        for resource in page["StackResourceSummaries"]
        if resource["ResourceType"] == "AWS::Logs::LogGroup"
    ]
    if not groups:
        raise CliError(f"stack {aws.stack} has no log groups (AWS::Logs::LogGroup): is it lambda-canary's stack?")
    found: dict[str, dict[str, Any]] = {}  # by eventId: a line that names both terms is found twice
    for group in groups:
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
                        found[event["eventId"]] = {
                            "group": group,
                            "at": event["timestamp"],
                            "message": event["message"],
                        }
    lines = list(found.values())
    for line in lines:
        line["message"] = line["message"].rstrip()
    lines.sort(key=lambda line: line["at"])
    for line in lines:
        line["at"] = format_time(datetime.fromtimestamp(line["at"] / 1000, UTC).isoformat())
    if not lines:
        click.echo(f"no log lines name {repository} build {number} in {len(groups)} log group(s)", err=True)
    aws.emit(lines, rows=lines, columns=("at", "group", "message"))
    return OK


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
    return int(bypass.cli_audit(*paths, names, stack, alias, output, aws.client))
