"""The real unsubscribe service (`sendgate web`) for integration tests, in the test's process."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from urllib.parse import urlsplit

from streams.core.settings import Settings
from streams.edges.web.serve import serve_unsubscribes

__all__ = ["serving_unsubscribes"]


@asynccontextmanager
async def serving_unsubscribes(settings: Settings) -> AsyncIterator[None]:
    """Serve the links on loopback at the port of `settings.unsubscribe_base_url` (chosen up
    front: the gate writes that URL into its headers) until the block ends."""
    port = urlsplit(settings.unsubscribe_base_url).port
    assert port is not None, "the test's base URL names its loopback port"
    stop = asyncio.Event()
    bound: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    server = asyncio.create_task(
        serve_unsubscribes(
            settings, host="127.0.0.1", port=port, stop=stop, on_listening=bound.set_result
        )
    )
    try:
        assert await asyncio.wait_for(bound, 30) == port
        yield
    finally:
        stop.set()
        await asyncio.wait_for(server, 30)
