"""The local runtime's Invoke on patched moto: an alias sends each invocation to the version its weights pick
and says which version ran, as AWS does (gaps 5 and 6 of lambda_canary.local.moto_patches)."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from canary_testing.fleet import create_function_with_alias, ship_code
from lambda_canary.local import moto_patches


@pytest.fixture
def canary(lam):
    """orders-api: version 1 (build 1) and version 2 (build 2) published, alias live on version 1."""
    create_function_with_alias(lam, "orders-api")
    ship_code(lam, "orders-api", 2)
    assert lam.publish_version(FunctionName="orders-api")["Version"] == "2"
    return "orders-api"


def route(lam, weights):
    lam.update_alias(
        FunctionName="orders-api", Name="live", FunctionVersion="1", RoutingConfig={"AdditionalVersionWeights": weights}
    )


def runs(lam, count, **target):
    """{(build the handler returned, ExecutedVersion): invocations} over `count` invocations."""
    seen = Counter()
    for _ in range(count):
        response = lam.invoke(**target)
        seen[(json.loads(response["Payload"].read())["build"], response["ExecutedVersion"])] += 1
    return seen


@pytest.mark.parametrize(
    ("weights", "expected"),
    [({}, {(1, "1"): 20}), ({"2": 0.0}, {(1, "1"): 20}), ({"2": 1.0}, {(2, "2"): 20})],
)
def test_an_alias_without_a_share_runs_its_main_version_and_a_full_share_the_new_one(canary, lam, weights, expected):
    # given alias live with no additional weight, a zero weight, or the whole share on version 2
    route(lam, weights)

    # when it is invoked twenty times, then every invocation runs the version the weights leave no doubt about
    assert runs(lam, 20, FunctionName="orders-api:live") == expected


def test_a_canary_weight_sends_that_share_of_invocations_to_the_new_version(canary, lam):
    # given alias live on version 1 with 10% on version 2, and a seeded draw
    route(lam, {"2": 0.1})
    moto_patches.ROUTING_RANDOM.seed(760)

    # when it is invoked a thousand times
    seen = runs(lam, 1000, FunctionName="orders-api:live")

    # then about a tenth ran build 2 (binomial: 100 expected, 70..130 is beyond four standard deviations)
    assert set(seen) == {(1, "1"), (2, "2")}
    assert 70 <= seen[(2, "2")] <= 130


@pytest.mark.parametrize(
    "target",
    [
        {"FunctionName": "orders-api", "Qualifier": "live"},
        {"FunctionName": "arn:aws:lambda:us-east-1:123456789012:function:orders-api:live"},
        {"FunctionName": "arn:aws:lambda:us-east-1:123456789012:function:orders-api", "Qualifier": "live"},
        {"FunctionName": "123456789012:function:orders-api:live"},
    ],
)
def test_the_alias_is_found_however_the_caller_names_it(canary, lam, target):
    # given alias live with the whole share on version 2
    route(lam, {"2": 1.0})

    # when it is invoked by name and Qualifier, by its ARN, by the function's ARN and Qualifier, or a partial ARN
    # then the alias's routing applies
    assert runs(lam, 3, **target) == {(2, "2"): 3}


def test_a_version_or_no_qualifier_runs_that_version_or_latest(canary, lam):
    # given build 3 uploaded to $LATEST (not published), alias live fully on version 2
    ship_code(lam, "orders-api", 3)
    route(lam, {"2": 1.0})

    # when version 1, then the bare function are invoked
    # then the version asked for runs, and $LATEST without a qualifier: no alias is involved
    assert runs(lam, 2, FunctionName="orders-api", Qualifier="1") == {(1, "1"): 2}
    assert runs(lam, 2, FunctionName="orders-api") == {(3, "$LATEST"): 2}
