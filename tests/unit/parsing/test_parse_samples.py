"""Our own sample messages (tests/data/mail), one expectation per file, in one table."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest

from streams.parsing import parse_message

MAIL = Path(__file__).resolve().parents[2] / "data" / "mail"
VERP_RCPT = "b-7Q2fK9xL@bounces.example.com"


@dataclass(frozen=True)
class Expect:
    """What one sample file must parse to (None: not checked)."""

    file: str
    kind: str
    reason: str | None = None
    recipients: tuple[tuple[str, str | None, str | None, str | None], ...] = ()
    autoreply: str | None = None
    unsubscribe: bool | None = None
    language: str | None = None
    original: dict[str, str] = field(default_factory=dict)
    envelope_rcpt: str | None = None


SAMPLES = (
    Expect("vacation-auto-submitted.eml", "autoreply", autoreply="vacation"),
    Expect("out-of-office-de-subject-only.eml", "autoreply", autoreply="vacation"),
    Expect("challenge-response.eml", "autoreply", autoreply="challenge"),
    Expect("unsubscribe-en.eml", "other", "reply", unsubscribe=True, language="en"),
    Expect("unsubscribe-de.eml", "other", "reply", unsubscribe=True, language="de"),
    Expect("unsubscribe-fr.eml", "other", "reply", unsubscribe=True, language="fr"),
    Expect("unsubscribe-es.eml", "other", "reply", unsubscribe=True, language="es"),
    Expect("reply-not-unsubscribe.eml", "other", "reply", unsubscribe=False),
    Expect("malformed-mime.eml", "other", "not-a-report"),
    Expect(
        "wrong-charset-bounce.eml",
        "dsn",
        recipients=(("ivan@example.org", None, "hard", "userunknown"),),
    ),
    Expect("deeply-nested.eml", "other", "too-deeply-nested"),
    Expect("empty.eml", "other", "empty"),
    Expect(
        "verp-dsn-with-our-headers.eml",
        "dsn",
        recipients=(
            ("jules@example.org", "5.1.1", "hard", "userunknown"),
            ("kim@example.org", "4.2.2", "soft", "mailboxfull"),
        ),
        original={
            "message_id": "<send-7@mail.example.com>",
            "request_id": "req-0001-abcd",
            "account_id": "acct-42",
            "verp_token": "7Q2fK9xL",
        },
        envelope_rcpt=VERP_RCPT,
    ),
)


def test_every_sample_file_has_a_row() -> None:
    """No sample file sits in tests/data/mail without an expectation (feedback-loop samples in
    its `arf` folder have theirs in test_parse_arf)."""
    files = {path.name for path in MAIL.iterdir() if path.is_file()}
    assert files == {sample.file for sample in SAMPLES}


@pytest.mark.parametrize("sample", SAMPLES, ids=[sample.file for sample in SAMPLES])
def test_sample(sample: Expect) -> None:
    """The sample parses to its row of the table."""
    parsed = parse_message((MAIL / sample.file).read_bytes(), envelope_rcpt=sample.envelope_rcpt)
    assert parsed.kind == sample.kind
    assert parsed.reason == sample.reason
    got = tuple(
        (item.address, item.status, item.bounce_class, item.reason) for item in parsed.recipients
    )
    assert got == tuple(
        (address, status, bounce_class, reason)
        for address, status, bounce_class, reason in sample.recipients
    )
    assert (parsed.autoreply.kind if parsed.autoreply else None) == sample.autoreply
    if sample.unsubscribe is not None:
        assert parsed.reply is not None
        assert parsed.reply.unsubscribe_requested is sample.unsubscribe
        assert parsed.reply.language == sample.language
    for name, value in sample.original.items():
        assert getattr(parsed.original, name) == value
