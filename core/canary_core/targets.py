"""The functions of a deployment, kept in a table of their own, a chunk of them per item.

The state the workflow carries names the deployment, never its functions: a deployment of 1,000 functions
with 64-character names would pass Step Functions' 256 KB, and its deployment item DynamoDB's 400 KB. Each
step that needs the functions reads them here (one query); the steps that change them write them back
(Validate Input resolves the versions the aliases run, Publish And Shift adds each new one before its alias
moves).
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from boto3.dynamodb.conditions import Key

from canary_core.model import Deployment, FunctionTarget

CHUNK = 100  # functions per item: 100 x (64-character name, 140-character ARN, versions, hash) < 50 KB


class FunctionsTable:
    def __init__(self, table: Any) -> None:
        self._table = table  # a boto3 DynamoDB Table resource; key: execution_arn, chunk

    def save(self, deployment: Deployment) -> None:
        """Write every function of the deployment (old and new versions) for its execution."""
        chunks = [deployment.functions[i : i + CHUNK] for i in range(0, len(deployment.functions), CHUNK)]
        with self._table.batch_writer() as batch:
            for number, chunk in enumerate(chunks):
                batch.put_item(
                    Item={
                        "execution_arn": deployment.execution_arn,
                        "chunk": number,
                        "functions": [_item(target) for target in chunk],
                    }
                )

    def record_new_versions(self, deployment: Deployment, positions: set[int]) -> None:
        """Keep the new version of the functions at `positions`, and nothing else: a retried step running
        beside the first attempt never writes back an older copy of what the other recorded."""
        by_chunk: dict[int, list[int]] = {}
        for position in sorted(positions):
            by_chunk.setdefault(position // CHUNK, []).append(position)
        for number, listed in by_chunk.items():
            values = {f":v{p}": deployment.functions[p].new_version for p in listed}
            self._table.update_item(
                Key={"execution_arn": deployment.execution_arn, "chunk": number},
                UpdateExpression="SET " + ", ".join(f"#functions[{p - number * CHUNK}].#new = :v{p}" for p in listed),
                ConditionExpression="attribute_exists(execution_arn)",  # saved by Validate Input
                ExpressionAttributeNames={"#functions": "functions", "#new": "new_version"},
                ExpressionAttributeValues=values,
            )

    def load(self, deployment: Deployment) -> Deployment:
        """The deployment with its functions, as last saved for its execution."""
        functions: list[FunctionTarget] = []
        arguments: dict[str, Any] = {
            "KeyConditionExpression": Key("execution_arn").eq(deployment.execution_arn),
            "ConsistentRead": True,
        }
        while True:
            page = self._table.query(**arguments)
            for item in page["Items"]:
                functions.extend(FunctionTarget(**target) for target in item["functions"])
            if "LastEvaluatedKey" not in page:
                break
            arguments["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        if len(functions) != deployment.function_count:
            raise RuntimeError(
                f"{deployment.title}: {len(functions)} of its {deployment.function_count} functions found "
                f"in the functions table for {deployment.execution_arn}"
            )
        return deployment.with_functions(functions)


def _item(target: FunctionTarget) -> dict[str, str]:
    return {key: value for key, value in asdict(target).items() if value is not None}
