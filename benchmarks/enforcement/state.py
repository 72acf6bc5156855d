"""The state every enforcement probe starts from, set up for all probes at once (they share
no state, so together is the same as one by one, and quicker).

Account `probe-k` gets 1,000 `delivered` events at Gmail (distinct recipients, event time ten
minutes ago by the wall clock, which is the worker's clock) and one complaint from one of those
recipients: 1 in 1,000 is on the 0.1 % line, not over it. Nobody complaining opted in, so each
complaint is fined. One recipient per probe opts in to `probe-k`, so its broadcasts pass the
consent rules; the background account's recipients opt in to it. The policy acts on the event
that carries a rate over its line (`harness.gate.act_at_once_policy`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from harness.consuming import OffsetWatcher, read_topic, wait_until_consumed
from harness.content import (
    BACKGROUND_RECIPIENTS,
    background_grants,
    complaint,
    consent_grant,
    delivered,
)
from harness.errors import BenchError
from harness.producing import produce_pipelined
from harness.workers import WorkerProcess

from enforcement.chain import DELIVERIES, PROVIDER, Probe, reader_address
from streams.core.recipient import RecipientKeyer
from streams.core.settings import Settings
from streams.reputation.standing import EnforcementEvent
from streams.topics import (
    CONSENT_EVENTS,
    DELIVERY_EVENTS,
    ENFORCEMENT_EVENTS,
    FEEDBACK_REPORTS,
    RATES_CHANGELOG,
    default_codec,
)

__all__ = ["prepare_state"]


def state_records(
    settings: Settings, probes: list[Probe], tag: str, now: datetime
) -> Iterator[tuple[str, bytes, bytes]]:
    """Consents (background recipients, each probe's subscriber) and each probe's deliveries."""
    codec = default_codec()
    keyer = RecipientKeyer(settings.recipient_secret())
    consents, deliveries = CONSENT_EVENTS.full_name(settings), DELIVERY_EVENTS.full_name(settings)
    signed_up = now - timedelta(days=30)
    for event in background_grants(keyer, tag, signed_up):
        yield consents, event.recipient_key.encode(), codec.encode(event)
    for probe in probes:
        event = consent_grant(
            keyer, probe.address, probe.account, f"grant-{tag}-{probe.account}", signed_up
        )
        yield consents, probe.recipient_key, codec.encode(event)
    delivered_at = now - timedelta(minutes=10)
    for probe in probes:
        for index in range(DELIVERIES):
            key = keyer.key(reader_address(tag, probe.number, index))
            event = delivered(
                f"dlv-{tag}-{probe.account}-{index}", key, probe.account, delivered_at, PROVIDER
            )
            yield deliveries, key.encode(), codec.encode(event)


async def prepare_state(
    settings: Settings,
    probes: list[Probe],
    tag: str,
    watcher: OffsetWatcher,
    worker: WorkerProcess,
) -> dict[str, Any]:
    """Consents, deliveries and each probe's first complaint, all taken in by the worker."""
    rates_changelog = RATES_CHANGELOG.full_name(settings)
    enforcement_topic = ENFORCEMENT_EVENTS.full_name(settings)
    count = len(probes)
    rates_before = await watcher.count(rates_changelog)
    consents_total = BACKGROUND_RECIPIENTS + count
    await produce_pipelined(
        settings.kafka_bootstrap_servers,
        state_records(settings, probes, tag, datetime.now(UTC)),
        consents_total + count * DELIVERIES,
        "publish consents and deliveries",
    )
    await wait_until_consumed(
        watcher,
        settings.app_id,
        CONSENT_EVENTS.full_name(settings),
        timeout_s=120,
        what="consent keeper commits the consents",
        worker=worker,
    )
    await watcher.wait_for_count(
        rates_changelog,
        2 * count * DELIVERIES,
        baseline=rates_before,
        timeout_s=120 + count * DELIVERIES / 100,
        what="rate keeper counts the deliveries (x2: provider and account-wide)",
        worker=worker,
    )
    codec = default_codec()
    feedback = FEEDBACK_REPORTS.full_name(settings)
    enforcement_before = await watcher.count(enforcement_topic)
    complaints = []
    for probe in probes:
        report = complaint(f"arf-{tag}-{probe.account}-first", probe.complainers[0], probe.account)
        complaints.append((feedback, probe.complainers[0].encode(), codec.encode(report)))
    await produce_pipelined(
        settings.kafka_bootstrap_servers, complaints, count, "publish the first complaints"
    )
    await watcher.wait_for_count(
        enforcement_topic,
        count,
        baseline=enforcement_before,
        timeout_s=120,
        what="first complaints fined",
        worker=worker,
    )
    await watcher.wait_for_count(
        rates_changelog,
        2 * count * (DELIVERIES + 1),
        baseline=rates_before,
        timeout_s=120,
        what="rate keeper counts the first complaints",
        worker=worker,
    )
    rows = await read_topic(settings.kafka_bootstrap_servers, enforcement_topic)
    actions = Counter(codec.decode(value or b"", EnforcementEvent).action for *_, value, _ in rows)
    if actions != Counter({"fine_assessed": count}):
        raise BenchError(
            f"after the first complaints enforcement-events should hold {count} fines, "
            f"not {dict(actions)}"
        )
    return {
        "consent_events": consents_total,
        "deliveries": count * DELIVERIES,
        "first_complaints": count,
        "rates_changelog_records": await watcher.count(rates_changelog) - rates_before,
        "enforcement_after_first_complaints": dict(actions),
    }
