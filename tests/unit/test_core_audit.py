"""canary_core.audit: the audit trail people read (audit_rows, console_url), DeploymentsTable.recent, and
pages.audit_page, on moto with the table template.yaml declares."""

from __future__ import annotations

from datetime import timedelta
from html import unescape

import pytest

from canary_core import pages
from canary_core.audit import BadCursor, audit_page_rows, audit_rows, console_url
from canary_core.decisions import decide
from canary_core.model import PROMOTED, ROLLED_BACK, WAITING, Decision
from canary_core.outcome import ROLLED_BACK_ERROR

EXECUTION = "arn:aws:states:us-east-1:123456789012:execution:canary:"


@pytest.fixture
def history(table, make_deployment, now):
    """Three deployments: my-app 759 (08:30, approved by a link, promoted), other-app 12 (09:00, rolled back at
    its deadline) and my-app 760 (09:30, waiting)."""
    promoted = make_deployment(build_no=759, execution_arn=EXECUTION + "my-app-759")
    started = now - timedelta(hours=1)
    table.open(promoted, started)
    table.await_decision(promoted, int(started.timestamp()) + 3600, started)
    approved_at = started + timedelta(minutes=12)
    table.record_decision(
        "my-app",
        759,
        Decision("approve", "approval link", approved_at.isoformat(), "203.0.113.24", "Firefox"),
    )
    table.record_outcome(promoted, {"status": PROMOTED, "summary": {}}, approved_at + timedelta(minutes=1))

    timed_out = make_deployment(
        repository="other-app",
        build_no=12,
        build_url=None,
        execution_arn=EXECUTION + "other-app-12",
        functions=[],
    )
    table.open(timed_out, now - timedelta(minutes=30))
    table.record_outcome(
        timed_out,
        {
            "status": ROLLED_BACK,
            "error": ROLLED_BACK_ERROR,
            "cause": "No decision within 3600 seconds: rolled back (reason: timeout).",
        },
        now,
    )

    waiting = make_deployment(build_no=760)
    table.open(waiting, now)
    table.await_decision(waiting, int(now.timestamp()) + 3600, now)


def test_console_url_opens_the_execution_in_its_region():
    # given an execution in eu-west-1
    arn = "arn:aws:states:eu-west-1:123456789012:execution:lambda-canary-canary:my-app-760"

    # when its console URL is made
    # then it points at that region's Step Functions console, with the ARN escaped as one path segment
    assert console_url(arn) == (
        "https://eu-west-1.console.aws.amazon.com/states/home?region=eu-west-1#/v2/executions/details/"
        "arn%3Aaws%3Astates%3Aeu-west-1%3A123456789012%3Aexecution%3Alambda-canary-canary%3Amy-app-760"
    )


def test_every_repositorys_deployments_come_newest_first(history, table):
    # given three deployments of two repositories
    # when the audit rows of every repository are read
    rows = audit_rows(table, None)

    # then they come newest first
    assert [(row["repository"], row["build_no"]) for row in rows] == [
        ("my-app", 760),
        ("other-app", 12),
        ("my-app", 759),
    ]


def test_a_row_says_what_was_deployed_who_decided_and_how_it_ended(history, table, now):
    # given my-app 759, approved through its link from 203.0.113.24 and promoted
    # when its audit row is read
    row = next(row for row in audit_rows(table, "my-app") if row["build_no"] == 759)

    # then it has the build, the decision with who, when and from where, the ending and the console link
    started = now - timedelta(hours=1)
    assert row == {
        "repository": "my-app",
        "build_no": 759,
        "build_url": "https://ci.example.com/my-app/760",
        "status": PROMOTED,
        "started_at": started.isoformat(),
        "finished_at": (started + timedelta(minutes=13)).isoformat(),
        "functions": 1,
        "action": "approve",
        "delivered": True,
        "decided_by": "approval link",
        "decided_at": (started + timedelta(minutes=12)).isoformat(),
        "source_ip": "203.0.113.24",
        "cause": None,
        "step": "",
        "analysis": None,
        "analysis_summary": None,
        "unhealthy": [],
        "comparisons": [],
        "execution_arn": EXECUTION + "my-app-759",
        "console_url": console_url(EXECUTION + "my-app-759"),
    }


def test_a_row_shows_the_latest_canary_analysis_and_its_unhealthy_functions(history, table, now):
    # given my-app 760, waiting, whose latest analysis found one of two functions unhealthy
    figures = {"version": "1", "requests": 2700, "errors": 14, "throttles": 0, "error_rate": 0.005, "p99_ms": 80.0}
    new = {"version": "2", "requests": 300, "errors": 36, "throttles": 0, "error_rate": 0.12, "p99_ms": 85.0}
    unhealthy = {
        "name": "orders-api",
        "verdict": "unhealthy",
        "reason": "errors 12.0% of 300 vs 0.5% of 2,700",
        "old": figures,
        "new": new,
    }
    healthy = {
        "name": "payments",
        "verdict": "healthy",
        "reason": "errors 0% of 300 vs 0% of 2,700",
        "old": figures,
        "new": {**new, "errors": 0, "error_rate": 0},
    }
    analysis = {"verdict": "unhealthy", "summary": "1 of 2 functions unhealthy", "functions": [unhealthy, healthy]}
    table.record_analysis("my-app", 760, analysis, now, changed=True)

    # when its audit row is read, in the repository's rows and in every repository's (through the index), and
    # the audit page shown
    row = next(row for row in audit_rows(table, "my-app") if row["build_no"] == 760)
    assert next(row for row in audit_rows(table, None) if row["build_no"] == 760) == row
    page = pages.audit_page([row], "my-app")

    # then the row and the page name the verdict, the summary, and the unhealthy function with its figures
    assert (row["analysis"], row["analysis_summary"]) == ("unhealthy", "1 of 2 functions unhealthy")
    assert row["unhealthy"] == [{"name": "orders-api", "reason": "errors 12.0% of 300 vs 0.5% of 2,700"}]
    assert "1 of 2 functions unhealthy" in page and "orders-api: errors 12.0% of 300 vs 0.5% of 2,700" in page
    assert "payments:" not in page
    # and every function's figures, old and new
    assert "orders-api, unhealthy: v1 2700 requests, 0.5% failed, p99 80 ms; v2 300 requests, 12.0% failed" in page
    assert "payments, healthy: v1 2700 requests" in page


def test_an_undecided_deployment_shows_no_decision_and_its_cause(history, table):
    # given other-app 12, rolled back at its deadline, and my-app 760, still waiting
    rows = {(row["repository"], row["build_no"]): row for row in audit_rows(table, None)}

    # when their rows are read
    timed_out, waiting = rows[("other-app", 12)], rows[("my-app", 760)]

    # then neither has a decision; the first has its cause, the second no end yet
    assert (timed_out["action"], timed_out["decided_by"], timed_out["build_url"]) == (None, None, None)
    assert timed_out["cause"] == "No decision within 3600 seconds: rolled back (reason: timeout)."
    assert timed_out["functions"] == 0
    assert (waiting["status"], waiting["finished_at"], waiting["action"]) == (WAITING, None, None)
    assert (timed_out["delivered"], waiting["delivered"]) == (False, False)


def test_a_decision_that_never_reached_the_execution_is_shown_as_not_applied(
    table, waiting_deployment, timed_out_sfn, now
):
    # given my-app 760 approved through its link after its execution had ended
    waiting_deployment()
    decide(table, timed_out_sfn, "my-app", 760, Decision("approve", "approval link", now.isoformat()), now)

    # when its audit row and the page are made
    (row,) = audit_rows(table, "my-app")
    page = pages.audit_page([row], "my-app")

    # then the approval is there, marked as not applied
    assert (row["action"], row["decided_by"], row["delivered"]) == ("approve", "approval link", False)
    assert "approve by approval link (too late: not applied)" in page


def test_one_repositorys_rows_and_a_limit(history, table):
    # given three deployments of two repositories
    # when one repository's rows are read, then every repository's newest one only
    mine = audit_rows(table, "my-app")
    newest = audit_rows(table, None, limit=1)

    # then only that repository's come, newest first; and the limit keeps the newest
    assert [(row["repository"], row["build_no"]) for row in mine] == [("my-app", 760), ("my-app", 759)]
    assert [(row["repository"], row["build_no"]) for row in newest] == [("my-app", 760)]


def test_no_deployments_give_no_rows(table):
    # given an empty table
    # when the rows of every repository and of one are read
    # then there are none
    assert audit_rows(table, None) == []
    assert audit_rows(table, "my-app") == []


def test_recent_pages_every_repository_newest_first_through_the_index(table, make_deployment, now):
    # given seven deployments of two repositories, started a minute apart
    for build_no in range(1, 8):
        repository = "my-app" if build_no % 2 else "other-app"
        started = now + timedelta(minutes=build_no)
        table.open(
            make_deployment(repository=repository, build_no=build_no, execution_arn=f"{EXECUTION}b{build_no}"),
            started,
        )

    # when the three newest are read, then the three before the last one shown
    first = table.recent(None, 3)
    second = table.recent(None, 3, before=first[-1]["started_at"])

    # then the index gives them newest first, across repositories, one page after the other
    assert [item["build_no"] for item in first] == [7, 6, 5]
    assert [item["build_no"] for item in second] == [4, 3, 2]
    assert {item["repository"] for item in first} == {"my-app", "other-app"}


def test_one_repository_pages_by_build_number(table, make_deployment, now):
    # given five builds of my-app and one of other-app
    for build_no in range(1, 6):
        table.open(make_deployment(build_no=build_no, execution_arn=f"{EXECUTION}b{build_no}"), now)
    table.open(make_deployment(repository="other-app", build_no=3, execution_arn=f"{EXECUTION}o3"), now)

    # when my-app's audit is read two rows a page, following each page's cursor
    pages_seen, before = [], None
    for _ in range(5):  # three pages are expected; a cursor that never ends would show as five
        rows, before = audit_page_rows(table, "my-app", before, limit=2)
        pages_seen.append([row["build_no"] for row in rows])
        if before is None:
            break

    # then every build comes once, highest first, and the cursor is the last build shown
    assert pages_seen == [[5, 4], [3, 2], [1]]


def test_every_repository_pages_by_start_time(history, table):
    # given three deployments (09:30 my-app 760, 09:00 other-app 12, 08:30 my-app 759)
    # when every repository's audit is read two rows a page
    first, cursor = audit_page_rows(table, None, None, limit=2)
    second, last = audit_page_rows(table, None, cursor, limit=2)

    # then the second page starts where the first stopped, and is the last
    assert [row["build_no"] for row in first] == [760, 12]
    assert cursor == first[-1]["started_at"]
    assert ([row["build_no"] for row in second], last) == ([759], None)


@pytest.mark.parametrize("cursor", ["2025-04-07T09:00:00+00:00", "\u00b2", "1" * 40])
def test_a_repository_cursor_that_is_no_build_number_is_refused(table, cursor):
    # when a repository's page is asked for with a start time, a superscript digit or a 40-digit number as its
    # cursor (hand-made links)
    # then the error names the parameter and what it should be
    with pytest.raises(BadCursor, match="with a repository, before is a build number"):
        audit_page_rows(table, "my-app", cursor)


def test_the_older_link_keeps_an_odd_repository_name_whole():
    # given a page of one repository whose name holds characters a query string gives meaning to
    page = pages.audit_page([], "team a&b#1", older="758")

    # then the link to the next page carries the name encoded, and the cursor
    assert 'href="?repository=team%20a%26b%231&amp;before=758"' in page


def test_the_audit_page_lists_the_rows(history, table):
    # given the audit rows of every repository
    rows = audit_rows(table, None)

    # when the page is made
    page = pages.audit_page(rows, None)

    # then it counts them, and links each execution to the console
    assert "3 deployment(s), newest first" in page
    assert page.count(">console</a>") == 3
    assert unescape(console_url(EXECUTION + "other-app-12")) in unescape(page)
    assert "approve by approval link" in page
    assert "too late" not in page


def test_the_audit_page_escapes_what_it_shows():
    # given a row whose cause and repository filter hold markup
    row = {
        "repository": "my-app",
        "build_no": 1,
        "build_url": None,
        "status": "FAILED",
        "cause": "<script>alert(1)</script>",
        "functions": 1,
        "action": None,
        "started_at": "2025-04-07T09:30:00+00:00",
        "console_url": None,
    }

    # when the page is made
    page = pages.audit_page([row], '"><script>alert(2)</script>')

    # then no markup gets through
    assert "<script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
