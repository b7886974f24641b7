"""`canary start`, `status`, `history`, `approve` and `rollback`: a deployment from CI or a terminal."""

from __future__ import annotations

import json
import os
import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import click
from botocore.exceptions import ClientError, WaiterError
from rich.console import Console

from canary_core.audit import audit_rows, console_url
from canary_core.decisions import DecisionNotDelivered, decide, decided_before
from canary_core.model import FAILED, PROMOTED, REVERTED, ROLLED_BACK, TIMEOUT, Decision
from canary_core.outcome import ROLLED_BACK_ERROR
from canary_core.pages import (
    current_share,
    format_time,
    step_words,
    time_left,  # the deployment page's words, one place
)
from canary_core.times import human_time, moment
from canary_core.trail import code_words, event_words
from lambda_canary.cli import attempts, ci
from lambda_canary.cli.context import (
    EXIT_MEANINGS,
    NOTHING,
    OK,
    TIMED_OUT,
    USAGE,
    Aws,
    CliError,
    aws_options,
    console,
    printable,
)
from lambda_canary.cli.context import (
    FAILED as EXIT_FAILED,
)
from lambda_canary.cli.context import (
    ROLLED_BACK as EXIT_ROLLED_BACK,
)

FINAL = (PROMOTED, ROLLED_BACK, FAILED)
POLL_SECONDS = 2.0
SETTLE_SECONDS = 60.0  # after the execution ends, how long its ending may take to be recorded (Clean Up)
HISTORY_COLUMNS = ("repository", "build_no", "status", "step", "functions", "decided_by", "started_at", "cause")


@click.command(
    epilog="Example (GitHub Actions fills in --repository and --build):\n\n"
    "  canary start --stack lambda-canary --functions my-app-orders my-app-api --weight 0.1 --wait"
)
@aws_options
@click.option("--repository", help="the repository (default: the CI's, e.g. GITHUB_REPOSITORY)")
@click.option("--build", "build_no", help="the build number (default: the CI's, e.g. GITHUB_RUN_NUMBER)")
@click.option("--functions", multiple=True, help="the functions to deploy, by name or ARN: --functions A B C")
@click.option("--weight", type=float, help="the new version's share of traffic while it waits, e.g. 0.1")
@click.option(
    "--steps",
    help='a schedule as JSON, e.g. \'[{"weight": 0.05}, {"weight": 0.5, "gate": "auto", "bake_seconds": 600}]\'',
)
@click.option("--alias", help="the alias (default: the stack's AliasName)")
@click.option(
    "--approval-timeout",
    type=click.IntRange(1),
    help="seconds to wait for a decision before on_timeout applies (default: the stack's ApprovalTimeoutSeconds)",
)
@click.option("--build-url", help="the build's page (default: the CI's)")
@click.option("--pre-approve/--no-pre-approve", default=None, help="promote without asking (if the stack allows)")
@click.option("--supersede", is_flag=True, help="roll back a deployment still holding these functions first")
@click.option("--wait", is_flag=True, help="follow the deployment to its end; the exit code tells how it ended")
@click.option(
    "--wait-timeout",
    type=click.IntRange(1, 7 * 24 * 3600),
    default=6 * 3600,
    show_default=True,
    help="seconds --wait follows before it exits 4 (the deployment goes on)",
)
def start(
    aws: Aws,
    repository: str | None,
    build_no: str | None,
    functions: tuple[str, ...],
    weight: float | None,
    steps: str | None,
    alias: str | None,
    approval_timeout: int | None,
    build_url: str | None,
    pre_approve: bool | None,
    supersede: bool,
    wait: bool,
    wait_timeout: int,
) -> int:
    """Start a canary deployment of the functions' uploaded code.

    Waits for each function's code update to finish (as `aws lambda wait function-updated` does), starts the
    execution named repository-build and prints it (the first line of stdout) with its console link, then waits
    until the workflow has accepted the input (exit 0) or rejected it (exit 5, with the cause), for up to
    150 s (then exit 4: not validated yet, it goes on). A deployment that already ended by then exits as with
    --wait (3, 4 or 5). A build whose input was rejected can be started again: the retry runs as
    repository-build-2, -3 ... With --wait it follows the deployment (steps, weights, the decision) and exits
    with how it ended.
    """
    build = ci.detect(os.environ)
    try:
        request = ci.build_input(
            build,
            repository=repository,
            build_no=build_no,
            functions=functions,
            weight=weight,
            steps=steps,
            alias=alias,
            approval_timeout=approval_timeout,
            build_url=build_url,
            pre_approve=pre_approve,
            supersede=supersede,
        )
    except ci.InputProblem as problem:
        raise CliError("the input cannot be built:\n  " + "\n  ".join(problem.problems), USAGE) from problem
    state_machine = aws.state_machine()
    err = console(stderr=True)
    with err.status(f"Waiting for {len(request['functions'])} function(s) to finish updating ..."):
        _wait_for_updates(aws, request["functions"])
    repository_name, number = str(request["repository"]), int(request["build_no"])
    name, execution_arn, running_since, status = _start_attempt(aws, state_machine, request)
    if running_since is not None:  # a re-run: this build's deployment exists, running or ended
        when = human_time(running_since, datetime.now(UTC))
        if status in (PROMOTED, ROLLED_BACK, FAILED, REVERTED):
            line = f"{repository_name} build {number} was deployed already (started {when}, {code_words(status)}): "
            line += "not started again; how it ended:"
        else:
            line = f"{repository_name} build {number} is already running (started {when}): "
            line += "following it" if wait else "not started again; where it stands:"
        err.print(line, highlight=False, markup=False)
    else:
        err.print(
            f"Started {repository_name} build {number}: {len(request['functions'])} function(s)"
            + (
                f" (attempt {name.rsplit('-', 1)[-1]}: the earlier input was rejected)"
                if name != _first(request)
                else ""
            ),
            highlight=False,
            markup=False,
        )
    started: dict[str, Any] = {"execution_arn": execution_arn, "name": name}
    if running_since is not None:
        started.update(already_running=True, started_at=running_since.isoformat())
    if not aws.endpoint_url and not os.environ.get("AWS_ENDPOINT_URL"):
        started["console_url"] = console_url(execution_arn)
    if aws.output != "json":
        click.echo(execution_arn)  # the first line of stdout (action.yml reads it)
        if "console_url" in started:
            err.print(f"Console: {started['console_url']}", soft_wrap=True)
    if wait:
        followed = follow(aws, repository_name, number, execution_arn, wait_timeout, err)
    else:
        followed = follow(aws, repository_name, number, execution_arn, VALIDATION_SECONDS, err, until_accepted=True)
    if aws.output == "json":
        click.echo(json.dumps({**started, **followed.as_dict()}, indent=2, default=str))
    return followed.exit_code


VALIDATION_SECONDS = 150.0  # start without --wait: Validate Input may wait up to 120 s for a superseded deployment


def _first(request: dict[str, Any]) -> str:
    return ci.execution_name(request["repository"], request["build_no"])


CLOCK_SKEW = timedelta(seconds=5)  # between this machine's clock and Step Functions'


def _start_attempt(aws: Aws, state_machine: str, request: dict[str, Any]) -> tuple[str, str, datetime | None, str]:
    """Start the build's execution: repository-build, or the first free retry name when every earlier attempt
    ended without opening a deployment. (name, execution ARN, when it started if it was there already, and the
    deployment's status then: a CI re-run follows the build's deployment, running or ended, instead).

    StartExecution with the name and input of a RUNNING execution succeeds without starting one: it returns that
    execution (and its startDate), as for a CI job re-run while its first run's deployment goes on."""
    sfn = aws.client("stepfunctions")
    repository, number = str(request["repository"]), int(request["build_no"])
    for _, name in attempts.names(repository, number):
        asked = datetime.now(UTC)
        try:
            started = sfn.start_execution(stateMachineArn=state_machine, name=name, input=json.dumps(request))
            start_date = started.get("startDate")
            earlier = isinstance(start_date, datetime) and start_date < asked - CLOCK_SKEW
            return name, str(started["executionArn"]), start_date if earlier else None, "RUNNING"
        except ClientError as error:
            if error.response["Error"]["Code"] != "ExecutionAlreadyExists":
                raise
        item = aws.deployments().get(repository, number)
        if item is not None and item.get("execution_arn"):
            # An attempt opened the deployment: the build number is spent, and a CI re-run follows that
            # deployment (running, or ended: its ending is the answer) instead of starting another.
            opened = str(item["execution_arn"])
            since = moment(item.get("started_at")) or asked - CLOCK_SKEW
            return opened.rsplit(":", 1)[-1], opened, since, str(item.get("status", ""))
        taken = attempts.describe(sfn, attempts.execution_arn(state_machine, name))
        if taken is not None and attempts.is_of(taken, repository, number) and taken["status"] == "RUNNING":
            raise CliError(
                f"{repository} build {number} is being started by execution {taken['executionArn']}, whose input "
                f"is not validated yet; wait for it (`canary status {repository} {number}`), then start again if "
                "it is rejected",
                EXIT_FAILED,
            )
    raise CliError(
        f"{repository} build {number} was rejected {attempts.MAX_ATTEMPTS} times; deploy a new build number",
        EXIT_FAILED,
    )


def _wait_for_updates(aws: Aws, functions: list[str]) -> None:
    """Each function's last update finished (function_updated_v2); one that cannot be read is left to the
    workflow, whose validation names it (and tells Slack)."""
    waiter = aws.client("lambda").get_waiter("function_updated_v2")
    for function in functions:
        try:
            waiter.wait(FunctionName=function, WaiterConfig={"Delay": 1, "MaxAttempts": 300})
        except WaiterError as error:
            reason = str(error.last_response.get("Error", {}).get("Code") or error)
            if "ResourceNotFound" in reason or "AccessDenied" in reason or "Failed" in str(error):
                continue  # the workflow's validation names it, with the others
            raise CliError(f"{function}: its code update did not finish: {error}") from error


ACCEPTED, REJECTED, NOT_VALIDATED, STILL_RUNNING = "ACCEPTED", "REJECTED", "NOT_VALIDATED", "RUNNING"


@dataclass(frozen=True)
class Followed:
    """Where following a deployment left it: its status (a deployment's PROMOTED, ROLLED_BACK, FAILED; or
    ACCEPTED, REJECTED, NOT_VALIDATED, RUNNING), why, and the exit code that says so."""

    exit_code: int
    status: str
    cause: str | None = None
    error: str | None = None
    decided_by: str | None = None

    def as_dict(self) -> dict[str, Any]:
        shown = {"status": self.status, "error": self.error, "cause": self.cause, "decided_by": self.decided_by}
        return {
            **{key: value for key, value in shown.items() if value},
            "exit_code": self.exit_code,
            "exit_meaning": EXIT_MEANINGS[self.exit_code],
        }


def follow(
    aws: Aws,
    repository: str,
    build_no: int,
    execution_arn: str,
    timeout: float,
    err: Console,
    *,
    until_accepted: bool = False,
) -> Followed:
    """Print the deployment's trail and weight as they change until it ends (or, `until_accepted`, until the
    workflow accepted or rejected its input)."""
    table, sfn = aws.deployments(), aws.client("stepfunctions")
    deadline = time.monotonic() + timeout
    shown, share = 0, 0.0
    ended_at: float | None = None
    waiting = f"Waiting for the workflow to validate {repository} build {build_no}'s input ..."
    if until_accepted:  # a line in CI logs too, where the spinner is not drawn
        err.print(f"{waiting} (up to {timeout:.0f} s)", highlight=False, markup=False)
    with err.status(waiting if until_accepted else f"Following {repository} build {build_no} ...") as status:
        while True:
            item = table.get(repository, build_no)
            if item and item.get("execution_arn") != execution_arn:
                item = None  # another execution's deployment of the same build: this one was refused
            trail = (item or {}).get("trail", [])
            for event in trail[shown:]:
                err.print(printable(_event_line(event)), highlight=False, markup=False)
            shown = len(trail)
            if item:
                now_share = current_share(item)
                if now_share != share:
                    err.print(f"new version's weight: {share:.0%} -> {now_share:.0%}", highlight=False)
                    share = now_share
                status.update(f"{repository} build {build_no}: {_state_words(item)}")
                if until_accepted and item.get("status") not in FINAL:
                    err.print(
                        f"Accepted: {repository} build {build_no} is {_state_words(item)}; it goes on without this "
                        f"command: follow it with `canary status {repository} {build_no}` (or start with --wait)",
                        highlight=False,
                        markup=False,
                    )
                    return Followed(OK, ACCEPTED)
            if item and item.get("status") in FINAL:
                return _ending(item, err)
            execution = sfn.describe_execution(executionArn=execution_arn)
            if execution["status"] != "RUNNING":
                ended_at = ended_at or time.monotonic()
                if item is None:  # ended before opening a deployment: the input was refused
                    error, cause = execution.get("error", execution["status"]), cli_words(execution.get("cause", ""))
                    err.print(printable(f"Not deployed ({error}): {cause}"), highlight=False, markup=False)
                    return Followed(EXIT_FAILED, REJECTED, cause, error)
                if time.monotonic() - ended_at > SETTLE_SECONDS:
                    err.print(
                        f"The execution ended {execution['status']} and its ending was not recorded in "
                        f"{SETTLE_SECONDS:.0f} s: see `canary status {repository} {build_no}`",
                        markup=False,
                    )
                    return Followed(EXIT_FAILED, execution["status"], error=execution.get("error"))
            if time.monotonic() > deadline:
                if until_accepted:  # the outcome is unknown, as after --wait-timeout: exit 4, not "accepted"
                    err.print(
                        f"Started, not yet validated after {timeout:.0f} s (Validate Input may be waiting for a "
                        f"superseded deployment to roll back); it goes on, and whether its input is accepted is "
                        f"not known yet: follow it with `canary status {repository} {build_no}`; execution "
                        f"{execution_arn}",
                        highlight=False,
                        markup=False,
                    )
                    return Followed(TIMED_OUT, NOT_VALIDATED)
                err.print(
                    f"Still running after {timeout:.0f} s (--wait-timeout); it goes on: "
                    f"`canary status {repository} {build_no}`",
                    markup=False,
                )
                return Followed(TIMED_OUT, STILL_RUNNING)
            time.sleep(POLL_SECONDS)


def cli_words(cause: str) -> str:
    """A workflow's cause as a CLI user acts on it: the input's fields as this command's options."""
    return cause.replace('"supersede": true', "--supersede")


def _ending(item: dict[str, Any], err: Console) -> Followed:
    outcome, decision = item.get("outcome") or {}, item.get("decision") or {}
    status, decided_by = str(item.get("status")), decision.get("decided_by")
    who = f" by {decided_by}" if decided_by else ""
    # the cause says who and when already ("Rolled back by alice at 13:01 UTC."): not said twice
    line = f"{status}: {outcome['cause']}" if outcome.get("cause") else f"{status}{who}."
    err.print(printable(line), highlight=False, markup=False)
    if status == PROMOTED:
        code = OK
    elif status == ROLLED_BACK and outcome.get("error", ROLLED_BACK_ERROR) == ROLLED_BACK_ERROR:  # a decision
        code = TIMED_OUT if decided_by == TIMEOUT else EXIT_ROLLED_BACK
    else:
        code = EXIT_FAILED  # an error (every alias put back, or not), or a stopped execution
    return Followed(code, status, outcome.get("cause"), outcome.get("error"), decided_by)


def _event_line(event: dict[str, Any]) -> str:
    details = {k: v for k, v in event.items() if k not in ("at", "event") and v not in (None, "")}
    if "expires_at" in details:  # a link's deadline, stored as epoch seconds
        details["expires"] = format_time(datetime.fromtimestamp(int(details.pop("expires_at")), UTC).isoformat())
    shown = ", ".join(f"{k}={v}" for k, v in details.items() if k in ("decided_by", "reason", "cause", "expires"))
    return f"{format_time(event.get('at'))}  {event_words(str(event.get('event', '')))}" + (
        f"  ({shown})" if shown else ""
    )


def _state_words(item: dict[str, Any]) -> str:
    step = step_words(item)
    return f"{item.get('status', '').lower()}" + (f", step {step}" if step else "")


def _deployment_arguments(repository: str | None, build_no: str | None) -> tuple[str, int]:
    """REPOSITORY BUILD from the arguments, or from the CI's variables when both are left out."""
    if repository is None and build_no is None:
        build = ci.detect(os.environ)
        repository, build_no = build.repository, build.build_no
    if not repository or not build_no:
        raise CliError("which deployment? pass REPOSITORY BUILD, e.g. `my-app 760`", USAGE)
    if not re.fullmatch(r"[0-9]{1,18}", build_no):
        raise CliError(f"BUILD {build_no!r} is not a build number; pass a whole number, e.g. 760", USAGE)
    return repository, int(build_no)


@click.command(epilog="Example:\n\n  canary status my-app 760 --stack lambda-canary --output json")
@aws_options
@click.argument("repository", required=False)
@click.argument("build_no", metavar="BUILD", required=False)
def status(aws: Aws, repository: str | None, build_no: str | None) -> int:
    """Show one deployment: its status, step, the new version's weight, the time left to decide, the latest
    canary-analysis verdict, the decision, the outcome and the trail.

    REPOSITORY BUILD default to the CI's own (as `canary start` reads them). A build whose input was refused
    has no deployment: its latest execution's error and cause are shown instead.
    """
    repository, number = _deployment_arguments(repository, build_no)
    item = aws.deployments().get(repository, number)
    if item is None:
        return _execution_only(aws, repository, number)
    now = datetime.now(UTC)
    analysis = item.get("analysis") or {}
    data = {
        key: item.get(key)
        for key in (
            "repository",
            "build_no",
            "status",
            "functions",
            "started_at",
            "finished_at",
            "build_url",
            "execution_arn",
            "decision",
            "outcome",
        )
    }
    data["step"] = step_words(item)
    data["weight"] = current_share(item)
    data["expires_at"] = item.get("expires_at")
    data["time_left"] = time_left(item, now)
    data["analysis"] = {key: analysis[key] for key in ("verdict", "summary") if analysis.get(key)} or None
    data["trail"] = item.get("trail", [])
    if aws.output == "json":
        aws.emit(data)
        return OK
    summary = {
        k: v
        for k, v in data.items()
        if k not in ("trail", "decision", "outcome", "analysis", "expires_at") and v not in (None, "")
    }
    decision, outcome = item.get("decision") or {}, item.get("outcome") or {}
    summary["weight"] = f"{current_share(item):.0%} of the alias's traffic on the new version"
    summary.update(
        analysis=f"{analysis['verdict']}: {analysis.get('summary', '')}".rstrip(": ") if analysis else None,
        decision=decision.get("action"),
        decided_by=decision.get("decided_by"),
        decided_at=format_time(decision.get("decided_at")),
        cause=outcome.get("cause"),
    )
    summary["started_at"], summary["finished_at"] = (
        format_time(item.get("started_at")),
        format_time(item.get("finished_at")),
    )
    aws.emit({k: v for k, v in summary.items() if v not in (None, "")})
    trail = [{"at": format_time(e.get("at")), "event": e.get("event")} for e in item.get("trail", [])]
    shown = [{**line, "event": event_words(str(line["event"] or ""))} for line in trail]  # JSON keeps the codes
    aws.emit(trail, rows=shown, columns=("at", "event"))
    return OK


def _execution_only(aws: Aws, repository: str, build_no: int) -> int:
    """A build with no deployment: its latest attempt's execution (a rejected input), or no such build."""
    execution = attempts.latest(aws.client("stepfunctions"), aws.state_machine(), repository, build_no)
    if execution is None:
        raise CliError(f"no deployment of {repository} build {build_no} in this stack; list them with `canary history`")
    aws.emit(
        {
            "repository": repository,
            "build_no": build_no,
            "execution": execution["status"],
            "error": execution.get("error"),
            "cause": cli_words(execution.get("cause") or "") or None,
            "execution_arn": execution["executionArn"],
        }
    )
    return OK


def parse_since(value: str) -> timedelta:
    """7d, 12h, 30m, 90s: a window back from now."""
    match = re.fullmatch(r"([0-9]{1,6})([smhdw])", value.strip())
    if not match:
        raise click.BadParameter(f"{value!r} is not a duration; pass e.g. 30m, 12h, 7d or 2w")
    unit = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}[match.group(2)]
    return timedelta(**{unit: int(match.group(1))})


@click.command(epilog="Example:\n\n  canary history --stack lambda-canary --repository my-app --since 7d")
@aws_options
@click.option("--repository", help="one repository's deployments (default: every repository's)")
@click.option("--since", default="7d", show_default=True, help="how far back: 30m, 12h, 7d, 2w")
@click.option("--limit", type=click.IntRange(1, 1000), default=100, show_default=True)
def history(aws: Aws, repository: str | None, since: str, limit: int) -> int:
    """List deployments newest first: status, step, who decided, and the cause of each ending."""
    cutoff = (datetime.now(UTC) - parse_since(since)).isoformat()
    table = aws.deployments()
    rows: list[dict[str, Any]] = []
    before: str | int | None = None
    while len(rows) < limit:  # newest first: stop at the first deployment older than the window
        size = min(limit - len(rows), 100)
        page = audit_rows(table, repository, size, before)
        recent = [row for row in page if (row.get("started_at") or "") >= cutoff]
        rows.extend(recent)
        if len(page) < size or len(recent) < len(page):
            break
        before = page[-1]["build_no"] if repository else page[-1]["started_at"]
    if aws.output == "json":
        aws.emit(rows)
        return OK
    shown = [{**row, "started_at": format_time(row.get("started_at"))} for row in rows]
    aws.emit(rows, rows=shown, columns=HISTORY_COLUMNS)
    return OK


def _decide(aws: Aws, action: str, repository: str | None, build_no: str | None) -> int:
    repository, number = _deployment_arguments(repository, build_no)
    table = aws.deployments()
    item = table.get(repository, number)
    if item is None:
        raise CliError(f"no deployment of {repository} build {number}; list them with `canary history`")
    step = int(item.get("step", 0))
    if decided_before(item, step):
        decided = (item.get("decision") or {}).get("decided_by")
        raise CliError(
            f"{repository} build {number} is not waiting for a decision (status {item.get('status')}"
            + (f", decided by {decided}" if decided else "")
            + "); nothing was changed",
            NOTHING,
        )
    now = datetime.now(UTC)
    decision = Decision(action, aws.caller(), now.isoformat(), user_agent="canary CLI", step=step)
    try:
        result = decide(table, aws.client("stepfunctions"), repository, number, decision, now)
    except DecisionNotDelivered as error:
        raise CliError(str(error)) from error
    if not result.won:
        other = (result.item.get("decision") or {}).get("decided_by")
        raise CliError(f"{repository} build {number} was decided first by {other}; nothing was changed", NOTHING)
    if not result.delivered:
        raise CliError(f"recorded, but {result.problem}; see `canary status {repository} {number}`")
    aws.emit(
        {
            "repository": repository,
            "build_no": number,
            "action": action,
            "decided_by": decision.decided_by,
            "step": step_words(item),
        }
    )
    return OK


@click.command(epilog="Example:\n\n  canary approve my-app 760 --stack lambda-canary")
@aws_options
@click.argument("repository", required=False)
@click.argument("build_no", metavar="BUILD", required=False)
def approve(aws: Aws, repository: str | None, build_no: str | None) -> int:
    """Approve the deployment's current step, as the approve link does.

    The first decision wins; the approver recorded is your AWS identity (STS GetCallerIdentity).
    """
    return _decide(aws, "approve", repository, build_no)


@click.command(epilog="Example:\n\n  canary rollback my-app 760 --stack lambda-canary")
@aws_options
@click.argument("repository", required=False)
@click.argument("build_no", metavar="BUILD", required=False)
def rollback(aws: Aws, repository: str | None, build_no: str | None) -> int:
    """Roll the deployment back: every alias to the version it ran before, as the roll-back link does.

    The first decision wins; the decision records your AWS identity (STS GetCallerIdentity).
    """
    return _decide(aws, "rollback", repository, build_no)
