"""What the notifier's tests share: enforcement events to send, the receivers' verifying code
as the README prints it, and a real HTTP receiver on loopback that answers as a test scripts it."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from aiohttp import web

from streams.edges.notify.signing import EVENT_ID_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER
from streams.reputation.standing import AccountSnapshot, EnforcementEvent

__all__ = [
    "README",
    "Received",
    "ScriptedReceiver",
    "readme_function",
    "readme_verifier",
    "strike_event",
]

README = Path(__file__).resolve().parents[2] / "README.md"
_PYTHON_BLOCK = re.compile(r"^```python\n(.*?)^```$", re.DOTALL | re.MULTILINE)


def readme_function(name: str) -> Callable[..., Any]:
    """The function `name` exactly as the README prints it (its whole ```python block,
    compiled): what readers copy is what the tests run."""
    text = README.read_text(encoding="utf-8")
    found = [block for block in _PYTHON_BLOCK.findall(text) if f"def {name}(" in block]
    assert len(found) == 1, f"the README has one block defining {name}"
    namespace: dict[str, Any] = {}
    exec(compile(found[0], f"{README}:{name}", "exec"), namespace)
    return namespace[name]


def readme_verifier() -> Callable[..., bool]:
    """`verify_sendgate_request` as the README gives it to receivers."""
    return readme_function("verify_sendgate_request")


def strike_event(
    number: int = 1,
    *,
    account_id: str = "acme",
    at: datetime = datetime(2025, 3, 10, 6, 0, tzinfo=UTC),
    event_id: str | None = None,
) -> EnforcementEvent:
    """Strike `number` for a complaint rate of 0.2% at Gmail in the week before `at`."""
    status = "broadcasts_disabled" if number == 1 else "warned" if number == 2 else "terminated"
    return EnforcementEvent(
        event_id=event_id or f"strike-{account_id}-{number}",
        account_id=account_id,
        action="strike_issued",
        at=at,
        policy_version="default@test",
        explanation=(
            f"Strike {number}: your complaint rate at gmail was 0.200% (2 of 1,000) in the "
            "week before, above our line of 0.1%."
        ),
        strike_number=number,
        step=status,
        breach_id=f"breach-{account_id}-{number}",
        provider="gmail",
        breach_kind="complaint",
        breach_level="strike",
        window_start=at - timedelta(days=7),
        window_end=at,
        count=2,
        volume=1000,
        rate=Decimal("0.002000000"),
        line=Decimal("0.001"),
        status_after=AccountSnapshot(
            account_id=account_id,
            status=status,
            broadcasts_denied=True,
            commercial_denied=number >= 3,
            strikes=number,
            as_of=at,
        ),
    )


@dataclass(frozen=True)
class Received:
    """One request as the receiver saw it."""

    path: str
    event_id: str
    body: bytes
    verified: bool
    """The README's verifier accepted it."""
    status: int
    """What the receiver answered."""


@dataclass
class ScriptedReceiver:
    """An aiohttp server on a loopback port; each path answers from its script (a list of
    statuses used up one request at a time, the last repeated), and every request is recorded
    with whether the README's verifier accepts its signature under `secret`."""

    secret: bytes
    scripts: dict[str, list[int]]
    received: list[Received] = field(default_factory=list)
    port: int = 0
    _runner: web.AppRunner | None = None

    async def start(self) -> ScriptedReceiver:
        verify = readme_verifier()
        app = web.Application()

        async def handle(request: web.Request) -> web.Response:
            script = self.scripts[request.path]
            status = script.pop(0) if len(script) > 1 else script[0]
            body = await request.read()
            verified = verify(
                self.secret,
                body,
                request.headers.get(TIMESTAMP_HEADER, ""),
                request.headers.get(SIGNATURE_HEADER, ""),
            )
            self.received.append(
                Received(
                    request.path, request.headers.get(EVENT_ID_HEADER, ""), body, verified, status
                )
            )
            return web.Response(status=status, text="ok" if status < 300 else "not now")

        for path in self.scripts:
            app.router.add_post(path, handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = self._runner.addresses[0][1]
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def at(self, path: str, event_ids: Iterable[str] | None = None) -> list[Received]:
        wanted = None if event_ids is None else set(event_ids)
        return [
            r for r in self.received if r.path == path and (wanted is None or r.event_id in wanted)
        ]
