"""`sendgate notify`: enforcement events POSTed, signed, to HTTP receivers
(`streams.edges.notify`)."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from typing import Annotated

import typer
from prometheus_client import start_http_server
from rich.console import Console
from rich.markup import escape

from streams.core.errors import SendgateError
from streams.core.settings import Settings
from streams.edges.notify import Delivery, FailedTry, NotifyTotals, notify_config, run_notifier
from streams.topics import CONSENT_NOTICES, ENFORCEMENT_EVENTS

__all__ = ["notify"]


def notify(
    ctx: typer.Context,
    urls: Annotated[
        list[str] | None,
        typer.Option(
            "--url",
            metavar="URL",
            help="Where to POST the events, instead of SENDGATE_NOTIFY_URLS; repeat for several.",
            show_default=False,
        ),
    ] = None,
    metrics_port: Annotated[
        int | None,
        typer.Option(
            "--metrics-port",
            min=0,
            max=65535,
            help="Serve Prometheus metrics (deliveries, failed tries, dead letters, lag) on this "
            "port of the metrics_host setting (default: the notify_metrics_port setting, 9467; "
            "0: none).",
            show_default=False,
        ),
    ] = None,
) -> None:
    """POST enforcement events, signed, to HTTP receivers; retry, then dead-letter.

    Every event on enforcement-events goes to every URL as JSON, signed with HMAC-SHA-256
    (SENDGATE_NOTIFY_SECRET, or the notify_secret_file), in each account's order. A URL that
    does not answer 2xx is tried again with exponential backoff (SENDGATE_NOTIFY_TRIES tries in
    all); after the last, or at once for a 4xx that is not 408, 425 or 429, the event goes to
    dead-letters for that URL. An event's offset is committed only then, in the consumer group
    SENDGATE_NOTIFY_GROUP (default <prefix>sendgate-notify), so a restart delivers again what
    was not finished; receivers dedupe on the event id. Runs until Ctrl-C.
    """
    settings = ctx.ensure_object(Settings)
    if urls:
        settings = settings.model_copy(update={"notify_urls": tuple(urls)})
    config = notify_config(settings)
    port = settings.notify_metrics_port if metrics_port is None else metrics_port
    if port:
        try:
            start_http_server(port, addr=settings.metrics_host)
        except OSError as exc:
            raise SendgateError(
                f"cannot serve metrics on {settings.metrics_host} port {port}: "
                f"{exc.strerror or exc}"
            ) from None
    console = Console(stderr=True, highlight=False, soft_wrap=True)
    topics = [ENFORCEMENT_EVENTS.full_name(settings)]
    if config.consent_notices:
        topics.append(CONSENT_NOTICES.full_name(settings))
    plural = "s" if len(config.receivers) > 1 else ""
    console.print(
        f"notifying {len(config.receivers)} receiver{plural} of {' and '.join(topics)} "
        f"(consumer group {config.group}"
        + (f", metrics on {settings.metrics_host}:{port}" if port else "")
        + "); Ctrl-C stops"
    )
    for receiver in config.receivers:
        console.print(f"  {escape(receiver.shown)}")

    def show(delivery: Delivery) -> None:
        where = f"{delivery.topic}/{delivery.partition}/{delivery.offset}"
        event = f"{escape(delivery.event_type)} {escape(delivery.event_id)} ({where})"
        if delivery.outcome == "delivered":
            tries = "" if delivery.attempts == 1 else f" on try {delivery.attempts}"
            console.print(f"[green]delivered[/] {event} to {escape(delivery.receiver)}{tries}")
        else:
            console.print(f"[red]dead-lettered[/] {event}: {escape(delivery.reason or '')}")

    def show_failed(failed: FailedTry) -> None:
        then = (
            f"next try in {failed.next_wait_s:.1f} s"
            if failed.next_wait_s is not None
            else "no further try"
        )
        console.print(
            f"[yellow]try {failed.attempt} of {failed.tries}[/] {escape(failed.event_id)} to "
            f"{escape(failed.receiver)}: {escape(failed.said)}; {then}",
            style="dim",
        )

    async def main() -> NotifyTotals:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(signum, stop.set)
        if not console.is_terminal:  # the log says what went wrong; nobody watches the lines
            return await run_notifier(settings, stop=stop)
        return await run_notifier(settings, stop=stop, on_delivered=show, on_failed_try=show_failed)

    totals = asyncio.run(main())
    console.print(
        f"stopped: {totals.events:,} events done, {totals.delivered:,} deliveries, "
        f"{totals.dead_lettered:,} dead letters"
    )
