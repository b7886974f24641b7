"""canary_core.config.Settings (the functions' environment) and canary_core.fanout.fan_out (one call per function)."""

from __future__ import annotations

import threading

import pytest

from canary_core import fanout
from canary_core.config import Settings
from canary_core.fanout import DEFAULT_RATE, Pacer, api_rate, fan_out
from canary_core.model import Analysis, Defaults, Hooks

ENVIRONMENT = {
    "ENVIRONMENT": "qa",
    "DEPLOYMENTS_TABLE": "lambda-canary-qa-DeploymentsTable",
    "LOCKS_TABLE": "lambda-canary-qa-LocksTable",
    "FUNCTIONS_TABLE": "lambda-canary-qa-FunctionsTable",
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
    assert settings.defaults == Defaults(
        alias="live", weight=0.1, pre_approve=True, approval_timeout_seconds=3600, analysis=Analysis(mode="advise")
    )


def test_the_stacks_policy_is_read_and_is_strict_when_unset():
    # given a function's variables without the policy's, and with the policy a dev stack might set
    relaxed = {
        **ENVIRONMENT,
        "ALLOW_PRE_APPROVE": "true",
        "ALLOW_ON_TIMEOUT_PROMOTE": "true",
        "MAX_NEW_VERSION_WEIGHT": "1",
        "MIN_PROMOTE_TIMEOUT_SECONDS": "60",
    }

    # when the settings are read
    strict, dev = Settings.from_env(ENVIRONMENT).defaults, Settings.from_env(relaxed).defaults

    # then unset means template.yaml's defaults (nothing allowed beyond the stack's own values), and set is typed
    assert (strict.allow_pre_approve, strict.allow_on_timeout_promote, strict.max_weight) == (False, False, 0.5)
    assert strict.min_promote_timeout_seconds == 900
    assert (dev.allow_pre_approve, dev.allow_on_timeout_promote, dev.max_weight) == (True, True, 1.0)
    assert dev.min_promote_timeout_seconds == 60


def test_the_stacks_analysis_alarms_and_hooks_are_read_as_template_yaml_passes_them():
    # given the variables template.yaml sets from AnalysisMode..AfterPromoteHook (Alarms joined with commas)
    environment = {
        **ENVIRONMENT,
        "ANALYSIS_MODE": "rollback",
        "ANALYSIS_INTERVAL_SECONDS": "30",
        "ANALYSIS_MIN_INVOCATIONS": "500",
        "ANALYSIS_CONFIDENCE": "0.95",
        "ANALYSIS_MAX_P99_RATIO": "2",
        "ALARMS": "orders-errors, payments-latency,orders-errors",
        "BEFORE_TRAFFIC_HOOK": "my-app-smoke",
        "AFTER_PROMOTE_HOOK": "",
    }

    # when the settings are read
    defaults = Settings.from_env(environment).defaults

    # then each is typed, alarms are listed once each, and an empty hook is none
    assert defaults.analysis == Analysis("rollback", 30, 500, 0.95, 2.0)
    assert defaults.alarms == ("orders-errors", "payments-latency")
    assert defaults.hooks == Hooks(before_traffic="my-app-smoke", after_promote=None)
    assert Settings.from_env(ENVIRONMENT).defaults.alarms == ()


def test_slack_replies_go_to_slacks_hosts_plus_only_what_the_environment_adds():
    # given a stack's variables, and the local runtime's, which adds its Slack sink
    local = {**ENVIRONMENT, "SLACK_EXTRA_RESPONSE_URL_PREFIXES": "http://127.0.0.1:8765/_local/slack/response/"}

    # when the settings are read
    # then Slack's own hosts are always there, and the sink only where the environment names it
    assert Settings.from_env(ENVIRONMENT).slack_response_url_prefixes == (
        "https://hooks.slack.com/",
        "https://hooks.slack-gov.com/",
    )
    assert Settings.from_env(local).slack_response_url_prefixes[-1] == "http://127.0.0.1:8765/_local/slack/response/"


def test_slack_settings_default_to_a_webhook_posting_to_slack_com():
    # given the variables without any of the Slack app's
    # when the settings are read
    settings = Settings.from_env(ENVIRONMENT)

    # then Slack is a webhook, the Web API is slack.com's, everyone may decide, and a deadline rolls back
    assert settings.slack_mode == "webhook"
    assert (settings.slack_channel, settings.slack_app_secret_arn) == ("", "")
    assert settings.slack_api_url == "https://slack.com/api"
    assert settings.slack_approvers == ()
    assert settings.defaults.on_timeout == "rollback"
    assert settings.links_allowed is True


def test_the_slack_app_settings_are_read_and_the_approvers_split():
    # given an app-mode stack with two approvers (template.yaml passes SlackApprovers as one string)
    environment = {
        **ENVIRONMENT,
        "SLACK_MODE": "app",
        "SLACK_CHANNEL": "C0CANARY",
        "SLACK_APP_SECRET_ARN": "arn:aws:secretsmanager:us-east-1:123456789012:secret:slack-app-AbCdEf",
        "SLACK_API_URL": "http://127.0.0.1:8765/slack/api",
        "SLACK_APPROVERS": "U0ALICE, U0BOB,,",
        "DEFAULT_ON_TIMEOUT": "promote",
    }

    # when the settings are read
    settings = Settings.from_env(environment)

    # then each is taken, the approvers listed without blanks, and links are off (only the approvers decide)
    assert (settings.slack_mode, settings.slack_channel) == ("app", "C0CANARY")
    assert settings.slack_app_secret_arn.endswith(":secret:slack-app-AbCdEf")
    assert settings.slack_api_url == "http://127.0.0.1:8765/slack/api"
    assert settings.slack_approvers == ("U0ALICE", "U0BOB")
    assert settings.defaults.on_timeout == "promote"
    assert settings.links_allowed is False


def test_an_app_without_approvers_keeps_the_links():
    # given an app-mode stack where everyone may decide
    # when the settings are read
    settings = Settings.from_env({**ENVIRONMENT, "SLACK_MODE": "app", "SLACK_APPROVERS": ""})

    # then the links work next to the buttons
    assert settings.links_allowed is True


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


# --- pacing at the control-plane quota ------------------------------------------------------------------


class FakeTime:
    """Stands in for the `time` module canary_core.fanout reads: sleep() only moves the clock, and is recorded."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(round(seconds, 9))
        self.now += seconds


@pytest.fixture
def fake_time(monkeypatch) -> FakeTime:
    """A fake clock for Pacer (it has no clock parameter: the module's `time` is replaced for the test)."""
    fake = FakeTime()
    monkeypatch.setattr(fanout, "time", fake)
    return fake


def test_a_pacer_spaces_calls_evenly_at_its_rate(fake_time):
    # given a pacer at 4 calls per second
    pacer = Pacer(4)

    # when four calls are started back to back
    for _ in range(4):
        pacer.wait()

    # then the first starts at once and each next one a quarter second after the previous
    assert fake_time.sleeps == [0.25, 0.25, 0.25]
    assert fake_time.now == 1000.75


def test_a_pacer_does_not_wait_when_calls_are_already_far_enough_apart(fake_time):
    # given a pacer at 4 calls per second whose caller takes half a second between calls
    pacer = Pacer(4)

    # when calls are started half a second apart
    pacer.wait()
    fake_time.now += 0.5
    pacer.wait()

    # then nobody waits
    assert fake_time.sleeps == []


def test_a_pacer_at_rate_zero_never_waits(fake_time):
    # given an unpaced pacer (rate 0)
    pacer = Pacer(0)

    # when many calls start back to back
    for _ in range(100):
        pacer.wait()

    # then nobody waits
    assert fake_time.sleeps == []


def test_fan_out_paces_its_calls_at_the_rate(fake_time):
    # given a fan-out at 10 calls per second over one worker (so that the order of the waits is known)
    # when five calls fan out
    results = fan_out(lambda item: item * 2, [1, 2, 3, 4, 5], rate=10, max_workers=1)

    # then the first call started at once and each next one a tenth of a second after the previous
    assert results == [2, 4, 6, 8, 10]
    assert fake_time.sleeps == [0.1, 0.1, 0.1, 0.1]


def test_the_api_rate_is_read_from_the_environment(monkeypatch):
    # given the variable template.yaml sets from LambdaApiRatePerSecond
    monkeypatch.setenv("LAMBDA_API_RATE_PER_SECOND", "7.5")

    # when the rate is read
    # then it is the variable's value
    assert api_rate() == 7.5


def test_the_api_rate_defaults_to_lambdas_quota(monkeypatch):
    # given no variable
    monkeypatch.delenv("LAMBDA_API_RATE_PER_SECOND", raising=False)

    # when the rate is read
    # then it is Lambda's control-plane quota of 15 requests per second
    assert api_rate() == DEFAULT_RATE == 15.0


def test_fan_out_with_the_rate_variable_at_zero_is_unpaced(monkeypatch, fake_time):
    # given the rate variable set to 0 (unpaced)
    monkeypatch.setenv("LAMBDA_API_RATE_PER_SECOND", "0")

    # when calls fan out without a rate of their own
    fan_out(lambda item: item, list(range(20)))

    # then nobody waits
    assert fake_time.sleeps == []
