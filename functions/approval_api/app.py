"""The click handler behind the approval API (API Gateway REST API, Lambda proxy integration).

GET /decide shows a confirmation page and changes nothing; POST /decide records the decision (first one
wins) and resumes the waiting execution. GET /deployments is the audit page (?repository=, ?format=json).
POST /slack/interactivity takes the Slack app's button presses.
"""

import json
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl

from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from canary_core import audit, aws, clicks, pages, slack, slack_actions
from canary_core.config import Settings

logger = Logger()
tracer = Tracer()
app = APIGatewayRestResolver()
settings = Settings.from_env()
table = aws.deployments_table(settings)
sfn_client = aws.stepfunctions_client()

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
    event = app.current_event
    body = event.decoded_body or ""
    status, answer = slack_actions.handle_slack_action(
        event.headers or {},
        body,
        signing_secret=aws.slack_app_secrets(settings)["signing_secret"],
        link_secret=aws.link_secret(settings),
        approvers=settings.slack_approvers,
        table=table,
        sfn_client=sfn_client,
        respond=slack.respond,
        now=datetime.now(UTC),
        group_members=_group_members,
    )
    return Response(status_code=status, content_type="text/plain", body=answer)


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
    return app.resolve(event, context)
