"""A person's erasure on the real services, from `sendgate erase` to `completed`.

Ana signed up to two accounts (her IP address, browser and the sign-up form's id recorded), was
mailed, soft-bounced once and complained once. She is erased with `sendgate erase`; a real worker,
the ledger sink and the broker then do their parts. Afterwards her address, IP address and user
agent are in no Kafka record of any of the test's topics (decoded values and raw bytes, from the
beginning of every partition), nor in a full `pg_dump` of the ledger, nor in the worker's table
folders; the form's id is in neither Kafka nor PostgreSQL. Every send to her is denied
`platform-suppressed` (and to Dee, whose erasure a platform's tool publishes straight to
`erasure-requests`, from the send right after it), her consent chain still verifies, and the
replay still decides everyone else's traffic as the gate did.

The topics about a person keep records for 40 s here (`SENDGATE_PERSONAL_TOPIC_RETENTION_S`; the
project's broker looks for expired segments every 10 s), so the erasure completes in about a
minute rather than a week. Values are unique to the run, so other tests' rows in the session's
database and topics can neither hide a leak nor fake one; Bo's values, kept, must still be found
where Ana's must not, so the searches are shown to find what is there.
"""

from __future__ import annotations

import asyncio
import smtplib
import time
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from pydantic import SecretStr
from typer.testing import CliRunner

from streams.cli import app
from streams.core.recipient import RecipientKeyer
from streams.core.records import ErasureRequest, SendDecision
from streams.core.settings import Settings
from streams.edges.admin import partitions_of
from streams.edges.intake import SmtpIntake
from streams.edges.ledger import erasure_status, make_engine, run_ledger_sink
from streams.edges.ledger.proof import prove_consent
from streams.policy import load_policy
from streams.sending.signing_keys import verp_signer
from streams.topics import (
    ERASURE_REQUESTS,
    SEND_DECISIONS,
    SEND_REQUESTS,
    all_record_types,
    default_codec,
)
from tests.support.factory import consent_event, send_request
from tests.support.kafka import TopicReader, create_all_topics, new_producer, publish_consents
from tests.support.mail import arf_report, dsn
from tests.support.postgres import pg_dump
from tests.support.workers import GateWorker

RETENTION_S = 40
FBL = "fbl@feedback.sendgate.example"
PARTITIONS = 4


def smtp_send(port: int, rcpt: str, data: bytes) -> None:
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as client:
        client.sendmail("", [rcpt], data)


async def every_record(settings: Settings) -> dict[str, list[tuple[bytes, bytes]]]:
    """Every record of every topic of the test (its prefix names them all, the workers' internal
    topics and changelogs included), from the beginning of each partition, as raw key and value
    bytes."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap_servers,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap_servers)
    await admin.start()
    try:
        topics = sorted(t for t in await admin.list_topics() if t.startswith(settings.topic_prefix))
        described = await partitions_of(admin, topics)
    finally:
        await admin.close()
    assert len(topics) > 20, topics
    partitions = [tp for topic in topics for tp in described[topic]]
    assert all(described[topic] for topic in topics)
    await consumer.start()
    try:
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        records: dict[str, list[tuple[bytes, bytes]]] = {topic: [] for topic in topics}
        left = {tp for tp in partitions if ends[tp] > await consumer.position(tp)}
        deadline = time.monotonic() + 60
        while left:
            assert time.monotonic() < deadline, f"could not read {sorted(map(str, left))}"
            for tp, messages in (await consumer.getmany(timeout_ms=500)).items():
                records[tp.topic] += [(m.key or b"", m.value or b"") for m in messages]
                if messages and messages[-1].offset + 1 >= ends[tp]:
                    left.discard(tp)
        return records
    finally:
        await consumer.stop()


def found_in_records(
    records: dict[str, list[tuple[bytes, bytes]]], needles: Iterable[str]
) -> dict[str, set[str]]:
    """Which needles each topic holds, in its raw bytes or in its values decoded."""
    codec = default_codec()
    record_types = all_record_types()
    found: dict[str, set[str]] = {}
    for topic, pairs in records.items():
        for key, value in pairs:
            texts = [key.lower(), value.lower()]
            try:
                decoded = codec.decode_one_of(value, record_types)
                texts.append(str(decoded.model_dump()).lower().encode())
            except Exception:  # not one of our records (faust's own), or a tombstone
                pass
            for needle in needles:
                if any(needle.lower().encode() in text for text in texts):
                    found.setdefault(topic, set()).add(needle)
    return found


def found_in_folder(folder: Path, needles: Iterable[str]) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for path in folder.rglob("*"):
        if path.is_file():
            data = path.read_bytes().lower()
            hits = {needle for needle in needles if needle.lower().encode() in data}
            if hits:
                found[str(path.relative_to(folder))] = hits
    return found


async def cli(settings: Settings, *args: str) -> tuple[int, str]:
    result = await asyncio.to_thread(CliRunner().invoke, app, list(args), obj=settings)
    return result.exit_code, result.output


async def test_an_erased_person_is_nowhere_and_never_mailed_again(
    settings: Settings, ledger_database_url: str, tmp_path: Path
) -> None:
    settings = settings.model_copy(
        update={
            "database_url": SecretStr(ledger_database_url),
            "personal_topic_retention_s": RETENTION_S,
            "broker_retention_check_s": 10,
            "state_fence_timeout_s": 120.0,
            "topic_partitions": PARTITIONS,
        }
    )
    run = uuid.uuid4().hex[:10]
    keyer = RecipientKeyer(settings.recipient_secret())
    codec = default_codec()
    ana = f"ana.{run}@example.com"
    ana_ip, ana_agent, ana_form = f"2001:db8::a:{run[:4]}", f"AnaBrowser/{run}", f"spring-{run}"
    bo = f"bo.{run}@example.org"
    dee = f"dee.{run}@example.net"
    bo_ip = f"2001:db8::b:{run[:4]}"
    ana_key, bo_key = keyer.key(ana), keyer.key(bo)
    others = [f"cy{n}.{run}@example.net" for n in range(6)]
    needles = {"address": ana, "IP address": ana_ip, "user agent": ana_agent}
    now = datetime.now(UTC)

    await create_all_topics(settings)
    verp = verp_signer(settings)
    intake = SmtpIntake(settings, verp=verp, feedback_addresses=[FBL], max_message_bytes=1_000_000)
    port = await intake.start()
    stop_ledger = asyncio.Event()
    ledger = asyncio.create_task(run_ledger_sink(settings, stop=stop_ledger))
    producer = await new_producer(settings)
    engine = make_engine(ledger_database_url)

    async def decide(*requests: tuple[str, str, str]) -> dict[str, SendDecision]:
        """(request id, address, account) sends, published now; their decisions."""
        for request_id, address, account in requests:
            request = send_request(
                recipient=address,
                request_id=request_id,
                account_id=account,
                requested_at=datetime.now(UTC),
            )
            await producer.send(
                SEND_REQUESTS.full_name(settings),
                key=keyer.key(address).encode(),
                value=codec.encode(request),
            )
        await producer.flush()
        wanted = {request_id for request_id, _, _ in requests}
        got = await decisions.read_until(
            lambda seen: wanted <= {d.request_id for d in seen}, 120, f"decisions {wanted}"
        )
        return {d.request_id: d for d in got if d.request_id in wanted}

    try:
        with GateWorker(settings, "erasure-worker", tmp_path):
            async with TopicReader(
                settings, SEND_DECISIONS.full_name(settings), SendDecision
            ) as decisions:
                # Ana signs up to acme on its spring form, and buys from maple (implied consent,
                # with a deadline); Bo and the others sign up to acme.
                await publish_consents(
                    settings,
                    [
                        consent_event(
                            event_id=f"ana-acme-{run}",
                            recipient_key=ana_key,
                            source_id=ana_form,
                            ip=ana_ip,
                            user_agent=ana_agent,
                            occurred_at=now - timedelta(days=3),
                        ),
                        consent_event(
                            event_id=f"ana-maple-{run}",
                            recipient_key=ana_key,
                            account_id="maple",
                            basis="implied_purchase",
                            source_kind="checkout",
                            jurisdiction="CA",
                            occurred_at=now - timedelta(days=2),
                        ),
                        consent_event(
                            event_id=f"dee-{run}",
                            recipient_key=keyer.key(dee),
                            occurred_at=now - timedelta(days=3),
                        ),
                        consent_event(
                            event_id=f"bo-{run}",
                            recipient_key=bo_key,
                            ip=bo_ip,
                            occurred_at=now - timedelta(days=3),
                        ),
                        *(
                            consent_event(
                                event_id=f"other-{n}-{run}",
                                recipient_key=keyer.key(other),
                                occurred_at=now - timedelta(days=1),
                            )
                            for n, other in enumerate(others)
                        ),
                    ],
                    timeout_s=120,
                )
                sent = await decide(
                    ("ana-1", ana, "acme"),
                    ("ana-2", ana, "maple"),
                    ("bo-1", bo, "acme"),
                    ("dee-1", dee, "acme"),
                )
                assert {d.verdict for d in sent.values()} == {"allow"}
                # A soft bounce and a complaint come back for Ana.
                path = verp.return_path(ana_key)
                bounce = dsn(
                    ana,
                    status="4.2.2",
                    action="delayed",
                    account="acme",
                    request_id="ana-1",
                    return_path=path,
                )
                complaint = arf_report(
                    ana, feedback_type="abuse", account="maple", request_id="ana-2"
                )
                await asyncio.to_thread(smtp_send, port, path, bounce)
                await asyncio.to_thread(smtp_send, port, FBL, complaint)
                held = await until(lambda: ana_ip in pg_dump(ledger_database_url), "Ana's IP")
                assert held

                code, out = await cli(settings, "erase", ana, "--request-id", f"dpo-{run}")
                assert code == 0, out
                assert ana not in out
                erased_at = datetime.now(UTC)
                after = await decide(("ana-3", ana, "acme"), ("ana-4", ana, "maple"))
                for decision in after.values():
                    assert decision.verdict == "deny"
                    assert "platform-suppressed" in [f.rule for f in decision.failures]

                # Dee's erasure comes from a platform's own tool, straight to erasure-requests:
                # acknowledged, it stops the very next send just the same.
                dee_request = ErasureRequest(
                    request_id=f"tool-{run}",
                    recipient_key=keyer.key(dee),
                    requested_by="platform-tool",
                    requested_at=datetime.now(UTC),
                )
                await producer.send_and_wait(
                    ERASURE_REQUESTS.full_name(settings),
                    key=dee_request.recipient_key.encode(),
                    value=codec.encode(dee_request),
                )
                dee_after = await decide(("dee-2", dee, "acme"))
                assert "platform-suppressed" in [f.rule for f in dee_after["dee-2"].failures]

                # Everyone else is mailed on while the erasure completes.
                n = 0
                while True:
                    status = erasure_status(engine, f"dpo-{run}")
                    if status is not None and status.completed:
                        break
                    assert datetime.now(UTC) < erased_at + timedelta(minutes=4), status
                    await decide((f"other-{n}", others[n % len(others)], "acme"))
                    n += 1
                    await asyncio.sleep(2)
                replay_from = datetime.now(UTC)
                later = await decide(
                    ("ana-5", ana, "acme"),
                    *((f"last-{i}", other, "acme") for i, other in enumerate(others)),
                )
                assert "platform-suppressed" in [f.rule for f in later["ana-5"].failures]
                assert all(later[f"last-{i}"].verdict == "allow" for i in range(len(others)))

            # What the erasure says it did: the places, each done by a moment now past.
            assert status.completed_at is not None
            actions = {line.place: line.action for line in status.places}
            assert actions["ledger.consent_events"] == "redacted"
            assert actions["gate table consents"] == "deleted"
            assert actions["gate table suppressions"] == "kept"
            assert actions[f"topic {SEND_REQUESTS.full_name(settings)}"] == "expires"
            assert all(line.done_by <= status.completed_at for line in status.places)
            code, out = await cli(settings, "erase", "--status", f"dpo-{run}")
            assert (code, "Complete" in out) == (0, True), out

            # Kafka: compaction runs on the broker's own schedule; give it a little more. A send
            # request to Cy published just before each look shows the search finds an address.
            await publish_probe(producer, settings, keyer, others[0])
            records = await every_record(settings)
            found = found_in_records(records, [*needles.values(), ana_form])
            deadline = time.monotonic() + 90
            while found and time.monotonic() < deadline:
                await asyncio.sleep(5)
                await publish_probe(producer, settings, keyer, others[0])
                records = await every_record(settings)
                found = found_in_records(records, [*needles.values(), ana_form])
            leaks = {t: sorted(kind_of(v, needles) for v in vs) for t, vs in found.items()}
            assert leaks == {}
            kept = found_in_records(records, [others[0]])
            assert SEND_REQUESTS.full_name(settings) in kept, "the search finds an address"

            # PostgreSQL: a full dump holds none of Ana's values; Bo's IP is still there.
            dump = pg_dump(ledger_database_url)
            assert [kind for kind, value in needles.items() if value in dump] == []
            assert ana_form not in dump
            assert bo_ip in dump
            assert ana_key in dump  # the keyed hash stays, as the documentation says

            # The worker's table folders: no address, no IP address, no user agent.
            assert found_in_folder(settings.data_dir, needles.values()) == {}

            # The chain still verifies, and the replay decides everyone else's traffic again.
            proof = prove_consent(
                engine, ana_key, "acme", at=datetime.now(UTC), policy=load_policy()
            )
            assert proof.chain.verified
            window = ["--from", replay_from.isoformat(), "--to", datetime.now(UTC).isoformat()]
            code, out = await cli(settings, "replay", "verify", *window, "--json")
            assert code == 0, out
    finally:
        stop_ledger.set()
        await ledger
        await producer.stop()
        await intake.stop()
        engine.dispose()


async def publish_probe(
    producer: AIOKafkaProducer, settings: Settings, keyer: RecipientKeyer, address: str
) -> None:
    request = send_request(
        recipient=address,
        request_id=f"probe-{uuid.uuid4().hex[:8]}",
        requested_at=datetime.now(UTC),
    )
    await producer.send_and_wait(
        SEND_REQUESTS.full_name(settings),
        key=keyer.key(address).encode(),
        value=default_codec().encode(request),
    )


def kind_of(value: str, needles: dict[str, str]) -> str:
    """What a found value is, without writing the value itself into the failure."""
    return next((kind for kind, needle in needles.items() if needle == value), "form id")


async def until(condition: object, what: str, timeout_s: float = 120.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while not await asyncio.to_thread(condition):  # type: ignore[arg-type]
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(1)
    return True
