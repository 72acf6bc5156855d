"""`sendgate web`: serve the one-click unsubscribe links (`streams.edges.web.serve`)."""

from __future__ import annotations

import asyncio
import signal
from typing import Annotated

import typer
from rich.console import Console

from streams.core.settings import Settings
from streams.edges.web.serve import serve_unsubscribes

__all__ = ["web_command"]


def web_command(
    ctx: typer.Context,
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[
        int, typer.Option("--port", min=0, max=65535, help="Port to listen on, 0: any free.")
    ] = 8080,
) -> None:
    """Serve the one-click unsubscribe links (RFC 8058) and the page behind them.

    Put it behind HTTPS at SENDGATE_UNSUBSCRIBE_BASE_URL, which the gate writes into the
    List-Unsubscribe headers of allowed commercial mail. With SENDGATE_CONFIRMATION_SMTP_HOST
    (and _PORT) set, the pages of expired and forged links offer to mail a fresh link to an
    address typed in; without it they only say what to do instead.
    """
    settings: Settings = ctx.obj
    console = Console(stderr=True)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signal_number in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signal_number, stop.set)

        def listening(bound: int) -> None:
            relay = settings.confirmation_smtp_host
            confirmations = (
                f"links by mail through {relay} port {settings.confirmation_smtp_port}"
                if relay
                else "no links by mail (SENDGATE_CONFIRMATION_SMTP_HOST unset)"
            )
            console.print(
                f"serving unsubscribe links on http://{host}:{bound}/u/<token> "
                f"(public base URL {settings.unsubscribe_base_url}; {confirmations}); Ctrl-C stops",
                highlight=False,
            )

        await serve_unsubscribes(settings, host=host, port=port, stop=stop, on_listening=listening)

    asyncio.run(main())
