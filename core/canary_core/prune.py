"""Old versions pruned: Lambda keeps every published version, and a region's code storage (75 GB) fills up
with the versions canaries publish. After a deployment ends, each of its functions keeps its newest
`keep` versions; older ones no alias references (as main version or as an additional version with a
weight) are deleted. $LATEST is never touched. Paced at the control-plane quota like every other step;
a failure is reported, never raised: pruning must not fail a deployment.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from canary_core.fanout import fan_out
from canary_core.model import Deployment
from canary_core.trail import DeploymentsTable

logger = logging.getLogger(__name__)

DEFAULT_KEEP_VERSIONS = 10


@dataclass
class Pruned:
    deleted: dict[str, list[str]] = field(default_factory=dict)  # function name -> versions deleted
    failed: dict[str, str] = field(default_factory=dict)  # function name (or name:version) -> reason

    def as_details(self) -> dict[str, Any]:
        return {
            "deleted": {name: versions for name, versions in sorted(self.deleted.items()) if versions},
            "failed": dict(sorted(self.failed.items())),
        }


def prune_versions(lambda_client: Any, function_arns: Sequence[str], keep: int) -> Pruned:
    """Delete the versions of each function beyond its newest `keep` that no alias references."""
    if keep < 1:
        raise ValueError(f"keep must be at least 1, not {keep}")
    pruned = Pruned()

    def candidates(function_arn: str) -> list[str]:
        versions = [
            version["Version"]
            for page in lambda_client.get_paginator("list_versions_by_function").paginate(FunctionName=function_arn)
            for version in page["Versions"]
            if version["Version"].isdigit()
        ]
        referenced: set[str] = set()
        for page in lambda_client.get_paginator("list_aliases").paginate(FunctionName=function_arn):
            for alias in page["Aliases"]:
                referenced.add(str(alias["FunctionVersion"]))
                referenced.update((alias.get("RoutingConfig") or {}).get("AdditionalVersionWeights") or {})
        older = sorted(versions, key=int, reverse=True)[keep:]
        return [version for version in older if version not in referenced]

    found = fan_out(candidates, function_arns, label="Prune versions (list)")
    deletions: list[tuple[str, str]] = []
    for function_arn, result in zip(function_arns, found, strict=True):
        name = function_arn.rsplit(":", 1)[1]
        if isinstance(result, BaseException):
            pruned.failed[name] = _reason(result)
        else:
            deletions.extend((function_arn, version) for version in result)

    def delete(target: tuple[str, str]) -> None:
        function_arn, version = target
        lambda_client.delete_function(FunctionName=function_arn, Qualifier=version)

    for (function_arn, version), outcome in zip(deletions, fan_out(delete, deletions), strict=True):
        name = function_arn.rsplit(":", 1)[1]
        if isinstance(outcome, BaseException):  # an alias moved onto it meanwhile, say: kept, and said so
            pruned.failed[f"{name}:{version}"] = _reason(outcome)
        else:
            pruned.deleted.setdefault(name, []).append(version)
    return pruned


def _reason(error: BaseException) -> str:
    response = getattr(error, "response", None)
    if isinstance(response, dict) and "Error" in response:
        return f"{response['Error'].get('Code')}: {response['Error'].get('Message')}"
    return f"{type(error).__name__}: {error}"


def prune_after(
    lambda_client: Any, table: DeploymentsTable, deployment: Deployment, keep: int, now: datetime
) -> Pruned | None:
    """Prune the versions of an ended deployment's functions and say so in its trail; never raises."""
    try:
        pruned = prune_versions(lambda_client, [f.function_arn for f in deployment.functions], keep)
        if pruned.deleted or pruned.failed:
            details = pruned.as_details()
            logger.info("old versions pruned", extra=details)
            table.note_unless_full(deployment.repository, deployment.build_no, now, "old versions pruned", **details)
        return pruned
    except Exception:  # pruning must never fail a deployment's ending: logged, tried next time
        logger.exception("pruning old versions of %s failed", deployment.title)
        return None
