"""An alias changed by someone else during a canary is never overwritten: it is left and reported."""

from __future__ import annotations

from canary_testing.browser import open_and_submit
from canary_testing.fleet import ship_code


def _hotfix_by_hand(fleet, name):
    """Someone ships build 3 of one function and points its alias at it, outside the workflow."""
    ship_code(fleet.lam, name, 3)
    version = fleet.lam.publish_version(FunctionName=name)["Version"]
    fleet.lam.update_alias(
        FunctionName=name, Name="live", FunctionVersion=version, RoutingConfig={"AdditionalVersionWeights": {}}
    )
    return version


def test_approve_stops_at_an_alias_changed_by_hand_and_puts_the_others_back(make_fleet):
    # given a canary of three functions, and a hotfix pointed at one alias by hand meanwhile
    fleet = make_fleet(3)
    execution = fleet.start()
    links = fleet.links()
    hotfix = _hotfix_by_hand(fleet, fleet.names[0])

    # when the deployment is approved
    open_and_submit(links["approve"])
    ended = fleet.wait(execution)

    # then the hand-set alias is left as it is, the others are put back, and the cause says what changed
    assert ended["status"] == "FAILED" and ended["error"] == "Canary.DeploymentFailed"
    assert fleet.names[0] in ended["cause"] and f"found v{hotfix}" in ended["cause"]
    aliases = fleet.aliases()
    assert aliases[fleet.names[0]] == (hotfix, {})
    assert aliases[fleet.names[1]] == aliases[fleet.names[2]] == ("1", {})


def test_roll_back_leaves_an_alias_changed_by_hand_and_reports_it(make_fleet):
    fleet = make_fleet(3)
    execution = fleet.start()
    links = fleet.links()
    hotfix = _hotfix_by_hand(fleet, fleet.names[2])

    open_and_submit(links["rollback"])
    ended = fleet.wait(execution)

    assert ended["error"] == "Canary.RolledBack"
    assert "Left as someone else set them" in ended["cause"] and fleet.names[2] in ended["cause"]
    assert fleet.aliases() == {fleet.names[0]: ("1", {}), fleet.names[1]: ("1", {}), fleet.names[2]: (hotfix, {})}


def test_a_function_already_in_a_canary_is_refused(make_fleet):
    # given an alias that already sends traffic to another version (a canary started by another tool)
    fleet = make_fleet(2)
    version = fleet.lam.publish_version(FunctionName=fleet.names[1])["Version"]
    fleet.lam.update_alias(
        FunctionName=fleet.names[1], Name="live", RoutingConfig={"AdditionalVersionWeights": {version: 0.5}}
    )

    ended = fleet.wait(fleet.start())

    assert ended["error"] == "Canary.InvalidInput"
    assert "already splits traffic" in ended["cause"] and fleet.names[1] in ended["cause"]
    assert fleet.aliases()[fleet.names[0]] == ("1", {})
    # (the other tool's canary ends: the invariant check after the test expects no weights)
    fleet.lam.update_alias(FunctionName=fleet.names[1], Name="live", RoutingConfig={"AdditionalVersionWeights": {}})
