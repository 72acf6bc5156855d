"""The state keepers' fold rate: the consent keeper and the suppression keeper of the real gate
worker, each started on a backlog, beside raw aiokafka over the same input and, as their ceiling,
a faust agent that only forwards the consent events.

Consents go first because people sign up before they leave, and the gate orders nothing across
topics. Both keepers are timed like the contenders, by their output records: the consents
table's changelog (one write per fold) and suppression-changes (one per click).
"""

from __future__ import annotations

from pathlib import Path

from harness.consuming import OffsetWatcher, TopicWindow, topic_window, wait_until_consumed
from harness.gate import publish_sender_domains
from harness.producing import publish
from harness.report import console
from harness.stats import timeout_for
from harness.workers import start_worker

from streams.core.records import ConsentEvent, UnsubscribeClick
from streams.core.settings import Settings
from streams.topics import (
    CONSENT_EVENTS,
    CONSENTS_CHANGELOG,
    SUPPRESSION_CHANGES,
    UNSUBSCRIBE_CLICKS,
)
from throughput.contenders import (
    RAW_CLICKS_GROUP,
    RAW_CLICKS_OUT,
    RAW_CONSENTS_GROUP,
    RAW_CONSENTS_OUT,
    WORKER_CODE,
    faust_forward,
    raw_passthrough,
)
from throughput.figures import Keeper
from throughput.workload import ACCOUNTS, Workload

__all__ = ["fold_state", "keepers_ceiling", "raw_keepers"]


async def fold_state(
    settings: Settings, watcher: OffsetWatcher, data_dir: Path, workload: Workload
) -> tuple[list[Keeper], int]:
    """Publish the consents, fold them with the gate worker, hand it the verified domains; stop
    it, publish the clicks, start it again and let it fold them. Returns both keepers, timed,
    and the number of accounts whose domains were published."""
    bootstrap = settings.kafka_bootstrap_servers
    # People sign up before they unsubscribe, and the gate orders nothing across topics:
    # the consents are folded before the clicks are published.
    consents_topic = CONSENT_EVENTS.full_name(settings)
    rate = await publish(bootstrap, consents_topic, workload.consents, "publish consents")
    console.print(f"published {len(workload.consents):,} consent events at {rate:,.0f}/s")
    state_worker = start_worker(
        settings, data_dir, "state", WORKER_CODE.format(worker_name="bench-state")
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
    # Stopped while the clicks are published, so they wait as a backlog, as the send
    # requests do for every contender: a keeper running during the publishing would be
    # timed at the publisher's pace, not its own.
    code = state_worker.stop()
    console.print(f"state worker stopped (exit code {code})")
    clicks_topic = UNSUBSCRIBE_CLICKS.full_name(settings)
    rate = await publish(bootstrap, clicks_topic, workload.clicks, "publish clicks")
    console.print(f"published {len(workload.clicks):,} clicks at {rate:,.0f}/s")
    state_worker = start_worker(
        settings, data_dir, "state-clicks", WORKER_CODE.format(worker_name="bench-state")
    )
    changes_topic = SUPPRESSION_CHANGES.full_name(settings)
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
    return keepers, published


async def raw_keepers(settings: Settings, watcher: OffsetWatcher, keepers: list[Keeper]) -> None:
    """The keepers' baseline: raw aiokafka over each keeper's input, kept in `Keeper.raw`."""
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
        keeper.raw = await topic_window(settings.kafka_bootstrap_servers, out.full_name(settings))
        console.print(
            f"raw aiokafka over {source.name}: {keeper.raw.records:,} records, "
            f"{keeper.raw.per_second:,.0f}/s"
        )


async def keepers_ceiling(
    settings: Settings, watcher: OffsetWatcher, data_dir: Path
) -> TopicWindow:
    """A faust agent that only forwards the consent events: no keeper that stays a faust agent
    can fold them faster."""
    count = await watcher.count(CONSENT_EVENTS.full_name(settings))
    ceiling, _ = await faust_forward(settings, watcher, data_dir, CONSENT_EVENTS.name, count)
    console.print(
        f"faust forward-only over consent-events: {ceiling.records:,} records, "
        f"{ceiling.per_second:,.0f}/s"
    )
    return ceiling
