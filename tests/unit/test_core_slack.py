"""canary_core.slack: the Block Kit messages (request for a decision, outcome) and posting them."""

from __future__ import annotations

from unittest.mock import Mock, patch

import pytest
import requests

from canary_core import slack
from canary_core.model import FunctionTarget
from canary_core.slack import SlackError

APPROVE_URL = "https://abc123defg.execute-api.us-east-1.amazonaws.com/v1/decide?action=approve&signature=a1"
ROLLBACK_URL = "https://abc123defg.execute-api.us-east-1.amazonaws.com/v1/decide?action=rollback&signature=b2"
EXPIRES_AT = 1744021800  # 2025-04-07 10:30 UTC
WEBHOOK = "https://hooks.slack.com/services/T000/B000/unit-test-webhook"


def sections(message):
    return [block["text"]["text"] for block in message["blocks"] if block["type"] == "section"]


def actions(message):
    return [block for block in message["blocks"] if block["type"] == "actions"]


@pytest.fixture
def two_functions():
    return (
        FunctionTarget("orders-api", "arn:aws:lambda:us-east-1:123456789012:function:orders-api", "1", "2"),
        FunctionTarget("payments", "arn:aws:lambda:us-east-1:123456789012:function:payments", "7", "9"),
    )


def test_the_request_has_a_header_the_build_link_and_the_facts(make_deployment, two_functions):
    # given build 760 of my-app with a build URL
    deployment = make_deployment(functions=two_functions)

    # when the request for a decision is made
    message = slack.request_message(deployment, APPROVE_URL, ROLLBACK_URL, "prod", EXPIRES_AT)

    # then it has a header, the share and the deadline, and the build number links to the CI build
    assert message["blocks"][0] == {
        "type": "header",
        "text": {"type": "plain_text", "text": "Canary: my-app build 760"},
    }
    summary = sections(message)[0]
    assert "Canary: my-app build 760 has 10% of traffic. Approve or roll back by 2025-04-07 10:30 UTC." in summary
    assert "*Build:* <https://ci.example.com/my-app/760|760>" in summary
    assert "*Alias:* `live`" in summary and "*Environment:* prod" in summary and "*Functions:* 2" in summary


def test_the_request_lists_each_function_with_old_and_new_version_and_weight(make_deployment, two_functions):
    # given two functions moving from 1 to 2 and from 7 to 9
    deployment = make_deployment(functions=two_functions, weight=0.25)

    # when the request is made
    message = slack.request_message(deployment, APPROVE_URL, ROLLBACK_URL, "prod", EXPIRES_AT)

    # then each function has a line with its versions and the weight of the new one
    assert sections(message)[1] == "`orders-api` v1 -> v2 at 25%\n`payments` v7 -> v9 at 25%"


def test_the_request_says_what_happens_to_pinned_and_unchanged_functions(make_deployment):
    # given one function first deployed from $LATEST and one whose code did not change
    deployment = make_deployment(
        functions=[
            FunctionTarget("first-time", "arn:aws:lambda:us-east-1:123456789012:function:first-time", "$LATEST", "1"),
            FunctionTarget("same-code", "arn:aws:lambda:us-east-1:123456789012:function:same-code", "4", "4"),
        ]
    )

    # when the request is made
    message = slack.request_message(deployment, APPROVE_URL, ROLLBACK_URL, "prod", EXPIRES_AT)

    # then their lines say so
    assert sections(message)[1] == (
        "`first-time` $LATEST -> v1: first deployment, pinned (no earlier version)\n"
        "`same-code` v4: code unchanged, left as it is"
    )


def test_the_request_has_approve_and_roll_back_buttons_with_the_links(make_deployment):
    # given a deployment waiting for a decision
    deployment = make_deployment()

    # when the request is made with the two signed links
    message = slack.request_message(deployment, APPROVE_URL, ROLLBACK_URL, "prod", EXPIRES_AT)

    # then the last block ("decision") holds the two buttons, each opening its link
    assert message["blocks"][-1] == {
        "type": "actions",
        "block_id": "decision",
        "elements": [
            {
                "type": "button",
                "text": {"type": "plain_text", "text": "Approve"},
                "url": APPROVE_URL,
                "action_id": "approve",
                "style": "primary",
            },
            {
                "type": "button",
                "text": {"type": "plain_text", "text": "Roll back"},
                "url": ROLLBACK_URL,
                "action_id": "rollback",
                "style": "danger",
            },
        ],
    }
    assert APPROVE_URL in message["text"] and ROLLBACK_URL in message["text"]


def test_slack_does_not_unfurl_the_links_of_any_message(make_deployment):
    # given a deployment
    deployment = make_deployment()

    # when its request and its outcome messages are made
    request = slack.request_message(deployment, APPROVE_URL, ROLLBACK_URL, "prod", EXPIRES_AT)
    outcome = slack.outcome_message(deployment, {"status": "PROMOTED", "summary": {}}, "prod")

    # then Slack is told not to preview the links (a preview would fetch the approve link)
    for message in (request, outcome):
        assert message["unfurl_links"] is False
        assert message["unfurl_media"] is False


def test_a_pre_approved_request_has_no_buttons(make_deployment):
    # given a pre-approved deployment (no links are made)
    deployment = make_deployment(pre_approve=True)

    # when the request is made without URLs
    message = slack.request_message(deployment, None, None, "dev", EXPIRES_AT)

    # then there is no actions block, and the text says it is promoting
    assert actions(message) == []
    assert message["text"] == "Canary: my-app build 760 is pre-approved in dev; promoting now."
    assert "decide?" not in str(message)


def test_a_request_for_300_functions_stays_within_slack_limits(make_deployment):
    # given 300 functions with 64-character names, each deployed for the first time (the longest lines)
    functions = [
        FunctionTarget(
            name := f"fn-{index:03d}-".ljust(64, "x"),
            f"arn:aws:lambda:us-east-1:123456789012:function:{name}",
            "$LATEST",
            "1",
        )
        for index in range(300)
    ]
    deployment = make_deployment(functions=functions)

    # when the request is made
    message = slack.request_message(deployment, APPROVE_URL, ROLLBACK_URL, "prod", EXPIRES_AT)

    # then it has at most 50 blocks, each section at most 3000 characters, and still the buttons
    assert len(message["blocks"]) <= 50
    assert all(len(text) <= 3000 for text in sections(message))
    assert len(actions(message)) == 1

    # and the functions not listed are counted in one closing line
    listed = [line for text in sections(message)[1:] for line in text.split("\n") if line.startswith("`fn-")]
    last_line = sections(message)[-1].split("\n")[-1]
    assert last_line == f"... and {300 - len(listed)} more"
    assert 0 < len(listed) < 300


def test_a_request_for_a_few_functions_lists_them_all(make_deployment, two_functions):
    # given two functions
    deployment = make_deployment(functions=two_functions)

    # when the request is made
    message = slack.request_message(deployment, APPROVE_URL, ROLLBACK_URL, "prod", EXPIRES_AT)

    # then nothing is summarised
    assert "more" not in "\n".join(sections(message))


def test_mrkdwn_control_characters_are_escaped(make_deployment):
    # given a deployment record whose repository and outcome cause contain <, > and &
    deployment = make_deployment(repository="a&b<c>")
    outcome = {"status": "FAILED", "cause": "Roll back failed: <!channel> & <https://evil.example|click>"}

    # when its messages are made
    request = slack.request_message(deployment, APPROVE_URL, ROLLBACK_URL, "prod", EXPIRES_AT)
    ended = slack.outcome_message(deployment, outcome, "prod")

    # then the mrkdwn sections carry them escaped: no mention, no link can be smuggled in
    assert "*Repository:* a&amp;b&lt;c&gt;" in sections(request)[0]
    assert "Canary: a&amp;b&lt;c&gt; build 760" in sections(request)[0]
    assert sections(ended)[0].startswith(
        "Roll back failed: &lt;!channel&gt; &amp; &lt;https://evil.example|click&gt;\n"
    )
    assert "<!channel>" not in str(ended["blocks"])


def test_the_outcome_of_a_promoted_deployment_says_who_approved(make_deployment, two_functions):
    # given a promoted deployment
    deployment = make_deployment(functions=two_functions)
    outcome = {
        "status": "PROMOTED",
        "summary": {"decided_by": "approval link", "decided_at": "2025-04-07T09:45:00+00:00"},
    }

    # when the outcome message is made
    message = slack.outcome_message(deployment, outcome, "prod")

    # then it says promoted, who approved and when, and lists the versions now running
    assert message["blocks"][0]["text"]["text"] == "Promoted: my-app build 760"
    assert message["text"] == ("Promoted: my-app build 760. Approved by approval link at 2025-04-07T09:45:00+00:00.")
    assert sections(message)[1] == "`orders-api` v1 -> v2\n`payments` v7 -> v9"
    assert actions(message) == []


def test_the_outcome_of_a_rolled_back_deployment_gives_the_cause(make_deployment, two_functions):
    # given a deployment rolled back by a person
    deployment = make_deployment(functions=two_functions)
    outcome = {
        "status": "ROLLED_BACK",
        "error": "Canary.RolledBack",
        "cause": "Rolled back by approval link at 2025-04-07T09:45:00+00:00.",
    }

    # when the outcome message is made
    message = slack.outcome_message(deployment, outcome, "prod")

    # then it says rolled back and why, and the new versions got no traffic in the end
    assert message["blocks"][0]["text"]["text"] == "Rolled back: my-app build 760"
    assert sections(message)[0].startswith("Rolled back by approval link at 2025-04-07T09:45:00+00:00.\n")
    assert sections(message)[1] == "`orders-api` v1 -> v2 at 0%\n`payments` v7 -> v9 at 0%"


def test_the_outcome_of_a_failed_roll_back_says_failed(make_deployment):
    # given a deployment whose roll back failed
    outcome = {"status": "FAILED", "error": "Canary.RollbackFailed", "cause": "Roll back failed"}

    # when the outcome message is made
    message = slack.outcome_message(make_deployment(), outcome, "prod")

    # then the header says failed
    assert message["blocks"][0]["text"]["text"] == "Failed: my-app build 760"


def test_post_sends_the_message_as_json_with_a_timeout(make_deployment):
    # given Slack's webhook answers 200 ok
    message = slack.outcome_message(make_deployment(), {"status": "PROMOTED", "summary": {}}, "prod")
    answer = Mock(status_code=200, text="ok")

    # when the message is posted
    with patch("requests.post", return_value=answer) as post:
        slack.post(WEBHOOK, message)

    # then it went to the webhook once, as JSON, with a timeout
    post.assert_called_once_with(WEBHOOK, json=message, timeout=5.0)


def test_post_to_an_unreachable_webhook_raises_slack_error_without_the_url():
    # given the webhook cannot be reached
    refused = requests.ConnectionError("connection refused to hooks.slack.com")

    # when a message is posted
    with patch("requests.post", side_effect=refused), pytest.raises(SlackError) as error:
        slack.post(WEBHOOK, {"text": "hello"})

    # then the error says unreachable and does not leak the webhook URL (a secret)
    assert str(error.value) == "Slack webhook unreachable: ConnectionError"
    assert WEBHOOK not in str(error.value)


def test_post_answered_with_500_raises_slack_error_with_the_status():
    # given the webhook answers 500
    answer = Mock(status_code=500, text="internal_error")

    # when a message is posted
    with patch("requests.post", return_value=answer), pytest.raises(SlackError) as error:
        slack.post(WEBHOOK, {"text": "hello"})

    # then the error gives the status and Slack's answer
    assert str(error.value) == "Slack webhook answered 500: internal_error"


def test_a_build_url_cannot_smuggle_a_mention_into_the_message(make_deployment):
    # given a build URL (accepted by parse_request) that carries a channel mention
    deployment = make_deployment(build_url="https://ci.example.com/760|<!channel>")

    # when the request for a decision is made
    message = slack.request_message(deployment, APPROVE_URL, ROLLBACK_URL, "prod", EXPIRES_AT)

    # then the mention is not live mrkdwn
    assert "<!channel>" not in sections(message)[0]
