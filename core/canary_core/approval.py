"""Asking for a decision and announcing the outcome in Slack.

Request: park the task token, then post the request (links, or buttons for a Slack app), or approve at
once when pre-approved. Outcome: a Slack app updates the request message in place, however the deployment
ended; a webhook posts a new message.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any, Protocol
from urllib.parse import urlencode

from canary_core import slack
from canary_core.decisions import decide
from canary_core.links import DecisionLink
from canary_core.model import Deployment
from canary_core.trail import Decision, DeploymentsTable

PRE_APPROVAL = "pre-approval"

logger = logging.getLogger(__name__)


class Channel(Protocol):
    """Where messages go: slack.WebhookChannel or slack.AppChannel."""

    def post(self, message: dict[str, Any]) -> dict[str, str] | None: ...

    def update(self, ref: dict[str, str], message: dict[str, Any]) -> None: ...


def request_decision(
    deployment: Deployment,
    task_token: str,
    *,
    table: DeploymentsTable,
    sfn_client: Any,
    channel: Channel,
    interactive: bool,
    link_secret: Callable[[], bytes],
    approval_api_url: str,
    environment: str,
    now: datetime,
) -> dict[str, Any]:
    expires_at = int(now.timestamp()) + deployment.approval_timeout_seconds
    table.await_decision(deployment, task_token, expires_at, now)
    if deployment.pre_approve:
        message = slack.request_message(deployment, None, None, environment, expires_at)
        notify(table, deployment, channel, message, now)
        decision = Decision("approve", PRE_APPROVAL, now.isoformat())
        result = decide(table, sfn_client, deployment.repository, deployment.build_no, decision, now)
        return {"pre_approved": result.delivered}
    secret = link_secret()
    approve = DecisionLink(deployment.repository, deployment.build_no, "approve", expires_at)
    rollback = DecisionLink(deployment.repository, deployment.build_no, "rollback", expires_at)
    links = {
        "approve_url": approve.url(approval_api_url, secret),
        "rollback_url": rollback.url(approval_api_url, secret),
    }
    # A Slack app's buttons carry the signed link's fields; the interactivity endpoint checks them again.
    values = (
        {"approve": urlencode(approve.params(secret)), "rollback": urlencode(rollback.params(secret))}
        if interactive
        else None
    )
    message = slack.request_message(
        deployment, links["approve_url"], links["rollback_url"], environment, expires_at, values
    )
    # If Slack cannot take the message, the links go to the trail: an operator can hand them on.
    notify(table, deployment, channel, message, now, **links)
    return {"pre_approved": False}


def announce_outcome(
    table: DeploymentsTable,
    deployment: Deployment,
    channel: Channel,
    outcome: dict[str, Any],
    environment: str,
    now: datetime,
) -> None:
    message = slack.outcome_message(deployment, outcome, environment)
    item = table.get(deployment.repository, deployment.build_no) or {}
    ref = item.get("slack_message")
    if ref:
        try:
            channel.update(ref, message)
            return
        except slack.SlackError as error:
            logger.warning("Slack message not updated: %s", error)
            table.note(deployment.repository, deployment.build_no, now, "slack update failed", reason=str(error))
    notify(table, deployment, channel, message, now)


def notify(
    table: DeploymentsTable,
    deployment: Deployment,
    channel: Channel,
    message: dict[str, Any],
    now: datetime,
    **details: str,
) -> None:
    """Post to Slack; a failure is written to the trail (with `details`) and does not stop the deployment.

    A message a Slack app posted is remembered, so that it can be updated when the deployment ends.
    """
    try:
        ref = channel.post(message)
    except slack.SlackError as error:
        logger.warning("Slack message not delivered: %s", error)
        table.note(
            deployment.repository, deployment.build_no, now, "slack message failed", reason=str(error), **details
        )
        return
    if ref:
        table.remember_message(deployment.repository, deployment.build_no, ref)
