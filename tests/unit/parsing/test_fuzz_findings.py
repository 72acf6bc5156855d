"""What fuzzing the parser found (`tests/fuzz`, `benchmarks/fuzz.py`), each kept as an example.

Each case used to end in `parse_message`'s catch-all (kind `other`, reason `unparseable`, and a
"parser error" warning), or took seconds; the parse must read them now, quickly.
"""

from __future__ import annotations

import email
import logging
import time
from email import policy

import pytest

from streams.parsing import parse_message
from streams.parsing.mime import MAX_DEPTH, field_blocks, walk


def _nested(levels: int, inner: bytes) -> bytes:
    message = b"Subject: x\n\n" + inner
    for level in range(levels):
        boundary = f"b{level}".encode()
        message = (
            b"Content-Type: multipart/mixed; boundary=" + boundary + b"\n\n--" + boundary
            + b"\n" + message + b"\n--" + boundary + b"--\n"
        )  # fmt: skip
    return b"From: a@example.com\n" + message


def test_a_delay_warning_for_two_recipients_names_both(caplog: pytest.LogCaptureFixture) -> None:
    """The loop over recipients rebound the set of permanent failures to a bool, so the second
    recipient of a warning raised TypeError."""
    raw = (
        b"From: Mail Delivery System <MAILER-DAEMON@mx.example>\n"
        b"Subject: Warning: message delayed\n\n"
        b"This is a warning message only; the mail system will keep trying.\n\n"
        b"The following addresses had transient delivery problems:\n\n"
        b"  first.person@example.com\n    550 mailbox full\n\n"
        b"  second.person@example.org\n    450 try again later\n"
    )
    with caplog.at_level(logging.WARNING):
        parsed = parse_message(raw)
    assert parsed.kind == "dsn"
    assert [r.address for r in parsed.recipients] == [
        "first.person@example.com",
        "second.person@example.org",
    ]
    assert not caplog.records


def test_text_that_decodes_to_a_lone_surrogate_is_read() -> None:
    """UTF-7 decodes `+2AA-` to a lone surrogate, which the recipient's diagnostic could not
    hold (pydantic refuses it): the whole bounce was lost to a ValidationError."""
    raw = (
        b"From: Mail Delivery System <MAILER-DAEMON@mx.example>\n"
        b"Subject: Undelivered Mail Returned to Sender\n"
        b"Content-Type: text/plain; charset=utf-7\n\n"
        b"I'm sorry to have to inform you that your message could not be delivered.\n\n"
        b"<first.person@example.com>: host mx.example said: 550 5.1.1 user unknown +2AA-\n"
    )
    parsed = parse_message(raw)
    assert parsed.kind == "dsn"
    [recipient] = parsed.recipients
    assert (recipient.address, recipient.status) == ("first.person@example.com", "5.1.1")
    assert recipient.diagnostic is not None and recipient.diagnostic.endswith("unknown ?")


def test_report_fields_with_text_beyond_ascii_are_read() -> None:
    """A sub-part body holding real non-ASCII characters (not surrogate escapes) raised
    UnicodeEncodeError."""
    part = email.message_from_string(
        "Content-Type: message/feedback-report\n\nFeedback-Type: abuse\n\nUser-Agent: caf\u00e9\n",
        policy=policy.compat32,
    )
    assert field_blocks(part) == [[("Feedback-Type", "abuse")], [("User-Agent", "caf\u00e9")]]


def test_a_charset_whose_codec_raises_does_not_stop_the_walk() -> None:
    """compat32 decodes an 8-bit leaf with its declared charset; the punycode codec raises
    UnicodeDecodeError even with errors="replace"."""
    raw = b"From: a@example.com\nContent-Type: text/plain; charset=punycode\n\ncaf\xc3\xa9-\xf3\n"
    message = email.message_from_bytes(raw, policy=policy.compat32)
    assert len(list(walk(message))) == 1
    assert parse_message(raw).reason == "not-a-report"


@pytest.mark.parametrize(
    ("levels", "filler", "reason"),
    [
        (MAX_DEPTH + 260, b"a\n" * 200_000, "too-deeply-nested"),
        (MAX_DEPTH, b"\n" * 500_000, "not-a-report"),
        (2, b"\n" * 1_000_000, "not-a-report"),
    ],
    ids=["deeper-than-allowed", "as-deep-as-allowed", "shallow-but-a-million-lines"],
)
def test_deep_nesting_of_many_lines_takes_well_under_a_second(
    levels: int, filler: bytes, reason: str
) -> None:
    """The stdlib parser checks each line against every enclosing boundary: 300 levels of
    200,000 lines took 5 s, 40 levels of 500,000 blank lines 1.8 s."""
    raw = _nested(levels, filler)
    started = time.perf_counter()
    parsed = parse_message(raw)
    assert time.perf_counter() - started < 1.0
    assert parsed.reason == reason
