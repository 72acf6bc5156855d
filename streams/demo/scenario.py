"""The demo's scenario: accounts, lists, recipients, unsubscribes and sends, built from a seed.

Pure: no Kafka, no clock (the caller passes `now`) and no randomness but `random.Random(seed)`,
so the same seed, size, recipient-key secret and `now` give the same records. Every recipient is
at example.com, example.org or example.net (RFC 2606 names), every sender at `<account>.example`.

What it holds, in the order the demo publishes it:

0. `consents`: what each recipient agreed to with each account, as consent events: express
   sign-ups (some double opt-in, confirmed or not), imports (approved or still pending review),
   purchases (CASL implied consent, some older than two years), soft opt-ins, and nothing at
   all for a few. Each person has one country. Published and applied before anything else.
1. `clicks`: unsubscribes at list, account and platform scope (platform ones are operator
   entries with reason manual, hard_bounce, complaint or erasure), plus a few replayed and
   repeated clicks, so the audit trail shows every outcome. Published first and acknowledged
   before any send: the gate's state fence then guarantees that each of them is honoured.
2. `sends`: commercial and transactional send requests (some transactional ones ask to honour
   list opt-outs); for every unsubscribe some sends that it must stop and some it must not
   (another list, another account, transactional mail); a few role and malformed addresses;
   the rest random. Some addresses are spelled with other capitals than their unsubscribe, to
   show that the recipient key normalises them.
3. `race`: pairs of a click and a send for the same fresh recipient, published while the gate
   is running, the send right after the click's acknowledgement.
4. `bad_records`: values the gate cannot use (random bytes, JSON instead of Avro, a record keyed
   by something else than its recipient key, a record on the wrong topic, a truncated one, one
   that breaks a record rule); each must come back as a dead letter.

`streams.demo.expected` says what the gate must decide for each send.
"""

from __future__ import annotations

import json
import random
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TypeVar

from streams.core.codec import Codec
from streams.core.recipient import RecipientKeyer
from streams.core.records import (
    Classification,
    ConsentEvent,
    Record,
    SendRequest,
    SuppressionReason,
    UnsubscribeClick,
    UnsubscribeMethod,
)
from streams.demo.content import compliant_facts
from streams.topics import SEND_REQUESTS, UNSUBSCRIBE_CLICKS, TopicSpec, default_codec

__all__ = [
    "ACCOUNTS",
    "DEFAULT_SEED",
    "DEFAULT_SENDS",
    "MIN_SENDS",
    "RawRecord",
    "Scenario",
    "build_scenario",
]

DEFAULT_SENDS = 5000
DEFAULT_SEED = 2026
MIN_SENDS = 100
"""Below this the targeted sends (every kind of denial) leave no room for ordinary traffic."""

ACCOUNTS: Mapping[str, tuple[str, ...]] = {
    "acme-shoes": ("newsletter", "flash-sales", "back-in-stock"),
    "northwind-news": ("morning-briefing", "breaking-news"),
    "globex-saas": ("product-updates", "webinars", "onboarding-tips"),
}
"""Sending accounts and their mailing lists."""

_SUBJECTS: Mapping[str, str] = {
    "newsletter": "New season, new soles",
    "flash-sales": "48 hours only: 30% off runners",
    "back-in-stock": "Your size is back",
    "morning-briefing": "Your morning briefing",
    "breaking-news": "Breaking: markets close higher",
    "product-updates": "What's new in Globex this month",
    "webinars": "Live tomorrow: scaling your workspace",
    "onboarding-tips": "Tip 3: invite your team",
}
_TRANSACTIONAL_SUBJECTS: Mapping[str, str] = {
    "acme-shoes": "Your order has shipped",
    "northwind-news": "Your subscription receipt",
    "globex-saas": "Reset your password",
}
_RECIPIENT_DOMAINS = ("example.com", "example.org", "example.net")
_FIRST_NAMES = (
    "alice", "amir", "ana", "ben", "carla", "chen", "dana", "diego", "elena", "emeka", "fatima",
    "felix", "grace", "hana", "ivan", "jade", "jonas", "kai", "lena", "liam", "maya", "mateo",
    "nadia", "noah", "olga", "omar", "priya", "quinn", "rosa", "sam", "sofia", "tariq", "uma",
    "victor", "wen", "yusuf", "zoe",
)  # fmt: skip
_LAST_NAMES = (
    "adams", "baker", "costa", "dubois", "evans", "fischer", "garcia", "hughes", "ito", "jensen",
    "kowalski", "lopez", "martin", "nguyen", "okafor", "patel", "quintero", "rossi", "silva",
    "tanaka", "ueda", "varga", "walsh", "xu", "yilmaz", "zhang",
)  # fmt: skip
_JURISDICTIONS = ("US", "US", "CA", "GB", "DE", "AU", None)
_LIST_METHODS: tuple[UnsubscribeMethod, ...] = ("one_click", "one_click", "link", "reply", "api")
_ACCOUNT_METHODS: tuple[UnsubscribeMethod, ...] = ("one_click", "link", "reply", "feedback_loop")
_PLATFORM_REASONS: tuple[SuppressionReason, ...] = (
    "manual",
    "hard_bounce",
    "complaint",
    "erasure",
)
_ROLE_SENDS: tuple[tuple[str, str, Classification], ...] = (
    ("info@example.com", "acme-shoes", "commercial"),
    ("Sales@Example.net", "globex-saas", "commercial"),
    ("info@example.org", "northwind-news", "commercial"),
    ("support@example.org", "globex-saas", "transactional"),  # allowed: the rule is marketing only
)
_MALFORMED_SENDS: tuple[tuple[str, str, Classification], ...] = (
    ("bob@@example.com", "acme-shoes", "commercial"),
    ("no-at-sign.example.com", "northwind-news", "commercial"),
    ("carol@example..com", "globex-saas", "transactional"),
)
_COMMERCIAL_SHARE = 0.85
_PROMOTIONAL_SHARE = 0.1
"""Share of random transactional sends whose content is promotional."""
_CONSENT_PROFILES: tuple[tuple[str, float], ...] = (
    ("express", 0.45),
    ("double_opt_in", 0.25),
    ("unconfirmed", 0.05),
    ("import_approved", 0.04),
    ("import_pending", 0.04),
    ("purchase", 0.10),
    ("soft_opt_in", 0.03),
    ("nothing", 0.04),
)
"""How the people of the demo came to be on each account's lists."""
_HONOUR_SHARE = 1 / 3
"""Share of random transactional sends that ask to honour list and account opt-outs."""


@dataclass(frozen=True)
class RawRecord:
    """A value the gate cannot use, published as it is to show the dead-letter path."""

    topic: TopicSpec
    key: bytes | None
    value: bytes
    what: str


@dataclass(frozen=True)
class Scenario:
    """Everything the demo publishes, in publishing order (see the module docstring)."""

    seed: int
    accounts: tuple[str, ...]
    recipients: int
    consents: tuple[ConsentEvent, ...]
    clicks: tuple[UnsubscribeClick, ...]
    sends: tuple[SendRequest, ...]
    race: tuple[tuple[UnsubscribeClick, SendRequest], ...]
    bad_records: tuple[RawRecord, ...]

    @property
    def send_count(self) -> int:
        """Send requests the gate must decide (the race's included, bad records not)."""
        return len(self.sends) + len(self.race)

    @property
    def click_count(self) -> int:
        """Clicks the suppression keeper must apply (the race's included, bad records not)."""
        return len(self.clicks) + len(self.race)

    def all_sends(self) -> tuple[SendRequest, ...]:
        return self.sends + tuple(send for _, send in self.race)


class _Builder:
    """Holds the seeded generator and the fixed inputs while the records are made."""

    def __init__(self, keyer: RecipientKeyer, rng: random.Random, now: datetime) -> None:
        self.keyer = keyer
        self.rng = rng
        self.now = now
        self._countries: dict[str, str | None] = {}

    def country(self, address: str) -> str | None:
        """Each person lives in one country (None: the sender does not know which)."""
        if address not in self._countries:
            self._countries[address] = self.rng.choice(_JURISDICTIONS)
        return self._countries[address]

    def uuid(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def addresses(self, count: int) -> list[str]:
        """`count` distinct, plausible addresses at the example domains."""
        found: dict[str, None] = {}
        while len(found) < count:
            first, last = self.rng.choice(_FIRST_NAMES), self.rng.choice(_LAST_NAMES)
            domain = self.rng.choice(_RECIPIENT_DOMAINS)
            local = self.rng.choice(
                (f"{first}.{last}", f"{first}{self.rng.randint(1, 999)}", f"{first[0]}{last}")
            )
            found.setdefault(f"{local}@{domain}", None)
        return list(found)

    def click(
        self,
        address: str,
        scope: str,
        *,
        account: str | None,
        list_id: str | None = None,
        method: UnsubscribeMethod,
        reason: SuppressionReason = "unsubscribe",
        clicked_at: datetime | None = None,
    ) -> UnsubscribeClick:
        if clicked_at is None:
            age = timedelta(days=self.rng.randint(1, 700), seconds=self.rng.randint(0, 86_399))
            clicked_at = self.now - age
        return UnsubscribeClick(
            click_id=self.uuid(),
            recipient_key=self.keyer.key(address),
            scope=scope,
            account_id=account,
            list_id=list_id,
            method=method,
            reason=reason,
            clicked_at=clicked_at,
        )

    def send(
        self,
        address: str,
        account: str,
        list_id: str | None,
        classification: Classification,
        *,
        honour: bool = False,
        request_id: str = "unnumbered",
    ) -> SendRequest:
        commercial = classification == "commercial"
        subject = _TRANSACTIONAL_SUBJECTS[account]
        if commercial and list_id:
            subject = _SUBJECTS[list_id]
        return SendRequest(
            request_id=request_id,
            account_id=account,
            list_id=list_id,
            recipient=address,
            jurisdiction=self.country(address),
            classification=classification,
            honor_list_opt_outs=honour,
            send_kind="bulk" if commercial else "one_off",
            subject=subject,
            requested_at=self.now,
            **compliant_facts(account, commercial=commercial),
        )

    def random_list(self, account: str) -> str:
        return self.rng.choice(ACCOUNTS[account])

    def other(self, options: tuple[str, ...], than: str) -> str:
        return self.rng.choice([option for option in options if option != than])


R = TypeVar("R", bound=Record)


def _with(record: R, **changes: object) -> R:
    """A validated copy with some fields changed (`model_copy` would skip validation)."""
    return type(record).model_validate({**record.model_dump(), **changes})


def _promotional(send: SendRequest) -> SendRequest:
    """A receipt that carries an offer: the sender says so, and its template is then a
    commercial one, with the footer's unsubscribe link (the mixed-content rule judges it as
    commercial mail)."""
    return _with(
        send,
        promotional_content=True,
        **compliant_facts(send.account_id, commercial=True),
    )


def _respelled(address: str) -> str:
    """The same mailbox with other capitals: the recipient key must not tell them apart."""
    local, _, domain = address.partition("@")
    return f"{local.capitalize()}@{domain.upper()}"


def build_scenario(
    keyer: RecipientKeyer,
    *,
    now: datetime,
    seed: int = DEFAULT_SEED,
    sends: int = DEFAULT_SENDS,
    codec: Codec | None = None,
) -> Scenario:
    """The scenario for `sends` send requests in all (race included), made from `seed`."""
    if sends < MIN_SENDS:
        raise ValueError(f"the demo needs at least {MIN_SENDS} sends, got {sends}")
    rng = random.Random(seed)
    make = _Builder(keyer, rng, now)
    accounts = tuple(ACCOUNTS)
    race_size = min(20, max(2, sends // 250))
    pool_size = max(60, sends * 3 // 10)
    addresses = make.addresses(pool_size + race_size + len(_CONSENT_CASES))
    pool = addresses[:pool_size]
    race_addresses = addresses[pool_size : pool_size + race_size]
    case_consents, case_sends = _consent_cases(make, addresses[pool_size + race_size :])

    clicks: list[UnsubscribeClick] = []
    targeted: list[SendRequest] = []
    for make_group, share, minimum in (
        (_list_unsubscribes, 20, 3),
        (_account_unsubscribes, 33, 3),
        (_platform_suppressions, 50, 4),
    ):
        group_clicks, group_sends = make_group(
            make, rng.sample(pool, max(minimum, pool_size // share))
        )
        clicks += group_clicks
        targeted += group_sends

    # The audit trail's other outcomes: a replayed click changes nothing, a repeated one finds its
    # suppression in place.
    clicks += clicks[:3]
    clicks += [_with(original, click_id=make.uuid(), clicked_at=now) for original in clicks[3:5]]

    odd = [
        make.send(address, account, make.random_list(account), classification)
        if classification == "commercial"
        else make.send(address, account, None, classification)
        for address, account, classification in (*_ROLE_SENDS, *_MALFORMED_SENDS)
    ]

    targeted += case_sends
    fill = sends - race_size - len(targeted) - len(odd)
    if fill < 0:
        raise ValueError(f"{sends} sends are too few for this scenario")
    ordinary = []
    for _ in range(fill):
        account = rng.choice(accounts)
        address = rng.choice(pool)
        if rng.random() < _COMMERCIAL_SHARE:
            ordinary.append(make.send(address, account, make.random_list(account), "commercial"))
        else:
            honour = rng.random() < _HONOUR_SHARE
            ordinary.append(make.send(address, account, None, "transactional", honour=honour))

    # Receipts that carry an offer: judged as commercial (the mixed-content rule).
    ordinary = [
        _promotional(send)
        if send.classification == "transactional" and rng.random() < _PROMOTIONAL_SHARE
        else send
        for send in ordinary
    ]
    mixed = targeted + odd + ordinary
    rng.shuffle(mixed)
    numbered = tuple(
        _with(send, request_id=f"req-{number:05d}") for number, send in enumerate(mixed, start=1)
    )

    race = _race(make, race_addresses)
    consents = (
        _consents(make, pool, accounts)
        + _consents(make, race_addresses, accounts, everyone_opted_in=True)
        + case_consents
    )

    return Scenario(
        seed=seed,
        accounts=accounts,
        recipients=len(addresses),
        consents=consents,
        clicks=tuple(clicks),
        sends=numbered,
        race=race,
        bad_records=_bad_records(make, codec or default_codec(), pool),
    )


Made = tuple[list[UnsubscribeClick], list[SendRequest]]


_CONSENT_CASES: tuple[tuple[str | None, str, Classification, bool], ...] = (
    # (country, consent profile, classification, promotional content): one person each, so every
    # consent rule has a denial to show whatever the scenario's size
    ("CA", "lapsed_purchase", "commercial", False),  # casl-implied-consent-expired
    ("CA", "soft_opt_in", "commercial", False),  # casl-no-valid-consent
    ("DE", "purchase", "commercial", False),  # gdpr-pecr-no-valid-consent
    ("AU", "soft_opt_in", "commercial", False),  # spam-act-no-valid-consent
    ("US", "unconfirmed", "commercial", False),  # consent-status-not-mailable
    ("US", "import_pending", "commercial", False),  # consent-status-not-mailable
    ("GB", "nothing", "transactional", True),  # mixed content: judged as commercial
)


def _consent_cases(
    make: _Builder, addresses: list[str]
) -> tuple[tuple[ConsentEvent, ...], list[SendRequest]]:
    account = "acme-shoes"
    events: list[ConsentEvent] = []
    sends: list[SendRequest] = []
    for address, (country, profile, classification, promotional) in zip(
        addresses, _CONSENT_CASES, strict=True
    ):
        make._countries[address] = country
        if profile == "lapsed_purchase":
            events += _consent_events(make, address, account, "purchase", days=800)
        elif profile != "nothing":
            events += _consent_events(make, address, account, profile)
        list_id = make.random_list(account) if classification == "commercial" else None
        send = make.send(address, account, list_id, classification)
        sends.append(_promotional(send) if promotional else send)
    return tuple(events), sends


def _consents(
    make: _Builder,
    addresses: list[str],
    accounts: tuple[str, ...],
    *,
    everyone_opted_in: bool = False,
) -> tuple[ConsentEvent, ...]:
    """Each person's consent events with each account, oldest first."""
    names = [name for name, _ in _CONSENT_PROFILES]
    weights = [weight for _, weight in _CONSENT_PROFILES]
    events: list[ConsentEvent] = []
    for address in addresses:
        for account in accounts:
            profile = "express" if everyone_opted_in else make.rng.choices(names, weights)[0]
            if profile != "nothing":
                events += _consent_events(make, address, account, profile)
    return tuple(events)


def _consent_events(
    make: _Builder, address: str, account: str, profile: str, *, days: int | None = None
) -> list[ConsentEvent]:
    if days is None:
        days = make.rng.randint(20, 1000)
    if profile == "purchase" and 725 <= days <= 735:
        days = 700  # keep clear of the two-year line, so the run's own clock cannot cross it
    at = make.now - timedelta(days=days, seconds=make.rng.randint(0, 86_399))

    def event(kind: str, when: datetime, **fields: object) -> ConsentEvent:
        return ConsentEvent.model_validate(
            {
                "event_id": make.uuid(),
                "recipient_key": make.keyer.key(address),
                "kind": kind,
                "account_id": account,
                "jurisdiction": make.country(address),
                "source_kind": "form",
                "source_id": f"{account}-signup",
                "occurred_at": when,
                **fields,
            }
        )

    wording = {"wording_version": "2025-01", "ip": "192.0.2.10", "user_agent": "Mozilla/5.0"}
    if profile in ("express", "double_opt_in", "unconfirmed"):
        grant = event(
            "grant",
            at,
            basis="express",
            requires_confirmation=profile != "express",
            **wording,
        )
        if profile != "double_opt_in":
            return [grant]
        confirm = event("confirm", at + timedelta(minutes=7), source_kind="confirmation_link")
        return [grant, confirm]
    if profile in ("import_approved", "import_pending"):
        import_id = f"{account}-import-{at:%Y%m}"
        imported = event("import", at, basis="express", source_kind="import", source_id=import_id)
        if profile == "import_pending":
            return [imported]
        approved = event(
            "review_approved",
            at + timedelta(days=1),
            source_kind="import",
            source_id=import_id,
        )
        return [imported, approved]
    basis = "implied_purchase" if profile == "purchase" else "soft_opt_in"
    return [event("grant", at, basis=basis, source_kind="checkout", source_id=make.uuid())]


def _list_unsubscribes(make: _Builder, addresses: list[str]) -> Made:
    """List scope: the list's mail stops, the account's other lists go on."""
    clicks, sends = [], []
    for index, address in enumerate(addresses):
        account = make.rng.choice(tuple(ACCOUNTS))
        list_id = make.random_list(account)
        method = make.rng.choice(_LIST_METHODS)
        clicks.append(make.click(address, "list", account=account, list_id=list_id, method=method))
        spelled = _respelled(address) if index % 4 == 1 else address
        sends.append(make.send(spelled, account, list_id, "commercial"))
        if index % 3 == 0:
            other_list = make.other(ACCOUNTS[account], list_id)
            sends.append(make.send(address, account, other_list, "commercial"))
    return clicks, sends


def _account_unsubscribes(make: _Builder, addresses: list[str]) -> Made:
    """Account scope: the account's marketing stops; its transactional mail goes on unless the
    request asks to honour opt-outs; other accounts may still write."""
    clicks, sends = [], []
    accounts = tuple(ACCOUNTS)
    for index, address in enumerate(addresses):
        account = make.rng.choice(accounts)
        method = make.rng.choice(_ACCOUNT_METHODS)
        clicks.append(make.click(address, "account", account=account, method=method))
        sends.append(make.send(address, account, make.random_list(account), "commercial"))
        if index == 0:  # also off one of its lists: a send there fails two rules
            list_id = make.random_list(account)
            clicks.append(
                make.click(address, "list", account=account, list_id=list_id, method="one_click")
            )
            sends.append(make.send(address, account, list_id, "commercial"))
        if index % 2 == 0:
            sends.append(make.send(address, account, None, "transactional"))
        else:
            other_account = make.other(accounts, account)
            other_list = make.random_list(other_account)
            sends.append(make.send(address, other_account, other_list, "commercial"))
        if index % 3 == 0:
            sends.append(make.send(address, account, None, "transactional", honour=True))
    return clicks, sends


def _platform_suppressions(make: _Builder, addresses: list[str]) -> Made:
    """Platform scope: operator entries stop every account's mail, transactional included."""
    clicks, sends = [], []
    accounts = tuple(ACCOUNTS)
    for index, address in enumerate(addresses):
        reason = _PLATFORM_REASONS[index % len(_PLATFORM_REASONS)]
        named_account = make.rng.choice(accounts) if reason == "complaint" else None
        clicks.append(
            make.click(address, "platform", account=named_account, method="manual", reason=reason)
        )
        account = make.rng.choice(accounts)
        sends.append(make.send(address, account, make.random_list(account), "commercial"))
        if index % 2 == 0:
            sends.append(make.send(_respelled(address), account, None, "transactional"))
    return clicks, sends


def _race(make: _Builder, addresses: list[str]) -> tuple[tuple[UnsubscribeClick, SendRequest], ...]:
    """A fresh recipient each, unsubscribed now from the list (or account) the send goes to."""
    race = []
    for number, address in enumerate(addresses, start=1):
        account = make.rng.choice(tuple(ACCOUNTS))
        list_id = make.random_list(account)
        if number % 2:
            scope, method, click_list = "list", "one_click", list_id
        else:
            scope, method, click_list = "account", "link", None
        click = make.click(
            address, scope, account=account, list_id=click_list, method=method, clicked_at=make.now
        )
        send = make.send(address, account, list_id, "commercial", request_id=f"race-{number:03d}")
        race.append((click, send))
    return tuple(race)


def _bad_records(make: _Builder, codec: Codec, pool: list[str]) -> tuple[RawRecord, ...]:
    """One record per way a producer gets it wrong; each must become a dead letter."""
    address = make.rng.choice(pool)
    key = make.keyer.key(address).encode("ascii")
    account = "acme-shoes"
    request = make.send(address, account, "newsletter", "commercial", request_id="req-misfiled")
    click = make.click(address, "list", account=account, list_id="newsletter", method="one_click")
    broken_click = UnsubscribeClick.model_construct(  # skips validation: a list click without list
        **{**click.model_dump(), "list_id": None, "click_id": make.uuid()}
    )
    encoded_click = codec.encode(click)
    return (
        RawRecord(SEND_REQUESTS, key, make.rng.randbytes(48), "random bytes"),
        RawRecord(
            SEND_REQUESTS,
            key,
            json.dumps(request.model_dump(mode="json")).encode(),
            "JSON instead of Avro",
        ),
        RawRecord(SEND_REQUESTS, b"req-misfiled", codec.encode(request), "keyed by its request id"),
        RawRecord(SEND_REQUESTS, key, encoded_click, "an unsubscribe on the send topic"),
        RawRecord(UNSUBSCRIBE_CLICKS, key, encoded_click[:-7], "truncated Avro"),
        RawRecord(
            UNSUBSCRIBE_CLICKS, key, codec.encode(broken_click), "list unsubscribe without list"
        ),
    )
