"""The audit page and a deployment's page in chromium, on a phone and on a laptop: no word broken mid-word,
statuses as labels, each row leading to its deployment's page, the traffic chart drawn. Screenshots:
test-artifacts/browser/."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from playwright.sync_api import Page, expect
from test_pages_in_browser import HEADING_START, decide_in_the_browser, no_horizontal_scroll

from canary_core import pages

# Every word of the page's text that the browser laid out over more than one line (a word broken mid-word;
# a line may still end after a hyphen or a slash, as in fn-checkout / my-org/shop)
BROKEN_WORDS = """() => {
  const broken = [];
  const walker = document.createTreeWalker(document.querySelector("main"), NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    for (const match of node.textContent.matchAll(/[^\\s\\/-]+/g)) {
      const range = document.createRange();
      range.setStart(node, match.index);
      range.setEnd(node, match.index + match[0].length);
      const lines = new Set([...range.getClientRects()].map(rect => Math.round(rect.top)));
      if (lines.size > 1) broken.push(match[0]);
    }
  }
  return broken;
}"""
# Every status label whose text does not fit its box
OVERFLOWING_LABELS = """() => [...document.querySelectorAll(".status")]
  .filter(label => label.scrollWidth > label.clientWidth + 1)
  .map(label => label.textContent)"""

SCREENS = {"phone": {"width": 375, "height": 812}, "laptop": {"width": 1280, "height": 800}}


def laid_out_whole(page: Page) -> None:
    """The page's words each on one line, its labels fitting their boxes, and nothing scrolling sideways."""
    assert page.evaluate(BROKEN_WORDS) == []
    assert page.evaluate(OVERFLOWING_LABELS) == []
    scroll_width, client_width = no_horizontal_scroll(page)
    assert scroll_width <= client_width, f"the page scrolls sideways: {scroll_width} > {client_width}"


@pytest.mark.parametrize("screen", list(SCREENS))
def test_the_audit_and_deployment_pages_read_whole_on_a_phone_and_a_laptop(
    make_fleet, page, new_page, screenshot, screen
):
    # given a deployment approved in the browser (promoted), with its result page open
    fleet = make_fleet(3)
    decide_in_the_browser(fleet, page, screenshot, "approve")
    deployment_link = page.get_by_role("link", name="Follow it on the deployment's page").get_attribute("href")
    audit_link = page.get_by_role("link", name="Deployments and decisions").get_attribute("href")
    assert deployment_link and audit_link
    base = page.url.rsplit("/", 1)[0] + "/"

    # when the audit page is opened on this screen
    viewer = new_page(viewport=SCREENS[screen], is_mobile=screen == "phone", has_touch=screen == "phone")
    viewer.goto(base + audit_link)

    # then its status reads as a label, no word is broken and nothing scrolls sideways
    expect(viewer.get_by_role("heading", level=1)).to_have_text(f"{HEADING_START}Deployments")
    label = viewer.locator(".status").first
    expect(label).to_have_text("Promoted")
    assert label.evaluate("element => getComputedStyle(element).backgroundColor") != "rgba(0, 0, 0, 0)"
    expect(viewer.get_by_role("link", name="console")).to_have_count(0)  # the local runtime has no console
    laid_out_whole(viewer)
    screenshot(viewer, f"audit-{screen}")

    # when its row's link is followed to the deployment's page
    viewer.get_by_role("link", name=f"{fleet.repository} build {fleet.build_no}", exact=True).click()

    # then the page shows the deployment, its traffic drawn as an SVG chart ending at 100%, its trail, no
    # console link (the local runtime has none), and it too reads whole
    expect(viewer.get_by_role("heading", level=1)).to_contain_text(f"{fleet.repository} build {fleet.build_no}")
    chart = viewer.get_by_role("img", name="New version's share of traffic", exact=False)
    expect(chart).to_be_visible()
    assert chart.evaluate("svg => svg.tagName") == "svg"
    assert chart.evaluate("svg => svg.getBoundingClientRect().width") <= SCREENS[screen]["width"]
    expect(viewer.locator("svg.chart title")).to_contain_text("100% at")
    shown = viewer.locator("svg.chart text").evaluate_all(
        "texts => texts.map(t => parseFloat(getComputedStyle(t).fontSize) * t.getScreenCTM().a)"
    )
    assert len(shown) == 5 and min(shown) >= 12, f"chart labels of {shown} px are too small to read"
    expect(viewer.locator("ol.trail li").first).to_contain_text("started")
    expect(viewer.get_by_role("link", name="Execution in the AWS console")).to_have_count(0)
    laid_out_whole(viewer)
    screenshot(viewer, f"deployment-{screen}")

    # and its link back leads to the audit page, still signed
    viewer.get_by_role("link", name="Deployments and decisions").click()
    expect(viewer.get_by_role("heading", level=1)).to_have_text(f"{HEADING_START}Deployments")


NOW = datetime(2026, 12, 2, 11, 40, tzinfo=UTC)
FIGURES = {"version": "1", "requests": 40, "error_rate": 0.0, "p99_ms": 12.0}
UNHEALTHY_FIGURES = {"version": "2", "requests": 40, "error_rate": 0.25, "p99_ms": 15.0}
ANALYSIS = {
    "verdict": "not_enough_traffic",
    "summary": "1 of 2 functions unhealthy, 1 without enough traffic yet",
    "functions": [
        {
            "name": "my-app-orders",
            "verdict": "unhealthy",
            "reason": "errors 25.0% of 40 vs 0% of 40",
            "old": FIGURES,
            "new": UNHEALTHY_FIGURES,
        },
        {
            "name": "my-app-payments",
            "verdict": "not_enough_traffic",
            "reason": "3 requests",
            "old": FIGURES,
            "new": FIGURES,
        },
    ],
}


def shown_text(page: Page, html: str, screen: str) -> str:
    """The page's text as the browser gives it to a screen reader or a copy: its <main>'s innerText."""
    page.set_viewport_size(SCREENS[screen])
    page.set_content(html)
    for details in page.locator("details").all():  # opened, as a reader who wants the figures does
        details.evaluate("element => { element.open = true; }")
    return str(page.locator("main").evaluate("main => main.innerText"))


@pytest.mark.parametrize("screen", list(SCREENS))
def test_the_pages_text_reads_as_sentences_with_separators_between_its_parts(page, screen):
    # given a deployment that ended with its build link and times, and its audit row with a per-function analysis
    item = {
        "repository": "my-app",
        "build_no": 760,
        "alias": "live",
        "status": "ROLLED_BACK",
        "build_url": "https://ci.example/760",
        "started_at": "2026-12-02T11:32:00+00:00",
        "finished_at": "2026-12-02T11:36:00+00:00",
        "trail": [{"at": "2026-12-02T11:32:00+00:00", "event": "started"}],
    }
    row = {
        "repository": "my-app",
        "build_no": 760,
        "status": "ROLLED_BACK",
        "functions": 2,
        "started_at": "2026-12-02T11:32:00+00:00",
        "analysis": ANALYSIS["verdict"],
        "analysis_summary": ANALYSIS["summary"],
        "unhealthy": [{"name": "my-app-orders", "reason": "errors 25.0% of 40 vs 0% of 40"}],
        "comparisons": ANALYSIS["functions"],
    }

    # when the browser lays out the deployment's page and the audit page on this screen
    deployment = shown_text(page, pages.deployment_page(item, NOW), screen)
    audit = shown_text(page, pages.audit_page([row], None, now=NOW), screen)

    # then each part is set off from the next: the links and times of the deployment's page, and the verdict,
    # the summary, the unhealthy function and each function's figures of the audit row
    lines = [line.strip() for line in deployment.splitlines()]
    assert "The build" in lines and "Started 11:32 UTC, 8 min ago" in lines, deployment
    assert "Ended 11:36 UTC, 4 min ago" in lines, deployment
    lines = [line.strip() for line in audit.splitlines()]
    assert "not enough traffic: 1 of 2 functions unhealthy, 1 without enough traffic yet." in lines, audit
    assert "my-app-orders: errors 25.0% of 40 vs 0% of 40." in lines, audit
    assert "Per function" in lines, audit
    assert (
        "my-app-orders, unhealthy: v1 40 requests, 0.0% failed, p99 12 ms; v2 40 requests, 25.0% failed, p99 15 ms."
        in lines
    ), audit
    assert (
        "my-app-payments, not enough traffic: v1 40 requests, 0.0% failed, p99 12 ms; "
        "v1 40 requests, 0.0% failed, p99 12 ms." in lines
    ), audit
