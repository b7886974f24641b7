"""Slack's side of `requests.post` for the unit tests: incoming webhooks, the Web API and response_url.

The answers are Slack's own: a webhook answers 200 "ok" (text/html); chat.postMessage and chat.update answer
HTTP 200 with JSON {"ok": true, ...}, or {"ok": false, "error": "..."} when they refuse.
"""

from __future__ import annotations

import json
from typing import Any

import requests

SLACK_API = "https://slack.com/api"
SLACK_CHANNEL = "C0CANARY"
SLACK_BOT_TOKEN = "xoxb-unit-test-bot-token"
SLACK_WEBHOOK = "https://hooks.slack.com/services/T0CANARY/B0CANARY/unit-test-webhook"


def http_response(status: int, body: str | dict[str, Any], content_type: str | None = None) -> requests.Response:
    """A requests.Response as Slack sends it: JSON for the Web API, plain text for webhooks."""
    response = requests.Response()
    response.status_code = status
    if isinstance(body, dict):
        response._content = json.dumps(body).encode()
        response.headers["Content-Type"] = content_type or "application/json; charset=utf-8"
    else:
        response._content = body.encode()
        response.headers["Content-Type"] = content_type or "text/html"
    return response


class SlackHttp:
    """Stands in for `requests.post` towards Slack, and records every request.

    An incoming webhook and a response_url answer 200 "ok"; chat.postMessage answers {"ok": true, "channel",
    "ts"} with a new ts each time (1795690000.000100, .000200, ...); chat.update answers {"ok": true, ...}.
    `answers[url]` replaces the answer for one URL (a Response, or an exception to raise).
    """

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.answers: dict[str, requests.Response | Exception] = {}
        self._posted = 0

    def __call__(
        self, url: str, *, json: Any = None, headers: dict[str, str] | None = None, timeout: float | None = None
    ) -> requests.Response:
        self.requests.append({"url": url, "json": json, "headers": headers, "timeout": timeout})
        answer = self.answers.get(url)
        if isinstance(answer, Exception):
            raise answer
        if answer is not None:
            return answer
        if url == f"{SLACK_API}/chat.postMessage":
            self._posted += 1
            ts = f"1795690000.{self._posted * 100:06d}"
            return http_response(200, {"ok": True, "channel": json["channel"], "ts": ts, "message": {"ts": ts}})
        if url == f"{SLACK_API}/chat.update":
            return http_response(200, {"ok": True, "channel": json["channel"], "ts": json["ts"], "text": json["text"]})
        return http_response(200, "ok")

    def to(self, url: str) -> list[Any]:
        """The JSON bodies posted to `url`."""
        return [request["json"] for request in self.requests if request["url"] == url]
