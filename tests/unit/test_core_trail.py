"""canary_core.trail.DeploymentsTable on moto, with the table template.yaml declares."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from decimal import Decimal

import pytest
from botocore.exceptions import ClientError

from canary_core.errors import InvalidInput
from canary_core.model import PROMOTED, ROLLED_BACK, SHIFTING, WAITING, Decision, Deployment, FunctionTarget
from canary_core.trail import LATE_DECISIONS, REFUSED_PRESSES, event_words, function_count

ARN = "arn:aws:lambda:us-east-1:123456789012:function:"


def test_the_unit_table_is_the_one_template_yaml_declares(dynamodb_table, template_table_properties):
    # given the table the fixture built from template.yaml's DeploymentsTable
    # when its description is read back
    described = dynamodb_table.meta.client.describe_table(TableName=dynamodb_table.name)["Table"]

    # then its key schema and attributes are the template's
    template = template_table_properties
    assert described["KeySchema"] == template["KeySchema"]
    assert sorted(described["AttributeDefinitions"], key=str) == sorted(template["AttributeDefinitions"], key=str)
    assert described["BillingModeSummary"]["BillingMode"] == template["BillingMode"]


def test_open_claims_the_build_with_a_started_trail(table, make_deployment, now):
    # given a new deployment of my-app build 760
    deployment = make_deployment()

    # when it is opened
    table.open(deployment, now)

    # then the item is SHIFTING, names the execution, counts the functions, and its trail starts
    item = table.get("my-app", 760)
    assert item is not None
    assert item["status"] == SHIFTING
    assert item["execution_arn"] == deployment.execution_arn
    assert item["functions"] == 1
    assert item["build_url"] == "https://ci.example.com/my-app/760"
    assert item["trail"] == [{"at": now.isoformat(), "event": "started", "execution_arn": deployment.execution_arn}]


def test_opening_the_same_build_twice_names_the_execution_that_has_it(table, make_deployment, now):
    # given build 760 opened by a first execution
    first = make_deployment(execution_arn="arn:aws:states:us-east-1:123456789012:execution:canary:first")
    table.open(first, now)

    # when a second execution opens the same build
    second = make_deployment(execution_arn="arn:aws:states:us-east-1:123456789012:execution:canary:second")
    with pytest.raises(InvalidInput) as invalid:
        table.open(second, now + timedelta(minutes=5))

    # then it is refused, naming the first execution, its status and the fix; the item is the first one's
    assert invalid.value.problems == [
        f"build_no: my-app build 760 was already deployed by execution {first.execution_arn} "
        "(status SHIFTING); deploy a new build number"
    ]
    assert table.get("my-app", 760)["execution_arn"] == first.execution_arn


def test_the_execution_that_opened_a_build_may_open_it_again(table, make_deployment, now):
    # given build 760 opened by an execution whose Validate Input is retried (its first attempt went through)
    deployment = make_deployment()
    table.open(deployment, now)

    # when the same execution opens it again a second later
    table.open(deployment, now + timedelta(seconds=1))

    # then it is still that execution's, freshly opened
    item = table.get("my-app", 760)
    assert item["execution_arn"] == deployment.execution_arn
    assert item["status"] == SHIFTING
    assert item["trail"] == [
        {
            "at": (now + timedelta(seconds=1)).isoformat(),
            "event": "started",
            "execution_arn": deployment.execution_arn,
        }
    ]


def test_the_same_build_number_of_another_repository_is_a_separate_deployment(table, make_deployment, now):
    # given build 760 of my-app is open
    table.open(make_deployment(), now)

    # when build 760 of another repository is opened
    table.open(make_deployment(repository="other-app"), now)

    # then both exist
    assert table.get("my-app", 760)["repository"] == "my-app"
    assert table.get("other-app", 760)["repository"] == "other-app"


def test_get_of_an_unknown_deployment_is_none(table):
    # given an empty table
    # when an unknown deployment is read
    # then there is none
    assert table.get("never-deployed", 1) is None


def test_await_decision_sets_the_deadline_and_the_versions_without_a_token(table, make_deployment, now):
    # given an opened deployment
    deployment = make_deployment()
    table.open(deployment, now)

    # when it starts waiting for a decision
    table.await_decision(deployment, 1744021800, now)

    # then the item is WAITING with the expiry and each function's versions, and no task token yet
    item = table.get("my-app", 760)
    assert item["status"] == WAITING
    assert "task_token" not in item
    assert item["expires_at"] == 1744021800
    assert item["function_versions"] == [{"name": "orders-api", "old_version": "1", "new_version": "2"}]
    assert item["trail"][-1] == {"at": now.isoformat(), "event": "waiting for a decision", "expires_at": 1744021800}


def test_store_token_keeps_the_latest_waiting_tasks_token_and_returns_the_item(table, make_deployment, now):
    # given a deployment waiting for a decision, whose first wait stored a token
    deployment = make_deployment()
    table.open(deployment, now)
    table.await_decision(deployment, 1744021800, now)
    table.store_token("my-app", 760, "task-token-first-wait")

    # when the next wait (after a reminder) stores its own token
    item = table.store_token("my-app", 760, "task-token-second-wait")

    # then the item holds only the new token, is returned whole, and the trail is unchanged (no token in it)
    assert item == table.get("my-app", 760)
    assert item["task_token"] == "task-token-second-wait"
    assert item["status"] == WAITING
    assert [event["event"] for event in item["trail"]] == ["started", "waiting for a decision"]
    assert "task-token" not in str(item["trail"])


def test_remember_message_keeps_the_first_message_only(table, make_deployment, now):
    # given an opened deployment whose request was posted by a Slack app
    table.open(make_deployment(), now)
    request = {"channel": "C0123456789", "ts": "1795690000.000100"}
    table.remember_message("my-app", 760, request)

    # when a later message is remembered too (a reminder)
    table.remember_message("my-app", 760, {"channel": "C0123456789", "ts": "1795691800.000200"})

    # then the request is the message kept: the one to update when the deployment ends
    assert table.get("my-app", 760)["slack_message"] == request


def test_the_first_decision_wins(table, waiting_deployment, now):
    # given a deployment waiting for a decision
    waiting_deployment(task_token="token-first-wins")
    decision = Decision("approve", "approval link", now.isoformat(), "203.0.113.24", "Firefox")

    # when the first decision is recorded
    won, item = table.record_decision("my-app", 760, decision)

    # then it wins, and the item it returns carries the decision, the token and a trail event
    assert won is True
    assert item["decision"] == {
        "action": "approve",
        "decided_by": "approval link",
        "decided_at": now.isoformat(),
        "source_ip": "203.0.113.24",
        "user_agent": "Firefox",
    }
    assert item["task_token"] == "token-first-wins"
    assert item["trail"][-1]["event"] == "decision: approve"
    assert item["trail"][-1]["source_ip"] == "203.0.113.24"


def test_a_second_decision_loses_and_sees_the_first(table, waiting_deployment, now):
    # given a deployment that was already approved
    waiting_deployment()
    approve = Decision("approve", "approval link", now.isoformat())
    table.record_decision("my-app", 760, approve)

    # when a roll back is recorded a minute later
    rollback = Decision("rollback", "approval link", (now + timedelta(minutes=1)).isoformat())
    won, item = table.record_decision("my-app", 760, rollback)

    # then it loses and the item still holds the first decision
    assert won is False
    assert item["decision"] == approve.as_item()
    assert table.get("my-app", 760)["decision"]["action"] == "approve"


def test_a_decision_is_refused_while_the_deployment_is_not_waiting(table, make_deployment, now):
    # given a deployment still shifting traffic (not yet waiting)
    table.open(make_deployment(), now)

    # when a decision is recorded
    won, item = table.record_decision("my-app", 760, Decision("approve", "approval link", now.isoformat()))

    # then it is refused and nothing is written
    assert won is False
    assert item["status"] == SHIFTING
    assert "decision" not in item
    assert [event["event"] for event in item["trail"]] == ["started"]


def test_note_appends_an_event_with_its_details(table, waiting_deployment, now):
    # given a waiting deployment
    waiting_deployment()

    # when a Slack failure is noted
    table.note("my-app", 760, now, "slack message failed", reason="Slack webhook answered 500", ignored=None)

    # then the trail ends with the event and its details (None details left out)
    assert table.get("my-app", 760)["trail"][-1] == {
        "at": now.isoformat(),
        "event": "slack message failed",
        "reason": "Slack webhook answered 500",
    }


def test_record_outcome_ends_the_deployment_and_drops_the_task_token(table, waiting_deployment, now):
    # given a waiting deployment with a task token
    deployment = waiting_deployment(task_token="token-to-drop")
    later = now + timedelta(minutes=10)

    # when its outcome is recorded
    outcome = {"status": ROLLED_BACK, "error": "Canary.RolledBack", "cause": "Rolled back by approval link."}
    table.record_outcome(deployment, outcome, later)

    # then the item has the status, the outcome and the end time, the token is gone, and the trail says so
    item = table.get("my-app", 760)
    assert "task_token" not in item
    assert item["status"] == ROLLED_BACK
    assert item["outcome"] == outcome
    assert item["finished_at"] == later.isoformat()
    assert item["trail"][-1] == {
        "at": later.isoformat(),
        "event": "outcome: ROLLED_BACK",
        "cause": "Rolled back by approval link.",
    }
    assert [event["event"] for event in item["trail"]] == [
        "started",
        "waiting for a decision",
        "outcome: ROLLED_BACK",
    ]


def test_floats_are_stored_as_decimal_and_read_back_as_float(table, dynamodb_table, make_deployment, now):
    # given a deployment with weight 0.1 and an outcome carrying a float
    deployment = make_deployment(weight=0.1)
    table.open(deployment, now)
    table.record_outcome(deployment, {"status": PROMOTED, "summary": {"weight": 0.25, "functions": 1}}, now)

    # when the raw item and the table's view of it are read
    raw = dynamodb_table.get_item(Key={"repository": "my-app", "build_no": 760})["Item"]
    item = table.get("my-app", 760)

    # then DynamoDB holds Decimals and the table gives back plain floats and ints
    assert raw["weight"] == Decimal("0.1")
    assert raw["outcome"]["summary"]["weight"] == Decimal("0.25")
    assert item["weight"] == 0.1 and isinstance(item["weight"], float)
    assert item["outcome"]["summary"] == {"weight": 0.25, "functions": 1}
    assert isinstance(item["build_no"], int) and isinstance(item["outcome"]["summary"]["functions"], int)


def test_an_item_written_before_the_functions_table_still_counts_its_functions():
    # given items as they are written now (a count) and as they were (a list of names), and one with neither
    # then each counts its functions
    assert function_count({"functions": 3}) == 3
    assert function_count({"functions": ["orders-api", "payments"]}) == 2
    assert function_count({}) == 0


def test_save_state_keeps_the_deployment_without_its_functions(table, make_deployment, now):
    # given an opened deployment after Publish Versions, one function with the CodeSha256 CI built
    opened = make_deployment(weight=0.25)
    table.open(opened, now)
    published = opened.with_functions(
        [FunctionTarget("orders-api", f"{ARN}orders-api", "1", "2", "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=")]
    )

    # when Shift Traffic saves its state
    table.save_state(published)

    # then the item holds the deployment (floats and all) and how many functions it has, not the functions
    saved = table.get("my-app", 760)["deployment"]
    assert "functions" not in saved
    assert Deployment.from_state(saved) == replace(published, functions=())
    assert Deployment.from_state(saved).function_count == 1
    assert table.get("my-app", 760)["status"] == SHIFTING


def test_withdraw_decision_takes_back_only_that_decision(table, waiting_deployment, now):
    # given a waiting deployment with an approval recorded at 09:31
    waiting_deployment()
    first = Decision("approve", "approval link", (now + timedelta(minutes=1)).isoformat())
    table.record_decision("my-app", 760, first)

    # when the approval is withdrawn because it could not be delivered
    table.withdraw_decision("my-app", 760, first, now + timedelta(minutes=2), reason="not delivered (Throttling)")

    # then the decision is gone and the trail says why
    item = table.get("my-app", 760)
    assert "decision" not in item
    assert item["trail"][-1] == {
        "at": (now + timedelta(minutes=2)).isoformat(),
        "event": "decision withdrawn: approve",
        "reason": "not delivered (Throttling)",
    }


def test_withdraw_decision_leaves_a_later_decision(table, waiting_deployment, now):
    # given a withdrawn approval, then a roll back recorded at 09:33
    waiting_deployment()
    first = Decision("approve", "approval link", (now + timedelta(minutes=1)).isoformat())
    table.record_decision("my-app", 760, first)
    table.withdraw_decision("my-app", 760, first, now + timedelta(minutes=2), reason="not delivered")
    later = Decision("rollback", "approval link", (now + timedelta(minutes=3)).isoformat())
    table.record_decision("my-app", 760, later)

    # when the first approval is withdrawn again (a late retry)
    # then the conditional write refuses, and the later decision stays
    with pytest.raises(ClientError, match="ConditionalCheckFailedException"):
        table.withdraw_decision("my-app", 760, first, now + timedelta(minutes=4), reason="not delivered")
    assert table.get("my-app", 760)["decision"]["action"] == "rollback"


def test_what_outsiders_can_repeat_is_counted_not_appended(table, waiting_deployment, now):
    # given a waiting deployment and its trail
    waiting_deployment()
    trail_before = table.get("my-app", 760)["trail"]

    # when 500 late clicks and 3 refused presses come in, then the workflow writes its own event
    for index in range(500):
        table.count_ignored("my-app", 760, LATE_DECISIONS, now, decided_by="approval link", source_ip=f"10.0.{index}.1")
    for _ in range(3):
        table.count_ignored("my-app", 760, REFUSED_PRESSES, now, decided_by="mallory", user_id="U0MALLORY")
    table.note("my-app", 760, now, "outcome: ROLLED_BACK")

    # then the trail holds only the workflow's event; the clicks are two numbers and the last of each
    item = table.get("my-app", 760)
    assert item["trail"] == [*trail_before, {"at": now.isoformat(), "event": "outcome: ROLLED_BACK"}]
    assert (item["late_decisions"], item["refused_presses"]) == (500, 3)
    assert item["last_of_late_decisions"]["source_ip"] == "10.0.499.1"
    assert item["last_of_refused_presses"]["decided_by"] == "mallory"


def test_counting_a_click_on_an_unknown_deployment_creates_nothing(table, now):
    # given no deployment my-app build 999
    # when a late click is counted for it
    table.count_ignored("my-app", 999, LATE_DECISIONS, now, decided_by="approval link")

    # then there is still no such item
    assert table.get("my-app", 999) is None


def test_aliases_pinned_off_latest_are_named_in_the_trail(table, make_deployment, now):
    # given a deployment of two functions: orders-api ran $LATEST, payments version 1; both got a version 2
    arn = "arn:aws:lambda:us-east-1:123456789012:function:"
    functions = [
        FunctionTarget("orders-api", arn + "orders-api", "$LATEST", "2"),
        FunctionTarget("payments", arn + "payments", "1", "2"),
    ]
    deployment = make_deployment(functions=functions)
    table.open(deployment, now)

    # when Shift Traffic notes what it pinned
    table.note_pinned(deployment, now)

    # then the trail names orders-api alone
    event = table.get("my-app", 760)["trail"][-1]
    assert event["event"] == "pinned to the new version: first deployment, no earlier version than $LATEST"
    assert event["functions"] == ["orders-api"]


@pytest.mark.parametrize(
    ("stored", "read"),
    [
        ("analysis: not_enough_traffic", "analysis: not enough traffic"),
        ("analysis: unhealthy", "analysis: unhealthy"),
        ("outcome: ROLLED_BACK", "outcome: rolled back"),
        ("outcome: PROMOTED", "outcome: promoted"),
        ("decision withdrawn: approve", "decision withdrawn: approve"),  # no code: as it is
        ("slack message failed", "slack message failed"),
    ],
)
def test_a_trail_event_reads_in_words_where_it_stores_a_code(stored, read):
    # given an event as the trail stores it, when it is shown to a person, then its code reads as words
    assert event_words(stored) == read
