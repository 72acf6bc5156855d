"""Command-line options every broker benchmark takes the same way, so `--help` words them alike
and each script declares only what is its own."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from streams.core.settings import get_settings

__all__ = [
    "Bootstrap",
    "JsonOut",
    "Partitions",
    "ProbeTimeout",
    "WorkerPatch",
    "bootstrap_or_default",
]

Bootstrap = Annotated[
    str | None,
    typer.Option(help="Kafka bootstrap servers (default: SENDGATE_KAFKA_BOOTSTRAP_SERVERS)."),
]
Partitions = Annotated[int, typer.Option(min=1, max=64, help="Partitions per topic.")]
JsonOut = Annotated[
    Path | None,
    typer.Option(dir_okay=False, help="Also write the figures to this JSON file."),
]
ProbeTimeout = Annotated[
    float, typer.Option(min=5, max=600, help="Give up on a probe after this long.")
]
WorkerPatch = Annotated[
    list[Path] | None,
    typer.Option(
        exists=True,
        dir_okay=False,
        help="Python file each worker runs first, to try a change without editing streams/ "
        "(repeatable).",
    ),
]


def bootstrap_or_default(bootstrap: str | None) -> str:
    """`--bootstrap` if given, else the one the settings read (SENDGATE_KAFKA_BOOTSTRAP_SERVERS)."""
    return bootstrap or get_settings().kafka_bootstrap_servers
