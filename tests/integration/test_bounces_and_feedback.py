"""Mail in through the SMTP intake, suppressions out: bounces, complaints and replies end to end.

A DSN, a soft-bounce sequence, an RFC 5965 complaint, a Microsoft JMRP report and an unsubscribe
reply go through the real SMTP intake to the real broker; the gate worker parses them, keeps its
bounce history and suppressions, and later send requests are decided on the result. Bad mail goes
to dead-letters.

Everyone in the test opted in to the accounts that mail them before any mail comes back, so a
denial is the work of the mail alone.
"""

from __future__ import annotations

import asyncio
import smtplib
from datetime import UTC, datetime
from pathlib import Path

from streams.core.recipient import RecipientKeyer
from streams.core.records import DeadLetter, SendDecision, SuppressionChange
from streams.core.settings import Settings
from streams.edges.intake import SmtpIntake
from streams.sending.signing_keys import verp_signer
from streams.topics import (
    DEAD_LETTERS,
    SEND_DECISIONS,
    SEND_REQUESTS,
    SUPPRESSION_CHANGES,
    default_codec,
)
from tests.support.factory import consent_event, send_request
from tests.support.kafka import (
    TopicReader,
    create_all_topics,
    delete_all_topics,
    new_producer,
    publish_consents,
)
from tests.support.mail import arf_report, dsn, jmrp_report, reply
from tests.support.workers import GateWorker

FBL = "fbl@feedback.sendgate.example"


def smtp_send(port: int, mail_from: str, rcpt: str, data: bytes) -> None:
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as client:
        client.sendmail(mail_from, [rcpt], data)


async def test_mail_through_the_intake_suppresses_the_right_people(
    settings: Settings, tmp_path: Path
) -> None:
    """Hard bounce, 4th soft bounce, ARF and JMRP complaints, reply: each denies later sends."""
    settings = settings.model_copy(update={"state_fence_timeout_s": 120.0})
    codec = default_codec()
    keyer = RecipientKeyer(settings.recipient_secret())
    verp = verp_signer(settings)  # makes the key file the worker will read too
    await create_all_topics(settings)
    worker = GateWorker(settings, "mail-worker", tmp_path).start()
    intake = SmtpIntake(settings, verp=verp, feedback_addresses=[FBL], max_message_bytes=1_000_000)
    port = await intake.start()
    producer = await new_producer(settings)
    sends = SEND_REQUESTS.full_name(settings)

    async def mail(rcpt: str, data: bytes, mail_from: str = "") -> None:
        await asyncio.to_thread(smtp_send, port, mail_from, rcpt, data)

    def path_of(address: str) -> str:
        return verp.return_path(keyer.key(address))

    async def decide(requests: list[tuple[str, str, str]]) -> dict[str, SendDecision]:
        """Publish (request id, address, account) sends and wait for their decisions."""
        for request_id, address, account in requests:
            request = send_request(
                recipient=address,
                request_id=request_id,
                account_id=account,
                requested_at=datetime.now(UTC),
            )
            await producer.send(sends, key=keyer.key(address).encode(), value=codec.encode(request))
        await producer.flush()
        wanted = {request_id for request_id, _, _ in requests}
        got = await decisions.read_until(
            lambda seen: wanted <= {d.request_id for d in seen}, 120, f"decisions {sorted(wanted)}"
        )
        return {d.request_id: d for d in got if d.request_id in wanted}

    async def suppressions_reach(count: int) -> None:
        await changes.read_until(lambda seen: len(seen) >= count, 120, f"{count} suppressions")

    try:
        async with (
            TopicReader(settings, SEND_DECISIONS.full_name(settings), SendDecision) as decisions,
            TopicReader(
                settings, SUPPRESSION_CHANGES.full_name(settings), SuppressionChange
            ) as changes,
            TopicReader(settings, DEAD_LETTERS.full_name(settings), DeadLetter) as letters,
        ):
            hard, soft = "gone@example.org", "full@example.org"
            arf_person, jmrp_person = "angry@example.net", "annoyed@example.net"
            leaver = "leaver@example.com"
            # Each of them opted in to the accounts the test mails them from.
            await publish_consents(
                settings,
                [
                    consent_event(
                        recipient_key=keyer.key(address),
                        event_id=f"opt-in-{account}-{address}",
                        account_id=account,
                        occurred_at=datetime.now(UTC),
                    )
                    for address, account in (
                        (hard, "acme"),
                        (soft, "acme"),
                        (arf_person, "acme"),
                        (arf_person, "globex"),
                        (jmrp_person, "acme"),
                        (leaver, "globex"),
                    )
                ],
                timeout_s=120,
            )
            # A hard bounce, to the VERP return path of the send it answers.
            await mail(
                path_of(hard),
                dsn(
                    hard,
                    status="5.1.1",
                    action="failed",
                    account="acme",
                    request_id="r-hard",
                    return_path=path_of(hard),
                ),
            )
            # Three soft bounces: not yet over the default line of four.
            for n in range(3):
                await mail(
                    path_of(soft),
                    dsn(
                        soft,
                        status="4.2.2",
                        action="failed",
                        account="acme",
                        request_id=f"r-soft-{n}",
                        return_path=path_of(soft),
                    ),
                )
            # Complaints: an RFC 5965 abuse report and a Microsoft JMRP report.
            await mail(
                FBL,
                arf_report(arf_person, feedback_type="abuse", account="acme", request_id="r-arf"),
            )
            await mail(FBL, jmrp_report(jmrp_person, account="acme", request_id="r-jmrp"))
            # A reply asking to unsubscribe, to the return path of the mail it answers.
            await mail(
                path_of(leaver),
                reply(leaver, path_of(leaver), "Unsubscribe me please"),
                mail_from=leaver,
            )
            # Bad mail: not a bounce, not a report, not a reply.
            await mail(FBL, b"\x00\x01 this is not a message \xff\r\n")

            await suppressions_reach(4)  # hard bounce, ARF, JMRP, reply
            first = await decide(
                [
                    ("d-hard", hard, "acme"),
                    ("d-soft-3", soft, "acme"),
                    ("d-arf-acme", arf_person, "acme"),
                    ("d-arf-globex", arf_person, "globex"),
                    ("d-jmrp", jmrp_person, "acme"),
                    ("d-leaver", leaver, "globex"),
                ]
            )
            # The fourth soft bounce makes the address hard.
            await mail(
                path_of(soft),
                dsn(
                    soft,
                    status="4.2.2",
                    action="failed",
                    account="acme",
                    request_id="r-soft-3",
                    return_path=path_of(soft),
                ),
            )
            await suppressions_reach(5)
            second = await decide([("d-soft-4", soft, "acme")])
            bad = await letters.read_until(lambda seen: len(seen) >= 1, 60, "the bad mail")
    finally:
        await producer.stop()
        await intake.stop()
        worker.stop()
        await delete_all_topics(settings)

    def rules(decision: SendDecision) -> list[str]:
        return [failure.rule for failure in decision.failures]

    assert rules(first["d-hard"]) == ["platform-suppressed"]
    assert "hard-bounced" in first["d-hard"].failures[0].explanation
    assert first["d-soft-3"].verdict == "allow"  # three soft bounces are under the line
    assert rules(first["d-arf-acme"]) == ["account-unsubscribed"]
    assert "as spam" in first["d-arf-acme"].failures[0].explanation
    assert first["d-arf-globex"].verdict == "allow"  # a complaint about acme is not about globex
    assert rules(first["d-jmrp"]) == ["account-unsubscribed"]
    assert rules(first["d-leaver"]) == ["platform-suppressed"]  # no account known: everything
    assert rules(second["d-soft-4"]) == ["platform-suppressed"]
    assert [letter.origin_topic for letter in bad] == [f"{settings.topic_prefix}inbound-mail"]
    assert bad[0].agent == "parse_inbound_mail"
    assert first["d-soft-3"].return_path and first["d-soft-3"].return_path.startswith("b-")
