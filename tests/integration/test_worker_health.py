"""A real worker's /healthz, /readyz and /metrics: it says when it is ready, and its metrics move
with the sends it decides, without a single address, key or IP in them.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from streams.cli import app
from streams.core.recipient import RecipientKeyer
from streams.core.records import SendDecision
from streams.core.settings import Settings
from streams.edges.web.serve import free_loopback_port
from streams.topics import SEND_DECISIONS, SEND_REQUESTS, default_codec
from tests.support.factory import consent_event, send_request
from tests.support.kafka import (
    TopicReader,
    create_all_topics,
    delete_all_topics,
    new_producer,
    publish_consents,
)
from tests.support.workers import GateWorker, http_get, wait_for

pytestmark = pytest.mark.integration

READER = "reader@example.org"


async def test_ready_when_recovered_and_metrics_follow_the_decisions(
    settings: Settings, tmp_path: Path
) -> None:
    """/healthz answers while the process runs; /readyz is 503 with reasons until the worker
    holds partitions and its tables are recovered, then 200; after one allowed send /metrics
    counts it, shows the lag of every assigned partition, and names nobody."""
    port = free_loopback_port()
    codec = default_codec()
    keyer = RecipientKeyer(settings.recipient_secret())
    await create_all_topics(settings)
    worker = GateWorker(settings, "health-worker", tmp_path, metrics_port=port).start()
    producer = await new_producer(settings)
    seen_not_ready: list[dict] = []

    async def ready() -> bool:
        assert worker.alive(), worker.log_tail()
        status, body = http_get(port, "/readyz")
        if status == 503:
            seen_not_ready.append(json.loads(body))
        return status == 200

    try:
        await wait_for(ready, 120, "the worker's /readyz to answer 200")
        health_status, _ = http_get(port, "/healthz")
        async with TopicReader(
            settings, SEND_DECISIONS.full_name(settings), SendDecision
        ) as decisions:
            await publish_consents(
                settings,
                [
                    consent_event(
                        recipient_key=keyer.key(READER),
                        event_id="opt-in",
                        account_id="acme",
                        occurred_at=datetime.now(UTC),
                    )
                ],
                timeout_s=120,
            )
            request = send_request(
                recipient=READER,
                request_id="health-1",
                account_id="acme",
                requested_at=datetime.now(UTC),
            )
            await producer.send(
                SEND_REQUESTS.full_name(settings),
                key=keyer.key(READER).encode(),
                value=codec.encode(request),
            )
            await producer.flush()
            [decision] = await decisions.read_until(lambda seen: len(seen) >= 1, 120, "a decision")
        metrics_status, metrics = http_get(port, "/metrics")
        result = await asyncio.to_thread(
            CliRunner().invoke,
            app,
            ["status", "--json", "--worker", f"http://127.0.0.1:{port}"],
            obj=settings,
        )
    finally:
        await producer.stop()
        worker.stop()
        await delete_all_topics(settings)

    assert health_status == 200
    assert all(body["reasons"] for body in seen_not_ready)
    assert decision.verdict == "allow"
    assert metrics_status == 200
    assert 'sendgate_decisions_total{classification="commercial",verdict="allow"} 1.0' in metrics
    assert "sendgate_decision_latency_seconds_count 1.0" in metrics
    assert f'topic="{SEND_REQUESTS.full_name(settings)}"' in metrics  # lag per partition
    assert "sendgate_tables_recovered 1.0" in metrics
    assert 'sendgate_table_entries{table="' in metrics
    assert READER not in metrics and keyer.key(READER) not in metrics
    # sendgate status, from the broker and the worker's /readyz
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["decisions_last_minute"] >= 1
    assert report["last_decision_age_s"] is not None and report["last_decision_age_s"] < 300
    [gate_group, decider] = report["groups"]
    assert gate_group["group"] == settings.app_id and decider["group"] == settings.decided_group
    assert decider["lag"] == 0  # the one send request is decided and committed
    assert [w["ready"] for w in report["workers"]] == [True]
