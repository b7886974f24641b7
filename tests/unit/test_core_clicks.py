"""canary_core.clicks: what opening (GET) and confirming (POST) an approve / roll-back link does."""

from __future__ import annotations

import html
import json
import re
from datetime import timedelta
from urllib.parse import parse_qsl, urlsplit

import pytest

from canary_core import clicks
from canary_core.links import FIELDS, AuditLink, DecisionLink, verify_audit
from canary_core.model import ROLLED_BACK, Decision, FunctionTarget, Step
from canary_testing.browser import forms_in

VISITOR = clicks.Visitor(source_ip="203.0.113.24", user_agent="Mozilla/5.0 (unit test)")


@pytest.fixture
def link_params(now, link_secret):
    """link_params(action, repository=..., build_no=...): the query of a signed link, valid for an hour."""

    def make(action: str = "approve", repository: str = "my-app", build_no: int = 760) -> dict[str, str]:
        return DecisionLink(repository, build_no, action, int(now.timestamp()) + 3600).params(link_secret)

    return make


@pytest.fixture
def raw_item(dynamodb_table):
    """The item exactly as DynamoDB holds it (to see that nothing was written)."""

    def read(repository: str = "my-app", build_no: int = 760):
        return dynamodb_table.get_item(Key={"repository": repository, "build_no": build_no}).get("Item")

    return read


def test_opening_a_link_changes_nothing(table, sfn, waiting_deployment, link_params, link_secret, raw_item, now):
    # given a deployment waiting for a decision
    waiting_deployment()
    before = raw_item()

    # when the approve link is opened (by a person, a link preview or a mail scanner)
    status, page = clicks.show(link_params("approve"), table, link_secret, now)

    # then the confirmation page is shown and the item is exactly as it was; nothing was resumed
    assert status == 200
    assert "Approve my-app build 760?" in page
    assert raw_item() == before
    assert sfn.calls == []


def test_the_confirmation_page_posts_the_link_fields(table, waiting_deployment, link_params, link_secret, now):
    # given a deployment waiting for a decision and its roll-back link
    waiting_deployment()
    params = link_params("rollback")

    # when the link is opened
    status, page = clicks.show({**params, "utm_source": "slack"}, table, link_secret, now)

    # then the page has one POST form carrying exactly the link's fields as hidden inputs, and a button
    assert status == 200
    (form,) = forms_in(page)
    assert form.method == "POST"
    assert form.fields == params
    assert set(form.fields) == set(FIELDS) - {"step"}  # a first step's link names no step
    assert all(f'type="hidden" name="{name}"' in page for name in set(FIELDS) - {"step"})
    assert '<button type="submit" class="rollback">Roll back build 760</button>' in page
    assert "task_token" not in page and "token-of-the-waiting-task" not in page


def test_confirming_approve_approves(table, sfn, waiting_deployment, link_params, link_secret, now):
    # given a deployment waiting on task token "token-click-approve"
    waiting_deployment(task_token="token-click-approve")

    # when the approve form is submitted
    status, page = clicks.submit(link_params("approve"), table, sfn, link_secret, VISITOR, now)

    # then the page says approved and what the traffic will be, links to the deployment's page (signed as
    # the audit page), the execution was resumed, and the decision names the link and the visitor
    assert status == 200
    assert "Approved: my-app build 760" in page
    assert "<strong>100%</strong> once this decision is carried out" in page
    (href,) = re.findall(r'href="(deployments/my-app/760\?[^"]+)"', page)
    assert verify_audit(dict(parse_qsl(urlsplit(html.unescape(href)).query)), link_secret, now)
    assert [call["taskToken"] for call in sfn.calls] == ["token-click-approve"]
    assert json.loads(sfn.calls[0]["output"])["action"] == "approve"
    decision = table.get("my-app", 760)["decision"]
    assert decision == {
        "action": "approve",
        "decided_by": "approval link",
        "decided_at": now.isoformat(),
        "source_ip": "203.0.113.24",
        "user_agent": "Mozilla/5.0 (unit test)",
    }


def test_confirming_roll_back_rolls_back(table, sfn, waiting_deployment, link_params, link_secret, now):
    # given a deployment waiting for a decision
    waiting_deployment()

    # when the roll-back form is submitted
    status, page = clicks.submit(link_params("rollback"), table, sfn, link_secret, VISITOR, now)

    # then the page says rolled back, with no traffic on the new version, and the execution was resumed
    assert status == 200
    assert "Rolled back: my-app build 760" in page
    assert "<strong>0%</strong> once this decision is carried out" in page
    assert json.loads(sfn.calls[0]["output"])["action"] == "rollback"


def test_a_second_confirmation_is_told_what_was_already_decided(
    table, sfn, waiting_deployment, link_params, link_secret, now
):
    # given a deployment that was approved through its link
    waiting_deployment()
    clicks.submit(link_params("approve"), table, sfn, link_secret, VISITOR, now)
    sfn.calls.clear()

    # when someone confirms the roll-back link a minute later
    later = now + timedelta(minutes=1)
    status, page = clicks.submit(link_params("rollback"), table, sfn, link_secret, VISITOR, later)

    # then it is refused (409) with the first decision named, and nothing is resumed
    assert status == 409
    assert "Already decided: my-app build 760" in page
    assert "already decided: approved by approval link at 09:30 UTC, 1 min ago." in html.unescape(page)
    assert sfn.calls == []
    item = table.get("my-app", 760)
    assert (item["trail"][-1]["event"], item["late_decisions"]) == ("decision: approve", 1)


def test_opening_a_link_after_the_decision_shows_it(table, sfn, waiting_deployment, link_params, link_secret, now):
    # given a deployment that was rolled back through its link
    waiting_deployment()
    clicks.submit(link_params("rollback"), table, sfn, link_secret, VISITOR, now)

    # when the approve link is opened afterwards
    status, page = clicks.show(link_params("approve"), table, link_secret, now)

    # then the page says what was decided and offers no form
    assert status == 200
    assert "already decided: rolled back by approval link" in page
    assert forms_in(page) == []


def test_a_tampered_link_is_refused_and_nothing_is_written(
    table, sfn, waiting_deployment, link_params, link_secret, raw_item, now
):
    # given a waiting deployment and its roll-back link with the action changed to approve
    waiting_deployment()
    before = raw_item()
    tampered = {**link_params("rollback"), "action": "approve"}

    # when the tampered link is opened and its form submitted
    shown = clicks.show(tampered, table, link_secret, now)
    submitted = clicks.submit(tampered, table, sfn, link_secret, VISITOR, now)

    # then both are refused with 403 and the reason, and nothing was written or resumed
    for status, page in (shown, submitted):
        assert status == 403
        assert "This link cannot be used" in page
        assert "signature does not match" in page
        assert "Error 403. Nothing was changed." in page
    assert raw_item() == before
    assert sfn.calls == []


def test_an_expired_link_is_refused_with_410(table, sfn, waiting_deployment, link_params, link_secret, now):
    # given a waiting deployment and its approve link
    waiting_deployment()
    params = link_params("approve")

    # when the link is confirmed after it expired
    status, page = clicks.submit(params, table, sfn, link_secret, VISITOR, now + timedelta(hours=2))

    # then it is gone (410) and nothing is resumed; the page still shows the deployment and its trail
    assert status == 410
    assert "This link expired at 2025-04-07 10:30 UTC" in page and "Nothing was changed." in page
    assert "my-app" in page and "760" in page and "waiting for a decision" in page
    assert sfn.calls == []


def test_a_link_to_an_unknown_deployment_is_404(table, sfn, link_params, link_secret, now):
    # given a correctly signed link for a build this environment never deployed
    params = link_params("approve", repository="ghost-app", build_no=9)

    # when it is opened and confirmed
    shown = clicks.show(params, table, link_secret, now)
    submitted = clicks.submit(params, table, sfn, link_secret, VISITOR, now)

    # then both answer 404 naming the deployment
    for status, page in (shown, submitted):
        assert status == 404
        assert "There is no deployment ghost-app build 9 in this environment." in page
    assert sfn.calls == []


def test_confirming_after_the_deployment_ended_is_409_with_its_outcome(
    table, sfn, waiting_deployment, link_params, link_secret, now
):
    # given a deployment that timed out and was rolled back without a decision
    deployment = waiting_deployment()
    cause = "No decision within 3600 seconds: rolled back (reason: timeout)."
    table.record_outcome(deployment, {"status": ROLLED_BACK, "cause": cause}, now)

    # when its approve link is confirmed
    status, page = clicks.submit(link_params("approve"), table, sfn, link_secret, VISITOR, now)

    # then it is refused, saying how the deployment ended, and nothing is written or resumed
    assert status == 409
    assert f"This deployment already ended (Rolled back). {cause}" in page
    assert "decision" not in table.get("my-app", 760)
    assert sfn.calls == []


def test_confirming_when_the_execution_stopped_waiting_is_409_too_late(
    table, timed_out_sfn, waiting_deployment, link_params, link_secret, now
):
    # given a waiting deployment whose task already timed out in Step Functions
    waiting_deployment()

    # when its approve link is confirmed
    status, page = clicks.submit(link_params("approve"), table, timed_out_sfn, link_secret, VISITOR, now)

    # then the page says it was too late and why
    assert status == 409
    assert "Too late: my-app build 760 is no longer waiting" in page
    assert "the execution was no longer waiting (TaskTimedOut)" in page


def test_stored_values_cannot_inject_markup_into_the_pages(
    table, sfn, waiting_deployment, link_params, link_secret, now
):
    # given a waiting deployment whose stored build URL and function name carry markup
    evil = "<script>alert(1)</script>"
    waiting_deployment(
        build_url=f'https://ci.example.com/"><img src=x onerror=alert(1)>{evil}',
        functions=[FunctionTarget(f"orders{evil}", "arn:aws:lambda:us-east-1:123456789012:function:x", "1", "2")],
    )

    # when the confirmation page and the result page are rendered
    pages = [
        clicks.show(link_params("approve"), table, link_secret, now)[1],
        clicks.submit(link_params("approve"), table, sfn, link_secret, VISITOR, now)[1],
    ]

    # then the markup is shown as text, never as markup
    for page in pages:
        assert "<script>" not in page
        assert "<img" not in page
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
        assert 'href="https://ci.example.com/&#34;&gt;&lt;img' in page


def test_the_pages_of_a_link_carry_a_signed_link_to_the_audit_page(
    table, sfn, waiting_deployment, link_params, link_secret, now
):
    # given a deployment waiting for a decision
    waiting_deployment()

    # when its approve link is opened, confirmed, then opened and confirmed again
    pages = [
        clicks.show(link_params("approve"), table, link_secret, now)[1],
        clicks.submit(link_params("approve"), table, sfn, link_secret, VISITOR, now)[1],
        clicks.show(link_params("approve"), table, link_secret, now)[1],
        clicks.submit(link_params("approve"), table, sfn, link_secret, VISITOR, now)[1],
    ]

    # then each page links to the audit page beside it, signed for a week from now
    for page in pages:
        (href,) = re.findall(r'href="(deployments\?[^"]+)"', page)
        params = dict(parse_qsl(urlsplit(html.unescape(href)).query))
        assert verify_audit(params, link_secret, now) == AuditLink.from_now(now)


def test_a_rejected_link_gives_no_audit_link(table, sfn, waiting_deployment, link_params, link_secret, now):
    # given an expired link to a deployment
    waiting_deployment()

    # when it is opened
    status, page = clicks.show(link_params("approve"), table, link_secret, now + timedelta(days=1))

    # then it shows why it cannot be used, and no way to the audit page
    assert status == 410
    assert "deployments?" not in page


def test_a_schedules_links_say_what_approving_and_promoting_now_do(table, sfn, waiting_deployment, link_secret, now):
    # given the first step of a two-step schedule waiting for a decision (its state saved as Publish And Shift does)
    deployment = waiting_deployment(steps=(Step(0.1), Step(0.5)))
    table.save_state(deployment)
    expires = int(now.timestamp()) + 3600

    # when its approve and promote-now links are opened
    _, approve = clicks.show(
        DecisionLink("my-app", 760, "approve", expires).params(link_secret), table, link_secret, now
    )
    _, promote = clicks.show(
        DecisionLink("my-app", 760, "promote", expires).params(link_secret), table, link_secret, now
    )

    # then approving moves to the next step's weight, promoting now sends all traffic; the page says the step
    assert "Approving moves to the next step of the schedule: 50%" in approve
    assert "Promoting now skips the rest of the schedule" in promote and "Promote now my-app build 760?" in promote
    assert "<dt>Step</dt> <dd>1 of 2</dd>" in approve


def test_approving_a_step_shows_the_next_steps_share_after_it(table, sfn, waiting_deployment, link_secret, now):
    # given the first step (10%) of a two-step schedule waiting for a decision
    deployment = waiting_deployment(steps=(Step(0.1), Step(0.5)))
    table.save_state(deployment)
    link = DecisionLink("my-app", 760, "approve", int(now.timestamp()) + 3600).params(link_secret)

    # when its approval is confirmed
    status, page = clicks.submit(link, table, sfn, link_secret, VISITOR, now)

    # then the page shows the next step's share once carried out, beside the share it had
    assert status == 200 and "The next step of its schedule starts now." in page
    assert "<strong>50%</strong> once this decision is carried out, in moments <small>(was 10%)</small>" in page


def test_a_link_of_an_earlier_step_decides_nothing(table, sfn, waiting_deployment, link_secret, now):
    # given a schedule whose second step waits (the first was approved)
    deployment = waiting_deployment(steps=(Step(0.1), Step(0.5)))
    table.record_decision("my-app", 760, Decision("approve", "approval link", now.isoformat()))
    assert table.open_step(deployment, 1, now)
    first_rollback = DecisionLink("my-app", 760, "rollback", int(now.timestamp()) + 3600).params(link_secret)

    # when the first step's roll-back link is confirmed
    status, _ = clicks.submit(first_rollback, table, sfn, link_secret, VISITOR, now)

    # then it is told the step was decided: nothing recorded, nothing resumed
    assert status == 409
    assert "decision" not in table.get("my-app", 760) and sfn.calls == []
    assert table.get("my-app", 760)["late_decisions"] == 1
