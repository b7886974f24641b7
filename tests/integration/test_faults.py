"""Failures after traffic moved put every alias back before the execution fails."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import parse_qsl

import requests

from canary_testing.browser import FORM_HEADERS, open_and_submit
from lambda_canary.local import faults
from lambda_canary.local.quota import quota


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


def test_update_alias_failing_once_during_roll_back_is_retried_and_every_alias_returns(make_fleet):
    fleet = make_fleet(4)
    execution = fleet.start()
    links = fleet.links()
    faults.arm("UpdateAlias", fleet.names[3], times=1, message="Alias update rejected")

    open_and_submit(links["rollback"])
    ended = fleet.wait(execution)

    assert ended["error"] == "Canary.RolledBack"
    assert fleet.aliases() == {name: ("1", {}) for name in fleet.names}


def test_throttling_storm_is_retried_until_every_alias_is_promoted(make_fleet, runtime):
    # given Lambda's control plane allows only 4 requests per second per API, far below the workflow's pace
    fleet = make_fleet(12)
    quota.configure(rate=4, latency=0.0)
    try:
        ended = fleet.wait(fleet.start(pre_approve=True))
        throttled = sum(quota.throttled.values())
    finally:
        quota.configure(rate=None, latency=0.0)

    # then the throttles were retried and no function failed
    assert throttled > 0
    assert ended["status"] == "SUCCEEDED"
    assert fleet.aliases() == {name: ("2", {}) for name in fleet.names}


def test_slack_unreachable_still_allows_a_decision_and_the_failure_is_recorded(make_fleet, runtime):
    fleet = make_fleet(2)
    runtime.slack.outage = True
    try:
        execution = fleet.start()
        deadline = time.monotonic() + 30
        while not any(e["event"] == "slack message failed" for e in (fleet.item() or {}).get("trail", [])):
            assert time.monotonic() < deadline, "the Slack failure was not recorded"
            time.sleep(0.1)
    finally:
        runtime.slack.outage = False

    # then the deployment waits, and the trail holds the failure and the links an operator can hand on
    item = fleet.item()
    assert item["status"] == "WAITING"
    failure = next(e for e in item["trail"] if e["event"] == "slack message failed")
    assert "503" in failure["reason"]
    assert open_and_submit(failure["approve_url"]).status_code == 200
    assert fleet.wait(execution)["status"] == "SUCCEEDED"


def test_table_refusing_writes_for_a_moment_does_not_lose_the_deployment(make_fleet, runtime):
    fleet = make_fleet(2)
    table_name = runtime.outputs["DeploymentsTableName"]
    faults.arm("UpdateItem", table_name, times=3, code="ProvisionedThroughputExceededException")

    ended = fleet.wait(fleet.start(pre_approve=True))

    assert ended["status"] == "SUCCEEDED"
    assert fleet.item()["status"] == "PROMOTED"


def test_a_table_refusing_validation_fails_the_execution_with_a_cause_and_moves_nothing(make_fleet, runtime):
    # given the deployments table refusing writes with an error no retry helps (a table policy, say)
    fleet = make_fleet(2)
    faults.arm("PutItem", runtime.outputs["DeploymentsTableName"], times=5, code="AccessDeniedException", status=400)

    # when CI starts the execution
    ended = fleet.wait(fleet.start())
    faults.clear()

    # then it fails at once with a cause that says what failed and what to do, and no alias moved
    assert (ended["status"], ended["error"]) == ("FAILED", "Canary.DeploymentFailed")
    assert ended["cause"].startswith("Validate Input could not finish (ClientError). Nothing was changed")
    assert fleet.aliases() == {name: ("1", {}) for name in fleet.names}


def test_fifty_concurrent_posts_of_the_same_decision_decide_once(make_fleet):
    fleet = make_fleet(2)
    execution = fleet.start()
    url, _, query = fleet.links()["approve"].partition("?")
    form = dict(parse_qsl(query))

    with ThreadPoolExecutor(max_workers=50) as pool:
        responses = list(pool.map(lambda _: requests.post(url, data=form, headers=FORM_HEADERS, timeout=60), range(50)))

    statuses = sorted(r.status_code for r in responses)
    assert statuses.count(200) == 1 and statuses.count(409) == 49
    assert all("Already decided" in r.text for r in responses if r.status_code == 409)
    assert fleet.wait(execution)["status"] == "SUCCEEDED"
    trail = fleet.item()["trail"]
    assert [e["event"] for e in trail].count("decision: approve") == 1
