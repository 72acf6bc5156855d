"""The public corpus (permissively licensed bounces and feedback reports) is whole and consistent.

Integrity only: every expectation names a file, every file has one expectation, every source
folder is listed in SOURCES.md with a permissive licence and keeps that licence's text, and no
message duplicates another one here or one of the development corpus in `../shared/corpora/`.
How well the parser reads these messages is measured elsewhere.

The corpus is part of the project (`tests/data/mail/public/`, each source's licence beside its
messages); the development corpus lives beside the project and is read in place.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
SHARED = (ROOT / ".." / "shared" / "corpora").resolve()
CORPUS = ROOT / "tests" / "data" / "mail" / "public"

# Files beside the messages that are not messages.
META = {"SOURCES.md", "expected.jsonl"}
NOTICES = {"LICENSE", "NOTICE"}
PERMISSIVE = ("MIT", "BSD", "Apache-2.0", "ISC", "CC0", "Unlicense", "MPL-2.0")
KINDS = {"dsn", "arf", "autoreply", "other"}
CLASSES = {None, "hard", "soft"}
# The reason names this project uses (sisimai's published set).
REASONS = {
    None,
    "userunknown",
    "hostunknown",
    "hasmoved",
    "notaccept",
    "mailboxfull",
    "suspend",
    "filtered",
    "blocked",
    "rejected",
    "policyviolation",
    "spamdetected",
    "contenterror",
    "securityerror",
    "authfailure",
    "requireptr",
    "toomanyconn",
    "speeding",
    "exceedlimit",
    "mesgtoobig",
    "norelaying",
    "expired",
    "systemerror",
    "systemfull",
    "networkerror",
    "mailererror",
    "syntaxerror",
    "onhold",
    "vacation",
    "delivered",
    "undefined",
}
STATUS = re.compile(r"[245]\.\d{1,3}\.\d{1,3}")
REQUIRED = ("file", "kind", "recipients", "feedback_type", "status", "class", "reason", "source")


def _digest(data: bytes) -> str:
    """sha256 of the bytes with CRLF and CR line endings normalised to LF."""
    return hashlib.sha256(data.replace(b"\r\n", b"\n").replace(b"\r", b"\n")).hexdigest()


def _rows() -> list[dict]:
    text = (CORPUS / "expected.jsonl").read_text("utf-8")
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def _messages() -> list[Path]:
    return sorted(
        path
        for path in CORPUS.rglob("*")
        if path.is_file() and path.parent != CORPUS and path.name not in NOTICES
    )


def _folders() -> list[Path]:
    return sorted(path for path in CORPUS.iterdir() if path.is_dir())


def test_every_expectation_names_an_existing_file() -> None:
    """Each line of expected.jsonl names a message file inside the corpus."""
    missing = [row["file"] for row in _rows() if not (CORPUS / row["file"]).is_file()]
    assert missing == []


def test_every_file_has_exactly_one_expectation() -> None:
    """Each message file has one line in expected.jsonl, and no file has two."""
    named = [row["file"] for row in _rows()]
    assert len(named) == len(set(named))
    on_disk = {path.relative_to(CORPUS).as_posix() for path in _messages()}
    assert on_disk == set(named)


def test_expectations_have_the_shared_shape() -> None:
    """Each line has the development corpus's keys, with values of the allowed kinds."""
    for row in _rows():
        assert all(key in row for key in REQUIRED), row["file"]
        assert row["kind"] in KINDS, row["file"]
        assert row["class"] in CLASSES, row["file"]
        assert row["reason"] in REASONS, row["file"]
        assert row["status"] is None or STATUS.fullmatch(row["status"]), row["file"]
        assert row["recipients"] is None or isinstance(row["recipients"], list), row["file"]
        assert row.get("class_reading") in CLASSES, row["file"]
        assert row.get("reason_reading") in REASONS, row["file"]


def test_every_folder_is_listed_with_a_permissive_licence() -> None:
    """Each source folder has a SOURCES.md row naming a permissive licence, and a LICENSE file."""
    table = {}
    for line in (CORPUS / "SOURCES.md").read_text("utf-8").splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if line.startswith("|") and len(cells) >= 5:
            table[cells[0]] = cells[4]
    for folder in _folders():
        assert folder.name in table, f"{folder.name} is not in SOURCES.md"
        assert any(name in table[folder.name] for name in PERMISSIVE), folder.name
        assert any((folder / name).is_file() for name in NOTICES), folder.name
        assert not re.search(r"\b(L?GPL|AGPL|Artistic)", table[folder.name]), folder.name


def test_no_message_duplicates_another() -> None:
    """No two messages of the corpus have the same bytes (line endings aside)."""
    seen: dict[str, str] = {}
    for path in _messages():
        digest = _digest(path.read_bytes())
        assert digest not in seen, f"{path.name} duplicates {seen[digest]}"
        seen[digest] = path.name


def test_no_message_duplicates_the_development_corpus() -> None:
    """No message is also in ../shared/corpora (outside its public/ folder)."""
    assert SHARED.is_dir(), f"development corpus not found at {SHARED}"
    shared = {
        _digest(path.read_bytes()): path
        for path in SHARED.rglob("*")
        if path.is_file()
        and path.name not in META | {"README.md"}
        and (SHARED / "public") not in path.parents
    }
    clashes = [path.name for path in _messages() if _digest(path.read_bytes()) in shared]
    assert clashes == []
