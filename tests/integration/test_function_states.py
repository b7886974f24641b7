"""Function states on the local runtime, as on AWS: CI's update still in progress when the execution starts,
an update that failed, a new version Pending before it can take traffic."""

from __future__ import annotations

import json

import boto3
import pytest
from botocore.exceptions import WaiterError

from canary_testing.browser import open_and_submit
from lambda_canary.demo import WAITER_CONFIG, sample_code
from lambda_canary.local import function_states


def test_ci_that_starts_the_execution_right_after_its_upload_gets_its_canary(make_fleet):
    # given functions whose build 2 CI uploaded a moment ago, without waiting for the updates to finish
    fleet = make_fleet(3, ship=False)
    for name in fleet.names:
        fleet.lam.update_function_code(FunctionName=name, ZipFile=sample_code(2))
    assert {fleet.lam.get_function(FunctionName=n)["Configuration"]["LastUpdateStatus"] for n in fleet.names} == {
        "InProgress"
    }

    # when the execution starts at once
    execution = fleet.start(weight=0.2)
    links = fleet.links()

    # then Publish Versions waited for each update: every alias sends 20% to version 2 (build 2)
    assert fleet.aliases() == {name: ("1", {"2": 0.2}) for name in fleet.names}
    assert open_and_submit(links["rollback"]).status_code == 200
    assert fleet.wait(execution)["error"] == "Canary.RolledBack"


def test_a_function_whose_update_failed_is_refused_and_nothing_moves(make_fleet):
    # given two functions, the upload of build 2 to the second one failed
    fleet = make_fleet(2, ship=False)
    broken = fleet.names[1]
    function_states.fail_next_update(broken, "The role cannot be assumed.", "InvalidConfiguration")
    for name in fleet.names:
        fleet.lam.update_function_code(FunctionName=name, ZipFile=sample_code(2))
    fleet.lam.get_waiter("function_updated_v2").wait(FunctionName=fleet.names[0], WaiterConfig=WAITER_CONFIG)

    with pytest.raises(WaiterError, match="Failed"):  # what `aws lambda wait function-updated` tells CI
        fleet.lam.get_waiter("function_updated_v2").wait(FunctionName=broken, WaiterConfig=WAITER_CONFIG)

    # when the execution starts all the same
    ended = fleet.wait(fleet.start())

    # then Validate Input refuses it, naming the function and the reason, and no alias moved
    assert (ended["status"], ended["error"]) == ("FAILED", "Canary.InvalidInput")
    assert f"'{broken}' last update failed (InvalidConfiguration: The role cannot be assumed.)" in ended["cause"]
    assert fleet.aliases() == dict.fromkeys(fleet.names, ("1", {}))


def test_a_new_version_pending_for_a_while_gets_traffic_only_once_active(make_fleet):
    # given functions whose new versions are Pending for 3 s after publishing (SnapStart, say), when Lambda
    # refuses to run them
    fleet = make_fleet(2)
    for name in fleet.names:
        function_states.hold_versions_pending(name, 3.0)

    # when the execution starts with the whole canary weight on the new version
    execution = fleet.start(weight=1.0)
    fleet.wait_for_message(1)

    # then by the time approval is requested, every alias's traffic runs on version 2, Active: none is refused
    assert fleet.aliases() == {name: ("1", {"2": 1.0}) for name in fleet.names}
    for name in fleet.names:
        answer = fleet.lam.invoke(FunctionName=f"{name}:live", Payload=b"{}")
        assert (answer["ExecutedVersion"], json.loads(answer["Payload"].read())) == ("2", {"build": 2})
    assert open_and_submit(fleet.links()["approve"]).status_code == 200
    assert fleet.wait(execution)["status"] == "SUCCEEDED"


def test_a_function_whose_new_build_has_another_role_is_refused_before_anything_moves(make_fleet):
    # given two functions, the second one's build 2 deployed with another execution role
    fleet = make_fleet(2)
    other = boto3.client("iam").create_role(RoleName=f"{fleet.names[1]}-new", AssumeRolePolicyDocument="{}")
    fleet.lam.update_function_configuration(FunctionName=fleet.names[1], Role=other["Role"]["Arn"])
    fleet.lam.get_waiter("function_updated_v2").wait(FunctionName=fleet.names[1], WaiterConfig=WAITER_CONFIG)

    # when the execution starts
    ended = fleet.wait(fleet.start())

    # then Validate Input refuses it (Lambda would refuse the weighted alias at Shift Traffic), and no alias moved
    assert (ended["status"], ended["error"]) == ("FAILED", "Canary.InvalidInput")
    assert (
        f"'{fleet.names[1]}' $LATEST runs as role {other['Role']['Arn']}, a different execution role" in ended["cause"]
    )
    assert fleet.aliases() == dict.fromkeys(fleet.names, ("1", {}))
