"""Requests Slack sends to the app's interactivity endpoint: verified first, then read.

Slack signs each request: `X-Slack-Signature: v0=<hex HMAC-SHA256 of "v0:<timestamp>:<raw body>">` with the
app's signing secret, and `X-Slack-Request-Timestamp`. A request older than five minutes is refused so that
a captured request cannot be replayed later. slack-sdk's SignatureVerifier computes and compares the HMAC;
the refusals before it (no secret, missing headers, a stale request) are ours, so each says what is wrong.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import parse_qs

from slack_sdk.signature import Clock, SignatureVerifier

MAX_AGE_SECONDS = 300


class SlackRequestRejected(Exception):
    def __init__(self, message: str, status: int = 401) -> None:
        self.status = status
        super().__init__(message)


@dataclass(frozen=True)
class SlackAction:
    action: str  # approve | rollback (the button's action_id)
    value: str  # the button's value: the signed link's query string
    user_id: str
    user_name: str
    response_url: str


def signature(signing_secret: str, timestamp: str, body: str) -> str:
    """The signature Slack sends with `body` at `timestamp` (v0=<hex>); the integration tests sign presses with it."""
    return str(SignatureVerifier(signing_secret).generate_signature(timestamp=timestamp, body=body))


class FixedClock(Clock):
    """slack-sdk's clock, at the time the caller gives (the handler's clock, frozen in tests)."""

    def __init__(self, now: datetime) -> None:
        self.moment = now.timestamp()

    def now(self) -> float:
        return self.moment


def verify(headers: Mapping[str, str], body: str, signing_secret: str, now: datetime) -> None:
    if not signing_secret.strip():  # an empty key would make every forged signature "match"
        raise SlackRequestRejected("this stack has no Slack signing secret: button presses are refused", 403)
    lower = {k.lower(): v for k, v in headers.items()}
    timestamp, given = lower.get("x-slack-request-timestamp", ""), lower.get("x-slack-signature", "")
    if not timestamp.isascii() or not timestamp.isdigit() or not given:
        raise SlackRequestRejected("missing Slack signature headers")
    if abs(now.timestamp() - int(timestamp)) > MAX_AGE_SECONDS:
        raise SlackRequestRejected("stale Slack request: its timestamp is more than five minutes away")
    verifier = SignatureVerifier(signing_secret, clock=FixedClock(now))
    # hmac.compare_digest raises TypeError on non-ASCII str: such a signature cannot be Slack's hex digest
    if not given.isascii() or not verifier.is_valid(body, timestamp, given):
        raise SlackRequestRejected("Slack signature does not match")


def parse_action(body: str) -> SlackAction:
    """The button press in a `block_actions` payload (form field `payload`, JSON)."""
    try:
        payload = json.loads(parse_qs(body)["payload"][0])
        action = payload["actions"][0]
        user = payload["user"]
        return SlackAction(
            action=str(action["action_id"]),
            value=str(action.get("value", "")),
            user_id=str(user["id"]),
            user_name=str(user.get("username") or user.get("name") or user["id"]),
            response_url=str(payload["response_url"]),
        )
    except (KeyError, IndexError, TypeError, ValueError) as error:
        raise SlackRequestRejected(f"not a block_actions payload ({type(error).__name__})", status=400) from error
