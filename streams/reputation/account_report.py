"""What enforcement knows about one sending account: its rates in the rolling window, its standing.

Pure: `sendgate accounts status` reads the changelogs of the rates and standings tables (faust's
copies of them on Kafka), folds each to its latest value per key with `latest_values`, keeps the
account's keys (`parse_rates_key`) and hands the decoded values to `account_status`. The numbers
are those the enforcer judges: `streams.reputation.breaches.rates_at` over the policy's rolling
window at a given time, and `streams.reputation.breaches.breaches` for the lines they pass.

Keys of the rates table are `account|provider`, or `account|*` for the account-wide count, with
`%`, `|` (and `*` in a provider) percent-escaped (`streams.reputation.rate_inputs.rate_event_key`);
keys of the standings table are the account id.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from fractions import Fraction

from streams.core.clock import utc
from streams.reputation.breaches import Breach, RateSnapshot, breaches, rates_at
from streams.reputation.misuse import misuse_in_window
from streams.reputation.policy import ReputationPolicy
from streams.reputation.rate_inputs import ACCOUNT_WIDE, parse_rates_key
from streams.reputation.rates import RateState, Window
from streams.reputation.strikes import AccountStanding, AccountStatus

__all__ = [
    "ACCOUNT_WIDE",
    "AccountStatusView",
    "ProviderRates",
    "account_status",
    "is_account_key",
    "latest_values",
    "parse_rates_key",
    "percent",
]


def latest_values(entries: Iterable[tuple[bytes | None, bytes | None]]) -> dict[bytes, bytes]:
    """A changelog read in offset order, as a compacted topic reads: the latest value per key,
    and no key whose latest value is a tombstone (None). Entries without a key are skipped."""
    values: dict[bytes, bytes] = {}
    for key, value in entries:
        if key is None:
            continue
        if value is None:
            values.pop(key, None)
        else:
            values[key] = value
    return values


def is_account_key(account: str, key: bytes | None, *, rates: bool) -> bool:
    """Whether a changelog key is one of the account's: `account|provider` (or `account|*`) in
    the rates table (`rates`), the account id itself in the standings table."""
    if key is None:
        return False
    if not rates:
        return key == account.encode("utf-8")
    parsed = parse_rates_key(key)
    return parsed is not None and parsed[0] == account


def percent(rate: Fraction | None) -> str:
    """A rate for display (never compared): three significant digits, e.g. `0.2%`; `n/a` when
    there is no volume to divide by."""
    return "n/a" if rate is None else f"{float(rate * 100):.3g}%"


@dataclass(frozen=True, slots=True)
class ProviderRates:
    """One row of the status: the window's totals at one provider (None: account-wide), and
    every line they pass where the policy judges them."""

    snapshot: RateSnapshot
    breaches: tuple[Breach, ...]
    counted: bool
    """False when the rates table holds nothing for this provider (all totals are zero)."""

    @property
    def provider(self) -> str | None:
        return self.snapshot.provider


@dataclass(frozen=True, slots=True)
class AccountStatusView:
    """An account's rates at `at` and its standing as the standings table holds it."""

    account_id: str
    at: datetime
    policy: ReputationPolicy
    window: Window
    providers: tuple[ProviderRates, ...]
    """One per provider the rates table holds for the account, by name."""
    account_wide: ProviderRates
    standing: AccountStanding | None
    """None: enforcement has never acted on the account (or its standing was deleted)."""

    @property
    def status(self) -> AccountStatus:
        return self.standing.status if self.standing is not None else "active"

    @property
    def strikes_in_period(self) -> int:
        """Strikes that still count towards the ladder at `at`."""
        if self.standing is None:
            return 0
        return len(self.standing.strikes_in_period(self.at, self.policy.strikes))

    @property
    def transactional_suspended(self) -> bool:
        """Whether the account's transactional sending is suspended for misuse."""
        return self.standing is not None and self.standing.transactional_suspended

    @property
    def misuse_in_window(self) -> int:
        """Misuse reports that count in the policy's misuse window up to `at` (forgiven ones
        do not)."""
        if self.standing is None:
            return 0
        return misuse_in_window(self.standing, self.at, self.policy.enforcement.misuse_window_days)

    @property
    def known(self) -> bool:
        """Whether the tables hold anything at all for the account."""
        return bool(self.providers) or self.account_wide.counted or self.standing is not None


def account_status(
    account_id: str,
    *,
    rate_states: Mapping[str | None, RateState],
    standing: AccountStanding | None,
    at: datetime,
    policy: ReputationPolicy,
) -> AccountStatusView:
    """The account's status at `at`: `rate_states` maps each provider (None: the account-wide
    count) to its rates table value."""
    at = utc(at)

    def row(provider: str | None) -> ProviderRates:
        state = rate_states.get(provider)
        snapshot = rates_at(state, at, policy.rates, provider=provider)
        return ProviderRates(snapshot, breaches(snapshot, policy.rates), state is not None)

    providers = tuple(row(name) for name in sorted(p for p in rate_states if p is not None))
    account_wide = row(None)
    return AccountStatusView(
        account_id=account_id,
        at=at,
        policy=policy,
        window=account_wide.snapshot.window,
        providers=providers,
        account_wide=account_wide,
        standing=standing,
    )
