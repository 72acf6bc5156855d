"""Parse RFC 3464 delivery status notifications (message/delivery-status parts).

Also reads `message/global-delivery-status` (RFC 6533, the same fields in UTF-8) and tolerates
the common breakages: per-message and per-recipient fields in one block, several recipients in
one block, a missing `Action`, a `Status` that is not a code (then the code inside the
`Diagnostic-Code` is used). Recipients whose action is `delivered`, `relayed` or `expanded` are
not failures and are left out.
"""

from __future__ import annotations

from email.message import Message
from typing import Final

from streams.core.bounce_reasons import BounceReason
from streams.parsing.addresses import clean_address
from streams.parsing.diagnosis import classify, find_status, normalise_status
from streams.parsing.mime import field_blocks
from streams.parsing.model import DIAGNOSTIC_MAX_CHARS, RecipientOutcome

__all__ = ["STATUS_CONTENT_TYPES", "is_status_part", "parse_status_parts"]

STATUS_CONTENT_TYPES: Final = frozenset(
    {"message/delivery-status", "message/global-delivery-status", "text/delivery-status"}
)
_NOT_FAILURES: Final = frozenset({"delivered", "relayed", "expanded"})
# Original-Recipient first: it is the address we sent to, before any forwarding or aliasing
# (RFC 3464 section 2.3.1), which is the one to suppress.
_RECIPIENT_FIELDS: Final = ("original-recipient", "final-recipient", "x-actual-recipient")
_MAX_RECIPIENTS = 200


def is_status_part(part: Message) -> bool:
    """True for a part that holds RFC 3464 delivery-status fields."""
    return part.get_content_type() in STATUS_CONTENT_TYPES


def parse_status_parts(parts: list[Message], context_text: str = "") -> list[RecipientOutcome]:
    """Every failed or delayed recipient of the delivery-status parts, in report order.

    `context_text` (the human-readable part of the report) classifies a lone recipient whose
    block has no diagnostic text.
    """
    records: list[dict[str, str]] = []
    for part in parts:
        for block in field_blocks(part):
            records.extend(_recipient_records(block))
    outcomes: list[RecipientOutcome] = []
    seen: set[str] = set()
    for record in records[:_MAX_RECIPIENTS]:
        outcome = _outcome(record, context_text if len(records) == 1 else "")
        if outcome is not None and outcome.address not in seen:
            seen.add(outcome.address)
            outcomes.append(outcome)
    return outcomes


def _recipient_records(block: list[tuple[str, str]]) -> list[dict[str, str]]:
    """Split one field block into per-recipient records (a new one at each Final-Recipient)."""
    records: list[dict[str, str]] = []
    current: dict[str, str] = {}
    for name, value in block:
        key = name.lower()
        if key == "final-recipient" and "final-recipient" in current:
            records.append(current)
            current = {}
        current.setdefault(key, value)
    if any(field in current for field in _RECIPIENT_FIELDS):
        records.append(current)
    return [record for record in records if any(field in record for field in _RECIPIENT_FIELDS)]


def _outcome(record: dict[str, str], context_text: str) -> RecipientOutcome | None:
    address = None
    for field in _RECIPIENT_FIELDS:
        address = clean_address(record.get(field))
        if address:
            break
    if address is None:
        return None
    action = (record.get("action") or "").strip().lower().split(" ", 1)[0].strip(";") or None
    if action in _NOT_FAILURES:
        return None
    diagnostic = _after_type(record.get("diagnostic-code")) or None
    status = normalise_status(record.get("status")) or find_status(diagnostic)
    if action is None and status is not None:
        action = "delayed" if status.startswith("4") else "failed"
    temporary = action == "delayed" or (status or "").startswith("4")
    permanent = action in ("failed", "failure")
    bounce_class, reason = classify(
        status, diagnostic or context_text, temporary=temporary, permanent=permanent
    )
    if diagnostic and context_text and reason in (BounceReason.UNDEFINED, BounceReason.ON_HOLD):
        # The diagnostic says nothing ("Reason 1 (Unable-To-Transfer)"); a lone recipient's
        # report text may ("... gives error message 5.7.1 Unable to relay").
        bounce_class, reason = classify(
            status, context_text, temporary=temporary, permanent=permanent
        )
    return RecipientOutcome(
        address=address,
        action=action,
        status=status,
        remote_mta=_after_type(record.get("remote-mta"))[:255] or None,
        diagnostic=diagnostic[:DIAGNOSTIC_MAX_CHARS] if diagnostic else None,
        bounce_class=bounce_class,
        reason=reason.value,
    )


def _after_type(value: str | None) -> str:
    """`smtp; 550 ...` -> `550 ...`, `dns; mx.example.com` -> `mx.example.com` (RFC 3464 2.3)."""
    if not value:
        return ""
    kind, semicolon, rest = value.partition(";")
    text = rest if semicolon and len(kind) < 20 and " " not in kind.strip() else value
    return " ".join(text.split())[:DIAGNOSTIC_MAX_CHARS]
