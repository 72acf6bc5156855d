"""One-click POSTs (RFC 8058) from many loopback source addresses.

The service limits each client address to 60 requests a minute (a token bucket per peer
address). A mailbox provider's one-click POSTs come from its servers; here every client
connection takes its own loopback source address (127.x.y.z) and makes at most 50 requests, so
the limiter never answers 429 and the figures are the endpoint's own.
"""

from __future__ import annotations

from collections.abc import Iterator

import aiohttp
from harness.errors import BenchError

__all__ = ["FORM", "ONE_CLICK_BODY", "PER_SOURCE_ADDRESS", "Poster", "source_addresses"]

ONE_CLICK_BODY = "List-Unsubscribe=One-Click"
FORM = {"Content-Type": "application/x-www-form-urlencoded"}
PER_SOURCE_ADDRESS = 50
"""Requests per client source address: below the service's 60-a-minute bucket per client."""


def source_addresses(second_octet: int) -> Iterator[str]:
    """Distinct loopback addresses 127.<second_octet>.y.z (all of 127/8 is loopback on Linux)."""
    for third in range(256):
        for fourth in range(1, 255):
            yield f"127.{second_octet}.{third}.{fourth}"
    raise BenchError(f"ran out of loopback source addresses in 127.{second_octet}/16")


class Poster:
    """The one-click POSTs of the probes, each source address used for at most 50 of them."""

    def __init__(self, second_octet: int) -> None:
        self._sources = source_addresses(second_octet)
        self._session: aiohttp.ClientSession | None = None
        self._used = 0

    async def post(self, url: str) -> int:
        if self._session is None or self._used >= PER_SOURCE_ADDRESS:
            await self.close()
            connector = aiohttp.TCPConnector(local_addr=(next(self._sources), 0), limit=1)
            self._session = aiohttp.ClientSession(
                connector=connector, timeout=aiohttp.ClientTimeout(total=30)
            )
            self._used = 0
        self._used += 1
        async with self._session.post(
            url, data=ONE_CLICK_BODY, headers=FORM, allow_redirects=False
        ) as response:
            status = response.status
            await response.read()
            return status

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
