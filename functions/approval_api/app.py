"""The click handler behind the approval API (API Gateway REST API, Lambda proxy integration).

GET /decide shows a confirmation page and changes nothing; POST /decide records the decision (first one
wins) and resumes the waiting execution. GET /deployments is the audit page (?repository=, ?format=json).
POST /slack/interactivity takes the Slack app's button presses: it answers Slack at once and hands each press
to this same function, invoked again without waiting (an event {"slack_press": ...}), which decides.
"""

import json
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl

from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from canary_core import audit, aws, clicks, pages, slack, slack_actions
from canary_core.config import Settings
from canary_core.slack_requests import SlackAction, SlackRequestRejected

logger = Logger()
tracer = Tracer()
app = APIGatewayRestResolver()
settings = Settings.from_env()
table = aws.deployments_table(settings)
sfn_client = aws.stepfunctions_client()
lambda_client = aws.lambda_client()
PRESS_EVENT = "slack_press"

PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "X-Robots-Tag": "noindex",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Frame-Options": "DENY",
}


def _page(status: int, html: str) -> Response[str]:
    return Response(status_code=status, content_type="text/html; charset=utf-8", body=html, headers=PAGE_HEADERS)


def _json(status: int, body: dict[str, Any]) -> Response[str]:
    return Response(status_code=status, content_type="application/json", body=json.dumps(body), headers=PAGE_HEADERS)


BUTTONS_ONLY = (
    403,
    pages.error_page(
        403,
        "Decide with the Slack buttons",
        "On this stack only its named approvers decide, with the buttons of the Slack message.",
    ),
)


@app.get("/decide")
def show_decision() -> Response[str]:
    if not settings.links_allowed:
        return _page(*BUTTONS_ONLY)
    params = app.current_event.query_string_parameters or {}
    return _page(*clicks.show(params, table, aws.link_secret(settings), datetime.now(UTC)))


@app.post("/decide")
def submit_decision() -> Response[str]:
    if not settings.links_allowed:
        return _page(*BUTTONS_ONLY)
    form = dict(parse_qsl(app.current_event.decoded_body or ""))
    identity = app.current_event.request_context.identity
    visitor = clicks.Visitor(source_ip=identity.source_ip, user_agent=identity.user_agent)
    return _page(*clicks.submit(form, table, sfn_client, aws.link_secret(settings), visitor, datetime.now(UTC)))


@app.post("/slack/interactivity")
def slack_interactivity() -> Response[str]:
    if settings.slack_mode != "app":
        return Response(status_code=404, content_type="text/plain", body="SlackMode is not app on this stack")
    event, now = app.current_event, datetime.now(UTC)
    try:
        signing_secret = aws.slack_app_secrets(settings)["signing_secret"]
        action = slack_actions.accept_press(event.headers or {}, event.decoded_body or "", signing_secret, now)
    except SlackRequestRejected as error:
        return Response(status_code=error.status, content_type="text/plain", body=str(error))
    press = {"action": asdict(action), "pressed_at": now.isoformat()}
    try:  # Slack waits three seconds for this answer: the press is decided by an invocation of its own
        lambda_client.invoke(
            FunctionName=app.lambda_context.invoked_function_arn,
            InvocationType="Event",
            Payload=json.dumps({PRESS_EVENT: press}).encode(),
        )
    except Exception as error:  # noqa: BLE001 - better a late answer to Slack than a lost press
        logger.warning("press not handed on (%s): deciding it now", error)
        handle_press(press)
    return Response(status_code=200, content_type="text/plain", body="")


def handle_press(press: dict[str, Any]) -> None:
    slack_actions.handle_press(
        SlackAction(**press["action"]),
        link_secret=aws.link_secret(settings),
        approvers=settings.slack_approvers,
        table=table,
        sfn_client=sfn_client,
        respond=slack.respond,
        now=datetime.fromisoformat(press["pressed_at"]),
        group_members=_group_members,
    )


def _group_members(usergroup: str) -> set[str]:
    channel = aws.slack_channel(settings)
    if not isinstance(channel, slack.AppChannel):
        raise slack.SlackError("no Slack app to ask for user group members")
    return channel.group_members(usergroup)


@app.get("/deployments")
def list_deployments() -> Response[str]:
    params = app.current_event.query_string_parameters or {}
    repository = params.get("repository") or None
    as_json = params.get("format") == "json"
    try:
        rows, older = audit.audit_page_rows(table, repository, params.get("before") or None)
    except audit.BadCursor as error:
        if as_json:
            return _json(400, {"error": str(error)})
        return _page(400, pages.error_page(400, "Bad page link", str(error)))
    if as_json:
        return _json(200, {"deployments": rows, "older": older})
    return _page(200, pages.audit_page(rows, repository, older))


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST, log_event=False)
@tracer.capture_lambda_handler
def lambda_handler(event: dict, context: LambdaContext) -> dict:  # type: ignore[type-arg]
    if PRESS_EVENT in event:
        handle_press(event[PRESS_EVENT])
        return {}
    return app.resolve(event, context)
