"""The `sendgate` command line: help everywhere, clear one-line errors, never a traceback."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import typer
from pydantic import SecretStr
from typer.testing import CliRunner

import streams.cli.publish
from streams.cli import (
    EXIT_INTERRUPTED,
    EXIT_SENDGATE_ERROR,
    SUBCOMMANDS,
    app,
    load_subcommand,
    main,
)
from streams.core.errors import SendgateError
from streams.core.recipient import RecipientKeyer
from streams.core.settings import Settings

SECRET = "cli-unit-test-secret-0123456789"
ADDRESS = "jo.private@example.com"
# Nothing listens on port 1: a command that reached for Kafka would fail loudly.
SETTINGS = Settings(
    kafka_bootstrap_servers="127.0.0.1:1",
    topic_prefix="cli-unit-",
    recipient_key_secret=SecretStr(SECRET),
)


def _command_paths(command: Any, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every command and group below `command` (typer vendors click: duck-type the groups); the
    root lists its subcommands unloaded, so they are loaded here as running them would."""
    paths = [prefix]
    for name, listed in getattr(command, "commands", {}).items():
        sub = load_subcommand(name) if not prefix and name in SUBCOMMANDS else listed
        paths += _command_paths(sub, (*prefix, name))
    return paths


ALL_COMMANDS = _command_paths(typer.main.get_command(app))


def _request_rows(count: int) -> list[dict[str, str]]:
    return [
        {
            "request_id": f"req-{n}",
            "account_id": "acct-1",
            "recipient": f"user{n}@example.com",
            "classification": "commercial",
            "from_address": "news@example.org",
            "subject": "Hello",
            "requested_at": "2025-02-28T09:00:00Z",
        }
        for n in range(count)
    ]


def _jsonl(path: Path, rows: list[dict[str, str]]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def _run_main(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    with pytest.raises(SystemExit) as excinfo:
        main(args)
    captured = capsys.readouterr()
    code = excinfo.value.code
    return (code if isinstance(code, int) else 0), captured.out + captured.err


def test_the_expected_commands_exist() -> None:
    """The sub-apps this module owns are registered."""
    for path in [
        ("topics", "create"),
        ("topics", "list"),
        ("publish", "send-requests"),
        ("publish", "unsubscribes"),
        ("publish", "consents"),
        ("consent", "proof"),
        ("keys", "recipient"),
    ]:
        assert path in ALL_COMMANDS


@pytest.mark.parametrize("path", ALL_COMMANDS, ids=lambda path: " ".join(path) or "sendgate")
def test_every_command_has_help(path: tuple[str, ...]) -> None:
    """`--help` works on every command and group and says something."""
    result = CliRunner().invoke(app, [*path, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage" in result.output
    command: Any = load_subcommand(path[0]) if path else typer.main.get_command(app)
    for name in path[1:]:
        command = command.commands[name]
    assert command.help or command.short_help


def test_no_arguments_shows_help(capsys: pytest.CaptureFixture[str]) -> None:
    """Plain `sendgate` explains itself instead of failing silently."""
    code, output = _run_main([], capsys)
    assert "Usage" in output
    assert "Traceback" not in output
    assert code in (0, 2)


def test_missing_input_file_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A path that does not exist is refused before any work, with its name."""
    # Typer draws usage errors in a box as wide as the terminal; a long temporary path would be
    # cut at the default 80 columns.
    monkeypatch.setenv("COLUMNS", "400")
    code, output = _run_main(["publish", "send-requests", str(tmp_path / "nothere.jsonl")], capsys)
    assert code == 2
    assert "nothere.jsonl" in output
    assert "Traceback" not in output


def test_bad_file_fails_with_located_problems_and_no_address(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A bad row ends the command with exit 2, file:line and field, and no address."""
    rows = _request_rows(3)
    rows[1]["requested_at"] = "2025-02-28T09:00:00"
    rows[2]["recipient"] = ADDRESS
    rows[2]["classification"] = "newsletter"
    path = _jsonl(tmp_path / "requests.jsonl", rows)
    code, output = _run_main(["publish", "send-requests", str(path)], capsys)
    assert code == EXIT_SENDGATE_ERROR
    assert output.startswith("error: ")
    assert f"{path}:2: field 'requested_at'" in output
    assert f"{path}:3: field 'classification'" in output
    assert ADDRESS not in output
    assert "Traceback" not in output


def test_unsupported_file_type_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Errors that are not about rows are a single line."""
    path = tmp_path / "requests.txt"
    path.write_text("{}\n")
    code, output = _run_main(["publish", "send-requests", str(path)], capsys)
    assert code == EXIT_SENDGATE_ERROR
    assert output.strip().count("\n") == 0
    assert "unsupported file type" in output


def test_dry_run_validates_without_kafka(tmp_path: Path) -> None:
    """--dry-run needs no broker (the settings point at a closed port)."""
    path = _jsonl(tmp_path / "requests.jsonl", _request_rows(200))
    result = CliRunner().invoke(
        app, ["publish", "send-requests", str(path), "--dry-run"], obj=SETTINGS
    )
    assert result.exit_code == 0, result.output
    assert "200 valid send requests" in result.output


def test_unsubscribes_dry_run(tmp_path: Path) -> None:
    """An unsubscribes file validates with the configured secret."""
    row = {"recipient": ADDRESS, "scope": "platform", "method": "manual", "reason": "manual"}
    path = _jsonl(tmp_path / "clicks.jsonl", [row])
    result = CliRunner().invoke(
        app, ["publish", "unsubscribes", str(path), "--dry-run"], obj=SETTINGS
    )
    assert result.exit_code == 0, result.output
    assert "1 valid unsubscribes" in result.output


def test_keys_recipient_prints_the_key() -> None:
    """The CLI key equals the library's key under the same secret."""
    result = CliRunner().invoke(app, ["keys", "recipient", ADDRESS], obj=SETTINGS)
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == RecipientKeyer(SECRET.encode()).key(ADDRESS)


def test_keys_without_a_secret_is_a_sendgate_error(tmp_path: Path) -> None:
    """No secret configured is our error (so main() prints it), not a crash."""
    settings = Settings(recipient_key_secret_file=tmp_path / "missing.secret")
    result = CliRunner().invoke(app, ["keys", "recipient", ADDRESS], obj=settings)
    assert isinstance(result.exception, SendgateError)
    assert "no recipient key secret" in str(result.exception)


def test_unreachable_broker_is_a_clear_error() -> None:
    """With nothing listening, `topics list` refuses with exit 2 and says how to start Kafka."""
    result = CliRunner().invoke(app, ["topics", "list", "--timeout", "3"], obj=SETTINGS)
    assert isinstance(result.exception, SendgateError)
    assert "scripts/services start" in str(result.exception)


def test_ctrl_c_exits_130(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """An interrupt is not an error to explain: exit 130, no traceback."""

    def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(streams.cli.publish, "validate_file", interrupted)
    path = _jsonl(tmp_path / "requests.jsonl", _request_rows(1))
    code, output = _run_main(["publish", "send-requests", str(path)], capsys)
    assert code == EXIT_INTERRUPTED
    assert "Traceback" not in output
