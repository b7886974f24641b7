"""One deployment per function at a time: a lock item per function in the locks table.

Taken with a conditional write when a deployment is validated, released on every ending: by Record Outcome,
and by Clean Up for executions stopped, timed out or failed outside the workflow's own paths. A deployment
whose aliases could not be put back keeps its locks: the sweeper (sweep.py) finds them and tries again.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from canary_core.fanout import fan_out
from canary_core.model import Deployment

# A revert (canary_core.revert) holds its functions' locks while it moves their aliases, under an id that is
# no execution: "revert:<seconds since the epoch it may hold them until>:<repository>:<build>"
REVERT_HOLDER_PREFIX = "revert:"
REVERT_HOLD_SECONDS = 900


def revert_holder_id(repository: str, build_no: int, now: datetime) -> str:
    return f"{REVERT_HOLDER_PREFIX}{int(now.timestamp()) + REVERT_HOLD_SECONDS}:{repository}:{build_no}"


def revert_hold_expired(holder_id: str, now: datetime) -> bool | None:
    """For a revert's locks: whether the time it may hold them is over (a revert that died half-way: its
    locks are dropped); None for an execution's."""
    if not holder_id.startswith(REVERT_HOLDER_PREFIX):
        return None
    until = holder_id[len(REVERT_HOLDER_PREFIX) :].split(":", 1)[0]
    return not until.isdigit() or int(until) < now.timestamp()


@dataclass(frozen=True)
class Holder:
    """The deployment holding a function's lock."""

    repository: str
    build_no: int
    execution_arn: str

    @property
    def title(self) -> str:
        return f"{self.repository} build {self.build_no}"


class FunctionLocks:
    def __init__(self, table: Any) -> None:
        self._table = table  # a boto3 DynamoDB Table resource

    def acquire(self, deployment: Deployment, now: datetime) -> dict[str, Holder]:
        """Lock every function; on any conflict release what was taken. Returns {function: holder} of conflicts."""

        def take(function_arn: str) -> Holder | None:
            try:
                self._table.put_item(
                    Item={
                        "function_arn": function_arn,
                        "repository": deployment.repository,
                        "build_no": deployment.build_no,
                        "execution_arn": deployment.execution_arn,
                        "acquired_at": now.isoformat(),
                    },
                    ConditionExpression="attribute_not_exists(function_arn) OR execution_arn = :me",
                    ExpressionAttributeValues={":me": deployment.execution_arn},
                )
                return None
            except ClientError as error:
                if error.response["Error"]["Code"] != "ConditionalCheckFailedException":
                    raise
                item = self._table.get_item(Key={"function_arn": function_arn}, ConsistentRead=True).get("Item")
                if item is None:  # released in between: try once more
                    return take(function_arn)
                return Holder(item["repository"], int(item["build_no"]), item["execution_arn"])

        arns = [f.function_arn for f in deployment.functions]
        results = fan_out(take, arns, rate=0)
        errors = [r for r in results if isinstance(r, BaseException)]
        conflicts = {
            arn.rsplit(":", 1)[1]: result
            for arn, result in zip(arns, results, strict=True)
            if isinstance(result, Holder)
        }
        if errors or conflicts:
            self.release(deployment)
        if errors:
            raise errors[0]
        return conflicts

    def release(self, deployment: Deployment) -> None:
        """Release the locks this deployment holds (and only those)."""

        def drop(function_arn: str) -> None:
            try:
                self._table.delete_item(
                    Key={"function_arn": function_arn},
                    ConditionExpression="execution_arn = :me",
                    ExpressionAttributeValues={":me": deployment.execution_arn},
                )
            except ClientError as error:
                if error.response["Error"]["Code"] != "ConditionalCheckFailedException":
                    raise

        failures = [r for r in fan_out(drop, [f.function_arn for f in deployment.functions], rate=0) if r]
        if failures:
            raise failures[0]

    def take_over(self, function_arn: str, dead_execution_arn: str) -> None:
        """Drop a lock its (no longer running) execution left behind; a lock taken since is kept."""
        try:
            self._table.delete_item(
                Key={"function_arn": function_arn},
                ConditionExpression="execution_arn = :dead",
                ExpressionAttributeValues={":dead": dead_execution_arn},
            )
        except ClientError as error:
            if error.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise

    def held(self) -> dict[str, Holder]:
        """Every lock of the table, {function ARN: holder}: one item per function a deployment holds, read
        a page at a time (the sweeper's scan)."""
        found: dict[str, Holder] = {}
        arguments: dict[str, Any] = {
            "ProjectionExpression": "function_arn, repository, build_no, execution_arn",
            "ConsistentRead": True,
        }
        while True:
            page = self._table.scan(**arguments)
            for item in page.get("Items", []):
                found[item["function_arn"]] = Holder(item["repository"], int(item["build_no"]), item["execution_arn"])
            if "LastEvaluatedKey" not in page:
                return found
            arguments["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def held_by(self, deployment: Deployment) -> list[str]:
        """The functions of `deployment` whose lock is held by someone (any execution)."""
        return [
            f.name
            for f in deployment.functions
            if self._table.get_item(Key={"function_arn": f.function_arn}, ConsistentRead=True).get("Item")
        ]

    def holders(self, deployment: Deployment) -> dict[str, Holder]:
        """{function name: holder} of the functions of `deployment` whose lock someone holds."""

        def holder(function_arn: str) -> Holder | None:
            item = self._table.get_item(Key={"function_arn": function_arn}, ConsistentRead=True).get("Item")
            return Holder(item["repository"], int(item["build_no"]), item["execution_arn"]) if item else None

        results = fan_out(holder, [f.function_arn for f in deployment.functions], rate=0)
        errors = [r for r in results if isinstance(r, BaseException)]
        if errors:
            raise errors[0]
        return {
            target.name: result
            for target, result in zip(deployment.functions, results, strict=True)
            if isinstance(result, Holder)
        }
