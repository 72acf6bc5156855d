"""The personal values the tests feed the gate, by kind, and how a report names one without
showing it.

Only what identifies a person counts: a recipient's address, the IP and user agent a consent was
given from, the addresses in a mail someone sent. Loopback and unspecified IPs are the test
machine talking to itself (the broker, the web server, the intake), never a person, so they are
not taken. Values too short to mean anything in a search (fuzzed junk such as `a@b`) are not
taken either: they would match by chance, not by leak.
"""

from __future__ import annotations

import email
import email.policy
import ipaddress
import re
from dataclasses import dataclass, field
from email.message import Message
from email.utils import getaddresses
from typing import Literal

from streams.core.recipient import normalise_address

__all__ = [
    "ADDRESS_HEADERS",
    "Kind",
    "PersonalValues",
    "addresses_in_mail",
    "mask",
    "personal_ip",
]

Kind = Literal["address", "ip", "user agent"]

MIN_ADDRESS_LENGTH = 6
MIN_USER_AGENT_LENGTH = 8

ADDRESS_HEADERS = (
    "from",
    "sender",
    "reply-to",
    "to",
    "cc",
    "return-path",
    "delivered-to",
    "x-original-to",
    "original-recipient",
    "final-recipient",
    "original-rcpt-to",
    "original-mail-from",
    "x-failed-recipients",
)
"""Headers and report fields (RFC 3464, RFC 5965) that name a mailbox."""

_ADDRESS_IN_TEXT = re.compile(
    r"[\w.!#$%&'*+/=?^`{|}~-]+@[\w-]+(?:\.[\w-]+)+",
)
"""Anything shaped like an address in a mail's text (a free-form bounce names its recipient
only in its prose)."""


def personal_ip(text: str) -> str | None:
    """The IP in its one spelling (compressed), or None: not an IP, or the machine itself."""
    try:
        ip = ipaddress.ip_address(text.strip().strip("[]"))
    except ValueError:
        return None
    if ip.is_loopback or ip.is_unspecified:
        return None
    return ip.compressed


def mask(kind: Kind, value: str) -> str:
    """Enough of a value to find it among the inputs, not enough to read it: `a***@example.com`,
    `192.0.***`, `Mozi***`."""
    if kind == "address":
        local, at, domain = value.rpartition("@")
        return f"{local[:1]}***{at}{domain}" if at else f"{value[:1]}***"
    if kind == "ip":
        separator = ":" if ":" in value else "."
        return separator.join(value.split(separator)[:2]) + f"{separator}***"
    return f"{value[:4]}***"


@dataclass
class PersonalValues:
    """Every personal value seen, by kind; addresses lower-cased in every spelling the gate may
    write them in (as given, and normalised as the recipient key reads them)."""

    addresses: set[str] = field(default_factory=set)
    ips: set[str] = field(default_factory=set)
    user_agents: set[str] = field(default_factory=set)

    def add_address(self, address: str | None) -> None:
        if not address or "@" not in address:
            return
        for spelling in {address.strip(), normalise_address(address)}:
            local, _, domain = spelling.rpartition("@")
            if local and domain and len(spelling) >= MIN_ADDRESS_LENGTH:
                self.addresses.add(spelling.lower())

    def add_ip(self, ip: str | None) -> None:
        personal = personal_ip(ip) if ip else None
        if personal is not None:
            self.ips.add(personal)

    def add_user_agent(self, user_agent: str | None) -> None:
        if user_agent and len(user_agent.strip()) >= MIN_USER_AGENT_LENGTH:
            self.user_agents.add(user_agent.strip())

    def add_mail(self, raw: bytes) -> None:
        for address in addresses_in_mail(raw):
            self.add_address(address)

    def update(self, other: PersonalValues) -> None:
        self.addresses |= other.addresses
        self.ips |= other.ips
        self.user_agents |= other.user_agents

    def counts(self) -> dict[Kind, int]:
        return {
            "address": len(self.addresses),
            "ip": len(self.ips),
            "user agent": len(self.user_agents),
        }

    def __bool__(self) -> bool:
        return bool(self.addresses or self.ips or self.user_agents)


def addresses_in_mail(raw: bytes) -> set[str]:
    """Every mailbox a mail names: in its address headers and report fields, in every part
    (the original message inside a bounce too), and anything shaped like an address in its text
    parts. Never raises: the tests feed the intake broken mail on purpose."""
    try:
        message = email.message_from_bytes(raw, policy=email.policy.compat32)
        return _addresses_in(message)
    except Exception:  # a mail the parser gives up on still has addresses in its bytes
        return set(_ADDRESS_IN_TEXT.findall(raw.decode("utf-8", errors="replace")))


def _addresses_in(message: Message) -> set[str]:
    found: set[str] = set()
    for part in message.walk():
        for name in ADDRESS_HEADERS:
            values = [str(value) for value in part.get_all(name, [])]
            # `rfc822; ana@example.com` in a delivery status: the address after the type
            values = [value.split(";", 1)[-1] for value in values]
            found.update(address for _, address in getaddresses(values) if "@" in address)
        if part.get_content_maintype() == "text":
            payload = part.get_payload(decode=True)
            if isinstance(payload, bytes):
                text = payload.decode("utf-8", errors="replace")
                found.update(_ADDRESS_IN_TEXT.findall(text))
    return found
