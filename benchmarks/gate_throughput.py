"""Gate throughput beside two baselines from the same run, with template and with personalised
bodies; the state keepers' fold rate beside raw aiokafka; click-to-effective latency; a profile.

Run from the repository root against the broker of `scripts/services` (a broker started a moment
ago is fine: the run first waits, up to a minute, for its group coordinator, which a new broker
only sets up on first use and without which the run's offset reads fail):

    .venv/bin/python benchmarks/gate_throughput.py            # full size, about 12 minutes
    .venv/bin/python benchmarks/gate_throughput.py --sends 20000 --suppressed 10000 --skip-profile

The last line printed is one JSON object of the headline figures (`summary_line`), for scripts
that compare runs; its keys are only ever added to.

Message content. Every send request carries the content facts of a compliant sender's template
(`_common.compliant_content`: From, DKIM and SPF on the account's verified domain
`<account>.example`, a body with a postal address and an unsubscribe link, or a receipt's text;
a transactional subject on transactional mail), and the accounts' verified domains are on
`sender-domains` before the first send, so the content rules deny nothing and the denials stay
the ones the workload plans (suppressions, consent, role addresses); the run fails before sending
if the pure content rules would deny any kind of send of the workload, and the decision check
reports any denial by a rule the workload does not target. The records carry these content facts
(about 0.4 KB more each, about four times the bytes of a request without them) for all
contenders alike: figures are not comparable with runs from before content facts.

Template bodies are few (one per account and classification), and the gate's content readers
cache what they read by text, so (c) reads each template once. Real senders merge a name, an
order number or a tracking token into every message; (d) decides a twin of every send whose
subject, text and links carry the recipient's first name, a reference number and a link token
(`personalise`), so no cache keyed by content spares it the reading. Each twin keeps its send's
recipient, account, list and classification, so the gate must deny exactly the same ones; every
twin (not one per kind: the text is what varies) passes the pure content rules before anything
is sent.

Phases (each bounded in time; every topic lives under a fresh prefix and is deleted at the end):

1. State: publish the consents of everyone an account mails commercially (an account-wide,
   express signup: single opt-in, or double opt-in confirmed; 3 % have nothing on record, an
   unconfirmed double opt-in or an import still under review, so bulk mail to them is denied),
   run the real gate worker until the consent keeper has committed them all (the keeper writes
   only its table, so its group's committed offsets are the sign), then the five accounts'
   verified sending domains (waited for the same way). Stop the worker, publish unsubscribe
   clicks for `--suppressed` recipients (list, account and platform scope over five accounts
   with four lists each; one in ten recipients clicks twice), start it again and wait until the
   suppression keeper has folded every click (the suppression-changes topic holds one record per
   click); stop it. Consents go first because people sign up before they leave, and the gate
   orders nothing across topics. Both keepers start on a backlog, as the contenders do, and are
   timed by their output records: the consents table's changelog (one write per fold) and
   suppression-changes.
2. Load: publish `--sends` send requests. Half of their recipients are suppressed somewhere, and
   half of those are mailed by the very account or list they left; a few go to role addresses.
3. Throughput, each contender consuming all its input from the beginning in its own group:
   (a) raw aiokafka in this process: consume, decode each value with our codec (SendRequest),
       produce the same bytes to an output topic with the same key (so the same partition); the
       same over consent-events and over unsubscribe-clicks is the keepers' baseline, and a
       faust agent that only forwards the consent events is their ceiling (no faust agent over
       that topic can be faster);
   (b) a faust agent in a worker process that only forwards the value to an output topic;
   (c) the gate: a new worker of the real app (fresh data folder, so it first restores the
       suppressions and consents tables from their changelogs) deciding every request.
   All are measured the same way: records on the output topic divided by the span of their
   CreateTime timestamps (first to last), which leaves out start-up, group join and restore.
4. Click-to-effective latency with the gate running under a steady background load: for fresh
   recipients (opted in to the account in phase 1, and never mailed), publish a list-scope click
   (acks=all), then at once a send request for that recipient and list, and time from the click's
   acknowledgement until this process reads the decision. An allow is a violation of the gate's
   promise (README, "Ordering across topics: the state fence").
5. Personalised bodies (unless --no-personalised): with no gate running, publish the twins, then
   (d) a gate worker with a fresh data folder decides them, measured and checked as (c).
6. Profile (unless --skip-profile): the gate worker under cProfile over a further slice of send
   requests, summarised by whose code the time is spent in.

faust start-up fix. faust-streaming 0.15.3 with mode-streaming 0.7.1 loses records when a worker
starts (or rebalances) while its input partitions hold records (see streams/gate/faust_fixes.py).
The
fix is applied when the app is built by `streams.gate.app.new_faust_app`, which builds both the gate
((c), (d)) and the forwarding worker (b), so all run on equal terms.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import random
import shutil
import statistics
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import typer
from _common import (
    BenchError,
    CpuMeter,
    OffsetWatcher,
    TopicWindow,
    WorkerProcess,
    broker_pid,
    check_content_compliant,
    compliant_content,
    console,
    create_run_topics,
    delete_run_topics,
    json_safe,
    machine_info,
    new_settings,
    percentile,
    phase,
    produce_pipelined,
    profile_summary,
    publish_sender_domains,
    read_topic,
    timeout_for,
    topic_partitions,
    topic_window,
    wait_for_group_coordinator,
    wait_until_consumed,
    worker_env,
)
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from rich.table import Table

from streams.core.recipient import RecipientKeyer
from streams.core.records import (
    BodyLink,
    ConsentEvent,
    MessageBody,
    Record,
    SendDecision,
    SendRequest,
    UnsubscribeClick,
)
from streams.core.settings import Settings, get_settings
from streams.policy import Policy, load_policy
from streams.rules.address import ROLE_ADDRESS
from streams.rules.consent import (
    CASL_IMPLIED_CONSENT_EXPIRED,
    CASL_NO_VALID_CONSENT,
    CONSENT_HARD_BOUNCE,
    CONSENT_STATUS_NOT_MAILABLE,
    GDPR_PECR_NO_VALID_CONSENT,
    SPAM_ACT_NO_VALID_CONSENT,
)
from streams.rules.suppression import ACCOUNT_UNSUBSCRIBED, LIST_UNSUBSCRIBED, PLATFORM_SUPPRESSED
from streams.topics import (
    CONSENT_EVENTS,
    CONSENTS_CHANGELOG,
    DEAD_LETTERS,
    SEND_DECISIONS,
    SEND_REQUESTS,
    SUPPRESSION_CHANGES,
    UNSUBSCRIBE_CLICKS,
    TopicSpec,
    default_codec,
)

__all__ = ["forward_worker_main", "main"]

RAW_GROUP = "bench-raw"
RAW_CONSENTS_GROUP = "bench-raw-consents"
RAW_CLICKS_GROUP = "bench-raw-clicks"
FORWARD_APP = "bench-forward"
RAW_OUT = TopicSpec("bench-out-raw", "benchmark (a): send requests passed through by aiokafka")
RAW_CONSENTS_OUT = TopicSpec(
    "bench-out-raw-consents", "benchmark: consent events passed through by aiokafka"
)
RAW_CLICKS_OUT = TopicSpec(
    "bench-out-raw-clicks", "benchmark: unsubscribe clicks passed through by aiokafka"
)
FORWARD_OUT = TopicSpec("bench-out-forward", "benchmark (b): send requests forwarded by faust")
FORWARD_CONSENTS_APP = "bench-forward-consents"
FORWARD_CONSENTS_OUT = TopicSpec(
    "bench-out-forward-consents", "benchmark: consent events forwarded by faust (keepers' ceiling)"
)

ACCOUNTS = ("acme", "globex", "initech", "umbrella", "hooli")
LISTS = ("news", "deals", "product-updates", "events")
DOMAINS = ("example.com", "example.org", "example.net")
FIRST_NAMES = ("alex", "sam", "kim", "jo", "lee", "max", "ana", "eva", "tom", "mia", "noor")
LAST_NAMES = ("smith", "jones", "garcia", "chen", "novak", "silva", "kowalski", "tanaka")
ROLE_ADDRESSES = (
    "info@example.com",
    "sales@example.org",
    "support@example.net",
    "noreply@example.com",
)
JURISDICTIONS = ("US", "US", "US", "CA", "GB", "DE", "AU", None)
SUBJECTS = (
    ("Your weekly digest", "Your order has shipped"),
    ("20% off this weekend only", "Reset your password"),
    ("New in the shop: spring collection", "Your receipt"),
    ("This week's offers", "Your order 1042"),
    ("Last chance: the spring sale ends tonight", "Your password was changed"),
    ("Invitation: product webinar on Thursday", "Your account statement"),
    ("We miss you - here is what's new", "Your booking is confirmed"),
)
"""(commercial, transactional) subjects: one draw picks a pair, and the send takes the subject of
its classification. A marketing subject on a transactional send is transactional misuse, and a
transactional one on commercial mail is a deceptive subject (issue 8's content rules)."""
METHODS = ("one_click", "one_click", "link", "reply", "feedback_loop")
PROBE_ACCOUNT, PROBE_LIST = "acme", "news"

WORKER_CODE = (
    "from streams.core.settings import Settings\n"
    "from streams.gate.worker import run_worker\n"
    "run_worker(Settings(), worker_name={worker_name!r}, loglevel='warning')\n"
)
PROFILED_WORKER_CODE = (
    "import cProfile\n"
    "import threading\n"
    "from streams.core.settings import Settings\n"
    "from streams.gate.worker import run_worker\n"
    "_bootstrap_inner = threading.Thread._bootstrap_inner\n"
    "def _profiled_bootstrap_inner(self):\n"
    "    # faust runs the aiokafka consumer in a thread of its own: profile every thread\n"
    "    thread_profiler = cProfile.Profile()\n"
    "    thread_profiler.enable()\n"
    "    try:\n"
    "        _bootstrap_inner(self)\n"
    "    finally:\n"
    "        thread_profiler.disable()\n"
    "        name = ''.join(c if c.isalnum() else '_' for c in self.name)\n"
    "        thread_profiler.dump_stats({path!r} + '.thread-' + name)\n"
    "threading.Thread._bootstrap_inner = _profiled_bootstrap_inner\n"
    "profiler = cProfile.Profile()\n"
    "profiler.enable()\n"
    "try:\n"
    "    run_worker(Settings(), worker_name={worker_name!r}, loglevel='warning')\n"
    "finally:\n"
    "    profiler.disable()\n"
    "    profiler.dump_stats({path!r})\n"
)
FORWARD_WORKER_CODE = (
    "import sys\n"
    "sys.path.insert(0, {bench_dir!r})\n"
    "import gate_throughput\n"
    "gate_throughput.forward_worker_main({source!r})\n"
)


# --- the workload ---------------------------------------------------------------------------------


Suppression = tuple[str, str | None, str | None]  # (scope, account, list)

TARGETED_RULES = frozenset(
    rule.name
    for rule in (
        PLATFORM_SUPPRESSED,
        ACCOUNT_UNSUBSCRIBED,
        LIST_UNSUBSCRIBED,
        CONSENT_HARD_BOUNCE,
        CONSENT_STATUS_NOT_MAILABLE,
        CASL_NO_VALID_CONSENT,
        CASL_IMPLIED_CONSENT_EXPIRED,
        GDPR_PECR_NO_VALID_CONSENT,
        SPAM_ACT_NO_VALID_CONSENT,
        ROLE_ADDRESS,
    )
)
"""The rules the workload's denials come from (`_expected_deny`); a denial naming any other rule
(content, misuse, frequency, enforcement) means the workload is not what it plans."""

MAILABLE_CONSENTS = frozenset({"single_opt_in", "double_opt_in"})
"""The consent statuses the default policy lets bulk commercial mail through
(`bulk_allowed_statuses`, rule consent-status-not-mailable)."""
CONSENT_MIX = (
    (0.01, "none"),  # an address the sender got from somewhere else: nothing on record
    (0.02, "unconfirmed"),  # signed up to a double opt-in list, never clicked the link
    (0.03, "pending_review"),  # imported by the account; the import is not approved yet
    (0.30, "double_opt_in"),
    (1.00, "single_opt_in"),
)
"""Cumulative shares of the consent a recipient gave an account that mails it commercially: 3 %
give the gate no opt-in to go on, so consent-status-not-mailable shows in the decision mix."""


@dataclass
class Workload:
    """Encoded consent events, clicks and send requests, and what the gate should decide by our
    own reckoning."""

    consents: list[tuple[bytes, bytes]] = field(default_factory=list)
    clicks: list[tuple[bytes, bytes]] = field(default_factory=list)
    sends: list[tuple[bytes, bytes]] = field(default_factory=list)
    probe_addresses: list[str] = field(default_factory=list)
    suppressed_recipients: int = 0
    consents_by_status: Counter[str] = field(default_factory=Counter)
    clicks_by_scope: Counter[str] = field(default_factory=Counter)
    sends_to_suppressed: int = 0
    sends_to_roles: int = 0
    sends_without_consent: int = 0
    expected_denials: int = 0
    content_kinds: dict[tuple[str, bool, str], SendRequest] = field(default_factory=dict)
    """One request per (account, commercial, subject): what `check_content_compliant` checks."""


def _address(index: int) -> str:
    first = FIRST_NAMES[index % len(FIRST_NAMES)]
    last = LAST_NAMES[(index // len(FIRST_NAMES)) % len(LAST_NAMES)]
    local = f"{first}.{last}{index}"
    if index % 9 == 0:  # some senders keep the case people typed; the key folds it
        local = local.title()
    return f"{local}@{DOMAINS[index % len(DOMAINS)]}"


def _expected_deny(
    suppressions: list[Suppression],
    account: str,
    list_id: str | None,
    honours_opt_outs: bool,
    commercial_to_role: bool,
    commercial_without_consent: bool,
) -> bool:
    """The benchmark's own reckoning of the default policy, to check the gate's denial count.

    Every consent in the workload is account-wide and express, so the law of the recipient's
    country never denies what the platform's opt-in rule lets through: a commercial (always bulk)
    send is denied for consent exactly when the recipient's status for the account is not single
    or double opt-in. A transactional one never is: the one consent rule for all mail, the hard
    bounce, comes with a platform suppression.
    """
    if commercial_to_role or commercial_without_consent:
        return True
    if any(scope == "platform" for scope, _, _ in suppressions):
        return True
    if not honours_opt_outs:
        return False
    return any(
        (scope == "account" and acc == account)
        or (scope == "list" and list_id is not None and acc == account and lst == list_id)
        for scope, acc, lst in suppressions
    )


def _consent_events(
    status: str, recipient_key: str, account: str, rng: random.Random, now: datetime
) -> list[ConsentEvent]:
    """The events that leave a recipient with `status` for `account` (none for "none"), dated a
    year or more ago, so before every click of the workload."""
    if status == "none":
        return []
    at = now - timedelta(days=rng.randrange(366, 3 * 365), minutes=rng.randrange(24 * 60))
    common: dict[str, Any] = {
        "recipient_key": recipient_key,
        "account_id": account,
        "basis": "express",
        "occurred_at": at,
    }
    event_id = f"consent-{recipient_key[:16]}-{account}"
    if status == "pending_review":
        return [
            ConsentEvent(
                event_id=f"{event_id}-import",
                kind="import",
                source_kind="import",
                source_id=f"{account}-crm-import",
                **common,
            )
        ]
    signup = ConsentEvent(
        event_id=f"{event_id}-signup",
        kind="grant",
        source_kind="form",
        source_id=f"{account}-signup-form",
        requires_confirmation=status != "single_opt_in",
        **common,
    )
    if status != "double_opt_in":
        return [signup]
    confirm = ConsentEvent(
        event_id=f"{event_id}-confirm",
        kind="confirm",
        source_kind="confirmation_link",
        **{**common, "basis": None, "occurred_at": at + timedelta(minutes=rng.randrange(1, 90))},
    )
    return [signup, confirm]


def _draw_consent(rng: random.Random) -> str:
    draw = rng.random()
    return next(status for share, status in CONSENT_MIX if draw < share)


def build_workload(
    settings: Settings, *, sends: int, suppressed: int, probes: int, seed: int, now: datetime
) -> Workload:
    rng = random.Random(seed)
    consent_rng = random.Random(f"{seed}-consent")  # the clicks and sends stay as they were
    codec = default_codec()
    keyer = RecipientKeyer(settings.recipient_secret())
    workload = Workload(suppressed_recipients=suppressed)
    consent_of: dict[tuple[int, str], str] = {}  # (recipient index, account) -> status
    population = 2 * suppressed  # recipients [0, suppressed) are suppressed somewhere
    keys: dict[int, str] = {}

    def key_of(index: int) -> str:
        if index not in keys:
            keys[index] = keyer.key(_address(index))
        return keys[index]

    def give_consent(status: str, recipient_key: str, account: str) -> None:
        for event in _consent_events(status, recipient_key, account, consent_rng, now):
            workload.consents.append((recipient_key.encode(), codec.encode(event)))

    state: list[list[Suppression]] = []
    with console.status("building clicks"):
        for index in range(suppressed):
            entries: list[Suppression] = []
            for _ in range(2 if rng.random() < 0.1 else 1):
                draw = rng.random()
                account = rng.choice(ACCOUNTS)
                if draw < 0.7:
                    scope, list_id, reason = "list", rng.choice(LISTS), "unsubscribe"
                elif draw < 0.9:
                    scope, list_id, reason = "account", None, "unsubscribe"
                else:
                    scope, list_id = "platform", None
                    reason = rng.choice(("complaint", "complaint", "hard_bounce", "unsubscribe"))
                click = UnsubscribeClick(
                    click_id=f"click-{index}-{len(entries)}",
                    recipient_key=key_of(index),
                    scope=scope,  # type: ignore[arg-type]
                    account_id=account,
                    list_id=list_id,
                    method=rng.choice(METHODS),  # type: ignore[arg-type]
                    reason=reason,  # type: ignore[arg-type]
                    clicked_at=now - timedelta(minutes=rng.randrange(1, 60 * 24 * 365)),
                )
                entries.append((scope, account if scope != "platform" else None, list_id))
                workload.clicks.append((click.recipient_key.encode(), codec.encode(click)))
                workload.clicks_by_scope[scope] += 1
            state.append(entries)

    with console.status("building send requests"):
        for number in range(sends):
            draw = rng.random()
            index: int | None = None
            if draw < 0.005:
                recipient = rng.choice(ROLE_ADDRESSES)
                recipient_key = keyer.key(recipient)
            else:
                index = rng.randrange(population)
                recipient, recipient_key = _address(index), key_of(index)
            account, list_id = rng.choice(ACCOUNTS), rng.choice(LISTS)
            suppressions = state[index] if index is not None and index < suppressed else []
            if suppressions and rng.random() < 0.5:  # a sender that ignores its unsubscribes
                scope, own_account, own_list = rng.choice(suppressions)
                account = own_account or account
                list_id = own_list or list_id
            commercial = rng.random() < 0.85
            honour = not commercial and rng.random() < 0.3
            mailable = True
            if commercial and index is not None:
                # Whoever an account mails commercially signed up with it first (or not: 3 %).
                status = consent_of.get((index, account))
                if status is None:
                    status = consent_of[(index, account)] = _draw_consent(consent_rng)
                    workload.consents_by_status[status] += 1
                    give_consent(status, key_of(index), account)
                mailable = status in MAILABLE_CONSENTS
            if not commercial and rng.random() < 0.5:
                list_id = None  # a receipt or a password reset belongs to no list
            jurisdiction = rng.choice(JURISDICTIONS)
            subject = rng.choice(SUBJECTS)[0 if commercial else 1]
            request = SendRequest(
                request_id=f"req-{number:08d}",
                account_id=account,
                list_id=list_id,
                recipient=recipient,
                jurisdiction=jurisdiction,
                classification="commercial" if commercial else "transactional",
                honor_list_opt_outs=honour,
                send_kind="bulk" if commercial else "one_off",
                subject=subject,
                requested_at=now,
                **compliant_content(account, commercial=commercial),
            )
            workload.content_kinds.setdefault((account, commercial, subject), request)
            workload.sends.append((recipient_key.encode(), codec.encode(request)))
            workload.sends_to_suppressed += bool(suppressions)
            workload.sends_to_roles += index is None
            workload.sends_without_consent += not mailable
            workload.expected_denials += _expected_deny(
                suppressions,
                account,
                list_id,
                commercial or honour,
                commercial and index is None,
                not mailable,
            )

    # The latency probes' recipients: each opted in to the probed account, so a probe the click
    # did not reach in time would be allowed, and counted as the broken promise it is.
    tag = uuid.uuid4().hex[:8]
    for number in range(probes):
        address = f"probe{number}.{tag}@{DOMAINS[number % len(DOMAINS)]}"
        workload.probe_addresses.append(address)
        give_consent("single_opt_in", keyer.key(address), PROBE_ACCOUNT)
    return workload


def _probe_request_template() -> SendRequest:
    """What a latency probe's send looks like (`measure_latency`), for the content check."""
    return SendRequest(
        request_id="probe-template",
        account_id=PROBE_ACCOUNT,
        list_id=PROBE_LIST,
        recipient="probe@example.com",
        classification="commercial",
        subject=SUBJECTS[0][0],
        requested_at=datetime.now(UTC),
        **compliant_content(PROBE_ACCOUNT, commercial=True),
    )


# --- personalised bodies -------------------------------------------------------------------------

PERSONALISED_SUFFIX = "-p"
"""Appended to a send's request id for its personalised twin."""
_CHECK_BATCH = 5000


def personalise(request: SendRequest, number: int, seed: int) -> SendRequest:
    """The same send as a mail merge writes it: the recipient's first name, a reference number
    of this message and a link token of this recipient woven into the template's subject, text
    and links.

    The plain workload sends one body per (account, classification), and the gate's content
    readers cache what they read by text, so (c) reads each template once and looks the rest up.
    A real sender's bodies differ per recipient; this twin makes every subject and body distinct,
    so the figure holds the cost of reading each message. Recipient, account, list and
    classification stay as they are, so the gate must decide the twin as it decided the send.
    """
    if request.body is None:
        raise BenchError(f"{request.request_id} carries no body to personalise")
    reference = 100_000 + number
    local = request.recipient.partition("@")[0]
    first = local.split(".")[0].rstrip("0123456789").title() if "." in local else None
    token = hashlib.blake2b(
        f"{seed}:{request.recipient}:{number}".encode(), digest_size=8
    ).hexdigest()
    if request.classification == "commercial" and first:
        subject = f"{first}, {request.subject[:1].lower()}{request.subject[1:]} (ref. {reference})"
    else:
        subject = f"{request.subject} (ref. {reference})"
    greeting = f"Hi {first}," if first else "Hello,"
    if request.classification == "commercial":
        closing = f"Your member reference: {reference}."
    else:
        closing = f"This is about your order {reference}."
    body = MessageBody(
        text=f"{greeting}\n{request.body.text}\n{closing}",
        links=tuple(
            BodyLink(url=f"{link.url}?r={token}", text=link.text) for link in request.body.links
        ),
    )
    fields = dict(request)
    fields.update(
        request_id=f"{request.request_id}{PERSONALISED_SUFFIX}", subject=subject, body=body
    )
    return SendRequest(**fields)


def personalised_sends(
    sends: list[tuple[bytes, bytes]], *, seed: int, policy: Policy
) -> list[tuple[bytes, bytes]]:
    """The personalised twin of every send, same key (so same partition and recipient state).

    Every twin goes through the pure content rules before anything is sent, not one per kind as
    for the plain sends: what varies is the text the rules read, so each one could differ.
    """
    codec = default_codec()
    twins: list[tuple[bytes, bytes]] = []
    batch: list[SendRequest] = []
    with console.status(f"personalising and checking {len(sends):,} send requests"):
        for number, (key, value) in enumerate(sends):
            twin = personalise(codec.decode(value, SendRequest), number, seed)
            batch.append(twin)
            twins.append((key, codec.encode(twin)))
            if len(batch) >= _CHECK_BATCH or number == len(sends) - 1:
                check_content_compliant(batch, policy, what="personalised sends")
                batch.clear()
    return twins


# --- the contenders -------------------------------------------------------------------------------


async def raw_passthrough(
    settings: Settings,
    records: int,
    timeout_s: float,
    *,
    source: TopicSpec = SEND_REQUESTS,
    record_type: type[Record] = SendRequest,
    out: TopicSpec = RAW_OUT,
    group: str = RAW_GROUP,
    label: str = "(a) raw aiokafka",
) -> None:
    """(a), and the keepers' baseline: consume `source`, decode each value with our codec,
    produce the same bytes to `out`; until all are acknowledged."""
    codec = default_codec()
    out_topic = out.full_name(settings)
    consumer = AIOKafkaConsumer(
        source.full_name(settings),
        bootstrap_servers=settings.kafka_bootstrap_servers,
        group_id=settings.topic(group),
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap_servers, acks="all")
    await asyncio.wait_for(consumer.start(), 15)
    await asyncio.wait_for(producer.start(), 15)
    try:

        async def run() -> None:
            consumed = 0
            pending: list[asyncio.Future] = []
            while consumed < records:
                batches = await consumer.getmany(timeout_ms=1000, max_records=500)
                for messages in batches.values():
                    for message in messages:
                        codec.decode(message.value, record_type)
                        pending.append(
                            await producer.send(out_topic, value=message.value, key=message.key)
                        )
                    consumed += len(messages)
                if len(pending) >= 20_000:
                    await asyncio.gather(*pending[:10_000])
                    del pending[:10_000]
            await asyncio.gather(*pending)

        try:
            await asyncio.wait_for(run(), timeout_s)
        except TimeoutError:
            raise BenchError(f"{label}: not done after {timeout_s:.0f}s") from None
    finally:
        await producer.stop()
        await consumer.stop()


FORWARDERS = {
    SEND_REQUESTS.name: (SEND_REQUESTS, FORWARD_APP, FORWARD_OUT),
    CONSENT_EVENTS.name: (CONSENT_EVENTS, FORWARD_CONSENTS_APP, FORWARD_CONSENTS_OUT),
}
"""What a forwarding worker can read: (b) over the send requests, and the keepers' ceiling over
the consent events (a faust agent that does nothing but forward, beside the consent keeper)."""


def forward_worker_main(source_name: str = SEND_REQUESTS.name) -> None:
    """(b), run in a worker process: a faust app whose one agent forwards each value.

    It is built by the gate's own `new_faust_app` and `raw_topic` (`streams/gate/app.py`): raw
    bytes,
    at-least-once, acks from every in-sync replica, the same buffer and poll sizes.
    """
    import faust

    from streams.gate.app import new_faust_app, raw_topic

    spec, app_name, out = FORWARDERS[source_name]
    settings = Settings()
    datadir = Path(tempfile.mkdtemp(prefix="bench-forward-"))
    app = new_faust_app(settings, settings.topic(app_name), store="memory://", datadir=datadir)
    source = raw_topic(app, settings, spec)
    out_topic = out.full_name(settings)

    @app.agent(source, name="forward", concurrency=1)
    async def forward(stream: Any) -> None:
        async for event in stream.events():
            message = event.message
            await app.producer.send(out_topic, message.key, message.value, None, None, None)

    faust.Worker(app, loglevel="warning", quiet=True).execute_from_commandline()


async def faust_forward(
    settings: Settings,
    watcher: OffsetWatcher,
    data_dir: Path,
    source_name: str,
    records: int,
    *,
    measure_cpu: bool = False,
    broker: int | None = None,
) -> tuple[TopicWindow, dict[str, float]]:
    """Run a forwarding worker (`forward_worker_main`) over one of `FORWARDERS` until it has
    forwarded all `records` and its group has committed them; returns its output's window and,
    with `measure_cpu`, the CPU it (and the broker, when its pid is known) used."""
    spec, app_name, out = FORWARDERS[source_name]
    worker = WorkerProcess(
        f"forward-{source_name}",
        FORWARD_WORKER_CODE.format(
            bench_dir=str(Path(__file__).resolve().parent), source=source_name
        ),
        worker_env(settings),
        data_dir / f"worker-forward-{source_name}.log",
    )
    cpu = await watcher.wait_for_count(
        out.full_name(settings),
        records,
        timeout_s=timeout_for(records, min_rate=300),
        what=f"faust forwards {spec.name}",
        worker=worker,
        consumed_by=(settings.topic(app_name), spec.full_name(settings)),
        meter=CpuMeter({"contender": worker.process.pid, "broker": broker})
        if measure_cpu
        else None,
    )
    worker.stop()
    window = await topic_window(settings.kafka_bootstrap_servers, out.full_name(settings))
    return window, cpu


# --- click-to-effective latency -------------------------------------------------------------------


@dataclass
class LatencyResult:
    probes: int
    latencies_ms: list[float]
    violations: int
    other_denials: int
    background_target_per_s: float
    background_sent: int
    background_seconds: float


async def measure_latency(
    settings: Settings,
    pool: list[tuple[bytes, bytes]],
    *,
    probe_addresses: list[str],
    background_rate: float,
    worker: WorkerProcess,
    probe_timeout_s: float = 60.0,
) -> LatencyResult:
    """Probes while a background producer keeps the gate busy; see the module docstring.

    Each probe's recipient opted in to the probed account beforehand (`build_workload`), so only
    the click can deny the probe's send.
    """
    probes = len(probe_addresses)
    codec = default_codec()
    keyer = RecipientKeyer(settings.recipient_secret())
    bootstrap = settings.kafka_bootstrap_servers
    clicks_topic = UNSUBSCRIBE_CLICKS.full_name(settings)
    sends_topic = SEND_REQUESTS.full_name(settings)
    decisions_topic = SEND_DECISIONS.full_name(settings)
    loop = asyncio.get_running_loop()
    waiting: dict[bytes, tuple[str, asyncio.Future[tuple[SendDecision, float]]]] = {}

    reader = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, enable_auto_commit=False, fetch_max_wait_ms=50
    )
    background = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
    prober = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=0)
    for client in (reader, background, prober):
        await asyncio.wait_for(client.start(), 15)
    stop = asyncio.Event()
    background_errors: list[BaseException] = []
    background_sent = 0
    background_started = background_stopped = 0.0
    try:
        tps = await topic_partitions(reader, decisions_topic)
        reader.assign(tps)
        await reader.seek_to_end(*tps)
        for tp in tps:
            await reader.position(tp)  # resolve now, so no decision slips past

        async def read_decisions() -> None:
            while not stop.is_set() or waiting:
                batches = await reader.getmany(timeout_ms=200)
                read_at = time.perf_counter()
                for messages in batches.values():
                    for message in messages:
                        entry = waiting.get(message.key)
                        if entry is None:
                            continue
                        decision = codec.decode(message.value, SendDecision)
                        request_id, future = entry
                        if decision.request_id == request_id and not future.done():
                            future.set_result((decision, read_at))

        def on_background_ack(future: asyncio.Future) -> None:
            if not future.cancelled() and future.exception() is not None:
                background_errors.append(future.exception())  # type: ignore[arg-type]

        async def background_load() -> None:
            nonlocal background_sent, background_started, background_stopped
            background_started = loop.time()
            while not stop.is_set():
                due = int((loop.time() - background_started) * background_rate)
                while background_sent < due:
                    key, value = pool[background_sent % len(pool)]
                    future = await background.send(sends_topic, value=value, key=key)
                    future.add_done_callback(on_background_ack)
                    background_sent += 1
                if background_errors:
                    raise BenchError(f"background load failed: {background_errors[0]!r}")
                await asyncio.sleep(0.005)
            background_stopped = loop.time()

        reader_task = asyncio.create_task(read_decisions())
        load_task = asyncio.create_task(background_load())
        await asyncio.sleep(2.0)  # let the background load reach a steady state first
        latencies: list[float] = []
        violations = other_denials = 0
        run_tag = uuid.uuid4().hex[:8]
        rng = random.Random(7)
        try:
            for number in range(probes):
                worker.check_alive()
                if load_task.done():
                    load_task.result()  # raises what stopped the background load
                address = probe_addresses[number]
                recipient_key = keyer.key(address)
                key = recipient_key.encode()
                now = datetime.now(UTC)
                click = UnsubscribeClick(
                    click_id=f"probe-{run_tag}-{number}",
                    recipient_key=recipient_key,
                    scope="list",
                    account_id=PROBE_ACCOUNT,
                    list_id=PROBE_LIST,
                    method="one_click",
                    clicked_at=now,
                )
                request = SendRequest(
                    request_id=f"probe-{run_tag}-{number}",
                    account_id=PROBE_ACCOUNT,
                    list_id=PROBE_LIST,
                    recipient=address,
                    classification="commercial",
                    subject=SUBJECTS[0][0],
                    requested_at=now,
                    **compliant_content(PROBE_ACCOUNT, commercial=True),
                )
                click_bytes, request_bytes = codec.encode(click), codec.encode(request)
                future: asyncio.Future[tuple[SendDecision, float]] = loop.create_future()
                waiting[key] = (request.request_id, future)
                await (await prober.send(clicks_topic, value=click_bytes, key=key))
                clicked_at = time.perf_counter()
                await prober.send(sends_topic, value=request_bytes, key=key)
                try:
                    decision, read_at = await asyncio.wait_for(future, probe_timeout_s)
                except TimeoutError:
                    raise BenchError(
                        f"latency probe {number}: no decision after {probe_timeout_s:.0f}s"
                    ) from None
                finally:
                    waiting.pop(key, None)
                latencies.append((read_at - clicked_at) * 1000)
                rules = {failure.rule for failure in decision.failures}
                if decision.verdict == "allow":
                    violations += 1
                elif "list-unsubscribed" not in rules:
                    other_denials += 1
                await asyncio.sleep(rng.uniform(0.01, 0.05))
        finally:
            stop.set()
            await load_task
            await reader_task
        await background.flush()
        return LatencyResult(
            probes=probes,
            latencies_ms=latencies,
            violations=violations,
            other_denials=other_denials,
            background_target_per_s=background_rate,
            background_sent=background_sent,
            background_seconds=background_stopped - background_started,
        )
    finally:
        for client in (reader, background, prober):
            await client.stop()


# --- the run --------------------------------------------------------------------------------------


@dataclass
class Options:
    sends: int
    suppressed: int
    partitions: int
    probes: int
    background_rate: float
    profile_sends: int
    skip_profile: bool
    personalised: bool
    seed: int
    bootstrap: str
    worker_patches: list[str]


@dataclass
class Contender:
    label: str
    window: TopicWindow
    wall_s: float
    cpu: dict[str, float]
    kind: str
    """raw, forward, gate or personalised: how the summary finds the row."""


@dataclass
class Keeper:
    """A state keeper's fold, timed by its output records, beside raw aiokafka over its input."""

    label: str
    kind: str
    events: int
    window: TopicWindow
    raw: TopicWindow | None = None


async def run_benchmark(settings: Settings, options: Options, data_dir: Path) -> dict[str, Any]:
    bootstrap = settings.kafka_bootstrap_servers
    topic = settings.topic
    broker = broker_pid()
    results: dict[str, Any] = {"options": options.__dict__, "topic_prefix": settings.topic_prefix}

    with phase("setup: group coordinator, topics"):
        await wait_for_group_coordinator(
            settings,
            groups=[
                topic(group)
                for group in (
                    RAW_GROUP,
                    RAW_CONSENTS_GROUP,
                    RAW_CLICKS_GROUP,
                    FORWARD_APP,
                    FORWARD_CONSENTS_APP,
                )
            ],
        )
        names = await create_run_topics(
            settings,
            [RAW_OUT, RAW_CONSENTS_OUT, RAW_CLICKS_OUT, FORWARD_OUT, FORWARD_CONSENTS_OUT],
        )
        console.print(f"created {len(names)} topics under prefix {settings.topic_prefix!r}")

    now = datetime.now(UTC)
    with phase("workload: generate"):
        workload = build_workload(
            settings,
            sends=options.sends,
            suppressed=options.suppressed,
            probes=options.probes,
            seed=options.seed,
            now=now,
        )
        console.print(
            f"{len(workload.consents):,} consent events: (recipient, account) pairs "
            f"{dict(workload.consents_by_status)}, and {len(workload.probe_addresses):,} "
            "probe recipients opted in; "
            f"{len(workload.clicks):,} clicks for {workload.suppressed_recipients:,} recipients "
            f"({dict(workload.clicks_by_scope)}); {len(workload.sends):,} send requests, "
            f"{workload.sends_to_suppressed:,} to suppressed recipients, "
            f"{workload.sends_to_roles:,} to role addresses, "
            f"{workload.sends_without_consent:,} commercial without an opt-in, "
            f"{workload.expected_denials:,} denials expected"
        )
        kinds = check_content_compliant(
            [*workload.content_kinds.values(), _probe_request_template()],
            load_policy(settings.policy_file),
            what="workload",
        )
        console.print(
            f"content: {kinds} kinds of send (account, classification, subject) pass every "
            "content rule with the accounts' verified domains"
        )
        personalised: list[tuple[bytes, bytes]] = []
        if options.personalised:
            personalised = personalised_sends(
                workload.sends, seed=options.seed, policy=load_policy(settings.policy_file)
            )
            console.print(
                f"personalised bodies: {len(personalised):,} twins of the send requests, each "
                "with its own subject, text and links, pass every content rule"
            )
    results["workload"] = {
        "consent_events": len(workload.consents),
        "consents_by_status": dict(workload.consents_by_status),
        "clicks": len(workload.clicks),
        "clicks_by_scope": dict(workload.clicks_by_scope),
        "suppressed_recipients": workload.suppressed_recipients,
        "sends": len(workload.sends),
        "sends_to_suppressed": workload.sends_to_suppressed,
        "sends_to_role_addresses": workload.sends_to_roles,
        "commercial_sends_without_opt_in": workload.sends_without_consent,
        "expected_denials": workload.expected_denials,
        "content_kinds_checked": len(workload.content_kinds),
        "personalised_sends": len(personalised),
    }

    async with OffsetWatcher(bootstrap) as watcher:
        with phase(
            "state: publish consents, verified domains, then clicks; fold them with the gate worker"
        ):
            # People sign up before they unsubscribe, and the gate orders nothing across topics:
            # the consents are folded before the clicks are published.
            consents_topic = topic(CONSENT_EVENTS.name)
            rate = await produce_pipelined(
                bootstrap,
                ((consents_topic, key, value) for key, value in workload.consents),
                len(workload.consents),
                "publish consents",
            )
            console.print(f"published {len(workload.consents):,} consent events at {rate:,.0f}/s")
            state_worker = WorkerProcess(
                "state",
                WORKER_CODE.format(worker_name="bench-state"),
                worker_env(settings),
                data_dir / "worker-state.log",
            )
            await wait_until_consumed(
                watcher,
                settings.app_id,
                consents_topic,
                timeout_s=timeout_for(len(workload.consents), min_rate=200),
                what="keeper folds consents",
                worker=state_worker,
            )
            # The consent keeper writes only its table: each fold is a record on the table's
            # changelog, stamped when written, so the changelog times it as an output topic times
            # a contender. Taken now, before a click's opt-out writes there too.
            consents_changelog = CONSENTS_CHANGELOG.full_name(settings)
            consent_window = await topic_window(
                bootstrap, consents_changelog, end=await watcher.end_offsets(consents_changelog)
            )
            keepers = [
                Keeper(
                    "consent keeper: consent events -> consents table",
                    "consents",
                    len(workload.consents),
                    consent_window,
                )
            ]
            console.print(
                f"consent keeper: {consent_window.records:,} table writes for "
                f"{len(workload.consents):,} events, {consent_window.per_second:,.0f}/s"
            )
            published = await publish_sender_domains(
                settings, ACCOUNTS, watcher, state_worker, timeout_s=120
            )
            console.print(f"published the verified sending domains of {published} accounts")
            results["workload"]["sender_domains"] = published
            # Stopped while the clicks are published, so they wait as a backlog, as the send
            # requests do for every contender: a keeper running during the publishing would be
            # timed at the publisher's pace, not its own.
            code = state_worker.stop()
            console.print(f"state worker stopped (exit code {code})")
            clicks_topic = topic(UNSUBSCRIBE_CLICKS.name)
            rate = await produce_pipelined(
                bootstrap,
                ((clicks_topic, key, value) for key, value in workload.clicks),
                len(workload.clicks),
                "publish clicks",
            )
            console.print(f"published {len(workload.clicks):,} clicks at {rate:,.0f}/s")
            state_worker = WorkerProcess(
                "state-clicks",
                WORKER_CODE.format(worker_name="bench-state"),
                worker_env(settings),
                data_dir / "worker-state-clicks.log",
            )
            changes_topic = topic(SUPPRESSION_CHANGES.name)
            await watcher.wait_for_count(
                changes_topic,
                len(workload.clicks),
                timeout_s=timeout_for(len(workload.clicks), min_rate=200),
                what="keeper folds clicks",
                worker=state_worker,
                consumed_by=(settings.app_id, clicks_topic),
            )
            click_window = await topic_window(
                bootstrap, changes_topic, end=await watcher.end_offsets(changes_topic)
            )
            keepers.append(
                Keeper(
                    "suppression keeper: clicks -> suppressions table",
                    "clicks",
                    len(workload.clicks),
                    click_window,
                )
            )
            console.print(
                f"suppression keeper: {click_window.records:,} suppression changes for "
                f"{len(workload.clicks):,} clicks, {click_window.per_second:,.0f}/s"
            )
            code = state_worker.stop()
            console.print(f"state worker stopped (exit code {code})")

        with phase("load: publish send requests"):
            sends_topic = topic(SEND_REQUESTS.name)
            rate = await produce_pipelined(
                bootstrap,
                ((sends_topic, key, value) for key, value in workload.sends),
                len(workload.sends),
                "publish send requests",
            )
            console.print(f"published {len(workload.sends):,} send requests at {rate:,.0f}/s")
        records = len(workload.sends)
        contenders: list[Contender] = []

        with phase("(a) raw aiokafka consume-decode-produce"):
            started = time.monotonic()
            meter = CpuMeter({"contender": os.getpid(), "broker": broker})
            meter.sample()
            await raw_passthrough(settings, records, timeout_for(records, min_rate=300))
            meter.sample()
            wall = time.monotonic() - started
            window = await topic_window(bootstrap, topic(RAW_OUT.name))
            contenders.append(
                Contender(
                    "(a) raw aiokafka: consume, decode, produce",
                    window,
                    wall,
                    meter.share(),
                    "raw",
                )
            )
            console.print(f"(a) {window.records:,} records, {window.per_second:,.0f}/s")

        with phase("keepers' baseline: raw aiokafka over consent-events, then unsubscribe-clicks"):
            inputs = {
                "consents": (CONSENT_EVENTS, ConsentEvent, RAW_CONSENTS_OUT, RAW_CONSENTS_GROUP),
                "clicks": (UNSUBSCRIBE_CLICKS, UnsubscribeClick, RAW_CLICKS_OUT, RAW_CLICKS_GROUP),
            }
            for keeper in keepers:
                source, record_type, out, group = inputs[keeper.kind]
                count = await watcher.count(source.full_name(settings))
                await raw_passthrough(
                    settings,
                    count,
                    timeout_for(count, min_rate=300),
                    source=source,
                    record_type=record_type,
                    out=out,
                    group=group,
                    label=f"raw aiokafka over {source.name}",
                )
                keeper.raw = await topic_window(bootstrap, out.full_name(settings))
                console.print(
                    f"raw aiokafka over {source.name}: {keeper.raw.records:,} records, "
                    f"{keeper.raw.per_second:,.0f}/s"
                )
        with phase("keepers' ceiling: a faust agent that only forwards the consent events"):
            count = await watcher.count(CONSENT_EVENTS.full_name(settings))
            ceiling, _ = await faust_forward(
                settings, watcher, data_dir, CONSENT_EVENTS.name, count
            )
            console.print(
                f"faust forward-only over consent-events: {ceiling.records:,} records, "
                f"{ceiling.per_second:,.0f}/s"
            )
        results["keepers"] = _keeper_figures(keepers, ceiling)

        with phase("(b) faust agent that only forwards"):
            started = time.monotonic()
            window, cpu = await faust_forward(
                settings,
                watcher,
                data_dir,
                SEND_REQUESTS.name,
                records,
                measure_cpu=True,
                broker=broker,
            )
            wall = time.monotonic() - started
            contenders.append(
                Contender("(b) faust agent: forward only", window, wall, cpu, "forward")
            )
            console.print(f"(b) {window.records:,} records, {window.per_second:,.0f}/s")

        decisions_topic = topic(SEND_DECISIONS.name)
        with phase("(c) the gate (restores suppressions and consents from the changelogs first)"):
            started = time.monotonic()
            gate_worker = WorkerProcess(
                "gate",
                WORKER_CODE.format(worker_name="bench-gate"),
                worker_env(settings),
                data_dir / "worker-gate.log",
            )
            cpu = await watcher.wait_for_count(
                decisions_topic,
                records,
                timeout_s=timeout_for(records, min_rate=150, floor_s=180),
                what="gate decides",
                worker=gate_worker,
                consumed_by=(settings.decided_group, sends_topic),
                meter=CpuMeter({"contender": gate_worker.process.pid, "broker": broker}),
            )
            wall = time.monotonic() - started
            gate_end = await watcher.end_offsets(decisions_topic)
            window = await topic_window(bootstrap, decisions_topic, end=gate_end)
            contenders.append(Contender("(c) sendgate gate: decide", window, wall, cpu, "gate"))
            console.print(f"(c) {window.records:,} decisions, {window.per_second:,.0f}/s")

        gate_rate = window.per_second
        background_rate = min(options.background_rate, 0.5 * gate_rate)
        with phase(
            f"latency: {options.probes} probes at {background_rate:,.0f} sends/s background"
        ):
            before = await watcher.count(decisions_topic)
            latency = await measure_latency(
                settings,
                workload.sends,
                probe_addresses=workload.probe_addresses,
                background_rate=background_rate,
                worker=gate_worker,
            )
            await watcher.wait_for_count(
                decisions_topic,
                latency.background_sent + latency.probes,
                baseline=before,
                timeout_s=timeout_for(latency.background_sent, min_rate=150),
                what="gate drains the background load",
                worker=gate_worker,
                consumed_by=(settings.decided_group, sends_topic),
            )
            gate_worker.stop()
        results["latency"] = _latency_figures(latency)

        with phase("(c) check the gate's decisions"):
            results["gate_decisions"] = await _check_decisions(
                settings, gate_end, records, workload.expected_denials
            )
            results["gate_decisions"]["dead_letters"] = await watcher.count(
                topic(DEAD_LETTERS.name)
            )

        if personalised:
            with phase("(d) the gate again, over personalised bodies (restores the tables first)"):
                before = await watcher.count(decisions_topic)
                personalised_start = await watcher.end_offsets(decisions_topic)
                rate = await produce_pipelined(
                    bootstrap,
                    ((sends_topic, key, value) for key, value in personalised),
                    len(personalised),
                    "publish personalised send requests",
                )
                console.print(
                    f"published {len(personalised):,} personalised send requests at {rate:,.0f}/s"
                )
                started = time.monotonic()
                # A worker of its own (fresh data folder), so it restores the tables as (c) did.
                personal_worker = WorkerProcess(
                    "gate-personalised",
                    WORKER_CODE.format(worker_name="bench-gate-personalised"),
                    worker_env(settings),
                    data_dir / "worker-gate-personalised.log",
                )
                cpu = await watcher.wait_for_count(
                    decisions_topic,
                    len(personalised),
                    baseline=before,
                    timeout_s=timeout_for(len(personalised), min_rate=150, floor_s=180),
                    what="gate decides personalised",
                    worker=personal_worker,
                    consumed_by=(settings.decided_group, sends_topic),
                    meter=CpuMeter({"contender": personal_worker.process.pid, "broker": broker}),
                )
                wall = time.monotonic() - started
                personalised_end = await watcher.end_offsets(decisions_topic)
                personal_worker.stop()
                window = await topic_window(
                    bootstrap, decisions_topic, start=personalised_start, end=personalised_end
                )
                contenders.append(
                    Contender(
                        "(d) sendgate gate, personalised bodies: decide",
                        window,
                        wall,
                        cpu,
                        "personalised",
                    )
                )
                console.print(f"(d) {window.records:,} decisions, {window.per_second:,.0f}/s")
            with phase("(d) check the personalised decisions"):
                results["personalised_decisions"] = await _check_decisions(
                    settings,
                    personalised_end,
                    len(personalised),
                    workload.expected_denials,
                    start=personalised_start,
                )
                results["personalised_decisions"]["dead_letters"] = await watcher.count(
                    topic(DEAD_LETTERS.name)
                )
        results["throughput"] = _throughput_figures(contenders)

        if not options.skip_profile:
            slice_size = min(options.profile_sends, records)
            with phase(f"profile: the gate under cProfile over {slice_size:,} more send requests"):
                results["profile"] = await _profile_gate(
                    settings,
                    watcher,
                    workload.sends[:slice_size],
                    data_dir,
                )
    return results


def _throughput_figures(contenders: list[Contender]) -> list[dict[str, Any]]:
    baseline = contenders[0].window.per_second
    return [
        {
            "contender": contender.label,
            "kind": contender.kind,
            "records": contender.window.records,
            "seconds": contender.window.seconds,
            "records_per_s": contender.window.per_second,
            "ratio_to_a": contender.window.per_second / baseline,
            "phase_wall_s_with_startup": contender.wall_s,
            "contender_cpu_cores": contender.cpu.get("contender"),
            "broker_cpu_cores": contender.cpu.get("broker"),
        }
        for contender in contenders
    ]


def _keeper_figures(keepers: list[Keeper], ceiling: TopicWindow | None = None) -> dict[str, Any]:
    """Per keeper and both together: output records over their timestamp span, as for the
    contenders, beside raw aiokafka over the same input. Together is all records over the sum
    of the spans: the rate of a worker that folded both kinds one after the other."""

    def rate(records: int, seconds: float) -> float:
        return records / seconds if seconds > 0 else float("nan")

    rows = []
    for keeper in keepers:
        raw = keeper.raw
        raw_per_s = raw.per_second if raw else float("nan")
        rows.append(
            {
                "keeper": keeper.label,
                "kind": keeper.kind,
                "events": keeper.events,
                "records": keeper.window.records,
                "seconds": keeper.window.seconds,
                "per_s": keeper.window.per_second,
                "raw_records": raw.records if raw else None,
                "raw_seconds": raw.seconds if raw else None,
                "raw_per_s": raw_per_s,
                "ratio_to_raw": keeper.window.per_second / raw_per_s,
            }
        )
    records = sum(keeper.window.records for keeper in keepers)
    seconds = sum(keeper.window.seconds for keeper in keepers)
    raws = [keeper.raw for keeper in keepers if keeper.raw is not None]
    raw_per_s = (
        rate(sum(raw.records for raw in raws), sum(raw.seconds for raw in raws))
        if len(raws) == len(keepers)
        else float("nan")
    )
    combined = {
        "keeper": "both keepers: events folded",
        "kind": "keepers",
        "events": sum(keeper.events for keeper in keepers),
        "records": records,
        "seconds": seconds,
        "per_s": rate(records, seconds),
        "raw_records": sum(raw.records for raw in raws),
        "raw_seconds": sum(raw.seconds for raw in raws),
        "raw_per_s": raw_per_s,
        "ratio_to_raw": rate(records, seconds) / raw_per_s,
    }
    consents_raw = next((k.raw for k in keepers if k.kind == "consents" and k.raw), None)
    forward = None
    if ceiling is not None and consents_raw is not None:
        forward = {
            "per_s": ceiling.per_second,
            "raw_per_s": consents_raw.per_second,
            "ratio_to_raw": ceiling.per_second / consents_raw.per_second,
        }
    return {"rows": rows, "combined": combined, "faust_forward_consents": forward}


def summary_line(results: dict[str, Any]) -> dict[str, Any]:
    """The run's headline figures, flat: what scripts and people compare between runs. Keys are
    only ever added, so older readers keep working; a figure not measured is null."""
    rows = {row["kind"]: row for row in results.get("throughput", ())}
    keepers = results.get("keepers") or {"rows": [], "combined": {}}
    by_kind = {row["kind"]: row for row in keepers["rows"]}
    latency = results.get("latency") or {}
    checks = [results.get("gate_decisions"), results.get("personalised_decisions")]

    def figure(kind: str, key: str) -> Any:
        return rows.get(kind, {}).get(key)

    forward_consents = keepers.get("faust_forward_consents") or {}

    return json_safe(
        {
            "raw_per_s": figure("raw", "records_per_s"),
            "forward_per_s": figure("forward", "records_per_s"),
            "forward_ratio_to_raw": figure("forward", "ratio_to_a"),
            "gate_per_s": figure("gate", "records_per_s"),
            "gate_ratio_to_raw": figure("gate", "ratio_to_a"),
            "personalised_gate_per_s": figure("personalised", "records_per_s"),
            "personalised_ratio_to_raw": figure("personalised", "ratio_to_a"),
            "keepers_per_s": keepers["combined"].get("per_s"),
            "keepers_ratio_to_raw": keepers["combined"].get("ratio_to_raw"),
            "raw_keepers_per_s": keepers["combined"].get("raw_per_s"),
            "consent_keeper_per_s": by_kind.get("consents", {}).get("per_s"),
            "consent_keeper_ratio_to_raw": by_kind.get("consents", {}).get("ratio_to_raw"),
            "raw_consents_per_s": by_kind.get("consents", {}).get("raw_per_s"),
            "suppression_keeper_per_s": by_kind.get("clicks", {}).get("per_s"),
            "suppression_keeper_ratio_to_raw": by_kind.get("clicks", {}).get("ratio_to_raw"),
            "raw_clicks_per_s": by_kind.get("clicks", {}).get("raw_per_s"),
            "faust_forward_consents_per_s": forward_consents.get("per_s"),
            "faust_forward_consents_ratio_to_raw": forward_consents.get("ratio_to_raw"),
            "click_p50_ms": latency.get("p50_ms"),
            "click_p99_ms": latency.get("p99_ms"),
            "click_background_per_s": latency.get("background_achieved_per_s"),
            "click_allowed": latency.get("violations_allowed"),
            "decision_problems": sum(len(check["problems"]) for check in checks if check),
            "sends": results.get("workload", {}).get("sends"),
            "partitions": results.get("options", {}).get("partitions"),
        }
    )


def _latency_figures(latency: LatencyResult) -> dict[str, Any]:
    values = latency.latencies_ms
    return {
        "probes": latency.probes,
        "p50_ms": percentile(values, 50),
        "p95_ms": percentile(values, 95),
        "p99_ms": percentile(values, 99),
        "max_ms": max(values) if values else float("nan"),
        "mean_ms": statistics.fmean(values) if values else float("nan"),
        "violations_allowed": latency.violations,
        "denied_for_another_reason": latency.other_denials,
        "background_target_per_s": latency.background_target_per_s,
        "background_achieved_per_s": latency.background_sent
        / max(latency.background_seconds, 1e-9),
        "background_sent": latency.background_sent,
    }


async def _check_decisions(
    settings: Settings,
    end: dict[int, int],
    records: int,
    expected_denials: int,
    *,
    start: dict[int, int] | None = None,
) -> dict[str, Any]:
    """Read the gate's decisions between two offsets (default: from the beginning) for
    `records` requests: one per request, denials as expected."""
    codec = default_codec()
    rows = await read_topic(
        settings.kafka_bootstrap_servers,
        settings.topic(SEND_DECISIONS.name),
        start=start,
        end=end,
    )
    by_request: dict[str, SendDecision] = {}
    disagreements = 0
    for _, _, value, _ in rows:
        decision = codec.decode(value or b"", SendDecision)
        earlier = by_request.setdefault(decision.request_id, decision)
        disagreements += earlier.failures != decision.failures
    verdicts = Counter(decision.verdict for decision in by_request.values())
    rules = Counter(
        failure.rule for decision in by_request.values() for failure in decision.failures
    )
    unexpected = {rule: count for rule, count in rules.items() if rule not in TARGETED_RULES}
    checks = {
        "decisions": len(rows),
        "distinct_request_ids": len(by_request),
        "duplicates": len(rows) - len(by_request),
        "duplicates_that_disagree": disagreements,
        "allow": verdicts["allow"],
        "deny": verdicts["deny"],
        "expected_denials": expected_denials,
        "failed_rules": dict(rules.most_common()),
        "unexpected_rules": unexpected,
    }
    problems = []
    if len(by_request) != records:
        problems.append(f"decisions for {len(by_request):,} of {records:,} requests")
    if disagreements:
        problems.append(f"{disagreements} re-delivered requests were decided differently")
    if verdicts["deny"] == 0:
        problems.append("no denials at all")
    if verdicts["deny"] != expected_denials:
        problems.append(f"{verdicts['deny']:,} denials, the workload expects {expected_denials:,}")
    if unexpected:
        problems.append(f"denials by rules the workload does not target: {unexpected}")
    checks["problems"] = problems
    return checks


async def _profile_gate(
    settings: Settings,
    watcher: OffsetWatcher,
    sends: list[tuple[bytes, bytes]],
    data_dir: Path,
) -> dict[str, Any]:
    """Publish a slice while no gate runs, then let a profiled gate worker decide it."""
    decisions_topic = settings.topic(SEND_DECISIONS.name)
    sends_topic = settings.topic(SEND_REQUESTS.name)
    before = await watcher.count(decisions_topic)
    start = await watcher.end_offsets(decisions_topic)
    await produce_pipelined(
        settings.kafka_bootstrap_servers,
        ((sends_topic, key, value) for key, value in sends),
        len(sends),
        "publish the profile slice",
    )
    profile_path = data_dir / "gate.prof"
    worker = WorkerProcess(
        "gate-profiled",
        PROFILED_WORKER_CODE.format(worker_name="bench-gate", path=str(profile_path)),
        worker_env(settings),
        data_dir / "worker-gate-profiled.log",
    )
    started = time.monotonic()
    cpu = await watcher.wait_for_count(
        decisions_topic,
        len(sends),
        baseline=before,
        timeout_s=timeout_for(len(sends), min_rate=60, floor_s=180),
        what="profiled gate decides",
        worker=worker,
        consumed_by=(settings.decided_group, sends_topic),
        meter=CpuMeter({"contender": worker.process.pid}),
    )
    wall = time.monotonic() - started
    end = await watcher.end_offsets(decisions_topic)
    code = worker.stop()
    if not profile_path.exists():
        raise BenchError(
            f"the profiled worker exited ({code}) without writing {profile_path}:\n{worker.tail()}"
        )
    window = await topic_window(
        settings.kafka_bootstrap_servers, decisions_topic, start=start, end=end
    )
    kept_dir = Path(tempfile.gettempdir()) / f"{settings.topic_prefix}gate-profile"
    kept_dir.mkdir(exist_ok=True)
    threads: dict[str, Any] = {}
    for path in sorted(data_dir.glob("gate.prof*")):
        thread = (
            "main (event loop, agents)"
            if path.name == "gate.prof"
            else path.name.removeprefix("gate.prof.thread-")
        )
        summary = profile_summary(path)
        shutil.copy(path, kept_dir / path.name)
        if thread.startswith("main") or summary["total_s"] >= 1.0:
            threads[thread] = summary
    return {
        "records": len(sends),
        "wall_s_with_startup": wall,
        "profile_dir": str(kept_dir),
        "decisions_per_s_under_profiler": window.per_second,
        "worker_cpu_cores_under_profiler": cpu.get("contender"),
        "threads": threads,
    }


# --- printing -------------------------------------------------------------------------------------


def print_results(results: dict[str, Any], machine: dict[str, str]) -> None:
    table = Table(title="Decisions per second (same run, same topics and partitions)")
    columns = (
        "contender",
        "records",
        "seconds",
        "records/s",
        "ratio to (a)",
        "phase wall s",
        "its CPU",
        "broker CPU",
    )
    for column in columns:
        table.add_column(column, justify="left" if column == "contender" else "right")
    for row in results["throughput"]:
        table.add_row(
            row["contender"],
            f"{row['records']:,}",
            f"{row['seconds']:.2f}",
            f"{row['records_per_s']:,.0f}",
            f"{row['ratio_to_a']:.2f}x",
            f"{row['phase_wall_s_with_startup']:.1f}",
            _cores(row["contender_cpu_cores"]),
            _cores(row["broker_cpu_cores"]),
        )
    console.print(table)
    console.print(
        "Each figure: records on the contender's output topic / (last - first CreateTime "
        "timestamp), the same method for (a) to (d); start-up, group join and table "
        "restore are outside the window ('phase wall s' includes them). CPU: cores busy "
        "while the contender ran (1.00 = one core), sampled from /proc. (d) decides a twin "
        "of every request of (c) whose subject, text and links differ per recipient."
    )
    options = results["options"]
    console.print(
        "Worker processes ran with: streams.gate.faust_fixes (always, applied when "
        "streams.gate.app.new_faust_app builds the app)"
        + "".join(f", {patch}" for patch in options["worker_patches"])
    )
    rows = {row["kind"]: row for row in results["throughput"]}
    gate_ratio = rows["gate"]["ratio_to_a"]
    verdict = "[green]met[/]" if gate_ratio >= 0.3 else "[red]NOT met[/]"
    console.print(f"Target gate >= 0.3x of (a): {gate_ratio:.2f}x, {verdict}")
    if "personalised" in rows:
        ratio = rows["personalised"]["records_per_s"] / rows["gate"]["records_per_s"]
        console.print(
            f"Personalised bodies: {rows['personalised']['ratio_to_a']:.2f}x of (a), "
            f"{ratio:.2f}x of (c) with the plain template bodies"
        )

    for title, key in (
        ("Gate decisions", "gate_decisions"),
        ("(d) decisions", "personalised_decisions"),
    ):
        checks = results.get(key)
        if not checks:
            continue
        console.print(
            f"{title}: {checks['decisions']:,} for {checks['distinct_request_ids']:,} "
            f"requests ({checks['duplicates']:,} re-delivered at start-up); "
            f"allow {checks['allow']:,}, deny {checks['deny']:,} (workload expects "
            f"{checks['expected_denials']:,}); failed rules {checks['failed_rules']}; "
            f"dead letters {checks['dead_letters']}"
        )
        for problem in checks["problems"]:
            console.print(f"[red]problem: {problem}[/]")

    keepers = results.get("keepers")
    if keepers:
        _print_keepers(keepers)

    latency = results.get("latency")
    if latency:
        table = Table(
            title=(
                "Click-to-effective latency: click acknowledged -> deny of the next send read "
                f"(gate at {latency['background_achieved_per_s']:,.0f} background sends/s)"
            )
        )
        for column in ("probes", "p50 ms", "p95 ms", "p99 ms", "max ms", "mean ms", "allowed"):
            table.add_column(column, justify="right")
        table.add_row(
            str(latency["probes"]),
            f"{latency['p50_ms']:.1f}",
            f"{latency['p95_ms']:.1f}",
            f"{latency['p99_ms']:.1f}",
            f"{latency['max_ms']:.1f}",
            f"{latency['mean_ms']:.1f}",
            f"{latency['violations_allowed']}",
        )
        console.print(table)
        if latency["violations_allowed"] or latency["denied_for_another_reason"]:
            console.print(
                f"[red]{latency['violations_allowed']} probes allowed, "
                f"{latency['denied_for_another_reason']} denied without list-unsubscribed[/]"
            )

    profile = results.get("profile")
    if profile:
        _print_profile(profile)

    _print_headline(results)
    table = Table(title="Machine")
    table.add_column("")
    table.add_column("")
    for name, value in machine.items():
        table.add_row(name, value)
    console.print(table)


def _cores(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def _print_keepers(keepers: dict[str, Any]) -> None:
    table = Table(
        title="State keepers: events folded per second, beside raw aiokafka over the same topic"
    )
    for column in (
        "keeper",
        "events",
        "output records",
        "seconds",
        "records/s",
        "raw aiokafka/s",
        "ratio to raw",
    ):
        table.add_column(column, justify="left" if column == "keeper" else "right")
    for row in [*keepers["rows"], keepers["combined"]]:
        table.add_row(
            row["keeper"],
            f"{row['events']:,}",
            f"{row['records']:,}",
            f"{row['seconds']:.2f}",
            f"{row['per_s']:,.0f}",
            f"{row['raw_per_s']:,.0f}",
            f"{row['ratio_to_raw']:.2f}x",
        )
    console.print(table)
    console.print(
        "Output records: the consents table's changelog (one write per fold) and "
        "suppression-changes (one per click), over their CreateTime span; both keepers started "
        "on a backlog, so start-up and restore are outside the window. Raw aiokafka: consume, "
        "decode with our codec, produce the same bytes. Both keepers: all records over the sum "
        "of the two spans."
    )
    forward = keepers.get("faust_forward_consents")
    if forward:
        console.print(
            f"Ceiling for any faust agent over the consent events: a faust agent that only "
            f"forwards them ran at {forward['per_s']:,.0f}/s, {forward['ratio_to_raw']:.2f}x of "
            f"raw aiokafka over them ({forward['raw_per_s']:,.0f}/s)."
        )


def _print_headline(results: dict[str, Any]) -> None:
    """The figures people compare, side by side, each with its own raw baseline."""
    summary = summary_line(results)
    table = Table(title="Headline: per second, and ratio to raw aiokafka over the same topics")
    for column in ("raw sends", "forward", "gate", "gate, personalised", "keepers", "raw keepers"):
        table.add_column(column, justify="right")

    def cell(value: float | None, ratio: float | None = None) -> str:
        if value is None:
            return "-"
        return f"{value:,.0f}" + ("" if ratio is None else f" ({ratio:.2f}x)")

    table.add_row(
        cell(summary["raw_per_s"]),
        cell(summary["forward_per_s"], summary["forward_ratio_to_raw"]),
        cell(summary["gate_per_s"], summary["gate_ratio_to_raw"]),
        cell(summary["personalised_gate_per_s"], summary["personalised_ratio_to_raw"]),
        cell(summary["keepers_per_s"], summary["keepers_ratio_to_raw"]),
        cell(summary["raw_keepers_per_s"]),
    )
    console.print(table)


def _print_profile(profile: dict[str, Any]) -> None:
    console.print(
        f"[bold]Gate under cProfile[/]: {profile['records']:,} decisions at "
        f"{profile['decisions_per_s_under_profiler']:,.0f}/s (profiler overhead included), "
        f"worker CPU {_cores(profile['worker_cpu_cores_under_profiler'])} cores, "
        f"{profile['wall_s_with_startup']:.1f}s wall incl. start-up"
    )
    for thread, summary in profile["threads"].items():
        total = summary["total_s"]
        table = Table(title=f"Thread {thread}: self time by code ({total:.1f}s profiled)")
        for column in ("code", "self s", "share"):
            table.add_column(column, justify="left" if column == "code" else "right")
        for family, seconds in summary["by_family"].items():
            table.add_row(family, f"{seconds:.2f}", f"{seconds / total:.1%}")
        console.print(table)
        sections = [("top_tottime", "top 15 functions by self time (tottime)")]
        if thread.startswith("main"):
            sections += [
                ("top_cumtime_ours", "top 15 of our functions (streams/) by cumulative time"),
                ("top_cumtime_libraries", "top 15 library functions by cumulative time"),
            ]
        for key, title in sections:
            table = Table(title=f"Thread {thread}: {title}")
            for column in ("code", "function", "calls", "tottime s", "cumtime s"):
                table.add_column(
                    column, justify="right" if column.endswith(("s", "calls")) else "left"
                )
            for row in summary[key]:
                table.add_row(
                    row.family,
                    row.function,
                    f"{row.calls:,}",
                    f"{row.tottime:.2f}",
                    f"{row.cumtime:.2f}",
                )
            console.print(table)
    console.print(
        f"profiles kept in {profile['profile_dir']} "
        "(python -m pstats FILE, or snakeviz, to explore)"
    )


# --- command line ---------------------------------------------------------------------------------


def main(
    sends: Annotated[int, typer.Option(min=1000, help="Send requests to pre-produce.")] = 200_000,
    suppressed: Annotated[
        int, typer.Option(min=100, help="Recipients with an unsubscribe (clicks: ~1.1 each).")
    ] = 100_000,
    partitions: Annotated[int, typer.Option(min=1, max=64, help="Partitions per topic.")] = 6,
    probes: Annotated[int, typer.Option(min=1, help="Click-to-effective latency probes.")] = 200,
    background_rate: Annotated[
        float,
        typer.Option(
            min=0, help="Background sends/s during the latency probes (at most half the gate's)."
        ),
    ] = 3000.0,
    profile_sends: Annotated[
        int, typer.Option(min=1000, help="Send requests in the profiled slice.")
    ] = 50_000,
    skip_profile: Annotated[
        bool, typer.Option("--skip-profile", help="Skip the cProfile run.")
    ] = False,
    personalised: Annotated[
        bool,
        typer.Option(
            "--personalised/--no-personalised",
            help="Run the gate a second time, (d), over a twin of every send request whose "
            "subject, text and links differ per recipient.",
        ),
    ] = True,
    json_out: Annotated[
        Path | None, typer.Option(help="Also write the figures to this JSON file.")
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed of the generated workload.")] = 2026,
    worker_patch: Annotated[
        list[Path] | None,
        typer.Option(
            exists=True,
            dir_okay=False,
            help="Python file each worker process runs first, to try a change without editing "
            "streams/ (repeatable; (b) and (c) only).",
        ),
    ] = None,
    bootstrap: Annotated[
        str | None,
        typer.Option(help="Kafka bootstrap servers (default: SENDGATE_KAFKA_BOOTSTRAP_SERVERS)."),
    ] = None,
) -> None:
    """Gate throughput beside raw aiokafka and a forwarding faust agent, with template and with
    personalised bodies; the state keepers' fold rate beside raw aiokafka; click-to-effective
    latency at load; and where the gate's time goes. Needs the broker of scripts/services.
    The last line printed is the headline figures as one JSON object."""
    options = Options(
        sends=sends,
        suppressed=suppressed,
        partitions=partitions,
        probes=probes,
        background_rate=background_rate,
        profile_sends=profile_sends,
        skip_profile=skip_profile,
        personalised=personalised,
        seed=seed,
        worker_patches=[str(path) for path in worker_patch or ()],
        bootstrap=bootstrap or get_settings().kafka_bootstrap_servers,
    )
    WorkerProcess.patches = tuple(path.resolve() for path in worker_patch or ())
    data_dir = Path(tempfile.mkdtemp(prefix="sendgate-bench-"))
    settings = new_settings(bootstrap=options.bootstrap, partitions=partitions, data_dir=data_dir)
    failed = True
    error = ""
    try:
        results = asyncio.run(run_benchmark(settings, options, data_dir))
        failed = False
    except BenchError as exc:
        error = str(exc)
        console.print(f"[red bold]benchmark failed:[/] {exc}")
    finally:
        WorkerProcess.stop_all()
        try:
            deleted = asyncio.run(delete_run_topics(settings))
            console.print(f"[dim]deleted {len(deleted)} topics under {settings.topic_prefix!r}[/]")
        except Exception as exc:
            console.print(f"[yellow]could not delete the run's topics: {exc!r}[/]")
        if failed:
            console.print(f"worker logs kept in {data_dir}")
        else:
            shutil.rmtree(data_dir, ignore_errors=True)
    if failed:
        # Still one JSON line last, all figures null, so a script reading it learns why.
        _print_json_line({**summary_line({}), "error": error})
        raise typer.Exit(1)
    machine = machine_info(partitions)
    results["machine"] = machine
    results["summary"] = summary_line(results)
    print_results(results, machine)
    if json_out is not None:
        json_out.write_text(
            json.dumps(results, indent=2, default=_jsonable) + "\n", encoding="utf-8"
        )
        console.print(f"figures written to {json_out}")
    _print_json_line(results["summary"])


def _print_json_line(summary: dict[str, Any]) -> None:
    """One line, last, outside rich: a console would wrap it at its width."""
    console.file.flush()
    print(json.dumps(summary, allow_nan=False), flush=True)


def _jsonable(value: Any) -> Any:
    if hasattr(value, "__dataclass_fields__"):
        return value.__dict__
    return str(value)


if __name__ == "__main__":
    typer.run(main)
