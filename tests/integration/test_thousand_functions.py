"""1,000 functions with 64-character names in one deployment, every step failing once on the way: the state,
the causes and the items stay within AWS's limits, and the deployment still ends as decided."""

from __future__ import annotations

import json

import pytest

from canary_testing.browser import open_and_submit
from lambda_canary.local import faults

FLEET_SIZE = 1_000
TASKS = (  # every task Lambda of a deployment that is approved
    "ValidateInputFunction",
    "PublishAndShiftFunction",
    "RequestApprovalFunction",
    "AwaitDecisionFunction",
    "PromoteFunction",
    "RecordOutcomeFunction",
)


@pytest.mark.slow
def test_a_thousand_functions_with_every_step_failing_once_are_promoted_together(make_fleet, runtime):
    # given 1,000 functions whose names are 64 characters long, build 2 uploaded
    fleet = make_fleet(FLEET_SIZE, name_length=64)
    assert {len(name) for name in fleet.names} == {64}
    # and every task's invocation failing once as Lambda's service can, and each Lambda API the steps call
    # throttled once for one of the functions
    for task in TASKS:
        faults.arm("Invoke", runtime.stack.function_names[task], code="ServiceException", status=500)
    for api, name in (
        ("GetAlias", fleet.names[17]),
        ("PublishVersion", fleet.names[500]),
        ("UpdateAlias", fleet.names[999]),
    ):
        faults.arm(api, name, code="TooManyRequestsException", message="Rate exceeded", status=429)

    # when CI starts the deployment and it is approved
    execution = fleet.start(weight=0.25)
    fleet.wait_for_message(1, timeout=240)  # the request for a decision: every alias has shifted
    assert fleet.aliases() == {name: ("1", {"2": 0.25}) for name in fleet.names}
    assert open_and_submit(fleet.links()["approve"]).status_code == 200
    ended = fleet.wait(execution)

    # then it is promoted, every alias on version 2 alone
    assert ended["status"] == "SUCCEEDED", ended.get("cause")
    assert fleet.aliases() == {name: ("2", {}) for name in fleet.names}
    # and every fault was met (each step failed once on the way)
    assert [f for f in faults.armed() if f.remaining] == []
    # and the output names the first 100 functions and counts the others
    output = json.loads(ended["output"])
    assert len(output["functions"]) == 100 and output["functions_left_out"] == 900
    # and no state of the execution came near Step Functions' 256 KB
    history = fleet.sfn.get_execution_history(executionArn=execution, maxResults=1000)["events"]
    sizes = [len(e[key]["output"]) for e in history for key in e if key.endswith("ExitedEventDetails")]
    assert sizes and max(sizes) < 16_000
    # and the deployment's item counts its functions and fits DynamoDB's 400 KB with room to spare
    item = fleet.item()
    assert item["functions"] == FLEET_SIZE
    assert len(json.dumps(item, default=str)) < 100_000
