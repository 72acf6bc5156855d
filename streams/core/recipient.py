"""The recipient key: HMAC-SHA-256, under the platform secret, of the normalised address.

Every record about a person is keyed by it, so the tables about a person are co-partitioned with
the send requests that consult them, no Kafka key holds an address in clear, and an erased person
leaves only the hash behind.

Normalisation (what makes two spellings one person):
- surrounding white space is trimmed;
- the address is parsed by `email-validator` (syntax only, no DNS) with quoted local parts and
  SMTPUTF8 allowed. Quotes that are not needed are dropped (`"john"@example.com` is
  `john@example.com`; `"john doe"@example.com` keeps them), the local part is Unicode
  NFC-normalised;
- the domain is lower-cased and converted to its IDNA ASCII form (`bücher.example` and
  `xn--bcher-kva.example` are one domain);
- the local part is lower-cased. RFC 5321 lets a server treat `John` and `john` as different
  mailboxes, but practically none does, and an unsubscribe from `John@` must stop mail to `john@`:
  over-matching a suppression is the safe side of the law;
- plus-tags (`jo+news@`) and dots are kept: whether they are ignored depends on the provider, and
  `jo+news@` may be a different address to the sender;
- an address that does not parse is keyed on its trimmed, NFC-normalised, lower-cased text, so a
  request for it can still be published, decided (and denied as invalid) and traced.

Most addresses are plain ASCII (`jo.smith+news@mail.example.com`). For those a regular expression
(`_PLAIN_ADDRESS`) that accepts only what email-validator accepts, and normalises them the same
way, stands in for it: email-validator costs about 45 µs an address, a sixth of the gate's time
per decision. `tests/unit/test_recipient_key.py` checks with hypothesis that the two agree.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import unicodedata
from functools import lru_cache

from email_validator import (
    SPECIAL_USE_DOMAIN_NAMES,
    EmailNotValidError,
    ValidatedEmail,
    validate_email,
)

__all__ = ["RecipientKeyer", "is_valid_address", "normalise_address", "validated_address"]


_PLAIN_ADDRESS = re.compile(
    r"(?P<local>[a-z0-9]+(?:[._+-][a-z0-9]+)*)"
    r"@(?P<domain>(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63})",
    re.IGNORECASE | re.ASCII,
)
"""A subset of what email-validator accepts: dot-atom local parts of letters, digits and single
`.`, `_`, `+`, `-` between them; host names of letter-digit-hyphen labels under an alphabetic
top-level domain. `_plain_address` adds the length limits, hyphen pairs and special-use names."""

_SPECIAL_USE_SUFFIXES = tuple(f".{name}" for name in SPECIAL_USE_DOMAIN_NAMES)


def _plain_address(address: str) -> tuple[str, str] | None:
    """(local part, lower-cased domain) of a plain ASCII address, else None (not necessarily
    invalid: email-validator then decides)."""
    match = _PLAIN_ADDRESS.fullmatch(address)
    if match is None or len(address) > 254:
        return None
    local, domain = match.group("local"), match.group("domain").lower()
    if len(local) > 64 or "--" in domain or f".{domain}".endswith(_SPECIAL_USE_SUFFIXES):
        return None
    return local, domain


@lru_cache(maxsize=65536)
def _parse(address: str) -> tuple[str, str] | None:
    plain = _plain_address(address)
    if plain is not None:
        return plain
    valid = validated_address(address)
    if valid is None:
        return None
    return unicodedata.normalize("NFC", valid.local_part), valid.ascii_domain or valid.domain


def validated_address(address: str) -> ValidatedEmail | None:
    """email-validator's reading of one address (syntax only, never DNS; international
    addresses kept, as SMTPUTF8 allows), or None when it is not one. Every check of an address
    in sendgate reads it this way."""
    try:
        return validate_email(
            address,
            check_deliverability=False,
            allow_smtputf8=True,
            allow_quoted_local=True,
            allow_display_name=False,
        )
    except EmailNotValidError:
        return None


def is_valid_address(address: str) -> bool:
    """Syntax check (RFC 5321/5322 as email-validator reads them); no DNS."""
    return _parse(address.strip()) is not None


def normalise_address(address: str) -> str:
    """The one spelling of an address that the recipient key is computed from."""
    trimmed = address.strip()
    parsed = _parse(trimmed)
    if parsed is None:
        return unicodedata.normalize("NFC", trimmed).lower()
    local, domain = parsed
    return f"{local.lower()}@{domain.lower()}"


class RecipientKeyer:
    """Computes recipient keys under one platform secret."""

    def __init__(self, secret: bytes) -> None:
        if len(secret) < 16:
            raise ValueError("the recipient key secret must be at least 16 bytes")
        self._secret = secret

    def key(self, address: str) -> str:
        """64 lower-case hex characters."""
        message = normalise_address(address).encode("utf-8")
        return hmac.new(self._secret, message, hashlib.sha256).hexdigest()
