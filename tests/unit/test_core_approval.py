"""canary_core.approval.request_decision: park the task token, then post the links or approve at once."""

from __future__ import annotations

import json
from urllib.parse import parse_qs, urlsplit

import pytest

from canary_core.approval import PRE_APPROVAL, request_decision
from canary_core.links import DecisionLink, verify
from canary_core.slack import SlackError
from canary_core.trail import WAITING
from lambda_canary.browser import decision_links

API_URL = "https://abc123defg.execute-api.us-east-1.amazonaws.com/v1"


@pytest.fixture
def opened(table, make_deployment, now):
    """opened(**overrides): a deployment whose traffic was shifted (the item is open, not yet waiting)."""

    def make(**overrides):
        deployment = make_deployment(**overrides)
        table.open(deployment, now)
        return deployment

    return make


@pytest.fixture
def slack_posts():
    """The messages posted to Slack; its `append` stands in for posting."""
    return []


def ask(deployment, *, table, sfn, posted, secret, now, post=None):
    return request_decision(
        deployment,
        "token-request-decision",
        table=table,
        sfn_client=sfn,
        post_to_slack=post or posted.append,
        link_secret=lambda: secret,
        approval_api_url=API_URL,
        environment="prod",
        now=now,
    )


def test_a_deployment_that_needs_approval_waits_and_posts_signed_links(
    table, sfn, opened, slack_posts, link_secret, now
):
    # given a deployment that is not pre-approved, with an hour to decide
    deployment = opened(pre_approve=False, approval_timeout_seconds=3600)

    # when a decision is requested
    result = ask(deployment, table=table, sfn=sfn, posted=slack_posts, secret=link_secret, now=now)

    # then the item waits with the token, nothing is resumed, and one message with two working links is posted
    assert result == {"pre_approved": False}
    item = table.get("my-app", 760)
    assert item["status"] == WAITING and item["task_token"] == "token-request-decision"
    assert item["expires_at"] == int(now.timestamp()) + 3600
    assert sfn.calls == []
    (message,) = slack_posts
    links = decision_links(message)
    assert set(links) == {"approve", "rollback"}
    for action, url in links.items():
        params = {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
        link = verify(params, link_secret, now)
        assert (link.action, link.expires) == (action, int(now.timestamp()) + 3600)
        assert "token-request-decision" not in url


def test_a_pre_approved_deployment_is_approved_at_once_with_the_same_trail(table, sfn, opened, slack_posts, now):
    # given a pre-approved deployment
    deployment = opened(pre_approve=True)

    # when a decision is requested (no link secret is needed)
    def no_secret():
        raise AssertionError("a pre-approved deployment needs no links")

    result = request_decision(
        deployment,
        "token-pre-approved",
        table=table,
        sfn_client=sfn,
        post_to_slack=slack_posts.append,
        link_secret=no_secret,
        approval_api_url=API_URL,
        environment="dev",
        now=now,
    )

    # then it resumes the execution with approve by "pre-approval", and posts a message without buttons
    assert result == {"pre_approved": True}
    assert sfn.calls[0]["taskToken"] == "token-pre-approved"
    assert json.loads(sfn.calls[0]["output"]) == {
        "action": "approve",
        "decided_by": PRE_APPROVAL,
        "decided_at": now.isoformat(),
    }
    assert decision_links(slack_posts[0]) == {}
    events = [event["event"] for event in table.get("my-app", 760)["trail"]]
    assert events == ["started", "waiting for a decision", "decision: approve"]


def test_a_slack_failure_is_noted_and_does_not_stop_the_deployment(table, sfn, opened, link_secret, now):
    # given Slack's webhook fails
    deployment = opened()

    def failing_post(message):
        raise SlackError("Slack webhook answered 500: internal_error")

    # when a decision is requested
    result = ask(deployment, table=table, sfn=sfn, posted=[], secret=link_secret, now=now, post=failing_post)

    # then the deployment still waits, and the trail has the failure and both links for an operator to hand on
    assert result == {"pre_approved": False}
    item = table.get("my-app", 760)
    assert item["status"] == WAITING
    expires_at = int(now.timestamp()) + deployment.approval_timeout_seconds
    assert item["trail"][-1] == {
        "at": now.isoformat(),
        "event": "slack message failed",
        "reason": "Slack webhook answered 500: internal_error",
        "approve_url": DecisionLink("my-app", 760, "approve", expires_at).url(API_URL, link_secret),
        "rollback_url": DecisionLink("my-app", 760, "rollback", expires_at).url(API_URL, link_secret),
    }


def test_a_pre_approval_that_cannot_be_delivered_reports_it(table, timed_out_sfn, opened, slack_posts, now):
    # given a pre-approved deployment whose task is already gone
    deployment = opened(pre_approve=True)

    # when a decision is requested
    result = ask(deployment, table=table, sfn=timed_out_sfn, posted=slack_posts, secret=b"unused", now=now)

    # then it reports that it was not pre-approved after all, and the trail says why
    assert result == {"pre_approved": False}
    assert table.get("my-app", 760)["trail"][-1]["event"] == "decision not delivered"
