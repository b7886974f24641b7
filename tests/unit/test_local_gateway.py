"""lambda_canary.local.gateway (the approval port) and lambda_canary.local.faults, without a server: the gateway is
driven as a WSGI app by werkzeug's test client; faults are armed and checked directly."""

from __future__ import annotations

import pytest
from werkzeug.test import Client

from lambda_canary.local import faults
from lambda_canary.local.gateway import (
    SLACK_API_PATH,
    SLACK_RESPONSE_PATH,
    SLACK_WEBHOOK_PATH,
    ApprovalGateway,
    SlackSink,
    path_parameters,
)

OFFICE = "203.0.113.24"
ELSEWHERE = "198.51.100.7"
BOT = {"Authorization": "Bearer xoxb-local-bot-token"}


@pytest.fixture
def sink() -> SlackSink:
    return SlackSink()


@pytest.fixture
def gateway(sink):
    """gateway(allowed_cidrs): a test client of the approval port of stage v1, which has no routes."""

    def make(allowed_cidrs=None):
        app = ApprovalGateway([], "v1", lambda: {"ApprovalApiUrl": "http://127.0.0.1:8765/v1"}, sink, allowed_cidrs)
        return Client(app)

    return make


def test_the_web_api_answers_as_slack_does(gateway, sink):
    # given the local Slack Web API
    client = gateway()

    # when a bot posts a message, then updates it
    posted = client.post(
        f"{SLACK_API_PATH}/chat.postMessage", json={"channel": "C0CANARY", "text": "request"}, headers=BOT
    )
    ts = posted.json["ts"]
    updated = client.post(
        f"{SLACK_API_PATH}/chat.update", json={"channel": "C0CANARY", "ts": ts, "text": "promoted"}, headers=BOT
    )

    # then both answer ok with the message's channel and ts (the update keeps the ts), and both are logged
    assert posted.status_code == 200 and posted.json["ok"] is True and posted.json["channel"] == "C0CANARY"
    assert updated.json == {"ok": True, "channel": "C0CANARY", "ts": ts}
    assert [entry["endpoint"] for entry in sink.log] == ["/api/chat.postMessage", "/api/chat.update"]
    assert sink.messages[1] == {"channel": "C0CANARY", "ts": ts, "text": "promoted"}


@pytest.mark.parametrize(
    ("headers", "body", "error"),
    [
        ({}, {"channel": "C0CANARY", "text": "x"}, "not_authed"),
        ({"Authorization": "Bearer xoxp-user-token"}, {"channel": "C0CANARY", "text": "x"}, "not_authed"),
        (BOT, {"text": "x"}, "channel_not_found"),
    ],
)
def test_the_web_api_refuses_as_slack_does(gateway, sink, headers, body, error):
    # given the local Slack Web API
    # when a call without a bot token, or without a channel, is made
    answer = gateway().post(f"{SLACK_API_PATH}/chat.postMessage", json=body, headers=headers)

    # then it answers HTTP 200 with ok false and Slack's error, and nothing is logged
    assert answer.status_code == 200
    assert answer.json == {"ok": False, "error": error}
    assert sink.messages == []


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_a_user_groups_members_are_read_from_a_query_or_a_form_as_slack_reads_them(gateway, sink, method):
    # given the user group S0RELEASE with one member
    client = gateway()
    client.post("/_local/slack/usergroups", json={"S0RELEASE": ["U0CAROL"]})
    url = f"{SLACK_API_PATH}/usergroups.users.list"

    # when the bot reads it with the group in the query string (GET) or in a form (POST, as slack-sdk does),
    # and reads a group that does not exist
    if method == "GET":
        found = client.get(url, query_string={"usergroup": "S0RELEASE"}, headers=BOT)
        missing = client.get(url, query_string={"usergroup": "S0GONE"}, headers=BOT)
    else:
        found = client.post(url, data={"usergroup": "S0RELEASE"}, headers=BOT)
        missing = client.post(url, data={"usergroup": "S0GONE"}, headers=BOT)

    # then the members come back, and a missing group gets Slack's error
    assert found.json == {"ok": True, "users": ["U0CAROL"]}
    assert missing.json == {"ok": False, "error": "no_such_subteam"}


def test_the_webhook_and_a_response_url_answer_ok(gateway, sink):
    # given the local webhook and response_url
    client = gateway()

    # when a message is posted to each
    webhook = client.post(SLACK_WEBHOOK_PATH, json={"text": "request"})
    response = client.post(f"{SLACK_RESPONSE_PATH}/abc123", json={"replace_original": True, "text": "decided"})

    # then the webhook answers "ok" in text and the response_url {"ok": true}, and GET /_local/slack lists both
    assert (webhook.status_code, webhook.text) == (200, "ok")
    assert response.json == {"ok": True}
    assert client.get("/_local/slack").json == [{"text": "request"}, {"replace_original": True, "text": "decided"}]


def test_a_body_that_is_not_json_is_refused_as_an_invalid_payload(gateway):
    # given the local webhook
    # when a body that is not JSON is posted
    answer = gateway().post(SLACK_WEBHOOK_PATH, data="text=hello", content_type="application/x-www-form-urlencoded")

    # then Slack's answer comes back
    assert (answer.status_code, answer.text) == (400, "invalid_payload")


def test_during_an_outage_slack_answers_503_and_keeps_nothing(gateway, sink):
    # given Slack is down
    sink.outage = True
    client = gateway()

    # when a webhook post and a Web API call are made
    webhook = client.post(SLACK_WEBHOOK_PATH, json={"text": "request"})
    api = client.post(f"{SLACK_API_PATH}/chat.postMessage", json={"channel": "C0CANARY"}, headers=BOT)

    # then both are answered 503, and nothing was received
    assert [(webhook.status_code, webhook.text), (api.status_code, api.text)] == [(503, "service_unavailable")] * 2
    assert sink.messages == []


def test_a_source_outside_the_allowed_cidrs_is_refused_as_api_gateway_refuses_it(gateway):
    # given an approval API whose resource policy lets only 203.0.113.0/24 in
    client = gateway(["203.0.113.0/24"])

    # when the decide page is requested from outside that range, and from inside it
    outside = client.get("/v1/decide?action=approve", environ_base={"REMOTE_ADDR": ELSEWHERE})
    inside = client.get("/v1/decide?action=approve", environ_base={"REMOTE_ADDR": OFFICE})

    # then the outsider gets API Gateway's 403 for a resource policy; the insider reaches the routes
    assert outside.status_code == 403
    assert outside.json == {
        "Message": "User: anonymous is not authorized to perform: execute-api:Invoke on resource: "
        "arn:aws:execute-api:us-east-1:********:local/v1/GET/decide"
    }
    assert inside.status_code == 403
    assert inside.json == {"message": "Missing Authentication Token"}  # this gateway has no routes


def test_every_source_is_allowed_by_default_and_the_local_endpoints_are_never_filtered(gateway):
    # given the default policy (0.0.0.0/0), and a policy that allows only the office
    default, office_only = gateway(), gateway(["203.0.113.0/24"])

    # when a page and the local endpoints are requested from elsewhere
    page = default.get("/v1/decide", environ_base={"REMOTE_ADDR": ELSEWHERE})
    outputs = office_only.get("/_local/outputs", environ_base={"REMOTE_ADDR": ELSEWHERE})

    # then the page reaches the routes, and the runtime's own endpoints answer
    assert page.json == {"message": "Missing Authentication Token"}
    assert outputs.json == {"ApprovalApiUrl": "http://127.0.0.1:8765/v1"}


# --- faults ----------------------------------------------------------------------------------------------


@pytest.fixture
def armed():
    faults.clear()
    yield faults
    faults.clear()


def outcomes(api: str, name: str, calls: int) -> list[str]:
    """For each of `calls` checks: "ok", or the injected error's code."""
    seen = []
    for _ in range(calls):
        try:
            faults.check(api, name)
            seen.append("ok")
        except faults.InjectedFault as fault:
            seen.append(fault.error_type)
    return seen


def test_a_fault_armed_with_skip_lets_the_first_calls_through(armed):
    # given UpdateAlias of orders-api fails twice once the first call has passed
    armed.arm("UpdateAlias", "orders-api", times=2, skip=1, code="ServiceException", status=500)

    # when UpdateAlias of orders-api is checked four times
    # then the first passes, the next two fail with the armed error, and the fourth passes
    assert outcomes("UpdateAlias", "orders-api", 4) == ["ok", "ServiceException", "ServiceException", "ok"]


def test_a_fault_applies_only_to_its_api_and_function_named_or_by_arn(armed):
    # given the next PublishVersion of payments fails
    armed.arm("PublishVersion", "payments", code="TooManyRequestsException", status=429)

    # when another API, another function, and payments by its qualified ARN are checked
    other_api = outcomes("UpdateAlias", "payments", 1)
    other_function = outcomes("PublishVersion", "orders-api", 1)
    by_arn = outcomes("PublishVersion", "arn:aws:lambda:us-east-1:123456789012:function:payments:live", 2)

    # then only payments' PublishVersion fails, once, with the armed error
    assert (other_api, other_function, by_arn) == (["ok"], ["ok"], ["TooManyRequestsException", "ok"])


@pytest.mark.parametrize(
    ("template", "path", "parameters"),
    [
        ("/deployments", "/deployments", {}),
        ("/deployments/{deployment+}", "/deployments/my-app/760", {"deployment": "my-app/760"}),
        ("/deployments/{deployment+}", "/deployments/org/shop/12", {"deployment": "org/shop/12"}),
        ("/deployments/{deployment+}", "/deployments", None),
        ("/deployments/{deployment+}", "/deployments/", None),
        ("/deployments", "/deployments/my-app/760", None),
        ("/items/{id}", "/items/7", {"id": "7"}),
        ("/items/{id}", "/items/7/more", None),
    ],
)
def test_the_gateway_matches_routes_with_path_parameters_as_api_gateway_does(template, path, parameters):
    # given a route of the template, when a request's path is matched against it,
    # then it gives the path parameters ({name+}: the rest of the path), or None when the route does not take it
    assert path_parameters(template, path) == parameters
