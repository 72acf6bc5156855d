"""The notifier's configuration: URLs as they may be shown, what each HTTP answer means, and a
configuration refused with a sentence that says what to set (and never repeats a secret)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic import SecretStr

from streams.core.errors import SendgateError
from streams.core.settings import Settings
from streams.edges.notify.answers import describe_status, judge_status, retry_after_s
from streams.edges.notify.config import notify_config, notify_group, notify_secrets
from streams.edges.notify.receivers import receiver

SECRET = "notify-unit-secret-0123456789"


def settings(tmp_path: Path, **fields: object) -> Settings:
    values: dict[str, object] = {
        "notify_urls": ("https://billing.example.com/hooks/sendgate",),
        "notify_secret": SecretStr(SECRET),
        "notify_secret_file": tmp_path / "notify.secret",
        "topic_prefix": "unit-",
    }
    return Settings(**(values | fields))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("url", "shown", "host"),
    [
        (
            "https://billing.example.com/hooks/sendgate",
            "https://billing.example.com/hooks/sendgate",
            "billing.example.com",
        ),
        (
            "https://ops:pa55@billing.example.com:8443/h?token=t0p#x",
            "https://billing.example.com:8443/h",
            "billing.example.com:8443",
        ),
        ("http://127.0.0.1:8099", "http://127.0.0.1:8099/", "127.0.0.1:8099"),
        ("http://[2001:db8::1]:80/hook", "http://[2001:db8::1]:80/hook", "[2001:db8::1]:80"),
        (
            "  https://BILLING.example.com/x  ",
            "https://billing.example.com/x",
            "billing.example.com",
        ),
    ],
)
def test_a_receiver_is_shown_without_password_query_or_fragment(
    url: str, shown: str, host: str
) -> None:
    parsed = receiver(url)
    assert (parsed.shown, parsed.host) == (shown, host)
    assert parsed.url == url.strip()


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("ftp://files.example.com/x", "must start with http"),
        ("billing.example.com/hook", "must start with http"),
        ("https:///hook", "names no host"),
        ("https://billing.example.com:99999/x", "bad host or port"),
    ],
)
def test_a_url_that_is_no_http_url_is_refused(url: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        receiver(url)


@pytest.mark.parametrize(
    ("status", "verdict"),
    [
        (200, "delivered"),
        (202, "delivered"),
        (204, "delivered"),
        (301, "refused"),
        (302, "refused"),
        (400, "refused"),
        (401, "refused"),
        (404, "refused"),
        (408, "retry"),
        (410, "refused"),
        (413, "refused"),
        (425, "retry"),
        (429, "retry"),
        (500, "retry"),
        (502, "retry"),
        (503, "retry"),
        (599, "retry"),
    ],
)
def test_what_each_answer_means(status: int, verdict: str) -> None:
    assert judge_status(status) == verdict


def test_a_status_is_described_by_its_standard_phrase() -> None:
    assert describe_status(503) == "503 Service Unavailable"
    assert describe_status(429) == "429 Too Many Requests"
    assert describe_status(599) == "599"


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        (None, None),
        ("120", 120.0),
        (" 5 ", 5.0),
        ("Wed, 21 Oct 2015 07:28:00 GMT", None),
        ("-1", None),
        ("1.5", None),
        ("٣", None),
    ],
)
def test_retry_after_is_read_in_seconds_only(header: str | None, seconds: float | None) -> None:
    assert retry_after_s(header) == seconds


def test_urls_come_comma_separated_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(
        "SENDGATE_NOTIFY_URLS", " https://a.example.com/x ,https://b.example.com/y,, "
    )
    assert Settings().notify_urls == ("https://a.example.com/x", "https://b.example.com/y")
    monkeypatch.setenv("SENDGATE_NOTIFY_URLS", '["https://a.example.com/x"]')
    assert Settings().notify_urls == ("https://a.example.com/x",)


def test_a_checked_configuration(tmp_path: Path) -> None:
    config = notify_config(settings(tmp_path, notify_tries=4, notify_retry_base_s=0.5))
    assert [r.shown for r in config.receivers] == ["https://billing.example.com/hooks/sendgate"]
    assert config.secrets == (SECRET.encode(),)
    assert config.group == "unit-sendgate-notify"
    assert (config.policy.tries, config.policy.base_s) == (4, 0.5)
    assert not config.consent_notices


def test_the_group_can_be_named(tmp_path: Path) -> None:
    assert notify_group(settings(tmp_path, notify_group="billing-hooks")) == "billing-hooks"


def test_no_url_is_refused_with_what_to_set(tmp_path: Path) -> None:
    with pytest.raises(SendgateError, match="set SENDGATE_NOTIFY_URLS"):
        notify_config(settings(tmp_path, notify_urls=()))


def test_a_bad_url_is_named_by_position_and_never_repeated(tmp_path: Path) -> None:
    bad = settings(
        tmp_path, notify_urls=("https://a.example.com/x", "ftp://ops:pa55w0rd@b/?k=s3cr3t")
    )
    with pytest.raises(SendgateError) as raised:
        notify_config(bad)
    assert str(raised.value) == "notify URL 2 must start with http:// or https://"


def test_a_url_given_twice_is_refused(tmp_path: Path) -> None:
    twice = ("https://a.example.com/x?k=1", "https://a.example.com/x?k=2")
    with pytest.raises(SendgateError, match=re.escape("https://a.example.com/x is given twice")):
        notify_config(settings(tmp_path, notify_urls=twice))


def test_without_a_secret_it_says_where_to_put_one(tmp_path: Path) -> None:
    with pytest.raises(SendgateError) as raised:
        notify_secrets(settings(tmp_path, notify_secret=None))
    assert "set SENDGATE_NOTIFY_SECRET or create" in str(raised.value)
    assert str(tmp_path / "notify.secret") in str(raised.value)


def test_the_secret_file_holds_one_secret_a_line(tmp_path: Path) -> None:
    (tmp_path / "notify.secret").write_text(
        "# rotation: the new secret first\nnew-secret-0123456789\n\n  old-secret-0123456789  \n"
    )
    assert notify_secrets(settings(tmp_path, notify_secret=None)) == (
        b"new-secret-0123456789",
        b"old-secret-0123456789",
    )


@pytest.mark.parametrize(
    ("content", "problem"),
    [("", "is empty"), ("\n# only a comment\n", "is empty"), ("short\n", "shorter than 16")],
)
def test_an_unusable_secret_file_is_refused(tmp_path: Path, content: str, problem: str) -> None:
    (tmp_path / "notify.secret").write_text(content)
    with pytest.raises(SendgateError, match=problem):
        notify_secrets(settings(tmp_path, notify_secret=None))


def test_a_short_secret_is_refused_without_showing_it(tmp_path: Path) -> None:
    with pytest.raises(SendgateError) as raised:
        notify_secrets(settings(tmp_path, notify_secret=SecretStr("tiny-secret")))
    assert "tiny-secret" not in str(raised.value)
    assert "SENDGATE_NOTIFY_SECRET" in str(raised.value)


def test_the_setting_wins_over_the_file(tmp_path: Path) -> None:
    (tmp_path / "notify.secret").write_text("file-secret-0123456789\n")
    assert notify_secrets(settings(tmp_path)) == (SECRET.encode(),)
