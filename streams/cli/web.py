"""`sendgate web`: serve the one-click unsubscribe links (`streams.web`)."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable
from typing import Annotated

import typer
from aiohttp import web
from rich.console import Console

from streams.admin import check_broker
from streams.app import unsubscribe_tokens
from streams.clock import SystemClock
from streams.errors import SendgateError
from streams.policy import load_policy
from streams.producer import SendgateProducer
from streams.settings import Settings
from streams.web import WebSettings, make_web_app

__all__ = ["serve_unsubscribes", "web_command"]


async def serve_unsubscribes(
    settings: Settings,
    *,
    host: str,
    port: int,
    stop: asyncio.Event,
    on_listening: Callable[[int], None] | None = None,
) -> None:
    """Serve until `stop` is set; each action is published and acknowledged before the answer."""
    await check_broker(settings)
    policy = load_policy(settings.policy_file)
    tokens = unsubscribe_tokens(settings, policy)
    async with SendgateProducer(settings) as producer:
        app = make_web_app(tokens, producer.publish, SystemClock(), WebSettings())
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


def web_command(
    ctx: typer.Context,
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[
        int, typer.Option("--port", min=0, max=65535, help="Port to listen on, 0: any free.")
    ] = 8080,
) -> None:
    """Serve the one-click unsubscribe links (RFC 8058) and the page behind them.

    Put it behind HTTPS at SENDGATE_UNSUBSCRIBE_BASE_URL, which the gate writes into the
    List-Unsubscribe headers of allowed commercial mail.
    """
    settings: Settings = ctx.obj
    console = Console(stderr=True)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signal_number in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signal_number, stop.set)

        def listening(bound: int) -> None:
            console.print(
                f"serving unsubscribe links on http://{host}:{bound}/u/<token> "
                f"(public base URL {settings.unsubscribe_base_url}); Ctrl-C stops",
                highlight=False,
            )

        await serve_unsubscribes(settings, host=host, port=port, stop=stop, on_listening=listening)

    asyncio.run(main())
