"""canary_core.config.Settings (the functions' environment) and canary_core.fanout.fan_out (one call per function)."""

from __future__ import annotations

import threading

import pytest

from canary_core.config import Settings
from canary_core.fanout import fan_out
from canary_core.model import Defaults

ENVIRONMENT = {
    "ENVIRONMENT": "qa",
    "DEPLOYMENTS_TABLE": "lambda-canary-qa-DeploymentsTable",
    "LOCKS_TABLE": "lambda-canary-qa-LocksTable",
    "LINK_SECRET_ARN": "arn:aws:secretsmanager:us-east-1:123456789012:secret:link-AbCdEf",
    "SLACK_WEBHOOK_SECRET_ARN": "arn:aws:secretsmanager:us-east-1:123456789012:secret:slack-AbCdEf",
    "APPROVAL_API_URL": "https://abc123defg.execute-api.us-east-1.amazonaws.com/v1/",
    "DEFAULT_ALIAS": "live",
    "DEFAULT_WEIGHT": "0.1",
    "DEFAULT_PRE_APPROVE": "True",
    "DEFAULT_APPROVAL_TIMEOUT_SECONDS": "3600",
}


def test_settings_are_read_from_the_environment_template_yaml_sets():
    # given the variables template.yaml gives a function
    # when the settings are read
    settings = Settings.from_env(ENVIRONMENT)

    # then each is typed, and the API URL has no trailing slash
    assert settings.environment == "qa"
    assert settings.table_name == "lambda-canary-qa-DeploymentsTable"
    assert settings.locks_table_name == "lambda-canary-qa-LocksTable"
    assert settings.approval_api_url == "https://abc123defg.execute-api.us-east-1.amazonaws.com/v1"
    assert settings.defaults == Defaults(alias="live", weight=0.1, pre_approve=True, approval_timeout_seconds=3600)


def test_missing_settings_are_named_together():
    # given an environment without the two tables and the link secret
    missing = ("DEPLOYMENTS_TABLE", "LOCKS_TABLE", "LINK_SECRET_ARN")
    environment = {k: v for k, v in ENVIRONMENT.items() if k not in missing}

    # when the settings are read
    # then all three are named
    with pytest.raises(
        RuntimeError, match=r"^missing environment variables: DEPLOYMENTS_TABLE, LOCKS_TABLE, LINK_SECRET_ARN \("
    ):
        Settings.from_env(environment)


def test_fan_out_returns_results_and_errors_in_item_order():
    # given a call that fails for one item
    def call(name: str) -> str:
        if name == "broken":
            raise RuntimeError(f"{name} failed")
        return name.upper()

    # when it runs over three items
    results = fan_out(call, ["a", "broken", "c"], label="Unit")

    # then every item was attempted and each result or error is in the item's place
    assert results[0] == "A" and results[2] == "C"
    assert isinstance(results[1], RuntimeError) and str(results[1]) == "broken failed"


def test_fan_out_of_nothing_is_nothing():
    # given no items
    # when the call fans out
    # then there is nothing to do
    assert fan_out(lambda item: item, []) == []


def test_fan_out_runs_at_most_max_workers_calls_at_once():
    # given a call that records how many run at the same time, held until three are running
    running, peak, lock = [0], [0], threading.Lock()
    three_running = threading.Barrier(3, timeout=5)

    def call(item: int) -> int:
        with lock:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
        if item < 3:
            three_running.wait()
        with lock:
            running[0] -= 1
        return item

    # when nine items fan out over three workers
    results = fan_out(call, list(range(9)), max_workers=3)

    # then all ran, and never more than three at once
    assert results == list(range(9))
    assert peak[0] == 3
