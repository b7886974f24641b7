"""canary_core.slack_requests: a request Slack sends to the interactivity endpoint, verified, then read.

Requests are signed here as Slack documents it (v0, HMAC-SHA256 of "v0:<timestamp>:<raw body>" with the app's
signing secret), independently of the code under test.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import timedelta
from urllib.parse import urlencode

import pytest

from canary_core.slack_requests import SlackAction, SlackRequestRejected, parse_action, signature, verify

SIGNING_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"  # the shape of a Slack app's signing secret


def slack_signature(secret: str, timestamp: str, body: str) -> str:
    return "v0=" + hmac.new(secret.encode(), f"v0:{timestamp}:{body}".encode(), hashlib.sha256).hexdigest()


def block_actions_body(payload: dict) -> str:
    """The form body Slack posts: one field, `payload`, the JSON of the interaction."""
    return urlencode({"payload": json.dumps(payload)})


@pytest.fixture
def payload(load_event):
    return load_event("slack-block-actions.json")


@pytest.fixture
def signed(payload, now):
    """(headers, body) of the sample button press, signed at `now` as Slack signs it."""
    body = block_actions_body(payload)
    timestamp = str(int(now.timestamp()))
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Slack-Request-Timestamp": timestamp,
        "X-Slack-Signature": slack_signature(SIGNING_SECRET, timestamp, body),
    }
    return headers, body


def rejection(headers, body, now, secret=SIGNING_SECRET):
    with pytest.raises(SlackRequestRejected) as rejected:
        verify(headers, body, secret, now)
    return rejected.value.status, str(rejected.value)


def test_signature_is_slacks_v0_scheme(now):
    # given a timestamp and a body
    timestamp, body = str(int(now.timestamp())), "payload=%7B%7D"

    # when the module signs them
    # then it gives what Slack's documented scheme gives
    assert signature(SIGNING_SECRET, timestamp, body) == slack_signature(SIGNING_SECRET, timestamp, body)


def test_a_request_slack_signed_just_now_is_accepted(signed, now):
    # given the sample press signed at `now`
    headers, body = signed

    # when it is verified at `now`
    # then nothing is raised
    verify(headers, body, SIGNING_SECRET, now)


def test_header_names_are_read_in_any_case(signed, now):
    # given the same request with its header names lowercased (API Gateway may pass them so)
    headers, body = signed

    # when it is verified
    # then it is accepted
    verify({name.lower(): value for name, value in headers.items()}, body, SIGNING_SECRET, now)


@pytest.mark.parametrize("seconds", [-300, 300])
def test_a_request_five_minutes_away_is_still_accepted(signed, now, seconds):
    # given the sample press signed at `now`
    headers, body = signed

    # when it is verified exactly five minutes later or earlier
    # then it is accepted
    verify(headers, body, SIGNING_SECRET, now + timedelta(seconds=seconds))


@pytest.mark.parametrize("seconds", [301, 3600])
def test_a_stale_request_is_refused(signed, now, seconds):
    # given the sample press signed at `now`, replayed later
    headers, body = signed

    # when it is verified more than five minutes later
    # then it is refused with 401 as stale (even though its signature is right)
    assert rejection(headers, body, now + timedelta(seconds=seconds)) == (
        401,
        "stale Slack request: its timestamp is more than five minutes away",
    )


def test_a_request_from_the_future_is_refused(payload, now):
    # given a press signed (correctly) with a timestamp six minutes ahead
    body = block_actions_body(payload)
    ahead = str(int(now.timestamp()) + 360)
    headers = {"X-Slack-Request-Timestamp": ahead, "X-Slack-Signature": slack_signature(SIGNING_SECRET, ahead, body)}

    # when it is verified at `now`
    # then it is refused as well
    assert rejection(headers, body, now)[1] == "stale Slack request: its timestamp is more than five minutes away"


def test_a_request_signed_with_another_secret_is_refused(payload, now):
    # given a press signed with a secret that is not the app's
    body = block_actions_body(payload)
    timestamp = str(int(now.timestamp()))
    headers = {
        "X-Slack-Request-Timestamp": timestamp,
        "X-Slack-Signature": slack_signature("not-the-apps-secret", timestamp, body),
    }

    # when it is verified
    # then it is refused with 401
    assert rejection(headers, body, now) == (401, "Slack signature does not match")


def test_a_body_changed_after_signing_is_refused(signed, now):
    # given the signed press with its body changed (rollback instead of approve)
    headers, body = signed
    changed = body.replace("approve", "rollback")
    assert changed != body

    # when it is verified
    # then it is refused
    assert rejection(headers, changed, now) == (401, "Slack signature does not match")


def test_a_timestamp_changed_after_signing_is_refused(signed, now):
    # given the signed press with its timestamp moved by a second
    headers, body = signed
    moved = {**headers, "X-Slack-Request-Timestamp": str(int(now.timestamp()) + 1)}

    # when it is verified
    # then it is refused
    assert rejection(moved, body, now) == (401, "Slack signature does not match")


@pytest.mark.parametrize(
    "missing",
    [
        {"X-Slack-Signature"},
        {"X-Slack-Request-Timestamp"},
        {"X-Slack-Signature", "X-Slack-Request-Timestamp"},
    ],
)
def test_a_request_without_the_signature_headers_is_refused(signed, now, missing):
    # given the press without some of Slack's headers
    headers, body = signed
    stripped = {name: value for name, value in headers.items() if name not in missing}

    # when it is verified
    # then it is refused with 401, saying the headers are missing
    assert rejection(stripped, body, now) == (401, "missing Slack signature headers")


@pytest.mark.parametrize("timestamp", ["", "abc", "-1", "1744018200.5", "١٧٤٤٠١٨٢٠٠"])
def test_a_timestamp_that_is_not_ascii_digits_is_refused(signed, now, timestamp):
    # given the press with a timestamp that is not plain digits (Arabic-Indic digits pass str.isdigit)
    headers, body = signed
    bad = {**headers, "X-Slack-Request-Timestamp": timestamp}

    # when it is verified
    # then it is refused as missing, without an error from int()
    assert rejection(bad, body, now) == (401, "missing Slack signature headers")


@pytest.mark.parametrize("given", ["v0=ünïcödé", "v0=" + "é" * 64, "v0=" + "0" * 63 + "€"])
def test_a_non_ascii_signature_is_refused_not_crashed_on(signed, now, given):
    # given the press with a signature holding non-ASCII characters
    headers, body = signed
    forged = {**headers, "X-Slack-Signature": given}

    # when it is verified
    # then it is refused with 401 (hmac.compare_digest on str would raise TypeError)
    assert rejection(forged, body, now) == (401, "Slack signature does not match")


@pytest.mark.parametrize("secret", ["", "  "])
def test_with_no_signing_secret_every_request_is_refused(payload, now, secret):
    # given a stack with no Slack signing secret (empty, or blanks), and a request "signed" with that key
    body = block_actions_body(payload)
    timestamp = str(int(now.timestamp()))
    headers = {"X-Slack-Request-Timestamp": timestamp, "X-Slack-Signature": slack_signature(secret, timestamp, body)}

    # when it is verified with that secret
    # then it is refused with 403: a key anyone can guess would let anyone sign
    status, message = rejection(headers, body, now, secret=secret)
    assert status == 403
    assert message == "this stack has no Slack signing secret: button presses are refused"


# --- parse_action ----------------------------------------------------------------------------------------


def test_parse_action_reads_the_sample_button_press(payload):
    # given the sample block_actions payload (events/slack-block-actions.json) as Slack posts it
    body = block_actions_body(payload)

    # when it is parsed
    action = parse_action(body)

    # then it gives the button, its value, who pressed it and where to answer
    assert action == SlackAction(
        action="approve",
        value="repository=my-app&build_no=760&action=approve&expires=4102444800&signature=0000",
        user_id="U0ALICE",
        user_name="alice",
        response_url="https://hooks.slack.com/actions/T0CANARY/1795690000/abcdefABCDEF0123456789",
    )


def test_a_user_without_a_username_is_named_by_name_then_by_id(payload):
    # given presses by users whose payload lacks username, then both names
    without_username = {**payload, "user": {"id": "U0BOB", "name": "bob", "team_id": "T0CANARY"}}
    only_id = {**payload, "user": {"id": "U0CAROL", "team_id": "T0CANARY"}}

    # when they are parsed
    # then the name, or else the id, is who decided
    assert parse_action(block_actions_body(without_username)).user_name == "bob"
    assert parse_action(block_actions_body(only_id)).user_name == "U0CAROL"


@pytest.mark.parametrize(
    "body",
    [
        "",
        "token=abc",
        "payload=not-json",
        urlencode({"payload": json.dumps([])}),
        urlencode({"payload": json.dumps({"type": "block_actions", "user": {"id": "U0ALICE"}, "actions": []})}),
        urlencode({"payload": json.dumps({"type": "view_submission", "user": {"id": "U0ALICE"}})}),
    ],
    ids=["empty", "no-payload", "not-json", "json-list", "no-action", "not-block-actions"],
)
def test_a_body_that_is_no_button_press_is_refused_with_400(body):
    # given a body that is not a block_actions button press
    # when it is parsed
    with pytest.raises(SlackRequestRejected) as rejected:
        parse_action(body)

    # then it is refused with 400 (a bad request, not a bad signature)
    assert rejected.value.status == 400
    assert str(rejected.value).startswith("not a block_actions payload (")
