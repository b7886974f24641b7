"""A fleet of 70 functions in one execution: the normal size of a service."""

from __future__ import annotations

import json

from canary_testing.browser import open_and_submit

FLEET_SIZE = 70


def test_seventy_functions_shift_and_promote_together(make_fleet):
    fleet = make_fleet(FLEET_SIZE)
    execution = fleet.start(weight=0.25)
    links = fleet.links()
    assert fleet.aliases() == {name: ("1", {"2": 0.25}) for name in fleet.names}

    assert open_and_submit(links["approve"]).status_code == 200
    ended = fleet.wait(execution)

    assert ended["status"] == "SUCCEEDED"
    assert len(json.loads(ended["output"])["functions"]) == FLEET_SIZE
    assert fleet.aliases() == {name: ("2", {}) for name in fleet.names}


def test_seventy_functions_roll_back_together(make_fleet):
    fleet = make_fleet(FLEET_SIZE)
    execution = fleet.start()

    assert open_and_submit(fleet.links()["rollback"]).status_code == 200
    ended = fleet.wait(execution)

    assert ended["error"] == "Canary.RolledBack"
    assert fleet.aliases() == {name: ("1", {}) for name in fleet.names}
