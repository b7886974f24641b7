"""One deployment per function at a time; supersede; clean-up of executions that end outside the workflow."""

from __future__ import annotations

import json
import time

from lambda_canary.browser import open_and_submit
from lambda_canary.local import faults


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
        from lambda_canary.demo import ship_code

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


def test_clean_up_puts_back_an_execution_stopped_from_the_console(make_fleet, runtime):
    # given a canary waiting for a decision, stopped from the console
    fleet = make_fleet(3)
    execution = fleet.start()
    fleet.links()
    fleet.sfn.stop_execution(executionArn=execution, error="Operator", cause="stopped from the console")
    stopped = fleet.sfn.describe_execution(executionArn=execution)
    # (moto does not interrupt a .waitForTaskToken wait on stop: the execution stays RUNNING here, where AWS
    # would mark it ABORTED and send the event below; see the end of the test)

    # when EventBridge delivers the execution's status change to Clean Up (the rule's target on AWS)
    event = {
        "version": "0",
        "id": "315c1398-40ff-a850-213b-158f73e60175",
        "detail-type": "Step Functions Execution Status Change",
        "source": "aws.states",
        "account": "123456789012",
        "time": "2026-11-26T12:00:00Z",
        "region": "us-east-1",
        "resources": [execution],
        "detail": {
            "executionArn": execution,
            "stateMachineArn": runtime.outputs["StateMachineArn"],
            "name": execution.rsplit(":", 1)[1],
            "status": "ABORTED",
            "startDate": 1795690000000,
            "stopDate": 1795690100000,
            "input": stopped["input"],
            "output": None,
            "inputDetails": {"included": True},
            "outputDetails": None,
        },
    }
    response = fleet.lam.invoke(
        FunctionName=runtime.stack.function_names["CleanUpFunction"], Payload=json.dumps(event).encode()
    )
    result = json.loads(response["Payload"].read())

    # then every alias is back, the ending is recorded, the locks are free
    assert "FunctionError" not in response, result
    assert result == {"cleaned": True, "rolled_back": True, "execution_status": "ABORTED"}
    assert fleet.aliases() == {name: ("1", {}) for name in fleet.names}
    item = fleet.item()
    assert item["status"] == "ROLLED_BACK" and "ABORTED" in item["outcome"]["cause"]
    # and a second delivery of the same event changes nothing
    again = json.loads(
        fleet.lam.invoke(
            FunctionName=runtime.stack.function_names["CleanUpFunction"], Payload=json.dumps(event).encode()
        )["Payload"].read()
    )
    assert again["rolled_back"] is False

    # (on AWS the execution is over; here its wait is ended so that it does not outlive the test)
    history = fleet.sfn.get_execution_history(executionArn=execution, reverseOrder=True)["events"]
    scheduled = next(
        e
        for e in history
        if e["type"] == "TaskScheduled" and "task_token" in e["taskScheduledEventDetails"]["parameters"]
    )
    token = json.loads(scheduled["taskScheduledEventDetails"]["parameters"])["Payload"]["task_token"]
    fleet.sfn.send_task_failure(taskToken=token, error="Operator", cause="stopped from the console")
    assert fleet.wait(execution)["status"] == "FAILED"


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
