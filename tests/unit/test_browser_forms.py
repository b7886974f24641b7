"""The tests' browser driver (canary_testing.browser) and the Slack message readers (lambda_canary.local.gateway)."""

from __future__ import annotations

from unittest.mock import Mock, patch

import pytest

from canary_core import slack
from canary_core.links import DecisionLink
from canary_core.pages import confirm_page, result_page
from canary_testing.browser import Form, forms_in, open_and_submit
from lambda_canary.local.gateway import decision_links

API_URL = "https://abc123defg.execute-api.us-east-1.amazonaws.com/v1"


@pytest.fixture
def item():
    """A deployment as the table holds it while it waits."""
    return {
        "repository": "my-app",
        "build_no": 760,
        "alias": "live",
        "weight": 0.1,
        "status": "WAITING",
        "expires_at": 1744021800,
        "function_versions": [{"name": "orders-api", "old_version": "1", "new_version": "2"}],
    }


def test_forms_in_reads_the_confirmation_form(item, link_secret, now):
    # given the confirmation page of an approve link
    params = DecisionLink("my-app", 760, "approve", 1744021800).params(link_secret)
    page = confirm_page(item, "approve", params, now)

    # when its forms are read
    forms = forms_in(page)

    # then there is one POST form to the same URL, carrying the link's fields
    assert forms == [Form(action="", method="POST", fields=params)]


def test_forms_in_finds_no_form_on_a_result_page(item, now):
    # given a result page (the decision was taken)
    page = result_page(item, "Approved: my-app build 760", "Every alias is being promoted.", now)

    # when its forms are read
    # then there are none
    assert forms_in(page) == []


def test_forms_in_defaults_a_form_without_method_to_get():
    # given a form without method or action, with one named and one unnamed input
    page = '<form><input name="q" value="canary"><input type="submit"></form>'

    # when it is read
    # then it is a GET form with the named input only
    assert forms_in(page) == [Form(action="", method="GET", fields={"q": "canary"})]


def test_decision_links_reads_the_buttons_of_a_request(make_deployment, link_secret):
    # given the Slack request for a decision with signed approve and roll-back links
    approve = DecisionLink("my-app", 760, "approve", 1744021800).url(API_URL, link_secret)
    rollback = DecisionLink("my-app", 760, "rollback", 1744021800).url(API_URL, link_secret)
    message = slack.request_message(make_deployment(), {"approve": approve, "rollback": rollback}, "prod", 1744021800)

    # when its decision links are read
    links = decision_links(message)

    # then they are the two URLs, by action
    assert links == {"approve": approve, "rollback": rollback}


def test_decision_links_of_a_pre_approved_request_are_none(make_deployment):
    # given the Slack message of a pre-approved deployment
    message = slack.request_message(make_deployment(pre_approve=True), {}, "dev", 1744021800)

    # when its decision links are read
    # then there are none
    assert decision_links(message) == {}


def test_open_and_submit_posts_the_pages_form_to_the_link(item, link_secret, now):
    # given a link whose page is the confirmation form
    params = DecisionLink("my-app", 760, "rollback", 1744021800).params(link_secret)
    url = DecisionLink("my-app", 760, "rollback", 1744021800).url(API_URL, link_secret)
    page = Mock(status_code=200, text=confirm_page(item, "rollback", params, now))
    answer = Mock(status_code=200)

    # when it is opened and submitted as a browser does
    with patch("requests.get", return_value=page) as get, patch("requests.request", return_value=answer) as send:
        response = open_and_submit(url)

    # then the link was fetched, and its form POSTed back to the same URL with the link's fields, saying (as a
    # browser does) that it comes from the page itself
    get.assert_called_once_with(url, timeout=30.0)
    send.assert_called_once_with(
        "POST", url, data=params, headers={"Origin": "null", "Sec-Fetch-Site": "same-origin"}, timeout=30.0
    )
    assert response is answer


def test_open_and_submit_of_a_page_without_a_form_says_so(item, now):
    # given a link whose page has no form (already decided)
    page = Mock(status_code=200, text=result_page(item, "Already decided", "approved", now))

    # when it is opened and submitted
    # then the error names the URL and the status
    with patch("requests.get", return_value=page), pytest.raises(ValueError, match="no form on the page at"):
        open_and_submit(f"{API_URL}/decide?x=1")
