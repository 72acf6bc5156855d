"""The mailto half of List-Unsubscribe: the token travels in the subject (RFC 6068)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from streams.core.records import InboundMail
from streams.sending.unsubscribe_tokens import UnsubscribeTokens
from streams.suppression.mailto import is_mailto_unsubscribe, mailto_unsubscribe
from streams.suppression.unsubscribe import click_for
from tests.support.factory import inbound_mail

NOW = datetime(2026, 3, 4, 12, 0, tzinfo=UTC)
TOKENS = UnsubscribeTokens({1: b"m" * 32}, 1, valid_for=timedelta(days=365))
DOMAIN = "bounces.example.net"


def token(at: datetime = NOW) -> str:
    return TOKENS.issue(
        recipient_key="12" * 32, account_id="acme", list_id="news", request_id="r9", issued_at=at
    )


def mail(subject: str | None, to: str = f"unsubscribe-mail@{DOMAIN}") -> InboundMail:
    header = f"Subject: {subject}\r\n" if subject is not None else ""
    raw = f"From: someone@example.org\r\nTo: {to}\r\n{header}\r\nunsubscribe\r\n".encode()
    return inbound_mail(received_at=NOW, mail_from="someone@example.org", rcpt_to=(to,), raw=raw)


@pytest.mark.parametrize("subject", ["{t}", "Re: {t}", "RE: Fwd: {t}", "unsubscribe {t}"])
def test_the_token_in_the_subject_is_the_same_unsubscribe_as_the_one_click(subject: str) -> None:
    text = token()
    click = mailto_unsubscribe(mail(subject.format(t=text)), TOKENS, now=NOW)
    assert not isinstance(click, str)
    one_click = click_for(TOKENS.verify(text, now=NOW), "list", NOW)
    assert click.click_id == one_click.click_id  # a POST and a mail are one unsubscribe
    assert (click.scope, click.account_id, click.list_id, click.method) == (
        "list",
        "acme",
        "news",
        "reply",
    )


def test_bad_expired_and_missing_tokens_are_reasons_not_unsubscribes() -> None:
    assert "no token" in mailto_unsubscribe(mail(None), TOKENS, now=NOW)
    assert "invalid token" in mailto_unsubscribe(mail(token()[:-4]), TOKENS, now=NOW)
    old = mail(token(at=NOW - timedelta(days=400)))
    assert "expired" in mailto_unsubscribe(old, TOKENS, now=NOW)


def test_only_mail_to_the_unsubscribe_address_is_taken() -> None:
    assert is_mailto_unsubscribe(mail("x"), DOMAIN)
    assert is_mailto_unsubscribe(mail("x", to=f"<Unsubscribe-Mail@{DOMAIN.upper()}>"), DOMAIN)
    assert not is_mailto_unsubscribe(mail("x", to=f"unsubscribe-other@{DOMAIN}"), DOMAIN)
    assert not is_mailto_unsubscribe(mail("x", to="unsubscribe-mail@elsewhere.example"), DOMAIN)
