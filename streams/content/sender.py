"""Read who a message says it is from: RFC 5322 §3.4 mailboxes in From and Reply-To, their
display names, and DMARC relaxed alignment of domains (RFC 7489 §3.1).

The content rules (`streams.rules.content`) judge these answers; nothing here decides what
passes. Headers are parsed by the standard library (`email.policy.default`), addresses checked
by email-validator (`streams.core.recipient`), and domains spelled as `streams.core.providers`
spells them (lower-case, IDNA A-labels), so a domain read here compares equal to the account's.

A display name is read for what a recipient would take as a sender: an address in it, or a
dotted word that is a host name under a real top-level domain ("Example.com", not "St.Louis";
`streams.core.providers.under_public_suffix`) or under a top-level name reserved for examples
and tests (RFC 2606 §2; RFC 6761 §6.2, §6.4, §6.5: `.test`, `.invalid`, `.example`). Those are
in no public suffix list, yet a reader takes "parcelly.example" for a domain as readily as
"parcelly.com": templates, documentation and test sets are written with them, and a rule that
let them pass would pass every such sample of the spoof it exists to catch.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from email.errors import ObsoleteHeaderDefect
from email.policy import default as email_policy
from functools import lru_cache

from streams.content.text import plain
from streams.core.providers import normalise_domain, registrable_domain, under_public_suffix
from streams.core.recipient import is_valid_address, normalise_address

__all__ = [
    "Mailbox",
    "canonical_domains",
    "dmarc_aligned",
    "domain_within",
    "foreign_address_in_name",
    "foreign_domain_in_name",
    "names_sender",
    "parse_mailboxes",
    "sole_mailbox",
]

_ADDRESS_IN_TEXT = re.compile(
    r"[^\s@<>()\[\]\",;:]+@[^\s@<>()\[\]\",;:.]+(?:\.[^\s@<>()\[\]\",;:.]+)+"
)
"""Something that reads as an address: `name@host.tld` ("Team@Home" is a name, not one)."""
_DOMAIN_IN_TEXT = re.compile(
    r"(?<![\w@.-])(?:[^\W_](?:[\w-]{0,61}[^\W_])?\.)+[^\W\d_]{2,63}(?![\w-])"
)
_RESERVED_TOP_LEVEL = frozenset({"example", "test", "invalid"})
"""Top-level names reserved for examples and tests (RFC 2606 §2; RFC 6761 §6.2, §6.4, §6.5)."""


@dataclass(frozen=True, slots=True)
class Mailbox:
    """One address of a From or Reply-To header."""

    display_name: str
    address: str
    """The addr-spec as `streams.core.recipient` normalises it (lower-case, IDNA domain)."""
    domain: str
    """Lower-case, IDNA A-labels (`streams.core.providers.normalise_domain`)."""


@lru_cache(maxsize=4096)
def parse_mailboxes(value: str) -> tuple[Mailbox, ...] | None:
    """The mailboxes of a From or Reply-To value (RFC 5322 §3.4, §3.6.2), or None when it does not
    parse cleanly: a syntax defect, a group, an address without a domain or at an IP literal, or
    one email-validator refuses. RFC 2047 encoded display names are decoded."""
    if any(char in value for char in "\r\n\0"):
        return None  # header injection, not a value
    try:
        header = email_policy.header_factory("reply-to", value)
    except Exception:  # the stdlib parser raises assorted errors on malformed input
        return None
    if any(not isinstance(defect, ObsoleteHeaderDefect) for defect in header.defects):
        return None
    if any(group.display_name is not None for group in header.groups):
        return None
    boxes = []
    for address in header.addresses:
        if not address.username or not address.domain or address.domain.startswith("["):
            return None
        if not is_valid_address(address.addr_spec):
            return None
        boxes.append(
            Mailbox(
                display_name=address.display_name.strip(),
                address=normalise_address(address.addr_spec),
                domain=normalise_domain(address.domain),
            )
        )
    return tuple(boxes) or None


def sole_mailbox(value: str) -> Mailbox | None:
    """The one mailbox of a From value; None when it is not exactly one valid mailbox (RFC 5322
    §3.6.2 allows several only with a Sender, which a send request does not carry)."""
    boxes = parse_mailboxes(value)
    return boxes[0] if boxes is not None and len(boxes) == 1 else None


@lru_cache(maxsize=1024)
def canonical_domains(domains: frozenset[str]) -> frozenset[str]:
    """Domains spelled as `Mailbox.domain` is, so the two compare equal."""
    return frozenset(normalise_domain(domain) for domain in domains)


def domain_within(domain: str, domains: Collection[str]) -> bool:
    """Whether `domain` is one of `domains` or a subdomain of one (canonical spellings)."""
    return any(domain == name or domain.endswith(f".{name}") for name in domains)


def dmarc_aligned(domain: str | None, from_domain: str) -> bool:
    """DMARC relaxed alignment (RFC 7489 §3.1): the same registrable (organisational) domain."""
    if domain is None:
        return False
    organisation = registrable_domain(domain)
    return organisation is not None and organisation == registrable_domain(from_domain)


def names_sender(display_name: str, non_sender_names: Collection[str]) -> bool:
    """Whether a display name names someone: letters once any address is taken out, and not a
    mailbox word such as "No Reply" (`non_sender_names`, letters and digits only, lower-case)."""
    name = _ADDRESS_IN_TEXT.sub(" ", plain(display_name))
    folded = "".join(char for char in name.casefold() if char.isalnum())
    return any(char.isalpha() for char in name) and folded not in non_sender_names


def foreign_address_in_name(mailbox: Mailbox) -> bool:
    """Whether the display name holds an address other than the mailbox's own."""
    if not mailbox.display_name:
        return False
    return any(
        normalise_address(token.strip(".")) != mailbox.address
        for token in _ADDRESS_IN_TEXT.findall(plain(mailbox.display_name))
    )


def foreign_domain_in_name(mailbox: Mailbox) -> str | None:
    """The first domain the display name names (addresses aside) that is not aligned with the
    mailbox's own, normalised; None when it names none. A dotted word counts as a domain only
    under a real public suffix or a reserved example name, so "St.Louis" or "J.Doe" is a name."""
    if not mailbox.display_name:
        return None
    rest = _ADDRESS_IN_TEXT.sub(" ", plain(mailbox.display_name))
    for token in _DOMAIN_IN_TEXT.findall(rest):
        if _names_host(token) and not dmarc_aligned(token, mailbox.domain):
            return normalise_domain(token)
    return None


def brand_posed_as(mailbox: Mailbox, brands: Mapping[str, Collection[str]]) -> str | None:
    """The protected brand the display name carries as a word while the mailbox is at none of
    the brand's domains (or their subdomains); None when there is none."""
    if not mailbox.display_name or not brands:
        return None
    words = set(re.findall(r"[a-z0-9]+", plain(mailbox.display_name).casefold()))
    for brand, domains in sorted(brands.items()):
        if brand.casefold() in words and not domain_within(mailbox.domain, domains):
            return brand
    return None


def _names_host(token: str) -> bool:
    """Whether a dotted word reads as a host name: one label at least below a real public suffix
    or below a reserved example top-level name ("parcelly.example", not "example" alone)."""
    if under_public_suffix(token):
        return True
    labels = normalise_domain(token).split(".")
    return len(labels) >= 2 and labels[-1] in _RESERVED_TOP_LEVEL and all(labels)
