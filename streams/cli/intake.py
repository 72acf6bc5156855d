"""`sendgate intake`: run the SMTP intake for bounces, feedback reports and unsubscribe mails.

The VERP keys come from a key file, one `<key id>:<hex secret>` per line, the first line being
the key new return paths are signed with (blank lines and `#` comments are ignored). Rotate by
putting a new line first and removing the old one once its mail can no longer bounce. When the
file does not exist, a random key is made (id 1, 32 bytes, mode 0600), as `sendgate demo` does
for the recipient key secret. Secrets are never printed.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer
from prometheus_client import start_http_server
from rich.console import Console

from streams.core.errors import SendgateError, ServiceUnavailableError
from streams.core.recipient import is_valid_address
from streams.core.settings import Settings
from streams.edges.admin import check_broker, create_topics, is_problem
from streams.edges.intake import run_intake
from streams.sending.signing_keys import ensure_verp_key_file, read_verp_keys
from streams.sending.verp import VerpSigner
from streams.topics import INBOUND_MAIL

__all__ = ["intake"]

log = logging.getLogger(__name__)


async def _serve(
    settings: Settings,
    *,
    host: str,
    port: int,
    verp: VerpSigner,
    feedback_addresses: list[str],
    max_message_bytes: int,
    unsubscribe_domain: str | None,
    create: bool,
    on_listening: Callable[[int], None],
) -> None:
    kafka_log = logging.getLogger("aiokafka")
    level = kafka_log.level
    kafka_log.setLevel(logging.CRITICAL)  # the warning below says it once; the client says it often
    try:
        await check_broker(settings)
    except ServiceUnavailableError as exc:
        # A closed port makes MTAs retry just as a 451 does, but an intake that is running takes
        # their retries as soon as Kafka is back, without waiting for someone to restart it.
        log.warning(
            "starting without Kafka (inbound-mail topic not checked); every message is answered "
            "451 until it is back: %s",
            exc,
        )
        reachable = False
    else:
        reachable = True
    finally:
        kafka_log.setLevel(level)
    if create and reachable:
        statuses = await create_topics(settings, [INBOUND_MAIL])
        problems = [f"{name}: {status}" for name, status in statuses.items() if is_problem(status)]
        if problems:
            raise SendgateError("the inbound-mail topic is not usable: " + "; ".join(problems))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signal_number in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signal_number, stop.set)
    try:
        await run_intake(
            settings,
            host=host,
            port=port,
            verp=verp,
            feedback_addresses=feedback_addresses,
            max_message_bytes=max_message_bytes,
            stop=stop,
            unsubscribe_domain=unsubscribe_domain,
            on_listening=on_listening,
        )
    except OSError as exc:
        raise SendgateError(f"cannot listen on {host} port {port}: {exc.strerror or exc}") from None
    finally:
        for signal_number in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signal_number)


def intake(
    ctx: typer.Context,
    bounce_domain: Annotated[
        str | None,
        typer.Option(
            "--bounce-domain",
            help="Domain of the VERP return paths (b-<token>@DOMAIN); its MX points here. "
            "Default: SENDGATE_BOUNCE_DOMAIN.",
            show_default=False,
        ),
    ] = None,
    feedback_addresses: Annotated[
        list[str] | None,
        typer.Option(
            "--feedback-address",
            help="Feedback-loop address to accept (repeat for several), e.g. "
            "fbl@feedback.example.net.",
            show_default=False,
        ),
    ] = None,
    host: Annotated[
        str | None, typer.Option("--host", help="Address to listen on (SENDGATE_INTAKE_HOST).")
    ] = None,
    port: Annotated[
        int | None,
        typer.Option(
            "--port",
            min=0,
            max=65535,
            help="Port to listen on, 0: any free (SENDGATE_INTAKE_PORT).",
        ),
    ] = None,
    max_message_bytes: Annotated[
        int | None,
        typer.Option(
            "--max-message-bytes",
            min=1024,
            help="Largest message accepted (advertised as SIZE; larger ones get 552 5.3.4). "
            "Default: SENDGATE_INTAKE_MAX_MESSAGE_BYTES.",
        ),
    ] = None,
    unsubscribe_domain: Annotated[
        str | None,
        typer.Option(
            "--unsubscribe-domain",
            help="Domain of the unsubscribe-<token> mailto addresses (default: the bounce domain).",
            show_default=False,
        ),
    ] = None,
    verp_key_file: Annotated[
        Path | None,
        typer.Option(
            "--verp-key-file",
            help="File of '<key id>:<hex secret>' lines, current key first; made with a random "
            "key if missing. Default: SENDGATE_VERP_KEY_FILE.",
            show_default=False,
        ),
    ] = None,
    metrics_port: Annotated[
        int,
        typer.Option(
            "--metrics-port",
            min=0,
            max=65535,
            help="Serve Prometheus metrics on this port of --host (0: off).",
        ),
    ] = 0,
    create: Annotated[
        bool,
        typer.Option(
            "--create-topics/--no-create-topics",
            help="Create the inbound-mail topic if it is missing.",
        ),
    ] = True,
) -> None:
    """Accept DSNs, feedback reports and unsubscribe mails by SMTP; publish them to inbound-mail.

    A message is answered 250 only once Kafka has acknowledged it, 451 (try again) while Kafka is
    down, also when it starts without Kafka; stop with Ctrl-C or SIGTERM.
    """
    settings = ctx.ensure_object(Settings)
    bounce_domain = bounce_domain or settings.bounce_domain
    host = host or settings.intake_host
    port = settings.intake_port if port is None else port
    max_message_bytes = max_message_bytes or settings.intake_max_message_bytes
    feedback = list(feedback_addresses or settings.feedback_addresses)
    for number, address in enumerate(feedback, start=1):
        if not is_valid_address(address):
            raise SendgateError(f"--feedback-address number {number} is not a valid address")
    key_file = verp_key_file or settings.verp_keys_path
    console = Console(stderr=True, highlight=False)
    if ensure_verp_key_file(key_file):
        console.print(f"made a new VERP key file {key_file}")
    keys, current_key_id = read_verp_keys(key_file)
    try:
        verp = VerpSigner(keys, current_key_id, bounce_domain)
    except ValueError as exc:
        raise SendgateError(f"--bounce-domain: {exc}") from None
    if metrics_port:
        try:
            start_http_server(metrics_port, addr=host)
        except OSError as exc:
            raise SendgateError(
                f"cannot serve metrics on {host} port {metrics_port}: {exc.strerror or exc}"
            ) from None

    def listening(bound_port: int) -> None:
        console.print(f"SMTP intake for {verp.domain} on {host} port {bound_port}; Ctrl-C stops it")

    asyncio.run(
        _serve(
            settings,
            host=host,
            port=port,
            verp=verp,
            feedback_addresses=feedback,
            max_message_bytes=max_message_bytes,
            unsubscribe_domain=unsubscribe_domain,
            create=create,
            on_listening=listening,
        )
    )
