"""The notifier's signature, checked with the verifying code the README gives receivers (the
README's block itself, compiled), so that code cannot drift from what is sent."""

from __future__ import annotations

import time

import pytest

from streams.edges.notify.payload import enforcement_notification
from streams.edges.notify.signing import (
    EVENT_ID_HEADER,
    EVENT_TYPE_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    signature,
    signature_header,
    signed_headers,
)
from tests.support.notifications import readme_verifier, strike_event

SECRET = b"whsec-test-0123456789abcdef"
NEW_SECRET = b"whsec-next-fedcba9876543210"
NOTIFICATION = enforcement_notification(strike_event(1))
verify = readme_verifier()


def headers(*secrets: bytes, timestamp: int | None = None) -> dict[str, str]:
    return signed_headers(
        event_id=NOTIFICATION.id,
        event_type=NOTIFICATION.type,
        secrets=secrets,
        timestamp=int(time.time()) if timestamp is None else timestamp,
        body=NOTIFICATION.body,
    )


def verified(sent: dict[str, str], secret: bytes = SECRET, body: bytes | None = None) -> bool:
    return verify(
        secret,
        NOTIFICATION.body if body is None else body,
        sent[TIMESTAMP_HEADER],
        sent[SIGNATURE_HEADER],
    )


def test_the_signature_is_hmac_sha256_of_timestamp_dot_body() -> None:
    """A pinned value: a receiver written against the README keeps verifying."""
    assert signature(SECRET, 1741586400, b'{"id":"strike-acme-1"}') == (
        "0d1bfb8ad53ec779f6300182894d86de408f296c203e514744f57cc52fa3af5a"
    )


def test_the_headers_name_the_event_and_carry_a_v1_signature() -> None:
    sent = headers(SECRET, timestamp=1741586400)
    assert sent[EVENT_ID_HEADER] == "strike-acme-1"
    assert sent[EVENT_TYPE_HEADER] == "enforcement.strike_issued"
    assert sent[TIMESTAMP_HEADER] == "1741586400"
    assert sent[SIGNATURE_HEADER] == "v1=" + signature(SECRET, 1741586400, NOTIFICATION.body)
    assert sent["Content-Type"] == "application/json"


def test_the_readme_verifier_accepts_what_the_notifier_signs() -> None:
    assert verified(headers(SECRET))


@pytest.mark.parametrize(
    "tampered",
    [
        NOTIFICATION.body + b" ",
        NOTIFICATION.body.replace(b'"count":2', b'"count":3'),
        b"",
    ],
    ids=["trailing space", "a changed value", "no body"],
)
def test_a_changed_body_is_refused(tampered: bytes) -> None:
    assert not verified(headers(SECRET), body=tampered)


def test_another_secret_is_refused() -> None:
    assert not verified(headers(SECRET), secret=NEW_SECRET)


def test_an_old_or_future_timestamp_is_refused() -> None:
    now = int(time.time())
    assert not verified(headers(SECRET, timestamp=now - 3600))
    assert not verified(headers(SECRET, timestamp=now + 3600))


def test_a_timestamp_that_is_not_the_signed_one_is_refused() -> None:
    sent = headers(SECRET)
    sent[TIMESTAMP_HEADER] = str(int(sent[TIMESTAMP_HEADER]) - 1)
    assert not verified(sent)


@pytest.mark.parametrize("timestamp", ["", "12.5", "-1", "\uff11\uff12\uff13", "0x10"])
def test_a_timestamp_that_is_not_plain_digits_is_refused(timestamp: str) -> None:
    sent = headers(SECRET)
    sent[TIMESTAMP_HEADER] = timestamp
    assert not verified(sent)


def test_during_a_rotation_either_secret_verifies() -> None:
    sent = headers(SECRET, NEW_SECRET)
    assert sent[SIGNATURE_HEADER].count("v1=") == 2
    assert verified(sent, secret=SECRET)
    assert verified(sent, secret=NEW_SECRET)
    assert not verified(sent, secret=b"whsec-other-000000000000000")


def test_signatures_of_another_scheme_are_ignored() -> None:
    sent = headers(SECRET)
    sent[SIGNATURE_HEADER] = sent[SIGNATURE_HEADER].replace("v1=", "v2=")
    assert not verified(sent)
    sent[SIGNATURE_HEADER] = "v0=abc, " + sent[SIGNATURE_HEADER].replace("v2=", "v1=")
    assert verified(sent)


def test_signing_needs_a_secret() -> None:
    with pytest.raises(ValueError, match="at least one secret"):
        signature_header([], 1741586400, b"{}")
