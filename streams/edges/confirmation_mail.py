"""Confirmation mail (RFC 5322, `Auto-Submitted: auto-generated` per RFC 3834): the link that
lets someone who typed an address on the unsubscribe page prove it is theirs.

The unsubscribe page of a forged or expired link offers to mail a fresh link to an address the
visitor types (`streams.edges.web.app`). Nothing is unsubscribed on the strength of a typed-in
address: the mail carries a link to the ordinary preference page
(`<unsubscribe_base_url>/u/<token>`), and
only the person who can read that mailbox can open it and choose.

The message is plain text, from `unsubscribe@<bounce domain>`, and says what to do if the reader
asked for nothing. It goes through an SMTP relay (`confirmation_smtp_host`, `_port`) with the
standard library's `smtplib`, in a worker thread so the event loop never blocks. The envelope
sender is the From address. Nothing here logs an address: the relay's refusals are reported by
their SMTP code and exception class only (`smtplib` puts recipients in some exception texts).
"""

from __future__ import annotations

import asyncio
import smtplib
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

from streams.core.clock import utc
from streams.core.errors import SendgateError
from streams.core.recipient import validated_address
from streams.core.settings import Settings

__all__ = [
    "CONFIRMATION_SUBJECT",
    "ConfirmationMailer",
    "ConfirmationNotSentError",
    "build_confirmation",
    "mailable_address",
]

CONFIRMATION_SUBJECT = "Confirm your unsubscribe"
FROM_LOCAL_PART = "unsubscribe"


class ConfirmationNotSentError(SendgateError):
    """The relay did not take the confirmation mail; the message names no address."""


def mailable_address(text: str) -> str | None:
    """The address to send to, as email-validator normalises it (syntax only, never DNS), or
    None when `text` is not one address. International addresses are kept (SMTPUTF8)."""
    valid = validated_address(text.strip())
    if valid is None:
        return None
    return valid.ascii_email or valid.normalized


def build_confirmation(
    *, to: str, link: str, sender: str, sent_at: datetime, sender_domain: str
) -> EmailMessage:
    """The confirmation message: a text body with the link, and headers that say it is automatic
    (RFC 3834 §5), so auto-responders do not answer it."""
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    message["Subject"] = CONFIRMATION_SUBJECT
    message["Date"] = format_datetime(utc(sent_at))
    message["Message-ID"] = make_msgid(domain=sender_domain)
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(
        "Someone, probably you, asked on our unsubscribe page for a link to choose which mail\n"
        "this address gets through us. Here it is:\n"
        "\n"
        f"{link}\n"
        "\n"
        "Nothing changes until you open the link and choose. If you did not ask for this, you\n"
        "can ignore this message.\n",
        cte="7bit",  # the link stays whole in the raw text (no quoted-printable soft breaks)
    )
    return message


class ConfirmationMailer:
    """Sends confirmation links through one SMTP relay."""

    def __init__(
        self,
        *,
        host: str,
        port: int,
        base_url: str,
        sender_domain: str,
        timeout_s: float = 30.0,
    ) -> None:
        self._host = host
        self._port = port
        self._base_url = base_url.rstrip("/")
        self._sender_domain = sender_domain
        self.sender = f"{FROM_LOCAL_PART}@{sender_domain}"
        self._timeout_s = timeout_s

    @classmethod
    def from_settings(cls, settings: Settings) -> ConfirmationMailer | None:
        """The mailer the settings describe; None when no relay is set (then the unsubscribe
        pages offer no confirmation form)."""
        if settings.confirmation_smtp_host is None:
            return None
        return cls(
            host=settings.confirmation_smtp_host,
            port=settings.confirmation_smtp_port,
            base_url=settings.unsubscribe_base_url,
            sender_domain=settings.bounce_domain,
            timeout_s=settings.confirmation_smtp_timeout_s,
        )

    def link(self, token: str) -> str:
        return f"{self._base_url}/u/{token}"

    def message(self, address: str, token: str, sent_at: datetime) -> EmailMessage:
        return build_confirmation(
            to=address,
            link=self.link(token),
            sender=self.sender,
            sent_at=sent_at,
            sender_domain=self._sender_domain,
        )

    async def send(self, address: str, token: str, sent_at: datetime) -> None:
        """Hand the mail to the relay (in a worker thread); `ConfirmationNotSentError` if the
        relay cannot be reached or refuses it."""
        await asyncio.to_thread(self._send, self.message(address, token, sent_at))

    def _send(self, message: EmailMessage) -> None:
        try:
            with smtplib.SMTP(self._host, self._port, timeout=self._timeout_s) as client:
                client.send_message(message)
        except smtplib.SMTPResponseException as exc:
            raise ConfirmationNotSentError(
                f"the relay refused the confirmation mail with {exc.smtp_code}"
            ) from None
        except smtplib.SMTPRecipientsRefused as exc:
            codes = sorted({code for code, _ in exc.recipients.values()})
            raise ConfirmationNotSentError(
                f"the relay refused the recipient with {codes}"
            ) from None
        except (smtplib.SMTPException, OSError) as exc:
            raise ConfirmationNotSentError(
                f"cannot hand the confirmation mail to {self._host} port {self._port}: "
                f"{type(exc).__name__}"
            ) from None
