"""Asking for a decision and announcing the outcome in Slack.

Request: park the task token, then post the request (links, or buttons for a Slack app), or approve at
once when pre-approved. Outcome: a Slack app updates the request message in place, however the deployment
ended; a webhook posts a new message.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol
from urllib.parse import urlencode

from canary_core import slack
from canary_core.decisions import decide, resume_output
from canary_core.links import AuditLink, DecisionLink
from canary_core.model import PRE_APPROVAL, TIMEOUT, Decision, Deployment
from canary_core.trail import DeploymentsTable

logger = logging.getLogger(__name__)


class Channel(Protocol):
    """Where messages go: slack.WebhookChannel or slack.AppChannel."""

    def post(self, message: dict[str, Any]) -> dict[str, str] | None: ...

    def update(self, ref: dict[str, str], message: dict[str, Any]) -> None: ...

    def reply(self, ref: dict[str, str], message: dict[str, Any]) -> None: ...


@dataclass(frozen=True)
class Messenger:
    """Where a stack's approval messages go and how their links are signed: built once per handler."""

    channel: Channel
    link_secret: Callable[[], bytes]  # read when a link is signed, not before (pre-approval signs none)
    approval_api_url: str
    environment: str
    interactive: bool = False  # a Slack app: the buttons post to the interactivity endpoint
    show_links: bool = True  # False when only listed approvers may decide: buttons, no links

    def urls(self, deployment: Deployment, expires_at: int) -> dict[str, str]:
        """{"approve": signed URL, "rollback": signed URL}."""
        secret = self.link_secret()
        return {
            action: link.url(self.approval_api_url, secret)
            for action, link in decision_links(deployment, expires_at).items()
        }

    def audit_url(self, now: datetime) -> str | None:
        """The audit page's signed link (none when this function does not know the API's address)."""
        if not self.approval_api_url:
            return None
        return AuditLink.from_now(now).url(self.approval_api_url, self.link_secret())

    def button_values(self, deployment: Deployment, expires_at: int) -> dict[str, str] | None:
        """A Slack app's buttons carry the signed link's fields; the interactivity endpoint checks them again."""
        if not self.interactive:
            return None
        secret = self.link_secret()
        return {
            action: urlencode(link.params(secret)) for action, link in decision_links(deployment, expires_at).items()
        }


REMIND_BEFORE_DEADLINE_SECONDS = 600


def reminder_times(requested_at: int, deadline: int) -> list[int]:
    """When to remind: at half-time and ten minutes before the deadline (those that fall inside the wait)."""
    times = {requested_at + (deadline - requested_at) // 2, deadline - REMIND_BEFORE_DEADLINE_SECONDS}
    return sorted(t for t in times if requested_at < t < deadline)


def approval_plan(reminders: list[int], deadline: int, on_timeout: str, now: int) -> dict[str, Any]:
    """What the state machine's wait loop reads: how long to wait next, and whether the deadline passed."""
    upcoming = [t for t in reminders if t > now]
    next_point = min([*upcoming, deadline])
    return {
        "deadline": deadline,
        "reminders": upcoming,
        "on_timeout": on_timeout,
        "expired": now >= deadline,
        "next_wait_seconds": max(1, next_point - now),
    }


def request_decision(
    deployment: Deployment, messenger: Messenger, *, table: DeploymentsTable, sfn_client: Any, now: datetime
) -> dict[str, Any]:
    """Post the request and return the approval plan; Await Decision then waits for the decision."""
    requested_at = int(now.timestamp())
    expires_at = requested_at + deployment.approval_timeout_seconds
    table.await_decision(deployment, expires_at, now)
    plan = approval_plan(reminder_times(requested_at, expires_at), expires_at, deployment.on_timeout, requested_at)
    if deployment.pre_approve:
        audit_url = messenger.audit_url(now)
        message = slack.request_message(deployment, None, None, messenger.environment, expires_at, audit_url=audit_url)
        notify(table, deployment, messenger.channel, message, now)
        decision = Decision("approve", PRE_APPROVAL, now.isoformat())
        decide(table, sfn_client, deployment.repository, deployment.build_no, decision, now)
        return plan
    urls = messenger.urls(deployment, expires_at)
    message = slack.request_message(
        deployment,
        urls["approve"],
        urls["rollback"],
        messenger.environment,
        expires_at,
        messenger.button_values(deployment, expires_at),
        messenger.show_links,
        messenger.audit_url(now),
    )
    # If Slack cannot take the message, the links go to the trail: an operator can hand them on.
    trail_links = {"approve_url": urls["approve"], "rollback_url": urls["rollback"]} if messenger.show_links else {}
    notify(table, deployment, messenger.channel, message, now, **trail_links)
    return plan


def decision_links(deployment: Deployment, expires_at: int) -> dict[str, DecisionLink]:
    return {
        action: DecisionLink(deployment.repository, deployment.build_no, action, expires_at)
        for action in ("approve", "rollback")
    }


def await_decision(
    deployment: Deployment, task_token: str, *, table: DeploymentsTable, sfn_client: Any
) -> dict[str, Any]:
    """Store the waiting task's token; a decision taken while no task waited resumes it at once."""
    item = table.store_token(deployment.repository, deployment.build_no, task_token)
    if item.get("decision"):
        try:
            sfn_client.send_task_success(taskToken=task_token, output=json.dumps(resume_output(item["decision"])))
        except Exception as error:  # noqa: BLE001 - a failed resume must not fail the wait: Remind Or Expire
            # finds the decision when this wait ends and the next wait resumes at once
            logger.warning("resume with the recorded decision failed: %s", error)
            return {"resumed": False}
        return {"resumed": True}
    return {"resumed": False}


def remind_or_expire(
    deployment: Deployment, plan: dict[str, Any], messenger: Messenger, *, table: DeploymentsTable, now: datetime
) -> dict[str, Any]:
    """A wait ended without a decision: post the reminder that is due, or decide by the timeout policy.

    Returns what changes in the workflow's state: `approval` (the next wait's plan) and, once the deadline
    decided, `decision`.
    """
    at = int(now.timestamp())
    item = table.get(deployment.repository, deployment.build_no) or {}
    if item.get("decision"):  # taken between two waits: the next wait resumes with it at once
        return {"approval": {**plan, "expired": False, "next_wait_seconds": 1}}
    updated = approval_plan(plan["reminders"], plan["deadline"], plan["on_timeout"], at)
    if updated["expired"]:
        # The timeout decides the way a click does, first write wins: a click landing in the same instant is
        # either the decision (and its visitor was told so) or finds the timeout's, never both.
        action = "approve" if plan["on_timeout"] == "promote" else "rollback"
        timeout = Decision(action, TIMEOUT, now.isoformat())
        won, item = table.record_decision(deployment.repository, deployment.build_no, timeout)
        if not won and item.get("decision"):
            return {"approval": {**plan, "expired": False, "next_wait_seconds": 1}}
        return {"approval": updated, "decision": resume_output(timeout)}
    due = [t for t in plan["reminders"] if t <= at]
    if due:
        urls = messenger.urls(deployment, plan["deadline"]) if messenger.show_links else {}
        message = slack.reminder_message(
            deployment, urls.get("approve"), urls.get("rollback"), plan["deadline"], at, messenger.audit_url(now)
        )
        reply(table, deployment, messenger.channel, item.get("slack_message"), message, now)
        table.note(
            deployment.repository, deployment.build_no, now, "reminder sent", minutes_left=(plan["deadline"] - at) // 60
        )
    return {"approval": updated}


def reply(
    table: DeploymentsTable,
    deployment: Deployment,
    channel: Channel,
    ref: dict[str, str] | None,
    message: dict[str, Any],
    now: datetime,
) -> None:
    """In the request's thread when there is one (Slack app), else a new message."""
    try:
        channel.reply(ref, message) if ref else channel.post(message)
    except slack.SlackError as error:
        logger.warning("Slack reply not delivered: %s", error)
        table.note(deployment.repository, deployment.build_no, now, "slack message failed", reason=str(error))


def announce_outcome(
    deployment: Deployment, outcome: dict[str, Any], messenger: Messenger, *, table: DeploymentsTable, now: datetime
) -> None:
    message = slack.outcome_message(deployment, outcome, messenger.environment, messenger.audit_url(now))
    item = table.get(deployment.repository, deployment.build_no) or {}
    ref = item.get("slack_message")
    if ref:
        try:
            messenger.channel.update(ref, message)
            if outcome.get("summary", {}).get("decided_by") == TIMEOUT:
                # an edited message notifies nobody: what the deadline did is said in the thread too
                reply(table, deployment, messenger.channel, ref, message, now)
            return
        except slack.SlackError as error:
            logger.warning("Slack message not updated: %s", error)
            table.note(deployment.repository, deployment.build_no, now, "slack update failed", reason=str(error))
    notify(table, deployment, messenger.channel, message, now)


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
