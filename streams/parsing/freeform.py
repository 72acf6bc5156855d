"""Recognise non-standard bounces (no RFC 3464 part) and find their failed recipients.

Many MTAs (qmail, Exim 3, old Exchange and Domino, Yahoo, webmail systems) write bounces as
prose. Recognition uses the sender (MAILER-DAEMON, postmaster), the subject and telling phrases
in the opening of the text. Recipients come from flufl.bounce's provider detectors, which know
many of these layouts; when they find nothing, a generic reading of the report text (above the
returned copy of the message) takes every address that is not the bounce's own sender, receiver
or a role mailbox. Each recipient is then classified from the lines around its address (RFC
3463 code if one is written there, else the phrase patterns of `taxonomy`, through `diagnosis`).
"""

from __future__ import annotations

import email
import logging
from email import policy
from email.message import Message
from typing import Final

from flufl.bounce import all_failures

from streams.core.bounce_reasons import BounceReason
from streams.parsing.addresses import clean_address, find_addresses
from streams.parsing.diagnosis import classify, find_status
from streams.parsing.mime import header
from streams.parsing.model import DIAGNOSTIC_MAX_CHARS, RecipientOutcome
from streams.parsing.replies import opening_lines

__all__ = [
    "FLUFL_MAX_BYTES",
    "FLUFL_MAX_LINE",
    "extract_recipients",
    "find_addresses_quick",
    "looks_like_bounce",
    "report_text_above_copy",
]

_log = logging.getLogger(__name__)

_DAEMON_LOCALS: Final = (
    "mailer-daemon",
    "mailer_daemon",
    "mailerdaemon",
    "mail-daemon",
    "postmaster",
    "mdaemon",
    "mail.delivery",
    "mail-delivery",
)
_DAEMON_NAMES: Final = ("mail delivery", "mailer-daemon", "delivery subsystem", "postmaster")
_SUBJECT_PHRASES: Final = (
    "undeliver",
    "undelivered",
    "delivery fail",
    "delivery status notification",
    "delivery notification",
    "failure notice",
    "returned mail",
    "mail delivery failed",
    "delivery problem",
    "non-delivery",
    "non delivery",
    "nondeliverable",
    "not delivered",
    "could not be delivered",
    "mail error",
    "delivery failure",
    "returned to sender",
    "error during delivery",
    "mail delivery warning",
    "delivery warning",
    "message delayed",
    "has not yet been delivered",
    "delayed 24 hours",
    "automatically rejected mail",
    "nameserver error",
    "processing error",
    "nicht zustellbar",
    "unzustellbar",
    "non remis",
    "no entregado",
)
_BODY_PHRASES: Final = (
    "could not be delivered",
    "couldn't be delivered",
    "was not delivered",
    "were not delivered",
    "undeliverable",
    "delivery has failed",
    "permanent error",
    "permanent fatal",
    "this is the qmail-send program",
    "mail delivery software",
    "delivery to the following recipient",
    "the following address(es) failed",
    "did not reach the following recipient",
    "failed to deliver",
    "unable to deliver",
    "could not deliver",
    "not be delivered to",
    "delivery failure",
)
_WARNING_PHRASES: Final = (
    "has not yet been delivered",
    "has not been delivered yet",
    "will continue to try",
    "will be retried",
    "still trying",
    "not yet been delivered",
    "delivery is delayed",
    "message delayed",
    "this is a warning",
    "warning: message",
    "delivery delayed",
    "no action is required on your part",
)
# A line that starts the returned copy of the original message.
_COPY_MARKERS: Final = (
    "below this line is a copy of the message",
    "original message follows",
    "original message follow:",
    "returned mail follows",
    "returned message follows",
    "the header and top",
    "copy of the message",
    "copy of the original message",
    "message headers follow",
    "unsent message below",
    "text of the original message",
    "original message header",
    "original message as received",
    "the first part of the message",
    "--- original message",
    "----- original message",
    "-----original message-----",
    "------ returned mail ------",
    "-------- returned mail --------",
    "message text follows",
)
_ROLE_LOCALS: Final = frozenset(
    {"postmaster", "mailer-daemon", "mailer_daemon", "mailerdaemon", "mdaemon", "abuse", "root"}
)
_HEADER_LINE_PREFIXES: Final = (
    "received:",
    "from:",
    "return-path:",
    "message-id:",
    "reply-to:",
    "sender:",
    "in-reply-to:",
    "references:",
    "errors-to:",
    "x-",
    "list-",
    "delivered-to:",
    "mail from:",
    "envelope-from",
    "(envelope-from",
    "by ",
)
FLUFL_MAX_BYTES: Final = 8 * 1024
FLUFL_MAX_LINE: Final = 512
_MAX_FALLBACK_RECIPIENTS = 20
_OPENING_CHARS = 4096
_FORWARDED_OPENING_LINES = 5
_CONTEXT_LINES = 4
_CONTEXT_OCCURRENCES = 3
_CONTEXT_CHARS = 1200


def looks_like_bounce(message: Message, text: str) -> bool:
    """True when sender, subject or opening text says "this is a delivery failure report"."""
    sender = header(message, "From").casefold()
    address = clean_address(sender) or ""
    local = address.partition("@")[0]
    daemon = local.startswith(_DAEMON_LOCALS) or any(name in sender for name in _DAEMON_NAMES)
    if not address and "<>" in sender:
        daemon = True
    subject = header(message, "Subject").casefold().strip()
    forwarded = subject.startswith(("re:", "fw:", "fwd:", "aw:", "wg:"))
    if daemon:
        return True
    if not forwarded and any(phrase in subject for phrase in _SUBJECT_PHRASES):
        return True
    if forwarded:
        # "RE: ..." may be a human quoting a bounce: only the unquoted opening counts.
        opening = " ".join(opening_lines(text, _FORWARDED_OPENING_LINES)).casefold()
    else:
        opening = text[:_OPENING_CHARS].casefold()
    return any(phrase in opening for phrase in _BODY_PHRASES)


def report_text_above_copy(text: str) -> str:
    """The bounce's own text: everything above the line that starts the returned message."""
    position = 0
    for line in text.splitlines(keepends=True):
        folded = line.casefold()
        if position and any(marker in folded for marker in _COPY_MARKERS):
            return text[:position]
        position += len(line)
    return text


def extract_recipients(
    message: Message, report_text: str, raw: bytes | None = None
) -> list[RecipientOutcome]:
    """Failed recipients of a free-form bounce, each classified from its surrounding lines.

    `raw` (the message's bytes) lets flufl.bounce read a bounded copy; see `_flufl`.
    """
    temporary, permanent = _flufl(message, raw)
    above = report_text_above_copy(report_text)
    found = list(dict.fromkeys([*sorted(permanent), *sorted(temporary - permanent)]))
    if not found:
        found = _generic(message, above)
    warning = any(phrase in above[:_OPENING_CHARS].casefold() for phrase in _WARNING_PHRASES)
    warning = warning or "warning" in header(message, "Subject").casefold()
    outcomes = []
    for address in found:
        context = _context(above, address)
        is_temporary = address in temporary or (warning and address not in permanent)
        status = find_status(context)
        is_permanent = not is_temporary
        bounce_class, reason = classify(
            status, context, temporary=is_temporary, permanent=is_permanent
        )
        if reason in (BounceReason.UNDEFINED, BounceReason.ON_HOLD):
            # Its own lines say nothing: the report's text is about every recipient it names
            # ("... the following addresses failed: <a> <b> ... 550 user unknown").
            status = status or find_status(above)
            bounce_class, reason = classify(
                status, above, temporary=is_temporary, permanent=is_permanent
            )
        outcomes.append(
            RecipientOutcome(
                address=address,
                action="delayed" if is_temporary else "failed",
                status=status,
                diagnostic=" ".join(context.split())[:DIAGNOSTIC_MAX_CHARS] or None,
                bounce_class=bounce_class,
                reason=reason.value,
            )
        )
    return outcomes


def _flufl(message: Message, raw: bytes | None) -> tuple[set[str], set[str]]:
    """flufl.bounce's temporary and permanent failures, as lower-cased text addresses.

    Some of its detectors search long lines with backtracking regexes (quadratic on a 20 KB
    line of `<`), so when the raw bytes are at hand flufl.bounce reads a bounded copy: the first
    `FLUFL_MAX_BYTES`, each line cut at `FLUFL_MAX_LINE` bytes. Report lines that name a failed
    recipient are short, and the report comes first.
    """
    if raw is not None:
        head = raw[:FLUFL_MAX_BYTES]
        lines = head.split(b"\n")
        if len(head) < len(raw) or any(len(line) > FLUFL_MAX_LINE for line in lines):
            bounded = b"\n".join(line[:FLUFL_MAX_LINE] for line in lines)
            try:
                message = email.message_from_bytes(bounded, policy=policy.compat32)
            except Exception:
                return set(), set()
    try:
        temporary, permanent = all_failures(message)
    except Exception as error:  # a detector tripping over a broken message must not stop us
        # Only the type: flufl's messages may quote the address.
        _log.debug("flufl.bounce raised %s; generic reading only", type(error).__name__)
        return set(), set()
    return _texts(temporary), _texts(permanent)


def _texts(values: object) -> set[str]:
    found: set[str] = set()
    for value in values or ():  # type: ignore[attr-defined]
        text = value.decode("latin-1") if isinstance(value, bytes) else str(value)
        address = clean_address(text)
        if address:
            found.add(address)
    return found


def _generic(message: Message, above: str) -> list[str]:
    """Every address in the bounce's own text that is not its sender, receiver or a role box."""
    excluded = {
        address
        for name in ("From", "To", "Cc", "Sender", "Return-Path", "Reply-To", "Delivered-To")
        for _, address in find_addresses(header(message, name), limit=20)
    }
    found: list[str] = []
    for line in above.splitlines():
        stripped = line.strip().casefold()
        # A header line, or any `>`-quoted line (a returned copy quoted inline), names the
        # message's own senders and relays, never a failed recipient.
        if stripped.startswith(_HEADER_LINE_PREFIXES) or stripped.startswith(">"):
            continue
        for _, address in find_addresses(line, limit=10):
            local = address.partition("@")[0]
            if address in excluded or local in _ROLE_LOCALS or address in found:
                continue
            found.append(address)
            if len(found) >= _MAX_FALLBACK_RECIPIENTS:
                return found
    return found


def _context(text: str, address: str) -> str:
    """The lines that name `address` and the few lines after each (its diagnostic)."""
    folded = text.casefold()
    pieces: list[str] = []
    at = folded.find(address)
    while at >= 0 and len(pieces) < _CONTEXT_OCCURRENCES:
        start = folded.rfind("\n", 0, at) + 1
        lines = text[start : start + _CONTEXT_CHARS].splitlines()[: _CONTEXT_LINES + 1]
        kept = [lines[0]] if lines else []
        for line in lines[1:]:
            if not line.strip() or find_addresses_quick(line):
                break  # a blank line or the next recipient ends this one's diagnostic
            kept.append(line)
        pieces.append("\n".join(kept))
        at = folded.find(address, start + len(pieces[-1]) + 1)
    return "\n".join(pieces)


def find_addresses_quick(line: str) -> bool:
    """True when a line names an address (cheap test for "the next recipient starts here")."""
    return "@" in line and any(True for _ in find_addresses(line, limit=2))
