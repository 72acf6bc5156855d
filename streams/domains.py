"""The sending accounts' verified domains: the `sender-domains` topic copied into a GlobalTable.

The platform verifies that an account controls a domain (DNS) before the account may put it in a
From or Reply-To header; the content rules (`streams.rules.content`) deny anything else. Each
record carries the account's whole set, so the table takes a copy, never a fold: replaying the
topic, or a worker taking the table over, needs no earlier value.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from streams.errors import CodecError, InvalidRecordError
from streams.handling import dead_letter
from streams.records import SenderDomains

if TYPE_CHECKING:
    from streams.app import Gate

__all__ = ["keep_sender_domains", "read_sender_domains"]


async def keep_sender_domains(gate: Gate, message: Any) -> None:
    """Copy an account's verified domains into the table (keyed by the account id)."""
    try:
        record = gate.codec.decode(message.value or b"", SenderDomains)
        if message.key != record.account_id.encode():
            raise InvalidRecordError("record key is not the record's account id")
    except (CodecError, InvalidRecordError) as exc:
        await dead_letter(gate, message, "keep_sender_domains", exc)
        return
    gate.sender_domains[message.key] = message.value


def read_sender_domains(gate: Gate, account_id: str) -> frozenset[str] | None:
    """The account's verified domains; None when the platform never published any."""
    raw = gate.sender_domains.get(account_id.encode())
    if raw is None:
        return None
    return frozenset(gate.codec.decode(raw, SenderDomains).domains)
