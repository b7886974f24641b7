"""Asking for a decision: park the task token, then post the links, or approve at once when pre-approved."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

from canary_core import slack
from canary_core.decisions import decide
from canary_core.links import DecisionLink
from canary_core.model import Deployment
from canary_core.trail import Decision, DeploymentsTable

PRE_APPROVAL = "pre-approval"

logger = logging.getLogger(__name__)


def request_decision(
    deployment: Deployment,
    task_token: str,
    *,
    table: DeploymentsTable,
    sfn_client: Any,
    post_to_slack: Callable[[dict[str, Any]], None],
    link_secret: Callable[[], bytes],
    approval_api_url: str,
    environment: str,
    now: datetime,
) -> dict[str, Any]:
    expires_at = int(now.timestamp()) + deployment.approval_timeout_seconds
    table.await_decision(deployment, task_token, expires_at, now)
    if deployment.pre_approve:
        message = slack.request_message(deployment, None, None, environment, expires_at)
        notify(table, deployment, post_to_slack, message, now)
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
    message = slack.request_message(deployment, links["approve_url"], links["rollback_url"], environment, expires_at)
    # If Slack cannot take the message, the links go to the trail: an operator can hand them on.
    notify(table, deployment, post_to_slack, message, now, **links)
    return {"pre_approved": False}


def notify(
    table: DeploymentsTable,
    deployment: Deployment,
    post_to_slack: Callable[[dict[str, Any]], None],
    message: dict[str, Any],
    now: datetime,
    **details: str,
) -> None:
    """Post to Slack; a failure is written to the trail (with `details`) and does not stop the deployment."""
    try:
        post_to_slack(message)
    except slack.SlackError as error:
        logger.warning("Slack message not delivered: %s", error)
        table.note(
            deployment.repository, deployment.build_no, now, "slack message failed", reason=str(error), **details
        )
