"""The recipient key: which spellings of an address are one person, and the HMAC over it."""

from __future__ import annotations

import hashlib
import hmac
import re
import unicodedata

import pytest
from email_validator import EmailNotValidError, validate_email
from hypothesis import given, settings
from hypothesis import strategies as st

from streams.core.recipient import (
    RecipientKeyer,
    _plain_address,
    is_valid_address,
    normalise_address,
)

SECRET = b"unit-test-secret-0123456789abcdef"
KEYER = RecipientKeyer(SECRET)


def reference_key(normalised: str, secret: bytes = SECRET) -> str:
    """The documented key, computed here without streams.core.recipient."""
    return hmac.new(secret, normalised.encode("utf-8"), hashlib.sha256).hexdigest()


# Each row: two spellings that must give the same key, and why.
SAME_PERSON = [
    pytest.param(
        "  jo@example.com\t\r\n",
        "jo@example.com",
        # RFC 5321 §4.1.2: a Mailbox has no white space outside a quoted string, so surrounding
        # white space is input noise (the module docstring: "surrounding white space is trimmed").
        id="surrounding-whitespace",
    ),
    pytest.param(
        "jo@EXAMPLE.Com",
        "jo@example.com",
        # RFC 5321 §2.4: "Mailbox domains are not case sensitive" (and DNS, RFC 4343).
        id="domain-case",
    ),
    pytest.param(
        "JO.Doe@example.com",
        "jo.doe@example.com",
        # RFC 5321 §2.4 lets the receiving host treat local parts case-sensitively, but calls
        # exploiting it an interoperability problem; the module docstring folds case on purpose
        # (over-matching a suppression is the safe side).
        id="local-part-case",
    ),
    pytest.param(
        "zo\u00eb@example.com",
        "zoe\u0308@example.com",
        # U+00EB and U+0065 U+0308 are canonically equivalent (Unicode UAX #15); RFC 6531/6532
        # carry local parts as UTF-8 and the module docstring normalises them to NFC.
        id="nfc-composed-vs-decomposed",
    ),
    pytest.param(
        "ZOË@example.com",
        "zoe\u0308@example.com",
        # Both rules at once: NFC, then lower case.
        id="nfc-and-case",
    ),
    pytest.param(
        "info@bücher.example",
        "info@xn--bcher-kva.example",
        # RFC 5890 §2.3.2.1 / RFC 5891 §5.5: a U-label and its A-label ("xn--" + Punycode, RFC
        # 3492) are the same label; the DNS only ever sees the A-label.
        id="idn-u-label-vs-a-label",
    ),
    pytest.param(
        "info@BÜCHER.example",
        "info@xn--bcher-kva.example",
        # Upper-case U-label: case folds before IDNA conversion, as for an ASCII domain.
        id="idn-upper-case",
    ),
    pytest.param(
        "info@bu\u0308cher.example",
        "info@xn--bcher-kva.example",
        # Decomposed U-label: IDNA (RFC 5891 §5.2) works on the NFC form.
        id="idn-decomposed",
    ),
    pytest.param(
        "Zoe\u0308 at example.com",
        "zo\u00eb at example.com",
        # An address that does not parse is still one person in any Unicode form or case
        # (module docstring: keyed on its trimmed, NFC-normalised, lower-cased text).
        id="invalid-nfc-and-case",
    ),
    pytest.param(
        '"jo"@example.com',
        "jo@example.com",
        # RFC 5322 §3.2.4: a quoted-string is semantically identical to an atom; quotes that are
        # not needed change nothing (module docstring: `"john"@` is `john@`).
        id="needless-quotes",
    ),
    pytest.param(
        '"Jo Doe"@example.com',
        '"jo doe"@example.com',
        # Quotes that are needed (a space) stay; case still folds inside them.
        id="needed-quotes-case",
    ),
]

# Each row: two spellings that must give different keys, and why.
DIFFERENT_PEOPLE = [
    pytest.param(
        "jo+news@example.com",
        "jo@example.com",
        # RFC 5321 §2.3.11: only the host named by the domain interprets the local part; whether
        # "+news" is a sub-address (RFC 5233) is its business (module docstring: kept).
        id="plus-tag",
    ),
    pytest.param("j.o@example.com", "jo@example.com", id="dots-kept"),  # same reason as above
    pytest.param(
        '"jo doe"@example.com',
        "jodoe@example.com",
        # A quoted space is part of the mailbox name (RFC 5322 §3.2.4): not the same as no space.
        id="needed-quotes-vs-none",
    ),
    pytest.param(
        "jo@example.com",
        "jo@example.org",
        id="other-domain",
    ),
    pytest.param(
        "jo@faß.example",
        "jo@fass.example",
        # IDNA2008 (RFC 5892) makes ß PVALID: faß.example is xn--fa-hia.example, not fass.example
        # (the IDNA2003 mapping to "ss" no longer applies).
        id="idna2008-sharp-s",
    ),
]


@pytest.mark.parametrize(("spelling", "other"), SAME_PERSON)
def test_same_person_same_key(spelling: str, other: str) -> None:
    """Spellings that name one mailbox give one key."""
    assert KEYER.key(spelling) == KEYER.key(other)


@pytest.mark.parametrize(("spelling", "other"), DIFFERENT_PEOPLE)
def test_different_people_different_keys(spelling: str, other: str) -> None:
    """Spellings that may name different mailboxes give different keys."""
    assert KEYER.key(spelling) != KEYER.key(other)


@pytest.mark.parametrize(
    ("address", "normalised"),
    [
        ("  Jo.Doe@Example.COM ", "jo.doe@example.com"),
        ("ZOË@Bücher.example", "zo\u00eb@xn--bcher-kva.example"),
        ('"jo"@example.com', "jo@example.com"),
        ('"Jo Doe"@example.com', '"jo doe"@example.com'),
        ("jo+news@example.net", "jo+news@example.net"),
    ],
)
def test_key_is_hmac_sha256_of_the_normalised_address(address: str, normalised: str) -> None:
    """The key is HMAC-SHA-256 under the secret of the normalised text, in lower-case hex."""
    assert normalise_address(address) == normalised
    assert KEYER.key(address) == reference_key(normalised)


def test_punycode_expectation_is_independent_of_email_validator() -> None:
    """The A-label used above is what Python's own IDNA codec makes of "bücher"."""
    assert "bücher".encode("idna") == b"xn--bcher-kva"


@pytest.mark.parametrize(
    "address",
    ["", "   ", "not an address", "@@", "jo@", "@example.com", "a..b@example.com", "jo@example"],
)
def test_invalid_input_still_has_a_key(address: str) -> None:
    """An address that does not parse is keyed on its trimmed, NFC, lower-cased text."""
    assert not is_valid_address(address)
    expected = unicodedata.normalize("NFC", address.strip()).lower()
    assert KEYER.key(address) == reference_key(expected)
    assert KEYER.key(f"  {address.upper()} ") == KEYER.key(address)


def test_key_is_64_lower_case_hex_and_hides_the_address() -> None:
    """The key is 64 lower-case hex characters and contains nothing of the address."""
    key = KEYER.key("Zoe.Doe@example.com")
    assert re.fullmatch(r"[0-9a-f]{64}", key)
    for part in ("zoe", "doe", "example", "@"):
        assert part not in key.lower()


def test_different_secrets_give_different_keys() -> None:
    """Another platform secret gives another key for the same address."""
    other = RecipientKeyer(b"another-secret-0123456789abcdef!")
    assert other.key("jo@example.com") != KEYER.key("jo@example.com")
    assert other.key("jo@example.com") == reference_key(
        "jo@example.com", b"another-secret-0123456789abcdef!"
    )


def test_short_secret_is_refused() -> None:
    """A secret under 16 bytes is refused: it would make keys guessable."""
    with pytest.raises(ValueError, match="16 bytes"):
        RecipientKeyer(b"short")


_LOCAL_CHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!#$%&'*+-/=?^_`{|}~"
_atoms = st.text(alphabet=_LOCAL_CHARS, min_size=1, max_size=12)
_local_parts = st.lists(_atoms, min_size=1, max_size=3).map(".".join)
_labels = st.from_regex(r"[a-z0-9]([a-z0-9-]{0,10}[a-z0-9])?", fullmatch=True)
_domains = st.builds(
    lambda labels, base: ".".join([*labels, base]),
    st.lists(_labels, max_size=2),
    st.sampled_from(["example.com", "example.org", "example.net"]),
)
_white_space = st.text(alphabet=" \t\r\n", max_size=3)


@given(_local_parts, _domains, _white_space, _white_space)
def test_domain_case_and_surrounding_white_space_never_change_the_key(
    local: str, domain: str, before: str, after: str
) -> None:
    """key(addr) == key(addr with its domain upper-cased and white space around it)."""
    assert KEYER.key(f"{before}{local}@{domain.upper()}{after}") == KEYER.key(f"{local}@{domain}")


# --- the plain-ASCII fast path agrees with email-validator ------------------------------------

_LOCAL_CHARS = "aZ09._+-"
_LABEL_CHARS = "aZ09-"
_TLDS = ["com", "Example", "co", "x", "arpa", "local", "localhost", "onion", "test", "invalid"]


@st.composite
def plain_looking_addresses(draw: st.DrawFn) -> str:
    """Near-misses on purpose: dots and hyphens anywhere, long parts, special-use names."""
    local = draw(st.text(_LOCAL_CHARS, min_size=1, max_size=70))
    labels = draw(st.lists(st.text(_LABEL_CHARS, min_size=1, max_size=66), min_size=1, max_size=4))
    tld = draw(st.sampled_from(_TLDS) | st.text("az", min_size=1, max_size=4))
    return f"{local}@{'.'.join([*labels, tld])}"


def _email_validator_reading(address: str) -> tuple[str, str] | None:
    try:
        valid = validate_email(
            address,
            check_deliverability=False,
            allow_smtputf8=True,
            allow_quoted_local=True,
            allow_display_name=False,
        )
    except EmailNotValidError:
        return None
    return valid.local_part, valid.ascii_domain.lower()


@settings(max_examples=1000)
@given(plain_looking_addresses())
def test_the_fast_path_accepts_only_what_email_validator_accepts_and_reads_it_alike(
    address: str,
) -> None:
    fast = _plain_address(address)
    if fast is not None:
        assert _email_validator_reading(address) == fast


@pytest.mark.parametrize(
    "address",
    ["jo.smith+news@mail.example.com", "Ann_Lee-2@Example.CO.uk", "x@y.org", "a.b.c@d-e.example"],
)
def test_the_fast_path_takes_ordinary_addresses(address: str) -> None:
    assert _plain_address(address) == _email_validator_reading(address)
    assert _plain_address(address) is not None


@pytest.mark.parametrize(
    "address",
    ["jo..smith@example.com", ".jo@example.com", "jo@-example.com", "jo@example.arpa",
     "jo@mail.local", "jo@ab--cd.example.com", "jo@example", f"{'a' * 65}@example.com",
     f"{'a' * 60}@{'b' * 60}.{'c' * 60}.{'d' * 60}.{'e' * 10}.com"],
)  # fmt: skip
def test_the_fast_path_leaves_near_misses_to_email_validator(address: str) -> None:
    assert _plain_address(address) is None
