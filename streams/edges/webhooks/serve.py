"""Running the ESP webhook service against the broker: `sendgate webhooks`, the demo and the
tests start it this way.

Like the unsubscribe service, it listens whether or not Kafka is up: a provider's request during
an outage gets 503 and is retried by the provider, which is better than a refused connection that
some providers count towards disabling the webhook. The producer is the unsubscribe service's
(`streams.edges.web.publishing`): it connects when first needed and answers within seconds.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import aiohttp
from pydantic import SecretStr

from streams.core.clock import SystemClock
from streams.core.errors import SendgateError, ServiceUnavailableError
from streams.core.recipient import RecipientKeyer
from streams.core.settings import Settings
from streams.edges.web.publishing import WebPublisher
from streams.edges.web.serve import serve_app
from streams.edges.webhooks.app import WebhookConfig, make_webhook_app
from streams.edges.webhooks.certificates import SnsCertificates
from streams.esp.mailgun import SeenTokens

__all__ = ["serve_webhooks", "webhook_config"]

log = logging.getLogger(__name__)

CONFIRM_TIMEOUT_S = 10.0


def webhook_config(settings: Settings) -> WebhookConfig:
    """The service's credentials from the settings; `SendgateError` for half a basic-auth pair
    (the Postmark path would refuse everything, or worse, be mistaken for configured)."""

    def secret(value: SecretStr | None) -> str | None:
        return (value.get_secret_value() if value is not None else None) or None

    if bool(settings.webhook_postmark_username) != bool(secret(settings.webhook_postmark_password)):
        raise SendgateError(
            "set both SENDGATE_WEBHOOK_POSTMARK_USERNAME and SENDGATE_WEBHOOK_POSTMARK_PASSWORD, "
            "or neither"
        )
    return WebhookConfig(
        sns_topic_arns=frozenset(settings.webhook_sns_topic_arns),
        sns_hosts=settings.webhook_sns_hosts,
        sns_confirm_subscriptions=settings.webhook_sns_confirm_subscriptions,
        sendgrid_public_key=settings.webhook_sendgrid_public_key or None,
        mailgun_signing_key=secret(settings.webhook_mailgun_signing_key),
        postmark_username=settings.webhook_postmark_username or None,
        postmark_password=secret(settings.webhook_postmark_password),
        postmark_token=secret(settings.webhook_postmark_token),
        postmark_token_header=settings.webhook_postmark_token_header,
        tolerance_s=settings.webhook_signature_tolerance_s,
        max_body_bytes=settings.webhook_max_body_bytes,
    )


async def serve_webhooks(
    settings: Settings,
    *,
    host: str,
    port: int,
    stop: asyncio.Event,
    on_listening: Callable[[int], None] | None = None,
) -> None:
    """Serve until `stop` is set; each authentic request is published and acknowledged before
    it is answered 200, and answered 503 when Kafka cannot take it."""
    clock = SystemClock()
    config = webhook_config(settings)
    publisher = WebPublisher(settings, keyer=RecipientKeyer(settings.recipient_secret()))
    timeout = aiohttp.ClientTimeout(total=CONFIRM_TIMEOUT_S)
    async with aiohttp.ClientSession(timeout=timeout) as session:

        async def confirm(url: str) -> None:
            async with session.get(url, allow_redirects=False) as answer:
                if answer.status // 100 != 2:
                    raise SendgateError(f"SNS answered {answer.status} {answer.reason}")

        try:
            try:
                await publisher.connect()
            except ServiceUnavailableError as exc:
                log.warning(
                    "serving without Kafka; webhooks are answered 503 until it is back: %s", exc
                )
            app = make_webhook_app(
                config,
                publisher.publish,
                clock,
                certificates=SnsCertificates(settings.webhook_sns_certificates_dir, clock),
                confirm=confirm,
                seen_tokens=SeenTokens(tolerance_s=config.tolerance_s),
            )
            await serve_app(app, host=host, port=port, stop=stop, on_listening=on_listening)
        finally:
            await publisher.close()
