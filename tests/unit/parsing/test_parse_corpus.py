"""Every development-corpus file whose expectation is known parses to that expectation.

The corpus lives beside the project (`../shared/corpora/`, read in place, never copied: several
files carry licences that must not ship). A missing corpus fails the run instead of skipping it.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from streams.parsing import parse_message

CORPUS = (Path(__file__).resolve().parents[3] / ".." / "shared" / "corpora").resolve()
EXPECTED = CORPUS / "expected.jsonl"

# Files the parser deliberately disagrees with, each with the concrete reason; the expectations
# themselves are never edited.
XFAIL: dict[str, str] = {
    # Mailman counts every permanent failure as a bounce; these say nothing about the address.
    "dsn/mailman/dsn_02.txt": (
        "queue expiry (X.400 Maximum-Time-Expired, Status 4.4.7) is a temporary condition of the "
        "path, not a dead address: class soft, reason expired"
    ),
    "dsn/mailman/sendmail_01.txt": (
        "'Too many hops' is a mail loop at the receiving site (X.4.6 routing): class soft"
    ),
    "dsn/mailman/yahoo_01.txt": (
        "'wasn't able to establish an SMTP connection (#4.4.1)' then queue expiry: a routing "
        "failure, class soft"
    ),
    # The source's own tests assert these are not bounces; the folder made them "dsn".
    "dsn/bounceparser/spam-bogus-email-in-report.msg": "spam mail, not a bounce: kind other",
    "dsn/bounceparser/spam-lots-of-bogus-addresses.msg": "spam mail, not a bounce: kind other",
    "dsn/bounceparser/spam-with-badly-parsed-email.msg": "spam mail, not a bounce: kind other",
    "dsn/bounceparser/spam-with-image.msg": "spam mail (a 'Re:' reply), not a bounce: kind other",
}


def _cases() -> list:
    if not EXPECTED.is_file():
        return [pytest.param(None, id="corpus-missing")]
    rows = [json.loads(line) for line in EXPECTED.read_text("utf-8").splitlines() if line.strip()]
    cases = []
    for row in rows:
        stated = any(row.get(key) is not None for key in ("recipients", "class", "status"))
        stated = stated or row.get("feedback_type") is not None or row.get("kind") is not None
        if not stated:
            continue
        marks = []
        if row["file"] in XFAIL:
            marks.append(pytest.mark.xfail(strict=True, reason=XFAIL[row["file"]]))
        cases.append(pytest.param(row, id=row["file"], marks=marks))
    return cases


def test_xfail_list_names_corpus_files() -> None:
    """Every file in the xfail list exists in the corpus (no stale entries)."""
    assert EXPECTED.is_file(), f"development corpus not found at {CORPUS}"
    files = {json.loads(line)["file"] for line in EXPECTED.read_text("utf-8").splitlines() if line}
    assert set(XFAIL) <= files


@pytest.mark.parametrize("expected", _cases())
def test_corpus_file(expected: dict | None) -> None:
    """The parse of one corpus file matches every value its expectation states."""
    assert expected is not None, (
        f"development corpus not found at {CORPUS}: the tests read it from ../shared/corpora"
    )
    parsed = parse_message((CORPUS / expected["file"]).read_bytes())
    first = parsed.first
    if expected.get("kind") is not None:
        assert parsed.kind == expected["kind"]
    if expected["recipients"] is not None:
        found = {recipient.address for recipient in parsed.recipients}
        assert found == {address.lower() for address in expected["recipients"]}
    if expected["class"] is not None:
        assert first is not None and first.bounce_class == expected["class"]
    if expected["status"] is not None:
        assert first is not None and first.status == expected["status"]
    if expected["feedback_type"] is not None:
        assert parsed.feedback is not None
        assert parsed.feedback.feedback_type == expected["feedback_type"]
