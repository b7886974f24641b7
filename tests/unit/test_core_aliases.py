"""canary_core.aliases on moto: publish, shift, promote and roll back every alias of a deployment."""

from __future__ import annotations

from typing import Any

import pytest

from canary_core import aliases
from canary_core.errors import AliasUpdateFailed
from canary_core.model import LATEST, FunctionTarget


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


def test_roll_back_restores_the_old_version_alone(fleet, lambda_client, alias_state):
    # given an alias sending 10% to version 2
    deployment = aliases.publish_versions(lambda_client, fleet("alias-rollback"))
    aliases.shift_traffic(lambda_client, deployment)

    # when the deployment is rolled back
    aliases.roll_back(lambda_client, deployment)

    # then the alias runs version 1 alone
    assert alias_state("alias-rollback") == ("1", {})


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
    aliases.roll_back(lambda_client, deployment)

    # then the alias is still on version 1 alone
    assert alias_state("alias-rollback-twice") == ("1", {})


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
