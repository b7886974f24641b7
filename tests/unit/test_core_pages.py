"""canary_core.pages: what the deployment pages say about an irreversible deployment and a reverted one."""

from __future__ import annotations

import html
import re

import pytest

from canary_core import pages, slack


def item(**fields):
    return {"repository": "my-app", "build_no": 760, "alias": "live", "weight": 0, "status": "WAITING", **fields}


def test_the_page_of_an_irreversible_deployment_says_a_roll_back_will_not_undo_data_changes(now):
    # given an irreversible deployment waiting for a decision, and an ordinary one
    # when their confirmation pages are rendered
    irreversible = pages.confirm_page(item(irreversible=True), "approve", {}, now)
    ordinary = pages.confirm_page(item(), "approve", {}, now)

    # then only the irreversible one carries the warning (the same words as the Slack message)
    assert slack.IRREVERSIBLE_WARNING in irreversible
    assert slack.IRREVERSIBLE_WARNING not in ordinary


def test_a_reverted_deployment_reads_reverted():
    assert pages.status_words(item(status="REVERTED")) == "Reverted"


def trail_item(status, *events, **fields):
    trail = [{"at": f"2025-04-07T{at}:00+00:00", "event": event} for at, event in events]
    return item(status=status, trail=trail, deployment={"steps": [{"weight": 0.1}, {"weight": 0.5}]}, **fields)


def test_the_traffic_over_time_follows_the_trail_from_the_first_step_to_the_ending():
    # given a deployment that started at 10%, moved to 50% and was promoted, and one rolled back at its first step
    promoted = trail_item(
        "PROMOTED",
        ("09:00", "started"),
        ("09:05", "waiting for a decision"),
        ("09:10", "step 2 of 2: new version at 50%"),
        ("09:20", "outcome: PROMOTED"),
    )
    rolled_back = trail_item("ROLLED_BACK", ("09:00", "started"), ("09:03", "outcome: ROLLED_BACK"))

    # when their traffic is read from the trail
    # then each change is a point: the new version's share in percent when it changed
    assert [share for _, share in pages.traffic_points(promoted)] == [10.0, 50.0, 100.0]
    assert [at.strftime("%H:%M") for at, _ in pages.traffic_points(promoted)] == ["09:00", "09:10", "09:20"]
    assert [share for _, share in pages.traffic_points(rolled_back)] == [10.0, 0.0]


def test_the_deployment_page_draws_its_traffic_as_an_svg_and_its_trail_as_a_timeline(now):
    # given a promoted deployment with its trail
    promoted = trail_item(
        "PROMOTED",
        ("09:00", "started"),
        ("09:10", "step 2 of 2: new version at 50%"),
        ("09:20", "outcome: PROMOTED"),
        build_url="https://ci.example/760",
        started_at="2025-04-07T09:00:00+00:00",
    )

    # when its page is rendered, without a console (the local runtime) and with one
    local = pages.deployment_page(promoted, now, console_url=None)
    on_aws = pages.deployment_page(promoted, now, console_url="https://console.example/x")

    # then the page draws the chart (no script), names the shares in words, lists the trail with human times,
    # links to the build, and to the console only where there is one
    assert "<svg" in local and "<polyline" in local and "<script" not in local
    assert "New version&#39;s share of traffic: 10% at 09:00 UTC, 50% at 09:10 UTC, 100% at 09:20 UTC." in local
    assert '<ol class="trail">' in local and "09:10 UTC, 20 min ago" in local
    assert 'href="https://ci.example/760"' in local
    assert "console" not in local.lower() and 'href="https://console.example/x"' in on_aws
    assert '<span class="status is-good">Promoted</span>' in local


def test_the_audit_page_shows_statuses_as_labels_and_links_each_row_to_its_deployment(now):
    # given two rows: one promoted, one of a repository with a slash in its name that was rolled back
    rows = [
        {"repository": "my-app", "build_no": 760, "status": "PROMOTED", "started_at": "2025-04-07T09:00:00+00:00"},
        {"repository": "org/shop", "build_no": 12, "status": "ROLLED_BACK", "started_at": "2025-04-06T08:00:00+00:00"},
    ]
    access = {"expires": "1", "key": "k", "signature": "s"}

    # when the audit page is rendered
    page = pages.audit_page(rows, None, access=access, now=now)

    # then statuses read as words with their colour, times as people say them, and each row links to its page
    assert '<span class="status is-good">Promoted</span>' in page
    assert '<span class="status is-bad">Rolled back</span>' in page
    assert "09:00 UTC, 30 min ago" in page and "2025-04-06 08:00 UTC, 25 h ago" in page
    assert 'href="deployments/my-app/760?expires=1&amp;key=k&amp;signature=s"' in page
    assert 'href="deployments/org/shop/12?expires=1&amp;key=k&amp;signature=s"' in page


def test_the_pages_show_the_trails_events_and_the_analysis_verdicts_in_words(now):
    # given a deployment whose analysis has not seen enough traffic, which was then rolled back, and its audit row
    figures = {"version": "1", "requests": 3, "error_rate": 0.0, "p99_ms": None}
    analysis = {
        "verdict": "not_enough_traffic",
        "summary": "1 function without enough traffic yet",
        "functions": [
            {"name": "orders", "verdict": "not_enough_traffic", "reason": "", "old": figures, "new": figures}
        ],
    }
    rolled_back = trail_item(
        "ROLLED_BACK",
        ("09:00", "started"),
        ("09:02", "analysis: not_enough_traffic"),
        ("09:03", "outcome: ROLLED_BACK"),
        analysis=analysis,
    )
    row = {
        "repository": "my-app",
        "build_no": 760,
        "status": "ROLLED_BACK",
        "analysis": "not_enough_traffic",
        "comparisons": analysis["functions"],
    }

    # when its page and the audit page are rendered
    page = pages.deployment_page(rolled_back, now)
    audit = pages.audit_page([row], None, now=now)

    # then events and verdicts read as words, never as codes
    assert "analysis: not enough traffic" in page and "outcome: rolled back" in page
    assert "Canary analysis: not enough traffic" in page
    assert "not enough traffic" in audit
    assert "not_enough_traffic" not in page + audit and "ROLLED_BACK" not in page


def text_of(page: str) -> str:
    """A page's text as a terminal browser or curl with the tags stripped gives it: whitespace collapsed."""
    body = page[page.index("<main") :]
    return " ".join(html.unescape(re.sub(r"<[^>]+>", "", body)).split())


def test_the_pages_text_keeps_a_separator_between_its_parts_without_any_css(now):
    # given a deployment that ended, with its build link and times, and an audit row with an unhealthy function
    ended = trail_item(
        "ROLLED_BACK",
        ("09:00", "started"),
        build_url="https://ci.example/760",
        started_at="2025-04-07T09:00:00+00:00",
        finished_at="2025-04-07T09:10:00+00:00",
    )
    figures = {"version": "1", "requests": 40, "error_rate": 0.0, "p99_ms": None}
    row = {
        "repository": "my-app",
        "build_no": 760,
        "status": "ROLLED_BACK",
        "analysis": "unhealthy",
        "analysis_summary": "1 of 1 functions unhealthy",
        "unhealthy": [{"name": "orders", "reason": "errors higher"}],
        "comparisons": [{"name": "orders", "verdict": "unhealthy", "old": figures, "new": figures}],
    }

    # when their text is read without styles (curl, a terminal browser)
    deployment = text_of(pages.deployment_page(ended, now))
    audit = text_of(pages.audit_page([row], None, now=now))

    # then no two parts run together: each ends before the next begins
    assert "The build Started 09:00 UTC, 30 min ago Ended 09:10 UTC, 20 min ago" in deployment
    assert "Repository my-app Build 760 Alias live Traffic on new version 0% Step 1 of 2 Status Rolled" in deployment
    assert "unhealthy: 1 of 1 functions unhealthy. orders: errors higher. Per function orders, unhealthy:" in audit


@pytest.mark.parametrize(
    ("status", "weight", "serving"),
    [
        ("WAITING", 0.1, "Each alias sends 10% of its traffic to the new version, the rest to the version before."),
        ("PROMOTED", 0.1, "Every alias serves its new version."),
        ("ROLLED_BACK", 0.1, "Every alias is back on its version before."),
        ("FAILED", 0.1, None),  # its aliases may stand anywhere: nothing is claimed
    ],
)
def test_the_function_table_names_its_versions_for_what_they_are_and_says_which_is_served(now, status, weight, serving):
    # given a deployment of one function from version 1 to 2, in each of its states
    deployment = item(
        status=status, weight=weight, function_versions=[{"name": "orders", "old_version": "1", "new_version": "2"}]
    )

    # when its page is rendered
    page = html.unescape(pages.deployment_page(deployment, now))

    # then the columns say "version before" and "new version", never "current", and the caption says which of
    # them the aliases serve
    assert '<th scope="col">Version before</th><th scope="col">New version</th>' in page
    assert "Current version" not in page
    caption = page[page.index("<caption") : page.index("</caption>")]
    assert (serving in caption) if serving else ("<small>" not in caption)


def test_the_result_page_says_the_split_it_shows_lasts_until_the_decision_is_carried_out(now):
    # given a deployment still at 10% whose approval was just recorded (it will be at 100% in moments)
    waiting = item(
        status="WAITING", weight=0.1, function_versions=[{"name": "orders", "old_version": "1", "new_version": "2"}]
    )

    # when the result page is rendered
    page = html.unescape(
        pages.result_page(waiting, "Approved", "Every alias is being promoted.", now, weight_after=1.0)
    )

    # then the 100% to come and the 10% the aliases still send do not contradict each other
    assert "<strong>100%</strong> once this decision is carried out" in page
    caption = page[page.index("<caption") : page.index("</caption>")]
    assert "Until this decision is carried out: Each alias sends 10% of its traffic" in caption


def test_the_roll_back_confirmation_names_the_version_it_goes_back_to_as_its_table_does(now):
    # given a deployment waiting for a decision, when its roll back confirmation is rendered
    page = html.unescape(pages.confirm_page(item(weight=0.1), "rollback", {}, now))

    # then it says where the traffic goes in the words of the function table's column
    assert 'back to the version it ran before (the table\'s "Version before").' in page
    assert "current version" not in page.lower()
