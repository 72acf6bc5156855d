"""How long the ledger keeps what it holds about a person, and what is due for deletion at a
moment: storage limitation (GDPR Art. 5(1)(e)) decided on plain rows.

The retention policy is its own file (`streams/policies/retention.toml`, or
`Settings.retention_policy_file`), not a section of the decision policy: the decision policy's
version is a hash of its whole content and every decision carries it, so a retention period
changed there would change the version of every decision made afterwards, although no decision
depends on it. Retention is the ledger's business, read by the ledger process and `sendgate
ledger retention` only.

Periods are calendar years and days, counted back from the moment the job runs: a record whose
moment is at or before `cutoff(now)` is due. Counting back (not forward from each record) gives
one cutoff per run, so the database compares a column with one value; a 29 February counted back
three years is the 28th, as `dateutil.relativedelta` does.

Consent evidence is kept per person and account, from the last relationship event between them
(`last_relationships`), not from the consent event itself: consent that was given years ago but
is still relied on for sends must still be provable. Pure: no database.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from dateutil.relativedelta import relativedelta
from pydantic import BaseModel, ConfigDict, Field, model_validator

from streams.core.clock import utc
from streams.core.policy_files import load_policy_file

__all__ = [
    "DEFAULT_RETENTION_FILE",
    "Period",
    "RelationshipEvent",
    "RetentionPolicy",
    "due_pairs",
    "last_relationships",
    "load_retention_policy",
]

DEFAULT_RETENTION_FILE = Path(__file__).resolve().parents[1] / "policies" / "retention.toml"


class Period(BaseModel):
    """A retention period: whole calendar years and days."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    years: int = Field(default=0, ge=0, le=100, strict=True)
    days: int = Field(default=0, ge=0, le=36_500, strict=True)

    @model_validator(mode="after")
    def _not_empty(self) -> Period:
        if self.years == 0 and self.days == 0:
            raise ValueError("a retention period must be at least one day")
        return self

    def cutoff(self, now: datetime) -> datetime:
        """The latest moment a record may have and be due at `now`: `now` less the period."""
        return utc(now) - relativedelta(years=self.years, days=self.days)

    def describe(self) -> str:
        parts = [f"{self.years} year{'s' * (self.years != 1)}"] if self.years else []
        parts += [f"{self.days} day{'s' * (self.days != 1)}"] if self.days else []
        return " ".join(parts)


class RetentionPolicy(BaseModel):
    """The ledger's retention periods; every default has its law beside it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    consent_evidence: Period = Field(
        default_factory=lambda: Period(years=3),
        description=(
            "How long after the last relationship event between a person and an account the "
            "evidence of the person's consent to that account is kept. CASL s. 13 puts the onus "
            "of proving consent on whoever relies on it, and proceedings for a violation can be "
            "brought up to three years after the CRTC learns of it; GDPR Art. 5(1)(e) allows no "
            "longer than necessary. So: three years after the last event that relied on it."
        ),
    )
    decisions: Period = Field(
        default_factory=lambda: Period(years=3),
        description=(
            "How long a send decision (and its repeats) is kept after it was made. A decision is "
            "the platform's proof that it checked consent and suppressions before a send: it is "
            "needed for as long as the send can be complained about (the same three-year CASL "
            "limitation), and no longer (GDPR Art. 5(1)(e))."
        ),
    )

    @model_validator(mode="after")
    def _decisions_outlive_evidence(self) -> RetentionPolicy:
        """An allowed decision is a relationship event that keeps consent evidence alive; deleting
        decisions sooner than the evidence would silently shorten how long consent is provable."""
        now = datetime(2000, 3, 1, tzinfo=UTC)
        if self.decisions.cutoff(now) > self.consent_evidence.cutoff(now):
            raise ValueError("decisions must be kept at least as long as consent evidence")
        return self


def load_retention_policy(path: Path | None = None) -> RetentionPolicy:
    """Read and validate a retention policy file; `PolicyError` says what is wrong and where."""
    return load_policy_file(
        path or DEFAULT_RETENTION_FILE, RetentionPolicy, what="retention policy"
    )


@dataclass(frozen=True, slots=True)
class RelationshipEvent:
    """Something that happened between a person and an account: a consent event of the account,
    an allowed send of the account to them, a suppression change, a complaint. `account_id` None
    is the platform's own (a platform-wide suppression): it concerns every account."""

    recipient_key: str
    account_id: str | None
    at: datetime


def last_relationships(events: Iterable[RelationshipEvent]) -> dict[tuple[str, str], datetime]:
    """The latest relationship event per (recipient key, account), for every account that has an
    event of its own. A platform event (no account) counts for every account of its person: an
    opt-out every sender must honour, whose proof is the consent each one held when it came."""
    latest: dict[tuple[str, str], datetime] = {}
    platform: dict[str, datetime] = {}
    for event in events:
        at = utc(event.at)
        if event.account_id is None:
            if event.recipient_key not in platform or at > platform[event.recipient_key]:
                platform[event.recipient_key] = at
            continue
        pair = (event.recipient_key, event.account_id)
        if pair not in latest or at > latest[pair]:
            latest[pair] = at
    for (key, account), at in latest.items():
        if key in platform and platform[key] > at:
            latest[(key, account)] = platform[key]
    return latest


def due_pairs(
    last: Mapping[tuple[str, str], datetime], policy: RetentionPolicy, now: datetime
) -> frozenset[tuple[str, str]]:
    """The (recipient key, account) pairs whose consent evidence is past its period at `now`:
    their last relationship event is at or before the cutoff."""
    cutoff = policy.consent_evidence.cutoff(now)
    return frozenset(pair for pair, at in last.items() if at <= cutoff)
