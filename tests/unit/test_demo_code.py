"""lambda_canary.demo's deployment packages: a sample build, and a faulty one that fails a share of its calls."""

from __future__ import annotations

import importlib.util
import io
import zipfile

import pytest

from lambda_canary import demo
from lambda_canary.demo import faulty_code, sample_code


def handler_of(package, tmp_path):
    """The handler of a deployment package, loaded from its app.py as Lambda's runtime loads it."""
    with zipfile.ZipFile(io.BytesIO(package)) as archive:
        archive.extractall(tmp_path)
    spec = importlib.util.spec_from_file_location(f"app_{tmp_path.name}", tmp_path / "app.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.handler


def failures(handler, calls):
    failed = 0
    for _ in range(calls):
        try:
            assert handler({}, None) == {"build": 2}
        except RuntimeError as error:
            assert "build 2 failed" in str(error)
            failed += 1
    return failed


@pytest.mark.parametrize(("share", "calls", "expected"), [(0.2, 2000, 400), (0.5, 7, 3), (0.3, 10, 3)])
def test_a_faulty_build_fails_the_share_asked_evenly(tmp_path, share, calls, expected):
    # given build 2's faulty package, failing a share of its invocations
    handler = handler_of(faulty_code(2, share), tmp_path)

    # when its handler is called again and again
    failed = failures(handler, calls)

    # then that share of the calls failed, the others answered: the same every run
    assert failed == expected


@pytest.mark.parametrize(("share", "expected"), [(0.0, 0), (1.0, 50)])
def test_a_share_of_none_or_all_fails_never_or_always(tmp_path, share, expected):
    # given a package failing none or all of its invocations; when it is called 50 times
    # then it failed that many
    assert failures(handler_of(faulty_code(2, share), tmp_path), 50) == expected


def test_the_sample_build_never_fails(tmp_path):
    # given build 2's sample package; when it is called 50 times, then it never failed
    assert failures(handler_of(sample_code(2), tmp_path), 50) == 0


@pytest.mark.parametrize("share", [-0.1, 1.5, float("nan")])
def test_a_share_outside_0_to_1_is_refused_naming_it(share):
    # when a faulty package is asked for with a share that is not one, then the error names the field
    with pytest.raises(ValueError, match="failure_share must be between 0 and 1"):
        faulty_code(2, share)


def test_the_demo_names_its_deployment_page_with_the_audit_links_signed_fields():
    # given the audit page's signed link from a Slack message of the local runtime
    audit = "http://127.0.0.1:8766/local/deployments?expires=1795690000&key=k1&signature=abc"

    # when the demo names the page of its deployment
    page = demo.deployment_page_link(audit, "demo-shop", 2)

    # then it is the deployment's page beside the audit page, carrying the same signed fields
    assert page == "http://127.0.0.1:8766/local/deployments/demo-shop/2?expires=1795690000&key=k1&signature=abc"


def test_the_demos_progress_says_the_split_of_every_alias_then_the_deployments_verdict():
    # given three aliases that split alike, and the analysis of the whole deployment
    alike = {name: ("1", {"2": 0.1}) for name in ("orders-api", "payments", "notifications")}
    analysis = {"verdict": "not_enough_traffic", "summary": "3 of 3 functions without enough traffic yet"}

    # when the watcher's progress lines are made
    lines = demo.progress_lines(alike, analysis)

    # then one line says the split is every alias's, the next that the verdict is the deployment's, in words
    assert lines == [
        "  every alias (3 functions): live -> v1 (v2 gets 10%)",
        "  canary analysis of the deployment: not enough traffic (3 of 3 functions without enough traffic yet)",
    ]


def test_the_demos_progress_names_the_aliases_of_each_split_while_they_differ():
    # given aliases caught in the middle of a move, and no analysis yet
    moving = {"orders-api": ("1", {"2": 0.25}), "payments": ("1", {"2": 0.1}), "notifications": ("1", {"2": 0.1})}

    # when the watcher's progress lines are made, then each split names its aliases and no verdict is claimed
    assert demo.progress_lines(moving, {}) == [
        "  orders-api: live -> v1 (v2 gets 25%)",
        "  payments, notifications: live -> v1 (v2 gets 10%)",
    ]
