"""The pages people click, in a real browser: Debian's chromium opens the links from the Slack message.

Each test starts a real deployment on the local runtime, opens a link from the Slack sink in chromium, reads
the page as a person would (headings, the deployment's details, a button found by its accessible name),
presses the button and reads the aliases back with boto3. Screenshots: test-artifacts/browser/.
"""

from __future__ import annotations

import json
from urllib.parse import parse_qsl, urlencode, urlsplit

from playwright.sync_api import Page, expect

from canary_testing.browser import open_and_submit

WAITING = ("1", {"2": 0.1})  # build 2 has 10% of every alias's traffic, version 1 the rest


def details(page: Page) -> dict[str, str]:
    """The deployment's description list, {term: definition}, as shown."""
    terms = page.get_by_role("region", name="Deployment").locator("dl > dt").all_inner_texts()
    values = page.get_by_role("region", name="Deployment").locator("dl > dd").all_inner_texts()
    return dict(zip(terms, values, strict=True))


def function_names(page: Page) -> list[str]:
    return page.get_by_role("region", name="Deployment").locator("tbody tr td:first-child").all_inner_texts()


def no_horizontal_scroll(page: Page) -> tuple[int, int]:
    widths = page.evaluate("[document.documentElement.scrollWidth, document.documentElement.clientWidth]")
    return int(widths[0]), int(widths[1])


def with_changed_signature(link: str) -> str:
    """The same link with one character of its signature changed."""
    url, _, query = link.partition("?")
    params = dict(parse_qsl(query))
    signature = params["signature"]
    params["signature"] = ("0" if signature[0] != "0" else "1") + signature[1:]
    return f"{url}?{urlencode(params)}"


# The local runtime's stack is the template's default environment: every page's heading begins with its badge
ENVIRONMENT = "prod"
HEADING_START = f"{ENVIRONMENT} environment: "


def decide_in_the_browser(fleet, page: Page, screenshot, action: str) -> dict:
    """Open the link of `action` from the Slack message, check the confirmation page, press its button.

    Returns the execution's description once it ended."""
    execution = fleet.start()
    link = fleet.links()[action]
    title = f"{fleet.repository} build {fleet.build_no}"
    word = {"approve": "Approve", "rollback": "Roll back"}[action]

    # when the link from Slack is opened
    response = page.goto(link)

    # then a confirmation page shows the deployment, a single button, and nothing has changed
    assert response is not None and response.status == 200
    expect(page).to_have_title(f"[{ENVIRONMENT}] {word} {title} · lambda-canary")
    expect(page.get_by_role("heading", level=1)).to_have_text(f"{HEADING_START}{word} {title}?")
    badge = page.get_by_role("heading", level=1).locator(".env")
    expect(badge).to_be_visible()
    expect(badge).to_have_css("background-color", "rgb(179, 38, 30)")  # prod stands out in red
    shown = details(page)
    assert shown["Repository"] == fleet.repository
    assert shown["Build"] == str(fleet.build_no)
    assert shown["Alias"] == "live" and shown["Traffic on new version"] == "10%"
    assert shown["Status"] == "Waiting for a decision"
    expect(page.get_by_role("link", name=str(fleet.build_no), exact=True)).to_have_attribute(
        "href", f"https://ci.example.com/{fleet.repository}/{fleet.build_no}"
    )
    assert function_names(page) == fleet.names
    for name in fleet.names:
        expect(page.get_by_role("cell", name=name, exact=True)).to_be_visible()
    button = page.get_by_role("button", name=f"{word} build {fleet.build_no}", exact=True)
    expect(button).to_be_visible()
    expect(button).to_be_enabled()
    expect(page.get_by_role("button")).to_have_count(1)
    expect(page.get_by_text("Nothing changes until you press the button.")).to_be_visible()
    assert fleet.aliases() == {name: WAITING for name in fleet.names}
    assert fleet.sfn.describe_execution(executionArn=execution)["status"] == "RUNNING"
    screenshot(page, "confirm")

    # when the button is pressed
    with page.expect_response(lambda r: r.request.method == "POST") as posted:
        button.click()

    # then the result page says what was decided
    assert posted.value.status == 200
    done = {"approve": "Approved", "rollback": "Rolled back"}[action]
    expect(page.get_by_role("heading", level=1)).to_have_text(f"{HEADING_START}{done}: {title}")
    expect(page.get_by_role("status")).to_contain_text("The outcome will be posted to Slack.")
    expect(page.get_by_role("button")).to_have_count(0)
    screenshot(page, "result")
    return fleet.wait(execution)


def test_approve_in_the_browser_promotes_every_alias(make_fleet, page, screenshot):
    fleet = make_fleet(3)

    ended = decide_in_the_browser(fleet, page, screenshot, "approve")

    assert ended["status"] == "SUCCEEDED"
    assert json.loads(ended["output"])["functions"] == [
        {"name": name, "old_version": "1", "new_version": "2"} for name in fleet.names
    ]
    assert fleet.aliases() == {name: ("2", {}) for name in fleet.names}
    decision = fleet.item()["decision"]
    assert decision["action"] == "approve" and decision["source_ip"] == "127.0.0.1"
    assert "Chrome" in decision["user_agent"]  # the trail names the browser that decided


def test_roll_back_in_the_browser_restores_every_alias(make_fleet, page, screenshot):
    fleet = make_fleet(3)

    ended = decide_in_the_browser(fleet, page, screenshot, "rollback")

    assert ended["status"] == "FAILED" and ended["error"] == "Canary.RolledBack"
    assert fleet.aliases() == {name: ("1", {}) for name in fleet.names}
    decision = fleet.item()["decision"]
    assert decision["action"] == "rollback" and "Chrome" in decision["user_agent"]


def test_the_result_pages_audit_link_opens_the_deployments_and_keeps_its_signature(make_fleet, page, screenshot):
    # given a deployment rolled back in the browser; the result page is shown
    fleet = make_fleet(2)
    decide_in_the_browser(fleet, page, screenshot, "rollback")

    # when its "Deployments and decisions" link is followed, then the page filtered by the repository
    page.get_by_role("link", name="Deployments and decisions").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(f"{HEADING_START}Deployments")
    page.get_by_label("Repository").fill(fleet.repository)
    page.get_by_role("button", name="Filter").click()

    # then the filtered page (through the signed fields the filter carries on) shows the decision
    expect(page.get_by_role("heading", level=1)).to_have_text(f"{HEADING_START}Deployments of {fleet.repository}")
    expect(page.get_by_role("cell", name="rollback by approval link", exact=False)).to_be_visible()
    screenshot(page, "audit")

    # and the same address without its signature is refused
    unsigned = page.goto(page.url.split("?")[0] + f"?repository={fleet.repository}")
    assert unsigned is not None and unsigned.status == 403
    expect(page.get_by_role("heading", level=1)).to_have_text("This page needs its signed link")


def test_tampered_and_decided_links_say_why_and_offer_no_button(make_fleet, page, screenshot):
    fleet = make_fleet(2)
    execution = fleet.start()
    links = fleet.links()
    title = f"{fleet.repository} build {fleet.build_no}"

    # a link with one character of its signature changed is refused in plain words
    response = page.goto(with_changed_signature(links["approve"]))
    assert response is not None and response.status == 403
    expect(page.get_by_role("heading", level=1)).to_have_text("This link cannot be used")
    alert = page.get_by_role("alert")
    expect(alert).to_contain_text("signature does not match")
    expect(alert).to_contain_text("Use the link from the message as it is.")
    expect(alert).to_contain_text("Error 403. Nothing was changed.")
    expect(page.get_by_role("button")).to_have_count(0)
    assert "Traceback" not in page.content()
    screenshot(page, "tampered")
    assert fleet.aliases() == {name: WAITING for name in fleet.names}

    # once someone rolled back, the approve link shows that decision and no button
    assert open_and_submit(links["rollback"]).status_code == 200
    assert fleet.wait(execution)["status"] == "FAILED"
    response = page.goto(links["approve"])
    assert response is not None and response.status == 200
    expect(page.get_by_role("heading", level=1)).to_have_text(f"{HEADING_START}Already decided: {title}")
    expect(page.get_by_role("status")).to_contain_text("already decided: rolled back by approval link")
    expect(page.get_by_role("button")).to_have_count(0)
    expect(page.locator("form")).to_have_count(0)
    screenshot(page, "already-decided")
    assert fleet.aliases() == {name: ("1", {}) for name in fleet.names}


def test_on_a_phone_with_the_keyboard_alone(make_fleet, new_page, screenshot):
    fleet = make_fleet(3)
    execution = fleet.start()
    link = fleet.links()["approve"]
    page = new_page(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True, device_scale_factor=2)
    requested: list[str] = []
    page.on("request", lambda request: requested.append(f"{request.method} {request.url}"))

    page.goto(link)

    # the page fits a phone's width: the viewport meta tag applies, nothing scrolls sideways
    expect(page.get_by_role("heading", level=1)).to_have_text(f"{HEADING_START}Approve {fleet.repository} build 2?")
    assert page.evaluate("window.innerWidth") == 390
    scroll_width, client_width = no_horizontal_scroll(page)
    assert scroll_width <= client_width, f"the confirmation page scrolls sideways: {scroll_width} > {client_width}"
    screenshot(page, "confirm")

    # Tab reaches the button, which shows where the focus is
    button = page.get_by_role("button", name="Approve build 2", exact=True)
    presses = 0
    while presses < 10 and not button.evaluate("element => element === document.activeElement"):
        page.keyboard.press("Tab")
        presses += 1
    expect(button).to_be_focused()
    assert presses == 1, f"the button is the page's first stop for Tab, not the {presses}th"
    assert button.evaluate("element => getComputedStyle(element).outlineStyle") == "solid"
    screenshot(page, "focused")

    # Enter presses it
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", level=1)).to_have_text(f"{HEADING_START}Approved: {fleet.repository} build 2")
    scroll_width, client_width = no_horizontal_scroll(page)
    assert scroll_width <= client_width, f"the result page scrolls sideways: {scroll_width} > {client_width}"
    screenshot(page, "result")
    assert fleet.wait(execution)["status"] == "SUCCEEDED"
    assert fleet.aliases() == {name: ("2", {}) for name in fleet.names}

    # and everything the page loaded came from the approval API: no fonts, scripts or images from elsewhere
    assert any(r.startswith("POST ") for r in requested), requested
    assert [r for r in requested if urlsplit(r.split(" ", 1)[1]).hostname != "127.0.0.1"] == []
