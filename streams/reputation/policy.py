"""The reputation policies: how rates are counted and the lines they must stay under, the strike
ladder, and what the rate keeper counts and fines (the policy file's `rates`, `strikes` and
`enforcement`)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Annotated, Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from streams.core.policy_files import preset_named

__all__ = [
    "MAX_WINDOW_DAYS",
    "RATES_PRESETS",
    "BreachKind",
    "BreachLevel",
    "EnforcementPolicy",
    "LadderStep",
    "RatesPolicy",
    "ReputationPolicy",
    "Scope",
    "StrikePolicy",
]

BreachKind = Literal["complaint", "bounce", "block"]
"""The rates a policy draws lines for: complaints per delivered, hard bounces per attempted, and
blocks (bounces that refused the sender, not the address) per attempted."""
BreachLevel = Literal["review", "strike", "pause"]
"""The lines a rate can pass, least severe first."""
Scope = Literal["provider", "account"]
"""Where a rate is judged: per (account, provider), or per account across every provider."""
LadderStep = Literal["disable_broadcasts", "warn", "terminate"]
"""What a strike does, by its number on the ladder."""

MAX_WINDOW_DAYS = 31
"""Longest window a policy may ask for; `streams.reputation.strikes` relies on it when it forgets
old breaches."""
_Line = Field(default=None, gt=0, le=1)
Rate = Annotated[Decimal, Field(gt=0, le=1)]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class RatesPolicy(_Frozen):
    """How rates are counted and which lines they must stay under. Defaults and their sources:

    - `window_days` 7: the platform's complaint line is "per provider per week"; `bucket_hours`
      24: a week is a sum of days, the unit mailbox providers' dashboards report in (Gmail
      Postmaster Tools shows a daily spam rate).
    - `allowed_lateness_hours` 48 (a choice, not a published number): feedback-loop reports and
      asynchronous bounces are usually sent soon after the message; two days leave room for a
      reporting pipeline stalled over a weekend, at the price of judging a week two days late.
    - `complaint_line` 0.1% per provider: the industry line (fewer than 1 complaint per 1,000
      messages); `bounce_line` 7% per account: the platform's own line. Crossing either
      is a strike (`streams.reputation.strikes`). None: no strike line for that rate.
    - `*_review_line`, `*_pause_line`: optional further levels (none by default); a review only
      flags the account, a pause stops its mail to the provider (or, at account scope, to every
      provider). `provider_*_pause_lines` set a provider's own pause level.
    - `min_delivered_for_complaint_rate` 1,000: below it one complaint is already above 0.1%, so
      the line would strike on a single person's click; at 1,000 it takes two (2 / 1,000 = 0.2%).
      Platforms guard against small samples in their own ways: Amazon SES computes rates over a
      "representative volume" rather than a fixed period (its post "Announcing the Reputation
      Dashboard" shows 1 bounce in 5 emails making a weekly rate meaningless), and Gmail's
      bulk-sender rules start at about 5,000 messages a day. The price of 1,000: a sender whose
      true rate is 0.02% still gets 2 complaints in about 2% of weeks of exactly 1,000 messages
      (binomial); larger volumes make that chance fall fast. A platform can raise the minimum.
    - `min_attempted_for_bounce_rate` 200: the bounce line is 70 times higher, so chance matters
      less: at 200 it takes 15 hard bounces to pass 7%, which a sender whose true rate is 2% gets
      in about 1 week of 67,000 (binomial), and a bad import of a few hundred addresses is still
      caught.
    - `act_at_once` False: act when a window closes (after its lateness), so a week is judged
      whole; True acts on the event that carries the rate over the line.
    - `complaint_scope` provider, `bounce_scope` account: where each rate is measured
      (providers judge complaints per sender at their own mailboxes; bounces say more about the
      account's list than about one provider).
    - `block_line` 10% and `block_review_line` 2% per provider, from 200 attempted
      (`min_attempted_for_block_rate`): bounces that refuse the *sender* (its IP on a
      blocklist, its reputation, the receiver's policy, its content, missing SPF/DKIM/DMARC, its
      sending rate; `streams.core.bounce_reasons.SENDER_REFUSALS`) never suppress the recipient,
      so they must count somewhere: against the account at the provider that refused it. No
      provider publishes a line for them (they publish spam-rate lines, Gmail's 0.3%); these are
      the platform's: one refusal in fifty is worth a look, one in ten at one provider for a week
      means the provider has stopped trusting the account, and sending on into the refusal only
      deepens it. A platform whose accounts share IPs may see a listing of one IP refuse mail of
      several accounts at once; it can keep the review line and set `block_line = "none"` to
      strike on blocks only by hand. `attempted` counts blocks too, so a refused message also
      weighs in the bounce rate's denominator.
    - `evaluation_grace_days` 7: how long a bucket's counts are kept after the horizon has passed
      it (events can no longer be counted into it), so that closed windows a stopped worker did
      not judge in time can still be judged whole (see `streams.reputation.rates` and its
      `due_windows`).
    - `event_time_tolerance_s` 300: clock skew accepted on event times, as for consent events.
    """

    window_days: int = Field(default=7, ge=1, le=MAX_WINDOW_DAYS, strict=True)
    bucket_hours: int = Field(default=24, ge=1, le=24, strict=True)
    allowed_lateness_hours: int = Field(default=48, ge=0, le=14 * 24, strict=True)
    evaluation_grace_days: int = Field(default=7, ge=0, le=MAX_WINDOW_DAYS, strict=True)
    event_time_tolerance_s: int = Field(default=300, ge=0, le=86_400, strict=True)
    act_at_once: bool = Field(default=False, strict=True)
    complaint_scope: Scope = "provider"
    bounce_scope: Scope = "account"
    complaint_line: Decimal | None = Field(default=Decimal("0.001"), gt=0, le=1)
    complaint_review_line: Decimal | None = _Line
    complaint_pause_line: Decimal | None = _Line
    provider_complaint_pause_lines: dict[str, Rate] = Field(default_factory=dict)
    bounce_line: Decimal | None = Field(default=Decimal("0.07"), gt=0, le=1)
    bounce_review_line: Decimal | None = _Line
    bounce_pause_line: Decimal | None = _Line
    provider_bounce_pause_lines: dict[str, Rate] = Field(default_factory=dict)
    block_scope: Scope = "provider"
    block_line: Decimal | None = Field(default=Decimal("0.10"), gt=0, le=1)
    block_review_line: Decimal | None = Field(default=Decimal("0.02"), gt=0, le=1)
    block_pause_line: Decimal | None = _Line
    provider_block_pause_lines: dict[str, Rate] = Field(default_factory=dict)
    min_delivered_for_complaint_rate: int = Field(default=1000, ge=1, strict=True)
    min_attempted_for_bounce_rate: int = Field(default=200, ge=1, strict=True)
    min_attempted_for_block_rate: int = Field(default=200, ge=1, strict=True)

    @field_validator(
        "complaint_line",
        "complaint_review_line",
        "complaint_pause_line",
        "bounce_line",
        "bounce_review_line",
        "bounce_pause_line",
        "block_line",
        "block_review_line",
        "block_pause_line",
        mode="before",
    )
    @classmethod
    def _line_off(cls, value: Any) -> Any:
        """TOML has no null: `"none"` (or `false`) in a policy file turns a line off."""
        if value is False or (isinstance(value, str) and value.strip().lower() == "none"):
            return None
        return value

    @field_validator("bucket_hours")
    @classmethod
    def _bucket_divides_a_day(cls, hours: int) -> int:
        if 24 % hours:
            raise ValueError("bucket_hours must divide 24, so buckets align with UTC days")
        return hours

    @field_validator(
        "provider_complaint_pause_lines",
        "provider_bounce_pause_lines",
        "provider_block_pause_lines",
    )
    @classmethod
    def _providers_named(cls, lines: dict[str, Decimal]) -> dict[str, Decimal]:
        if any(not name.strip() for name in lines):
            raise ValueError("provider pause lines are keyed by provider names, not blanks")
        return lines

    @model_validator(mode="after")
    def _lateness_in_whole_buckets(self) -> RatesPolicy:
        if self.allowed_lateness_hours % self.bucket_hours:
            raise ValueError("allowed_lateness_hours must be a whole number of buckets")
        return self

    @property
    def bucket(self) -> timedelta:
        return timedelta(hours=self.bucket_hours)

    @property
    def window(self) -> timedelta:
        return timedelta(days=self.window_days)

    @property
    def lateness(self) -> timedelta:
        return timedelta(hours=self.allowed_lateness_hours)

    @classmethod
    def preset(cls, name: str, **overrides: Any) -> RatesPolicy:
        """A named preset (`RATES_PRESETS`), with `overrides` on top."""
        return cls.model_validate({**preset_named(RATES_PRESETS, name), **overrides})

    def pause_line(self, kind: BreachKind, provider: str | None) -> Decimal | None:
        """The pause level of `kind` at `provider` (its own if it has one)."""
        if kind == "complaint":
            own, default = self.provider_complaint_pause_lines, self.complaint_pause_line
        elif kind == "bounce":
            own, default = self.provider_bounce_pause_lines, self.bounce_pause_line
        else:
            own, default = self.provider_block_pause_lines, self.block_pause_line
        return own.get(provider, default) if provider is not None else default


RATES_PRESETS: dict[str, dict[str, Any]] = {
    "default": {},
    "ses-pauses": {
        "complaint_review_line": "0.001",
        "complaint_pause_line": "0.005",
        "bounce_review_line": "0.05",
        "bounce_pause_line": "0.10",
    },
    "amazon-ses": {
        "complaint_scope": "account",
        "complaint_line": None,
        "complaint_review_line": "0.001",
        "complaint_pause_line": "0.005",
        "bounce_line": None,
        "bounce_review_line": "0.05",
        "bounce_pause_line": "0.10",
    },
}
"""Named rate policies.

- `default`: the platform's lines, strikes only.
- `ses-pauses`: the default strikes plus the review and pause levels Amazon SES publishes (Amazon
  SES Developer Guide, "Reputation metrics messages": complaints under review at 0.1% and sending
  paused at 0.5%; bounces under review at 5% and paused at 10%), complaints judged per provider.
- `amazon-ses`: SES's behaviour alone: both rates per account, review and pause, no strikes.

SES states its levels as "or greater"; here a level is passed only when strictly above it, so on
the exact level (50 of 1,000 bounced = 5%) SES reviews and this preset does not yet.
"""


class StrikePolicy(_Frozen):
    """The ladder and how strikes are counted. The defaults follow a well-known platform's
    three-strike policy on the 0.1% complaint line."""

    ladder: tuple[LadderStep, ...] = Field(
        default=("disable_broadcasts", "warn", "terminate"), min_length=1, max_length=10
    )
    strike_period_days: int = Field(default=365, ge=MAX_WINDOW_DAYS, le=3650, strict=True)
    bounce_breaches_strike: bool = Field(default=True, strict=True)
    """False: a bounce breach at strike level pauses its scope instead of striking."""
    episode_scope: Literal["account", "provider"] = "account"
    """`account`: overlapping breaches of one kind are one episode at whatever providers (one bad
    broadcast is one strike, not one per provider); `provider`: one episode per provider."""

    @field_validator("ladder")
    @classmethod
    def _terminate_ends(cls, ladder: tuple[LadderStep, ...]) -> tuple[LadderStep, ...]:
        if "terminate" in ladder[:-1]:
            raise ValueError("terminate can only be the last step of the ladder")
        return ladder

    @property
    def period(self) -> timedelta:
        return timedelta(days=self.strike_period_days)


class EnforcementPolicy(BaseModel):
    """What the rate keeper counts as volume, and the fine for complaints without consent.

    - `volume` "delivered": the rate's denominator is messages delivered (delivery events), the
      industry's reading ("complaints per 1,000 delivered"); "allowed_sends": allowed decisions
      count instead, for platforms whose mailers do not report deliveries.
    - `fine_per_complaint` 250 USD: one well-known platform charges up to $250 per complaint
      the customer cannot prove an opt-in for; 0 turns fines off. A complaint is fined
      when the recipient's consents show no grant, import or purchase for the account that was
      in force when the complaint arrived.
    - `misuse_suspend_after` 3 within `misuse_window_days` 30: transactional sends the gate
      denied as carrying marketing (the transactional-misuse rule) count against the account;
      at this many in the window its transactional sending is suspended until an operator
      reinstates it (0: never suspend, the misuse is still reported). Transactional streams
      bypass unsubscribes, so a platform cannot let marketing ride on them.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    volume: Literal["delivered", "allowed_sends"] = "delivered"
    fine_per_complaint: Decimal = Field(default=Decimal("250"), ge=0, max_digits=12)
    fine_currency: str = Field(default="USD", pattern=r"^[A-Z]{3}$")
    misuse_suspend_after: int = Field(default=3, ge=0, le=1000, strict=True)
    misuse_window_days: int = Field(default=30, ge=1, le=365, strict=True)


class ReputationPolicy(Protocol):
    """The parts of the whole policy (`streams.policy.Policy`) that judge an account's
    reputation: what an account report needs, without depending on the whole policy file."""

    @property
    def rates(self) -> RatesPolicy: ...

    @property
    def strikes(self) -> StrikePolicy: ...

    @property
    def enforcement(self) -> EnforcementPolicy: ...

    @property
    def policy_version(self) -> str: ...
