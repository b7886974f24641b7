"""A build's executions: `repository-build`, and its retries `repository-build-2`, `-3` ... after the workflow
rejected its input (AWS refuses a closed execution's name for 90 days, and CI re-runs keep the build number).

Validate Input writes the deployment's item only when it accepts the input: a build whose item exists opened a
deployment and is never started again; a build with no item was only ever rejected, and may be retried.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from botocore.exceptions import ClientError

from lambda_canary.cli import ci

MAX_ATTEMPTS = 50  # retries of one build number before the CLI asks for a new one


def execution_arn(state_machine: str, name: str) -> str:
    return state_machine.replace(":stateMachine:", ":execution:", 1) + ":" + name


def describe(sfn: Any, arn: str) -> dict[str, Any] | None:
    """The execution, or None when there is none by that ARN."""
    try:
        return dict(sfn.describe_execution(executionArn=arn))
    except ClientError as error:
        if error.response["Error"]["Code"] != "ExecutionDoesNotExist":
            raise
        return None


def is_of(execution: dict[str, Any], repository: str, build_no: int) -> bool:
    """The execution deploys this build (`org-app-760-2` may also be repository `org-app-760`'s build 2)."""
    try:
        started = json.loads(execution.get("input") or "{}")
    except ValueError:
        return False
    return (
        isinstance(started, dict)
        and str(started.get("repository")) == repository
        and str(started.get("build_no")) == str(build_no)
    )


def names(repository: str, build_no: int) -> Iterator[tuple[int, str]]:
    for attempt in range(1, MAX_ATTEMPTS + 1):
        yield attempt, ci.execution_name(repository, build_no, attempt)


def attempts(sfn: Any, state_machine: str, repository: str, build_no: int) -> list[dict[str, Any]]:
    """The build's executions, first attempt first, up to the first name nobody took."""
    found = []
    for _, name in names(repository, build_no):
        execution = describe(sfn, execution_arn(state_machine, name))
        if execution is None:
            break
        if is_of(execution, repository, build_no):
            found.append(execution)
    return found


def latest(sfn: Any, state_machine: str, repository: str, build_no: int) -> dict[str, Any] | None:
    """The build's latest execution (its latest attempt), None when it was never started."""
    found = attempts(sfn, state_machine, repository, build_no)
    return found[-1] if found else None
