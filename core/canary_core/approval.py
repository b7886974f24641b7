"""Asking for a decision on each step, watching the canary while it waits, and announcing the outcome.

Request: post the request (links, or buttons for a Slack app), or approve a manual gate at once when
pre-approved. Check: between two waits, read the alarms and the metrics (canary_core.evidence), post
reminders, decide at the deadline. Outcome: a Slack app updates the request message in place, however the
deployment ended; a webhook posts a new message.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, Protocol
from urllib.parse import urlencode

from botocore.exceptions import BotoCoreError, ClientError

from canary_core import slack
from canary_core.decisions import decide, resume_output
from canary_core.evidence import Evidence, Gather
from canary_core.links import AuditLink, DecisionLink
from canary_core.model import ALARM_PREFIX, ANALYSIS, PRE_APPROVAL, TIMEOUT, ApprovalPlan, Decision, Deployment
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

    def urls(self, deployment: Deployment, expires_at: int, step: int = 0) -> dict[str, str]:
        """{action: signed URL} for the step's actions (see decision_links)."""
        secret = self.link_secret()
        return {
            action: link.url(self.approval_api_url, secret)
            for action, link in decision_links(deployment, expires_at, step).items()
        }

    def audit_url(self, now: datetime) -> str | None:
        """The audit page's signed link (none when this function does not know the API's address)."""
        if not self.approval_api_url:
            return None
        return AuditLink.from_now(now).url(self.approval_api_url, self.link_secret())

    def button_values(self, deployment: Deployment, expires_at: int, step: int = 0) -> dict[str, str] | None:
        """A Slack app's buttons carry the signed link's fields; the interactivity endpoint checks them again."""
        if not self.interactive:
            return None
        secret = self.link_secret()
        links = decision_links(deployment, expires_at, step)
        return {action: urlencode(link.params(secret)) for action, link in links.items()}


REMIND_BEFORE_DEADLINE_SECONDS = 600


def reminder_times(requested_at: int, deadline: int) -> list[int]:
    """When to remind: at half-time and ten minutes before the deadline (those that fall inside the wait)."""
    times = {requested_at + (deadline - requested_at) // 2, deadline - REMIND_BEFORE_DEADLINE_SECONDS}
    return sorted(t for t in times if requested_at < t < deadline)


def plan_wait(
    deployment: Deployment,
    step: int,
    step_started_at: int,
    deadline: int,
    reminders: Sequence[int],
    now: int,
    next_check_at: int | None = None,
    verdict: str | None = None,
) -> ApprovalPlan:
    """The next wait of step `step`: until the next reminder, check of the canary, end of an auto gate's bake
    or the deadline, whichever comes first."""
    if next_check_at is None and watches(deployment):
        next_check_at = step_started_at + deployment.analysis.interval_seconds
    upcoming = [t for t in reminders if t > now]
    points = [*upcoming, deadline]
    if next_check_at is not None:
        points.append(next_check_at)
    gate = deployment.steps[step]
    if gate.gate == "auto" and step_started_at + gate.bake_seconds > now:
        points.append(step_started_at + gate.bake_seconds)
    return ApprovalPlan(
        step=step,
        last_step=step == len(deployment.steps) - 1,
        step_started_at=step_started_at,
        deadline=deadline,
        reminders=tuple(upcoming),
        on_timeout=deployment.on_timeout,
        next_wait_seconds=max(1, min(points) - now),
        next_check_at=next_check_at,
        verdict=verdict,
    )


def watches(deployment: Deployment) -> bool:
    """Whether the wait reads alarms or metrics at all."""
    return bool(deployment.alarms) or deployment.analysis.mode != "off"


def request_decision(
    deployment: Deployment,
    messenger: Messenger,
    *,
    table: DeploymentsTable,
    sfn_client: Any,
    now: datetime,
    step: int = 0,
    step_started_at: int | None = None,
) -> ApprovalPlan:
    """Post the request for a decision on step `step` and return the plan of its wait; Await Decision then
    waits. Pre-approval approves a manual gate at once (an auto gate waits for its evidence all the same),
    unless the deployment is irreversible: a person approves it in every environment."""
    requested_at = int(now.timestamp())
    expires_at = requested_at + deployment.approval_timeout_seconds
    table.await_decision(deployment, expires_at, now)
    started = requested_at if step_started_at is None else step_started_at
    plan = plan_wait(deployment, step, started, expires_at, reminder_times(requested_at, expires_at), requested_at)
    # an irreversible deployment is never pre-approved, whatever its state says (validation.py clears it)
    if deployment.pre_approve and not deployment.irreversible and deployment.steps[step].gate == "manual":
        audit_url = messenger.audit_url(now)
        message = slack.request_message(
            deployment, {}, messenger.environment, expires_at, audit_url=audit_url, step=step
        )
        notify(table, deployment, messenger.channel, message, now)
        decision = Decision("approve", PRE_APPROVAL, now.isoformat(), step=step)
        decide(table, sfn_client, deployment.repository, deployment.build_no, decision, now)
        return plan
    urls = messenger.urls(deployment, expires_at, step)
    message = slack.request_message(
        deployment,
        urls,
        messenger.environment,
        expires_at,
        messenger.button_values(deployment, expires_at, step),
        messenger.show_links,
        messenger.audit_url(now),
        step=step,
    )
    # If Slack cannot take the message, the links go to the trail: an operator can hand them on.
    trail_links = {f"{action}_url": url for action, url in urls.items()} if messenger.show_links else {}
    notify(table, deployment, messenger.channel, message, now, **trail_links)
    return plan


def decision_links(deployment: Deployment, expires_at: int, step: int = 0) -> dict[str, DecisionLink]:
    """The step's links: approve (the next step, or promotion after the last), roll back, and promote now
    while steps remain."""
    actions = ["approve", "rollback"] + (["promote"] if step < len(deployment.steps) - 1 else [])
    return {
        action: DecisionLink(deployment.repository, deployment.build_no, action, expires_at, step) for action in actions
    }


def await_decision(
    deployment: Deployment, task_token: str, *, table: DeploymentsTable, sfn_client: Any
) -> dict[str, Any]:
    """Store the waiting task's token; a decision taken while no task waited resumes it at once."""
    item = table.store_token(deployment.repository, deployment.build_no, task_token)
    if item.get("decision"):
        try:
            sfn_client.send_task_success(taskToken=task_token, output=json.dumps(resume_output(item["decision"])))
        except Exception as error:  # noqa: BLE001 - a failed resume must not fail the wait: Check Canary
            # finds the decision when this wait ends and the next wait resumes at once
            logger.warning("resume with the recorded decision failed: %s", error)
            return {"resumed": False}
        return {"resumed": True}
    return {"resumed": False}


def check_canary(
    deployment: Deployment,
    plan: ApprovalPlan,
    messenger: Messenger,
    *,
    table: DeploymentsTable,
    gather: Gather,
    now: datetime,
) -> ApprovalPlan:
    """A wait ended without a decision. Read the alarms and the metrics when a check is due and decide on
    what they show (an alarm or an unhealthy verdict in rollback mode rolls back; an auto gate past its bake
    with a healthy verdict moves on); else post the reminder that is due, or decide by the timeout policy.

    A decision taken here is written like a click (first write wins); the next wait resumes with it at once.
    Returns the plan of the next wait.
    """
    at = int(now.timestamp())
    item = table.get(deployment.repository, deployment.build_no) or {}
    if item.get("decision"):  # taken between two waits: the next wait resumes with it at once
        return replace(plan, next_wait_seconds=1)
    verdict, next_check_at = plan.verdict, plan.next_check_at
    if next_check_at is not None and at >= next_check_at:
        started = datetime.fromtimestamp(plan.step_started_at, UTC)
        next_check_at = at + deployment.analysis.interval_seconds
        try:
            evidence = gather(deployment, started, now)
        except (ClientError, BotoCoreError) as error:
            # CloudWatch did not answer (throttled, a timeout): no evidence this time, the next check reads
            # again. A deleted alarm (AlarmMissing) is not caught: the deployment would watch nothing.
            logger.warning("canary check failed: %s", error)
            table.note_unless_full(
                deployment.repository, deployment.build_no, now, "canary check failed", reason=str(error)[:500]
            )
            evidence = Evidence()
        if evidence.analysis is not None:
            verdict = evidence.analysis["verdict"]
            _report_analysis(deployment, plan, evidence.analysis, verdict != plan.verdict, messenger, table, item, now)
        decision = _evidence_decision(deployment, plan, evidence, at, now)
        if decision is not None:
            table.record_decision(deployment.repository, deployment.build_no, decision)
            return replace(plan, next_wait_seconds=1, next_check_at=next_check_at, verdict=verdict)
    if at >= plan.deadline:
        # The timeout decides the way a click does, first write wins: a click landing in the same instant is
        # either the decision (and its visitor was told so) or finds the timeout's, never both.
        action = "approve" if plan.on_timeout == "promote" else "rollback"
        table.record_decision(
            deployment.repository, deployment.build_no, Decision(action, TIMEOUT, now.isoformat(), step=plan.step)
        )
        return replace(plan, next_wait_seconds=1, next_check_at=next_check_at, verdict=verdict)
    due = [t for t in plan.reminders if t <= at]
    if due:
        urls = messenger.urls(deployment, plan.deadline, plan.step) if messenger.show_links else {}
        message = slack.reminder_message(deployment, urls, plan.deadline, at, messenger.audit_url(now))
        reply(table, deployment, messenger.channel, item.get("slack_message"), message, now)
        table.note(
            deployment.repository, deployment.build_no, now, "reminder sent", minutes_left=(plan.deadline - at) // 60
        )
    return plan_wait(
        deployment, plan.step, plan.step_started_at, plan.deadline, plan.reminders, at, next_check_at, verdict
    )


def _evidence_decision(
    deployment: Deployment, plan: ApprovalPlan, evidence: Evidence, at: int, now: datetime
) -> Decision | None:
    """The decision the evidence takes, if any: alarms first, then the analysis."""
    if evidence.alarms_firing:
        name = evidence.alarms_firing[0]
        reason = f"alarm {name} is in ALARM" + (
            f" (also: {', '.join(evidence.alarms_firing[1:])})" if len(evidence.alarms_firing) > 1 else ""
        )
        return Decision("rollback", ALARM_PREFIX + name, now.isoformat(), reason=reason, step=plan.step)
    analysis = evidence.analysis
    if analysis is None:
        return None
    if analysis["verdict"] == "unhealthy" and deployment.analysis.mode == "rollback":
        return Decision("rollback", ANALYSIS, now.isoformat(), reason=analysis["cause"], step=plan.step)
    gate = deployment.steps[plan.step]
    if gate.gate == "auto" and at >= plan.step_started_at + gate.bake_seconds and analysis["verdict"] == "healthy":
        reason = f"healthy after {gate.bake_seconds} s at {gate.weight:.0%}: {analysis['summary']}"
        return Decision("approve", ANALYSIS, now.isoformat(), reason=reason, step=plan.step)
    return None


def _report_analysis(
    deployment: Deployment,
    plan: ApprovalPlan,
    analysis: dict[str, Any],
    changed: bool,
    messenger: Messenger,
    table: DeploymentsTable,
    item: dict[str, Any],
    now: datetime,
) -> None:
    """Keep the latest comparison for the pages; tell Slack when the verdict changes (a Slack app's request
    message shows it in place and its thread says so; a webhook posts a new message)."""
    table.record_analysis(deployment.repository, deployment.build_no, {**analysis, "step": plan.step}, now, changed)
    ref = item.get("slack_message")
    if ref and messenger.interactive and (item.get("analysis") or {}).get("functions") != analysis.get("functions"):
        _update_request(deployment, plan, analysis, messenger, table, ref, now)
    if changed:  # an edited message notifies nobody: a new verdict is said in the thread too
        reply(table, deployment, messenger.channel, ref, slack.analysis_message(deployment, analysis, plan.step), now)


def _update_request(
    deployment: Deployment,
    plan: ApprovalPlan,
    analysis: dict[str, Any],
    messenger: Messenger,
    table: DeploymentsTable,
    ref: dict[str, str],
    now: datetime,
) -> None:
    """A Slack app's request message, its buttons as they were, showing the latest comparison."""
    pre_approved = deployment.pre_approve and deployment.steps[plan.step].gate == "manual"
    urls = {} if pre_approved else messenger.urls(deployment, plan.deadline, plan.step)
    message = slack.request_message(
        deployment,
        urls,
        messenger.environment,
        plan.deadline,
        None if pre_approved else messenger.button_values(deployment, plan.deadline, plan.step),
        messenger.show_links,
        messenger.audit_url(now),
        step=plan.step,
        analysis=analysis,
    )
    try:
        messenger.channel.update(ref, message)
    except slack.SlackError as error:
        logger.warning("Slack message not updated: %s", error)
        table.note(deployment.repository, deployment.build_no, now, "slack update failed", reason=str(error))


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
    message = slack.outcome_message(deployment, outcome, messenger.environment, messenger.audit_url(now), now)
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
