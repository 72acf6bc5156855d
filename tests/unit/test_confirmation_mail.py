"""Confirmation mail: what the message says, which addresses it goes to, and a real SMTP relay
(aiosmtpd on loopback) that takes it or refuses it."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from streams.core.settings import Settings
from streams.edges.confirmation_mail import (
    CONFIRMATION_SUBJECT,
    ConfirmationMailer,
    ConfirmationNotSentError,
    build_confirmation,
    mailable_address,
)
from tests.support.smtp import RecordingRelay, free_loopback_port

AT = datetime(2026, 3, 4, 12, 0, tzinfo=UTC)
LINK = "https://unsubscribe.sendgate.example/u/TOKEN"


def mailer(port: int) -> ConfirmationMailer:
    return ConfirmationMailer(
        host="127.0.0.1",
        port=port,
        base_url="https://unsubscribe.sendgate.example/",
        sender_domain="bounces.sendgate.example",
        timeout_s=5,
    )


def test_the_message_is_plain_text_automatic_and_carries_the_link() -> None:
    message = build_confirmation(
        to="jo@example.org",
        link=LINK,
        sender="unsubscribe@bounces.sendgate.example",
        sent_at=AT,
        sender_domain="bounces.sendgate.example",
    )
    assert message["From"] == "unsubscribe@bounces.sendgate.example"
    assert message["To"] == "jo@example.org"
    assert message["Subject"] == CONFIRMATION_SUBJECT == "Confirm your unsubscribe"
    assert message["Auto-Submitted"] == "auto-generated"  # RFC 3834 §5
    assert message["Date"] == "Wed, 04 Mar 2026 12:00:00 +0000"
    assert message["Message-ID"].endswith("@bounces.sendgate.example>")
    assert message.get_content_type() == "text/plain"
    assert f"\n{LINK}\n" in message.as_string()  # whole in the raw text, not quoted-printable
    body = message.get_content()
    assert f"\n{LINK}\n" in body
    assert "Nothing changes until you open the link" in body


@pytest.mark.parametrize(
    ("typed", "mailed"),
    [
        ("  jo.smith@example.org ", "jo.smith@example.org"),
        ("Jo.Smith@Example.ORG", "Jo.Smith@example.org"),  # the local part's case is the owner's
        ("jo@bücher.example", "jo@xn--bcher-kva.example"),
        ("josé@example.org", "josé@example.org"),  # SMTPUTF8
    ],
)
def test_addresses_are_checked_by_syntax_and_kept_as_typed(typed: str, mailed: str) -> None:
    assert mailable_address(typed) == mailed


@pytest.mark.parametrize(
    "typed",
    ["", "jo", "jo@", "@example.org", "Jo <jo@example.org>", "jo@example.org, al@example.org"],
)
def test_anything_but_one_address_is_refused(typed: str) -> None:
    assert mailable_address(typed) is None


def test_no_relay_in_the_settings_means_no_mailer() -> None:
    assert ConfirmationMailer.from_settings(Settings()) is None
    configured = ConfirmationMailer.from_settings(
        Settings(confirmation_smtp_host="relay.example.net", confirmation_smtp_port=587)
    )
    assert configured is not None
    assert configured.sender == "unsubscribe@bounces.sendgate.example"
    assert configured.link("T") == "https://unsubscribe.sendgate.example/u/T"


async def test_the_relay_receives_one_message_to_the_address_from_the_unsubscribe_sender() -> None:
    with RecordingRelay() as relay:
        await mailer(relay.port).send("jo@example.org", "TOKEN", AT)
        [got] = await relay.wait_for(1)
    assert got.mail_from == "unsubscribe@bounces.sendgate.example"
    assert got.rcpt_tos == ("jo@example.org",)
    assert got.message["Auto-Submitted"] == "auto-generated"
    assert LINK in got.message.get_content()


async def test_an_international_address_goes_out_with_smtputf8() -> None:
    with RecordingRelay() as relay:
        await mailer(relay.port).send("josé@example.org", "TOKEN", AT)
        [got] = await relay.wait_for(1)
    assert got.rcpt_tos == ("josé@example.org",)


async def test_a_refusal_is_an_error_that_does_not_name_the_address() -> None:
    with (
        RecordingRelay(refuse_with="554 5.7.1 no thanks") as relay,
        pytest.raises(ConfirmationNotSentError) as caught,
    ):
        await mailer(relay.port).send("jo@example.org", "TOKEN", AT)
    assert "554" in str(caught.value)
    assert "jo@" not in str(caught.value)
    assert caught.value.__cause__ is None and caught.value.__suppress_context__


async def test_a_refused_recipient_is_an_error_that_does_not_name_the_address() -> None:
    with RecordingRelay(refuse_recipients_with="550 5.1.1 unknown") as relay:
        with pytest.raises(ConfirmationNotSentError) as caught:
            await mailer(relay.port).send("jo@example.org", "TOKEN", AT)
        assert relay.received == []
    assert "550" in str(caught.value) and "jo@" not in str(caught.value)


async def test_an_unreachable_relay_is_an_error() -> None:
    with pytest.raises(ConfirmationNotSentError, match="cannot hand"):
        await mailer(free_loopback_port()).send("jo@example.org", "TOKEN", AT)
