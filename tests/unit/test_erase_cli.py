"""`sendgate erase`: what it refuses before anything is published, and how it says so."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from pydantic import SecretStr
from typer.testing import CliRunner

from streams.cli import app
from streams.core.recipient import RecipientKeyer
from streams.core.records import ErasureRequest
from streams.core.settings import Settings
from streams.edges.ledger import LedgerItem, LedgerWriter, make_engine, upgrade
from streams.privacy.erasure import erasure_event, suppression_place

ADDRESS = "jo.private@example.com"
# Nothing listens on port 1: a command that reached for Kafka would fail loudly.
SETTINGS = Settings(
    kafka_bootstrap_servers="127.0.0.1:1",
    topic_prefix="erase-cli-unit-",
    recipient_key_secret=SecretStr("erase-cli-unit-secret-0123456789"),
    publish_retry_s=1,
)


@pytest.mark.parametrize(
    ("args", "problem"),
    [
        ([], "give the address to erase"),
        ([ADDRESS], "--request-id"),
        ([ADDRESS, "--request-id", " "], "--request-id"),
        (["not an address", "--request-id", "t-1"], "not a valid email address"),
        ([ADDRESS, "--request-id", "t" * 101], "at most 100"),
        ([ADDRESS, "--request-id", "t-1", "--by", ""], "--by"),
        ([ADDRESS, "--status", "t-1"], "--status takes a request id alone"),
    ],
)
def test_bad_arguments_are_refused_before_anything_is_published(
    args: list[str], problem: str
) -> None:
    result = CliRunner().invoke(app, ["erase", *args], obj=SETTINGS)
    assert result.exit_code == 2, result.output
    assert problem in result.output
    assert ADDRESS not in result.output
    assert "Traceback" not in result.output


def test_a_broker_that_is_away_is_a_one_line_error_that_says_what_to_do() -> None:
    result = CliRunner().invoke(app, ["erase", ADDRESS, "--request-id", "t-1"], obj=SETTINGS)
    assert result.exit_code != 0
    message = str(result.exception)
    assert "run the same command again" in message
    assert ADDRESS not in message


def _ledger(tmp_path: Path) -> Settings:
    url = f"sqlite:///{tmp_path / 'ledger.sqlite3'}"
    upgrade(url)
    return SETTINGS.model_copy(update={"database_url": SecretStr(url)})


def test_the_status_of_an_unknown_request_says_so_and_exits_1(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["erase", "--status", "t-404"], obj=_ledger(tmp_path))
    assert result.exit_code == 1
    assert "no erasure with request id t-404" in result.output


def test_the_status_lists_the_steps_reported_and_those_awaited(tmp_path: Path) -> None:
    settings = _ledger(tmp_path)
    key = RecipientKeyer(settings.recipient_secret()).key(ADDRESS)
    asked = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
    request = ErasureRequest(
        request_id="t-7", recipient_key=key, requested_by="dpo", requested_at=asked
    )
    suppressed = erasure_event("t-7", key, "suppressed", (suppression_place(asked),), asked)
    engine = make_engine(settings.database_url.get_secret_value())
    try:
        LedgerWriter(engine).write_batch(
            "g",
            [
                LedgerItem("erasure-requests", 0, 0, request),
                LedgerItem("erasure-events", 0, 0, suppressed),
            ],
            on_erasures=lambda steps: None,
        )
    finally:
        engine.dispose()
    result = CliRunner().invoke(app, ["erase", "--status", "t-7"], obj=settings)
    assert result.exit_code == 0, result.output
    assert "Erasure t-7" in result.output
    assert "requested 2026-11-02T09:00:00.000Z by dpo" in result.output
    for kind in ("state_erased", "ledger_erased", "completed"):
        assert kind in result.output
    # the ledger's own step is published (here: dropped), and stored only once read back
    assert result.output.count("awaited") == 3
    assert "suppressions" in result.output  # the place the suppressed step reported
    assert "kept" in result.output
    assert "Not complete yet" in result.output
    # retention 7 days, plus a segment of a tenth of it, plus the broker's 5-minute look
    assert "expire by 2026-11-10T01:53:00.000Z" in " ".join(result.output.split())
    assert ADDRESS not in result.output
