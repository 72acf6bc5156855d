"""Unsubscribe tokens: round trips, key rotation, expiry, every kind of bad token, and the two
layouts (version 1 tokens in mail already sent keep verifying)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import struct
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streams.sending.unsubscribe_tokens import (
    BadTokenError,
    ExpiredTokenError,
    UnsubscribeTokens,
)

ISSUED = datetime(2026, 3, 4, 12, 0, tzinfo=UTC)
KEY = "ab" * 32
OLD, NEW = b"o" * 32, b"n" * 32


def tokens(keys: dict[int, bytes] | None = None, current: int = 1, days: int = 180):
    return UnsubscribeTokens(keys or {1: OLD}, current, valid_for=timedelta(days=days))


def issue(signer: UnsubscribeTokens, **fields: object) -> str:
    return signer.issue(
        **{
            "recipient_key": KEY,
            "account_id": "acme",
            "list_id": "weekly-deals",
            "request_id": "req-42",
            "issued_at": ISSUED,
            **fields,
        }
    )


GOLDEN_V1 = {
    # Issued by the version 1 code (before cadences and confirmations), key OLD, at ISSUED.
    "weekly-deals": (
        "AQFpqB7Aq6urq6urq6urq6urq6urq6urq6urq6urq6urq6urq6sABGFjbWUADHdlZWtseS1kZWFscwAGcmVxLTQy"
        "aVx1mHejjk9fyyCnO3Enqg"
    ),
    None: (
        "AQFpqB7Aq6urq6urq6urq6urq6urq6urq6urq6urq6urq6urq6sABGFjbWUAAAAGcmVxLTQy"
        "fPB6X0djkYPY49fHgdMIwQ"
    ),
}
GOLDEN_V2_CADENCE = (
    "AgEAaagewKurq6urq6urq6urq6urq6urq6urq6urq6urq6urq6urAARhY21lAAx3ZWVrbHktZGVhbHMABnJlcS00Mg"
    "AFZGFpbHkzQViXzrA4e6H4vztNyCws"
)


def signed(body: bytes, secret: bytes = OLD) -> str:
    """A token with any body, signed the way the platform signs (to reach the checks behind the
    signature)."""
    tag = hmac.new(secret, b"sendgate/unsubscribe/v1\x00" + body, hashlib.sha256).digest()[:16]
    return base64.urlsafe_b64encode(body + tag).rstrip(b"=").decode("ascii")


def fields(*texts: str) -> bytes:
    return b"".join(struct.pack(">H", len(t.encode())) + t.encode() for t in texts)


@pytest.mark.parametrize("list_id", ["weekly-deals", None])
def test_version_1_tokens_in_mail_already_sent_still_verify(list_id: str | None) -> None:
    read = tokens().verify(GOLDEN_V1[list_id], now=ISSUED + timedelta(days=1))
    assert (read.recipient_key, read.account_id, read.list_id, read.request_id) == (
        KEY,
        "acme",
        list_id,
        "req-42",
    )
    assert (read.cadence, read.purpose, read.issued_at) == (None, "message", ISSUED)


@pytest.mark.parametrize("list_id", ["weekly-deals", None])
def test_a_token_without_cadence_is_still_written_as_version_1_byte_for_byte(
    list_id: str | None,
) -> None:
    assert issue(tokens(), list_id=list_id) == GOLDEN_V1[list_id]


def test_a_cadence_makes_a_version_2_token_that_reads_it_back() -> None:
    signer = tokens()
    token = issue(signer, cadence="daily")
    assert token == GOLDEN_V2_CADENCE
    assert base64.urlsafe_b64decode(token + "==")[0] == 2
    read = signer.verify(token, now=ISSUED)
    assert (read.account_id, read.list_id, read.request_id, read.cadence, read.purpose) == (
        "acme",
        "weekly-deals",
        "req-42",
        "daily",
        "message",
    )


def test_a_confirmation_may_name_no_account_and_says_what_it_is() -> None:
    signer = tokens()
    token = issue(
        signer, account_id=None, list_id=None, request_id="confirm-1", purpose="confirmation"
    )
    read = signer.verify(token, now=ISSUED)
    assert (read.account_id, read.list_id, read.cadence, read.purpose) == (
        None,
        None,
        None,
        "confirmation",
    )
    with_account = signer.verify(issue(signer, purpose="confirmation"), now=ISSUED)
    assert (with_account.account_id, with_account.purpose) == ("acme", "confirmation")


def test_only_a_confirmation_may_name_no_account() -> None:
    with pytest.raises(ValueError, match="only a confirmation"):
        issue(tokens(), account_id=None)


@pytest.mark.parametrize(
    "empty", [{"account_id": ""}, {"list_id": ""}, {"request_id": ""}, {"cadence": ""}]
)
def test_empty_ids_are_refused_rather_than_read_back_as_none(empty: dict) -> None:
    with pytest.raises(ValueError, match="None or not empty"):
        issue(tokens(), **empty)


SECONDS = int(ISSUED.timestamp())


def head(version: int, purpose: int | None = None) -> bytes:
    if purpose is None:
        return struct.pack(">BBI32s", version, 1, SECONDS, bytes.fromhex(KEY))
    return struct.pack(">BBBI32s", version, 1, purpose, SECONDS, bytes.fromhex(KEY))


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        # Message tokens that name no account: not a layout we write, even signed.
        (head(1) + fields("", "", "r"), "layout"),
        (head(2, purpose=0) + fields("", "", "r", ""), "layout"),
        (head(2, purpose=7) + fields("a", "", "r", ""), "layout"),  # an unknown purpose
        (head(2, purpose=0) + fields("a", "", "r"), "short"),  # no cadence field
        (head(2, purpose=0) + fields("a", "", "r", "", "x"), "layout"),  # one field too many
        (head(3) + fields("a", "", "r"), "version"),
    ],
)
def test_signed_tokens_with_a_layout_we_never_write_are_malformed(body: bytes, detail: str) -> None:
    with pytest.raises(BadTokenError, match=detail) as caught:
        tokens().verify(signed(body), now=ISSUED)
    assert caught.value.problem == "malformed"


def test_a_token_says_who_from_what_and_when_and_holds_no_address() -> None:
    signer = tokens()
    token = issue(signer)
    read = signer.verify(token, now=ISSUED + timedelta(days=1))
    assert (read.recipient_key, read.account_id, read.list_id, read.request_id) == (
        KEY,
        "acme",
        "weekly-deals",
        "req-42",
    )
    assert read.issued_at == ISSUED
    assert "@" not in base64.urlsafe_b64decode(token + "==").decode("latin-1")
    assert token.isascii() and "=" not in token and len(token) < 200


def test_no_list_reads_back_as_none() -> None:
    signer = tokens()
    assert signer.verify(issue(signer, list_id=None), now=ISSUED).list_id is None


def test_old_keys_still_verify_after_rotation_and_new_tokens_use_the_new_key() -> None:
    old_token = issue(tokens({1: OLD}, 1))
    rotated = tokens({2: NEW, 1: OLD}, 2)
    assert rotated.verify(old_token, now=ISSUED).key_id == 1
    assert rotated.verify(issue(rotated), now=ISSUED).key_id == 2
    retired = tokens({2: NEW}, 2)  # key 1 removed from the file: its links stop working
    with pytest.raises(BadTokenError) as caught:
        retired.verify(old_token, now=ISSUED)
    assert caught.value.problem == "unknown-key"


def test_links_work_for_the_validity_and_then_expire_with_410_not_400() -> None:
    signer = tokens(days=30)  # CAN-SPAM's minimum
    token = issue(signer)
    assert signer.verify(token, now=ISSUED + timedelta(days=30)).account_id == "acme"
    with pytest.raises(ExpiredTokenError) as caught:
        signer.verify(token, now=ISSUED + timedelta(days=30, seconds=1))
    assert caught.value.token.account_id == "acme"  # still ours: the page can say what happened
    assert caught.value.expired_at == ISSUED + timedelta(days=30)


def test_a_validity_under_30_days_is_refused() -> None:
    with pytest.raises(ValueError, match="30 days"):
        tokens(days=29)


@pytest.mark.parametrize(
    ("mangle", "problem"),
    [
        # truncated (a line break in a mail client) or extended: never a valid signature
        (lambda t: t[:-1], {"malformed", "bad-tag"}),
        (lambda t: t[:-4], {"malformed", "bad-tag"}),
        (lambda t: t + "AAAA", {"malformed", "bad-tag"}),
        (lambda t: t[:40], {"malformed"}),
        (lambda t: "", {"malformed"}),
        (lambda t: t.replace(t[10], "A" if t[10] != "A" else "B", 1), {"bad-tag"}),  # altered
        (lambda t: "%%%" + t, {"malformed"}),
        (lambda t: "é" + t, {"malformed"}),
    ],
)
def test_every_kind_of_bad_token_is_refused(mangle, problem) -> None:
    signer = tokens()
    with pytest.raises(BadTokenError) as caught:
        signer.verify(mangle(issue(signer)), now=ISSUED)
    assert caught.value.problem in problem


def test_a_token_signed_with_another_platforms_key_is_forged() -> None:
    elsewhere = tokens({1: b"x" * 32})
    with pytest.raises(BadTokenError) as caught:
        tokens().verify(issue(elsewhere), now=ISSUED)
    assert caught.value.problem == "bad-tag"


def test_a_token_from_the_future_is_refused() -> None:
    signer = tokens()
    with pytest.raises(BadTokenError) as caught:
        signer.verify(issue(signer), now=ISSUED - timedelta(hours=1))
    assert caught.value.problem == "from-the-future"


@settings(max_examples=300)
@given(
    account=st.none() | st.text(min_size=1, max_size=60),
    list_id=st.none() | st.text(min_size=1, max_size=60),
    request_id=st.text(min_size=1, max_size=60),
    cadence=st.none() | st.text(min_size=1, max_size=20),
    confirmation=st.booleans(),
    flip=st.integers(min_value=0, max_value=10_000),
)
def test_any_ids_round_trip_and_any_single_changed_byte_is_caught(
    account: str | None,
    list_id: str | None,
    request_id: str,
    cadence: str | None,
    confirmation: bool,
    flip: int,
) -> None:
    signer = tokens()
    purpose = "confirmation" if confirmation or account is None else "message"
    token = issue(
        signer,
        account_id=account,
        list_id=list_id,
        request_id=request_id,
        cadence=cadence,
        purpose=purpose,
    )
    read = signer.verify(token, now=ISSUED)
    assert (read.account_id, read.list_id, read.request_id, read.cadence, read.purpose) == (
        account,
        list_id,
        request_id,
        cadence,
        purpose,
    )
    raw = bytearray(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    raw[flip % len(raw)] ^= 0x01
    altered = base64.urlsafe_b64encode(bytes(raw)).rstrip(b"=").decode("ascii")
    with pytest.raises(BadTokenError):
        signer.verify(altered, now=ISSUED)
