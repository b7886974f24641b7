"""Bad input fails the execution at once, names the field or function and the fix, and touches no alias."""

from __future__ import annotations

import pytest

UNTOUCHED = ("1", {})


def _expect_rejected(fleet, execution_arn, *expected_words):
    ended = fleet.wait(execution_arn)
    assert ended["status"] == "FAILED"
    assert ended["error"] == "Canary.InvalidInput"
    for word in expected_words:
        assert word in ended["cause"], ended["cause"]
    assert fleet.aliases() == dict.fromkeys(fleet.names, UNTOUCHED)
    # Slack hears of it once, from Clean Up, naming the build and the cause, and of nothing else
    assert [m for m in fleet.messages() if not m["text"].startswith("Rejected:")] == []
    return ended


@pytest.mark.parametrize(
    ("change", "expected_words"),
    [
        (lambda r: r.pop("repository"), ("repository: missing",)),
        (lambda r: r.pop("build_no"), ("build_no: missing",)),
        (lambda r: r.pop("functions"), ("functions: missing",)),
        (lambda r: r.update(weight=1.5), ("weight: 1.5 is outside 0..1",)),
        (lambda r: r.update(weight=-0.1), ("weight: -0.1 is outside 0..1",)),
        (lambda r: r.update(wieght=0.2), ("wieght: unknown field", "did you mean 'weight'")),
        (lambda r: r.update(build_no="seven"), ("build_no: 'seven' is not a build number",)),
        (lambda r: r.update(approval_timeout_seconds=0), ("approval_timeout_seconds",)),
        (lambda r: r.update(functions=[]), ("functions: must be a non-empty list",)),
        (lambda r: r.update(alias="canary"), ("has no alias 'canary'", "create-alias")),
    ],
    ids=[
        "missing-repository",
        "missing-build_no",
        "missing-functions",
        "weight-above-1",
        "weight-below-0",
        "misspelt-field",
        "build_no-not-a-number",
        "timeout-zero",
        "no-functions",
        "alias-missing",
    ],
)
def test_bad_field_is_named_with_its_fix(make_fleet, change, expected_words):
    fleet = make_fleet(2)
    request = fleet.request()
    change(request)

    _expect_rejected(fleet, fleet.start(request), *expected_words)
    if "repository" in request and "build_no" in request:
        assert fleet.item() is None
    if "repository" in request and isinstance(request.get("build_no"), int):  # a build Slack can name
        told = fleet.wait_for_text("Rejected:")
        assert told["text"].startswith(f"Rejected: {fleet.repository} build {fleet.build_no}. ")
        assert all(word in told["text"] for word in expected_words)


def test_function_that_does_not_exist_is_named(make_fleet):
    fleet = make_fleet(2)
    request = fleet.request(functions=[*fleet.names, "no-such-function"])

    _expect_rejected(fleet, fleet.start(request), "'no-such-function' does not exist")


def test_duplicate_function_by_name_and_arn_is_named(make_fleet):
    fleet = make_fleet(2)
    arn = f"arn:aws:lambda:us-east-1:123456789012:function:{fleet.names[0]}"
    request = fleet.request(functions=[*fleet.names, arn])

    _expect_rejected(fleet, fleet.start(request), "functions[2]", "list each function once")


def test_every_problem_is_listed_at_once(make_fleet):
    fleet = make_fleet(1)
    request = fleet.request(weight=2, functions=[fleet.names[0], "ghost"])
    request.pop("repository")

    # a function that does not exist is named with the fields' problems: one rejection lists them all
    _expect_rejected(
        fleet, fleet.start(request), "repository: missing", "weight: 2 is outside 0..1", "'ghost' does not exist"
    )


def test_same_build_deployed_twice_is_refused_and_names_the_first_execution(make_fleet):
    fleet = make_fleet(2)
    first = fleet.start(pre_approve=True)
    assert fleet.wait(first)["status"] == "SUCCEEDED"
    promoted = fleet.aliases()

    ended = fleet.wait(fleet.start(pre_approve=True))

    assert ended["error"] == "Canary.InvalidInput"
    assert "already deployed by execution" in ended["cause"] and first.rsplit(":", 1)[1] in ended["cause"]
    assert fleet.aliases() == promoted
