"""The pieces behind parse_message: status codes, unsubscribe keywords, addresses, VERP."""

from __future__ import annotations

import pytest

from streams.parsing.addresses import clean_address
from streams.parsing.diagnosis import normalise_status
from streams.parsing.original import verp_token
from streams.parsing.replies import DEFAULT_UNSUBSCRIBE_KEYWORDS, _matches, _words, opening_lines


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("5.1.1", "5.1.1"),
        ("5.1.1 (bad mailbox)", "5.1.1"),
        ("550 5.7.1 denied", "5.7.1"),
        ("553 Exceeded maximum inbound message size", None),
        ("", None),
        ("5.01.001", "5.1.1"),
    ],
)
def test_normalise_status(value: str, expected: str | None) -> None:
    """Status fields become bare RFC 3463 codes, or None."""
    assert normalise_status(value) == expected


@pytest.mark.parametrize(
    ("line", "asks"),
    [
        ("STOP", True),
        ("stop please", True),
        ("Please unsubscribe me from this list.", True),
        ("I will stop by the shop on Monday to see it.", False),
        ("Please do not unsubscribe me", False),
        ("Bitte abmelden", True),
        ("Désinscrivez-moi s'il vous plaît", True),
        ("Por favor, darme de baja", True),
        ("Graag uitschrijven", True),
    ],
)
def test_unsubscribe_keywords(line: str, asks: bool) -> None:
    """Only short or explicit asks count; a negation before the phrase does not."""
    words = _words(line)
    found = any(
        _matches(words, phrase)
        for phrases in DEFAULT_UNSUBSCRIBE_KEYWORDS.values()
        for phrase in phrases
    )
    assert found is asks


def test_opening_lines_stop_at_quotes() -> None:
    """Quoted text and the 'On ... wrote:' line end the opening."""
    body = "Thanks!\n\nOn Mon, 1 Jan 2025, Shop wrote:\n> unsubscribe\n"
    assert opening_lines(body) == ["Thanks!"]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("rfc822; User@Example.org", "user@example.org"),
        ('"Some One" <some.one@example.org>', "some.one@example.org"),
        ("<a@b>", None),
        ("recipient@#example.net", "recipient@#example.net"),
    ],
)
def test_clean_address(value: str, expected: str | None) -> None:
    """Report fields and header values reduce to a bare lower-cased address."""
    assert clean_address(value) == expected


def test_verp_token() -> None:
    """b-<token>@domain gives the token, unchanged in case; other addresses give None."""
    assert verp_token("b-AbC123@bounces.example.com") == "AbC123"
    assert verp_token("<b-x@bounces.example.com>") == "x"
    assert verp_token("postmaster@example.com") is None
    assert verp_token(None) is None
