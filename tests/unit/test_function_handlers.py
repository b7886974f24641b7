"""The thin Lambda handlers in functions/*/app.py, called as Lambda calls them, on moto, with the sample events.

Each handler reads its settings and creates its clients at import (cold start), so each test imports a fresh
copy of the handler inside its own moto mock, with the environment template.yaml gives the functions.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import html
import importlib.util
import json
import logging
import time
import uuid
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import boto3
import pytest
from aws_lambda_powertools.utilities import parameters

from canary_core.errors import AliasUpdateFailed, InvalidInput
from canary_core.links import AuditLink, DecisionLink
from canary_core.model import PROMOTED, Analysis, Deployment, FunctionTarget
from canary_testing.browser import forms_in
from lambda_canary.local.gateway import decision_links

# The secret events/approve-get.json and events/approve-post.json are signed with (see events/README.md).
EVENTS_LINK_SECRET = "sample-events-link-secret"
EVENTS_LINK = DecisionLink("my-app", 760, "approve", 4102444800)
WEBHOOK = "https://hooks.slack.com/services/T000/B000/handler-test"
API_URL = "https://abc123defg.execute-api.us-east-1.amazonaws.com/v1"


@pytest.fixture
def stack(aws, dynamodb_table, locks_dynamodb_table, functions_dynamodb_table, monkeypatch):
    """The stack's tables and secrets on moto, and the environment template.yaml's Globals give every function."""
    secrets = boto3.client("secretsmanager", region_name="us-east-1")
    link_secret_arn = secrets.create_secret(Name="unit-LinkSigningSecret", SecretString=EVENTS_LINK_SECRET)["ARN"]
    webhook_secret_arn = secrets.create_secret(Name="unit-SlackWebhookSecret", SecretString=WEBHOOK)["ARN"]
    variables = {
        "ENVIRONMENT": "prod",
        "DEPLOYMENTS_TABLE": dynamodb_table.name,
        "LOCKS_TABLE": locks_dynamodb_table.name,
        "FUNCTIONS_TABLE": functions_dynamodb_table.name,
        "LINK_SECRET_ARN": link_secret_arn,
        "SLACK_WEBHOOK_SECRET_ARN": webhook_secret_arn,
        "DEFAULT_ALIAS": "live",
        "DEFAULT_WEIGHT": "0.1",
        "DEFAULT_PRE_APPROVE": "false",
        "DEFAULT_APPROVAL_TIMEOUT_SECONDS": "3600",
        "APPROVAL_API_URL": API_URL,
        "POWERTOOLS_LOG_LEVEL": "WARNING",
    }
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    parameters.clear_caches()  # secrets are cached per process for 5 minutes, as on Lambda
    yield variables
    parameters.clear_caches()


@pytest.fixture
def handler(stack, project_root):
    """handler("approval_api"): a cold start of functions/approval_api/app.py, as its own module."""

    def load(function: str) -> Any:
        path = project_root / "functions" / function / "app.py"
        spec = importlib.util.spec_from_file_location(f"unit_{function}_{uuid.uuid4().hex}", path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module

    return load


@pytest.fixture
def orders_and_payments(make_function, upload):
    """orders-api and payments, on version 1 with alias live; build 2 uploaded."""
    for name in ("orders-api", "payments"):
        make_function(name)
        upload(name, 2)


def test_the_sample_approval_events_are_signed_with_the_documented_secret(load_event):
    # given the sample GET and POST events of the approve link
    query = load_event("approve-get.json")["queryStringParameters"]
    body = load_event("approve-post.json")["body"]

    # when their link fields are compared with a link signed with the documented secret
    expected = EVENTS_LINK.params(EVENTS_LINK_SECRET.encode())

    # then both carry exactly that link
    assert query == expected
    assert dict(item.split("=", 1) for item in body.split("&")) == expected


@pytest.fixture
def sample_functions(make_function, upload):
    """The two functions events/start-execution.json names, on version 1 with alias live; build 2 uploaded."""
    for name in ("my-app-orders", "my-app-payments"):
        make_function(name)
        upload(name, 2)


def test_validate_input_opens_the_deployment_for_the_sample_ci_input(
    handler, sample_functions, load_event, lambda_context, dynamodb_table, locks_dynamodb_table, functions_table
):
    # given the two functions of the sample input, and the Validate Input payload the state machine sends
    execution_arn = "arn:aws:states:us-east-1:123456789012:execution:canary:my-app-760"
    event = {"input": load_event("start-execution.json"), "execution_arn": execution_arn}

    # when Validate Input runs
    result = handler("validate_input").lambda_handler(event, lambda_context)

    # then it returns the deployment of two functions (the state machine starts the state as {"deployment": it}),
    # whose names and the versions their alias runs are saved for the later steps, and it is opened
    deployment = result
    assert "functions" not in deployment and deployment["function_count"] == 2
    functions = [asdict(f) for f in functions_table.load(Deployment.from_state(deployment)).functions]
    assert [(f["name"], f["old_version"], f["new_version"]) for f in functions] == [
        ("my-app-orders", "1", None),
        ("my-app-payments", "1", None),
    ]
    assert (deployment["repository"], deployment["build_no"], deployment["execution_arn"]) == (
        "my-app",
        760,
        execution_arn,
    )
    item = dynamodb_table.get_item(Key={"repository": "my-app", "build_no": 760})["Item"]
    assert item["status"] == "SHIFTING"

    # and both functions are locked by this execution
    for function in functions:
        lock = locks_dynamodb_table.get_item(Key={"function_arn": function["function_arn"]})["Item"]
        assert (lock["repository"], lock["build_no"], lock["execution_arn"]) == ("my-app", 760, execution_arn)


def test_validate_input_logs_a_rejection_as_a_warning_naming_the_build(handler, load_event, lambda_context):
    # given the sample input (my-app build 760) naming functions that do not exist, and the handler's log lines
    raw = load_event("start-execution.json")
    validate_input, records = handler("validate_input"), []
    recorder = logging.Handler()
    recorder.emit = records.append  # type: ignore[method-assign]
    validate_input.logger.addHandler(recorder)

    # when Validate Input rejects it
    try:
        with pytest.raises(InvalidInput):
            validate_input.lambda_handler({"input": raw, "execution_arn": "arn:x"}, lambda_context)
    finally:
        validate_input.logger.removeHandler(recorder)

    # then a WARNING line names the build (so `canary logs my-app 760` finds it) and every problem
    (line,) = [record for record in records if record.getMessage() == "input rejected"]
    assert (line.levelname, line.deployment) == ("WARNING", f"{raw['repository']} build {raw['build_no']}")
    assert any("does not exist" in problem for problem in line.problems)


def test_validate_input_raises_invalid_input_the_state_machine_catches(handler, load_event, lambda_context):
    # given the sample input with a misspelt weight (and no functions created)
    raw = {**load_event("start-execution.json"), "wieght": 0.2}

    # when Validate Input runs
    with pytest.raises(InvalidInput) as invalid:
        handler("validate_input").lambda_handler({"input": raw, "execution_arn": "arn:x"}, lambda_context)

    # then the error type is InvalidInput (the name the state machine's Catch matches) and says what is wrong:
    # the misspelt field, and each function that does not exist, at once
    assert type(invalid.value).__name__ == "InvalidInput"
    assert invalid.value.problems == [
        "wieght: unknown field; did you mean 'weight'?",
        *(
            f"functions: {name!r} does not exist in this account and region; check the name"
            for name in raw["functions"]
        ),
    ]


def while_running(task: Any, sfn: Any) -> Any:
    """A task handler whose execution still runs: its Step Functions client is the fake answering RUNNING."""
    task.sfn_client = sfn
    return task


@pytest.fixture
def validated(orders_and_payments, make_deployment, table, functions_table, now):
    """The state Validate Input hands on for orders-api and payments (alias live on version 1, build 2
    uploaded), their deployment opened."""
    arn = "arn:aws:lambda:us-east-1:123456789012:function:"
    opened = make_deployment(functions=[FunctionTarget(name, arn + name, "1") for name in ("orders-api", "payments")])
    table.open(opened, now)
    functions_table.save(opened)
    return {"deployment": opened.to_state()}


def test_publish_shift_and_promote_handlers_carry_the_state_through(
    handler, validated, lambda_context, lambda_client, table, functions_table, sfn
):
    # given the state after Validate Input for the two functions, whose deployment it opened
    # when Publish And Shift runs
    traffic = while_running(handler("publish_and_shift"), sfn).lambda_handler(validated, lambda_context)

    # then it says the aliases are at the first step, its weight set now; the new versions are saved beside
    # the state
    assert (traffic["step"], traffic["weight"]) == (0, 0.1)
    assert abs(traffic["shifted_at"] - time.time()) < 60
    state = {**validated, "traffic": traffic}
    published = functions_table.load(Deployment.from_state(state["deployment"]))
    assert [f.new_version for f in published.functions] == ["2", "2"]
    # and every alias sends 10% to version 2
    alias = lambda_client.get_alias(FunctionName="payments", Name="live")
    assert (alias["FunctionVersion"], alias["RoutingConfig"]["AdditionalVersionWeights"]) == ("1", {"2": 0.1})

    # and it saved the deployment where Clean Up finds it
    assert table.get("my-app", 760)["deployment"] == state["deployment"]

    # when Promote runs
    promotion = while_running(handler("promote"), sfn).lambda_handler(validated, lambda_context)

    # then every alias runs version 2 alone, and its result says promoted
    assert promotion == {"promoted": True}
    assert lambda_client.get_alias(FunctionName="orders-api", Name="live")["FunctionVersion"] == "2"


def test_publish_and_shift_of_an_execution_stopped_meanwhile_moves_no_alias(
    handler, validated, lambda_context, lambda_client, make_sfn
):
    # given the state after Validate Input, and its execution stopped from the console since
    stopped = make_sfn(execution_status="ABORTED")

    # when Publish And Shift runs (a task Lambda goes on when its execution is stopped)
    with pytest.raises(AliasUpdateFailed, match="not moved: the execution ended"):
        while_running(handler("publish_and_shift"), stopped).lambda_handler(validated, lambda_context)

    # then it asked Step Functions once, and left every alias on version 1 alone
    assert stopped.described == [validated["deployment"]["execution_arn"]]
    for name in ("orders-api", "payments"):
        alias = lambda_client.get_alias(FunctionName=name, Name="live")
        assert (alias["FunctionVersion"], alias.get("RoutingConfig")) == ("1", None)


def test_roll_back_handler_restores_the_old_versions(handler, validated, lambda_context, lambda_client, sfn):
    # given two functions that were shifted to version 2
    while_running(handler("publish_and_shift"), sfn).lambda_handler(validated, lambda_context)

    # when Roll Back runs after an error (the state machine passes it the deployment)
    rollback = handler("roll_back").lambda_handler(validated, lambda_context)

    # then every alias runs version 1 alone, and its result says no alias was changed by someone else
    assert rollback == {"changed_outside": {}, "changed_outside_count": 0}
    for name in ("orders-api", "payments"):
        alias = lambda_client.get_alias(FunctionName=name, Name="live")
        assert alias["FunctionVersion"] == "1"
        assert alias.get("RoutingConfig", {}).get("AdditionalVersionWeights", {}) == {}


class FrozenClock:
    """Stands in for the `datetime` a handler module imported: now() is the test's fixed time."""

    def __init__(self, now: datetime) -> None:
        self._now = now

    def now(self, tz: Any = None) -> datetime:
        return self._now

    fromisoformat = staticmethod(datetime.fromisoformat)


def test_request_approval_plans_the_wait_and_posts_links_to_the_webhook(
    handler, make_deployment, table, functions_table, now, lambda_context, slack_http
):
    # given an opened deployment, and the state Publish And Shift hands on
    deployment = make_deployment()
    table.open(deployment, now)
    functions_table.save(deployment)
    t0 = int(now.timestamp())
    state = {"deployment": deployment.to_state(), "traffic": {"step": 0, "weight": 0.1, "shifted_at": t0 - 2}}
    app = handler("request_approval")
    app.datetime = FrozenClock(now)

    # when Request Approval runs, with Slack answering ok
    result = app.lambda_handler(state, lambda_context)

    # then it returns the plan of the wait: until half-time, reminders at half-time and 10 min before (the
    # deployment watches neither alarms nor metrics: no check)
    assert result == {
        "step": 0,
        "last_step": True,
        "step_started_at": t0 - 2,
        "deadline": t0 + 3600,
        "reminders": [t0 + 1800, t0 + 3000],
        "on_timeout": "rollback",
        "next_wait_seconds": 1800,
        "next_check_at": None,
        "verdict": None,
    }
    item = table.get("my-app", 760)
    assert item["status"] == "WAITING" and "task_token" not in item

    # and the webhook from the secret got links to the stack's API
    (message,) = slack_http.to(WEBHOOK)
    links = decision_links(message)
    assert set(links) == {"approve", "rollback"}
    assert all(url.startswith(API_URL + "/decide?") for url in links.values())


def test_await_decision_stores_the_token_it_is_called_with(handler, waiting_deployment, table, sfn, lambda_context):
    # given a deployment waiting for a decision, and the payload .waitForTaskToken sends Await Decision
    deployment = waiting_deployment(task_token=None)
    event = {"deployment": deployment.to_state(), "approval": {}, "task_token": "token-from-step-functions"}
    app = handler("await_decision")
    app.sfn_client = sfn

    # when Await Decision runs
    result = app.lambda_handler(event, lambda_context)

    # then the token is stored and the task waits
    assert result == {"resumed": False}
    assert table.get("my-app", 760)["task_token"] == "token-from-step-functions"
    assert sfn.calls == []


def test_check_canary_posts_the_due_reminder_and_plans_the_next_wait(
    handler, waiting_deployment, table, now, lambda_context, slack_http
):
    # given a deployment that watches nothing, waiting since `now`, whose first wait ended at half-time
    deployment = waiting_deployment(analysis=Analysis(mode="off"))
    t0 = int(now.timestamp())
    plan = {
        "step": 0,
        "last_step": True,
        "step_started_at": t0,
        "deadline": t0 + 3600,
        "reminders": [t0 + 1800, t0 + 3000],
        "on_timeout": "rollback",
        "next_wait_seconds": 1800,
    }
    state = {"deployment": deployment.to_state(), "approval": plan}
    app = handler("check_canary")
    app.datetime = FrozenClock(now + timedelta(minutes=30))

    # when Check Canary runs, with Slack answering ok
    result = app.lambda_handler(state, lambda_context)

    # then the reminder went to the webhook, and the next wait lasts until ten minutes before the deadline
    (reminder,) = slack_http.to(WEBHOOK)
    assert reminder["text"].startswith("Reminder: my-app build 760 still waits for a decision: 30 min left")
    assert result == {
        **plan,
        "reminders": [t0 + 3000],
        "next_wait_seconds": 1200,
        "next_check_at": None,
        "verdict": None,
    }
    assert table.get("my-app", 760)["trail"][-1]["event"] == "reminder sent"


def test_record_outcome_writes_the_ending_and_posts_it(
    handler, waiting_deployment, table, locks, locks_dynamodb_table, lambda_context, capsys, now, slack_http
):
    # given an approved and promoted deployment that holds its functions' locks
    deployment = waiting_deployment()
    assert locks.acquire(deployment, now) == {}
    decision = {"action": "approve", "decided_by": "approval link", "decided_at": "2025-04-07T09:45:00+00:00"}
    state = {"deployment": deployment.to_state(), "decision": decision, "promotion": {"promoted": True}}

    # when Record Outcome runs, with Slack answering ok
    result = handler("record_outcome").lambda_handler(state, lambda_context)

    # then the outcome is returned and stored, the token is gone, Slack got the news, and a metric was emitted
    assert result["status"] == PROMOTED
    item = table.get("my-app", 760)
    assert item["status"] == PROMOTED and "task_token" not in item
    assert slack_http.to(WEBHOOK)[-1]["text"].startswith("Promoted: my-app build 760.")
    assert '"DeploymentsPromoted"' in capsys.readouterr().out

    # and the functions' locks are released
    assert locks_dynamodb_table.scan()["Items"] == []


def test_record_outcome_keeps_the_locks_when_the_roll_back_failed(
    handler, waiting_deployment, table, locks, locks_dynamodb_table, lambda_context, now, slack_http
):
    # given a deployment whose roll back gave up (aliases may still carry weights), holding its locks
    deployment = waiting_deployment()
    assert locks.acquire(deployment, now) == {}
    failure = {"Error": "Canary.AliasUpdateFailed", "Cause": "Roll Back failed for 1 function(s): throttled"}
    state = {"deployment": deployment.to_state(), "rollback_error": failure}

    # when Record Outcome runs
    result = handler("record_outcome").lambda_handler(state, lambda_context)

    # then the failed roll back is recorded, and the locks stay for Clean Up or the sweeper to find
    assert result["error"] == "Canary.RollbackFailed"
    assert table.get("my-app", 760)["status"] == "FAILED"
    assert [item["execution_arn"] for item in locks_dynamodb_table.scan()["Items"]] == [deployment.execution_arn]


def test_clean_up_sweeps_on_its_schedule(handler, stack, locks_dynamodb_table, load_event, lambda_context):
    # given a lock left on orders-api by an execution of the state machine that Step Functions does not know
    # (it ended before opening its deployment, long ago)
    ghost = "arn:aws:states:us-east-1:123456789012:execution:lambda-canary-canary:ghost-1"
    locks_dynamodb_table.put_item(
        Item={
            "function_arn": "arn:aws:lambda:us-east-1:123456789012:function:orders-api",
            "repository": "my-app",
            "build_no": 1,
            "execution_arn": ghost,
            "acquired_at": "2026-12-01T00:00:00+00:00",
        }
    )

    # when Clean Up gets the schedule's event
    summary = handler("clean_up").lambda_handler(load_event("sweep-scheduled.json"), lambda_context)

    # then it swept: the execution was looked up and cleaned up, and the lock is gone
    assert summary == {"executions": 1, "running": 0, "left_to_event": 0, "cleaned": [ghost]}
    assert locks_dynamodb_table.scan()["Items"] == []


def test_approval_api_get_shows_the_confirmation_and_changes_nothing(
    handler, waiting_deployment, load_event, lambda_context, dynamodb_table
):
    # given my-app build 760 waiting for a decision, and the GET of its approve link
    waiting_deployment()
    before = dynamodb_table.get_item(Key={"repository": "my-app", "build_no": 760})["Item"]

    # when the click handler gets the request
    response = handler("approval_api").lambda_handler(load_event("approve-get.json"), lambda_context)

    # then it answers an uncacheable HTML page with the form, and the item is unchanged
    assert response["statusCode"] == 200
    headers = response.get("multiValueHeaders") or {}
    assert headers["Content-Type"] == ["text/html; charset=utf-8"]
    assert headers["Cache-Control"] == ["no-store"]
    assert headers["Referrer-Policy"] == ["no-referrer"]
    (form,) = forms_in(response["body"])
    assert form.fields == EVENTS_LINK.params(EVENTS_LINK_SECRET.encode())
    assert dynamodb_table.get_item(Key={"repository": "my-app", "build_no": 760})["Item"] == before


def test_approval_api_post_approves_and_records_the_visitor(
    handler, waiting_deployment, load_event, lambda_context, table, sfn
):
    # given my-app build 760 waiting on a task token, and the POST of its approve form
    waiting_deployment(task_token="token-approval-api")
    app = handler("approval_api")
    app.sfn_client = sfn  # Step Functions itself is not part of this test

    # when the click handler gets the request
    response = app.lambda_handler(load_event("approve-post.json"), lambda_context)

    # then it answers "Approved", resumed the execution, and recorded who clicked from where
    assert response["statusCode"] == 200
    assert "Approved: my-app build 760" in response["body"]
    assert [call["taskToken"] for call in sfn.calls] == ["token-approval-api"]
    decision = table.get("my-app", 760)["decision"]
    assert decision["source_ip"] == "203.0.113.24"
    assert decision["user_agent"].startswith("Mozilla/5.0 (Macintosh;")


def test_approval_api_takes_a_link_signed_with_the_previous_key(
    handler, stack, waiting_deployment, load_event, lambda_context, table, sfn
):
    # given the stack's link key rotated once since the sample link was signed (it is now AWSPREVIOUS)
    boto3.client("secretsmanager").put_secret_value(SecretId=stack["LINK_SECRET_ARN"], SecretString="rotated")
    waiting_deployment(task_token="token-previous-key")
    app = handler("approval_api")
    app.sfn_client = sfn

    # when the sample approve link is opened and its form posted
    page = app.lambda_handler(load_event("approve-get.json"), lambda_context)
    posted = app.lambda_handler(load_event("approve-post.json"), lambda_context)

    # then the open link still works: the page shows, the decision is taken
    assert page["statusCode"] == 200 and forms_in(page["body"])
    assert posted["statusCode"] == 200
    assert table.get("my-app", 760)["decision"]["action"] == "approve"


def test_approval_api_reads_the_keys_again_for_a_link_signed_with_a_key_it_has_not_seen(
    handler, stack, waiting_deployment, load_event, lambda_context, table, sfn
):
    # given a warm click handler that read the keys (the sample link's), then a rotation, and a link signed
    # with the new key by Request Approval
    waiting_deployment(task_token="token-new-key")
    app = handler("approval_api")
    app.sfn_client = sfn
    assert app.lambda_handler(load_event("approve-get.json"), lambda_context)["statusCode"] == 200
    boto3.client("secretsmanager").put_secret_value(SecretId=stack["LINK_SECRET_ARN"], SecretString="new-key")
    event = {**load_event("approve-post.json"), "body": urlencode(EVENTS_LINK.params(b"new-key"))}

    # when its form is posted within the five minutes the keys are cached
    response = app.lambda_handler(event, lambda_context)

    # then the handler reads the keys again instead of refusing the new link
    assert response["statusCode"] == 200
    assert table.get("my-app", 760)["decision"]["action"] == "approve"


def test_approval_api_refuses_a_link_whose_key_was_rotated_out(
    handler, stack, waiting_deployment, load_event, lambda_context, sfn
):
    # given the stack's link key rotated twice since the sample link was signed: neither key is its key
    secrets = boto3.client("secretsmanager")
    secrets.put_secret_value(SecretId=stack["LINK_SECRET_ARN"], SecretString="rotated-once")
    secrets.put_secret_value(SecretId=stack["LINK_SECRET_ARN"], SecretString="rotated-twice")
    waiting_deployment()
    app = handler("approval_api")
    app.sfn_client = sfn

    # when the sample approve form is posted
    response = app.lambda_handler(load_event("approve-post.json"), lambda_context)

    # then it is refused with 403 saying the key is not held, and nothing is resumed
    assert response["statusCode"] == 403
    assert "does not hold" in response["body"]
    assert sfn.calls == []


def test_clean_up_puts_back_the_aliases_of_a_stopped_execution_and_posts_the_ending(
    handler,
    slack_http,
    orders_and_payments,
    make_deployment,
    table,
    locks,
    locks_dynamodb_table,
    functions_table,
    lambda_client,
    lambda_context,
    sfn,
    now,
):
    # given my-app build 760 of the two functions, opened, locked, shifted to 10% on version 2 and waiting
    arn = "arn:aws:lambda:us-east-1:123456789012:function:"
    opened = make_deployment(functions=[FunctionTarget(name, arn + name, "1") for name in ("orders-api", "payments")])
    table.open(opened, now)
    functions_table.save(opened)
    assert locks.acquire(opened, now) == {}
    while_running(handler("publish_and_shift"), sfn).lambda_handler({"deployment": opened.to_state()}, lambda_context)
    table.await_decision(opened, int(now.timestamp()) + 3600, now)
    table.store_token(opened.repository, opened.build_no, "token-of-the-stopped-execution")

    # and the EventBridge event of its execution being stopped from the console
    event = {
        "version": "0",
        "id": "315c1398-40ff-a850-213b-158f73e60175",
        "detail-type": "Step Functions Execution Status Change",
        "source": "aws.states",
        "account": "123456789012",
        "time": "2025-04-07T09:45:00Z",
        "region": "us-east-1",
        "resources": [opened.execution_arn],
        "detail": {
            "executionArn": opened.execution_arn,
            "stateMachineArn": "arn:aws:states:us-east-1:123456789012:stateMachine:canary",
            "name": "my-app-760",
            "status": "ABORTED",
            "startDate": 1744018200000,
            "stopDate": 1744019100000,
            "input": json.dumps({"repository": "my-app", "build_no": 760, "functions": ["orders-api", "payments"]}),
            "output": None,
        },
    }

    # when Clean Up runs, with Slack answering ok
    result = handler("clean_up").lambda_handler(event, lambda_context)

    # then the aliases run version 1 alone, the ending is recorded, the locks are free, and Slack got the news
    assert result == {"cleaned": True, "rolled_back": True, "execution_status": "ABORTED"}
    for name in ("orders-api", "payments"):
        alias = lambda_client.get_alias(FunctionName=name, Name="live")
        assert (alias["FunctionVersion"], alias.get("RoutingConfig", {}).get("AdditionalVersionWeights", {})) == (
            "1",
            {},
        )
    assert table.get("my-app", 760)["status"] == "ROLLED_BACK"
    assert locks_dynamodb_table.scan()["Items"] == []
    (ending,) = slack_http.to(WEBHOOK)
    assert ending["text"].startswith("Rolled back: my-app build 760. The execution ended ABORTED")


# --- the approval API in Slack app mode ----------------------------------------------------------------

SIGNING_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
RESPONSE_URL = "https://hooks.slack.com/actions/T0CANARY/1795690000/abcdefABCDEF0123456789"


@pytest.fixture
def app_mode(stack, monkeypatch):
    """app_mode(approvers=""): the stack's environment for SlackMode app, with the app's secret on moto."""

    def configure(approvers: str = "") -> None:
        secret = json.dumps({"bot_token": "xoxb-handler-test", "signing_secret": SIGNING_SECRET})
        arn = boto3.client("secretsmanager").create_secret(Name="unit-SlackAppSecret", SecretString=secret)["ARN"]
        monkeypatch.setenv("SLACK_MODE", "app")
        monkeypatch.setenv("SLACK_CHANNEL", "C0CANARY")
        monkeypatch.setenv("SLACK_APP_SECRET_ARN", arn)
        monkeypatch.setenv("SLACK_APPROVERS", approvers)

    return configure


def slack_press_event(load_event, now: datetime) -> dict[str, Any]:
    """What API Gateway sends for Slack's POST /slack/interactivity: the sample press of the events' link, signed."""
    payload = load_event("slack-block-actions.json")
    payload["actions"][0]["value"] = urlencode(EVENTS_LINK.params(EVENTS_LINK_SECRET.encode()))
    body = urlencode({"payload": json.dumps(payload)})
    timestamp = str(int(now.timestamp()))
    digest = hmac.new(SIGNING_SECRET.encode(), f"v0:{timestamp}:{body}".encode(), hashlib.sha256).hexdigest()
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "User-Agent": "Slackbot 1.0 (+https://api.slack.com/robots)",
        "X-Slack-Request-Timestamp": timestamp,
        "X-Slack-Signature": f"v0={digest}",
    }
    event = load_event("approve-post.json")
    return {
        **event,
        "resource": "/slack/interactivity",
        "path": "/slack/interactivity",
        "headers": headers,
        "multiValueHeaders": {name: [value] for name, value in headers.items()},
        "body": body,
        "isBase64Encoded": False,
        "requestContext": {**event["requestContext"], "resourcePath": "/slack/interactivity"},
    }


class RecordingLambda:
    """Lambda's Invoke, as the click handler calls it to hand a press on: records the calls, answers 202."""

    def __init__(self) -> None:
        self.invocations: list[dict[str, Any]] = []

    def invoke(self, **call: Any) -> dict[str, Any]:
        self.invocations.append(call)
        return {"StatusCode": 202}


def test_approval_api_answers_a_slack_press_at_once_and_decides_it_in_its_own_invocation(
    handler, app_mode, waiting_deployment, load_event, lambda_context, table, sfn, now, slack_http
):
    # given an app-mode stack, my-app build 760 waiting on a task token, and alice's signed press of Approve
    app_mode()
    waiting_deployment(task_token="token-slack-handler")
    app = handler("approval_api")
    app.sfn_client, app.press_client = sfn, RecordingLambda()
    app.datetime = FrozenClock(now)

    # when the interactivity endpoint gets the request
    response = app.lambda_handler(slack_press_event(load_event, now), lambda_context)

    # then Slack gets 200 before anything is decided: the press went to this function, invoked asynchronously
    assert response["statusCode"] == 200
    assert "decision" not in table.get("my-app", 760) and sfn.calls == [] and slack_http.requests == []
    (invocation,) = app.press_client.invocations
    assert invocation["FunctionName"] == lambda_context.invoked_function_arn
    assert invocation["InvocationType"] == "Event"
    press = json.loads(invocation["Payload"])

    # when that invocation runs, with Slack's response_url answering ok
    assert app.lambda_handler(press, lambda_context) == {"handled": "approve"}

    # then the decision is alice's, at the time of the press; the execution resumed, and the message replaced
    decision = table.get("my-app", 760)["decision"]
    assert (decision["decided_by"], decision["user_id"], decision["decided_at"]) == (
        "alice",
        "U0ALICE",
        now.isoformat(),
    )
    assert [call["taskToken"] for call in sfn.calls] == ["token-slack-handler"]
    (replaced,) = slack_http.to(RESPONSE_URL)
    assert replaced["replace_original"] is True


def test_a_press_event_nobody_signed_decides_nothing(
    handler, app_mode, waiting_deployment, load_event, lambda_context, table, sfn, now, slack_http
):
    # given an app-mode stack, my-app build 760 waiting, and a press event made by someone who may invoke the
    # function but has no signing secret: alice's press, re-signed with another key
    app_mode()
    waiting_deployment(task_token="token-slack-handler")
    app = handler("approval_api")
    app.sfn_client = sfn
    app.datetime = FrozenClock(now)
    signed = slack_press_event(load_event, now)
    forged = {
        "x-slack-request-timestamp": signed["headers"]["X-Slack-Request-Timestamp"],
        "x-slack-signature": "v0=" + "0" * 64,
    }

    # when the function is invoked directly with it
    answer = app.lambda_handler({"slack_press": {"headers": forged, "body": signed["body"]}}, lambda_context)

    # then it is refused: nothing decided, nothing resumed, nothing posted
    assert answer == {"refused": "Slack signature does not match"}
    assert "decision" not in table.get("my-app", 760)
    assert sfn.calls == [] and slack_http.requests == []


def test_approval_api_refuses_links_when_only_named_approvers_decide(
    handler, app_mode, waiting_deployment, load_event, lambda_context, table, sfn
):
    # given an app-mode stack where only U0BOB may decide, and the approve link's form posted
    app_mode(approvers="U0BOB")
    waiting_deployment()
    app = handler("approval_api")
    app.sfn_client = sfn

    # when the link is opened and its form posted
    shown = app.lambda_handler(load_event("approve-get.json"), lambda_context)
    posted = app.lambda_handler(load_event("approve-post.json"), lambda_context)

    # then both are refused with 403, pointing at the Slack buttons, and nothing is decided
    for response in (shown, posted):
        assert response["statusCode"] == 403
        assert "Decide with the Slack buttons" in response["body"]
    assert "decision" not in table.get("my-app", 760)
    assert sfn.calls == []


def test_approval_api_has_no_slack_endpoint_in_webhook_mode(handler, load_event, lambda_context, sfn, now):
    # given a webhook-mode stack (the default)
    app = handler("approval_api")
    app.sfn_client = sfn

    # when a Slack press reaches /slack/interactivity
    response = app.lambda_handler(slack_press_event(load_event, now), lambda_context)

    # then it is 404
    assert response["statusCode"] == 404
    assert response["body"] == "SlackMode is not app on this stack"


def _with_headers(event: dict[str, Any], drop: tuple[str, ...] = (), **headers: str) -> dict[str, Any]:
    """The API Gateway event with some headers dropped or replaced (both header maps)."""
    kept = {k: v for k, v in event["headers"].items() if k not in drop}
    kept.update({name.replace("_", "-"): value for name, value in headers.items()})
    return {**event, "headers": kept, "multiValueHeaders": {k: [v] for k, v in kept.items()}}


@pytest.mark.parametrize(
    ("drop", "headers", "reason"),
    [
        ((), {"Origin": "https://evil.example"}, "it came from another site (Origin: https://evil.example)"),
        ((), {"Sec_Fetch_Site": "cross-site"}, "it came from another site (Sec-Fetch-Site: cross-site)"),
        ((), {"Sec_Fetch_Site": "same-site"}, "it came from another site (Sec-Fetch-Site: same-site)"),
        (("Origin",), {}, "it does not say where it came from (no Origin or Sec-Fetch-Site header)"),
        ((), {"Origin": "null"}, "it came from another site (Origin: null)"),
    ],
)
def test_approval_api_refuses_a_decision_posted_from_another_site(
    handler, waiting_deployment, load_event, lambda_context, table, sfn, drop, headers, reason
):
    # given my-app build 760 waiting, and its approve form posted by a page on another site (or by a script)
    waiting_deployment(task_token="token-cross-site")
    app = handler("approval_api")
    app.sfn_client = sfn
    event = _with_headers(load_event("approve-post.json"), drop, **headers)

    # when the click handler gets the request
    response = app.lambda_handler(event, lambda_context)

    # then it is refused with 403 saying why, and nothing is decided or resumed
    assert response["statusCode"] == 403
    assert reason in html.unescape(response["body"])
    assert "decision" not in table.get("my-app", 760)
    assert sfn.calls == []


def test_approval_api_takes_the_form_a_browser_posts_from_the_page_itself(
    handler, waiting_deployment, load_event, lambda_context, table, sfn
):
    # given the approve form as Chromium posts it from the confirmation page: Origin "null" (the page's
    # Referrer-Policy is no-referrer) and Sec-Fetch-Site same-origin
    waiting_deployment(task_token="token-same-origin")
    app = handler("approval_api")
    app.sfn_client = sfn
    event = _with_headers(load_event("approve-post.json"), Origin="null", Sec_Fetch_Site="same-origin")

    # when the click handler gets the request
    response = app.lambda_handler(event, lambda_context)

    # then the decision is taken
    assert response["statusCode"] == 200
    assert table.get("my-app", 760)["decision"]["action"] == "approve"


def test_approval_api_answers_a_body_that_is_not_utf8_with_400(
    handler, waiting_deployment, load_event, lambda_context, table, sfn
):
    # given a POST whose body is Latin-1 bytes, sent base64-encoded as API Gateway passes binary bodies
    waiting_deployment(task_token="token-latin1")
    app = handler("approval_api")
    app.sfn_client = sfn
    event = {**load_event("approve-post.json"), "body": base64.b64encode(b"action=approve&x=\xe9\xff").decode()}
    event["isBase64Encoded"] = True

    # when the click handler gets it
    response = app.lambda_handler(event, lambda_context)

    # then it answers 400 saying so, and nothing is decided
    assert (response["statusCode"], response["body"]) == (400, "The request body is not UTF-8 text.")
    assert "decision" not in table.get("my-app", 760)
    assert sfn.calls == []


def _audit_event(load_event, query: dict[str, str]) -> dict[str, Any]:
    """GET /deployments as API Gateway sends it, with this query."""
    event = load_event("approve-get.json")
    return {
        **event,
        "resource": "/deployments",
        "path": "/deployments",
        "queryStringParameters": query or None,
        "multiValueQueryStringParameters": {name: [value] for name, value in query.items()} or None,
        "requestContext": {**event["requestContext"], "resourcePath": "/deployments"},
    }


@pytest.mark.parametrize("query", [{}, {"format": "json"}, {"repository": "my-app"}])
def test_approval_api_refuses_the_audit_page_without_its_signed_link(
    handler, waiting_deployment, load_event, lambda_context, query
):
    # given a default stack with a deployment whose trail names its approver's address
    waiting_deployment()

    # when the audit page is asked for without a signed link (as a page, as JSON, filtered)
    response = handler("approval_api").lambda_handler(_audit_event(load_event, query), lambda_context)

    # then it is refused with 403, and nothing of the deployment is shown
    assert response["statusCode"] == 403
    assert "signed link" in response["body"]
    assert "my-app" not in response["body"].replace("repository=my-app", "")


def test_approval_api_shows_the_audit_page_through_its_signed_link(
    handler, waiting_deployment, load_event, lambda_context
):
    # given a deployment, and the audit link a Slack message carries (signed with the stack's key)
    waiting_deployment()
    link = AuditLink(int(datetime.now(UTC).timestamp()) + 3600)
    access = link.params(EVENTS_LINK_SECRET.encode())

    # when the page is opened through it, as a page and as JSON
    app = handler("approval_api")
    page = app.lambda_handler(_audit_event(load_event, access), lambda_context)
    as_json = app.lambda_handler(_audit_event(load_event, {**access, "format": "json"}), lambda_context)

    # then both show the deployment, and the page's own links and filter carry the signed fields on
    assert page["statusCode"] == 200 and "my-app" in page["body"]
    assert [row["build_no"] for row in json.loads(as_json["body"])["deployments"]] == [760]
    body = html.unescape(page["body"])
    assert f"format=json&{urlencode(access)}" in body
    for name, value in access.items():
        assert f'<input type="hidden" name="{name}" value="{value}">' in body


def _deployment_event(load_event, path: str, query: dict[str, str]) -> dict[str, Any]:
    """GET /deployments/{deployment+} as API Gateway sends it: the greedy parameter is what follows."""
    event = _audit_event(load_event, query)
    resource = "/deployments/{deployment+}"
    return {
        **event,
        "resource": resource,
        "path": f"/deployments/{path}",
        "pathParameters": {"deployment": path},
        "requestContext": {**event["requestContext"], "resourcePath": resource},
    }


def test_approval_api_shows_a_deployment_page_through_the_audit_link_only(
    handler, waiting_deployment, load_event, lambda_context
):
    # given a deployment, and the audit link a Slack message carries
    waiting_deployment()
    access = AuditLink(int(datetime.now(UTC).timestamp()) + 3600).params(EVENTS_LINK_SECRET.encode())
    app = handler("approval_api")

    # when its page is asked for with the link, without it, and for a build that does not exist
    page = app.lambda_handler(_deployment_event(load_event, "my-app/760", access), lambda_context)
    unsigned = app.lambda_handler(_deployment_event(load_event, "my-app/760", {}), lambda_context)
    missing = app.lambda_handler(_deployment_event(load_event, "my-app/761", access), lambda_context)
    nonsense = app.lambda_handler(_deployment_event(load_event, "my-app/latest", access), lambda_context)

    # then only the signed one shows the deployment, with a link back to the audit page carrying the link's
    # fields; the others are refused (403) or not found (404), naming the path's form
    assert page["statusCode"] == 200
    body = html.unescape(page["body"])
    assert "my-app build 760" in body and "Waiting for a decision" in body
    assert f'href="../../deployments?{urlencode(access)}"' in body
    assert unsigned["statusCode"] == 403 and "760" not in unsigned["body"]
    assert missing["statusCode"] == 404 and nonsense["statusCode"] == 404
    assert "deployments/&lt;repository&gt;/&lt;build number&gt;" in nonsense["body"]


ENVIRONMENT_BADGE = '<span class="env{}">{}</span><span class="visually-hidden"> environment:</span>'


@pytest.mark.parametrize(("environment", "badge_class"), [("prod", " is-prod"), ("qa", "")])
def test_approval_api_names_its_environment_at_the_top_of_every_page(
    handler, waiting_deployment, load_event, lambda_context, sfn, monkeypatch, environment, badge_class
):
    # given a stack of one environment, my-app build 760 waiting on a task token, and the audit link
    monkeypatch.setenv("ENVIRONMENT", environment)
    waiting_deployment(task_token="token-environment")
    access = AuditLink(int(datetime.now(UTC).timestamp()) + 3600).params(EVENTS_LINK_SECRET.encode())
    app = handler("approval_api")
    app.sfn_client = sfn

    # when the confirmation page, the result page, the audit page and the deployment's page are opened
    responses = {
        "confirmation": app.lambda_handler(load_event("approve-get.json"), lambda_context),
        "result": app.lambda_handler(load_event("approve-post.json"), lambda_context),
        "audit": app.lambda_handler(_audit_event(load_event, access), lambda_context),
        "deployment": app.lambda_handler(_deployment_event(load_event, "my-app/760", access), lambda_context),
    }

    # then each names the environment in its title and in a badge inside its heading (prod in red)
    for name, response in responses.items():
        assert response["statusCode"] == 200, name
        body = response["body"]
        heading = body[body.index("<h1>") : body.index("</h1>")]
        assert ENVIRONMENT_BADGE.format(badge_class, environment) in heading, name
        assert f"<title>[{environment}] " in body, name
