"""One deployment per function at a time; supersede; clean-up of executions that end outside the workflow."""

from __future__ import annotations

import json
import time

from canary_testing.browser import open_and_submit
from lambda_canary.local import faults
from lambda_canary.local.events import status_change_event


def test_second_deployment_of_a_busy_function_names_the_running_one(make_fleet):
    # given a canary of build 2 waiting for a decision
    fleet = make_fleet(3)
    first = fleet.start()
    links = fleet.links()

    # when build 3 of one of its functions starts
    fleet.build_no = 3
    second = fleet.wait(fleet.start(functions=[fleet.names[1]]))

    # then it fails at validation naming the running deployment and the fix; the canary is untouched
    assert second["error"] == "Canary.InvalidInput"
    assert f"{fleet.repository} build 2" in second["cause"] and first.rsplit(":", 1)[1] in second["cause"]
    assert '"supersede": true' in second["cause"]
    assert fleet.aliases() == {name: ("1", {"2": 0.1}) for name in fleet.names}

    fleet.build_no = 2
    open_and_submit(links["approve"])
    assert fleet.wait(first)["status"] == "SUCCEEDED"


def test_supersede_rolls_the_older_deployment_back_first(make_fleet):
    fleet = make_fleet(2)
    first = fleet.start()
    fleet.links()

    # when build 3 starts with "supersede": true
    fleet.build_no = 3
    for name in fleet.names:
        from canary_testing.fleet import ship_code

        ship_code(fleet.lam, name, 3)
    second = fleet.start(supersede=True, pre_approve=True)

    # then build 2 is rolled back, naming its successor, and build 3 is promoted
    older = fleet.wait(first)
    assert older["error"] == "Canary.RolledBack" and f"superseded by {fleet.repository} build 3" in older["cause"]
    assert fleet.wait(second)["status"] == "SUCCEEDED"
    assert fleet.aliases() == {name: ("3", {}) for name in fleet.names}


def test_locks_are_released_on_every_ending(make_fleet):
    # promoted, rolled back, failed, timed out: after each, the same functions can be deployed again
    fleet = make_fleet(2)
    endings = [
        ("pre-approved", {"pre_approve": True}),
        ("timed out", {"approval_timeout_seconds": 1}),
        ("failed", {"weight": 0.2, "pre_approve": True, "functions": [*fleet.names]}),
    ]
    for build, (_, overrides) in enumerate(endings, start=2):
        fleet.build_no = build
        if build == 4:
            faults.arm("UpdateAlias", fleet.names[0], times=1)
        ended = fleet.wait(fleet.start(**overrides))
        assert ended["status"] in {"SUCCEEDED", "FAILED"}
    fleet.build_no = 5
    assert fleet.wait(fleet.start(pre_approve=True))["status"] == "SUCCEEDED"


def test_an_execution_stopped_from_the_console_is_cleaned_up(make_fleet, runtime):
    # given a canary waiting for a decision
    fleet = make_fleet(3)
    execution = fleet.start()
    fleet.links()

    # when it is stopped from the console
    fleet.sfn.stop_execution(executionArn=execution, error="Operator", cause="stopped from the console")

    # then it is ABORTED, and the template's EventBridge rule runs Clean Up: every alias back, the ending
    # recorded, the locks free (the invariant check after the test reads those)
    assert fleet.wait(execution)["status"] == "ABORTED"
    deadline = time.monotonic() + 30
    while (fleet.item() or {}).get("status") != "ROLLED_BACK":
        assert time.monotonic() < deadline, "Clean Up did not record the ending"
        time.sleep(0.1)
    assert fleet.aliases() == {name: ("1", {}) for name in fleet.names}
    assert "ABORTED" in fleet.item()["outcome"]["cause"]

    # and the same event delivered again (EventBridge delivers at least once) changes nothing
    event = status_change_event(fleet.sfn.describe_execution(executionArn=execution))
    again = _clean_up(fleet, runtime, event["detail"])
    assert again == {"cleaned": True, "rolled_back": False, "execution_status": "ABORTED"}


def test_code_other_than_what_ci_built_is_refused(make_fleet):
    fleet = make_fleet(2)
    actual = fleet.lam.get_function_configuration(FunctionName=fleet.names[0])["CodeSha256"]
    functions = [
        {"name": fleet.names[0], "code_sha256": actual},
        {"name": fleet.names[1], "code_sha256": "A" * 43 + "="},
    ]

    ended = fleet.wait(fleet.start(functions=functions))

    assert ended["error"] == "Canary.InvalidInput"
    assert "is not the code CI built" in ended["cause"] and fleet.names[1] in ended["cause"]
    assert fleet.names[0] not in ended["cause"]
    assert fleet.aliases() == {name: ("1", {}) for name in fleet.names}


def test_code_ci_built_is_deployed(make_fleet):
    fleet = make_fleet(2)
    functions = [
        {"name": name, "code_sha256": fleet.lam.get_function_configuration(FunctionName=name)["CodeSha256"]}
        for name in fleet.names
    ]

    assert fleet.wait(fleet.start(functions=functions, pre_approve=True))["status"] == "SUCCEEDED"
    assert fleet.aliases() == {name: ("2", {}) for name in fleet.names}


def test_clean_up_keeps_a_finished_promote_when_only_the_last_step_failed(make_fleet, runtime):
    # given a deployment approved and promoted, whose Record Outcome could not write to the table
    fleet = make_fleet(2)
    execution = fleet.start()
    links = fleet.links()
    deadline = time.monotonic() + 30
    while "task_token" not in (fleet.item() or {}):  # Await Decision has stored its token: no write pending
        assert time.monotonic() < deadline, "the execution never started waiting"
        time.sleep(0.05)
    # (the click's decision is the next write to the table and passes; Record Outcome's write fails)
    faults.arm("UpdateItem", runtime.outputs["DeploymentsTableName"], skip=1, times=100, code="ValidationException")
    open_and_submit(links["approve"])
    deadline = time.monotonic() + 30
    while fleet.aliases() != {name: ("2", {}) for name in fleet.names}:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    ended = fleet.wait(execution)
    faults.clear()
    assert ended["status"] == "FAILED"
    assert fleet.item()["status"] == "WAITING"  # the outcome never reached the table

    # when Clean Up gets the execution's FAILED event
    detail = {"executionArn": execution, "status": "FAILED", "input": ended["input"]}
    result = _clean_up(fleet, runtime, detail)

    # then the promote stands, the outcome is recorded and the locks are free
    assert result["rolled_back"] is False
    assert fleet.aliases() == {name: ("2", {}) for name in fleet.names}
    assert fleet.item()["status"] == "PROMOTED"


def _clean_up(fleet, runtime, detail):
    event = {"detail-type": "Step Functions Execution Status Change", "source": "aws.states", "detail": detail}
    response = fleet.lam.invoke(
        FunctionName=runtime.stack.function_names["CleanUpFunction"], Payload=json.dumps(event).encode()
    )
    assert "FunctionError" not in response
    return json.loads(response["Payload"].read())
