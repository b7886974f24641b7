"""What every AWS-facing command shares: the aws CLI's options, the stack's outputs, errors and output."""

from __future__ import annotations

import functools
import json
import os
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import boto3
import click
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, EndpointConnectionError, NoCredentialsError, NoRegionError
from rich.console import Console
from rich.table import Table

from canary_core.trail import DeploymentsTable

# Exit codes a script can use (documented in the README and in `canary --help`)
OK, ERROR, USAGE, ROLLED_BACK, TIMED_OUT, FAILED, NOTHING = 0, 1, 2, 3, 4, 5, 6
EXIT_MEANINGS = {
    OK: "done (start: input accepted, the deployment goes on; start --wait: promoted; start without --wait "
    "exits 3, 4 or 5 as --wait does when the deployment had ended already)",
    ERROR: "AWS could not be reached or refused a call, no such deployment, or revert refused a function (each named)",
    USAGE: "bad command line",
    ROLLED_BACK: "rolled back by a decision (a person, an alarm, the canary analysis or a newer deployment)",
    TIMED_OUT: "timed out (nobody decided by the approval deadline, --wait-timeout passed, or start without "
    "--wait: the input not validated within 150 s, outcome unknown; the deployment goes on)",
    FAILED: "failed or input rejected (the cause is printed)",
    NOTHING: "nothing to act on, nothing changed: approve/rollback of a deployment that is not waiting for a "
    "decision (decided already, or ended), audit with no function that has an alias",
}
EXIT_CODES = "Exit codes: " + "; ".join(f"{code} {meaning}" for code, meaning in EXIT_MEANINGS.items()) + "."
FULL_WIDTH = 10_000  # columns outside a terminal: wide enough for any ARN, cause or log line
CONFIG = Config(retries={"mode": "standard", "max_attempts": 5}, user_agent_extra="lambda-canary-cli")
F = TypeVar("F", bound=Callable[..., Any])


_LINE_BREAKS = re.compile(r"\r\n|[\n\r\v\f\x85\u2028\u2029]")
_CONTROLS = re.compile(r"[\x00-\x08\x0a-\x1f\x7f-\x9f]")  # C0 but the tab, DEL, C1


def printable(value: Any) -> str:
    """Text from AWS (a log line, a cause, a trail event: each may carry an execution input's text) as the
    terminal is given it: C0/C1 control characters removed, so no escape sequence reaches the terminal
    (colours, cursor moves, a title, a hyperlink) and no line break fakes a line of this command's own; a line
    break becomes a space, a tab stays. --output json is left as it is (json.dumps escapes them)."""
    return _CONTROLS.sub("", _LINE_BREAKS.sub(" ", str(value)))


class CliError(click.ClickException):
    """A problem the user can fix: printed as `canary: <message>`, exiting with `exit_code`."""

    def __init__(self, message: str, exit_code: int = ERROR) -> None:
        super().__init__(message)
        self.exit_code = exit_code

    def show(self, file: Any = None) -> None:
        lines = self.format_message().split("\n")  # its own lines stay; AWS's text in it is made printable
        click.echo("canary: " + "\n".join(printable(line) for line in lines), err=True)


@dataclass
class Aws:
    """The aws CLI's common options, and what they lead to: clients, the stack's outputs, the tables."""

    stack: str | None = None
    state_machine_arn: str | None = None
    table_name: str | None = None
    region: str | None = None
    profile: str | None = None
    endpoint_url: str | None = None
    output: str = "table"
    _session: Any = field(default=None, init=False, repr=False)
    _outputs: dict[str, str] | None = field(default=None, init=False, repr=False)

    @property
    def session(self) -> Any:
        if self._session is None:
            try:
                self._session = boto3.Session(profile_name=self.profile, region_name=self.region)
            except BotoCoreError as error:  # ProfileNotFound
                raise CliError(f"{error}; pick a profile of ~/.aws/config with --profile, or leave it out") from error
        return self._session

    def client(self, service: str) -> Any:
        # AWS_ENDPOINT_URL, when set, is read by boto3 itself; --endpoint-url wins over it
        try:
            return self.session.client(service, endpoint_url=self.endpoint_url, config=CONFIG)
        except NoRegionError as error:
            raise CliError("no AWS region; pass --region us-east-1, or set AWS_REGION") from error

    def resource(self, service: str) -> Any:
        try:
            return self.session.resource(service, endpoint_url=self.endpoint_url, config=CONFIG)
        except NoRegionError as error:
            raise CliError("no AWS region; pass --region us-east-1, or set AWS_REGION") from error

    def outputs(self) -> dict[str, str]:
        """The stack's outputs (CloudFormation DescribeStacks), or what --state-machine-arn and --table give."""
        if self._outputs is None:
            if self.stack:
                self._outputs = self._stack_outputs(self.stack)
            elif self.state_machine_arn:
                self._outputs = {"StateMachineArn": self.state_machine_arn}
                if self.table_name:
                    self._outputs["DeploymentsTableName"] = self.table_name
            else:
                raise CliError(
                    "which deployment workflow? pass --stack NAME (the stack lambda-canary was deployed as; "
                    "`canary local` is lambda-canary-local), or --state-machine-arn ARN with --table NAME, "
                    "or set CANARY_STACK",
                    USAGE,
                )
        return self._outputs

    def stack_output(self, key: str, option: str) -> str:
        value = self.outputs().get(key)
        if not value:
            raise CliError(f"the stack has no output {key}; pass {option}, or --stack NAME", USAGE)
        return value

    def _stack_outputs(self, stack: str) -> dict[str, str]:
        try:
            stacks = self.client("cloudformation").describe_stacks(StackName=stack)["Stacks"]
        except ClientError as error:
            if "does not exist" in str(error):
                raise CliError(
                    f"stack {stack!r} does not exist in {self.where()}; check --stack and --region (or --profile), "
                    "or pass --state-machine-arn ARN --table NAME"
                ) from error
            raise
        return {o["OutputKey"]: o["OutputValue"] for o in stacks[0].get("Outputs", [])}

    def where(self) -> str:
        region = self.session.region_name or "(no region)"
        endpoint = self.endpoint_url or os.environ.get("AWS_ENDPOINT_URL")
        return f"{region} at {endpoint}" if endpoint else region

    def state_machine(self) -> str:
        return self.stack_output("StateMachineArn", "--state-machine-arn ARN")

    def deployments(self) -> DeploymentsTable:
        name = self.table_name or self.stack_output("DeploymentsTableName", "--table NAME")
        resource = self.session.resource("dynamodb", endpoint_url=self.endpoint_url, config=CONFIG)
        return DeploymentsTable(resource.Table(name))

    def caller(self) -> str:
        """The caller's AWS identity (its ARN), the approver a terminal's decision records."""
        return str(self.client("sts").get_caller_identity()["Arn"])

    def emit(self, data: Any, rows: Sequence[dict[str, Any]] | None = None, columns: Iterable[str] = ()) -> None:
        """`data` as JSON with --output json; else `rows` as a table of `columns` (or `data` as key: value)."""
        if self.output == "json":
            click.echo(json.dumps(data, indent=2, default=str))
            return
        if rows is None:
            table = Table(show_header=False, box=None)
            table.add_column(no_wrap=True)
            table.add_column(overflow="fold")
            for key, value in (data or {}).items():
                table.add_row(f"[bold]{key}[/bold]", _cell(value))
        else:
            columns = list(columns)
            table = Table()
            for column in columns:
                table.add_column(column, overflow="fold")
            for row in rows:
                table.add_row(*(_cell(row.get(column)) for column in columns))
        console().print(table)


def console(stderr: bool = False) -> Console:
    """A console that never cuts a value: outside a terminal (CI logs, a pipe) lines are printed whole, however
    long; in a terminal, long values (ARNs, causes) wrap at the terminal's width instead of ending in '...'."""
    terminal = Console(stderr=stderr)
    if terminal.is_terminal:
        return terminal
    return Console(stderr=stderr, width=FULL_WIDTH, soft_wrap=True)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dict | list):
        value = json.dumps(value, default=str)
    return printable(value).replace("[", r"\[")  # rich markup: a cause's brackets are text


def aws_options(command: F) -> F:
    """The aws CLI's options, on each AWS-facing command; they build `aws` for the command."""
    options = [
        click.option(
            "--stack",
            envvar="CANARY_STACK",
            help="the stack's name: its outputs name the state machine "
            "and the tables (env CANARY_STACK; `canary local`: lambda-canary-local)",
        ),
        click.option("--state-machine-arn", help="the state machine, instead of --stack"),
        click.option("--table", "table_name", help="the deployments table, with --state-machine-arn"),
        click.option("--region", help="AWS region (default: the profile's, or AWS_REGION)"),
        click.option("--profile", help="a profile of ~/.aws/config (default: AWS_PROFILE)"),
        click.option(
            "--endpoint-url",
            envvar="AWS_ENDPOINT_URL",
            help="AWS endpoint (env AWS_ENDPOINT_URL), e.g. http://127.0.0.1:4566 for `canary local`",
        ),
        click.option("--output", type=click.Choice(["table", "json"]), default="table", show_default=True),
    ]

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        aws = Aws(
            stack=kwargs.pop("stack"),
            state_machine_arn=kwargs.pop("state_machine_arn"),
            table_name=kwargs.pop("table_name"),
            region=kwargs.pop("region"),
            profile=kwargs.pop("profile"),
            endpoint_url=kwargs.pop("endpoint_url"),
            output=kwargs.pop("output"),
        )
        try:
            return command(aws, *args, **kwargs)
        except NoCredentialsError as error:
            raise CliError(
                "no AWS credentials; pass --profile NAME, set AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY "
                "(`canary local` accepts any, e.g. testing/testing)"
            ) from error
        except EndpointConnectionError as error:
            raise CliError(f"{error}; check --endpoint-url and --region (is `canary local` running?)") from error
        except ClientError as error:
            code, message = error.response["Error"].get("Code"), error.response["Error"].get("Message")
            raise CliError(f"AWS refused {error.operation_name}: {code}: {message}") from error
        except BotoCoreError as error:
            raise CliError(str(error)) from error

    for option in reversed(options):
        wrapper = option(wrapper)
    return wrapper  # type: ignore[return-value]
