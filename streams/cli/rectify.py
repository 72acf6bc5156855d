"""`sendgate rectify`: correct a person's address (GDPR Art. 16) and move their consent to it.

`sendgate rectify OLD_ADDRESS NEW_ADDRESS --request-id ID [--by WHO]` publishes an
`AddressCorrection` to `address-corrections`. The worker then moves every live consent of the old
address to the new one as new consent events naming the correction (so each keeps its evidence and
its dates), and withdraws them at the old address; what the old address left stays there, as do
its suppressions (`streams.privacy.rectification`).

Both addresses are keyed with the platform secret as the producer keys them and never leave this
process, nor reach its output: the correction carries the two recipient keys only. An address that
is not a valid one is refused rather than keyed as typed (a consent moved to a key nobody's mail
has would be lost), and so are two addresses that are one after normalisation (the same key:
there is nothing to move, and the withdrawal would take the consent away). A request id names
the correction in the desk's own records: the same id again is the same correction, which moves
nothing twice.
"""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer
from pydantic import ValidationError

from streams.cli.options import RequestedByOption, RequestIdOption, first_problem, require_text
from streams.cli.terminal import stdout_console
from streams.core.clock import SystemClock
from streams.core.errors import SendgateError
from streams.core.recipient import RecipientKeyer, is_valid_address
from streams.core.records import AddressCorrection
from streams.core.settings import Settings

__all__ = ["rectify"]


def rectify(
    ctx: typer.Context,
    old_address: Annotated[
        str | None,
        typer.Argument(help="The address as it was wrongly recorded.", show_default=False),
    ] = None,
    new_address: Annotated[
        str | None,
        typer.Argument(help="The person's correct address.", show_default=False),
    ] = None,
    request_id: RequestIdOption = None,
    requested_by: RequestedByOption = "sendgate-cli",
) -> None:
    """Correct a person's address (GDPR Art. 16): move their consent to the new address.

    The consents the person gave at OLD_ADDRESS, and has not withdrawn, move to NEW_ADDRESS with
    their evidence and dates, and are withdrawn at OLD_ADDRESS; the old address's unsubscribes,
    complaints and bounces stay with it."""
    settings = ctx.ensure_object(Settings)
    if old_address is None or new_address is None:
        raise typer.BadParameter("give the old address and the new one")
    if request_id is None:
        raise typer.BadParameter("give the request's id: --request-id ID")
    require_text(request_id, "--request-id")
    require_text(requested_by, "--by")
    for which, address in (("old", old_address), ("new", new_address)):
        if not is_valid_address(address):
            raise typer.BadParameter(f"the {which} address is not a valid email address")
    keyer = RecipientKeyer(settings.recipient_secret())
    old_key, new_key = keyer.key(old_address), keyer.key(new_address)
    if old_key == new_key:
        raise typer.BadParameter(
            "the two addresses are the same address once normalised: nothing to correct"
        )
    try:
        correction = AddressCorrection(
            correction_id=request_id,
            old_recipient_key=old_key,
            new_recipient_key=new_key,
            requested_by=requested_by,
            requested_at=SystemClock().now(),
        )
    except ValidationError as exc:
        raise typer.BadParameter(first_problem(exc)) from None
    asyncio.run(_publish(settings, correction))
    console = stdout_console()
    console.print(
        f"Correction {correction.correction_id} recorded: recipient key "
        f"{old_key[:12]}… to {new_key[:12]}…."
    )
    console.print(
        "The worker moves the consents not withdrawn at the old address to the new one within "
        "seconds, with their evidence and dates, and withdraws them at the old address; the old "
        "address's unsubscribes, complaints and bounces stay with it."
    )


async def _publish(settings: Settings, correction: AddressCorrection) -> None:
    from streams.edges.producer import SendgateProducer

    try:
        async with SendgateProducer(settings) as producer:
            await producer.publish(correction)
    except SendgateError as exc:
        raise SendgateError(
            f"the correction may not be recorded ({exc}); run the same command again: the same "
            "request id moves the consents once"
        ) from None
