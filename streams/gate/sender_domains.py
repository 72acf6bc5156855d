"""The sending accounts' verified domains: the `sender-domains` topic, copied by every worker.

The platform verifies that an account controls a domain (DNS) before the account may put it in a
From or Reply-To header; the content rules (`streams.rules.content`) deny anything else. Each
record carries the account's whole set, so a copy needs no earlier value. Every gate worker keeps
its own copy of the whole topic, fenced before each batch of decisions (`streams.gate.broadcast`);
the
`keep_sender_domains` agent, in the consumer group, is what dead-letters records the copy cannot
use, with their origin.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from streams.gate.copies import domains_of_record
from streams.gate.handling import dead_letter_unusable

if TYPE_CHECKING:
    from streams.gate.app import Gate

__all__ = ["keep_sender_domains", "read_sender_domains"]


async def keep_sender_domains(gate: Gate, message: Any) -> None:
    """Dead-letter a record no worker's copy can use; good ones need nothing here."""
    await dead_letter_unusable(gate, message, "keep_sender_domains", domains_of_record)


def read_sender_domains(gate: Gate, account_id: str) -> frozenset[str] | None:
    """The account's verified domains; None when the platform never published any."""
    return gate.sender_domains.get(account_id.encode())
