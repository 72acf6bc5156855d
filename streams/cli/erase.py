"""`sendgate erase`: honour a person's right to erasure (GDPR Art. 17), and follow it.

`sendgate erase ADDRESS --request-id ID [--by WHO]` publishes the erasure's platform suppression,
then the `ErasureRequest` (`SendgateProducer.publish_erasure`): when the command returns, Kafka
holds both, and the state fence guarantees that no send decided afterwards is allowed. The worker
then deletes the person's state, the ledger redacts its rows, and the topics about the person
drop their records within their retention; each step is reported on `erasure-events`, the last
one `completed`. `sendgate erase --status ID` reads those steps from the ledger.

The address is keyed with the platform secret as the producer keys it and never leaves this
process: the request carries the recipient key only. An address that is not a valid one is
refused rather than keyed as typed: erasing the wrong key would stop the wrong person's mail and
leave the right one's data. A request id names the request in the desk's own records (a ticket
number): publishing the same id again is the same request, which suppresses and erases once.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Annotated

import typer
from pydantic import ValidationError

from streams.cli.options import RequestedByOption, RequestIdOption, first_problem, require_text
from streams.cli.terminal import stdout_console, utc_text
from streams.core.clock import SystemClock
from streams.core.errors import SendgateError
from streams.core.recipient import RecipientKeyer, is_valid_address
from streams.core.records import ErasureRequest
from streams.core.settings import Settings
from streams.topics import PERSONAL_TOPICS

__all__ = ["erase"]


def erase(
    ctx: typer.Context,
    address: Annotated[
        str | None,
        typer.Argument(help="The person's email address.", show_default=False),
    ] = None,
    request_id: RequestIdOption = None,
    requested_by: RequestedByOption = "sendgate-cli",
    status: Annotated[
        str | None,
        typer.Option(
            "--status",
            help="Show what the erasure with this request id removed where, from the ledger.",
            metavar="ID",
        ),
    ] = None,
) -> None:
    """Erase what sendgate holds about a person (GDPR Art. 17) and stop their mail; follow it.

    Erases ADDRESS's data under --request-id. Mail stops when this returns; the worker's state
    and the ledger's personal fields are erased within seconds, and the topics' records about the
    person expire within their retention (`sendgate topics create` sets it). With --status ID,
    show how far that erasure got."""
    settings = ctx.ensure_object(Settings)
    if status is not None:
        if address is not None or request_id is not None:
            raise typer.BadParameter("--status takes a request id alone, without an address")
        from streams.cli.erase_status import show_status

        show_status(settings, status)
        return
    if address is None:
        raise typer.BadParameter("give the address to erase (or --status ID)")
    if request_id is None:
        raise typer.BadParameter("give the request's id: --request-id ID")
    require_text(request_id, "--request-id")
    require_text(requested_by, "--by")
    if not is_valid_address(address):
        raise typer.BadParameter("not a valid email address; nothing was erased")
    try:
        request = ErasureRequest(
            request_id=request_id,
            recipient_key=RecipientKeyer(settings.recipient_secret()).key(address),
            requested_by=requested_by,
            requested_at=SystemClock().now(),
        )
    except ValidationError as exc:
        raise typer.BadParameter(first_problem(exc)) from None
    asyncio.run(_publish(settings, request))
    within = max(spec.gone_within_s(settings) or 0 for spec in PERSONAL_TOPICS)
    console = stdout_console()
    console.print(
        f"Erasure {request.request_id} recorded for recipient key {request.recipient_key[:12]}…: "
        "no send decided from now on is allowed."
    )
    console.print(
        "The worker erases the person's state and the ledger redacts their consent evidence "
        "within seconds; Kafka's records about them expire by "
        f"{utc_text(request.requested_at + timedelta(seconds=within))}."
    )
    console.print(f"Follow it with: sendgate erase --status {request.request_id}")


async def _publish(settings: Settings, request: ErasureRequest) -> None:
    from streams.edges.producer import SendgateProducer

    try:
        async with SendgateProducer(settings) as producer:
            await producer.publish_erasure(request)
    except SendgateError as exc:
        raise SendgateError(
            f"the erasure may not be recorded ({exc}); run the same command again: the same "
            "request id suppresses and erases once"
        ) from None
