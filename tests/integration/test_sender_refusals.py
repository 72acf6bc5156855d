"""A bounce that refuses the sender, through the real SMTP intake: nobody is suppressed, and the
account's block rate at the recipient's provider moves.

Five DSNs for one Gmail reader say the sending host is on a blocklist, in the words Postfix
documents for a `reject_rbl_client` refusal; five is past the default soft-bounce line of four in
a row, so if such a refusal were held against the address it would be suppressed. The reader
opted in first, so a later send to them must be allowed, and `sendgate accounts status` must show
the five blocks against the account at Google.
"""

from __future__ import annotations

import asyncio
import json
import smtplib
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from streams.cli import app
from streams.core.recipient import RecipientKeyer
from streams.core.records import BounceChange, SendDecision
from streams.core.settings import Settings
from streams.edges.intake import SmtpIntake
from streams.sending.signing_keys import verp_signer
from streams.topics import BOUNCE_CHANGES, SEND_DECISIONS, SEND_REQUESTS, default_codec
from tests.support.factory import consent_event, send_request
from tests.support.kafka import (
    TopicReader,
    create_all_topics,
    delete_all_topics,
    new_producer,
    publish_consents,
)
from tests.support.mail import dsn
from tests.support.workers import GateWorker

pytestmark = pytest.mark.integration

READER = "reader@gmail.com"
ACCOUNT = "acme"
BLOCKED = "554 5.7.1 Service unavailable; Client host [192.0.2.10] blocked using zen.spamhaus.org"
REFUSALS = 5


def smtp_send(port: int, rcpt: str, data: bytes) -> None:
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as client:
        client.sendmail("", [rcpt], data)


def account_status(settings: Settings) -> dict[str, Any]:
    result = CliRunner().invoke(
        app, ["accounts", "status", ACCOUNT, "--json", "--no-ledger"], obj=settings
    )
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def google_blocks(settings: Settings, deadline_s: float) -> dict[str, Any]:
    """The account's rates at Google once the worker's rates changelog shows every refusal."""
    deadline = time.monotonic() + deadline_s
    while True:
        rows = {row["provider"]: row for row in account_status(settings)["rates"]}
        google = rows.get("google")
        if google is not None and google["blocked"] >= REFUSALS:
            return google
        if time.monotonic() > deadline:
            raise AssertionError(f"the rates never showed {REFUSALS} blocks at google: {rows}")
        time.sleep(1.0)


async def test_a_blocklisted_sender_suppresses_nobody_and_counts_against_the_account(
    settings: Settings, tmp_path: Path
) -> None:
    """Five refusals of the sending IP: the reader is still allowed; the bounce history records
    each as a refusal of the sender; accounts status shows 5 blocks at Google."""
    settings = settings.model_copy(update={"state_fence_timeout_s": 120.0})
    codec = default_codec()
    keyer = RecipientKeyer(settings.recipient_secret())
    verp = verp_signer(settings)
    await create_all_topics(settings)
    worker = GateWorker(settings, "refusal-worker", tmp_path).start()
    intake = SmtpIntake(settings, verp=verp, feedback_addresses=[], max_message_bytes=1_000_000)
    port = await intake.start()
    producer = await new_producer(settings)
    return_path = verp.return_path(keyer.key(READER))
    try:
        async with (
            TopicReader(settings, SEND_DECISIONS.full_name(settings), SendDecision) as decisions,
            TopicReader(settings, BOUNCE_CHANGES.full_name(settings), BounceChange) as changes,
        ):
            await publish_consents(
                settings,
                [
                    consent_event(
                        recipient_key=keyer.key(READER),
                        event_id=f"opt-in-{ACCOUNT}",
                        account_id=ACCOUNT,
                        occurred_at=datetime.now(UTC),
                    )
                ],
                timeout_s=120,
            )
            for n in range(REFUSALS):
                refusal = dsn(
                    READER,
                    status="5.7.1",
                    action="failed",
                    account=ACCOUNT,
                    request_id=f"r-blocked-{n}",
                    return_path=return_path,
                    diagnostic=BLOCKED,
                )
                await asyncio.to_thread(smtp_send, port, return_path, refusal)
            recorded = await changes.read_until(
                lambda seen: len(seen) >= REFUSALS, 120, f"{REFUSALS} bounce changes"
            )
            request = send_request(
                recipient=READER,
                request_id="after-the-refusals",
                account_id=ACCOUNT,
                requested_at=datetime.now(UTC),
            )
            await producer.send(
                SEND_REQUESTS.full_name(settings),
                key=keyer.key(READER).encode(),
                value=codec.encode(request),
            )
            await producer.flush()
            decided = await decisions.read_until(
                lambda seen: any(d.request_id == "after-the-refusals" for d in seen),
                120,
                "the decision after the refusals",
            )
            google = await asyncio.to_thread(google_blocks, settings, 120.0)
    finally:
        await producer.stop()
        await intake.stop()
        worker.stop()
        await delete_all_topics(settings)

    assert [change.outcome for change in recorded] == ["sender_refused"] * REFUSALS
    (decision,) = [d for d in decided if d.request_id == "after-the-refusals"]
    assert decision.verdict == "allow", decision.failures
    assert (google["blocked"], google["hard_bounced"]) == (REFUSALS, 0)
    assert google["block_rate_percent"] == "100%"  # nothing delivered yet: 5 of 5 attempted
