"""`sendgate parse`: the JSON contract, input order, unreadable files, the table."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from typer.testing import CliRunner

from streams.cli.parse import EXIT_UNREADABLE, parse

MAIL = Path(__file__).resolve().parents[2] / "data" / "mail"
CONTRACT_KEYS = {"file", "kind", "recipients", "feedback_type", "status", "class", "reason"}

app = typer.Typer()
app.command("parse")(parse)


@app.callback()
def _root() -> None:
    """A group, so that the command is invoked by name as under `sendgate`."""


def _invoke(*args: str):
    return CliRunner().invoke(app, ["parse", *args])


def test_json_one_object_per_file_in_input_order() -> None:
    """--json prints one contract object per file, in the order the files were given."""
    files = [MAIL / "verp-dsn-with-our-headers.eml", MAIL / "unsubscribe-en.eml"]
    result = _invoke("--json", *map(str, files))
    assert result.exit_code == 0, result.output
    objects = [json.loads(line) for line in result.stdout.splitlines()]
    assert [item["file"] for item in objects] == [str(path) for path in files]
    assert all(item.keys() >= CONTRACT_KEYS for item in objects)
    dsn, reply = objects
    assert dsn["kind"] == "dsn"
    assert dsn["recipients"] == ["jules@example.org", "kim@example.org"]
    assert (dsn["status"], dsn["class"], dsn["reason"]) == (
        "5.1.1",
        "hard",
        "userunknown",
    )
    assert dsn["per_recipient"][1]["bounce_class"] == "soft"
    assert (reply["kind"], reply["reason"], reply["class"]) == ("other", "reply", None)
    assert reply["reply"]["unsubscribe_requested"] is True


def test_unclassifiable_file_still_exits_zero() -> None:
    """A readable file that is no report is kind other with a reason, and exit 0."""
    result = _invoke("--json", str(MAIL / "empty.eml"))
    assert result.exit_code == 0
    assert json.loads(result.stdout)["reason"] == "empty"


def test_unreadable_files_error_on_stderr_and_the_others_are_printed(tmp_path: Path) -> None:
    """A missing file and a directory: clear errors, no traceback, exit non-zero, rest printed."""
    missing = tmp_path / "missing.eml"
    result = _invoke(
        "--json", str(missing), str(tmp_path), str(MAIL / "vacation-auto-submitted.eml")
    )
    assert result.exit_code == EXIT_UNREADABLE != 0
    assert "Traceback" not in result.output
    assert "cannot read" in result.stderr and "missing.eml" in result.stderr
    assert "is a directory" in result.stderr
    objects = [json.loads(line) for line in result.stdout.splitlines()]
    assert [item["kind"] for item in objects] == ["autoreply"]


def test_table_without_json() -> None:
    """Without --json the result is a readable table."""
    result = _invoke(str(MAIL / "challenge-response.eml"))
    assert result.exit_code == 0
    assert "autoreply" in result.stdout and "kind" in result.stdout
