"""canary_core.revert on moto: a promoted deployment's aliases back on the versions they ran before it, refused
per function where a later deployment moved them or a canary holds them, and the incident button."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
from slack_fake import SLACK_WEBHOOK

from canary_core import aliases, slack
from canary_core.cleanup import awaits_clean_up
from canary_core.limits import LISTED
from canary_core.locks import revert_holder_id
from canary_core.model import PROMOTED, REVERTED, ROLLED_BACK, WAITING, Deployment, FunctionTarget, Step
from canary_core.revert import DeploymentNotFound, revert_deployment, revert_since
from canary_core.sweep import sweep
from canary_core.validation import MAX_STEPS
from lambda_canary.demo import alias_state

NAMES = ("orders-api", "payments", "users")


@pytest.fixture
def fleet(make_function, upload):
    """orders-api, payments and users, each with alias live on version 1: {name: unqualified ARN}."""
    return {name: make_function(name) for name in NAMES}


@pytest.fixture
def promote(fleet, upload, make_deployment, table, functions_table, lambda_client, now):
    """promote(build_no, names, at=now, repository="my-app", status=PROMOTED, started=at, **deployment fields):
    CI uploads the build, the workflow publishes it and promotes it (or ends it with `status`) at `at`, as Record
    Outcome keeps it."""

    def run(
        build_no: int, names=NAMES, at=None, repository="my-app", status=PROMOTED, started=None, **fields: Any
    ) -> Deployment:
        at = at or now
        targets = []
        for name in names:
            upload(name, build_no)
            current = lambda_client.get_alias(FunctionName=name, Name="live")["FunctionVersion"]
            targets.append(FunctionTarget(name, fleet[name], current))
        execution = f"arn:aws:states:us-east-1:123456789012:execution:canary:{repository}-{build_no}"
        deployment = make_deployment(
            repository=repository, build_no=build_no, functions=targets, execution_arn=execution, **fields
        )
        return run_through(deployment, lambda_client, table, functions_table, at, status, started or at)

    return run


def run_through(deployment, lambda_client, table, functions_table, at, status=PROMOTED, started=None) -> Deployment:
    """What the workflow does with a deployment whose code CI uploaded: open it, publish and shift, then promote
    (or roll back, for another `status`), and record the outcome as Record Outcome keeps it."""
    table.open(deployment, started or at)
    deployment = aliases.publish_versions(lambda_client, deployment)
    functions_table.save(deployment)
    table.save_state(deployment)
    aliases.shift_traffic(lambda_client, deployment)
    if status == PROMOTED:
        aliases.promote(lambda_client, deployment)
    else:
        aliases.roll_back(lambda_client, deployment)
    table.record_outcome(deployment, {"status": status}, at)
    return deployment


@pytest.fixture
def revert(lambda_client, table, functions_table, locks, now, webhook_channel, slack_http):
    """revert(build_no, **options): revert_deployment of my-app's build, by alice, posting to the webhook."""

    def run(build_no: int, repository: str = "my-app", **options: Any):
        return revert_deployment(
            lambda_client,
            table,
            functions_table,
            locks,
            repository,
            build_no,
            "alice@example.com",
            options.pop("at", now),
            channel=webhook_channel,
            environment="prod",
            **options,
        )

    return run


def versions(lambda_client) -> dict[str, tuple[str, dict[str, float]]]:
    return {name: alias_state(lambda_client, name) for name in NAMES}


def locks_left(locks_dynamodb_table) -> list[dict[str, Any]]:
    return locks_dynamodb_table.scan(ConsistentRead=True)["Items"]


def test_a_promoted_deployment_goes_back_to_the_versions_it_replaced_recorded_and_posted(
    promote, revert, lambda_client, table, slack_http, locks_dynamodb_table, now
):
    # given build 760 promoted version 2 of every function
    promote(760)
    assert {v for v, _ in versions(lambda_client).values()} == {"2"}

    # when alice reverts it
    result = revert(760)

    # then every alias runs version 1 alone again, and nothing was refused
    assert versions(lambda_client) == {name: ("1", {}) for name in NAMES}
    assert result.moved == {name: "v2 -> v1" for name in NAMES}
    assert result.refused == {} and result.complete

    # and the trail says who reverted what, the status reads REVERTED, and the revert holds no lock after
    item = table.get("my-app", 760)
    assert item["status"] == REVERTED
    event = item["trail"][-1]
    assert (event["event"], event["decided_by"], event["moved"]) == (
        "reverted",
        "alice@example.com",
        {name: "v2 -> v1" for name in NAMES},
    )
    assert locks_left(locks_dynamodb_table) == []

    # and Slack got one short message naming the build and who reverted it
    (message,) = slack_http.to(SLACK_WEBHOOK)
    assert message["text"] == (
        "Reverted: my-app build 760 in prod by alice@example.com. 3 function(s) back on the version they ran before it."
    )


def test_a_function_a_later_deployment_promoted_is_refused_and_named(promote, revert, lambda_client, table):
    # given build 760 promoted version 2 everywhere, then build 761 promoted version 3 of payments
    promote(760)
    promote(761, names=("payments",))

    # when build 760 is reverted
    result = revert(760)

    # then payments keeps build 761's version, named with the build that published it; the others go back
    assert versions(lambda_client) == {"orders-api": ("1", {}), "payments": ("3", {}), "users": ("1", {})}
    assert result.moved == {"orders-api": "v2 -> v1", "users": "v2 -> v1"}
    assert result.refused == {
        "payments": "its alias runs v3, published by my-app build 761 now, not v2 as my-app build 760 promoted it: "
        "a later deployment or a change by hand moved it since; left as it is"
    }
    assert not result.complete

    # and the trail keeps the refusal beside what moved, with their counts
    event = table.get("my-app", 760)["trail"][-1]
    assert event["event"] == "reverted in part"
    assert (list(event["refused"]), event["refused_count"], event["moved_count"]) == (["payments"], 1, 2)


def test_a_locked_function_is_never_touched_and_its_lock_is_left_to_its_holder(
    promote, revert, lambda_client, locks, make_deployment, fleet, locks_dynamodb_table, now
):
    # given build 760 was promoted, and a canary of another repository's build now holds payments' lock
    promote(760)
    canary = make_deployment(
        repository="other",
        build_no=900,
        execution_arn="arn:aws:states:us-east-1:123456789012:execution:canary:other-900",
        functions=[FunctionTarget("payments", fleet["payments"], "2")],
    )
    assert locks.acquire(canary, now) == {}

    # when build 760 is reverted
    result = revert(760)

    # then payments is left on version 2, refused as locked, and the other two go back
    assert versions(lambda_client)["payments"] == ("2", {})
    assert result.refused == {
        "payments": "locked: other build 900 is deploying it; never touched while locked, try again once it ends "
        "(or roll it back first: `canary rollback other 900`)"
    }
    assert set(result.moved) == {"orders-api", "users"}

    # and the canary still holds its lock, the only one left
    assert [item["execution_arn"] for item in locks_left(locks_dynamodb_table)] == [canary.execution_arn]


def test_a_function_whose_canary_is_running_names_that_deployment_not_a_change_by_hand(
    promote, revert, lambda_client, locks, make_deployment, fleet, upload, now
):
    # given build 760 was promoted, then build 761's canary shifted 10% of payments to its new version and
    # holds payments' lock while it waits
    promote(760)
    upload("payments", 761)
    version = lambda_client.publish_version(FunctionName="payments")["Version"]
    lambda_client.update_alias(
        FunctionName="payments", Name="live", RoutingConfig={"AdditionalVersionWeights": {version: 0.1}}
    )
    canary = make_deployment(
        build_no=761,
        execution_arn="arn:aws:states:us-east-1:123456789012:execution:canary:my-app-761",
        functions=[FunctionTarget("payments", fleet["payments"], "2")],
    )
    assert locks.acquire(canary, now) == {}

    # when build 760 is reverted
    result = revert(760)

    # then payments is refused naming build 761's canary and how to end it, not "a change by hand"
    assert result.refused == {
        "payments": "locked: my-app build 761 is deploying it; never touched while locked, try again once it ends "
        "(or roll it back first: `canary rollback my-app 761`)"
    }
    assert versions(lambda_client)["payments"] == ("2", {version: 0.1})


def test_a_deployment_still_waiting_is_pointed_to_a_roll_back(promote, revert, table):
    # given build 760 waiting for its decision
    promote(760, status=WAITING)

    # when it is reverted, then the refusal says a running deployment is rolled back instead
    result = revert(760)
    assert result.refused_deployment == (
        "its status is WAITING: only a promoted deployment can be reverted; while it runs, roll it back "
        "(`canary rollback my-app 760`, or its roll-back link)"
    )


def test_an_irreversible_deployment_is_refused_unless_forced_and_either_is_recorded(
    promote, revert, lambda_client, table, slack_http
):
    # given build 760 was an irreversible deployment (a schema change), promoted
    promote(760, irreversible=True)

    # when it is reverted without force
    refused = revert(760)

    # then no alias moves, and the refusal is recorded and posted with the reason
    assert versions(lambda_client) == {name: ("2", {}) for name in NAMES}
    assert refused.refused_deployment is not None and refused.refused_deployment.startswith("irreversible:")
    item = table.get("my-app", 760)
    assert item["status"] == PROMOTED
    assert (item["trail"][-1]["event"], item["trail"][-1]["reason"]) == ("revert refused", refused.refused_deployment)
    assert slack_http.to(SLACK_WEBHOOK)[-1]["text"].startswith("Revert refused: my-app build 760 in prod")

    # when it is reverted with force
    forced = revert(760, force=True)

    # then every alias goes back, and the trail says it was forced; the message says data is not undone
    assert versions(lambda_client) == {name: ("1", {}) for name in NAMES}
    assert forced.forced and forced.complete
    event = table.get("my-app", 760)["trail"][-1]
    assert (event["event"], event["forced"]) == ("reverted", True)
    assert "will not undo data changes" in slack_http.to(SLACK_WEBHOOK)[-1]["text"]


def test_a_dry_run_says_what_would_move_and_changes_nothing(promote, revert, lambda_client, table, slack_http):
    # given build 760 was promoted
    promote(760)
    before = table.get("my-app", 760)

    # when a dry run of its revert is asked
    result = revert(760, dry_run=True)

    # then it says what would move, and no alias, trail or Slack message changed
    assert result.dry_run and result.moved == {name: "v2 -> v1" for name in NAMES}
    assert versions(lambda_client) == {name: ("2", {}) for name in NAMES}
    assert table.get("my-app", 760) == before
    assert slack_http.to(SLACK_WEBHOOK) == []


def test_a_deployment_that_was_not_promoted_is_refused_and_an_unknown_one_is_named(promote, revert, lambda_client):
    # given build 760 was rolled back
    promote(760, status=ROLLED_BACK)

    # when it is reverted, then it is refused with its status; an unknown build raises, naming it
    assert revert(760).refused_deployment == "its status is ROLLED_BACK: only a promoted deployment can be reverted"
    with pytest.raises(DeploymentNotFound, match="no deployment my-app build 999"):
        revert(999)


def test_reverting_twice_moves_nothing_more(promote, revert, table):
    # given build 760 was promoted and reverted
    promote(760)
    revert(760)
    trail = table.get("my-app", 760)["trail"]

    # when it is reverted again
    again = revert(760)

    # then every function is found back already, and the trail gains nothing
    assert (again.moved, again.refused, sorted(again.already)) == ({}, {}, sorted(NAMES))
    assert table.get("my-app", 760)["trail"] == trail


def test_the_incident_button_reverts_the_window_newest_first_across_repositories(
    promote, lambda_client, table, functions_table, locks, now
):
    # given build 759 promoted two hours ago (outside the window), then build 760 of my-app and build 5 of
    # billing (orders-api again) in the last hour
    promote(759, names=("users",), at=now - timedelta(hours=2))
    promote(760, names=("orders-api", "payments"), at=now - timedelta(minutes=40))
    promote(5, names=("orders-api",), at=now - timedelta(minutes=10), repository="billing")
    assert versions(lambda_client) == {"orders-api": ("3", {}), "payments": ("2", {}), "users": ("2", {})}

    def button(dry_run: bool):
        return revert_since(
            lambda_client, table, functions_table, locks, "bob", now, timedelta(hours=1), dry_run=dry_run
        )

    # when a dry run of the last hour is asked, then it lists both, newest first, each as it would find the
    # aliases after the newer one went back, and moves nothing
    dry = button(dry_run=True)
    assert [(r.title, r.moved, r.refused) for r in dry.results] == [
        ("billing build 5", {"orders-api": "v3 -> v2"}, {}),
        ("my-app build 760", {"orders-api": "v2 -> v1", "payments": "v2 -> v1"}, {}),
    ]
    assert versions(lambda_client)["orders-api"] == ("3", {})

    # when the incident button is pressed
    summary = button(dry_run=False)

    # then orders-api goes back through both deployments to version 1, payments too; users (older) stays
    assert versions(lambda_client) == {"orders-api": ("1", {}), "payments": ("1", {}), "users": ("2", {})}
    assert summary.complete and summary.as_dict()["moved"] == 3
    assert [table.get(r.repository, r.build_no)["status"] for r in summary.results] == [REVERTED, REVERTED]
    assert table.get("my-app", 759)["status"] == PROMOTED


def test_the_incident_button_takes_only_the_repositories_named(
    promote, lambda_client, table, functions_table, locks, now
):
    # given two repositories promoted in the last hour
    promote(760, names=("payments",), at=now - timedelta(minutes=5))
    promote(5, names=("users",), at=now - timedelta(minutes=5), repository="billing")

    # when the button is pressed for billing only
    summary = revert_since(
        lambda_client, table, functions_table, locks, "bob", now, timedelta(hours=1), repositories=["billing"]
    )

    # then only billing's deployment is reverted
    assert [r.title for r in summary.results] == ["billing build 5"]
    assert versions(lambda_client)["payments"] == ("2", {})


def test_the_incident_button_finds_a_schedule_that_took_weeks_to_reach_its_promotion(
    promote, lambda_client, table, functions_table, locks, now
):
    # given a ten-step schedule, each step waited up to its week-long deadline: started 70 days ago, promoted
    # 20 minutes ago
    steps = tuple(Step(weight=(i + 1) / 20) for i in range(MAX_STEPS))
    promote(760, names=("payments",), at=now - timedelta(minutes=20), started=now - timedelta(days=70), steps=steps)

    # when the incident button is pressed for the last hour
    summary = revert_since(lambda_client, table, functions_table, locks, "bob", now, timedelta(hours=1))

    # then the deployment is found by when it was promoted, however long ago it started, and reverted
    assert [r.title for r in summary.results] == ["my-app build 760"]
    assert versions(lambda_client)["payments"] == ("1", {})


def test_a_window_that_is_not_positive_is_refused(lambda_client, table, functions_table, locks, now):
    with pytest.raises(ValueError, match="since: 0:00:00 is not a window"):
        revert_since(lambda_client, table, functions_table, locks, "bob", now, timedelta(0))


def test_the_sweeper_drops_a_dead_revert_s_locks_and_keeps_a_live_one(locks, make_deployment, fleet, now):
    # given a revert that died an hour ago holding orders-api's lock, and one running now holding payments'
    dead = make_deployment(
        execution_arn=revert_holder_id("my-app", 760, now - timedelta(hours=1)),
        functions=[FunctionTarget("orders-api", fleet["orders-api"], "1", "2")],
    )
    live = replace(dead, execution_arn=revert_holder_id("my-app", 761, now)).with_functions(
        [FunctionTarget("payments", fleet["payments"], "1", "2")]
    )
    assert locks.acquire(dead, now) == {} and locks.acquire(live, now) == {}

    # when the sweeper runs (no execution is asked about: Step Functions is not used)
    summary = sweep(locks=locks, sfn_client=None, clean=None, now=now, grace_seconds=60)  # type: ignore[arg-type]

    # then the dead revert's lock is dropped and the live one's kept
    assert summary["cleaned"] == [dead.execution_arn] and summary["running"] == 1
    assert set(locks.held()) == {fleet["payments"]}


def test_the_revert_message_is_short_and_counts_what_it_does_not_list(make_deployment):
    # given a revert that refused twelve functions
    refused = {f"fn-{i:02d}": "locked" for i in range(12)}

    # when its message is made
    message = slack.revert_message(make_deployment(), "alice", {}, refused, "prod")

    # then it names ten and counts the rest
    assert message["text"].startswith("Revert refused: my-app build 760 in prod (asked by alice). Refused: fn-00")
    assert message["text"].endswith("fn-09 (locked); and 2 more.")


def test_a_reverted_deployment_is_an_ending_clean_up_leaves_alone():
    # given a deployment item that was promoted then reverted, its execution long ended
    item = {"execution_arn": "arn:x", "deployment": {}, "status": REVERTED}

    # then nothing waits for Clean Up: its aliases are where the revert left them
    assert awaits_clean_up(item, "arn:x") is False


def test_a_revert_of_many_functions_names_the_first_few_in_the_trail_and_counts_them_all(
    make_function, upload, make_deployment, table, functions_table, lambda_client, revert, now
):
    # given build 760 promoted 25 functions
    names = [f"fn-{i:02d}" for i in range(25)]
    targets = []
    for name in names:
        targets.append(FunctionTarget(name, make_function(name), "1"))
        upload(name, 760)
    run_through(make_deployment(functions=targets), lambda_client, table, functions_table, now)

    # when it is reverted
    result = revert(760)

    # then all 25 move back, and the trail names the first 20 and counts 25 (the item stays small)
    assert len(result.moved) == 25
    event = table.get("my-app", 760)["trail"][-1]
    assert (sorted(event["moved"]), event["moved_count"]) == (names[:LISTED], 25)


def test_a_function_whose_alias_ran_latest_before_is_refused(
    make_function, upload, make_deployment, table, functions_table, lambda_client, revert, now
):
    # given build 760 was the first deployment of orders-api, whose alias ran $LATEST, and was promoted
    arn = make_function("orders-api", alias_version="$LATEST")
    upload("orders-api", 760)
    deployment = make_deployment(functions=[FunctionTarget("orders-api", arn, "$LATEST")])
    deployment = run_through(deployment, lambda_client, table, functions_table, now)
    upload("orders-api", 761)  # CI's next upload: $LATEST is no longer the code from before

    # when it is reverted, then the alias stays on the version it runs: $LATEST would run other code
    result = revert(760)
    assert result.refused["orders-api"].startswith("its alias ran $LATEST before this deployment (its first)")
    assert alias_state(lambda_client, "orders-api")[0] == "1"
