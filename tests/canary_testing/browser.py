"""The tests' browser without a browser: follow a link, read the page's forms, submit one as the button does.
(tests/browser drive a real Chromium; this is for the suites that only need the HTTP a browser sends.)"""

from __future__ import annotations

from dataclasses import dataclass, field
from html.parser import HTMLParser
from urllib.parse import urljoin

import requests

from lambda_canary.demo import BROWSER_FORM_HEADERS


@dataclass
class Form:
    action: str
    method: str
    fields: dict[str, str] = field(default_factory=dict)


class _FormParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.forms: list[Form] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.forms.append(Form(attributes.get("action", ""), attributes.get("method", "get").upper()))
        elif tag == "input" and self.forms and attributes.get("name"):
            self.forms[-1].fields[attributes["name"]] = attributes.get("value", "")


def forms_in(page: str) -> list[Form]:
    parser = _FormParser()
    parser.feed(page)
    return parser.forms


# What a browser sends with the confirmation page's form (the demo presses its buttons with the same)
FORM_HEADERS = BROWSER_FORM_HEADERS


def open_and_submit(url: str, timeout: float = 30.0) -> requests.Response:
    """GET the link (the confirmation page), then submit its form as the button does."""
    page = requests.get(url, timeout=timeout)
    page.raise_for_status()
    forms = forms_in(page.text)
    if not forms:
        raise ValueError(f"no form on the page at {url} (status {page.status_code})")
    form = forms[0]
    return requests.request(
        form.method, urljoin(url, form.action), data=form.fields, headers=FORM_HEADERS, timeout=timeout
    )
