"""canary_core.validation.resolve_functions on moto: each function's alias looked up, problems named with the fix."""

from __future__ import annotations

import boto3
import pytest
from botocore.exceptions import ClientError

from canary_core.errors import InvalidInput
from canary_core.model import FunctionTarget
from canary_core.validation import DeploymentRequest, resolve_functions


def request_for(*functions: str, alias: str = "live", code_sha256: dict[str, str] | None = None) -> DeploymentRequest:
    return DeploymentRequest(
        repository="my-app",
        build_no=760,
        functions=functions,
        code_sha256=code_sha256 or {},
        alias=alias,
        weight=0.1,
        pre_approve=False,
        build_url=None,
        approval_timeout_seconds=3600,
    )


def test_functions_with_the_alias_resolve_to_targets_with_the_version_the_alias_runs(make_function, lambda_client):
    # given one function whose alias runs version 1 and one whose alias runs $LATEST
    orders_arn = make_function("resolve-orders-api", alias_version="1")
    payments_arn = make_function("resolve-payments", alias_version="$LATEST")

    # when they are resolved, one by name and one by ARN
    targets = resolve_functions(lambda_client, request_for("resolve-orders-api", payments_arn))

    # then each target has its name, unqualified ARN and the alias's version (what a roll back returns to)
    assert targets == [
        FunctionTarget(name="resolve-orders-api", function_arn=orders_arn, old_version="1"),
        FunctionTarget(name="resolve-payments", function_arn=payments_arn, old_version="$LATEST"),
    ]
    assert all(target.new_version is None for target in targets)


def test_a_missing_function_is_named_and_the_fix_is_to_check_the_name(make_function, lambda_client):
    # given one existing function and one that does not exist
    make_function("resolve-present")

    # when both are resolved
    with pytest.raises(InvalidInput) as invalid:
        resolve_functions(lambda_client, request_for("resolve-present", "resolve-absent"))

    # then the one problem names the missing function and says to check the name
    assert invalid.value.problems == [
        "functions: 'resolve-absent' does not exist in this account and region; check the name"
    ]


def test_a_function_without_the_alias_is_named_with_the_command_that_creates_it(make_function, lambda_client):
    # given a function that has no alias "canary-live"
    make_function("resolve-no-alias", alias=None)

    # when it is resolved for that alias
    with pytest.raises(InvalidInput) as invalid:
        resolve_functions(lambda_client, request_for("resolve-no-alias", alias="canary-live"))

    # then the problem names the function and the alias, and gives the command that creates the alias on a
    # published version (an alias on $LATEST leaves nothing to roll back to)
    assert invalid.value.problems == [
        "functions: 'resolve-no-alias' has no alias 'canary-live'; create it once with "
        "`aws lambda create-alias --function-name resolve-no-alias --name canary-live --function-version N`, "
        "N being the version `aws lambda publish-version` gives for the code that runs now"
    ]


def test_every_unresolvable_function_is_reported_at_once_and_the_messages_differ(make_function, lambda_client):
    # given a fleet with one good function, one without the alias and one that does not exist
    make_function("resolve-good")
    make_function("resolve-aliasless", alias=None)

    # when the fleet is resolved
    with pytest.raises(InvalidInput) as invalid:
        resolve_functions(lambda_client, request_for("resolve-good", "resolve-aliasless", "resolve-missing"))

    # then both problems come back together, in input order, each with its own explanation
    aliasless, missing = invalid.value.problems
    assert aliasless.startswith("functions: 'resolve-aliasless' has no alias 'live'")
    assert missing.startswith("functions: 'resolve-missing' does not exist")


class RefusingLambda:
    """A Lambda client whose GetAlias answers with one ClientError."""

    def __init__(self, code: str, message: str) -> None:
        self.code, self.message = code, message

    def get_alias(self, **kwargs):
        raise ClientError({"Error": {"Code": self.code, "Message": self.message}}, "GetAlias")


def test_a_function_the_stack_may_not_touch_is_named_with_the_prefix_to_use():
    # given a Lambda client refused access (the function is outside the stack's ManagedFunctionPrefix)
    denied = RefusingLambda("AccessDeniedException", "not authorized to perform lambda:GetAlias")

    # when a function is resolved
    with pytest.raises(InvalidInput) as invalid:
        resolve_functions(denied, request_for("resolve-forbidden"))

    # then the problem names the function and the parameter its name must match
    assert invalid.value.problems == [
        "functions: 'resolve-forbidden' may not be deployed by this stack (access denied); its name must start "
        "with the stack's ManagedFunctionPrefix parameter"
    ]


def test_a_function_that_cannot_be_read_is_named_with_the_error():
    # given a Lambda client whose GetAlias fails on Lambda's side
    failing = RefusingLambda("ServiceException", "internal error reading lambda:GetAlias")

    # when a function is resolved
    with pytest.raises(InvalidInput) as invalid:
        resolve_functions(failing, request_for("resolve-unreadable"))

    # then the problem names the function and passes AWS's reason on
    (problem,) = invalid.value.problems
    assert problem.startswith("functions: 'resolve-unreadable' could not be read: ")
    assert "ServiceException" in problem and "lambda:GetAlias" in problem


def test_an_alias_that_already_splits_traffic_is_refused(make_function, upload, lambda_client):
    # given a function whose alias sends 20% to version 2 (another canary, or a hand-made split)
    make_function("resolve-split")
    upload("resolve-split", 2)
    lambda_client.publish_version(FunctionName="resolve-split")
    lambda_client.update_alias(
        FunctionName="resolve-split", Name="live", RoutingConfig={"AdditionalVersionWeights": {"2": 0.2}}
    )

    # when it is resolved
    with pytest.raises(InvalidInput) as invalid:
        resolve_functions(lambda_client, request_for("resolve-split"))

    # then the problem names the function, the split and the fix
    assert invalid.value.problems == [
        "functions: 'resolve-split' alias 'live' already splits traffic (v2 at 20%); "
        "finish or roll back that canary first"
    ]


def test_a_split_alias_is_noted_for_the_caller_when_asked(make_function, upload, lambda_client):
    # given a function whose alias sends 20% to version 2, and one that does not split
    arn = make_function("resolve-split-noted")
    make_function("resolve-not-split")
    upload("resolve-split-noted", 2)
    lambda_client.publish_version(FunctionName="resolve-split-noted")
    lambda_client.update_alias(
        FunctionName="resolve-split-noted", Name="live", RoutingConfig={"AdditionalVersionWeights": {"2": 0.2}}
    )

    # when they are resolved with a place to note splits (the split may belong to a canary about to be superseded)
    splits: dict[str, str] = {}
    targets = resolve_functions(lambda_client, request_for("resolve-split-noted", "resolve-not-split"), splits=splits)

    # then both resolve, with the main version as the one to return to, and the split is noted
    assert [(t.name, t.old_version) for t in targets] == [("resolve-split-noted", "1"), ("resolve-not-split", "1")]
    assert targets[0].function_arn == arn
    assert splits == {
        "resolve-split-noted": "functions: 'resolve-split-noted' alias 'live' already splits traffic (v2 at 20%); "
        "finish or roll back that canary first"
    }


def test_code_other_than_the_code_ci_built_is_refused(make_function, lambda_client):
    # given a function whose uploaded code is not the package CI built (someone uploaded other code after CI)
    make_function("resolve-other-code")
    actual = lambda_client.get_function_configuration(FunctionName="resolve-other-code")["CodeSha256"]
    built = "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="
    assert actual != built

    # when it is resolved with the CodeSha256 CI built
    with pytest.raises(InvalidInput) as invalid:
        resolve_functions(lambda_client, request_for("resolve-other-code", code_sha256={"resolve-other-code": built}))

    # then the problem names both CodeSha256 values and the fix
    assert invalid.value.problems == [
        f"functions: 'resolve-other-code' code is not the code CI built (CodeSha256 {actual}, expected {built}); "
        "upload the build's package again, then start a new execution"
    ]


def test_the_code_ci_built_is_accepted_and_carried_to_publishing(make_function, lambda_client):
    # given a function whose uploaded code is the package CI built, given by ARN
    arn = make_function("resolve-same-code")
    built = lambda_client.get_function_configuration(FunctionName="resolve-same-code")["CodeSha256"]

    # when it is resolved with that CodeSha256
    (target,) = resolve_functions(lambda_client, request_for(arn, code_sha256={arn: built}))

    # then the target carries it, for Publish Versions to pass on
    assert target == FunctionTarget("resolve-same-code", arn, "1", code_sha256=built)


def test_a_function_whose_latest_runs_as_another_role_is_refused_before_anything_moves(make_function, lambda_client):
    # given a function with alias live on version 1, whose $LATEST was given another execution role
    make_function("resolve-new-role")
    other_role = boto3.client("iam").create_role(RoleName="resolve-other-role", AssumeRolePolicyDocument="{}")
    lambda_client.update_function_configuration(FunctionName="resolve-new-role", Role=other_role["Role"]["Arn"])

    # when it is resolved
    with pytest.raises(InvalidInput) as invalid:
        resolve_functions(lambda_client, request_for("resolve-new-role"))

    # then it is refused: Lambda weights an alias only between versions with the same role
    (problem,) = invalid.value.problems
    assert problem.startswith(
        f"functions: 'resolve-new-role' $LATEST runs as role {other_role['Role']['Arn']}, a different execution "
        "role than version 1 (alias 'live' now), and Lambda splits an alias's traffic only between versions with "
        "the same execution role and dead-letter queue"
    )
    assert "release this change without a canary" in problem


def test_an_alias_on_latest_is_not_checked_for_a_weighted_split(make_function, lambda_client):
    # given an alias on $LATEST (it is pinned to the new version, never split), with another role since
    make_function("resolve-latest-role", alias_version="$LATEST")
    other_role = boto3.client("iam").create_role(RoleName="resolve-latest-other", AssumeRolePolicyDocument="{}")
    lambda_client.update_function_configuration(FunctionName="resolve-latest-role", Role=other_role["Role"]["Arn"])

    # when it is resolved
    (target,) = resolve_functions(lambda_client, request_for("resolve-latest-role"))

    # then it is accepted
    assert target.old_version == "$LATEST"
