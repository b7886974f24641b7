"""The approval port: API Gateway (REST API, Lambda proxy) in front of the click handler, the Slack sink,
and the local runtime's own endpoints.

- /<stage>/<path>        -> the function the template routes there, invoked through the emulator with the
                            event API Gateway sends (REST API payload format 1.0)
- POST /_local/slack/webhook -> stands in for Slack's incoming webhook; answers "ok" as Slack does
- POST /_local/slack/api/chat.postMessage, chat.update -> stand in for Slack's Web API (bot token needed)
- GET or POST /_local/slack/api/usergroups.users.list -> a user group's members, as set by
  POST /_local/slack/usergroups {"S0123": ["U0123", ...]}
- POST /_local/slack/latency {"seconds": 2} -> Slack takes that long to answer every call from then on
- POST /_local/slack/response/<id> -> stands in for an interaction's response_url
- GET /_local/slack      -> every payload received, oldest first, exactly as posted
- GET /_local/slack/log  -> the same, each with the endpoint it was posted to
- GET /_local/outputs    -> the stack's outputs and the emulator's endpoint
- GET /_local/iam/denied -> every call a stack function made that its template policies do not allow
"""

from __future__ import annotations

import base64
import ipaddress
import json
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from typing import Any

import boto3
from werkzeug.serving import BaseWSGIServer, make_server
from werkzeug.wrappers import Request, Response

from lambda_canary.local import iam
from lambda_canary.local.stack import ApiRoute

SLACK_WEBHOOK_PATH = "/_local/slack/webhook"
SLACK_API_PATH = "/_local/slack/api"
SLACK_RESPONSE_PATH = "/_local/slack/response"


class SlackSink:
    def __init__(self) -> None:
        self._log: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._next_ts = 0
        self.outage = False  # tests set it: Slack then answers as it does when it is down
        self.usergroups: dict[str, list[str]] = {}  # usergroups.users.list; set by POST /_local/slack/usergroups
        self.latency = 0.0  # seconds Slack takes to answer each call; set by POST /_local/slack/latency

    def receive(self, request: Request) -> Response:
        """One post to the webhook, the Web API or a response_url, answered as Slack answers it."""
        if self.outage:
            return Response("service_unavailable", status=503, content_type="text/plain")
        try:
            payload = json.loads(request.get_data())
        except ValueError:
            return Response("invalid_payload", status=400)  # Slack's answer to a body that is not JSON
        endpoint = request.path.removeprefix("/_local/slack")
        if endpoint == "/usergroups":  # the local runtime's own control: which users each group has
            self.usergroups.update(payload)
            return _json({"ok": True})
        if endpoint == "/latency":  # the local runtime's own control: a slow Slack
            self.latency = float(payload["seconds"])
            return _json({"ok": True})
        time.sleep(self.latency)
        if request.path.startswith(SLACK_API_PATH):
            if not request.headers.get("Authorization", "").startswith("Bearer xoxb-"):
                return _json({"ok": False, "error": "not_authed"})
            if not payload.get("channel"):
                return _json({"ok": False, "error": "channel_not_found"})
        with self._lock:
            self._log.append({"endpoint": endpoint, "payload": payload})
            self._next_ts += 1
            ts = payload.get("ts") or f"{int(time.time())}.{self._next_ts:06d}"
        if request.path.startswith(SLACK_API_PATH):
            return _json({"ok": True, "channel": payload["channel"], "ts": ts})
        if request.path.startswith(SLACK_RESPONSE_PATH):
            return _json({"ok": True})
        return Response("ok", content_type="text/plain")

    def group_members(self, request: Request) -> Response:
        """usergroups.users.list, a read method: the group in the query string (GET) or a form (POST, as
        slack-sdk sends every call), as Slack takes it."""
        time.sleep(self.latency)
        if not request.headers.get("Authorization", "").startswith("Bearer xoxb-"):
            return _json({"ok": False, "error": "not_authed"})
        members = self.usergroups.get(request.values.get("usergroup", ""))
        if members is None:
            return _json({"ok": False, "error": "no_such_subteam"})
        return _json({"ok": True, "users": members})

    @property
    def messages(self) -> list[Any]:
        with self._lock:
            return [entry["payload"] for entry in self._log]

    @property
    def log(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._log)


def decision_links(slack_message: dict[str, Any]) -> dict[str, str]:
    """{action_id: url} of the link buttons in a Slack message: what a person reads off a message."""
    return {
        element["action_id"]: element["url"]
        for block in slack_message.get("blocks", [])
        if block.get("type") == "actions"
        for element in block.get("elements", [])
        if "url" in element
    }


def audit_link(slack_message: dict[str, Any]) -> str:
    """The signed link to the audit page at the foot of a Slack message."""
    for block in slack_message.get("blocks", []):
        if block.get("block_id") == "audit":
            match = re.search(r"<([^|>]+)\|", block["elements"][0]["text"])
            if match:
                return match.group(1)
    raise ValueError("no audit link in this Slack message")


class ApprovalGateway:
    def __init__(
        self,
        routes: list[ApiRoute],
        stage: str,
        outputs: Callable[[], dict[str, str]],
        slack: SlackSink,
        allowed_cidrs: list[str] | None = None,
    ) -> None:
        self.routes = routes
        self.allowed_networks = [ipaddress.ip_network(c, strict=False) for c in allowed_cidrs or ["0.0.0.0/0"]]
        self.stage = stage
        self.outputs = outputs
        self.slack = slack
        self._lambda = boto3.client("lambda")

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        request = Request(environ)
        return self.dispatch(request)(environ, start_response)

    def dispatch(self, request: Request) -> Response:
        if request.path == "/_local/outputs" and request.method == "GET":
            return _json(self.outputs())
        if request.path == "/_local/slack" and request.method == "GET":
            return _json(self.slack.messages)
        if request.path == "/_local/slack/log" and request.method == "GET":
            return _json(self.slack.log)
        if request.path == "/_local/iam/denied" and request.method == "GET":
            return _json(list(iam.denied))
        if request.path == f"{SLACK_API_PATH}/usergroups.users.list" and request.method in ("GET", "POST"):
            return self.slack.group_members(request)
        if request.path.startswith("/_local/slack/") and request.method == "POST":
            return self.slack.receive(request)
        prefix = f"/{self.stage}"
        if not request.path.startswith(prefix + "/"):
            return _json({"message": "Not Found"}, 404)
        resource_path = request.path[len(prefix) :]
        if not self._allowed(request.remote_addr):
            # What API Gateway answers when the resource policy's IpRangeWhitelist does not match
            resource = f"arn:aws:execute-api:us-east-1:********:local/{self.stage}/{request.method}{resource_path}"
            message = f"User: anonymous is not authorized to perform: execute-api:Invoke on resource: {resource}"
            return _json({"Message": message}, 403)
        found = next(
            (
                (route, parameters)
                for route in self.routes
                if route.method == request.method
                and (parameters := path_parameters(route.path, resource_path)) is not None
            ),
            None,
        )
        if found is None:
            # API Gateway's answer for a method or path the API does not define
            return _json({"message": "Missing Authentication Token"}, 403)
        route, parameters = found
        return self._invoke(route, request, resource_path, parameters)

    def _allowed(self, address: str | None) -> bool:
        try:
            source = ipaddress.ip_address(address or "")
        except ValueError:
            return False
        return any(source in network for network in self.allowed_networks if network.version == source.version)

    def _invoke(self, route: ApiRoute, request: Request, resource_path: str, parameters: dict[str, str]) -> Response:
        event = api_gateway_event(request, route, self.stage, resource_path, parameters)
        result = self._lambda.invoke(FunctionName=route.function_name, Payload=json.dumps(event).encode())
        payload = json.loads(result["Payload"].read() or b"null")
        if result.get("FunctionError") or not isinstance(payload, dict) or "statusCode" not in payload:
            return _json({"message": "Internal server error"}, 502)
        body = payload.get("body") or ""
        data = base64.b64decode(body) if payload.get("isBase64Encoded") else body.encode()
        response = Response(data, status=int(payload["statusCode"]))
        for name, value in (payload.get("headers") or {}).items():
            response.headers[name] = value
        for name, values in (payload.get("multiValueHeaders") or {}).items():
            response.headers.setlist(name, values)
        return response


def path_parameters(template: str, path: str) -> dict[str, str] | None:
    """The path parameters of `path` if the route `template` takes it, as API Gateway matches a resource:
    {name} is one segment, a last {name+} (greedy) the rest of the path; None when the route does not match."""
    wanted, given = template.strip("/").split("/"), path.strip("/").split("/")
    parameters: dict[str, str] = {}
    for index, part in enumerate(wanted):
        if part.startswith("{") and part.endswith("+}") and index == len(wanted) - 1:
            rest = "/".join(given[index:])
            if not rest:
                return None
            parameters[part[1:-2]] = rest
            return parameters
        if index >= len(given) or not given[index]:
            return None
        if part.startswith("{") and part.endswith("}"):
            parameters[part[1:-1]] = given[index]
        elif part != given[index]:
            return None
    return parameters if len(given) == len(wanted) else None


def api_gateway_event(
    request: Request, route: ApiRoute, stage: str, resource_path: str, parameters: dict[str, str] | None = None
) -> dict[str, Any]:
    """The proxy event a REST API sends to a Lambda integration (payload format 1.0)."""
    body = request.get_data()
    text_body: str | None
    try:
        text_body, is_base64 = (body.decode("utf-8") if body else None), False
    except UnicodeDecodeError:
        text_body, is_base64 = base64.b64encode(body).decode(), True
    query = request.args
    source_ip = request.headers.get("X-Forwarded-For", request.remote_addr or "127.0.0.1").split(",")[0].strip()
    return {
        "resource": route.path,
        "path": resource_path,
        "httpMethod": request.method,
        "headers": dict(request.headers.items()),
        "multiValueHeaders": {k: request.headers.getlist(k) for k in request.headers.keys()},  # noqa: SIM118
        "queryStringParameters": {k: query[k] for k in query} or None,
        "multiValueQueryStringParameters": {k: query.getlist(k) for k in query} or None,
        "pathParameters": parameters or None,
        "stageVariables": None,
        "body": text_body,
        "isBase64Encoded": is_base64,
        "requestContext": {
            "resourcePath": route.path,
            "httpMethod": request.method,
            "path": f"/{stage}{resource_path}",
            "stage": stage,
            "requestId": str(uuid.uuid4()),
            "requestTimeEpoch": int(time.time() * 1000),
            "protocol": request.environ.get("SERVER_PROTOCOL", "HTTP/1.1"),
            "identity": {"sourceIp": source_ip, "userAgent": request.headers.get("User-Agent")},
            "domainName": request.host,
            "apiId": "local",
        },
    }


def serve(app: ApprovalGateway, host: str, port: int) -> BaseWSGIServer:
    server = make_server(host, port, app, threaded=True)
    threading.Thread(target=server.serve_forever, name="approval-gateway", daemon=True).start()
    return server


def _json(value: Any, status: int = 200) -> Response:
    return Response(json.dumps(value), status=status, content_type="application/json")
