"""`sendgate keys`: compute the recipient key of an address, as the producer does.

For support and debugging: find a person's records (every topic about them is keyed by this
hash) without putting the address into a Kafka key or a log line. The secret comes from the
settings (`SENDGATE_RECIPIENT_KEY_SECRET` or the secret file).
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console

from streams.core.recipient import RecipientKeyer, is_valid_address
from streams.core.settings import Settings

__all__ = ["app"]

app = typer.Typer(
    help="Recipient keys (HMAC-SHA-256 of the normalised address).", no_args_is_help=True
)


@app.command("recipient")
def recipient(
    ctx: typer.Context,
    address: Annotated[str, typer.Argument(help="The email address to key.", show_default=False)],
) -> None:
    """Print the recipient key (64 hex characters) of ADDRESS under the platform secret."""
    settings = ctx.ensure_object(Settings)
    keyer = RecipientKeyer(settings.recipient_secret())
    if not is_valid_address(address):
        Console(stderr=True).print(
            "[yellow]warning:[/] not a valid address; keyed on its trimmed, lower-cased text"
        )
    print(keyer.key(address))
