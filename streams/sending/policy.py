"""The unsubscribe headers and links the gate hands the mailer: the policy file's `unsubscribe`."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["UnsubscribePolicy"]


class UnsubscribePolicy(BaseModel):
    """The unsubscribe headers the gate hands the mailer with each allowed decision.

    - `token_valid_days` 365: how long a one-click link works. CAN-SPAM (15 U.S.C.
      §7704(a)(3)(A)(ii)) asks for at least 30 days after the message; people unsubscribe from
      months-old mail too, and an expired link still offers a way out (by confirmed address).
    - `headers_on_transactional` False: transactional mail owes no opt-out (CAN-SPAM covers
      commercial messages; CASL s.6(6)); a transactional send with promotional content is
      commercial and gets them.
    - `offer_platform_opt_out` True: the preference centre also offers "stop all mail sent
      through this platform" (a platform-scope suppression). Platforms whose customers must own
      their audiences turn it off; the list and account choices are always offered, as the
      laws require a way to leave the sender.
    - `cadence_choices` daily, weekly, monthly: where the person's consent names a cadence, the
      preference centre offers these instead of leaving; a choice becomes a `cadence_changed`
      consent event, and the frequency rule holds the sender to it.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    token_valid_days: int = Field(default=365, ge=30, le=3650, strict=True)
    headers_on_transactional: bool = Field(default=False, strict=True)
    offer_platform_opt_out: bool = Field(default=True, strict=True)
    cadence_choices: tuple[Annotated[str, Field(pattern=r"^[a-z][a-z0-9_-]{0,39}$")], ...] = (
        "daily",
        "weekly",
        "monthly",
    )
