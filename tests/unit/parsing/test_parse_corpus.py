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
READINGS = Path(__file__).resolve().parents[2] / "data" / "corpus" / "readings.jsonl"
"""A reader's class and reason for corpus files whose stated class follows another definition
(GNU Mailman counts every permanent failure as a bounce; here `hard` means a dead address), each
with the words of the report that decide it. The corpus's own file is never edited."""


def _readings() -> dict[str, dict]:
    rows = [json.loads(line) for line in READINGS.read_text("utf-8").splitlines() if line]
    return {row["file"]: row for row in rows}


# Files the parser deliberately disagrees with, each with the concrete reason; the expectations
# themselves are never edited.
XFAIL: dict[str, str] = {
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
    assert set(_readings()) <= files


def test_readings_change_only_the_class_definition() -> None:
    """A reading overrides a stated `hard` with `soft` only, and says which words decide it."""
    rows = [json.loads(line) for line in EXPECTED.read_text("utf-8").splitlines() if line]
    stated = {row["file"]: row for row in rows}
    for file, reading in _readings().items():
        assert stated[file]["class"] == "hard" and reading["class"] == "soft", file
        assert reading["why"].strip(), file


@pytest.mark.parametrize("expected", _cases())
def test_corpus_file(expected: dict | None) -> None:
    """The parse of one corpus file matches every value its expectation states."""
    assert expected is not None, (
        f"development corpus not found at {CORPUS}: the tests read it from ../shared/corpora"
    )
    parsed = parse_message((CORPUS / expected["file"]).read_bytes())
    reading = _readings().get(expected["file"])
    if reading is not None:
        expected = {**expected, "class": reading["class"]}
        assert parsed.first is not None and parsed.first.reason == reading["reason"]
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
