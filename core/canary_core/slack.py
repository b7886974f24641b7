"""Slack messages (Block Kit): the request for a decision, the decision, the outcome; and the two ways they
reach Slack: an incoming webhook (post only) or a Slack app (chat.postMessage, then chat.update in place)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from http.client import HTTPException
from typing import Any
from urllib.error import URLError
from urllib.parse import urlsplit

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.http_retry import (
    ConnectionErrorRetryHandler,
    FixedValueRetryIntervalCalculator,
    HttpRequest,
    HttpResponse,
    RetryHandler,
    RetryState,
)
from slack_sdk.web import SlackResponse
from slack_sdk.webhook import WebhookClient

from canary_core.limits import listing
from canary_core.model import TIMEOUT, Deployment, FunctionTarget, step_position
from canary_core.times import clock_time, human_time
from canary_core.trail import code_words

# Where Slack's interaction response_urls point (https://hooks.slack.com/actions/..., GovSlack: slack-gov.com)
RESPONSE_URL_PREFIXES = ("https://hooks.slack.com/", "https://hooks.slack-gov.com/")
INVALID_INPUT_ERROR = "Canary.InvalidInput"  # the state machine's Reject Input
SECTION_LIMIT = 2900  # Slack allows 3000 characters per section text
MAX_FUNCTION_SECTIONS = 10  # and 50 blocks per message: past this, the rest is summarised in one line


class SlackError(Exception):
    pass


def request_message(
    deployment: Deployment,
    urls: dict[str, str],
    environment: str,
    expires_at: int,
    button_values: dict[str, str] | None = None,
    show_links: bool = True,
    audit_url: str | None = None,
    step: int = 0,
    analysis: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The message that asks for a decision on step `step`; without links when it is pre-approved.
    `analysis`: the latest comparison of the new version with the old (a Slack app's message shows it in place).

    `urls`: {action: signed link} (approve, rollback, and promote while steps remain; none when pre-approved).
    With `button_values` ({action: value}, app mode) the buttons post to the app's interactivity endpoint
    instead of opening the links; the links stay in the text for anyone who prefers the page, unless
    `show_links` is off (only the app's approvers may decide: the buttons are the only way). `audit_url`: the
    signed link to the audit page, at the foot of the message.
    """
    deadline = human_time(expires_at)
    current = deployment.steps[step]
    share = f"{current.weight:.0%}"
    stage = step_words(deployment, step)
    if urls:
        headline = (
            f"Canary: {deployment.title} has {share} of traffic{stage}. {_gate_words(deployment, step, deadline)}"
        )
        shown = " ".join(f"{ACTION_LABELS[action]}: {url}" for action, url in urls.items())
        fallback = f"{headline} {shown}" if show_links else headline
    else:
        then = "promoting now" if step == len(deployment.steps) - 1 else "moving to the next step now"
        headline = f"Canary: {deployment.title} is pre-approved in {environment}{stage}; {then}."
        fallback = headline
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": f"Canary: {deployment.title}"[:150]}},
        _section(f"{escape(headline)}\n{_facts(deployment, environment)}"),
    ]
    if deployment.irreversible:
        fallback = f"{fallback} {IRREVERSIBLE_WARNING}"
        blocks.append(_section(f":warning: *{escape(IRREVERSIBLE_WARNING)}*"))
    blocks.extend(_function_sections(deployment.functions, current.weight))
    if analysis:
        blocks.extend(analysis_message(deployment, analysis, step)["blocks"])
    if urls:
        blocks.append(
            {
                "type": "actions",
                "block_id": "decision",
                "elements": [
                    _button(ACTION_LABELS[action], url, action, ACTION_STYLES[action], button_values)
                    for action, url in urls.items()
                ],
            }
        )
    blocks.extend(audit_blocks(audit_url))
    return {"text": escape(fallback), "blocks": blocks, "unfurl_links": False, "unfurl_media": False}


# What every message and page about an irreversible deployment says (canary_core.pages shows it too)
IRREVERSIBLE_DATA = (
    "Irreversible: this deployment changes data or schema. Rolling back or reverting puts the old code back "
    "but will not undo data changes."
)
IRREVERSIBLE_WARNING = f"{IRREVERSIBLE_DATA} No traffic reaches the new version before a person approves."

ACTION_LABELS = {"approve": "Approve", "rollback": "Roll back", "promote": "Promote now"}
ACTION_STYLES = {"approve": "primary", "rollback": "danger", "promote": "primary"}


def step_words(deployment: Deployment, step: int) -> str:
    """ " (step 2 of 3)" for a schedule; nothing for a single step."""
    position = step_position(step, len(deployment.steps))
    return f" (step {position})" if position else ""


def _gate_words(deployment: Deployment, step: int, deadline: str) -> str:
    last = step == len(deployment.steps) - 1
    after = "promotes" if last else f"moves to {deployment.steps[step + 1].weight:.0%}"
    gate = deployment.steps[step]
    if gate.gate == "auto":
        return (
            f"It {after} by itself after {gate.bake_seconds} s if the canary analysis says healthy; "
            f"you may approve, promote or roll back before; it waits for a click if the analysis cannot tell, "
            f"until {deadline}."
        )
    if last:
        return f"Approve or roll back by {deadline}."
    return f"Approve to move to {deployment.steps[step + 1].weight:.0%}, promote now, or roll back by {deadline}."


def analysis_message(deployment: Deployment, analysis: dict[str, Any], step: int) -> dict[str, Any]:
    """The canary analysis's verdict changed: the figures per function (old against new)."""
    verdict = code_words(analysis["verdict"])
    text = (
        f"Canary analysis of {deployment.title}{step_words(deployment, step)}: {verdict}. {analysis.get('summary', '')}"
    )
    lines = [
        f"`{row['name']}` {code_words(row['verdict'])}: old {_figures(row['old'])}; new {_figures(row['new'])}"
        + (f" ({row['reason']})" if row["verdict"] == "unhealthy" else "")
        for row in analysis.get("functions", [])[:20]
    ]
    blocks = [_section(escape(text))]
    if lines:
        blocks.append(_section(escape("\n".join(lines))[:SECTION_LIMIT]))
    return {"text": escape(text), "blocks": blocks, "unfurl_links": False, "unfurl_media": False}


def _figures(figures: dict[str, Any]) -> str:
    p99 = figures.get("p99_ms")
    latency = f", p99 {p99:.0f} ms" if isinstance(p99, int | float) else ""
    requests, failed = figures.get("requests", 0), figures.get("error_rate", 0)
    return f"v{figures.get('version')}: {requests} requests, {failed:.1%} failed{latency}"


def outcome_message(
    deployment: Deployment,
    outcome: dict[str, Any],
    environment: str,
    audit_url: str | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """The message that says how the deployment ended (in app mode it replaces the request: the audit link
    stays at its foot). `now`: the time of the message (the decision's date is shown when it is another day)."""
    status = outcome["status"]
    word = {"PROMOTED": "Promoted", "ROLLED_BACK": "Rolled back"}.get(status, "Failed")
    summary = outcome.get("summary", {})
    decided_at = human_time(summary.get("decided_at"), now, relative=False)
    if status == "PROMOTED" and summary.get("decided_by") == TIMEOUT:
        detail = f"Nobody decided by the deadline: promoted, as on_timeout says ({decided_at})."
    elif status == "PROMOTED":
        detail = f"Approved by {summary.get('decided_by')} at {decided_at}."
    else:
        detail = outcome.get("cause", "")
    if deployment.irreversible and status != "PROMOTED":
        detail = f"{detail} {IRREVERSIBLE_DATA}".strip()
    text = escape(f"{word}: {deployment.title}. {detail}")
    blocks = [
        {"type": "header", "text": {"type": "plain_text", "text": f"{word}: {deployment.title}"[:150]}},
        _section(f"{escape(detail)}\n{_facts(deployment, environment)}"),
        *_function_sections(deployment.functions, None if status == "PROMOTED" else 0.0),
        *audit_blocks(audit_url),
    ]
    return {"text": text, "blocks": blocks, "unfurl_links": False, "unfurl_media": False}


def revert_message(
    deployment: Deployment, decided_by: str, moved: dict[str, str], refused: dict[str, str], environment: str
) -> dict[str, Any]:
    """One short message about a revert of a promoted deployment: who, what moved back, what was refused."""
    head = (
        f"Reverted: {deployment.title} in {environment} by {decided_by}"
        if moved
        else (f"Revert refused: {deployment.title} in {environment} (asked by {decided_by})")
    )
    lines = [f"{len(moved)} function(s) back on the version they ran before it."] if moved else []
    if refused:
        lines.append(f"Refused: {listing((f'{name} ({why})' for name, why in sorted(refused.items())), most=10)}.")
    if deployment.irreversible:
        lines.append(IRREVERSIBLE_DATA)
    text = escape(f"{head}. {' '.join(lines)}")
    return {"text": text, "blocks": [_section(text[:SECTION_LIMIT])], "unfurl_links": False, "unfurl_media": False}


def rejected_message(title: str, error: str | None, cause: str | None, environment: str) -> dict[str, Any]:
    """The one message about an execution that ended before its deployment existed (its input refused, or
    Validate Input failed): the CI job that started it may have exited already. Nothing was changed."""
    word = "Rejected" if error == INVALID_INPUT_ERROR else "Failed before any traffic moved"
    detail = (cause or error or "The execution failed without a cause.")[:2000]
    text = escape(f"{word}: {title}. {detail}")
    footer = f"Environment: {environment}. No alias was changed; fix the input and start a new execution."
    blocks = [
        {"type": "header", "text": {"type": "plain_text", "text": f"{word}: {title}"[:150]}},
        _section(f"{escape(detail)}\n{escape(footer)}"),
    ]
    return {"text": text, "blocks": blocks, "unfurl_links": False, "unfurl_media": False}


def reminder_message(
    deployment: Deployment,
    urls: dict[str, str],
    deadline: int,
    now: int,
    audit_url: str | None = None,
) -> dict[str, Any]:
    minutes = max(0, (deadline - now) // 60)
    until = human_time(deadline, datetime.fromtimestamp(now, UTC), relative=False)
    policy = "promoted" if deployment.on_timeout == "promote" else "rolled back"
    text = (
        f"Reminder: {deployment.title} still waits for a decision: {minutes} min left (until {until}); "
        f"then it is {policy}."
    )
    if not urls:  # decisions only through the request's buttons
        return {
            "text": escape(text),
            "blocks": [_section(escape(text)), *audit_blocks(audit_url)],
            "unfurl_links": False,
            "unfurl_media": False,
        }
    shown = " ".join(f"{ACTION_LABELS[action]}: {url}" for action, url in urls.items())
    links = " · ".join(f"<{url}|{ACTION_LABELS[action]}>" for action, url in urls.items())
    return {
        "text": escape(f"{text} {shown}"),
        "blocks": [_section(f"{escape(text)}\n{links}"), *audit_blocks(audit_url)],
        "unfurl_links": False,
        "unfurl_media": False,
    }


AUDIT_LINK_TEXT = "Deployments and decisions"


def audit_blocks(audit_url: str | None) -> list[dict[str, Any]]:
    """The signed link to the audit page, as a context line (none without a URL)."""
    if not audit_url:
        return []
    text = f"<{_link_target(audit_url)}|{AUDIT_LINK_TEXT}> (every deployment of this pipeline; the link works a week)"
    return [{"type": "context", "block_id": "audit", "elements": [{"type": "mrkdwn", "text": text}]}]


def decided_message(
    title: str, action: str, decided_by: str, decided_at: str, next_step: bool = False
) -> dict[str, Any]:
    """What the request message becomes at once when someone decides from Slack: no buttons, who and when.
    `next_step`: approving moves the schedule on rather than promoting."""
    word = "Rolled back" if action == "rollback" else "Approved"
    if action == "rollback":
        doing = "putting every alias back"
    else:
        doing = "moving to the next step" if next_step and action == "approve" else "promoting every alias"
    text = f"{word} by {decided_by} at {clock_time(decided_at)}: {doing} now."
    return {
        "text": escape(f"{title}: {text}"),
        "blocks": [
            {"type": "header", "text": {"type": "plain_text", "text": f"{word}: {title}"[:150]}},
            _section(escape(text)),
        ],
    }


def ephemeral(text: str) -> dict[str, Any]:
    """A reply only the person who pressed the button sees; the original message stays."""
    return {"response_type": "ephemeral", "replace_original": False, "text": escape(text)}


class RetryUnsent(ConnectionErrorRetryHandler):
    """slack-sdk's retries, chosen for a Lambda function with seconds to spare: once more, after a quarter of a
    second, when the request never reached Slack (urllib raises URLError while connecting or sending: a refused
    connection, a name that did not resolve, a reset before the request was out). Not after a timeout (its
    time is spent already), not when the connection dropped after the request went out (Slack may have posted
    the message: two requests for a decision are worse than one failure in the trail), and not on 429
    (RateLimitErrorRetryHandler sleeps for Slack's Retry-After, which can be a minute)."""

    def __init__(self) -> None:
        super().__init__(max_retry_count=1, interval_calculator=FixedValueRetryIntervalCalculator(0.25))

    def _can_retry(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> bool:
        return isinstance(error, URLError) and response is None and not isinstance(error.reason, TimeoutError)


RETRIES: list[RetryHandler] = [RetryUnsent()]
# slack-sdk's clients log each request at DEBUG, webhook and response_url included (both are secrets: whoever
# has one can post): their logger stops at WARNING, whatever level the function's root logger is given
SDK_LOGGER = logging.getLogger("canary_core.slack.sdk")
SDK_LOGGER.setLevel(logging.WARNING)
# What a request to Slack may raise besides Slack's own refusal: urllib's errors (URLError and timeouts are
# OSErrors), http.client's (a dropped connection), slack-sdk's own (SlackRequestError: a URL that is not
# http(s)), and a reply that is not the JSON it claims to be (ValueError)
UNREACHABLE = (OSError, HTTPException, SlackClientError, ValueError)


def post(webhook_url: str, message: dict[str, Any], timeout: float = 5.0) -> None:
    """POST a message to a webhook or a response_url; Slack answers 200 when it took it."""
    client = WebhookClient(
        webhook_url,
        timeout=timeout,  # type: ignore[arg-type]
        retry_handlers=RETRIES,
        logger=SDK_LOGGER,
    )
    try:
        response = client.send_dict(message)
    except UNREACHABLE as error:
        raise SlackError(f"Slack unreachable: {_why(error)}") from error
    if response.status_code != 200:
        raise SlackError(f"Slack answered {response.status_code}: {(response.body or '')[:200]}")


def _why(error: Exception) -> str:
    """The kind of failure, never its text (it may hold a URL, a secret itself)."""
    if isinstance(error, URLError) and isinstance(error.reason, Exception):
        return type(error.reason).__name__
    return type(error).__name__


class WebhookChannel:
    """An incoming webhook: messages can be posted, not updated."""

    def __init__(self, webhook_url: str) -> None:
        self.webhook_url = webhook_url

    def post(self, message: dict[str, Any]) -> dict[str, str] | None:
        post(self.webhook_url, message)
        return None

    def update(self, ref: dict[str, str], message: dict[str, Any]) -> None:
        raise SlackError("an incoming webhook cannot update a message")

    def reply(self, ref: dict[str, str], message: dict[str, Any]) -> None:
        post(self.webhook_url, message)  # a webhook cannot thread: a new message


class AppChannel:
    """A Slack app's bot in one channel: chat.postMessage gives a reference that chat.update can use."""

    def __init__(self, bot_token: str, channel: str, api_url: str, timeout: float = 5.0) -> None:
        self.channel = channel
        self.client = WebClient(
            token=bot_token,
            base_url=api_url.rstrip("/") + "/",
            timeout=timeout,  # type: ignore[arg-type]
            retry_handlers=RETRIES,
            logger=SDK_LOGGER,
        )

    def post(self, message: dict[str, Any]) -> dict[str, str] | None:
        answer = self._call("chat.postMessage", lambda: self.client.chat_postMessage(channel=self.channel, **message))
        return {"channel": str(answer["channel"]), "ts": str(answer["ts"])}

    def update(self, ref: dict[str, str], message: dict[str, Any]) -> None:
        self._call("chat.update", lambda: self.client.chat_update(channel=ref["channel"], ts=ref["ts"], **message))

    def reply(self, ref: dict[str, str], message: dict[str, Any]) -> None:
        self._call(
            "chat.postMessage",
            lambda: self.client.chat_postMessage(channel=ref["channel"], thread_ts=ref["ts"], **message),
        )

    def group_members(self, usergroup: str) -> set[str]:
        """The user ids of a Slack user group (scope usergroups:read)."""
        answer = self._call("usergroups.users.list", lambda: self.client.usergroups_users_list(usergroup=usergroup))
        return {str(user) for user in answer["users"]}

    @staticmethod
    def _call(method: str, call: Callable[[], SlackResponse]) -> SlackResponse:
        """One Web API call; Slack's refusal (ok false, or an HTTP error) and an unreachable Slack become
        SlackError naming the method and Slack's error code (never the token)."""
        try:
            return call()
        except SlackApiError as error:
            raise SlackError(f"Slack {method} failed: {_error_code(error.response)}") from error
        except UNREACHABLE as error:
            raise SlackError(f"Slack unreachable ({method}): {_why(error)}") from error


def _error_code(response: SlackResponse) -> str:
    """Slack's error code when it answered JSON; else the HTTP status (an HTML page from a proxy, say)."""
    content_type = next((v for k, v in response.headers.items() if k.lower() == "content-type"), "")
    data = response.data if str(content_type).startswith("application/json") else None
    code = data.get("error") if isinstance(data, dict) else None
    return str(code)[:200] if code else str(response.status_code)


class UnavailableChannel:
    """Stands in when Slack's settings cannot be read (a secret): every use fails as Slack would, so the
    failure lands in the trail and the deployment goes on."""

    def __init__(self, reason: str) -> None:
        self.reason = reason

    def post(self, message: dict[str, Any]) -> dict[str, str] | None:
        raise SlackError(self.reason)

    def update(self, ref: dict[str, str], message: dict[str, Any]) -> None:
        raise SlackError(self.reason)

    def reply(self, ref: dict[str, str], message: dict[str, Any]) -> None:
        raise SlackError(self.reason)


def respond(
    response_url: str,
    message: dict[str, Any],
    timeout: float = 5.0,
    allowed: tuple[str, ...] = RESPONSE_URL_PREFIXES,
) -> None:
    """Answer an interaction through its response_url (replace the message, or an ephemeral reply): only to
    Slack's own hosts (`allowed`), whatever the request says."""
    if not response_url_allowed(response_url, allowed):
        raise SlackError(f"response_url {response_url[:100]!r} is not Slack's; not answered")
    post(response_url, message, timeout)


def response_url_allowed(url: str, allowed: tuple[str, ...]) -> bool:
    """The URL starts with one of the allowed prefixes (scheme, host, path ending in /) and its host is the
    prefix's host, as HTTP clients read it (no user info, no other port)."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return False
    for prefix in allowed:
        expected = urlsplit(prefix)
        if (
            url.startswith(prefix)
            and prefix.endswith("/")
            and parts.scheme == expected.scheme
            and parts.hostname == expected.hostname
            and port == expected.port
            and "@" not in parts.netloc
            and "\\" not in url
        ):
            return True
    return False


def _facts(deployment: Deployment, environment: str) -> str:
    build = (
        f"<{_link_target(deployment.build_url)}|{deployment.build_no}>"
        if deployment.build_url
        else str(deployment.build_no)
    )
    return (
        f"*Repository:* {escape(deployment.repository)}   *Build:* {build}   *Alias:* `{deployment.alias}`   "
        f"*Environment:* {environment}   *Functions:* {len(deployment.functions)}"
    )


def _function_line(target: FunctionTarget, weight: float | None) -> str:
    if target.new_version is None:
        return f"`{target.name}`: not changed"
    if target.unchanged:
        return f"`{target.name}` v{target.old_version}: code unchanged, left as it is"
    if target.pinned_from_latest:
        return f"`{target.name}` $LATEST -> v{target.new_version}: first deployment, pinned (no earlier version)"
    if weight is None:
        return f"`{target.name}` v{target.old_version} -> v{target.new_version}"
    return f"`{target.name}` v{target.old_version} -> v{target.new_version} at {weight:.0%}"


def _function_sections(functions: tuple[FunctionTarget, ...], weight: float | None) -> list[dict[str, Any]]:
    sections: list[dict[str, Any]] = []
    chunk: list[str] = []
    size = 0
    for index, target in enumerate(functions):
        line = _function_line(target, weight)
        if size + len(line) + 1 > SECTION_LIMIT:
            if len(sections) + 1 == MAX_FUNCTION_SECTIONS:
                chunk.append(f"... and {len(functions) - index} more")
                break
            sections.append(_section("\n".join(chunk)))
            chunk, size = [], 0
        chunk.append(line)
        size += len(line) + 1
    if chunk:
        sections.append(_section("\n".join(chunk)))
    return sections


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def _button(label: str, url: str, action_id: str, style: str, values: dict[str, str] | None) -> dict[str, Any]:
    button = {"type": "button", "text": {"type": "plain_text", "text": label}, "action_id": action_id, "style": style}
    if values:
        button["value"] = values[action_id]
    else:
        button["url"] = url
    return button


def _link_target(url: str) -> str:
    """A URL inside <url|text>: the characters that would end the link are percent-encoded."""
    return url.replace("|", "%7C").replace("<", "%3C").replace(">", "%3E")


def escape(text: str) -> str:
    """Slack's control characters, escaped as Slack asks: every text sent to Slack goes through here (section
    and fallback texts alike), so a name or a cause can neither ping a channel nor forge a link."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
