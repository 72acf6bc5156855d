"""`sendgate accounts` on the real broker: status from the rates and standings changelogs, the
ledger's enforcement history beside it, and reinstatement requests as the enforcer reads them.

The changelogs are written here the way faust writes them (raw keys, our Avro values, None for a
deleted key) under the test's own topic prefix; the expected numbers are worked out by hand from
the counts produced. An unreachable broker fails these tests, never skips them.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from typer.testing import CliRunner

from streams.cli import app
from streams.core.settings import Settings
from streams.edges.admin import create_topics, delete_topics
from streams.edges.ledger import LedgerItem, LedgerWriter, make_engine, upgrade
from streams.reputation.breaches import Breach
from streams.reputation.events import enforcement_events
from streams.reputation.policy import StrikePolicy
from streams.reputation.rates import RateBucket, RateState, Window
from streams.reputation.standing import ReinstatementRequest
from streams.reputation.strikes import AccountStanding, apply_breach, breach_id
from streams.topics import ACCOUNT_COMMANDS, RATES_CHANGELOG, STANDINGS_CHANGELOG, default_codec

pytestmark = pytest.mark.integration

ACCOUNT = "acme"
AT = "2025-05-14T12:00:00Z"
WINDOW_START = datetime(2025, 5, 8, tzinfo=UTC)
"""The default policy's rolling window at AT: the seven days May 8 to 14."""
PREVIOUS_WEEK = Window(start=WINDOW_START - timedelta(days=7), end=WINDOW_START)
STRUCK_AT = datetime(2025, 5, 9, 3, 0, tzinfo=UTC)
NOISE_ACCOUNTS = 1500
"""Other accounts in the rates changelog (two keys each): enough for several fetches."""
TOPICS = (RATES_CHANGELOG, STANDINGS_CHANGELOG, ACCOUNT_COMMANDS)


def rates(*buckets: tuple[int, int, int, int]) -> RateState:
    """Buckets as (day of the window, delivered, hard bounced, complained)."""
    return RateState(
        buckets=tuple(
            RateBucket(
                start=WINDOW_START + timedelta(days=n),
                delivered=delivered,
                hard_bounced=hard,
                complained=complained,
            )
            for n, delivered, hard, complained in buckets
        )
    )


def struck_standing() -> tuple[AccountStanding, Any]:
    """Strike 1 for last week's 3 complaints in 1,500 delivered at google."""
    breach = Breach(
        kind="complaint",
        level="strike",
        provider="google",
        window=PREVIOUS_WEEK,
        count=3,
        volume=1500,
        line=Decimal("0.001"),
    )
    return apply_breach(
        AccountStanding(account_id=ACCOUNT),
        breach,
        breach_id=breach_id(ACCOUNT, breach),
        now=STRUCK_AT,
        policy=StrikePolicy(),
    )


Value = RateState | AccountStanding | bytes | None


def changelog_records() -> list[tuple[str, bytes, Value]]:
    """(table, key, value) in the order written; None is a tombstone, bytes are written as they
    are."""
    codec_records: list[tuple[str, bytes, Value]] = [
        # an earlier google value, replaced below: the latest value wins
        ("rates", b"acme|google", rates((1, 100, 0, 0))),
        ("rates", b"acme|yahoo", rates((1, 50, 0, 1))),
        ("standings", b"acme", AccountStanding(account_id=ACCOUNT)),
    ]
    for n in range(NOISE_ACCOUNTS):
        other = f"other-{n}"
        codec_records += [
            ("rates", f"{other}|google".encode(), rates((3, 5000, 500, 50))),
            ("rates", f"{other}|*".encode(), rates((3, 5000, 500, 50))),
        ]
    codec_records += [
        # 1,500 delivered and 3 complaints in the window (0.2%), 10 hard bounces; a bucket from
        # before the window (900 delivered, 9 complaints) that must not count
        ("rates", b"acme|google", rates((-10, 900, 0, 9), (1, 700, 4, 1), (5, 800, 6, 2))),
        # 400 delivered, 20 hard bounces, 1 complaint
        ("rates", b"acme|microsoft", rates((2, 400, 20, 1))),
        # the account-wide count: 1,900 delivered, 30 hard bounces, 4 complaints in the window
        (
            "rates",
            b"acme|*",
            rates((-10, 900, 0, 9), (1, 700, 4, 1), (2, 400, 20, 1), (5, 800, 6, 2)),
        ),
        ("rates", b"acme|yahoo", None),  # deleted
        ("rates", b"acme|aol", b"not a RateState"),  # shown as undecodable, not as zeros
        ("rates", b"acme-2|google", rates((1, 10_000, 0, 100))),  # a different account
        ("standings", b"acme", struck_standing().standing),
        ("standings", b"acme-2", AccountStanding(account_id="acme-2", terminated=True)),
    ]
    return codec_records


async def produce_changelogs(settings: Settings) -> None:
    codec = default_codec()
    topics = {
        "rates": RATES_CHANGELOG.full_name(settings),
        "standings": STANDINGS_CHANGELOG.full_name(settings),
    }
    producer = AIOKafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap_servers, acks="all", enable_idempotence=True
    )
    await producer.start()
    try:
        for table, key, value in changelog_records():
            encoded = value if value is None or isinstance(value, bytes) else codec.encode(value)
            await producer.send(topics[table], encoded, key=key)
        await producer.flush()
    finally:
        await producer.stop()


@pytest.fixture
def topics(settings: Settings) -> Any:
    statuses = asyncio.run(create_topics(settings, TOPICS))
    assert set(statuses.values()) == {"created"}, statuses
    yield
    asyncio.run(delete_topics(settings, TOPICS))


def status(settings: Settings, *args: str) -> Any:
    result = CliRunner().invoke(
        app, ["accounts", "status", ACCOUNT, "--at", AT, *args], obj=settings
    )
    assert result.exit_code == 0, result.output
    return result


def test_status_shows_the_rolling_window_and_the_standing(settings: Settings, topics: None) -> None:
    """Per provider and account-wide: the window's totals and rates as worked out by hand; the
    account's latest values only (google's earlier value, yahoo's deleted key, aol's undecodable
    value, other accounts and the look-alike `acme-2` do not show); the standing with its one
    strike."""
    asyncio.run(produce_changelogs(settings))

    document = json.loads(status(settings, "--json", "--no-ledger").stdout)

    assert document["window"]["id"] == "2025-05-08T00:00Z/2025-05-15T00:00Z"
    by_provider = {row["provider"]: row for row in document["rates"]}
    assert list(by_provider) == ["google", "microsoft", None]
    google, microsoft, wide = by_provider["google"], by_provider["microsoft"], by_provider[None]
    # google: 3 complaints of 1,500 delivered = 0.2%; 10 hard bounces of 1,510 attempted = 0.662%
    assert (google["delivered"], google["hard_bounced"], google["complained"]) == (1500, 10, 3)
    assert google["complaint_rate"] == pytest.approx(3 / 1500)
    assert google["complaint_rate_percent"] == "0.2%"
    assert google["bounce_rate_percent"] == "0.662%"
    assert google["complaint_volume_enough"] is True  # 1,500 >= 1,000
    assert [(b["kind"], b["level"]) for b in google["breaches"]] == [("complaint", "strike")]
    # microsoft: 1 of 400 = 0.25%, but 400 delivered are too few to judge; 20 of 420 = 4.76%
    assert (microsoft["delivered"], microsoft["hard_bounced"], microsoft["complained"]) == (
        400,
        20,
        1,
    )
    assert microsoft["complaint_rate_percent"] == "0.25%"
    assert microsoft["complaint_volume_enough"] is False
    assert microsoft["bounce_rate_percent"] == "4.76%"
    assert microsoft["breaches"] == []
    # account-wide: 4 of 1,900 = 0.211%; 30 of 1,930 = 1.55%, under the 7% bounce line
    assert (wide["delivered"], wide["hard_bounced"], wide["complained"]) == (1900, 30, 4)
    assert wide["complaint_rate_percent"] == "0.211%"
    assert wide["bounce_rate"] == pytest.approx(30 / 1930)
    assert wide["bounce_rate_percent"] == "1.55%"
    assert wide["bounce_volume_enough"] is True
    assert wide["breaches"] == []

    standing = document["standing"]
    assert standing["status"] == "broadcasts_disabled"
    assert standing["strikes_in_period"] == 1
    (strike,) = standing["strikes"]
    assert (strike["number"], strike["provider"], strike["kind"]) == (1, "google", "complaint")
    assert (strike["count"], strike["volume"], strike["line"]) == (3, 1500, "0.001")
    assert strike["window"]["id"] == PREVIOUS_WEEK.id
    assert strike["at"] == "2025-05-09T03:00:00.000Z"
    assert standing["active_pauses"] == []
    assert document["changelogs"]["records_read"] == len(changelog_records())
    assert document["changelogs"]["undecodable"] == ["acme|aol"]


def test_status_tables_and_the_ledger_history(
    settings: Settings, topics: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same numbers as tables, and the strike's enforcement events from the ledger."""
    monkeypatch.setenv("COLUMNS", "160")
    asyncio.run(produce_changelogs(settings))
    url = settings.database_url.get_secret_value()
    upgrade(url)
    engine = make_engine(url)
    try:
        fold = struck_standing()
        events = enforcement_events(fold.actions, standing_after=fold.standing, policy_version="p")
        items = [LedgerItem("enforcement-events", 0, n, event) for n, event in enumerate(events)]
        assert LedgerWriter(engine).write_batch("group", items) == 2
    finally:
        engine.dispose()

    output = status(settings).stdout
    print(output)  # the report shows it with -s

    assert "rates in 2025-05-08T00:00Z/2025-05-15T00:00Z" in output
    for shown in ("1,500", "0.2%", "0.662%", "4.76%", "1,900", "0.211%", "1.55%"):
        assert shown in output
    assert "complaint strike (0.1%)" in output
    assert "acme-2" not in output
    assert "yahoo" not in output
    assert "the latest value of key acme|aol did not decode" in output
    assert "Standing: broadcasts_disabled" in output
    assert "3 / 1,500" in output
    assert "latest enforcement events in the ledger" in output
    assert "strike_issued" in output
    assert "broadcasts_disabled" in output


def test_reinstate_publishes_the_request_keyed_by_account(settings: Settings, topics: None) -> None:
    """The request lands on account-commands with the account as key and who and why in it."""
    result = CliRunner().invoke(
        app,
        [
            "accounts",
            "reinstate",
            ACCOUNT,
            "--reason",
            "passed the best-practice test",
            "--by",
            "ops.lead@sendgate.example",
            "--id",
            "reinstatement-1",
        ],
        obj=settings,
    )
    assert result.exit_code == 0, result.output
    assert "published reinstatement reinstatement-1 for account acme" in result.stdout

    async def read_back() -> list[tuple[bytes | None, ReinstatementRequest]]:
        consumer = AIOKafkaConsumer(
            ACCOUNT_COMMANDS.full_name(settings),
            bootstrap_servers=settings.kafka_bootstrap_servers,
            auto_offset_reset="earliest",
            enable_auto_commit=False,
        )
        await consumer.start()
        try:
            fetched = await consumer.getmany(timeout_ms=10_000)
        finally:
            await consumer.stop()
        codec = default_codec()
        return [
            (message.key, codec.decode(message.value, ReinstatementRequest))
            for messages in fetched.values()
            for message in messages
        ]

    ((key, request),) = asyncio.run(read_back())
    assert key == b"acme"
    assert request.reinstatement_id == "reinstatement-1"
    assert request.account_id == ACCOUNT
    assert request.by == "ops.lead@sendgate.example"
    assert request.reason == "passed the best-practice test"


def test_missing_changelog_topics_are_a_clear_error(settings: Settings) -> None:
    """Before `sendgate topics create` the status names the missing topic and the fix."""
    result = CliRunner().invoke(
        app, ["accounts", "status", ACCOUNT, "--no-ledger", "--timeout", "5"], obj=settings
    )
    assert result.exit_code != 0
    assert "does not exist" in str(result.exception)
    assert "sendgate topics create" in str(result.exception)
