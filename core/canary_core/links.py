"""Approve / roll-back links: what they carry and how they are signed.

A link names the deployment (repository, build number), the action and an expiry, signed with HMAC-SHA256
and the stack's link secret. It never carries the task token: the click handler reads that from the table.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlencode

from canary_core.errors import LinkRejected

ACTIONS = ("approve", "rollback")
DECIDE_PATH = "/decide"
FIELDS = ("repository", "build_no", "action", "expires", "signature")
_NUMBER = re.compile(r"[0-9]{1,20}")


@dataclass(frozen=True)
class DecisionLink:
    repository: str
    build_no: int
    action: str
    expires: int  # seconds since the epoch

    def signature(self, secret: bytes) -> str:
        message = f"{self.repository}\n{self.build_no}\n{self.action}\n{self.expires}".encode()
        return hmac.new(secret, message, hashlib.sha256).hexdigest()

    def params(self, secret: bytes) -> dict[str, str]:
        return {
            "repository": self.repository,
            "build_no": str(self.build_no),
            "action": self.action,
            "expires": str(self.expires),
            "signature": self.signature(secret),
        }

    def url(self, api_url: str, secret: bytes) -> str:
        return f"{api_url.rstrip('/')}{DECIDE_PATH}?{urlencode(self.params(secret))}"


def verify(params: Mapping[str, str], secret: bytes, now: datetime) -> DecisionLink:
    """The link these parameters describe, if the signature matches and it has not expired."""
    missing = [name for name in FIELDS if not params.get(name)]
    if missing:
        raise LinkRejected(
            f"This link is incomplete (missing {', '.join(missing)}). Open the link from the message again, "
            "without changing it.",
            status=400,
        )
    if params["action"] not in ACTIONS:
        raise LinkRejected(f"This link asks for an unknown action '{params['action']}'.", status=400)
    if not _NUMBER.fullmatch(params["build_no"]) or not _NUMBER.fullmatch(params["expires"]):
        raise LinkRejected("This link was changed: its build number or expiry is not a number.", status=400)
    link = DecisionLink(params["repository"], int(params["build_no"]), params["action"], int(params["expires"]))
    if not hmac.compare_digest(link.signature(secret).encode(), params["signature"].encode()):
        raise LinkRejected(
            "This link's signature does not match: the link was changed, or it was not made by this "
            "deployment pipeline. Use the link from the message as it is.",
            status=403,
        )
    if now.timestamp() >= link.expires:  # the deadline itself belongs to the timeout policy
        when = datetime.fromtimestamp(link.expires, UTC).strftime("%Y-%m-%d %H:%M UTC")
        raise LinkRejected(f"This link expired at {when}; the deployment no longer waits for a decision.", 410, link)
    return link
