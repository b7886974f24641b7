"""`canary revert REPOSITORY BUILD` and `canary revert --since 1h`: the command's work, on top of
canary_core.revert, for a caller with AWS credentials (or the local runtime's endpoint).

The stack's tables come from its outputs; the revert is recorded as the caller's AWS identity (STS); its
Slack message goes where the stack's messages go (the settings of the stack's Record Outcome function, its
secret read with the caller's credentials; a caller who may not read them reverts all the same, unposted).
Exit codes: 0 everything (that was asked) moved back, 1 something was refused, 2 bad arguments.
"""

from __future__ import annotations

import json
import re
import sys
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol, TextIO

from botocore.exceptions import BotoCoreError, ClientError

from canary_core import aws
from canary_core.approval import Channel
from canary_core.config import Settings
from canary_core.locks import FunctionLocks
from canary_core.revert import DeploymentNotFound, RevertResult, RevertSummary, revert_deployment, revert_since
from canary_core.targets import FunctionsTable
from canary_core.times import human_time
from canary_core.trail import DeploymentsTable

EXIT_DONE, EXIT_REFUSED, EXIT_BAD_ARGS = 0, 1, 2
OUTPUTS = ("StateMachineArn", "DeploymentsTableName", "FunctionsTableName", "LocksTableName")
RECORD_OUTCOME = "Record Outcome"  # the state whose function's settings say where Slack messages go
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
_WINDOW = re.compile(r"(?:[0-9]{1,6}[smhdw])+")
MAX_WINDOW = timedelta(days=30)


class Clients(Protocol):
    """What makes AWS clients: boto3 itself, or a boto3.Session (a profile, a region, an endpoint)."""

    def client(self, service_name: str) -> Any: ...

    def resource(self, service_name: str) -> Any: ...


class BadArguments(ValueError):
    """Arguments the command cannot run with: the message names the argument and the fix."""


def parse_window(value: str | timedelta) -> timedelta:
    """'1h', '30m', '2d', '1h30m' (s, m, h, d, w) as a timedelta; at most MAX_WINDOW."""
    if isinstance(value, timedelta):
        window = value
    else:
        text = value.strip().lower()
        if not _WINDOW.fullmatch(text):
            raise BadArguments(f"--since: {value!r} is not a duration; pass a number and a unit, e.g. 1h, 30m, 2d")
        window = timedelta(**{_UNITS[unit]: float(number) for number, unit in re.findall(r"([0-9]+)([smhdw])", text)})
    if not timedelta(0) < window <= MAX_WINDOW:
        raise BadArguments(f"--since: {value} is outside 1s..{MAX_WINDOW.days}d; pass a window such as 1h")
    return window


def cli_revert(
    clients: Clients,
    outputs: dict[str, str],
    repository: str | None = None,
    build: int | str | None = None,
    since: str | timedelta | None = None,
    repositories: list[str] | tuple[str, ...] | None = None,
    dry_run: bool = False,
    force: bool = False,
    output: str = "table",
    *,
    out: TextIO | None = None,
    err: TextIO | None = None,
    now: datetime | None = None,
) -> int:
    """Revert one deployment (`repository` and `build`) or every one promoted within `since`; print what
    moved and what was refused as a table or JSON. Returns the exit code."""
    out, err = out or sys.stdout, err or sys.stderr
    try:
        window = _check(outputs, repository, build, since, repositories, output)
    except BadArguments as error:
        print(f"canary revert: {error}", file=err)
        return EXIT_BAD_ARGS
    dynamodb = clients.resource("dynamodb")
    table = DeploymentsTable(dynamodb.Table(outputs["DeploymentsTableName"]))
    functions = FunctionsTable(dynamodb.Table(outputs["FunctionsTableName"]))
    locks = FunctionLocks(dynamodb.Table(outputs["LocksTableName"]))
    lambda_client = clients.client("lambda")
    caller = _caller(clients, err)
    channel, environment = (None, "") if dry_run else stack_channel(clients, outputs, err)
    moment = now or datetime.now(UTC)
    common: dict[str, Any] = {"dry_run": dry_run, "force": force, "channel": channel, "environment": environment}
    try:
        if window is not None:
            summary = revert_since(
                lambda_client, table, functions, locks, caller, moment, window, repositories, **common
            )
        else:
            result = revert_deployment(
                lambda_client, table, functions, locks, str(repository), int(str(build)), caller, moment, **common
            )
            summary = RevertSummary(moment.isoformat(), (result,))
    except DeploymentNotFound as error:  # as `canary status` and `approve` say it: 1, no such deployment
        print(f"canary revert: {error}", file=err)
        return EXIT_REFUSED
    except (ClientError, BotoCoreError, RuntimeError) as error:  # AWS refused or failed: said plainly
        print(
            f"canary revert: {error}; some aliases may have moved: the deployment's trail (canary status) "
            "shows what was recorded",
            file=err,
        )
        return EXIT_REFUSED
    if output == "json":
        print(json.dumps(summary.as_dict() if window is not None else summary.results[0].as_dict(), indent=2), file=out)
    else:
        print(_table(summary, window, dry_run), file=out)
    return EXIT_DONE if summary.complete else EXIT_REFUSED


def _check(
    outputs: dict[str, str],
    repository: str | None,
    build: int | str | None,
    since: str | timedelta | None,
    repositories: list[str] | tuple[str, ...] | None,
    output: str,
) -> timedelta | None:
    missing = [name for name in OUTPUTS if not outputs.get(name)]
    if missing:
        raise BadArguments(f"the stack's outputs lack {', '.join(missing)}; pass the lambda-canary stack's name")
    if output not in ("table", "json"):
        raise BadArguments(f"--output: {output!r} is not table or json")
    if since is not None:
        if repository is not None or build is not None:
            raise BadArguments("pass either REPOSITORY BUILD or --since, not both")
        return parse_window(since)
    if repositories:
        raise BadArguments("--repository narrows --since; for one deployment pass REPOSITORY BUILD")
    if not repository or build is None:
        raise BadArguments("pass REPOSITORY BUILD (e.g. canary revert my-app 760) or --since 1h")
    if not re.fullmatch(r"[0-9]{1,16}", str(build)) or int(str(build)) < 1:
        raise BadArguments(f"BUILD: {build!r} is not a build number; pass a whole number such as 760")
    return None


def _caller(clients: Clients, err: TextIO) -> str:
    """Who reverts: the caller's AWS identity, as `canary approve` records it."""
    try:
        return str(clients.client("sts").get_caller_identity()["Arn"])
    except Exception as error:  # noqa: BLE001 - the revert is recorded all the same, as by an unknown caller
        print(f"canary revert: your AWS identity could not be read ({error}); recorded as unknown", file=err)
        return "unknown caller"


def stack_channel(clients: Clients, outputs: dict[str, str], err: TextIO) -> tuple[Channel | None, str]:
    """(the stack's Slack channel, its environment), from its Record Outcome function's settings; (None, "")
    when they cannot be read: the revert goes on, unposted, and says so."""
    try:
        definition = json.loads(
            clients.client("stepfunctions").describe_state_machine(stateMachineArn=outputs["StateMachineArn"])[
                "definition"
            ]
        )
        function_arn = _state_resource(definition, RECORD_OUTCOME)
        configuration = clients.client("lambda").get_function_configuration(FunctionName=function_arn)
        settings = Settings.from_env(configuration["Environment"]["Variables"])
        secrets = clients.client("secretsmanager")

        def read_secret(arn: str) -> str:
            return str(secrets.get_secret_value(SecretId=arn)["SecretString"])

        return aws.slack_channel(settings, read_secret), settings.environment
    except Exception as error:  # noqa: BLE001 - Slack must not stop an incident's revert
        print(f"canary revert: the stack's Slack settings could not be read ({error}); not posted", file=err)
        return None, ""


def _state_resource(definition: dict[str, Any], name: str) -> str:
    for state_name, state in definition.get("States", {}).items():
        if state_name == name:
            return str(state["Resource"])
        for nested in [*state.get("Branches", []), state.get("Iterator") or {}, state.get("ItemProcessor") or {}]:
            try:
                return _state_resource(nested, name)
            except LookupError:
                continue
    raise LookupError(f"no state {name!r} in the state machine")


def _table(summary: RevertSummary, window: timedelta | None, dry_run: bool) -> str:
    lines = []
    if window is not None:
        lines.append(
            f"Deployments promoted since {human_time(summary.since, datetime.now(UTC))}: {len(summary.results)}"
        )
    for result in summary.results:
        lines.extend(_result_lines(result))
    totals = summary.as_dict()
    verb = "would move" if dry_run else "moved"
    lines.append(f"{totals['moved']} alias(es) {verb} back, {totals['refused']} refused.")
    return "\n".join(lines)


def _result_lines(result: RevertResult) -> list[str]:
    if result.refused_deployment:
        return [f"{result.title}: refused: {result.refused_deployment}"]
    head = f"{result.title}:" + (" (dry run)" if result.dry_run else "") + (" (forced)" if result.forced else "")
    width = max([len(name) for name in [*result.moved, *result.refused, *result.already]] or [0])
    lines = [head]
    lines.extend(f"  {name.ljust(width)}  {change}" for name, change in sorted(result.moved.items()))
    lines.extend(f"  {name.ljust(width)}  refused: {why}" for name, why in sorted(result.refused.items()))
    lines.extend(f"  {name.ljust(width)}  already back" for name in sorted(result.already))
    return lines
