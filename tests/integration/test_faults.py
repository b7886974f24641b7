"""Failures after traffic moved put every alias back before the execution fails."""

from __future__ import annotations

from lambda_canary.browser import open_and_submit
from lambda_canary.local import faults


def test_update_alias_failing_in_the_middle_of_shifting_restores_every_alias(make_fleet):
    # given five functions, the third of which refuses its traffic shift
    fleet = make_fleet(5)
    faults.arm("UpdateAlias", fleet.names[2], times=1, message="Alias update rejected")

    ended = fleet.wait(fleet.start())

    # then the execution fails naming the function, and no alias keeps any weight
    assert ended["status"] == "FAILED"
    assert ended["error"] == "Canary.DeploymentFailed"
    assert fleet.names[2] in ended["cause"] and "Alias update rejected" in ended["cause"]
    assert fleet.aliases() == {name: ("1", {}) for name in fleet.names}
    item = fleet.item()
    assert item["status"] == "ROLLED_BACK"
    assert "put back" in item["outcome"]["cause"]


def test_update_alias_failing_during_promote_restores_every_alias(make_fleet):
    # given a canary waiting for a decision, and one function whose next alias update will be refused
    fleet = make_fleet(4)
    execution = fleet.start()
    links = fleet.links()
    faults.arm("UpdateAlias", fleet.names[1], times=1, message="Alias update rejected")

    # when the deployment is approved
    open_and_submit(links["approve"])
    ended = fleet.wait(execution)

    # then the functions promoted before the failure are put back too: all or nothing
    assert ended["status"] == "FAILED"
    assert ended["error"] == "Canary.DeploymentFailed"
    assert "Promote failed" in ended["cause"] and fleet.names[1] in ended["cause"]
    assert fleet.aliases() == {name: ("1", {}) for name in fleet.names}


def test_publish_failing_changes_no_alias(make_fleet):
    fleet = make_fleet(3)
    faults.arm("PublishVersion", fleet.names[0], times=1, message="Code storage limit exceeded")

    ended = fleet.wait(fleet.start())

    assert ended["error"] == "Canary.DeploymentFailed"
    assert "Code storage limit exceeded" in ended["cause"]
    assert fleet.aliases() == {name: ("1", {}) for name in fleet.names}
