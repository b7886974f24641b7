"""Approve, roll back, time out and pre-approve: the real state machine, real HTTP clicks, aliases read back."""

from __future__ import annotations

import json
from urllib.parse import parse_qsl

import requests

from canary_testing.browser import FORM_HEADERS, forms_in, open_and_submit
from canary_testing.fleet import ship_code
from lambda_canary.local.gateway import audit_link


def test_approve_link_promotes_every_alias(make_fleet):
    # given a canary of three functions waiting for a decision
    fleet = make_fleet(3)
    execution = fleet.start()
    links = fleet.links()
    assert fleet.aliases() == {name: ("1", {"2": 0.1}) for name in fleet.names}

    # when someone (or a link preview) opens the approve link
    page = requests.get(links["approve"], timeout=10)

    # then a confirmation page shows the deployment and nothing changes
    assert page.status_code == 200
    assert "Approve" in page.text and fleet.repository in page.text
    assert all(name in page.text for name in fleet.names)
    assert fleet.aliases() == {name: ("1", {"2": 0.1}) for name in fleet.names}
    assert fleet.sfn.describe_execution(executionArn=execution)["status"] == "RUNNING"
    assert "task_token" not in page.text and fleet.item()["task_token"] not in page.text

    # when the page's button is pressed
    form = forms_in(page.text)[0]
    assert form.method == "POST"
    result = requests.post(links["approve"].split("?")[0], data=form.fields, headers=FORM_HEADERS, timeout=10)

    # then every alias runs the new version alone and the execution succeeds with the versions
    assert result.status_code == 200 and "Approved" in result.text
    ended = fleet.wait(execution)
    assert ended["status"] == "SUCCEEDED"
    output = json.loads(ended["output"])
    assert output["functions"] == [{"name": n, "old_version": "1", "new_version": "2"} for n in fleet.names]
    assert fleet.aliases() == {name: ("2", {}) for name in fleet.names}

    # and the trail holds who decided, from where, with which browser
    item = fleet.item()
    assert item["status"] == "PROMOTED"
    assert item["decision"]["action"] == "approve"
    assert item["decision"]["source_ip"] == "127.0.0.1"
    assert "python-requests" in item["decision"]["user_agent"]
    assert item["build_url"].endswith(f"/{fleet.repository}/2")
    assert "task_token" not in item
    outcome = fleet.wait_for_message(2)[1]
    assert outcome["text"].startswith("Promoted")


def test_a_cross_site_form_or_a_body_that_is_not_utf8_changes_nothing(make_fleet):
    # given a deployment waiting for a decision, and its approve form
    fleet = make_fleet(2)
    execution = fleet.start()
    url, _, query = fleet.links()["approve"].partition("?")
    fields = dict(parse_qsl(query))

    # when a page on another site posts the form, a script posts it without saying where from, and someone
    # posts bytes that are not UTF-8
    cross_site = requests.post(url, data=fields, headers={"Origin": "https://evil.example"}, timeout=10)
    no_origin = requests.post(url, data=fields, timeout=10)
    latin1 = requests.post(url, data=b"action=approve&x=\xe9\xff", headers=FORM_HEADERS, timeout=10)

    # then each is refused (403, 403, 400) and the deployment still waits with its canary weights
    assert (cross_site.status_code, no_origin.status_code, latin1.status_code) == (403, 403, 400)
    assert "another site" in cross_site.text
    assert "decision" not in fleet.item()
    assert fleet.aliases() == {name: ("1", {"2": 0.1}) for name in fleet.names}

    # and the page's own form still decides
    assert requests.post(url, data=fields, headers=FORM_HEADERS, timeout=10).status_code == 200
    assert fleet.wait(execution)["status"] == "SUCCEEDED"


def test_second_click_changes_nothing_and_shows_the_first_decision(make_fleet):
    fleet = make_fleet(2)
    execution = fleet.start()
    links = fleet.links()
    assert open_and_submit(links["rollback"]).status_code == 200
    fleet.wait(execution)

    # when the other button is pressed afterwards
    late_page = requests.get(links["approve"], timeout=10)
    url, _, query = links["approve"].partition("?")
    late_post = requests.post(url, data=dict(parse_qsl(query)), headers=FORM_HEADERS, timeout=10)

    # then the page says what was decided and the aliases stay rolled back
    assert late_page.status_code == 200
    assert not forms_in(late_page.text)
    for response in (late_page, late_post):
        assert "Already decided" in response.text and "rolled back" in response.text
    assert late_post.status_code == 409
    assert fleet.aliases() == {name: ("1", {}) for name in fleet.names}
    assert fleet.item()["late_decisions"] == 1


def test_roll_back_link_restores_every_alias(make_fleet):
    fleet = make_fleet(3)
    execution = fleet.start()

    response = open_and_submit(fleet.links()["rollback"])

    assert response.status_code == 200 and "Rolled back" in response.text
    ended = fleet.wait(execution)
    assert ended["status"] == "FAILED"
    assert ended["error"] == "Canary.RolledBack"
    assert "approval link" in ended["cause"]
    assert fleet.aliases() == {name: ("1", {}) for name in fleet.names}
    assert fleet.item()["status"] == "ROLLED_BACK"
    assert fleet.wait_for_message(2)[1]["text"].startswith("Rolled back")


def test_no_decision_before_the_timeout_rolls_back(make_fleet):
    fleet = make_fleet(2)
    execution = fleet.start(approval_timeout_seconds=2)
    links = fleet.links()

    ended = fleet.wait(execution)

    assert ended["status"] == "FAILED"
    assert ended["error"] == "Canary.RolledBack"
    assert "timeout" in ended["cause"]
    assert fleet.aliases() == {name: ("1", {}) for name in fleet.names}
    item = fleet.item()
    assert item["status"] == "ROLLED_BACK"
    assert (item["decision"]["action"], item["decision"]["decided_by"]) == ("rollback", "timeout")
    # a click after the deadline is refused in plain words and changes nothing
    late = requests.get(links["approve"], timeout=10)
    assert late.status_code == 410 and "expired" in late.text
    assert fleet.aliases() == {name: ("1", {}) for name in fleet.names}


def test_pre_approved_deployment_approves_itself_through_the_same_path(make_fleet):
    fleet = make_fleet(3)

    ended = fleet.wait(fleet.start(pre_approve=True))

    assert ended["status"] == "SUCCEEDED"
    assert json.loads(ended["output"])["decided_by"] == "pre-approval"
    assert fleet.aliases() == {name: ("2", {}) for name in fleet.names}
    item = fleet.item()
    assert item["decision"]["decided_by"] == "pre-approval"
    assert [e["event"] for e in item["trail"]] == [
        "started",
        "waiting for a decision",
        "decision: approve",
        "outcome: PROMOTED",
    ]
    request, outcome = fleet.wait_for_message(2)
    assert "pre-approved" in request["text"]
    assert not [b for b in request["blocks"] if b["type"] == "actions"]
    assert outcome["text"].startswith("Promoted")


def test_alias_on_latest_is_pinned_and_returns_to_latest_on_roll_back(make_fleet):
    # given a function whose alias still points at $LATEST (never deployed with a version)
    fleet = make_fleet(1)
    name = fleet.names[0]
    fleet.lam.update_alias(FunctionName=name, Name="live", FunctionVersion="$LATEST")
    execution = fleet.start()

    # then the canary pins it to the new version, and the message and the trail say so
    message = fleet.wait_for_message(1)[0]
    assert "first deployment, pinned" in json.dumps(message)
    version, weights = fleet.aliases()[name]
    assert version != "$LATEST" and weights == {}
    pinned = [e for e in fleet.item()["trail"] if e["event"].startswith("pinned to the new version")]
    assert [e["functions"] for e in pinned] == [[name]]

    # and a roll back returns it to $LATEST
    open_and_submit(fleet.links()["rollback"])
    assert fleet.wait(execution)["status"] == "FAILED"
    assert fleet.aliases() == {name: ("$LATEST", {})}


def test_audit_page_lists_decisions_newest_first_with_links(make_fleet, runtime):
    fleet = make_fleet(2)
    first = fleet.start(pre_approve=True)
    fleet.wait(first)
    fleet.build_no = 3
    for name in fleet.names:
        ship_code(fleet.lam, name, 3)
    second = fleet.start()
    open_and_submit(fleet.links()["rollback"])
    fleet.wait(second)

    # the audit page, through the signed link at the foot of the request message
    audit, _, query = audit_link(fleet.wait_for_message(1)[0]).partition("?")
    assert audit == f"{runtime.outputs['ApprovalApiUrl']}/deployments"
    access = dict(parse_qsl(query))
    unsigned = requests.get(audit, params={"repository": fleet.repository}, timeout=10)
    rows = requests.get(audit, params={**access, "repository": fleet.repository, "format": "json"}, timeout=10).json()
    page = requests.get(audit, params={**access, "repository": fleet.repository}, timeout=10)

    assert unsigned.status_code == 403 and fleet.repository not in unsigned.text
    deployments = rows["deployments"]
    assert [(d["build_no"], d["status"], d["action"]) for d in deployments] == [
        (3, "ROLLED_BACK", "rollback"),
        (2, "PROMOTED", "approve"),
    ]
    assert deployments[0]["decided_by"] == "approval link" and deployments[0]["source_ip"] == "127.0.0.1"
    assert deployments[1]["decided_by"] == "pre-approval"
    assert deployments[0]["console_url"].startswith("https://us-east-1.console.aws.amazon.com/states/")
    assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/html")
    assert f"https://ci.example.com/{fleet.repository}/3" in page.text
    assert f'href="deployments/{fleet.repository}/3?' in page.text  # each row leads to its deployment's page
    assert "console.aws.amazon.com" not in page.text  # the local runtime has no console to link to
    assert page.text.index("build 3") < page.text.index("build 2")
    assert rows["older"] is None  # one page holds both
    bad = requests.get(audit, params={**access, "repository": fleet.repository, "before": "yesterday"}, timeout=10)
    assert bad.status_code == 400 and "before is a build number" in bad.text


def test_reminder_is_posted_at_half_time_then_the_timeout_rolls_back(make_fleet):
    fleet = make_fleet(2)
    execution = fleet.start(approval_timeout_seconds=6)  # the reminder at 3 s, two seconds clear of the deadline

    reminder = fleet.wait_for_message(2, timeout=10)[1]
    ended = fleet.wait(execution)

    assert reminder["text"].startswith(f"Reminder: {fleet.repository} build 2 still waits for a decision")
    assert "then it is rolled back" in reminder["text"]
    # Remind Or Expire runs in an environment of its own: the API's address comes from its own variables
    api = fleet.runtime.outputs["ApprovalApiUrl"]
    assert f"Approve: {api}/decide?" in reminder["text"] and f"Roll back: {api}/decide?" in reminder["text"]
    assert ended["error"] == "Canary.RolledBack" and "timeout" in ended["cause"]
    assert [e["event"] for e in fleet.item()["trail"]].count("reminder sent") == 1
    assert fleet.aliases() == {name: ("1", {}) for name in fleet.names}


def test_on_timeout_promote_promotes_a_deployment_nobody_decided(make_fleet):
    fleet = make_fleet(2)

    ended = fleet.wait(fleet.start(approval_timeout_seconds=2, on_timeout="promote"))

    assert ended["status"] == "SUCCEEDED"
    assert json.loads(ended["output"])["decided_by"] == "timeout"
    assert fleet.aliases() == {name: ("2", {}) for name in fleet.names}
    # Whether the half-time reminder (1 s in) still goes out depends on where the whole second falls: not asserted.
    assert "Nobody decided by the deadline" in fleet.wait_for_text("Promoted")["text"]


def test_a_click_after_a_reminder_is_delivered_to_the_next_wait(make_fleet):
    fleet = make_fleet(2)
    execution = fleet.start(approval_timeout_seconds=10)  # the reminder at 5 s leaves the click 5 s
    fleet.wait_for_message(2, timeout=15)  # the reminder: the first wait ended, a second one holds a new token

    assert open_and_submit(fleet.links()["approve"]).status_code == 200

    assert fleet.wait(execution)["status"] == "SUCCEEDED"
    assert fleet.aliases() == {name: ("2", {}) for name in fleet.names}
