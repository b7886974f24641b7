"""A button pressed in Slack (app mode): accept the request at once, then decide and answer.

Slack waits three seconds for the HTTP answer, whose body it ignores for button presses. So only the
signature check and the reading of the press happen before the answer (`accept_press`); the click handler
then hands the press to itself, invoked again without waiting, and `handle_press` does the rest: the
button's link, who pressed it, the decision. What the person sees is posted to the interaction's
response_url: the message replaced by the decision, or an ephemeral reply when nothing changed. A retried or
replayed request meets the first decision and changes nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl

from canary_core import slack
from canary_core.decisions import DecisionNotDelivered, decide, decided_before
from canary_core.errors import LinkRejected
from canary_core.links import verify as verify_link
from canary_core.model import Decision
from canary_core.pages import steps_left
from canary_core.slack_requests import SlackAction, parse_action, verify
from canary_core.times import human_time
from canary_core.trail import LATE_DECISIONS, REFUSED_PRESSES, DeploymentsTable

logger = logging.getLogger(__name__)

Respond = Callable[[str, dict[str, Any]], None]
GroupMembers = Callable[[str], set[str]]


def may_decide(user_id: str, approvers: tuple[str, ...], group_members: GroupMembers | None) -> bool:
    """Everyone when no approvers are named; else the named users and the members of named user groups
    (Slack user group ids start with S)."""
    if not approvers or user_id in approvers:
        return True
    for group in (a for a in approvers if a.startswith("S")):
        if group_members is None:
            continue
        try:
            if user_id in group_members(group):
                return True
        except slack.SlackError as error:
            logger.warning("members of user group %s unknown: %s", group, error)
    return False


def accept_press(headers: Mapping[str, str], body: str, signing_secret: str, now: datetime) -> SlackAction:
    """Inside Slack's three seconds: the signature checked before anything else, then the press read.
    Raises SlackRequestRejected, carrying the HTTP status Slack gets."""
    verify(headers, body, signing_secret, now)
    return parse_action(body)


def handle_press(
    action: SlackAction,
    *,
    link_secret: bytes | Sequence[bytes],
    approvers: tuple[str, ...],
    table: DeploymentsTable,
    sfn_client: Any,
    respond: Respond,
    now: datetime,
    group_members: GroupMembers | None = None,
) -> None:
    """An accepted press (`now`: when Slack sent it): check its link and who pressed it, decide, answer."""
    try:
        link = verify_link(dict(parse_qsl(action.value)), link_secret, now)
    except LinkRejected as error:
        _ephemeral(respond, action, f"This button cannot be used: {error}")
        return
    if link.action != action.action:
        _ephemeral(respond, action, "This button does not match its deployment; nothing was changed.")
        return
    title = f"{link.repository} build {link.build_no}"
    decision = Decision(action.action, action.user_name, now.isoformat(), user_id=action.user_id, step=link.step)
    item = table.get(link.repository, link.build_no)
    if item is None:
        _ephemeral(respond, action, f"There is no deployment {title} in this environment; nothing was changed.")
        return
    if decided_before(item, link.step):  # answered from what is stored: counted, nothing else written
        table.count_ignored(link.repository, link.build_no, LATE_DECISIONS, now, **decision.as_item())
        _already_decided(respond, action, title, item)
        return
    if not may_decide(action.user_id, approvers, group_members):
        table.count_ignored(link.repository, link.build_no, REFUSED_PRESSES, now, **decision.as_item())
        _ephemeral(respond, action, f"You are not allowed to decide {title}; nothing was changed.")
        return
    try:
        result = decide(table, sfn_client, link.repository, link.build_no, decision, now)
    except DecisionNotDelivered as error:
        _ephemeral(respond, action, str(error))
        return
    if not result.won:
        _already_decided(respond, action, title, result.item)
        return
    if not result.delivered:
        _ephemeral(respond, action, f"Too late: {title} was no longer waiting ({result.problem}).")
        return
    _send(
        respond,
        action,
        {
            "replace_original": True,
            **slack.decided_message(
                title, action.action, action.user_name, decision.decided_at, next_step=steps_left(result.item) > 0
            ),
        },
    )


def _already_decided(respond: Respond, action: SlackAction, title: str, item: dict[str, Any]) -> None:
    first = item.get("decision") or {}
    said = (
        f"{first.get('action')} by {first.get('decided_by')} at {human_time(first.get('decided_at'))}"
        if first
        else f"it already ended ({item.get('status')})"
    )
    _ephemeral(respond, action, f"{title} was already decided: {said}. Nothing was changed.")


def _ephemeral(respond: Respond, action: SlackAction, text: str) -> None:
    _send(respond, action, slack.ephemeral(text))


def _send(respond: Respond, action: SlackAction, message: dict[str, Any]) -> None:
    try:
        respond(action.response_url, message)
    except slack.SlackError as error:  # the decision stands; only the reply is lost
        logger.warning("Slack reply not delivered: %s", error)
