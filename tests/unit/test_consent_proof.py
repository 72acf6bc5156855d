"""Consent events in the ledger (SQLite): chained on write, idempotent on replay, tamper-evident,
and read back by `sendgate consent proof`."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr
from sqlalchemy import Engine, select, text
from typer.testing import CliRunner

from streams.cli import EXIT_SENDGATE_ERROR, app, main
from streams.core.errors import SendgateError
from streams.core.recipient import RecipientKeyer
from streams.core.records import (
    ConsentEvent,
    SendDecision,
    SuppressionChange,
    SuppressionReason,
    SuppressionScope,
)
from streams.core.settings import Settings
from streams.edges.ledger import (
    ConsentEventRow,
    LedgerItem,
    LedgerWriter,
    ledger_counts,
    make_engine,
    read_offsets,
    upgrade,
)
from streams.edges.ledger.chain import GENESIS_HASH, entry_hash, verify_chain
from streams.edges.ledger.proof import prove_consent
from streams.policy import Policy
from tests.support.factory import consent_event, suppression_entry

SECRET = "consent-proof-unit-secret-0123456789"
ADDRESS = "jo.proof@example.com"
KEYER = RecipientKeyer(SECRET.encode())
KEY = KEYER.key(ADDRESS)
OTHER_KEY = KEYER.key("sam.other@example.org")
CONSENTS = "consent-events"
CHANGES = "suppression-changes"
GROUP = "sendgate-ledger"
T0 = datetime(2025, 1, 6, 9, 0, tzinfo=UTC)
DAY = timedelta(days=1)


event = partial(consent_event, recipient_key=KEY, lists=("news",), occurred_at=T0)
"""Jo's consent events about acme's news; the ledger tests name each `evt-<n>`."""


def opt_out(
    n: int,
    at: datetime,
    *,
    scope: SuppressionScope = "list",
    account_id: str | None = "acme",
    list_id: str | None = "news",
    reason: SuppressionReason = "unsubscribe",
    key: str = KEY,
) -> SuppressionChange:
    entry = suppression_entry(
        scope=scope,
        account_id=account_id,
        list_id=list_id,
        reason=reason,
        since=at,
        source=f"unsubscribe-clicks/0/{n}",
        source_event_id=f"click-{n}",
    )
    return SuppressionChange(recipient_key=key, entry=entry, outcome="added", changed_at=at)


def story() -> list[LedgerItem]:
    """Jo signs up to acme's news (double opt-in, in Germany), confirms, unsubscribes a month
    later and signs up again ten days after; in between Jo also buys from globex."""
    signup = event(
        event_id="evt-1",
        requires_confirmation=True,
        jurisdiction="DE",
        source_id="signup-form",
        wording_hash="c0" * 32,
        wording_version="news-v3",
        ip="192.0.2.44",
        user_agent="Mozilla/5.0 (X11; Linux x86_64)",
    )
    confirm = event(
        event_id="evt-2",
        kind="confirm",
        source_kind="confirmation_link",
        occurred_at=T0 + timedelta(minutes=10),
    )
    purchase = event(
        event_id="evt-3",
        account_id="globex",
        lists=(),
        basis="implied_purchase",
        jurisdiction="DE",
        source_kind="checkout",
        occurred_at=T0 + 20 * DAY,
    )
    again = event(
        event_id="evt-4",
        jurisdiction="DE",
        source_id="signup-form",
        wording_version="news-v3",
        occurred_at=T0 + 40 * DAY,
    )
    return [
        LedgerItem(CONSENTS, 0, 0, signup),
        LedgerItem(CONSENTS, 0, 1, confirm),
        LedgerItem(CONSENTS, 0, 2, purchase),
        LedgerItem(CONSENTS, 0, 3, again),
        LedgerItem(CHANGES, 0, 0, opt_out(1, T0 + 30 * DAY)),
    ]


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'ledger.sqlite3'}"


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    upgrade(database_url)
    engine = make_engine(database_url)
    yield engine
    engine.dispose()


def chain_rows(engine: Engine, key: str = KEY) -> list[dict[str, Any]]:
    with engine.connect() as connection:
        rows = connection.execute(
            select(ConsentEventRow.__table__)
            .where(ConsentEventRow.recipient_key == key)
            .order_by(ConsentEventRow.chain_seq)
        ).mappings()
        return [dict(row) for row in rows]


def chain_columns(engine: Engine) -> list[tuple[str, int, str, str]]:
    with engine.connect() as connection:
        return [
            tuple(row)
            for row in connection.execute(
                select(
                    ConsentEventRow.event_id,
                    ConsentEventRow.chain_seq,
                    ConsentEventRow.prev_hash,
                    ConsentEventRow.entry_hash,
                ).order_by(ConsentEventRow.recipient_key, ConsentEventRow.chain_seq)
            )
        ]


# --- the chained writer ---------------------------------------------------------------------------


def test_events_are_chained_per_recipient_across_batches(engine: Engine) -> None:
    """Two recipients interleaved over two batches: each gets 1, 2, 3 linked from 64 zeros."""
    writer = LedgerWriter(engine)
    first = [
        LedgerItem(CONSENTS, 0, 0, event(event_id="evt-1")),
        LedgerItem(CONSENTS, 0, 1, event(event_id="evt-2", recipient_key=OTHER_KEY)),
        LedgerItem(CONSENTS, 0, 2, event(event_id="evt-3", kind="confirm")),
    ]
    second = [
        LedgerItem(
            CONSENTS, 0, 3, event(event_id="evt-4", recipient_key=OTHER_KEY, account_id="globex")
        ),
        LedgerItem(CONSENTS, 0, 4, event(event_id="evt-5", kind="withdraw")),
        LedgerItem(
            CONSENTS, 0, 5, event(event_id="evt-6", kind="withdraw", recipient_key=OTHER_KEY)
        ),
    ]

    assert writer.write_batch(GROUP, first) == 3
    assert writer.write_batch(GROUP, second) == 3

    jo, sam = chain_rows(engine, KEY), chain_rows(engine, OTHER_KEY)
    assert [(row["event_id"], row["chain_seq"]) for row in jo] == [
        ("evt-1", 1),
        ("evt-3", 2),
        ("evt-5", 3),
    ]
    assert [(row["event_id"], row["chain_seq"]) for row in sam] == [
        ("evt-2", 1),
        ("evt-4", 2),
        ("evt-6", 3),
    ]
    for rows in (jo, sam):
        assert rows[0]["prev_hash"] == GENESIS_HASH
        assert [row["prev_hash"] for row in rows[1:]] == [row["entry_hash"] for row in rows[:-1]]
        for row in rows:
            assert row["entry_hash"] == entry_hash(row["prev_hash"], row, row["chain_seq"])
        assert verify_chain(rows).verified
    assert read_offsets(engine, GROUP) == {(CONSENTS, 0): 6}


def test_a_batch_is_chained_in_offset_order(engine: Engine) -> None:
    """Items handed over out of order are chained by their offsets."""
    items = [
        LedgerItem(CONSENTS, 0, 9, event(event_id="evt-3", kind="withdraw")),
        LedgerItem(CONSENTS, 0, 7, event(event_id="evt-1")),
        LedgerItem(CONSENTS, 0, 8, event(event_id="evt-2", kind="confirm")),
    ]
    LedgerWriter(engine).write_batch(GROUP, items)

    assert [(row["event_id"], row["chain_seq"]) for row in chain_rows(engine)] == [
        ("evt-1", 1),
        ("evt-2", 2),
        ("evt-3", 3),
    ]


def test_every_field_is_stored_including_ip_and_user_agent(engine: Engine) -> None:
    """The ledger is the one place the IP address and the user agent are kept."""
    signup = story()[0].record
    LedgerWriter(engine).write_batch(GROUP, story()[:1])

    row = chain_rows(engine)[0]
    assert row["ip"] == "192.0.2.44"
    assert row["user_agent"] == "Mozilla/5.0 (X11; Linux x86_64)"
    assert row["wording_hash"] == "c0" * 32
    assert row["lists"] == ["news"]
    assert row["requires_confirmation"] is True
    assert row["occurred_at"] == T0
    assert row["occurred_at"].tzinfo is UTC
    assert (row["kafka_topic"], row["kafka_partition"], row["kafka_offset"]) == (CONSENTS, 0, 0)
    assert ConsentEvent.model_validate({k: row[k] for k in ConsentEvent.model_fields}) == signup


def test_a_replay_adds_nothing_and_leaves_the_chains_alone(engine: Engine) -> None:
    """The same batch again, the same events at new coordinates (redelivered), and an event
    repeated within one batch: no row is added and no chain column changes."""
    writer = LedgerWriter(engine)
    items = story()
    assert writer.write_batch(GROUP, items) == 5
    before = chain_columns(engine)

    assert writer.write_batch(GROUP, items) == 0
    redelivered = [
        LedgerItem(CONSENTS, 1, 100 + n, item.record)
        for n, item in enumerate(items)
        if item.topic == CONSENTS
    ]
    assert writer.write_batch(GROUP, redelivered) == 0
    assert writer.write_batch(GROUP, items[1:3] + items[1:3]) == 0

    assert chain_columns(engine) == before
    assert ledger_counts(engine)["consent_events"] == 4


def test_a_new_event_after_a_replayed_one_continues_the_chain(engine: Engine) -> None:
    """In a batch that repeats stored events, only the new one is numbered, after the head."""
    writer = LedgerWriter(engine)
    writer.write_batch(GROUP, [LedgerItem(CONSENTS, 0, 0, event(event_id="evt-1"))])
    mixed = [
        LedgerItem(CONSENTS, 0, 0, event(event_id="evt-1")),
        LedgerItem(CONSENTS, 0, 1, event(event_id="evt-2", kind="confirm")),
        # the same event id again
        LedgerItem(CONSENTS, 0, 2, event(event_id="evt-2", kind="confirm")),
    ]

    assert writer.write_batch(GROUP, mixed) == 1

    rows = chain_rows(engine)
    assert [(row["event_id"], row["chain_seq"], row["kafka_offset"]) for row in rows] == [
        ("evt-1", 1, 0),
        ("evt-2", 2, 1),
    ]
    assert verify_chain(rows).verified


def test_consent_events_share_the_transaction_of_other_rows(engine: Engine) -> None:
    """One batch with a decision and consent events: all rows and both offsets, together."""
    decision = SendDecision(
        request_id="req-1",
        account_id="acme",
        recipient_key=KEY,
        verdict="allow",
        policy_version="test",
        decided_at=T0,
        request_offset="send-requests/0/0",
    )
    items = [
        LedgerItem("send-decisions", 2, 5, decision),
        *story(),
    ]

    assert LedgerWriter(engine).write_batch(GROUP, items) == 6
    assert read_offsets(engine, GROUP) == {
        ("send-decisions", 2): 6,
        (CONSENTS, 0): 4,
        (CHANGES, 0): 1,
    }


# --- tampering, seen by the proof -----------------------------------------------------------------


def proof_at(engine: Engine, policy: Policy, at: datetime, list_id: str | None = "news") -> Any:
    return prove_consent(engine, KEY, "acme", list_id=list_id, at=at, policy=policy)


def test_a_row_edited_with_sql_is_detected(engine: Engine, policy: Policy) -> None:
    """Turning the signup's basis into a soft opt-in by hand breaks the chain at entry 1."""
    LedgerWriter(engine).write_batch(GROUP, story())
    with engine.begin() as connection:
        connection.execute(
            text("UPDATE consent_events SET basis = 'soft_opt_in' WHERE event_id = 'evt-1'")
        )

    chain = proof_at(engine, policy, T0 + DAY).chain

    assert not chain.verified
    assert (chain.first_bad_seq, chain.problem) == (1, "edited")


def test_a_deleted_middle_row_is_detected(engine: Engine, policy: Policy) -> None:
    """Deleting the confirmation (entry 2 of 4) leaves a gap the proof names."""
    LedgerWriter(engine).write_batch(GROUP, story())
    with engine.begin() as connection:
        connection.execute(text("DELETE FROM consent_events WHERE event_id = 'evt-2'"))

    chain = proof_at(engine, policy, T0 + DAY).chain

    assert (chain.verified, chain.first_bad_seq, chain.problem) == (False, 2, "missing")


# --- the verdict ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("at", "permitted", "failed_rules", "status"),
    [
        # Before the signup nothing is on record.
        (T0 - DAY, False, ["consent-status-not-mailable"], None),
        # Signed up but not confirmed yet: double opt-in lists wait for the confirmation.
        (T0 + timedelta(minutes=5), False, ["consent-status-not-mailable"], "unconfirmed"),
        # Confirmed: express consent, double opt-in, which the GDPR accepts.
        (T0 + DAY, True, [], "double_opt_in"),
        # Unsubscribed from the list: the platform and the GDPR both say no.
        (
            T0 + 35 * DAY,
            False,
            ["consent-status-not-mailable", "gdpr-pecr-no-valid-consent"],
            "transactional_only",
        ),
        # Signed up again, this time without confirmation required.
        (T0 + 41 * DAY, True, [], "single_opt_in"),
    ],
)
def test_the_verdict_follows_the_history(
    engine: Engine,
    policy: Policy,
    at: datetime,
    permitted: bool,
    failed_rules: list[str],
    status: str | None,
) -> None:
    """Folding the stored rows up to the time gives the permission of that time."""
    LedgerWriter(engine).write_batch(GROUP, story())

    verdict = proof_at(engine, policy, at).verdict

    assert verdict.permitted is permitted
    assert [failure.rule for failure in verdict.failures] == failed_rules
    assert (verdict.entry.status if verdict.entry else None) == status


def test_the_history_is_the_accounts_in_event_time(engine: Engine, policy: Policy) -> None:
    """acme's three events and the opt-out between them; globex's purchase is left out of the
    history but still counted in the chain."""
    LedgerWriter(engine).write_batch(GROUP, story())

    proof = proof_at(engine, policy, T0 + 35 * DAY)

    assert [(line.event, line.chain_seq, line.status_after) for line in proof.history] == [
        ("grant", 1, "unconfirmed"),
        ("confirm", 2, "double_opt_in"),
        ("opt_out (unsubscribe)", None, "transactional_only"),
        ("grant", 4, "single_opt_in"),
    ]
    assert [line.counted for line in proof.history] == [True, True, True, False]
    assert proof.chain.entries == 4
    assert (proof.consent_events, proof.suppression_changes) == (4, 1)


def test_casl_implied_consent_lapses_after_two_years(engine: Engine, policy: Policy) -> None:
    """A Canadian purchase allows commercial mail for 24 months (CASL s.10(10)), then not."""
    purchase = event(
        event_id="evt-1",
        lists=(),
        basis="implied_purchase",
        jurisdiction="CA",
        source_kind="checkout",
    )
    LedgerWriter(engine).write_batch(GROUP, [LedgerItem(CONSENTS, 0, 0, purchase)])

    within = proof_at(engine, policy, datetime(2027, 1, 5, tzinfo=UTC), list_id=None).verdict
    lapsed = proof_at(engine, policy, datetime(2027, 1, 7, tzinfo=UTC), list_id=None).verdict

    assert within.permitted
    assert within.regimes == ("casl",)
    assert not lapsed.permitted
    assert [failure.rule for failure in lapsed.failures] == ["casl-implied-consent-expired"]
    assert "2027-01-06" in lapsed.explanation


def test_a_platform_opt_out_through_another_account_counts(engine: Engine, policy: Policy) -> None:
    """A complaint about globex's mail, suppressed platform-wide, ends acme's consent too, and
    shows in acme's history."""
    complaint = opt_out(
        9, T0 + DAY, scope="platform", account_id=None, list_id=None, reason="complaint"
    )
    LedgerWriter(engine).write_batch(
        GROUP,
        [LedgerItem(CONSENTS, 0, 0, event(event_id="evt-1")), LedgerItem(CHANGES, 0, 0, complaint)],
    )

    proof = proof_at(engine, policy, T0 + 2 * DAY)

    assert not proof.verdict.permitted
    assert proof.verdict.entry is not None
    assert proof.verdict.entry.withdrawn_reason == "complaint"
    assert [line.event for line in proof.history] == ["grant", "opt_out (complaint)"]


def test_an_unknown_recipient_has_an_empty_proof(engine: Engine, policy: Policy) -> None:
    """Nothing stored: nothing permitted, and an empty chain that verifies."""
    proof = proof_at(engine, policy, T0)
    assert proof.empty
    assert proof.history == ()
    assert not proof.verdict.permitted
    assert proof.chain.verified


# --- the command line -----------------------------------------------------------------------------


def settings_for(database_url: str) -> Settings:
    return Settings(
        kafka_bootstrap_servers="127.0.0.1:1",
        recipient_key_secret=SecretStr(SECRET),
        database_url=SecretStr(database_url),
    )


def invoke(database_url: str, *args: str) -> Any:
    return CliRunner().invoke(
        app,
        ["consent", "proof", *args],
        obj=settings_for(database_url),
        env={"COLUMNS": "200"},
    )


def test_cli_prints_the_history_the_verdict_and_the_chain(
    engine: Engine, database_url: str
) -> None:
    """The table names the person, each event, the verdict and the verified chain; exit 0."""
    LedgerWriter(engine).write_batch(GROUP, story())

    result = invoke(
        database_url, ADDRESS, "--account", "acme", "--list", "news", "--at", "2025-01-07T09:00Z"
    )

    assert result.exit_code == 0, result.output
    out = result.output
    assert f"Consent proof for {ADDRESS}" in out
    assert KEY in out
    for text_ in ("grant", "confirm", "opt_out (unsubscribe)", "double_opt_in", "news-v3"):
        assert text_ in out
    assert "2025-01-06 09:10:00" in out
    assert "bulk commercial mail PERMITTED" in out
    assert "Chain: verified (4 entries" in out
    assert "globex" not in out


def test_cli_json_exports_the_same_proof(engine: Engine, database_url: str) -> None:
    """--json is one document: verdict, chain, and every stored column of each row."""
    LedgerWriter(engine).write_batch(GROUP, story())

    result = invoke(
        database_url,
        ADDRESS,
        "--account",
        "acme",
        "--list",
        "news",
        "--at",
        "2025-02-10T00:00Z",
        "--json",
    )

    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["address"] == ADDRESS
    assert document["recipient_key"] == KEY
    assert document["at"] == "2025-02-10T00:00:00.000Z"
    assert document["verdict"]["bulk_commercial_permitted"] is False
    assert [f["rule"] for f in document["verdict"]["failures"]] == [
        "consent-status-not-mailable",
        "gdpr-pecr-no-valid-consent",
    ]
    assert document["verdict"]["consent"]["status"] == "transactional_only"
    assert document["chain"]["verified"] is True
    assert document["chain"]["entries"] == 4
    history = document["history"]
    assert [line["event"] for line in history] == [
        "grant",
        "confirm",
        "opt_out (unsubscribe)",
        "grant",
    ]
    signup = history[0]["stored"]
    assert signup["ip"] == "192.0.2.44"
    assert signup["user_agent"] == "Mozilla/5.0 (X11; Linux x86_64)"
    assert signup["occurred_at"] == "2025-01-06T09:00:00.000Z"
    assert signup["prev_hash"] == GENESIS_HASH
    assert history[2]["stored"]["source_event_id"] == "click-1"


def test_cli_exits_1_when_the_chain_is_broken(engine: Engine, database_url: str) -> None:
    """A hand-edited row: the proof still prints, names the entry and exits 1."""
    LedgerWriter(engine).write_batch(GROUP, story())
    with engine.begin() as connection:
        connection.execute(
            text("UPDATE consent_events SET wording_version = 'news-v4' WHERE event_id = 'evt-4'")
        )

    table = invoke(database_url, ADDRESS, "--account", "acme", "--at", "2025-03-01T00:00Z")
    exported = invoke(database_url, ADDRESS, "--account", "acme", "--json")

    assert table.exit_code == 1
    assert "BROKEN at entry 4" in table.output
    assert exported.exit_code == 1
    chain = json.loads(exported.stdout)["chain"]
    assert (chain["verified"], chain["first_bad_seq"], chain["problem"]) == (False, 4, "edited")


def test_cli_says_when_nothing_is_stored(engine: Engine, database_url: str) -> None:
    """A person the ledger never heard of: said plainly, not permitted, exit 0."""
    result = invoke(database_url, "nobody@example.net", "--account", "acme")

    assert result.exit_code == 0, result.output
    assert "holds no consent event and no suppression change" in result.output
    assert "NOT PERMITTED" in result.output


def test_cli_reads_the_database_url_option(
    engine: Engine, database_url: str, tmp_path: Path
) -> None:
    """--database-url wins over the settings' URL."""
    LedgerWriter(engine).write_batch(GROUP, story())
    elsewhere = f"sqlite:///{tmp_path / 'other.sqlite3'}"
    result = CliRunner().invoke(
        app,
        ["consent", "proof", ADDRESS, "--account", "acme", "--database-url", database_url],
        obj=settings_for(elsewhere),
        env={"COLUMNS": "200"},
    )
    assert result.exit_code == 0, result.output
    assert "Chain: verified (4 entries" in result.output


def test_cli_without_the_table_is_a_sendgate_error(tmp_path: Path) -> None:
    """A ledger that was never migrated: our error, which says what to run."""
    url = f"sqlite:///{tmp_path / 'unmigrated.sqlite3'}"
    result = invoke(url, ADDRESS, "--account", "acme")
    assert isinstance(result.exception, SendgateError)
    assert "sendgate ledger migrate" in str(result.exception)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([ADDRESS], "Missing option '--account'"),
        ([ADDRESS, "--account", "acme", "--at", "yesterday"], "is not an ISO-8601 time"),
        ([ADDRESS, "--account", "acme", "--at", "2025-01-01T00:00:00"], "has no time zone"),
        ([ADDRESS, "--account", " "], "must not be empty"),
        ([ADDRESS, "--account", "acme", "--list", ""], "must not be empty"),
        (["--account", "acme"], "Missing argument"),
    ],
)
def test_cli_usage_errors_exit_2_without_a_traceback(
    args: list[str],
    message: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Bad arguments are refused before any work: exit 2, the problem named, no traceback."""
    monkeypatch.setenv("COLUMNS", "200")
    with pytest.raises(SystemExit) as excinfo:
        main(["consent", "proof", *args])
    captured = capsys.readouterr()
    output = captured.out + captured.err

    assert excinfo.value.code == EXIT_SENDGATE_ERROR == 2
    assert message in output
    assert "Traceback" not in output
