"""What the gate must deny an account, read off what enforcement has done to it.

Pure: `gate_view(standing)` is what every gate worker's copy of the account's status says
(`streams.reputation.events` publishes it as the `AccountSnapshot` after each action).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from streams.core.records import SendKind
from streams.reputation.strikes import AccountStanding

__all__ = ["GateDenial", "GateView", "gate_view"]

GateDenial = Literal[
    "account-terminated",
    "account-broadcasts-disabled",
    "provider-paused",
    "account-transactional-suspended",
]


@dataclass(frozen=True, slots=True)
class GateView:
    """What the gate must deny an account.

    - `broadcasts_denied`: bulk commercial mail (broadcasts and sequences); transactional and
      one-off mail still go.
    - `commercial_denied`: every commercial message (terminated); transactional mail still goes.
    - `paused_providers`, `all_providers_paused`: every message to those providers.
    - `transactional_denied`: every transactional (non-commercial) message (transactional
      sending suspended for misuse); commercial mail is judged as before.
    """

    broadcasts_denied: bool
    commercial_denied: bool
    paused_providers: frozenset[str]
    all_providers_paused: bool
    transactional_denied: bool = False

    def denials(
        self, *, commercial: bool, send_kind: SendKind, provider: str | None
    ) -> tuple[GateDenial, ...]:
        """Every reason this view denies a message (empty: it does not). `provider` None: the
        recipient's provider is not known, so only an all-provider pause applies."""
        found: list[GateDenial] = []
        if commercial and self.commercial_denied:
            found.append("account-terminated")
        if commercial and send_kind == "bulk" and self.broadcasts_denied:
            found.append("account-broadcasts-disabled")
        if self.all_providers_paused or provider in self.paused_providers:
            found.append("provider-paused")
        if not commercial and self.transactional_denied:
            found.append("account-transactional-suspended")
        return tuple(found)


def gate_view(standing: AccountStanding) -> GateView:
    active = standing.active_pauses
    return GateView(
        broadcasts_denied=standing.broadcasts_disabled,
        commercial_denied=standing.terminated,
        paused_providers=frozenset(p.provider for p in active if p.provider is not None),
        all_providers_paused=any(p.provider is None for p in active),
        transactional_denied=standing.transactional_suspended,
    )
