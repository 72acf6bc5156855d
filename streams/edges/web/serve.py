"""Running the unsubscribe service (`streams.edges.web.app`) against the broker: the demo, the
tests, the benchmarks and `sendgate web` all start it this way.

The service starts and listens whether or not Kafka is up: a link clicked during an outage must
get a page saying to try again (503), not a refused connection, and the click's retry must find
the service there. The producer connects when first needed and again after a failure
(`streams.edges.web.publishing`); at startup it is tried once so the log says at once whether
Kafka is reachable."""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Callable

from aiohttp import web

from streams.core.clock import SystemClock
from streams.core.errors import SendgateError, ServiceUnavailableError
from streams.core.recipient import RecipientKeyer
from streams.core.settings import Settings
from streams.edges.confirmation_mail import ConfirmationMailer
from streams.edges.web.app import WebSettings, make_web_app
from streams.edges.web.publishing import WebPublisher
from streams.policy import load_policy
from streams.sending.signing_keys import unsubscribe_tokens

__all__ = ["free_loopback_port", "serve_app", "serve_unsubscribes"]

log = logging.getLogger(__name__)


def free_loopback_port() -> int:
    """A loopback port nothing listens on now. Whoever starts the service with its links on a
    port of its own (the demo, tests, benchmarks) must give the gate the base URL first, before
    the service listens, so the port is chosen up front."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def serve_app(
    app: web.Application,
    *,
    host: str,
    port: int,
    stop: asyncio.Event,
    on_listening: Callable[[int], None] | None = None,
) -> None:
    """Serve `app` on `host`:`port` until `stop` is set, telling `on_listening` the port it got
    (0 asks for any free one); `SendgateError` when it cannot listen there. No access log: it
    would hold client addresses."""
    runner = web.AppRunner(app, access_log=None)
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


async def serve_unsubscribes(
    settings: Settings,
    *,
    host: str,
    port: int,
    stop: asyncio.Event,
    on_listening: Callable[[int], None] | None = None,
) -> None:
    """Serve until `stop` is set; each action is published and acknowledged before the answer,
    and answered 503 when Kafka cannot take it.

    The choices offered come from the policy's `[unsubscribe]` table; confirmation links are
    mailed through `confirmation_smtp_host` when it is set (`streams.edges.confirmation_mail`)."""
    policy = load_policy(settings.policy_file)
    tokens = unsubscribe_tokens(settings, policy.unsubscribe)
    web_settings = WebSettings(
        offer_platform_opt_out=policy.unsubscribe.offer_platform_opt_out,
        cadence_choices=policy.unsubscribe.cadence_choices,
    )
    keyer = RecipientKeyer(settings.recipient_secret())
    mailer = ConfirmationMailer.from_settings(settings)
    publisher = WebPublisher(settings, keyer=keyer)
    try:
        try:
            await publisher.connect()
        except ServiceUnavailableError as exc:
            log.warning(
                "serving without Kafka; unsubscribes are answered 503 until it is back: %s", exc
            )
        app = make_web_app(
            tokens, publisher.publish, SystemClock(), web_settings, keyer=keyer, mailer=mailer
        )
        await serve_app(app, host=host, port=port, stop=stop, on_listening=on_listening)
    finally:
        await publisher.close()
