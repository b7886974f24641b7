"""Slack messages (Block Kit, sent to an incoming webhook): the request for a decision and the outcome."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import requests

from canary_core.model import Deployment, FunctionTarget

SECTION_LIMIT = 2900  # Slack allows 3000 characters per section text
MAX_FUNCTION_SECTIONS = 10  # and 50 blocks per message: past this, the rest is summarised in one line


class SlackError(Exception):
    pass


def request_message(
    deployment: Deployment,
    approve_url: str | None,
    rollback_url: str | None,
    environment: str,
    expires_at: int,
) -> dict[str, Any]:
    """The message that asks for a decision; without links when the deployment is pre-approved."""
    deadline = datetime.fromtimestamp(expires_at, UTC).strftime("%Y-%m-%d %H:%M UTC")
    share = f"{deployment.weight:.0%}"
    if approve_url and rollback_url:
        headline = f"Canary: {deployment.title} has {share} of traffic. Approve or roll back by {deadline}."
        fallback = f"{headline} Approve: {approve_url} Roll back: {rollback_url}"
    else:
        headline = f"Canary: {deployment.title} is pre-approved in {environment}; promoting now."
        fallback = headline
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": f"Canary: {deployment.title}"[:150]}},
        _section(f"{_escape(headline)}\n{_facts(deployment, environment)}"),
        *_function_sections(deployment.functions, deployment.weight),
    ]
    if approve_url and rollback_url:
        blocks.append(
            {
                "type": "actions",
                "elements": [
                    _button("Approve", approve_url, "approve", "primary"),
                    _button("Roll back", rollback_url, "rollback", "danger"),
                ],
            }
        )
    return {"text": fallback, "blocks": blocks, "unfurl_links": False, "unfurl_media": False}


def outcome_message(deployment: Deployment, outcome: dict[str, Any], environment: str) -> dict[str, Any]:
    """The message that says how the deployment ended."""
    status = outcome["status"]
    word = {"PROMOTED": "Promoted", "ROLLED_BACK": "Rolled back"}.get(status, "Failed")
    summary = outcome.get("summary", {})
    if status == "PROMOTED":
        detail = f"Approved by {summary.get('decided_by')} at {summary.get('decided_at')}."
    else:
        detail = outcome.get("cause", "")
    text = f"{word}: {deployment.title}. {detail}"
    blocks = [
        {"type": "header", "text": {"type": "plain_text", "text": f"{word}: {deployment.title}"[:150]}},
        _section(f"{_escape(detail)}\n{_facts(deployment, environment)}"),
        *_function_sections(deployment.functions, None if status == "PROMOTED" else 0.0),
    ]
    return {"text": text, "blocks": blocks, "unfurl_links": False, "unfurl_media": False}


def post(webhook_url: str, message: dict[str, Any], timeout: float = 5.0) -> None:
    try:
        response = requests.post(webhook_url, json=message, timeout=timeout)
    except requests.RequestException as error:
        raise SlackError(f"Slack webhook unreachable: {type(error).__name__}") from error
    if response.status_code != 200:
        raise SlackError(f"Slack webhook answered {response.status_code}: {response.text[:200]}")


def _facts(deployment: Deployment, environment: str) -> str:
    build = (
        f"<{_link_target(deployment.build_url)}|{deployment.build_no}>"
        if deployment.build_url
        else str(deployment.build_no)
    )
    return (
        f"*Repository:* {_escape(deployment.repository)}   *Build:* {build}   *Alias:* `{deployment.alias}`   "
        f"*Environment:* {environment}   *Functions:* {len(deployment.functions)}"
    )


def _function_line(target: FunctionTarget, weight: float | None) -> str:
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


def _button(label: str, url: str, action_id: str, style: str) -> dict[str, Any]:
    return {
        "type": "button",
        "text": {"type": "plain_text", "text": label},
        "url": url,
        "action_id": action_id,
        "style": style,
    }


def _link_target(url: str) -> str:
    """A URL inside <url|text>: the characters that would end the link are percent-encoded."""
    return url.replace("|", "%7C").replace("<", "%3C").replace(">", "%3E")


def _escape(text: str) -> str:
    """Slack mrkdwn control characters."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
