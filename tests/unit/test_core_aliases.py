"""canary_core.aliases on moto: publish, shift, promote and roll back every alias of a deployment."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from botocore.exceptions import ClientError

from canary_core import aliases
from canary_core.errors import AliasUpdateFailed
from canary_core.model import LATEST, FunctionTarget
from lambda_canary.local import moto_patches


class RecordingLambda:
    """The real (moto) Lambda client, with a record of every UpdateAlias call made through it."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self.updated: list[str] = []

    def update_alias(self, **arguments: Any) -> Any:
        self.updated.append(arguments["FunctionName"].rsplit(":", 1)[-1])
        return self._client.update_alias(**arguments)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)


@pytest.fixture
def recording_lambda(lambda_client):
    return RecordingLambda(lambda_client)


@pytest.fixture
def alias_state(lambda_client):
    """alias_state(function) -> (main version, additional version weights) of its alias "live"."""

    def read(function: str) -> tuple[str, dict[str, float]]:
        alias = lambda_client.get_alias(FunctionName=function, Name="live")
        return alias["FunctionVersion"], alias.get("RoutingConfig", {}).get("AdditionalVersionWeights", {})

    return read


@pytest.fixture
def fleet(make_function, upload, make_deployment):
    """fleet(*names, alias_version="1", new_code=True): functions with alias "live", as Validate Input resolves them.

    With new_code, CI has uploaded the build's code, so publishing gives a new version.
    """

    def make(*names: str, alias_version: str = "1", new_code: bool = True):
        targets = []
        for name in names:
            arn = make_function(name, alias_version=alias_version)
            if new_code:
                upload(name, 2)
            targets.append(FunctionTarget(name=name, function_arn=arn, old_version=alias_version))
        return make_deployment(functions=targets)

    return make


def test_publish_versions_gives_each_function_a_new_version(fleet, lambda_client):
    # given two functions on version 1 whose new code CI uploaded
    deployment = fleet("alias-publish-a", "alias-publish-b")

    # when their versions are published
    published = aliases.publish_versions(lambda_client, deployment)

    # then each has a new version 2, its old version is kept, and the version says which build it is
    assert [(f.name, f.old_version, f.new_version) for f in published.functions] == [
        ("alias-publish-a", "1", "2"),
        ("alias-publish-b", "1", "2"),
    ]
    description = lambda_client.get_function_configuration(FunctionName="alias-publish-a", Qualifier="2")
    assert description["Description"] == "my-app build 760"
    assert published.repository == deployment.repository and published.build_no == deployment.build_no


def test_publish_versions_of_unchanged_code_gives_back_the_version_the_alias_runs(fleet, lambda_client):
    # given a function on version 1 and no new code uploaded
    deployment = fleet("alias-publish-same", new_code=False)

    # when its version is published
    published = aliases.publish_versions(lambda_client, deployment)

    # then the "new" version is the one the alias runs: the target is unchanged
    (target,) = published.functions
    assert target.new_version == "1"
    assert target.unchanged


def test_shift_traffic_sends_the_weight_to_the_new_version_and_keeps_the_main_version(
    fleet, lambda_client, alias_state
):
    # given two published functions whose aliases run version 1
    deployment = aliases.publish_versions(lambda_client, fleet("alias-shift-a", "alias-shift-b"))

    # when 10% of traffic is shifted
    aliases.shift_traffic(lambda_client, deployment)

    # then each alias still runs version 1 and sends 10% to version 2
    assert alias_state("alias-shift-a") == ("1", {"2": 0.1})
    assert alias_state("alias-shift-b") == ("1", {"2": 0.1})


def test_shift_traffic_pins_an_alias_on_latest_to_the_new_version(fleet, lambda_client, alias_state):
    # given a function whose alias runs $LATEST (no published version to split traffic with)
    deployment = aliases.publish_versions(lambda_client, fleet("alias-shift-latest", alias_version=LATEST))
    assert deployment.functions[0].pinned_from_latest

    # when traffic is shifted
    aliases.shift_traffic(lambda_client, deployment)

    # then the alias is pinned to the new version, with no weights
    assert alias_state("alias-shift-latest") == ("1", {})


def test_shift_traffic_leaves_a_function_with_unchanged_code_alone(fleet, recording_lambda, alias_state):
    # given a fleet where one function's code did not change
    changed = aliases.publish_versions(recording_lambda, fleet("alias-shift-changed"))
    same = aliases.publish_versions(recording_lambda, fleet("alias-shift-same", new_code=False))
    deployment = changed.with_functions(changed.functions + same.functions)

    # when traffic is shifted
    aliases.shift_traffic(recording_lambda, deployment)

    # then the unchanged function's alias is never updated and still runs version 1 alone
    assert recording_lambda.updated == ["alias-shift-changed"]
    assert alias_state("alias-shift-same") == ("1", {})
    assert alias_state("alias-shift-changed") == ("1", {"2": 0.1})


def test_promote_runs_the_new_version_alone(fleet, lambda_client, alias_state):
    # given two aliases sending 10% to version 2
    deployment = aliases.publish_versions(lambda_client, fleet("alias-promote-a", "alias-promote-b"))
    aliases.shift_traffic(lambda_client, deployment)

    # when the deployment is promoted
    aliases.promote(lambda_client, deployment)

    # then each alias runs version 2 alone
    assert alias_state("alias-promote-a") == ("2", {})
    assert alias_state("alias-promote-b") == ("2", {})


def test_promote_moves_no_alias_once_the_execution_ended(fleet, lambda_client, alias_state):
    # given three aliases sending 10% to version 2, and an execution that stops after its first alias moved
    deployment = aliases.publish_versions(lambda_client, fleet("alias-stop-a", "alias-stop-b", "alias-stop-c"))
    aliases.shift_traffic(lambda_client, deployment)
    answers = iter([True])

    # when the deployment is promoted, one alias at a time
    with pytest.raises(AliasUpdateFailed) as failed:
        aliases.promote(lambda_client, deployment, still_running=lambda: next(answers, False))

    # then one alias was promoted before the stop; the others were not touched, each named as not moved
    states = sorted(alias_state(name) for name in ("alias-stop-a", "alias-stop-b", "alias-stop-c"))
    assert states == [("1", {"2": 0.1}), ("1", {"2": 0.1}), ("2", {})]
    assert (
        list(failed.value.failures.values()) == ["not moved: the execution ended (Clean Up puts every alias back)"] * 2
    )


def test_roll_back_restores_the_old_version_alone(fleet, lambda_client, alias_state):
    # given an alias sending 10% to version 2
    deployment = aliases.publish_versions(lambda_client, fleet("alias-rollback"))
    aliases.shift_traffic(lambda_client, deployment)

    # when the deployment is rolled back
    rolled_back, changed_outside = aliases.roll_back(lambda_client, deployment)

    # then the alias runs version 1 alone, the deployment is returned, and no alias was changed by someone else
    assert alias_state("alias-rollback") == ("1", {})
    assert rolled_back == deployment
    assert changed_outside == {}


def test_roll_back_returns_a_pinned_alias_to_latest(fleet, lambda_client, alias_state):
    # given an alias that ran $LATEST and was pinned to the new version
    deployment = aliases.publish_versions(lambda_client, fleet("alias-rollback-latest", alias_version=LATEST))
    aliases.shift_traffic(lambda_client, deployment)

    # when the deployment is rolled back
    aliases.roll_back(lambda_client, deployment)

    # then the alias runs $LATEST again, with no weights
    assert alias_state("alias-rollback-latest") == (LATEST, {})


def test_roll_back_is_safe_to_repeat(fleet, lambda_client, alias_state):
    # given a deployment that was already rolled back once
    deployment = aliases.publish_versions(lambda_client, fleet("alias-rollback-twice"))
    aliases.shift_traffic(lambda_client, deployment)
    aliases.roll_back(lambda_client, deployment)

    # when it is rolled back again (a retry of the step)
    _, changed_outside = aliases.roll_back(lambda_client, deployment)

    # then the alias is still on version 1 alone, and finding it there is not a change from outside
    assert alias_state("alias-rollback-twice") == ("1", {})
    assert changed_outside == {}


def test_a_function_deleted_before_shift_fails_by_name_and_the_others_are_still_shifted(
    fleet, lambda_client, alias_state
):
    # given two published functions, one of which is deleted before traffic is shifted
    deployment = aliases.publish_versions(lambda_client, fleet("alias-fail-kept", "alias-fail-deleted"))
    lambda_client.delete_function(FunctionName="alias-fail-deleted")

    # when traffic is shifted
    with pytest.raises(AliasUpdateFailed) as failed:
        aliases.shift_traffic(lambda_client, deployment)

    # then the error names the deleted function and why; the other one was still shifted
    assert set(failed.value.failures) == {"alias-fail-deleted"}
    assert failed.value.failures["alias-fail-deleted"].startswith("ResourceNotFoundException: ")
    assert str(failed.value).startswith("Shift Traffic failed for 1 function(s): alias-fail-deleted: ")
    assert alias_state("alias-fail-kept") == ("1", {"2": 0.1})


def test_roll_back_restores_every_alias_it_can_when_one_function_fails(fleet, lambda_client, alias_state):
    # given a shifted fleet where the first function was deleted afterwards
    deployment = aliases.publish_versions(lambda_client, fleet("alias-rb-deleted", "alias-rb-kept"))
    aliases.shift_traffic(lambda_client, deployment)
    lambda_client.delete_function(FunctionName="alias-rb-deleted")

    # when the deployment is rolled back
    with pytest.raises(AliasUpdateFailed) as failed:
        aliases.roll_back(lambda_client, deployment)

    # then the failure names only the deleted function, and the other alias is back on version 1
    assert list(failed.value.failures) == ["alias-rb-deleted"]
    assert str(failed.value).startswith("Roll Back failed for 1 function(s): alias-rb-deleted: ")
    assert alias_state("alias-rb-kept") == ("1", {})


def test_a_failed_publish_names_the_function(fleet, lambda_client):
    # given two functions, one deleted before its version is published
    deployment = fleet("alias-pub-kept", "alias-pub-deleted")
    lambda_client.delete_function(FunctionName="alias-pub-deleted")

    # when versions are published
    with pytest.raises(AliasUpdateFailed) as failed:
        aliases.publish_versions(lambda_client, deployment)

    # then the error names the deleted function; the other one was still published
    assert list(failed.value.failures) == ["alias-pub-deleted"]
    assert str(failed.value).startswith("Publish Versions failed for 1 function(s)")
    assert lambda_client.get_function_configuration(FunctionName="alias-pub-kept", Qualifier="2")["Version"] == "2"


# --- compare-and-set: an alias is only moved from a state this deployment set ---------------------------


def test_a_retried_shift_finds_the_aliases_at_the_canary_and_updates_nothing(fleet, recording_lambda, alias_state):
    # given two aliases already sending 10% to version 2 (the step ran, then was retried)
    deployment = aliases.publish_versions(recording_lambda, fleet("cas-retry-a", "cas-retry-b"))
    aliases.shift_traffic(recording_lambda, deployment)
    recording_lambda.updated.clear()

    # when traffic is shifted again
    aliases.shift_traffic(recording_lambda, deployment)

    # then no alias is updated, and both are still at the canary
    assert recording_lambda.updated == []
    assert alias_state("cas-retry-a") == ("1", {"2": 0.1})


def test_a_retried_promote_and_roll_back_update_nothing(fleet, recording_lambda, alias_state):
    # given a promoted alias
    deployment = aliases.publish_versions(recording_lambda, fleet("cas-retry-promote"))
    aliases.shift_traffic(recording_lambda, deployment)
    aliases.promote(recording_lambda, deployment)
    recording_lambda.updated.clear()

    # when Promote is retried
    aliases.promote(recording_lambda, deployment)

    # then nothing is updated
    assert recording_lambda.updated == []
    assert alias_state("cas-retry-promote") == ("2", {})


def test_promote_leaves_an_alias_changed_outside_and_fails_naming_it(fleet, lambda_client, alias_state):
    # given two aliases at the canary, one of which someone put back on version 1 alone by hand
    deployment = aliases.publish_versions(lambda_client, fleet("cas-promote-kept", "cas-promote-changed"))
    aliases.shift_traffic(lambda_client, deployment)
    lambda_client.update_alias(
        FunctionName="cas-promote-changed", Name="live", RoutingConfig={"AdditionalVersionWeights": {}}
    )

    # when the deployment is promoted
    with pytest.raises(AliasUpdateFailed) as failed:
        aliases.promote(lambda_client, deployment)

    # then the failure names the changed function, what was expected and what was found
    assert failed.value.failures == {
        "cas-promote-changed": "changed outside the workflow: expected v1 with v2 at 10% or v2, found v1"
    }
    assert str(failed.value) == (
        "Promote failed for 1 function(s): cas-promote-changed: changed outside the workflow: "
        "expected v1 with v2 at 10% or v2, found v1"
    )

    # and the changed alias is left as it was set, the other one is promoted
    assert alias_state("cas-promote-changed") == ("1", {})
    assert alias_state("cas-promote-kept") == ("2", {})


def test_roll_back_leaves_an_alias_changed_outside_and_reports_it(fleet, lambda_client, alias_state):
    # given two aliases at the canary, one of which someone set to 50% on version 2 by hand
    deployment = aliases.publish_versions(lambda_client, fleet("cas-rb-kept", "cas-rb-changed"))
    aliases.shift_traffic(lambda_client, deployment)
    lambda_client.update_alias(
        FunctionName="cas-rb-changed", Name="live", RoutingConfig={"AdditionalVersionWeights": {"2": 0.5}}
    )

    # when the deployment is rolled back
    rolled_back, changed_outside = aliases.roll_back(lambda_client, deployment)

    # then it does not fail; it reports the changed alias and leaves it as it was set
    assert rolled_back == deployment
    assert changed_outside == {
        "cas-rb-changed": "changed outside the workflow: expected v1 with v2 at 10% or v2 or v1, "
        "found v1 with v2 at 50%"
    }
    assert alias_state("cas-rb-changed") == ("1", {"2": 0.5})
    assert alias_state("cas-rb-kept") == ("1", {})


def test_roll_back_of_a_deployment_that_never_published_expects_the_old_version(fleet, lambda_client, alias_state):
    # given a deployment that failed before Publish Versions, whose alias someone moved to version 2 meanwhile
    deployment = fleet("cas-rb-unpublished")
    lambda_client.publish_version(FunctionName="cas-rb-unpublished")
    lambda_client.update_alias(FunctionName="cas-rb-unpublished", Name="live", FunctionVersion="2")

    # when it is rolled back
    _, changed_outside = aliases.roll_back(lambda_client, deployment)

    # then the alias is not touched: this deployment never moved it
    assert changed_outside == {"cas-rb-unpublished": "changed outside the workflow: expected v1, found v2"}
    assert alias_state("cas-rb-unpublished") == ("2", {})


class RevisionCheckingLambda:
    """A Lambda client with one alias, whose RevisionId changes between GetAlias and UpdateAlias.

    `update_error` is the error code UpdateAlias answers (PreconditionFailedException: the RevisionId is stale).
    """

    def __init__(self, function_arn: str, version: str, weights: dict[str, float], update_error: str) -> None:
        self.alias = {
            "AliasArn": f"{function_arn}:live",
            "Name": "live",
            "FunctionVersion": version,
            "RoutingConfig": {"AdditionalVersionWeights": weights},
            "RevisionId": "revision-read-by-get-alias",
        }
        self.update_error = update_error
        self.updates: list[dict[str, Any]] = []

    def get_alias(self, **arguments: Any) -> dict[str, Any]:
        return dict(self.alias)

    def get_function(self, **arguments: Any) -> dict[str, Any]:
        return {"Configuration": {"State": "Active", "LastUpdateStatus": "Successful"}}

    def update_alias(self, **arguments: Any) -> dict[str, Any]:
        self.updates.append(arguments)
        raise ClientError({"Error": {"Code": self.update_error, "Message": "from the fake"}}, "UpdateAlias")


ARN = "arn:aws:lambda:us-east-1:123456789012:function:"


@pytest.fixture
def published(make_deployment):
    """published(name): a deployment of `name` from version 1 to the published version 2, 10% canary."""

    def make(name: str):
        return make_deployment(functions=[FunctionTarget(name, ARN + name, "1", "2")])

    return make


def test_shift_with_a_stale_revision_id_fails_as_changed_outside(published):
    # given an alias on version 1 that someone changes between GetAlias and UpdateAlias
    client = RevisionCheckingLambda(ARN + "cas-stale", "1", {}, "PreconditionFailedException")

    # when traffic is shifted
    with pytest.raises(AliasUpdateFailed) as failed:
        aliases.shift_traffic(client, published("cas-stale"))

    # then the update carried the RevisionId GetAlias read, and the refusal is reported as a change from outside
    (update,) = client.updates
    assert update["RevisionId"] == "revision-read-by-get-alias"
    assert update["RoutingConfig"] == {"AdditionalVersionWeights": {"2": 0.1}}
    assert failed.value.failures == {"cas-stale": "changed outside the workflow while being updated (was v1)"}


def test_roll_back_with_a_stale_revision_id_reports_the_alias_as_changed_outside(published):
    # given an alias at the canary that someone changes between GetAlias and UpdateAlias
    client = RevisionCheckingLambda(ARN + "cas-stale-rb", "1", {"2": 0.1}, "PreconditionFailedException")

    # when the deployment is rolled back
    _, changed_outside = aliases.roll_back(client, published("cas-stale-rb"))

    # then it does not fail, and reports the alias as changed while being updated
    assert changed_outside == {
        "cas-stale-rb": "changed outside the workflow while being updated (was v1 with v2 at 10%)"
    }
    assert client.updates[0]["FunctionVersion"] == "1"
    assert client.updates[0]["RoutingConfig"] == {"AdditionalVersionWeights": {}}


def test_any_other_update_error_is_a_failure_not_a_change_from_outside(published):
    # given UpdateAlias fails with a service error
    client = RevisionCheckingLambda(ARN + "cas-error", "1", {"2": 0.1}, "ServiceException")

    # when the deployment is rolled back
    # then the error fails the roll back, naming the function and AWS's error
    with pytest.raises(AliasUpdateFailed) as failed:
        aliases.roll_back(client, published("cas-error"))
    assert failed.value.failures == {"cas-error": "ServiceException: from the fake"}


class ChangedBetweenReadAndWrite:
    """The moto Lambda client; right after each GetAlias, someone else sets the alias to 50% on version 2."""

    def __init__(self, client: Any) -> None:
        self._client = client

    def get_alias(self, **arguments: Any) -> Any:
        alias = self._client.get_alias(**arguments)
        self._client.update_alias(
            FunctionName=arguments["FunctionName"],
            Name=arguments["Name"],
            RoutingConfig={"AdditionalVersionWeights": {"2": 0.5}},
        )
        return alias

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)


def test_on_moto_patched_to_check_revision_ids_a_concurrent_change_is_left_alone(
    fleet, lambda_client, alias_state, monkeypatch
):
    # given moto with the project's patches that renew and check an alias's RevisionId (as AWS does)
    for name in ("alias updates renew the RevisionId", "UpdateAlias checks the RevisionId"):
        owner, attribute, replacement = moto_patches.PATCHES[name]
        monkeypatch.setattr(owner, attribute, replacement)
    deployment = aliases.publish_versions(lambda_client, fleet("cas-concurrent"))
    aliases.shift_traffic(lambda_client, deployment)

    # when the deployment is rolled back while someone sets the alias to 50% between its read and its write
    _, changed_outside = aliases.roll_back(ChangedBetweenReadAndWrite(lambda_client), deployment)

    # then AWS's refusal of the stale RevisionId is reported, and the other person's change stands
    assert changed_outside == {
        "cas-concurrent": "changed outside the workflow while being updated (was v1 with v2 at 10%)"
    }
    assert alias_state("cas-concurrent") == ("1", {"2": 0.5})


def test_publish_versions_passes_the_code_sha256_ci_built(fleet, recording_lambda):
    # given two functions, one of which the input gave the CodeSha256 of the build's package
    deployment = fleet("cas-sha-given", "cas-sha-not-given")
    sha = recording_lambda.get_function_configuration(FunctionName="cas-sha-given")["CodeSha256"]
    deployment = deployment.with_functions([replace(deployment.functions[0], code_sha256=sha), deployment.functions[1]])
    published_with = {}

    def publish_version(**arguments):
        published_with[arguments["FunctionName"].rsplit(":", 1)[1]] = arguments.get("CodeSha256")
        return recording_lambda._client.publish_version(**arguments)

    recording_lambda.publish_version = publish_version

    # when their versions are published
    aliases.publish_versions(recording_lambda, deployment)

    # then Lambda is told which code to publish for the first (it refuses any other), and nothing for the second
    assert published_with == {"cas-sha-given": sha, "cas-sha-not-given": None}


def test_all_promoted_is_true_only_when_every_alias_runs_the_new_version_alone(fleet, lambda_client):
    # given a changed and an unchanged function, shifted
    changed = aliases.publish_versions(lambda_client, fleet("cas-all-changed"))
    same = aliases.publish_versions(lambda_client, fleet("cas-all-same", new_code=False))
    deployment = changed.with_functions(changed.functions + same.functions)
    aliases.shift_traffic(lambda_client, deployment)

    # when asked before and after Promote
    before = aliases.all_promoted(lambda_client, deployment)
    aliases.promote(lambda_client, deployment)
    after = aliases.all_promoted(lambda_client, deployment)

    # then only after (the unchanged function counts as promoted); a deployment never published is not promoted
    assert (before, after) == (False, True)
    assert aliases.all_promoted(lambda_client, fleet("cas-all-unpublished")) is False


class Recorder:
    """The `record` callback of publish_and_shift: what it was given, and each alias as it was at that moment."""

    def __init__(self, alias_state) -> None:
        self._alias_state = alias_state
        self.positions: list[int] = []
        self.aliases_when_recorded: dict[str, tuple[str, dict[str, float]]] = {}

    def __call__(self, deployment, positions: set[int]) -> None:
        for position in sorted(positions):
            target = deployment.functions[position]
            assert target.new_version is not None
            self.positions.append(position)
            self.aliases_when_recorded[target.name] = self._alias_state(target.name)


def test_publish_and_shift_records_each_new_version_before_its_alias_moves(fleet, lambda_client, alias_state):
    # given three functions on version 1 whose new code CI uploaded
    deployment = fleet("pipe-a", "pipe-b", "pipe-c")
    recorder = Recorder(alias_state)

    # when their versions are published and their traffic shifted
    shifted = aliases.publish_and_shift(lambda_client, deployment, recorder, record_seconds=0.05)

    # then every new version was recorded while its alias still ran version 1 alone
    assert sorted(recorder.positions) == [0, 1, 2]
    assert recorder.aliases_when_recorded == {name: ("1", {}) for name in ("pipe-a", "pipe-b", "pipe-c")}
    # and every alias now sends 10% to version 2, which the returned deployment names
    assert [f.new_version for f in shifted.functions] == ["2", "2", "2"]
    assert [alias_state(name) for name in ("pipe-a", "pipe-b", "pipe-c")] == [("1", {"2": 0.1})] * 3


def test_publish_and_shift_moves_aliases_while_later_versions_are_still_being_published(
    fleet, recording_lambda, monkeypatch
):
    # given 12 functions, and publishing paced at 6 per second (two seconds for all of them)
    deployment = fleet(*[f"pipe-{i:02d}" for i in range(12)])
    monkeypatch.setenv("LAMBDA_API_RATE_PER_SECOND", "6")
    order: list[str] = []
    publish = recording_lambda.publish_version
    monkeypatch.setattr(recording_lambda, "publish_version", lambda **a: order.append("publish") or publish(**a))
    update = recording_lambda.update_alias
    monkeypatch.setattr(recording_lambda, "update_alias", lambda **a: order.append("update") or update(**a))

    # when they are published and shifted, new versions recorded every tenth of a second
    aliases.publish_and_shift(recording_lambda, deployment, lambda *_: None, record_seconds=0.1)

    # then the first aliases moved before the last versions were published: the two quotas are used together
    assert order.count("publish") == order.count("update") == 12
    assert order.index("update") < len(order) - 1 - order[::-1].index("publish")


def test_publish_and_shift_shifts_every_function_it_could_publish_and_names_the_others(
    fleet, lambda_client, alias_state, monkeypatch
):
    # given two functions, the first of which Lambda refuses to publish
    deployment = fleet("pipe-broken", "pipe-fine")
    publish = lambda_client.publish_version

    def refuse_the_first(**arguments):
        if arguments["FunctionName"].endswith("pipe-broken"):
            raise ClientError({"Error": {"Code": "CodeStorageExceededException", "Message": "full"}}, "Publish")
        return publish(**arguments)

    monkeypatch.setattr(lambda_client, "publish_version", refuse_the_first)

    # when they are published and shifted
    with pytest.raises(AliasUpdateFailed) as failed:
        aliases.publish_and_shift(lambda_client, deployment, lambda *_: None, record_seconds=0.05)

    # then the failure names the function and why, its alias is untouched, and the other one was shifted
    assert failed.value.failures == {"pipe-broken": "CodeStorageExceededException: full"}
    assert alias_state("pipe-broken") == ("1", {})
    assert alias_state("pipe-fine") == ("1", {"2": 0.1})


@pytest.mark.parametrize("old_version", ["1", LATEST])
def test_a_step_at_no_weight_leaves_the_alias_as_it_was(old_version):
    # given a function whose alias runs version 1 (or $LATEST) and a new version 2
    target = FunctionTarget("orders-api", "arn:aws:lambda:us-east-1:123456789012:function:orders-api", old_version, "2")

    # when the canary's state at weight 0 (an irreversible deployment) is asked
    # then it is the state before the deployment: no split, and no pin of $LATEST to the new version
    assert aliases.canary(target, 0.0) == aliases.before(target)
