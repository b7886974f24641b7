"""The click handler behind the approval API (API Gateway REST API, Lambda proxy integration).

GET /decide shows a confirmation page and changes nothing; POST /decide (the page's own form only) records the
decision (first one wins) and resumes the waiting execution. GET /deployments is the audit page (?repository=,
?format=json), opened only through its signed link;
GET /deployments/{repository}/{build} is one deployment's page (the same signed link's fields).
POST /slack/interactivity takes the Slack app's button presses: it answers Slack at once and hands each press
to this same function, invoked again without waiting (an event {"slack_press": ...}), which decides.
"""

import binascii
import json
import os
import re
from datetime import UTC, datetime
from functools import partial
from typing import Any
from urllib.parse import parse_qsl, urlencode

from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.config import Config

from canary_core import audit, aws, clicks, links, pages, slack, slack_actions
from canary_core.config import Settings
from canary_core.errors import LinkRejected
from canary_core.slack_requests import SlackRequestRejected

logger = Logger()
tracer = Tracer()
app = APIGatewayRestResolver()
settings = Settings.from_env()
table = aws.deployments_table(settings)
sfn_client = aws.stepfunctions_client()
# Handing a press on must fit in Slack's three seconds: short timeouts, one retry.
press_client = aws.lambda_client(
    Config(connect_timeout=1, read_timeout=1, retries={"mode": "standard", "max_attempts": 2})
)
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
# The local runtime has no AWS console to link to: it sets this to false
CONSOLE_LINKS = os.environ.get("CONSOLE_LINKS", "true").lower() != "false"
# What API Gateway hands on as the greedy path parameter: <repository, perhaps with slashes>/<build number>
DEPLOYMENT_PATH = re.compile(r"(?P<repository>[A-Za-z0-9._/-]{1,200})/(?P<build>[0-9]{1,18})/?")


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


@app.exception_handler([UnicodeDecodeError, binascii.Error])  # type: ignore[untyped-decorator]
def body_not_text(error: Exception) -> Response[str]:
    """A body that is not UTF-8 text (or not base64 when it says so) is the sender's mistake: 400, not 502."""
    logger.info("request body refused: %s", type(error).__name__)
    return Response(status_code=400, content_type="text/plain", body="The request body is not UTF-8 text.")


@app.get("/decide")
def show_decision() -> Response[str]:
    if not settings.links_allowed:
        return _page(*BUTTONS_ONLY)
    params = app.current_event.query_string_parameters or {}
    keys = aws.link_secrets(settings, params.get("key"))
    return _page(*clicks.show(params, table, keys, datetime.now(UTC), settings.environment))


@app.post("/decide")
def submit_decision() -> Response[str]:
    if not settings.links_allowed:
        return _page(*BUTTONS_ONLY)
    reason = clicks.cross_site(app.current_event.headers or {})
    if reason:  # before the body is read: a cross-site form changes nothing
        return _page(*clicks.refuse_cross_site(reason))
    form = dict(parse_qsl(app.current_event.decoded_body or ""))
    identity = app.current_event.request_context.identity
    visitor = clicks.Visitor(source_ip=identity.source_ip, user_agent=identity.user_agent)
    keys = aws.link_secrets(settings, form.get("key"))
    return _page(*clicks.submit(form, table, sfn_client, keys, visitor, datetime.now(UTC), settings.environment))


@app.post("/slack/interactivity")
def slack_interactivity() -> Response[str]:
    if settings.slack_mode != "app":
        return Response(status_code=404, content_type="text/plain", body="SlackMode is not app on this stack")
    event = app.current_event
    headers, body = _signature_headers(event.headers or {}), event.decoded_body or ""
    try:
        slack_actions.accept_press(headers, body, _signing_secret(), datetime.now(UTC))
    except SlackRequestRejected as error:
        return Response(status_code=error.status, content_type="text/plain", body=str(error))
    # Slack waits three seconds for this answer: the press is decided by an invocation of its own. It gets
    # the request as Slack signed it and checks it again: an event nobody signed decides nothing.
    press = {"headers": headers, "body": body}
    try:
        press_client.invoke(
            FunctionName=app.lambda_context.invoked_function_arn,
            InvocationType="Event",
            Payload=json.dumps({PRESS_EVENT: press}).encode(),
        )
    except Exception as error:  # noqa: BLE001 - better a late answer to Slack than a lost press
        logger.warning("press not handed on (%s): deciding it now", error)
        handle_press(press)
    return Response(status_code=200, content_type="text/plain", body="")


def handle_press(press: dict[str, Any]) -> dict[str, str]:
    """A press handed on by slack_interactivity: its signature checked again, then decided."""
    now = datetime.now(UTC)
    try:
        if settings.slack_mode != "app":
            raise SlackRequestRejected("SlackMode is not app on this stack")
        action = slack_actions.accept_press(press["headers"], press["body"], _signing_secret(), now)
    except (SlackRequestRejected, KeyError, TypeError) as error:
        logger.warning("press refused: %s", error)
        return {"refused": str(error)}
    slack_actions.handle_press(
        action,
        link_secret=aws.link_secrets(settings, dict(parse_qsl(action.value)).get("key")),
        approvers=settings.slack_approvers,
        table=table,
        sfn_client=sfn_client,
        respond=partial(slack.respond, allowed=settings.slack_response_url_prefixes),
        now=now,
        group_members=_group_members,
    )
    return {"handled": action.action}


def _signature_headers(headers: dict[str, str]) -> dict[str, str]:
    wanted = ("x-slack-request-timestamp", "x-slack-signature")
    return {name.lower(): value for name, value in headers.items() if name.lower() in wanted}


def _signing_secret() -> str:
    return aws.slack_app_secrets(settings)["signing_secret"]


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
    try:  # approvers' addresses and builds: only through a signed link
        links.verify_audit(params, aws.link_secrets(settings, params.get("key")), datetime.now(UTC))
    except LinkRejected as error:
        if as_json:
            return _json(error.status, {"error": str(error)})
        return _page(error.status, pages.error_page(error.status, "This page needs its signed link", str(error)))
    access = {name: params[name] for name in links.AUDIT_FIELDS if params.get(name)}
    try:
        rows, older = audit.audit_page_rows(table, repository, params.get("before") or None)
    except audit.BadCursor as error:
        if as_json:
            return _json(400, {"error": str(error)})
        return _page(400, pages.error_page(400, "Bad page link", str(error)))
    if as_json:
        return _json(200, {"deployments": rows, "older": older})
    if not CONSOLE_LINKS:  # the page's links are for people: none to a console that shows nothing here
        rows = [{**row, "console_url": None} for row in rows]
    return _page(200, pages.audit_page(rows, repository, older, access, environment=settings.environment))


@app.get("/deployments/.+")
def show_deployment() -> Response[str]:
    params = app.current_event.query_string_parameters or {}
    now = datetime.now(UTC)
    try:  # the same signed link as the audit page: a deployment's page names approvers and their addresses
        links.verify_audit(params, aws.link_secrets(settings, params.get("key")), now)
    except LinkRejected as error:
        return _page(error.status, pages.error_page(error.status, "This page needs its signed link", str(error)))
    wanted = (app.current_event.path_parameters or {}).get("deployment") or ""
    found = DEPLOYMENT_PATH.fullmatch(wanted)
    item = table.get(found["repository"], int(found["build"])) if found else None
    if item is None:
        return _page(
            404,
            pages.error_page(
                404,
                "No such deployment",
                f"{wanted[:200]!r} names no deployment of this stack: open it from the audit page "
                "(deployments/<repository>/<build number>).",
            ),
        )
    access = {name: params[name] for name in links.AUDIT_FIELDS if params.get(name)}
    console = audit.console_url(item["execution_arn"]) if CONSOLE_LINKS and item.get("execution_arn") else None
    # relative, as the API's other links: from …/deployments/<repository>/<build> up to the stage
    back = f"{'../' * (2 + item['repository'].count('/'))}deployments?{urlencode(access)}"
    return _page(
        200, pages.deployment_page(item, now, console_url=console, audit_href=back, environment=settings.environment)
    )


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST, log_event=False)
@tracer.capture_lambda_handler
def lambda_handler(event: dict, context: LambdaContext) -> dict:  # type: ignore[type-arg]
    if PRESS_EVENT in event:
        return handle_press(event[PRESS_EVENT])
    return app.resolve(event, context)
