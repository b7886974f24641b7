"""canary_core.prune on moto: after a deployment ends, each function keeps its newest versions and every
version an alias references; older ones are deleted, and a failure never fails the ending."""

from __future__ import annotations

from typing import Any

import pytest
from moto.awslambda.models import LambdaBackend

from canary_core.model import FunctionTarget
from canary_core.prune import prune_after, prune_versions
from lambda_canary.local import moto_patches


@pytest.fixture(autouse=True)
def listed_by_arn(monkeypatch):
    """ListVersionsByFunction and ListAliases by a function's ARN, as AWS answers them (moto gaps patched by
    the local runtime: test_moto_gaps.py)."""
    monkeypatch.setattr(LambdaBackend, "list_versions_by_function", moto_patches._versions_by_name_or_arn)
    monkeypatch.setattr(LambdaBackend, "list_aliases", moto_patches._aliases_by_name_or_arn)


@pytest.fixture
def six_versions(make_function, upload, lambda_client):
    """orders-api with versions 1 to 6: alias live on 6 with 10% on 5, alias pinned on 1."""

    def make(name: str = "orders-api") -> str:
        arn = make_function(name, alias="pinned")
        for build in range(2, 7):
            upload(name, build)
            lambda_client.publish_version(FunctionName=name)
        lambda_client.create_alias(
            FunctionName=name, Name="live", FunctionVersion="6", RoutingConfig={"AdditionalVersionWeights": {"5": 0.1}}
        )
        return arn

    return make


def versions_of(lambda_client: Any, name: str) -> list[str]:
    return [v["Version"] for v in lambda_client.list_versions_by_function(FunctionName=name)["Versions"]]


def test_versions_beyond_the_newest_that_no_alias_references_are_deleted(six_versions, lambda_client):
    # given orders-api with versions 1 to 6, aliases on 6 (with 5 weighted) and on 1
    arn = six_versions()

    # when its versions are pruned, keeping the newest 2
    pruned = prune_versions(lambda_client, [arn], keep=2)

    # then 2, 3 and 4 are deleted; 5 and 6 (newest, and referenced), 1 (referenced) and $LATEST stay
    assert sorted(pruned.deleted["orders-api"]) == ["2", "3", "4"]
    assert pruned.failed == {}
    assert versions_of(lambda_client, "orders-api") == ["$LATEST", "1", "5", "6"]


def test_nothing_is_deleted_while_a_function_has_no_more_than_it_keeps(six_versions, lambda_client):
    arn = six_versions()

    pruned = prune_versions(lambda_client, [arn], keep=10)

    assert pruned.deleted == {} and pruned.failed == {}
    assert versions_of(lambda_client, "orders-api") == ["$LATEST", "1", "2", "3", "4", "5", "6"]


def test_a_function_that_cannot_be_read_is_reported_and_the_others_pruned(six_versions, lambda_client):
    # given orders-api with six versions, and payments, which was deleted meanwhile
    arn = six_versions()
    gone = arn.replace("orders-api", "payments")

    # when both are pruned
    pruned = prune_versions(lambda_client, [gone, arn], keep=2)

    # then orders-api is pruned, and payments is reported with Lambda's reason
    assert sorted(pruned.deleted["orders-api"]) == ["2", "3", "4"]
    assert list(pruned.failed) == ["payments"] and "ResourceNotFoundException" in pruned.failed["payments"]


def test_pruning_after_an_ending_notes_the_trail_and_never_raises(
    six_versions, lambda_client, make_deployment, table, now
):
    # given build 760 of orders-api, ended
    arn = six_versions()
    deployment = make_deployment(functions=[FunctionTarget("orders-api", arn, "5", "6")])
    table.open(deployment, now)

    # when its functions' versions are pruned after the ending
    pruned = prune_after(lambda_client, table, deployment, 2, now)

    # then the trail says what was deleted
    assert pruned is not None
    event = table.get("my-app", 760)["trail"][-1]
    assert event["event"] == "old versions pruned"
    assert sorted(event["deleted"]["orders-api"]) == ["2", "3", "4"]

    # and when Lambda cannot be reached at all, the ending goes on: nothing is raised
    class Unreachable:
        def get_paginator(self, name: str) -> Any:
            raise ConnectionError("Lambda unreachable")

    assert prune_after(Unreachable(), table, deployment, 2, now).failed == {
        "orders-api": "ConnectionError: Lambda unreachable"
    }
