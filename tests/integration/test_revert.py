"""Revert, the incident button and the schema-change guard on the local runtime: real deployments run by the
real state machine, promoted, then reverted through the command's entry (lambda_canary.revert.cli_revert),
aliases read back with boto3, decisions made over HTTP as a person would."""

from __future__ import annotations

import io
import json

import boto3

from canary_testing.browser import open_and_submit
from lambda_canary.demo import ship_codes
from lambda_canary.revert import EXIT_BAD_ARGS, EXIT_DONE, EXIT_REFUSED, cli_revert


def promoted(fleet, build_no, names=None):
    """Build `build_no` of `names` (every function of the fleet by default), pre-approved and promoted."""
    names = list(names or fleet.names)
    if build_no != fleet.build_no:
        ship_codes(fleet.lam, names, build_no)
    request = {**fleet.request(pre_approve=True), "build_no": build_no, "functions": names}
    ended = fleet.wait(fleet.start(request))
    assert ended["status"] == "SUCCEEDED", ended


def revert(fleet, *args, **options):
    """cli_revert against the runtime's stack, as `canary revert` calls it: (exit code, what it printed)."""
    out, err = io.StringIO(), io.StringIO()
    code = cli_revert(boto3, fleet.runtime.outputs, *args, out=out, err=err, **options)
    return code, out.getvalue(), err.getvalue()


def test_revert_puts_back_every_alias_but_the_one_a_later_deployment_promoted(make_fleet):
    # given build 2 promoted version 2 of three functions, then build 3 promoted version 3 of the first
    fleet = make_fleet(3)
    first, *others = fleet.names
    promoted(fleet, 2)
    promoted(fleet, 3, [first])
    assert fleet.aliases() == {first: ("3", {}), **{name: ("2", {}) for name in others}}

    # when build 2 is reverted
    code, printed, _ = revert(fleet, fleet.repository, 2)

    # then the other two run version 1 again; the first keeps build 3's version, and is named as refused
    assert code == EXIT_REFUSED
    assert fleet.aliases() == {first: ("3", {}), **{name: ("1", {}) for name in others}}
    assert f"published by {fleet.repository} build 3" in printed
    assert all(f"{name}  v2 -> v1" in printed for name in others)

    # and the trail says who reverted what (the caller's AWS identity), and Slack was told
    item = fleet.table.get(fleet.repository, 2)
    assert item["status"] == "REVERTED"
    event = item["trail"][-1]
    assert event["event"] == "reverted in part" and event["decided_by"].startswith("arn:aws:")
    assert sorted(event["moved"]) == sorted(others) and list(event["refused"]) == [first]
    assert fleet.wait_for_text(f"Reverted: {fleet.repository} build 2")


def test_the_incident_button_dry_run_moves_nothing_then_reverts_the_window(make_fleet):
    # given build 2 of a fleet promoted a moment ago
    fleet = make_fleet(2)
    promoted(fleet, 2)

    # when a dry run of the last hour is asked (for this repository: the runtime is shared)
    code, printed, _ = revert(fleet, since="1h", repositories=[fleet.repository], dry_run=True, output="json")

    # then it says what would move and nothing moved
    assert code == EXIT_DONE
    answer = json.loads(printed)
    (deployment,) = answer["deployments"]
    assert deployment["moved"] == {name: "v2 -> v1" for name in fleet.names} and deployment["dry_run"]
    assert fleet.aliases() == {name: ("2", {}) for name in fleet.names}

    # when the incident button is pressed for real
    code, printed, _ = revert(fleet, since="1h", repositories=[fleet.repository])

    # then every alias is back on version 1, and the summary says so
    assert code == EXIT_DONE
    assert fleet.aliases() == {name: ("1", {}) for name in fleet.names}
    assert printed.rstrip().endswith("2 alias(es) moved back, 0 refused.")


def test_revert_with_bad_arguments_names_the_fix_and_moves_nothing(make_fleet):
    fleet = make_fleet(1)
    promoted(fleet, 2)
    for args, options, expected, exit_code in [
        ((), {}, "pass REPOSITORY BUILD", EXIT_BAD_ARGS),
        ((fleet.repository, "two"), {}, "BUILD: 'two' is not a build number", EXIT_BAD_ARGS),
        ((fleet.repository, 2), {"since": "1h"}, "not both", EXIT_BAD_ARGS),
        ((), {"since": "soon"}, "--since: 'soon' is not a duration", EXIT_BAD_ARGS),
        ((fleet.repository, 99), {}, f"no deployment {fleet.repository} build 99", EXIT_REFUSED),  # as status says
    ]:
        code, _, err = revert(fleet, *args, **options)
        assert (code, expected in err) == (exit_code, True), err
    assert fleet.aliases() == {name: ("2", {}) for name in fleet.names}


def test_an_irreversible_deployment_waits_for_a_click_with_no_weight_and_reverts_only_when_forced(make_fleet):
    # given a schema change, pre-approved in its input on a stack that allows pre-approval
    fleet = make_fleet(2)
    execution = fleet.start(pre_approve=True, irreversible=True)

    # when its request is posted
    request = fleet.wait_for_message(1)[0]

    # then it waits for a person: the old version keeps all traffic, and the message warns about data
    assert "will not undo data changes" in request["text"]
    assert fleet.aliases() == {name: ("1", {}) for name in fleet.names}
    assert fleet.sfn.describe_execution(executionArn=execution)["status"] == "RUNNING"
    item = fleet.item()
    assert item["status"] == "WAITING" and "decision" not in item

    # when a person approves it through the link's page
    assert open_and_submit(fleet.links()["approve"]).status_code == 200

    # then it is promoted
    assert fleet.wait(execution)["status"] == "SUCCEEDED"
    assert fleet.aliases() == {name: ("2", {}) for name in fleet.names}

    # when it is reverted without force, then it is refused, nothing moves, and the trail says so
    code, printed, _ = revert(fleet, fleet.repository, 2)
    assert code == EXIT_REFUSED and "refused: irreversible" in printed
    assert fleet.aliases() == {name: ("2", {}) for name in fleet.names}
    assert fleet.item()["trail"][-1]["event"] == "revert refused"

    # when it is reverted with force, then every alias goes back and the trail records it was forced
    code, printed, _ = revert(fleet, fleet.repository, 2, force=True)
    assert code == EXIT_DONE and "(forced)" in printed
    assert fleet.aliases() == {name: ("1", {}) for name in fleet.names}
    assert fleet.item()["trail"][-1]["forced"] is True
