"""canary_core.targets.FunctionsTable on moto: a deployment's functions, kept beside its state, any number."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from canary_core.model import Deployment, FunctionTarget
from canary_core.targets import CHUNK

ARN = "arn:aws:lambda:us-east-1:123456789012:function:"
SHA = "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="


def fleet(count: int) -> list[FunctionTarget]:
    """`count` functions with 64-character names (Lambda's longest), published, each with the code CI built."""
    names = [f"{index:04d}-".ljust(64, "x") for index in range(count)]
    return [FunctionTarget(name, ARN + name, "41", "42", SHA) for name in names]


def test_the_functions_read_back_as_saved_in_order(functions_table, make_deployment):
    # given a deployment of 3 functions, one pinned from $LATEST and one not published yet
    targets = [
        FunctionTarget("orders-api", ARN + "orders-api", "1", "2", SHA),
        FunctionTarget("payments", ARN + "payments", "$LATEST", "1"),
        FunctionTarget("search", ARN + "search", "7"),
    ]
    deployment = make_deployment(functions=targets)

    # when they are saved, and the deployment the state names (no functions) is loaded
    functions_table.save(deployment)
    loaded = functions_table.load(Deployment.from_state(deployment.to_state()))

    # then it is the same deployment, functions and all
    assert loaded == deployment


def test_a_later_save_replaces_the_versions(functions_table, make_deployment):
    # given a deployment saved by Validate Input (old versions only)
    opened = make_deployment(functions=[FunctionTarget("orders-api", ARN + "orders-api", "1")])
    functions_table.save(opened)

    # when Publish Versions saves the new version
    published = opened.with_functions([replace(opened.functions[0], new_version="2")])
    functions_table.save(published)

    # then the new version is read back
    assert functions_table.load(Deployment.from_state(opened.to_state())).functions[0].new_version == "2"


def test_a_thousand_functions_leave_the_state_small_and_every_item_within_dynamodbs_limit(
    functions_table, functions_dynamodb_table, make_deployment
):
    # given a deployment of 1,000 functions with 64-character names
    deployment = make_deployment(functions=fleet(1000))

    # when it is saved
    functions_table.save(deployment)

    # then the state names none of them
    assert len(json.dumps(deployment.to_state())) < 1_000
    # and they are kept a chunk per item, each far below DynamoDB's 400 KB
    items = functions_dynamodb_table.scan()["Items"]
    assert len(items) == 1000 // CHUNK
    assert max(len(json.dumps(item["functions"], default=str)) for item in items) < 200_000
    # and they all read back, in order
    loaded = functions_table.load(Deployment.from_state(deployment.to_state()))
    assert loaded.functions == deployment.functions


def test_functions_missing_from_the_table_are_an_error_not_a_smaller_deployment(functions_table, make_deployment):
    # given the state of a deployment of 1 function, whose functions were never saved
    deployment = make_deployment()

    # when it is loaded
    # then the load fails, naming the deployment, rather than returning a deployment of no function
    with pytest.raises(RuntimeError, match=r"my-app build 760: 0 of its 1 functions found"):
        functions_table.load(Deployment.from_state(deployment.to_state()))


def test_recording_new_versions_writes_those_functions_only(functions_table, make_deployment):
    # given 150 functions saved by Validate Input (two chunks), and an attempt of Publish And Shift that
    # recorded version 2 of functions 10 and 120
    opened = make_deployment(functions=[replace(t, new_version=None) for t in fleet(150)])
    functions_table.save(opened)
    first = opened.with_functions(
        [replace(t, new_version="2") if i in (10, 120) else t for i, t in enumerate(opened.functions)]
    )
    functions_table.record_new_versions(first, {10, 120})

    # when a second attempt, which loaded before that, records function 11 from its own (older) copy
    second = opened.with_functions(
        [replace(t, new_version="2") if i == 11 else t for i, t in enumerate(opened.functions)]
    )
    functions_table.record_new_versions(second, {11})

    # then all three new versions are kept, and no other function has one
    loaded = functions_table.load(Deployment.from_state(opened.to_state()))
    assert {i for i, t in enumerate(loaded.functions) if t.new_version} == {10, 11, 120}
    assert loaded.functions[10].new_version == "2" and loaded.functions[11].new_version == "2"
