"""Approve / roll-back links: what they carry and how they are signed.

A link names the deployment (repository, build number), the action and an expiry, signed with HMAC-SHA256
and the stack's link secret. It never carries the task token: the click handler reads that from the table.

A link also names the key that signed it (`key`, an id derived from the key, which tells nothing about it),
so that the key can be rotated: the click handler checks a link against the key it names, the current one
or the previous one (Secrets Manager keeps it as AWSPREVIOUS). A link without `key` (made before key ids)
is checked against the current key.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlencode

from canary_core.errors import LinkRejected
from canary_core.model import DECISION_ACTIONS
from canary_core.times import human_time

ACTIONS = DECISION_ACTIONS
DECIDE_PATH = "/decide"
REQUIRED = ("repository", "build_no", "action", "expires", "signature")
FIELDS = (*REQUIRED, "key", "step")  # what a link carries (the confirmation form passes each on)
_NUMBER = re.compile(r"[0-9]{1,20}")


@dataclass(frozen=True)
class DecisionLink:
    repository: str
    build_no: int
    action: str
    expires: int  # seconds since the epoch
    step: int = 0  # the schedule's step it decides: a link of an earlier step decides nothing later

    def signature(self, secret: bytes) -> str:
        step = f"\n{self.step}" if self.step else ""  # a first step's link signs what links always signed
        message = f"{self.repository}\n{self.build_no}\n{self.action}\n{self.expires}{step}".encode()
        return hmac.new(secret, message, hashlib.sha256).hexdigest()

    def params(self, secret: bytes) -> dict[str, str]:
        return {
            "repository": self.repository,
            "build_no": str(self.build_no),
            "action": self.action,
            "expires": str(self.expires),
            **({"step": str(self.step)} if self.step else {}),
            "key": key_id(secret),
            "signature": self.signature(secret),
        }

    def url(self, api_url: str, secret: bytes) -> str:
        return f"{api_url.rstrip('/')}{DECIDE_PATH}?{urlencode(self.params(secret))}"


def key_id(secret: bytes) -> str:
    """The id a link names its key by: a hash of the key, too short and salted to tell anything about it."""
    return hashlib.sha256(b"lambda-canary link key id\n" + secret).hexdigest()[:12]


def signing_key(params: Mapping[str, str], secrets: bytes | Sequence[bytes]) -> bytes:
    """Of the keys the stack holds (current first), the one the link names; the current one for a link
    that names none. Raises LinkRejected for a key the stack does not hold (any more)."""
    keys = [secrets] if isinstance(secrets, bytes) else list(secrets)
    wanted = params.get("key")
    if not wanted:
        return keys[0]
    for key in keys:
        if hmac.compare_digest(key_id(key).encode(), wanted.encode()):
            return key
    raise LinkRejected(
        "This link was signed with a key this deployment pipeline does not hold: it was not made by this "
        "pipeline, or its key was rotated twice since. Use the link from the latest message as it is.",
        status=403,
    )


def verify(params: Mapping[str, str], secrets: bytes | Sequence[bytes], now: datetime) -> DecisionLink:
    """The link these parameters describe, if the signature matches (with the key it names, among
    `secrets`: the current key first, then the previous one) and it has not expired."""
    missing = [name for name in REQUIRED if not params.get(name)]
    if missing:
        raise LinkRejected(
            f"This link is incomplete (missing {', '.join(missing)}). Open the link from the message again, "
            "without changing it.",
            status=400,
        )
    if params["action"] not in ACTIONS:
        raise LinkRejected(f"This link asks for an unknown action '{params['action']}'.", status=400)
    numbers = (params["build_no"], params["expires"], params.get("step") or "0")
    if not all(_NUMBER.fullmatch(number) for number in numbers):
        raise LinkRejected("This link was changed: its build number, expiry or step is not a number.", status=400)
    link = DecisionLink(
        params["repository"],
        int(params["build_no"]),
        params["action"],
        int(params["expires"]),
        int(params.get("step") or 0),
    )
    secret = signing_key(params, secrets)
    if not hmac.compare_digest(link.signature(secret).encode(), params["signature"].encode()):
        raise LinkRejected(
            "This link's signature does not match: the link was changed, or it was not made by this "
            "deployment pipeline. Use the link from the message as it is.",
            status=403,
        )
    if now.timestamp() >= link.expires:  # the deadline itself belongs to the timeout policy
        when = human_time(link.expires)
        raise LinkRejected(f"This link expired at {when}; the deployment no longer waits for a decision.", 410, link)
    return link


# --- the audit page: it names approvers' addresses and builds, so it is shown only through a signed link ------

AUDIT_PATH = "/deployments"
AUDIT_FIELDS = ("expires", "key", "signature")
AUDIT_LINK_SECONDS = 7 * 24 * 3600  # a message's audit link works for a week; every page signs a new one


@dataclass(frozen=True)
class AuditLink:
    """Leave to read the audit page (every deployment, who decided, from where) until `expires`."""

    expires: int  # seconds since the epoch

    def signature(self, secret: bytes) -> str:
        # Its own first line: no decision link (repository, build, action, expiry) signs the same message
        return hmac.new(secret, f"audit page\n{self.expires}".encode(), hashlib.sha256).hexdigest()

    def params(self, secret: bytes) -> dict[str, str]:
        return {"expires": str(self.expires), "key": key_id(secret), "signature": self.signature(secret)}

    def url(self, api_url: str, secret: bytes) -> str:
        return f"{api_url.rstrip('/')}{AUDIT_PATH}?{urlencode(self.params(secret))}"

    def relative_url(self, secret: bytes) -> str:
        """From a page of the approval API (…/decide): the audit page beside it."""
        return f"{AUDIT_PATH.lstrip('/')}?{urlencode(self.params(secret))}"

    @classmethod
    def from_now(cls, now: datetime) -> AuditLink:
        return cls(int(now.timestamp()) + AUDIT_LINK_SECONDS)


def verify_audit(params: Mapping[str, str], secrets: bytes | Sequence[bytes], now: datetime) -> AuditLink:
    """The audit link these parameters carry, if signed by a key the stack holds and not expired."""
    if not params.get("signature") or not params.get("expires"):
        raise LinkRejected(
            'The deployments page opens only through its signed link: use the "Deployments and decisions" '
            "link of a Slack message or of an approval page.",
            status=403,
        )
    if not _NUMBER.fullmatch(params["expires"]):
        raise LinkRejected("This link was changed: its expiry is not a number.", status=400)
    link = AuditLink(int(params["expires"]))
    secret = signing_key(params, secrets)
    if not hmac.compare_digest(link.signature(secret).encode(), params["signature"].encode()):
        raise LinkRejected(
            "This link's signature does not match: the link was changed, or it was not made by this "
            "deployment pipeline. Use the link from the message as it is.",
            status=403,
        )
    if now.timestamp() >= link.expires:
        when = human_time(link.expires)
        raise LinkRejected(
            f"This link expired at {when}; open the deployments page from a newer Slack message or approval page.",
            status=410,
        )
    return link
