"""`sendgate notify` refuses what cannot work before it reaches for Kafka or a receiver: one
line saying what to set, exit code 2, no traceback, no secret and no URL's query in the words."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
from pydantic import SecretStr
from typer.testing import CliRunner

from streams.cli import EXIT_SENDGATE_ERROR, app, main
from streams.core.errors import SendgateError, ServiceUnavailableError
from streams.core.settings import Settings, get_settings
from tests.support.personal_data.collected import SESSION

SECRET = "cli-notify-secret-0123456789"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    # Nothing listens on port 1: a command that reached for Kafka would fail loudly.
    return Settings(
        kafka_bootstrap_servers="127.0.0.1:1",
        topic_prefix="cli-notify-",
        notify_urls=("https://billing.example.com/hooks/sendgate",),
        notify_secret=SecretStr(SECRET),
        notify_secret_file=tmp_path / "notify.secret",
        notify_metrics_port=0,
    )


@pytest.fixture
def busy_port() -> Iterator[int]:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        yield taken.getsockname()[1]


def refusal(settings: Settings, *args: str) -> str:
    result = CliRunner().invoke(app, ["notify", *args], obj=settings)
    assert isinstance(result.exception, SendgateError), result.output
    return str(result.exception)


def test_no_url_says_what_to_set(settings: Settings) -> None:
    assert "set SENDGATE_NOTIFY_URLS" in refusal(settings.model_copy(update={"notify_urls": ()}))


def test_a_bad_url_is_refused_without_repeating_it(settings: Settings) -> None:
    said = refusal(settings, "--url", "https://ok.example.com/x", "--url", "gopher://u:pw@h/?k=s3")
    assert said == "notify URL 2 must start with http:// or https://"


def test_no_secret_says_where_to_put_one(settings: Settings, tmp_path: Path) -> None:
    said = refusal(settings.model_copy(update={"notify_secret": None}))
    assert said.startswith("no notify secret: set SENDGATE_NOTIFY_SECRET or create")


def test_a_metrics_port_in_use_is_one_line(settings: Settings, busy_port: int) -> None:
    said = refusal(settings, "--metrics-port", str(busy_port))
    assert said.startswith(f"cannot serve metrics on 127.0.0.1 port {busy_port}")


@pytest.mark.parametrize("port", ["-1", "65536", "many"])
def test_a_metrics_port_out_of_range_is_a_usage_error(settings: Settings, port: str) -> None:
    result = CliRunner().invoke(app, ["notify", "--metrics-port", port], obj=settings)
    assert result.exit_code == 2
    assert "--metrics-port" in result.output


def test_an_unreachable_broker_is_a_clear_error(settings: Settings) -> None:
    result = CliRunner().invoke(app, ["notify"], obj=settings)
    assert isinstance(result.exception, ServiceUnavailableError)
    assert "Kafka did not answer" in str(result.exception)


def test_a_password_or_an_address_in_a_url_is_never_shown(settings: Settings) -> None:
    """A receiver may take an account's address as its basic-auth user: the command shows the
    URL as scheme, host and path only (and the session's scan looks for the address everywhere)."""
    operator = "billing.ops@example.org"
    SESSION.values.add_address(operator)
    url = f"https://{quote(operator)}:pw-s3cr3t@hooks.example.com/sendgate?token=t0k3n"
    result = CliRunner().invoke(app, ["notify", "--url", url], obj=settings)
    assert isinstance(result.exception, ServiceUnavailableError)
    assert "https://hooks.example.com/sendgate" in result.output
    for hidden in (operator, quote(operator), "pw-s3cr3t", "t0k3n"):
        assert hidden not in result.output


def test_from_the_console_script_it_is_exit_2_and_no_traceback(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    monkeypatch.setenv("SENDGATE_NOTIFY_URLS", "https://billing.example.com/h?token=s3cr3t")
    monkeypatch.setenv("SENDGATE_NOTIFY_SECRET_FILE", str(tmp_path / "none.secret"))
    monkeypatch.delenv("SENDGATE_NOTIFY_SECRET", raising=False)
    get_settings.cache_clear()
    try:
        with pytest.raises(SystemExit) as exited:
            main(["notify"])
    finally:
        get_settings.cache_clear()
    output = capsys.readouterr()
    assert exited.value.code == EXIT_SENDGATE_ERROR
    assert "no notify secret" in output.err
    assert "Traceback" not in output.out + output.err
    assert "s3cr3t" not in output.out + output.err
