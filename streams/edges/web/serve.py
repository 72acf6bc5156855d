"""Running the unsubscribe service (`streams.edges.web.app`) against the broker: the demo, the
tests, the benchmarks and `sendgate web` all start it this way."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable

from aiohttp import web

from streams.core.clock import SystemClock
from streams.core.errors import SendgateError
from streams.core.recipient import RecipientKeyer
from streams.core.settings import Settings
from streams.edges.admin import check_broker
from streams.edges.confirmation_mail import ConfirmationMailer
from streams.edges.producer import SendgateProducer
from streams.edges.web.app import WebSettings, make_web_app
from streams.policy import load_policy
from streams.sending.signing_keys import unsubscribe_tokens

__all__ = ["free_loopback_port", "serve_unsubscribes"]


def free_loopback_port() -> int:
    """A loopback port nothing listens on now. Whoever starts the service with its links on a
    port of its own (the demo, tests, benchmarks) must give the gate the base URL first, before
    the service listens, so the port is chosen up front."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def serve_unsubscribes(
    settings: Settings,
    *,
    host: str,
    port: int,
    stop: asyncio.Event,
    on_listening: Callable[[int], None] | None = None,
) -> None:
    """Serve until `stop` is set; each action is published and acknowledged before the answer.

    The choices offered come from the policy's `[unsubscribe]` table; confirmation links are
    mailed through `confirmation_smtp_host` when it is set (`streams.edges.confirmation_mail`)."""
    await check_broker(settings)
    policy = load_policy(settings.policy_file)
    tokens = unsubscribe_tokens(settings, policy.unsubscribe)
    web_settings = WebSettings(
        offer_platform_opt_out=policy.unsubscribe.offer_platform_opt_out,
        cadence_choices=policy.unsubscribe.cadence_choices,
    )
    keyer = RecipientKeyer(settings.recipient_secret())
    mailer = ConfirmationMailer.from_settings(settings)
    async with SendgateProducer(settings, keyer=keyer) as producer:
        app = make_web_app(
            tokens, producer.publish, SystemClock(), web_settings, keyer=keyer, mailer=mailer
        )
        runner = web.AppRunner(app, access_log=None)  # access logs would hold client addresses
        await runner.setup()
        try:
            site = web.TCPSite(runner, host, port)
            try:
                await site.start()
            except OSError as exc:
                raise SendgateError(
                    f"cannot listen on {host} port {port}: {exc.strerror or exc}"
                ) from None
            bound = runner.addresses[0][1] if runner.addresses else port
            if on_listening is not None:
                on_listening(bound)
            await stop.wait()
        finally:
            await runner.cleanup()
