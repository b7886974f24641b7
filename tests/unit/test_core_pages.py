"""canary_core.pages: what the deployment pages say about an irreversible deployment and a reverted one."""

from __future__ import annotations

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
