"""`parse_message` on mutated real mail and on generated messages.

The seeds are the development corpus beside the project (`../shared/corpora`, when present) and
the messages kept in `tests/data/mail`. The moves are the ones hostile or broken mail makes:
flipped and cut bytes, a header repeated thousands of times, damaged MIME boundaries, charsets
Python has never heard of, parts nested far deeper than any report, lines of a megabyte, two
messages spliced, and messages generated from nothing.

The contract under test: `parse_message` returns a `ParsedMessage` for any bytes, and kind
`other` always says why (`model.OtherReason`). Its last resort, catching any exception as
`unparseable`, is itself counted as a crash here: it keeps the gate running, but an exception
there is a parser bug that hides what the message was.
"""

from __future__ import annotations

import logging
import random
from functools import lru_cache
from pathlib import Path
from typing import get_args

from fuzzing.engine import Outcome, Target, accepted, rejected
from fuzzing.mutate import mutate_bytes, random_bytes, random_text
from streams.parsing import ParsedMessage, parse_message
from streams.parsing.model import OtherReason

__all__ = ["CORPUS_DIRS", "SafetyNetError", "seeds", "target"]

_ROOT = Path(__file__).resolve().parents[2]
CORPUS_DIRS = (
    (_ROOT / ".." / "shared" / "corpora").resolve(),
    _ROOT / "tests" / "data" / "mail",
)
_SKIPPED_SUFFIXES = {".md", ".jsonl"}


@lru_cache(maxsize=1)
def seeds() -> tuple[bytes, ...]:
    """Every corpus message at hand, in a fixed order (so a seed replays the same run)."""
    found = []
    for folder in CORPUS_DIRS:
        if folder.is_dir():
            found += sorted(
                path
                for path in folder.rglob("*")
                if path.is_file() and path.suffix.lower() not in _SKIPPED_SUFFIXES
            )
    return tuple(path.read_bytes() for path in found)


class SafetyNetError(AssertionError):
    """The parser raised inside and its catch-all turned that into `unparseable`."""


class _SafetyNetWatch(logging.Filter):
    """Notices the classifier's "parser error" and "too complex" warnings as they are logged."""

    def __init__(self) -> None:
        super().__init__()
        self.caught: list[str] = []

    def filter(self, record: logging.LogRecord) -> bool:
        if record.getMessage().startswith("parser error"):
            self.caught.append(record.getMessage())
        return False  # a fuzz run would print thousands of them


_WATCH = _SafetyNetWatch()

# --- moves -----------------------------------------------------------------------------------


def _split_head(raw: bytes) -> tuple[bytes, bytes, bytes]:
    for separator in (b"\r\n\r\n", b"\n\n"):
        head, found, body = raw.partition(separator)
        if found:
            return head, found, body
    return raw, b"", b""


def _duplicate_header(rnd: random.Random, raw: bytes) -> bytes:
    head, separator, body = _split_head(raw)
    lines = head.split(b"\n")
    line = rnd.choice(lines)
    at = rnd.randint(0, len(lines))
    lines[at:at] = [line] * rnd.choice((2, 10, 100, 1000, 5000))
    return b"\n".join(lines) + separator + body


def _corrupt_boundary(rnd: random.Random, raw: bytes) -> bytes:
    marker = raw.lower().find(b"boundary=")
    if marker < 0:
        return mutate_bytes(rnd, raw)
    start = marker + len(b"boundary=")
    quoted = raw[start : start + 1] == b'"'
    end = raw.find(b'"' if quoted else b"\n", start + 1)
    end = len(raw) if end < 0 else end
    boundary = raw[start + 1 if quoted else start : end].strip(b"; \r")
    move = rnd.randrange(5)
    if move == 0 or not boundary:  # the declared boundary changed, the parts keep the old one
        return raw[:start] + mutate_bytes(rnd, raw[start:end]) + raw[end:]
    if move == 1:  # the closing delimiter removed
        return raw.replace(b"--" + boundary + b"--", b"")
    if move == 2:  # a delimiter inside a part's text
        head, separator, body = _split_head(raw)
        at = rnd.randint(0, len(body))
        return head + separator + body[:at] + b"\n--" + boundary + b"\n" + body[at:]
    if move == 3:  # an empty boundary
        return raw[:start] + b'""' + raw[end:]
    return raw.replace(boundary, mutate_bytes(rnd, boundary), rnd.randint(1, 3))


_CHARSETS = (
    b"utf-8",
    b"utf-7",
    b"utf-16",
    b"utf-32-be",
    b"x-unknown",
    b"",
    b"\xff\xfe",
    b"iso-8859-99",
    b"cp65001",
    b"idna",
    b"rot13",
    b"base64",
    b"zlib",
    b"punycode",
    b"unicode-escape",
    b"..",
    b'"',
)


def _charset_garbage(rnd: random.Random, raw: bytes) -> bytes:
    charset = rnd.choice(_CHARSETS) if rnd.random() < 0.8 else rnd.randbytes(rnd.randint(0, 12))
    marker = raw.lower().find(b"charset=")
    if marker >= 0 and rnd.random() < 0.7:
        start = marker + len(b"charset=")
        end = start
        while end < len(raw) and raw[end : end + 1] not in (b";", b"\n", b"\r"):
            end += 1
        return raw[:start] + b'"' + charset + b'"' + raw[end:]
    head, separator, body = _split_head(raw)
    encoded = rnd.choice((b"?q?caf=E9?=", b"?b?Y2Fmw6k=?=", b"?x?abc?=", b"?q?=?="))
    word = b"=?" + charset + encoded
    return (
        head
        + b"\nSubject: "
        + word
        + b"\nContent-Type: text/plain; charset="
        + charset
        + (separator or b"\n\n")
        + body
    )


def _nest(rnd: random.Random, raw: bytes) -> bytes:
    levels = rnd.choice((2, 10, 39, 40, 41, 60, 200, 1000))
    kind = rnd.randrange(3)
    message = raw
    for level in range(levels):
        if kind == 0 or (kind == 2 and level % 2):
            boundary = f"b{level}".encode()
            message = (
                b"Content-Type: multipart/mixed; boundary="
                + boundary
                + b"\n\n--"
                + boundary
                + b"\n"
                + message
                + b"\n--"
                + boundary
                + b"--\n"
            )
        else:
            message = b"Content-Type: message/rfc822\n\n" + message
    return b"From: nested@example.com\nMIME-Version: 1.0\n" + message


def _huge_line(rnd: random.Random, raw: bytes) -> bytes:
    size = rnd.choice((998, 10_000, 100_000, 1_000_000, 1_100_000))
    line = rnd.choice((b"a", b"=", b" ", b"\xff", b"Diagnostic-Code: smtp; 550 ", b"=?utf-8?q?"))
    line = (line * (size // len(line) + 1))[:size]
    head, separator, body = _split_head(raw)
    if rnd.random() < 0.5:
        return head + b"\nX-Long: " + line + separator + body
    at = rnd.randint(0, len(body))
    return head + separator + body[:at] + b"\n" + line + b"\n" + body[at:]


def _splice(rnd: random.Random, raw: bytes, other: bytes) -> bytes:
    return raw[: rnd.randint(0, len(raw))] + other[rnd.randint(0, len(other)) :]


_TYPES = (
    "text/plain",
    "text/html",
    "multipart/report; report-type=delivery-status",
    "multipart/report; report-type=feedback-report",
    "multipart/mixed",
    "message/delivery-status",
    "message/feedback-report",
    "message/rfc822",
    "text/rfc822-headers",
    "message/global-headers",
    "application/octet-stream",
)
_FIELDS = (
    "Final-Recipient: rfc822; {a}",
    "Original-Recipient: {t}",
    "Action: {w}",
    "Status: {n}.{n}.{n}",
    "Status: {t}",
    "Diagnostic-Code: smtp; {n}{n}{n} {t}",
    "Feedback-Type: {w}",
    "Reported-Domain: {t}",
    "Arrival-Date: {t}",
    "Source-IP: {t}",
    "Original-Rcpt-To: {a}",
    "Auto-Submitted: {w}",
    "X-Sendgate-Request-Id: {t}",
)
_WORDS = ("failed", "delayed", "abuse", "auto-replied", "opt-out", "", "x" * 300)
_ENCODINGS = ("7bit", "base64", "quoted-printable", "8bit", "x-uuencode", "")


def _fill(rnd: random.Random, template: str) -> str:
    return template.format(
        a=rnd.choice(("user@example.com", "<>", "@", "a@b@c", random_text(rnd, 40))),
        t=random_text(rnd, 60),
        w=rnd.choice(_WORDS),
        n=rnd.choice(("2", "4", "5", "9", "999", "")),
    )


def _generated_part(rnd: random.Random, depth: int) -> str:
    content_type = rnd.choice(_TYPES)
    lines = [f"Content-Type: {content_type}"]
    if rnd.random() < 0.3:
        lines.append(f"Content-Transfer-Encoding: {rnd.choice(_ENCODINGS)}")
    if content_type.startswith("multipart") and depth < 4:
        boundary = f"=_{depth}_{rnd.randrange(1000)}"
        lines[0] += f'; boundary="{boundary}"'
        body = "".join(
            f"--{boundary}\n{_generated_part(rnd, depth + 1)}\n" for _ in range(rnd.randint(0, 4))
        )
        body += f"--{boundary}--\n" if rnd.random() < 0.8 else ""
    else:
        body = "\n".join(_fill(rnd, rnd.choice(_FIELDS)) for _ in range(rnd.randint(0, 8)))
    return "\n".join(lines) + "\n\n" + body


def generated(rnd: random.Random) -> bytes:
    """A message made from nothing: report-like headers, parts and fields in random order."""
    head = [
        f"From: {rnd.choice(('MAILER-DAEMON@example.com', 'postmaster@example.net', 'a@b'))}",
        f"Subject: {rnd.choice(('Undelivered Mail', 'Out of office', 'Abuse report', ''))}",
    ]
    text = "\n".join(head) + "\n" + _generated_part(rnd, 0)
    return text.encode("utf-8", "surrogatepass")


def _case(rnd: random.Random) -> tuple[bytes, str | None]:
    corpus = seeds()
    move = rnd.randrange(12)
    if move == 11 or not corpus:
        raw = generated(rnd) if rnd.random() < 0.8 else random_bytes(rnd, 4096)
    else:
        raw = rnd.choice(corpus)
        if move <= 3:
            raw = mutate_bytes(rnd, raw)
        elif move == 4:
            raw = _duplicate_header(rnd, raw)
        elif move == 5:
            raw = _corrupt_boundary(rnd, raw)
        elif move == 6:
            raw = _charset_garbage(rnd, raw)
        elif move == 7:
            raw = _nest(rnd, raw)
        elif move == 8:
            raw = _huge_line(rnd, raw)
        elif move == 9:
            raw = _splice(rnd, raw, rnd.choice(corpus))
        else:
            raw = mutate_bytes(rnd, mutate_bytes(rnd, raw, 3))
    envelope_rcpt = rnd.choice(
        (None, None, "b-abc@bounce.example", "b-@x", "", random_text(rnd, 80))
    )
    return raw, envelope_rcpt


def _check(case: tuple[bytes, str | None]) -> Outcome:
    raw, envelope_rcpt = case
    logger = logging.getLogger("streams.parsing.classify")
    if _WATCH not in logger.filters:
        logger.addFilter(_WATCH)
    _WATCH.caught.clear()
    # flufl.bounce logs the exceptions its own detectors raise and catches (a fuzz run would
    # print thousands of tracebacks); it returns what the other detectors found.
    flufl = logging.getLogger("flufl.bounce")
    was_disabled, flufl.disabled = flufl.disabled, True
    try:
        parsed = parse_message(raw, envelope_rcpt=envelope_rcpt)
    finally:
        flufl.disabled = was_disabled
    if _WATCH.caught:
        raise SafetyNetError(_WATCH.caught[0])
    if not isinstance(parsed, ParsedMessage):
        raise TypeError(f"parse_message returned a {type(parsed).__name__}")
    if parsed.kind == "other":
        return rejected(parsed.reason or "")
    return accepted(parsed.kind)


def _describe(case: tuple[bytes, str | None]) -> str:
    raw, envelope_rcpt = case
    return f"{len(raw)} bytes starting {raw[:120]!r}, envelope_rcpt {envelope_rcpt!r}"


def target() -> Target:
    return Target(
        name="parser",
        what="MIME/DSN/ARF parser (parse_message)",
        reasons=frozenset(get_args(OtherReason)),
        generate=_case,
        check=_check,
        describe=_describe,
    )
