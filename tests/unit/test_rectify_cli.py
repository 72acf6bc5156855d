"""`sendgate rectify`: what it refuses before anything is published, and how it says so."""

from __future__ import annotations

import pytest
from pydantic import SecretStr
from typer.testing import CliRunner

from streams.cli import app
from streams.core.settings import Settings

OLD = "jo.private@exmaple.com"
NEW = "jo.private@example.com"
# Nothing listens on port 1: a command that reached for Kafka would fail loudly.
SETTINGS = Settings(
    kafka_bootstrap_servers="127.0.0.1:1",
    topic_prefix="rectify-cli-unit-",
    recipient_key_secret=SecretStr("rectify-cli-unit-secret-0123456789"),
    publish_retry_s=1,
)


@pytest.mark.parametrize(
    ("args", "problem"),
    [
        ([], "give the old address and the new one"),
        ([OLD], "give the old address and the new one"),
        ([OLD, NEW], "--request-id"),
        ([OLD, NEW, "--request-id", " "], "--request-id"),
        (["not an address", NEW, "--request-id", "t-1"], "the old address is not a valid"),
        ([OLD, "jo@", "--request-id", "t-1"], "the new address is not a valid"),
        ([NEW, NEW, "--request-id", "t-1"], "the same address once normalised"),
        ([NEW, " JO.PRIVATE@EXAMPLE.COM ", "--request-id", "t-1"], "the same address"),
        ([OLD, NEW, "--request-id", "t" * 101], "at most 100"),
        ([OLD, NEW, "--request-id", "t-1", "--by", ""], "--by"),
    ],
)
def test_bad_arguments_are_refused_before_anything_is_published(
    args: list[str], problem: str
) -> None:
    result = CliRunner().invoke(app, ["rectify", *args], obj=SETTINGS)
    assert result.exit_code == 2, result.output
    assert problem in result.output
    assert OLD not in result.output
    assert NEW not in result.output
    assert "Traceback" not in result.output


def test_help_names_both_addresses_and_the_request_id() -> None:
    result = CliRunner().invoke(app, ["rectify", "--help"], obj=SETTINGS)
    assert result.exit_code == 0
    for word in ("OLD_ADDRESS", "NEW_ADDRESS", "--request-id", "--by", "GDPR Art. 16"):
        assert word in result.output


def test_a_broker_that_is_away_is_a_one_line_error_that_says_what_to_do() -> None:
    result = CliRunner().invoke(app, ["rectify", OLD, NEW, "--request-id", "t-1"], obj=SETTINGS)
    assert result.exit_code != 0
    message = str(result.exception)
    assert "run the same command again" in message
    assert OLD not in message
    assert NEW not in message
