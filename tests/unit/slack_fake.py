"""Slack's side of the network for the unit tests: incoming webhooks, the Web API and response_urls.

slack-sdk (WebClient, WebhookClient) sends with urllib, which opens one http.client connection per request
(`http.client.HTTPSConnection`, or `HTTPConnection` for http://, looked up when the request is sent).
SlackHttp stands in for those connections only: our code, slack-sdk's request building and answer parsing, its
retry handlers and urllib's handling of HTTP statuses all run; the bytes Slack would send come from here.

The answers are Slack's own: a webhook or a response_url answers 200 "ok" (text/html); the Web API answers
HTTP 200 with JSON {"ok": true, ...}, or {"ok": false, "error": "..."} when it refuses (no token: not_authed).
"""

from __future__ import annotations

import io
import json
import socket
from dataclasses import dataclass
from http import HTTPStatus
from http.client import HTTPConnection, HTTPResponse, HTTPSConnection
from typing import Any
from urllib.parse import parse_qs

SLACK_API = "https://slack.com/api"
SLACK_CHANNEL = "C0CANARY"
SLACK_BOT_TOKEN = "xoxb-unit-test-bot-token"
SLACK_WEBHOOK = "https://hooks.slack.com/services/T0CANARY/B0CANARY/unit-test-webhook"


@dataclass(frozen=True)
class Answer:
    """An HTTP answer as Slack sends it, status line and headers included."""

    status: int
    body: bytes
    content_type: str
    headers: tuple[tuple[str, str], ...] = ()

    def raw(self) -> bytes:
        head = [
            f"HTTP/1.1 {self.status} {HTTPStatus(self.status).phrase}",
            f"Content-Type: {self.content_type}",
            f"Content-Length: {len(self.body)}",
            "Connection: close",
            *(f"{name}: {value}" for name, value in self.headers),
        ]
        return ("\r\n".join(head) + "\r\n\r\n").encode() + self.body


def http_response(
    status: int, body: str | dict[str, Any], content_type: str | None = None, headers: dict[str, str] | None = None
) -> Answer:
    """An answer as Slack sends it: JSON for the Web API, plain text for webhooks and response_urls."""
    if isinstance(body, dict):
        return Answer(
            status, json.dumps(body).encode(), content_type or "application/json; charset=utf-8", _items(headers)
        )
    return Answer(status, body.encode(), content_type or "text/html", _items(headers))


def _items(headers: dict[str, str] | None) -> tuple[tuple[str, str], ...]:
    return tuple((headers or {}).items())


@dataclass(frozen=True)
class Dropped:
    """The request reached Slack (which may have acted on it), then the connection dropped before the answer."""

    error: Exception


Reply = Answer | Exception | Dropped


class _Socket:
    """What http.client.HTTPResponse reads the answer from."""

    def __init__(self, raw: bytes) -> None:
        self.raw = raw

    def makefile(self, mode: str, *args: Any, **kwargs: Any) -> io.BytesIO:
        return io.BytesIO(self.raw)

    def close(self) -> None:
        pass


class SlackHttp:
    """Slack, answering every connection urllib opens, and recording each request.

    `requests`: every request sent, in order: url, method, json (the JSON body) or form (a form body, one value
    per field), headers (as urllib sent them), timeout, and delivered (False when the connection was refused).
    chat.postMessage answers {"ok": true, "channel", "ts", "message"} with a new ts each time (1795690000.000100,
    .000200, ...); chat.update answers {"ok": true, ...}; usergroups.users.list answers the members of
    `usergroups[group]`, or no_such_subteam. `answers[url]` replaces the answer for one URL: an Answer
    (http_response), an exception raised while connecting (the request never left), or Dropped(exception)
    raised after the request went out; or a list of those, one per request in turn (the last one repeats).
    """

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.answers: dict[str, Reply | list[Reply]] = {}
        self.usergroups: dict[str, list[str]] = {}
        self._posted = 0

    def connection(self, scheme: str) -> type:
        """A stand-in for http.client's connection class of `scheme` (http or https)."""
        slack = self
        real = HTTPSConnection if scheme == "https" else HTTPConnection

        class Connection(real):  # type: ignore[valid-type,misc]
            """Never connects: urllib's request goes to SlackHttp.exchange (the class's helpers stay)."""

            def __init__(self, host: str, port: int | None = None, timeout: Any = None, **kwargs: Any) -> None:
                self.host, self.timeout, self.sock = host, timeout, None
                self._answer: Answer | Dropped | None = None
                self._method = "GET"

            def set_debuglevel(self, level: int) -> None:
                pass

            def set_tunnel(self, host: str, port: int | None = None, headers: Any = None) -> None:
                raise AssertionError("the unit tests reach Slack without a proxy")

            def request(
                self, method: str, url: str, body: bytes | None = None, headers: Any = None, **kwargs: Any
            ) -> None:
                self._method = method
                address = f"{scheme}://{self.host}{url}"
                self._answer = slack.exchange(address, method, body or b"", dict(headers or {}), self.timeout)

            def getresponse(self) -> HTTPResponse:
                answer = self._answer
                if isinstance(answer, Dropped):
                    raise answer.error
                assert answer is not None, "getresponse before request"
                response = HTTPResponse(_Socket(answer.raw()), method=self._method)  # type: ignore[arg-type]
                response.begin()
                return response

            def close(self) -> None:
                pass

        return Connection

    def exchange(self, url: str, method: str, body: bytes, headers: dict[str, str], timeout: Any) -> Answer | Dropped:
        """Record one request and answer it as Slack would (or raise, for a connection that fails)."""
        content_type = headers.get("Content-Type", "")
        request = {
            "url": url,
            "method": method,
            "json": json.loads(body) if content_type.startswith("application/json") else None,
            "form": (
                {k: v[0] for k, v in parse_qs(body.decode()).items()}
                if content_type.startswith("application/x-www-form-urlencoded")
                else None
            ),
            "headers": headers,
            "timeout": None if timeout is socket._GLOBAL_DEFAULT_TIMEOUT else timeout,  # type: ignore[attr-defined]
            "delivered": True,
        }
        self.requests.append(request)
        answer = self.answers.get(url)
        if isinstance(answer, list):
            answer = answer.pop(0) if len(answer) > 1 else answer[0]
        if isinstance(answer, Exception):
            request["delivered"] = False
            raise answer
        if answer is not None:
            return answer
        return self._slack(url, request)

    def _slack(self, url: str, request: dict[str, Any]) -> Answer:
        if not url.startswith(f"{SLACK_API}/"):
            return http_response(200, "ok")  # an incoming webhook, a response_url
        if not request["headers"].get("Authorization", "").startswith("Bearer xoxb-"):
            return http_response(200, {"ok": False, "error": "not_authed"})
        method, sent = url.removeprefix(f"{SLACK_API}/"), request["json"] or request["form"] or {}
        if method == "chat.postMessage":
            self._posted += 1
            ts = f"1795690000.{self._posted * 100:06d}"
            return http_response(200, {"ok": True, "channel": sent["channel"], "ts": ts, "message": {"ts": ts}})
        if method == "chat.update":
            return http_response(200, {"ok": True, "channel": sent["channel"], "ts": sent["ts"], "text": sent["text"]})
        if method == "usergroups.users.list":
            members = self.usergroups.get(sent.get("usergroup", ""))
            if members is None:
                return http_response(200, {"ok": False, "error": "no_such_subteam"})
            return http_response(200, {"ok": True, "users": members})
        return http_response(200, {"ok": False, "error": "unknown_method"})

    def to(self, url: str) -> list[Any]:
        """The JSON bodies Slack received at `url`."""
        return [request["json"] for request in self.requests if request["url"] == url and request["delivered"]]
