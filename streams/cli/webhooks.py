"""`sendgate webhooks`: serve the ESPs' event webhooks (`streams.edges.webhooks.serve`)."""

from __future__ import annotations

import asyncio
import signal
from typing import Annotated

import typer
from rich.console import Console

from streams.core.settings import Settings
from streams.edges.webhooks.app import PATHS
from streams.edges.webhooks.serve import serve_webhooks, webhook_config

__all__ = ["webhooks_command"]


def webhooks_command(
    ctx: typer.Context,
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[
        int, typer.Option("--port", min=0, max=65535, help="Port to listen on, 0: any free.")
    ] = 8090,
) -> None:
    """Take bounces, complaints and deliveries from SES (SNS), SendGrid, Mailgun and Postmark.

    One path per provider (/webhooks/ses, /webhooks/sendgrid, /webhooks/mailgun,
    /webhooks/postmark); each request is authenticated the provider's way, published whole to
    esp-webhooks and answered 200 once Kafka has it, and the worker reads its events. A provider
    whose credentials are not set (SENDGATE_WEBHOOK_*) has every request refused. Put it behind
    HTTPS. Metrics on /metrics.
    """
    settings: Settings = ctx.obj
    console = Console(stderr=True)
    config = webhook_config(settings)
    configured = {
        "ses": bool(config.sns_topic_arns),
        "sendgrid": bool(config.sendgrid_public_key),
        "mailgun": bool(config.mailgun_signing_key),
        "postmark": bool(
            (config.postmark_username and config.postmark_password) or config.postmark_token
        ),
    }

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signal_number in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signal_number, stop.set)

        def listening(bound: int) -> None:
            for esp, path in PATHS.items():
                state = "configured" if configured[esp] else "not configured: refuses all"
                console.print(f"  http://{host}:{bound}{path}  ({state})", highlight=False)
            console.print("serving ESP webhooks; Ctrl-C stops", highlight=False)

        await serve_webhooks(settings, host=host, port=port, stop=stop, on_listening=listening)

    asyncio.run(main())
