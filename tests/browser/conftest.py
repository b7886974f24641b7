"""Debian's chromium, driven by Playwright, on the pages people click.

The local runtime, the fleets and the invariant checks come from tests/conftest.py, shared with the
integration tests. Playwright never downloads a browser: it launches /usr/bin/chromium (`make chromium`
installs it). Screenshots go to test-artifacts/browser/<test>-<step>.png, and one named
<test>-failure.png of every page still open when a test fails.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, Playwright, expect, sync_playwright

os.environ.setdefault("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1")

PROJECT_ROOT = Path(__file__).resolve().parents[2]
BROWSER_DIR = Path(__file__).resolve().parent
ARTIFACTS = PROJECT_ROOT / "test-artifacts" / "browser"
CHROMIUM = "/usr/bin/chromium"
# The network is closed: without the background-networking flags chromium keeps dialling out, noisily.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
TIMEOUT_MS = 10_000  # every Playwright action, navigation and expect() gives up after this
TEST_TIMEOUT_S = 60  # and every browser test as a whole (pytest-timeout)

expect.set_options(timeout=TIMEOUT_MS)


@pytest.hookimpl(tryfirst=True)  # marked before -m selects
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if BROWSER_DIR in item.path.parents:
            item.add_marker(pytest.mark.browser)
            item.add_marker(pytest.mark.timeout(TEST_TIMEOUT_S))


_failed = pytest.StashKey[bool]()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[Any]:
    report = yield
    if report.failed:
        item.stash[_failed] = True
    return report


@pytest.fixture(scope="session")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="session")
def browser(playwright: Playwright) -> Iterator[Browser]:
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(f"{CHROMIUM} is missing: `make chromium` installs Debian's chromium", pytrace=False)
    chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, timeout=30_000)
    yield chromium
    chromium.close()


@pytest.fixture
def new_page(browser: Browser, request: pytest.FixtureRequest) -> Iterator[Callable[..., Page]]:
    """new_page(**context options) -> a page in a fresh browser context (no cookies, no cache)."""
    pages: list[Page] = []

    def make(**options: Any) -> Page:
        context = browser.new_context(**options)
        context.set_default_timeout(TIMEOUT_MS)
        context.set_default_navigation_timeout(TIMEOUT_MS)
        page = context.new_page()
        pages.append(page)
        return page

    yield make
    for index, page in enumerate(pages):
        if request.node.stash.get(_failed, False) and not page.is_closed():
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            suffix = "" if index == 0 else f"-{index}"
            page.screenshot(path=ARTIFACTS / f"{request.node.name}-failure{suffix}.png", full_page=True)
        page.context.close()


@pytest.fixture
def page(new_page: Callable[..., Page]) -> Page:
    return new_page()


@pytest.fixture
def screenshot(request: pytest.FixtureRequest) -> Callable[[Page, str], Path]:
    """screenshot(page, step) saves test-artifacts/browser/<test>-<step>.png (the whole page)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)

    def take(page: Page, step: str) -> Path:
        path = ARTIFACTS / f"{request.node.name}-{step}.png"
        page.screenshot(path=path, full_page=True)
        return path

    return take
