"""The deployments table: one item per deployment (repository + build number) and its breadcrumb trail.

Every step of a deployment appends an event to the item's `trail`; the first decision is written with a
conditional update so that exactly one decision wins.
"""

from __future__ import annotations

import time
from datetime import datetime
from decimal import Decimal
from typing import Any, cast

from boto3.dynamodb.conditions import Attr, Key
from botocore.exceptions import ClientError

from canary_core.errors import InvalidInput
from canary_core.model import PROMOTED, REVERTED, SHIFTING, WAITING, Decision, Deployment

EVIDENCE = "step, analysis, deployment.steps"  # what the audit shows of a deployment's schedule and analysis
MAX_BATCH_ATTEMPTS = 6  # a row whose keys stay unprocessed after these shows no step or analysis
KIND = "deployment"  # every item's `kind`: the partition of the ByStartTime index, newest first
BY_START_TIME = "ByStartTime"
MAX_TRAIL_EVENTS = 200  # a DynamoDB item holds 400 KB at most
LISTED_VERSIONS = 50  # functions whose versions the item lists for the pages (all of them: the functions table)
# Counted, not appended to the trail: clicks after the decision, presses by someone not allowed to decide
LATE_DECISIONS, REFUSED_PRESSES = "late_decisions", "refused_presses"
IGNORED_COUNTERS = (LATE_DECISIONS, REFUSED_PRESSES)


class DeploymentsTable:
    def __init__(self, table: Any) -> None:
        self._table = table  # a boto3 DynamoDB Table resource

    def get(self, repository: str, build_no: int) -> dict[str, Any] | None:
        item = self._table.get_item(Key=_key(repository, build_no), ConsistentRead=True).get("Item")
        return cast(dict[str, Any], _plain(item)) if item else None

    def open(self, deployment: Deployment, now: datetime) -> None:
        """Claim the build: one deployment per repository and build number."""
        item = {
            **_key(deployment.repository, deployment.build_no),
            "execution_arn": deployment.execution_arn,
            "kind": KIND,
            "status": SHIFTING,
            "alias": deployment.alias,
            "weight": Decimal(str(deployment.weight)),
            "pre_approve": deployment.pre_approve,
            "started_at": now.isoformat(),
            "functions": deployment.function_count,  # how many (the functions themselves: canary_core.targets)
            "trail": [_event(now, "started", execution_arn=deployment.execution_arn)],
        }
        if deployment.build_url:
            item["build_url"] = deployment.build_url
        if deployment.irreversible:
            item["irreversible"] = True  # the pages say a roll back will not undo its data changes
        try:
            # The same execution may open again (a retried step); another execution may not.
            self._table.put_item(
                Item=item,
                ConditionExpression="attribute_not_exists(repository) OR execution_arn = :me",
                ExpressionAttributeValues={":me": deployment.execution_arn},
            )
        except ClientError as error:
            if error.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
            existing = self.get(deployment.repository, deployment.build_no) or {}
            raise InvalidInput(
                [
                    f"build_no: {deployment.title} was already deployed by execution "
                    f"{existing.get('execution_arn', '?')} (status {existing.get('status', '?')}); "
                    "deploy a new build number"
                ]
            ) from error

    def recent(self, repository: str | None, limit: int, before: str | int | None = None) -> list[dict[str, Any]]:
        """Deployments newest first, a page at a time. One repository's by its key, highest build first
        (`before`: a build number); every repository's by the ByStartTime index (`before`: a start time).
        Only what the audit shows is read."""
        if repository:
            condition: Any = Key("repository").eq(repository)
            if before is not None:
                condition = condition & Key("build_no").lt(int(before))
            index: dict[str, str] = {}
        else:
            condition = Key("kind").eq(KIND)
            if before is not None:
                condition = condition & Key("started_at").lt(str(before))
            index = {"IndexName": BY_START_TIME}
        items = self._table.query(
            KeyConditionExpression=condition,
            ScanIndexForward=False,
            Limit=limit,
            ProjectionExpression="repository, build_no, build_url, #status, started_at, finished_at, "
            "#functions, decision, outcome, execution_arn" + ("" if index else f", {EVIDENCE}"),
            ExpressionAttributeNames={"#status": "status", "#functions": "functions"},
            **index,
        )["Items"]
        rows = [cast(dict[str, Any], _plain(item)) for item in items]
        return self._with_evidence(rows) if index else rows

    def promoted_since(self, promoted_after: str, started_after: str) -> list[dict[str, Any]]:
        """Every repository's deployments promoted (finished_at) after `promoted_after` that started after
        `started_after` (the ByStartTime index), newest promotion first: repository, build_no, finished_at."""
        arguments: dict[str, Any] = {
            "IndexName": BY_START_TIME,
            "KeyConditionExpression": Key("kind").eq(KIND) & Key("started_at").gte(started_after),
            "FilterExpression": Attr("status").eq(PROMOTED) & Attr("finished_at").gte(promoted_after),
            "ProjectionExpression": "repository, build_no, finished_at",
        }
        found: list[dict[str, Any]] = []
        while True:
            page = self._table.query(**arguments)
            found.extend(cast(dict[str, Any], _plain(item)) for item in page["Items"])
            if "LastEvaluatedKey" not in page:
                break
            arguments["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        return sorted(found, key=lambda item: str(item["finished_at"]), reverse=True)

    def record_revert(self, repository: str, build_no: int, now: datetime, revert: dict[str, Any]) -> None:
        """A revert of a promoted deployment: its outcome (who, what moved, what was refused) kept on the item
        and in the trail; the status becomes REVERTED once any alias moved back."""
        moved = bool(revert.get("moved"))
        event = "reverted" if moved and not revert.get("refused") else "reverted in part" if moved else "revert refused"
        update = "SET revert = :revert, trail = list_append(trail, :event)"
        values: dict[str, Any] = {
            ":revert": _dynamo(revert),
            ":event": [_event(now, event, **revert)],
            ":promoted": PROMOTED,
            ":reverted": REVERTED,
        }
        if moved:
            update += ", #status = :reverted"
        self._table.update_item(
            Key=_key(repository, build_no),
            UpdateExpression=update,
            ConditionExpression="#status IN (:promoted, :reverted)",  # a revert never rewrites another ending
            ExpressionAttributeNames={"#status": "status"},
            ExpressionAttributeValues=values,
        )

    def _with_evidence(self, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The step and the latest analysis of each row, which the ByStartTime index does not hold (an index's
        projection cannot change in place): read by key, 100 at a time."""
        found: dict[tuple[str, int], dict[str, Any]] = {}
        for start in range(0, len(rows), 100):
            keys = [_key(row["repository"], row["build_no"]) for row in rows[start : start + 100]]
            request = {self._table.name: {"Keys": keys, "ProjectionExpression": f"repository, build_no, {EVIDENCE}"}}
            for attempt in range(MAX_BATCH_ATTEMPTS):
                if not request:
                    break
                if attempt:  # keys DynamoDB left unprocessed (throttled): asked again after a backoff, as AWS advises
                    time.sleep(0.05 * 2**attempt)
                answer = self._table.meta.client.batch_get_item(RequestItems=request)
                for item in answer["Responses"].get(self._table.name, []):
                    plain = cast(dict[str, Any], _plain(item))
                    found[(plain["repository"], int(plain["build_no"]))] = plain
                request = answer.get("UnprocessedKeys") or {}
        return [{**found.get((row["repository"], int(row["build_no"])), {}), **row} for row in rows]

    def remember_message(self, repository: str, build_no: int, ref: dict[str, str]) -> None:
        """The first message posted about a deployment (the request): the one to update at its end."""
        self._table.update_item(
            Key=_key(repository, build_no),
            UpdateExpression="SET slack_message = if_not_exists(slack_message, :ref)",
            ExpressionAttributeValues={":ref": ref},
        )

    def note_pinned(self, deployment: Deployment, now: datetime) -> None:
        """Say in the trail which aliases ran $LATEST and are pinned to the new version (no earlier version
        to split traffic with, or to return to but $LATEST)."""
        pinned = [f.name for f in deployment.functions if f.pinned_from_latest and not f.unchanged]
        if pinned:
            event = "pinned to the new version: first deployment, no earlier version than $LATEST"
            self.note(deployment.repository, deployment.build_no, now, event, functions=pinned)

    def save_state(self, deployment: Deployment) -> None:
        """Say that traffic may move from now on, keeping the deployment's state (its functions and their
        versions are in the functions table): Clean Up rolls back from it if the execution dies."""
        self._table.update_item(
            Key=_key(deployment.repository, deployment.build_no),
            UpdateExpression="SET deployment = :deployment",
            ExpressionAttributeValues={":deployment": _dynamo(deployment.to_state())},
        )

    def await_decision(self, deployment: Deployment, expires_at: int, now: datetime) -> None:
        functions = [
            {"name": f.name, "old_version": f.old_version, "new_version": f.new_version or ""}
            for f in deployment.functions[:LISTED_VERSIONS]
        ]
        self._table.update_item(
            Key=_key(deployment.repository, deployment.build_no),
            UpdateExpression=(
                "SET #status = :waiting, expires_at = :expires, "
                "function_versions = :functions, trail = list_append(trail, :event)"
            ),
            ExpressionAttributeNames={"#status": "status"},
            ExpressionAttributeValues={
                ":waiting": WAITING,
                ":expires": expires_at,
                ":functions": functions,
                ":event": [_event(now, "waiting for a decision", expires_at=expires_at)],
            },
        )

    def store_token(self, repository: str, build_no: int, task_token: str) -> dict[str, Any]:
        """The token of the task that waits now (a new one after each reminder). Returns the item."""
        result = self._table.update_item(
            Key=_key(repository, build_no),
            UpdateExpression="SET task_token = :token",
            ExpressionAttributeValues={":token": task_token},
            ReturnValues="ALL_NEW",
        )
        return cast(dict[str, Any], _plain(result["Attributes"]))

    def record_decision(self, repository: str, build_no: int, decision: Decision) -> tuple[bool, dict[str, Any]]:
        """Write the decision if none was made yet. Returns (this decision won, the item after the attempt)."""
        # On the step it names: a decision on an earlier step (a late click) decides nothing later
        on_step = "(attribute_not_exists(step) OR step = :step)" if decision.step == 0 else "step = :step"
        try:
            result = self._table.update_item(
                Key=_key(repository, build_no),
                UpdateExpression="SET decision = :decision, trail = list_append(trail, :event)",
                ConditionExpression=f"attribute_not_exists(decision) AND #status = :waiting AND {on_step}",
                ExpressionAttributeNames={"#status": "status"},
                ExpressionAttributeValues={
                    ":decision": decision.as_item(),
                    ":waiting": WAITING,
                    ":step": decision.step,
                    ":event": [_event_at(decision.decided_at, f"decision: {decision.action}", **decision.as_item())],
                },
                ReturnValues="ALL_NEW",
            )
            return True, cast(dict[str, Any], _plain(result["Attributes"]))
        except ClientError as error:
            if error.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
            return False, self.get(repository, build_no) or {}

    def open_step(self, deployment: Deployment, step: int, now: datetime) -> bool:
        """The deployment moves from step `step - 1` (decided: approve) to `step`: its decision is kept in the
        trail and cleared for the new step. False when the table is already past it (a retried task)."""
        weight = deployment.steps[step].weight
        from_first = step == 1  # items hold no step until the second one opens
        try:
            self._table.update_item(
                Key=_key(deployment.repository, deployment.build_no),
                UpdateExpression="SET step = :step, weight = :weight, trail = list_append(trail, :event) "
                "REMOVE decision, analysis",
                ConditionExpression=("attribute_not_exists(step) OR " if from_first else "") + "step = :previous",
                ExpressionAttributeValues={
                    ":step": step,
                    ":previous": step - 1,
                    ":weight": Decimal(str(weight)),
                    ":event": [_event(now, f"step {step + 1} of {len(deployment.steps)}: new version at {weight:.0%}")],
                },
            )
        except ClientError as error:
            if error.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
            return False
        return True

    def record_analysis(
        self, repository: str, build_no: int, analysis: dict[str, Any], now: datetime, changed: bool
    ) -> None:
        """Keep the latest comparison of the new version with the old (the pages show it); a verdict that
        changed is also written to the trail, with its figures."""
        update, values = "SET analysis = :analysis", {":analysis": _dynamo(analysis)}
        if changed:
            update += ", trail = list_append(trail, :event)"
            event = f"analysis: {analysis['verdict']}"
            values[":event"] = [_event(now, event, reason=analysis.get("summary", ""))]
        self._table.update_item(
            Key=_key(repository, build_no), UpdateExpression=update, ExpressionAttributeValues=values
        )

    def withdraw_decision(self, repository: str, build_no: int, decision: Decision, now: datetime, reason: str) -> None:
        """Take back a decision that could not be delivered (only that one: a later decision stays)."""
        self._table.update_item(
            Key=_key(repository, build_no),
            UpdateExpression="REMOVE decision SET trail = list_append(trail, :event)",
            ConditionExpression="decision.decided_at = :at",
            ExpressionAttributeValues={
                ":at": decision.decided_at,
                ":event": [_event(now, f"decision withdrawn: {decision.action}", reason=reason)],
            },
        )

    def count_ignored(self, repository: str, build_no: int, counter: str, now: datetime, **details: Any) -> None:
        """Count what anyone outside can cause again and again (a late click, a refused press) instead of
        appending it to the trail: a flood changes one number, never the trail. The last one's details are
        kept. An unknown deployment is left alone (no item is created)."""
        if counter not in IGNORED_COUNTERS:
            raise ValueError(f"unknown counter {counter!r}; one of {', '.join(IGNORED_COUNTERS)}")
        try:
            self._table.update_item(
                Key=_key(repository, build_no),
                UpdateExpression="ADD #count :one SET #last = :last",
                ConditionExpression="attribute_exists(repository)",
                ExpressionAttributeNames={"#count": counter, "#last": f"last_of_{counter}"},
                ExpressionAttributeValues={":one": 1, ":last": _event(now, counter.replace("_", " "), **details)},
            )
        except ClientError as error:
            if error.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise

    def note_unless_full(self, repository: str, build_no: int, now: datetime, event: str, **details: Any) -> None:
        """`note` for what repeats on its own (a sweep failing every five minutes, pruning after every
        ending): once the trail holds MAX_TRAIL_EVENTS events, such events are dropped, so it cannot outgrow
        the item."""
        try:
            self._table.update_item(
                Key=_key(repository, build_no),
                UpdateExpression="SET trail = list_append(trail, :event)",
                ConditionExpression="size(trail) < :most",
                ExpressionAttributeValues={":event": [_event(now, event, **details)], ":most": MAX_TRAIL_EVENTS},
            )
        except ClientError as error:
            if error.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise

    def note(self, repository: str, build_no: int, now: datetime, event: str, **details: Any) -> None:
        """Append one event to the trail (a late click, a Slack failure, an undelivered decision)."""
        self._table.update_item(
            Key=_key(repository, build_no),
            UpdateExpression="SET trail = list_append(trail, :event)",
            ExpressionAttributeValues={":event": [_event(now, event, **details)]},
        )

    def mark_undelivered(self, repository: str, build_no: int, now: datetime, problem: str) -> None:
        """The recorded decision never reached the execution: say so on the decision and in the trail."""
        self._table.update_item(
            Key=_key(repository, build_no),
            UpdateExpression="SET decision.delivered = :no, trail = list_append(trail, :event)",
            ExpressionAttributeValues={
                ":no": False,
                ":event": [_event(now, "decision not delivered", reason=problem)],
            },
        )

    def record_outcome(self, deployment: Deployment, outcome: dict[str, Any], now: datetime) -> None:
        self._table.update_item(
            Key=_key(deployment.repository, deployment.build_no),
            UpdateExpression=(
                "SET #status = :status, outcome = :outcome, finished_at = :now, "
                "trail = list_append(trail, :event) REMOVE task_token"
            ),
            ExpressionAttributeNames={"#status": "status"},
            ExpressionAttributeValues={
                ":status": outcome["status"],
                ":outcome": _dynamo(outcome),
                ":now": now.isoformat(),
                ":event": [_event(now, f"outcome: {outcome['status']}", cause=outcome.get("cause", ""))],
            },
        )


# Codes people read in a trail event ("outcome: ROLLED_BACK") or a verdict ("not_enough_traffic"), in words
CODE_WORDS = {"PROMOTED": "promoted", "ROLLED_BACK": "rolled back", "FAILED": "failed", "REVERTED": "reverted"}
CODED_EVENTS = ("analysis", "outcome")  # the events whose text after "<kind>: " is a code


def code_words(code: str) -> str:
    """A stored code in words: "not_enough_traffic" reads "not enough traffic", "ROLLED_BACK" "rolled back"."""
    return CODE_WORDS.get(code, code.replace("_", " "))


def event_words(event: str) -> str:
    """A trail event as people read it (pages, Slack, the demo): "analysis: not enough traffic". The stored
    event keeps its code: the traffic chart and the JSON read it."""
    kind, sep, code = event.partition(": ")
    return f"{kind}: {code_words(code)}" if sep and kind in CODED_EVENTS else event


def function_count(item: dict[str, Any]) -> int:
    """How many functions a deployment item's deployment has (items written before the functions table
    list their names)."""
    functions = item.get("functions")
    return functions if isinstance(functions, int) else len(functions or [])


def _key(repository: str, build_no: int) -> dict[str, Any]:
    return {"repository": repository, "build_no": build_no}


def _event(now: datetime, event: str, **details: Any) -> dict[str, Any]:
    return _event_at(now.isoformat(), event, **details)


def _event_at(at: str, event: str, **details: Any) -> dict[str, Any]:
    return cast(
        dict[str, Any], _dynamo({"at": at, "event": event, **{k: v for k, v in details.items() if v is not None}})
    )


def _dynamo(value: Any) -> Any:
    """DynamoDB wants Decimal, not float."""
    if isinstance(value, float):
        return Decimal(str(value))
    if isinstance(value, dict):
        return {k: _dynamo(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_dynamo(v) for v in value]
    return value


def _plain(value: Any) -> Any:
    """Back from DynamoDB: Decimal to int or float."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value
