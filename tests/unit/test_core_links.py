"""canary_core.links: signed approve / roll-back links, and why a link is refused."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import parse_qs, parse_qsl, urlsplit

import pytest

from canary_core.errors import LinkRejected
from canary_core.links import (
    AUDIT_LINK_SECONDS,
    DECIDE_PATH,
    FIELDS,
    REQUIRED,
    AuditLink,
    DecisionLink,
    key_id,
    verify,
    verify_audit,
)

API_URL = "https://abc123defg.execute-api.us-east-1.amazonaws.com/v1"


@pytest.fixture
def link(now):
    """An approve link for my-app build 760 that expires an hour after `now`."""
    return DecisionLink("my-app", 760, "approve", int(now.timestamp()) + 3600)


def test_a_signed_link_verifies_as_the_link_it_was_made_from(link, link_secret, now):
    # given the parameters of a signed link
    params = link.params(link_secret)

    # when they are verified before the link expires
    verified = verify(params, link_secret, now)

    # then they describe the same deployment, action and expiry
    assert verified == link


def test_the_query_of_a_link_url_verifies(link, link_secret, now):
    # given a link's URL as it is posted to Slack
    url = link.url(API_URL + "/", link_secret)

    # when its query string is read back as API Gateway does
    parts = urlsplit(url)
    params = {name: values[0] for name, values in parse_qs(parts.query).items()}

    # then it points at the decide path of the API and verifies
    assert parts.path == "/v1" + DECIDE_PATH
    assert verify(params, link_secret, now) == link


def test_a_link_url_carries_only_the_six_link_fields(link, link_secret):
    # given a link's URL
    url = link.url(API_URL, link_secret)

    # when its query is read
    params = parse_qs(urlsplit(url).query)

    # then it holds the six fields of a first step's link, once each (the key by its id), and nothing token-like
    # (no task token, no secret)
    assert set(params) == set(FIELDS) - {"step"}
    assert all(len(values) == 1 for values in params.values())
    assert "token" not in url.lower()
    assert link_secret.decode() not in url
    assert params["signature"] == [link.signature(link_secret)]
    assert params["key"] == [key_id(link_secret)]


@pytest.mark.parametrize(
    ("field", "tampered"),
    [
        ("repository", "other-app"),
        ("build_no", "761"),
        ("action", "rollback"),
        ("expires", "4102444800"),
        ("signature", "0" * 64),
    ],
)
def test_a_link_changed_in_any_field_is_rejected_with_403(link, link_secret, now, field, tampered):
    # given a signed link with one field changed (action: approve changed to rollback)
    params = {**link.params(link_secret), field: tampered}

    # when it is verified
    with pytest.raises(LinkRejected) as rejected:
        verify(params, link_secret, now)

    # then it is refused as changed, in plain words
    assert rejected.value.status == 403
    assert "signature does not match" in str(rejected.value)
    assert "the link was changed" in str(rejected.value)


def test_a_link_signed_with_another_secret_is_rejected_with_403(link, now):
    # given a link signed by another stack
    params = link.params(b"some-other-stack-secret")

    # when this stack verifies it
    with pytest.raises(LinkRejected) as rejected:
        verify(params, b"this-stack-secret", now)

    # then it is refused
    assert rejected.value.status == 403
    assert "signed with a key this deployment pipeline does not hold" in str(rejected.value)


@pytest.mark.parametrize(("field", "tampered"), [("build_no", "760abc"), ("expires", "-1"), ("build_no", "7.6")])
def test_a_link_whose_number_is_not_a_number_is_rejected_with_400(link, link_secret, now, field, tampered):
    # given a link whose build number or expiry was edited into something that is not a number
    params = {**link.params(link_secret), field: tampered}

    # when it is verified
    with pytest.raises(LinkRejected) as rejected:
        verify(params, link_secret, now)

    # then it is refused as a bad request that says which part is wrong
    assert rejected.value.status == 400
    assert "build number, expiry or step is not a number" in str(rejected.value)


def test_a_link_with_an_unknown_action_is_rejected_with_400_naming_it(link, link_secret, now):
    # given a link whose action was edited into one that does not exist
    params = {**link.params(link_secret), "action": "delete-everything"}

    # when it is verified
    with pytest.raises(LinkRejected) as rejected:
        verify(params, link_secret, now)

    # then the answer names the action
    assert rejected.value.status == 400
    assert "unknown action 'delete-everything'" in str(rejected.value)


def test_an_expired_link_is_rejected_with_410_saying_when_it_expired(link, link_secret, now):
    # given a genuine link
    params = link.params(link_secret)

    # when it is opened one second after it expired
    later = now + timedelta(seconds=3601)
    with pytest.raises(LinkRejected) as rejected:
        verify(params, link_secret, later)

    # then it is gone (410) and the message says when it expired
    assert rejected.value.status == 410
    assert str(rejected.value) == (
        "This link expired at 2025-04-07 10:30 UTC; the deployment no longer waits for a decision."
    )


def test_a_link_opened_at_its_expiry_second_is_expired(link, link_secret, now):
    # given a genuine link
    params = link.params(link_secret)

    # when it is opened exactly at its expiry time, and a second before it
    at_expiry = now + timedelta(seconds=3600)
    just_before = now + timedelta(seconds=3599)

    # then it is expired at the deadline (the deadline belongs to the timeout policy), valid before it
    with pytest.raises(LinkRejected) as rejected:
        verify(params, link_secret, at_expiry)
    assert rejected.value.status == 410
    assert verify(params, link_secret, just_before) == link


def test_a_link_with_missing_fields_is_rejected_with_400_naming_each(link, link_secret, now):
    # given a link whose build number was cut off and whose signature is empty (a truncated paste)
    params = {k: v for k, v in link.params(link_secret).items() if k != "build_no"}
    params["signature"] = ""

    # when it is verified
    with pytest.raises(LinkRejected) as rejected:
        verify(params, link_secret, now)

    # then the answer names both missing fields and what to do
    assert rejected.value.status == 400
    assert "missing build_no, signature" in str(rejected.value)
    assert "Open the link from the message again" in str(rejected.value)


def test_an_empty_query_is_rejected_with_400_naming_all_five_fields(link_secret, now):
    # given a visit to /decide without any parameters
    # when it is verified
    with pytest.raises(LinkRejected) as rejected:
        verify({}, link_secret, now)

    # then all five required fields are named as missing (the key id is optional: links made before it)
    assert rejected.value.status == 400
    assert f"missing {', '.join(REQUIRED)}" in str(rejected.value)


@pytest.mark.parametrize(("field", "tampered"), [("build_no", "²"), ("expires", "٣٦٠٠"), ("build_no", "1" * 21)])
def test_a_link_with_digits_int_cannot_read_is_rejected_with_400(link, link_secret, now, field, tampered):
    # given a link whose build number or expiry was edited to a superscript, non-ASCII or overlong number
    params = {**link.params(link_secret), field: tampered}

    # when it is verified
    with pytest.raises(LinkRejected) as rejected:
        verify(params, link_secret, now)

    # then it is refused as a bad request (not a crash of the click handler)
    assert rejected.value.status == 400
    assert "build number, expiry or step is not a number" in str(rejected.value)


def test_a_link_with_a_non_ascii_signature_is_rejected_with_403(link, link_secret, now):
    # given a link whose signature was replaced by non-ASCII text
    params = {**link.params(link_secret), "signature": "é" * 64}

    # when it is verified
    with pytest.raises(LinkRejected) as rejected:
        verify(params, link_secret, now)

    # then it is refused as changed (not a crash of the click handler)
    assert rejected.value.status == 403


# --- key rotation: a link names its key; the previous key is accepted while the stack holds it -------------


def test_a_link_signed_with_the_previous_key_still_verifies_after_a_rotation(link, now):
    # given a link signed before the key was rotated
    params = link.params(b"old-key")

    # when the stack verifies it holding the new key and, as previous, the old one
    # then it is accepted; a link signed with the new key is accepted too
    assert verify(params, (b"new-key", b"old-key"), now) == link
    assert verify(link.params(b"new-key"), (b"new-key", b"old-key"), now) == link


def test_a_link_whose_key_is_gone_is_refused_with_403(link, now):
    # given a link signed with a key the stack no longer holds (rotated twice since)
    params = link.params(b"oldest-key")

    # when it is verified
    with pytest.raises(LinkRejected) as rejected:
        verify(params, (b"new-key", b"old-key"), now)

    # then it is refused, saying why
    assert rejected.value.status == 403
    assert "does not hold" in str(rejected.value)


def test_a_link_naming_one_key_but_signed_with_another_is_refused(link, now):
    # given a link signed with the old key whose key id was changed to name the new key
    params = {**link.params(b"old-key"), "key": key_id(b"new-key")}

    # when it is verified, then the signature is checked against the key it names and does not match
    with pytest.raises(LinkRejected, match="signature does not match"):
        verify(params, (b"new-key", b"old-key"), now)


def test_a_link_made_before_key_ids_is_checked_against_the_current_key(link, now):
    # given a link without a key id (made before links named their key), signed with the current key
    params = {name: value for name, value in link.params(b"current").items() if name != "key"}

    # when it is verified, then the current key checks it; the previous key does not
    assert verify(params, (b"current", b"previous"), now) == link
    with pytest.raises(LinkRejected, match="signature does not match"):
        verify(params, (b"previous", b"current"), now)


def test_a_key_id_tells_nothing_of_the_key():
    # given a key
    key = b"k" * 64

    # when its id is made, then it is 12 hex digits that are not part of the key, the same for the same key
    assert key_id(key) == key_id(b"k" * 64) != key_id(b"k" * 63)
    assert len(key_id(key)) == 12 and key_id(key) not in key.decode()


# --- the audit page's link -------------------------------------------------------------------------------


def test_an_audit_link_verifies_until_it_expires(now):
    # given an audit link made now, signed with the current key
    link = AuditLink.from_now(now)
    params = dict(parse_qsl(urlsplit(link.url(API_URL, b"current")).query))

    # when it is verified now, with the key rotated once, and a week later
    # then it opens the page until its expiry (a week), then is gone
    assert set(params) == {"expires", "key", "signature"}
    assert verify_audit(params, b"current", now) == link
    assert verify_audit(params, (b"new", b"current"), now) == link
    with pytest.raises(LinkRejected) as expired:
        verify_audit(params, b"current", now + timedelta(seconds=AUDIT_LINK_SECONDS))
    assert expired.value.status == 410


@pytest.mark.parametrize(
    ("change", "status", "says"),
    [
        (lambda p: {}, 403, "opens only through its signed link"),
        (lambda p: {**p, "signature": "0" * 64}, 403, "signature does not match"),
        (lambda p: {**p, "expires": str(int(p["expires"]) + 86400)}, 403, "signature does not match"),
        (lambda p: {**p, "expires": "soon"}, 400, "expiry is not a number"),
        (lambda p: {**p, "key": key_id(b"another-stack")}, 403, "does not hold"),
    ],
)
def test_an_audit_link_missing_or_changed_is_refused(now, change, status, says):
    # given a genuine audit link, then left out or changed
    params = change(AuditLink.from_now(now).params(b"current"))

    # when it is verified
    with pytest.raises(LinkRejected) as rejected:
        verify_audit(params, b"current", now)

    # then it is refused, saying why
    assert (rejected.value.status, says in str(rejected.value)) == (status, True)


def test_a_decision_links_signature_does_not_open_the_audit_page(link, link_secret, now):
    # given a decision link's signature and expiry
    params = link.params(link_secret)
    audit = {name: params[name] for name in ("expires", "key", "signature")}

    # when they are offered as an audit link
    # then the signature does not match: the two kinds of link sign different messages
    with pytest.raises(LinkRejected, match="signature does not match"):
        verify_audit(audit, link_secret, now)
