"""What the subject-access report says to the person, in one place for the page and the terminal.

The report is written for someone who never saw the platform: every section has a title and a
sentence saying what it is and why the platform holds it, and coded values (scopes, verdicts,
empty values) are put in words once here, so the HTML page and the terminal cannot drift apart.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from streams.edges.ledger.subject_access import NOT_HELD

__all__ = [
    "INTRODUCTION",
    "NOTHING_HELD",
    "NOT_HELD",
    "SECTIONS",
    "Section",
    "chain_text",
    "day_time",
    "given",
    "held",
    "lists_text",
    "scope_text",
    "verdict_text",
]


@dataclass(frozen=True, slots=True)
class Section:
    key: str
    """The section's key in the JSON document."""
    title: str
    purpose: str
    """What the section holds and why the platform keeps it."""
    empty: str


SECTIONS: dict[str, Section] = {
    section.key: section
    for section in (
        Section(
            "consents",
            "Consents",
            "Each time you gave, confirmed or withdrew consent to mail from a sender that uses "
            "this platform, the sender reported it with its evidence: where and how it was "
            "given, the wording you were shown, and the IP address and browser it came from if "
            "they were captured. The platform keeps these as the proof of consent the law asks "
            "senders to be able to show, linked in a chain so that any later change to them "
            "shows.",
            "No consent event is recorded.",
        ),
        Section(
            "suppressions",
            "Requests to stop mail",
            "Unsubscribes, complaints, addresses that bounced for good, erasure requests and "
            "manual blocks, and when the platform applied them. The platform keeps them so that "
            "mail to you stays stopped, and to show when it was stopped.",
            "No request to stop mail is recorded.",
        ),
        Section(
            "decisions",
            "Decisions about mail to you",
            "Each time a sender asked the platform to send you a message, the platform checked "
            "it against its rules (your consent, your requests to stop mail, the message "
            "itself) and let it go or refused it. The platform keeps each decision and its "
            "reasons as the record of why mail was or was not sent. A request is listed once; "
            "if the platform decided it again (it can happen after a restart), the later "
            "decisions are listed with it.",
            "No decision about mail to you is recorded.",
        ),
        Section(
            "bounces",
            "Delivery failures (bounces)",
            "Reports from mail servers that a message to your address could not be delivered, "
            "and what the platform counted from them. The platform keeps them to stop mailing "
            "an address that does not accept mail.",
            "No delivery failure is recorded.",
        ),
        Section(
            "complaints",
            "Complaints and other feedback",
            "Reports from your mailbox provider about a message to you: mostly that it was "
            "marked as spam, sometimes another kind (not spam, a virus). The platform keeps "
            "them to stop mail you complained about and to hold senders to account.",
            "No complaint or other feedback report is recorded.",
        ),
        Section(
            "erasure",
            "Erasure",
            "Whether you asked for your data to be erased, and what was done where. The "
            "platform keeps this as the record that it honoured the request; what remains "
            "after an erasure is the keyed fingerprint of your address and the block that stops "
            "mail to it.",
            "No erasure request is recorded.",
        ),
    )
}

INTRODUCTION = (
    "This is everything this email platform holds about you in its records. The platform does "
    "not keep your address itself: it keeps a keyed fingerprint of it (shown below), worked out "
    "from the address you gave, and every record is filed under that fingerprint. Times are in "
    "UTC."
)
NOTHING_HELD = "The platform's records hold nothing about this address."


def held(value: object) -> str:
    """A value as text; `NOT_HELD` for one the platform does not hold (None or empty)."""
    if value is None or value == "":
        return NOT_HELD
    return str(value)


def given(value: object) -> str:
    """An optional field of a record (a legal basis, a list): `none given` when the record had
    none, which is not the same as the platform no longer holding it."""
    if value is None or value == "":
        return "none given"
    return str(value)


def day_time(moment: datetime | None) -> str:
    """A time for people: `2025-03-01 12:30:15 UTC`."""
    if moment is None:
        return "none given"
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def lists_text(lists: tuple[str, ...]) -> str:
    return ", ".join(lists) if lists else "all of the sender's mail"


def scope_text(scope: str, account_id: str | None, list_id: str | None) -> str:
    """Whose mail a suppression stops, in words."""
    if scope == "platform":
        return "all mail through this platform"
    if scope == "account" or list_id is None:
        return f"all mail from {account_id}"
    return f"list {list_id} of {account_id}"


def verdict_text(verdict: str) -> str:
    return {"allow": "allowed", "deny": "refused"}.get(verdict, verdict)


def chain_text(verified: bool, entries: int, explanation: str) -> str:
    """The chain check in one sentence."""
    if not entries:
        return "There are no consent records to check."
    if verified:
        return f"All {entries} consent records are as they were written (the chain verifies)."
    return f"The consent records do not verify: {explanation}."
