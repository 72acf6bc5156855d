"""On the real broker: what a message must and must not carry, with a real worker.

- One commercial bulk send breaks every content rule that can fail together, and its one
  decision lists each of them (and only them), in table order, with its law and explanation;
  the rules that exclude one another (an unreadable From silences the From rules, a request
  without body facts silences the body rules, no authentication facts at all silences the
  alignment rules) get a send each.
- Marketing sent as transactional is denied; at the policy's third misuse the enforcer suspends
  the account's transactional sending, and a clean receipt is then denied too.
- A weekly consent and a platform cap of one send a week: the second send of the week is denied
  by both frequency rules, in one decision.

The test's policy asks for the optional rules too (advertisement label, permission reminder).
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path

from streams.core.clock import FileClock
from streams.core.recipient import RecipientKeyer
from streams.core.records import (
    BodyLink,
    MailAuthentication,
    MessageBody,
    SendDecision,
    SendRequest,
)
from streams.core.settings import Settings
from streams.policy import DEFAULT_POLICY_FILE
from streams.reputation.standing import EnforcementEvent
from streams.topics import ENFORCEMENT_EVENTS, SEND_DECISIONS, default_codec
from tests.support.factory import consent_event, send_request
from tests.support.kafka import (
    TopicReader,
    create_all_topics,
    new_producer,
    publish_consents,
)
from tests.support.workers import GateWorker

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
READER = "jo.reader@example.net"
ROLE = "info@example.net"
WEEKLY = "weekly.reader@example.net"
OTHERS = ("ann.reader@example.net", "bob.reader@example.net", "cy.reader@example.net")
"""One reader per send of the mutually exclusive rules: the platform cap of one a week would
otherwise deny all but the first send to one reader."""

# Spelled out, not read from the code: a renamed rule fails here.
EVERYTHING_AT_ONCE = [
    "role-address",
    "from-domain-not-verified",
    "reply-to-domain-not-verified",
    "from-free-mail-domain",
    "display-name-spoofed",
    "bulk-from-not-aligned",
    "bulk-dmarc-missing",
    "list-unsubscribe-not-signed",
    "sender-name-missing",
    "postal-address-missing",
    "unsubscribe-mechanism-missing",
    "ad-identification-missing",
    "subject-fake-reply",
    "subject-looks-transactional",
    "permission-reminder-missing",
    "review-incentive-for-positive-review",
]


def strict_policy(tmp_path: Path) -> Path:
    """The default policy with the optional content rules on, a platform cap of one commercial
    send per recipient a week, and transactional sending suspended at the third misuse."""
    source = DEFAULT_POLICY_FILE.read_text(encoding="utf-8")
    for old, new in (
        ("cap_per_recipient = 0", "cap_per_recipient = 1"),
        ("[frequency]\n", "[content]\nrequire_ad_identification = true\n"
         "require_permission_reminder = true\n\n[frequency]\n"),
    ):  # fmt: skip
        assert old in source, old
        source = source.replace(old, new, 1)
    path = tmp_path / "strict-policy.toml"
    path.write_text(source, encoding="utf-8")
    return path


send = partial(send_request, recipient=READER, jurisdiction="US", requested_at=NOW)
"""Acme's mail to a reader in the US, compliant in content: a receipt when transactional."""
advertisement = partial(send, subject="Advertisement: this week at Acme")
"""Acme's newsletter, labelled as an advertisement as the test's policy asks."""


def broken_everywhere() -> SendRequest:
    """A commercial bulk send to a role address from a spoofed free-mail sender, unaligned and
    unsigned, whose body has no address, no way out, no ad label and no reminder, and which
    pays for five-star reviews under a fake-reply, shipping-notice subject."""
    return advertisement(
        request_id="broken-everywhere",
        recipient=ROLE,
        from_address='"support@paypal.example" <deals@gmail.com>',
        reply_to="offers@unverified.example",
        subject="Re: Your order has shipped",
        body=MessageBody(
            text=(
                "Big news from us!\n"
                "Leave us a 5-star review and get a $10 gift card.\n"
                "See the new range"
            ),
            links=(BodyLink(url="https://shop.acme.example/new", text="See the new range"),),
        ),
        authentication=MailAuthentication(
            dkim_domain="mailer.example",
            dkim_signed_headers=("from", "subject"),
            spf_domain="bounce.mailer.example",
        ),
    )


def marketing_receipt(index: int) -> SendRequest:
    return send(
        request_id=f"receipt-with-coupon-{index}",
        classification="transactional",
        send_kind="one_off",
        body=MessageBody(
            text=(
                f"Thank you for your order 10{index}. Total charged: USD 42.00.\n"
                "Use code SAVE20 for 20% off your next order. Shop now!\n"
                "Acme Inc., 100 Main Street, Springfield, IL 62701, USA"
            ),
            links=(BodyLink(url="https://www.acme.example/sale", text="Shop now"),),
        ),
    )


async def decide(
    settings: Settings, answers: TopicReader, requests: list[SendRequest]
) -> dict[str, SendDecision]:
    keyer, codec = RecipientKeyer(settings.recipient_secret()), default_codec()
    producer = await new_producer(settings)
    try:
        for item in requests:
            await producer.send_and_wait(
                settings.topic("send-requests"),
                codec.encode(item),
                key=keyer.key(item.recipient).encode(),
            )
    finally:
        await producer.stop()
    wanted = {item.request_id for item in requests}
    got = await answers.read_until(
        lambda ds: wanted <= {d.request_id for d in ds}, 90, f"decisions on {sorted(wanted)}"
    )
    return {d.request_id: d for d in got if d.request_id in wanted}


def rules(decision: SendDecision) -> list[str]:
    return [failure.rule for failure in decision.failures]


async def test_content_rules_frequency_and_misuse_on_the_real_broker(
    settings: Settings, tmp_path: Path
) -> None:
    clock_file = tmp_path / "clock"
    FileClock.write(clock_file, NOW)
    settings = settings.model_copy(
        update={"clock_file": clock_file, "policy_file": strict_policy(tmp_path)}
    )
    await create_all_topics(settings)
    keyer = RecipientKeyer(settings.recipient_secret())
    worker = GateWorker(settings, "content-worker", tmp_path).start()
    try:
        # Soft opt-in customers (not express consent, so the ad label is owed: CAN-SPAM
        # §7704(a)(5)(B) exempts only affirmative consent), one with a weekly cadence.
        opted_in = partial(consent_event, basis="soft_opt_in", occurred_at=NOW - timedelta(days=60))
        await publish_consents(
            settings,
            [
                opted_in(recipient_key=keyer.key(READER), event_id="c-reader"),
                opted_in(recipient_key=keyer.key(ROLE), event_id="c-role"),
                opted_in(recipient_key=keyer.key(WEEKLY), event_id="c-weekly", cadence="weekly"),
                *(opted_in(recipient_key=keyer.key(who), event_id=f"c-{who}") for who in OTHERS),
            ],
        )
        async with (
            TopicReader(settings, SEND_DECISIONS.full_name(settings), SendDecision) as answers,
            TopicReader(
                settings, ENFORCEMENT_EVENTS.full_name(settings), EnforcementEvent
            ) as enforcement,
        ):
            compliant = advertisement(request_id="compliant")
            got = await decide(
                settings,
                answers,
                [
                    compliant,
                    broken_everywhere(),
                    advertisement(
                        request_id="unreadable-from",
                        recipient=OTHERS[0],
                        from_address="not an address at all",
                    ),
                    advertisement(request_id="no-body-facts", recipient=OTHERS[1], body=None),
                    advertisement(
                        request_id="no-authentication", recipient=OTHERS[2], authentication=None
                    ),
                ],
            )
            assert rules(got["compliant"]) == []
            assert "List-Unsubscribe" in got["compliant"].headers

            everything = got["broken-everywhere"]
            assert everything.verdict == "deny"
            assert rules(everything) == EVERYTHING_AT_ONCE
            for failure in everything.failures:
                assert failure.law and failure.explanation
                assert ROLE not in failure.explanation
            assert rules(got["unreadable-from"]) == ["from-address-invalid"]
            assert rules(got["no-body-facts"]) == ["body-facts-missing"]
            assert rules(got["no-authentication"]) == ["bulk-authentication-missing"]

            # Frequency, in event time: the weekly reader's second send in six days.
            week = await decide(
                settings,
                answers,
                [
                    advertisement(request_id="weekly-1", recipient=WEEKLY),
                    advertisement(
                        request_id="weekly-2",
                        recipient=WEEKLY,
                        requested_at=NOW + timedelta(days=6),
                    ),
                    advertisement(
                        request_id="weekly-3",
                        recipient=WEEKLY,
                        requested_at=NOW + timedelta(days=7),
                    ),
                ],
            )
            assert [rules(week[f"weekly-{n}"]) for n in (1, 2, 3)] == [
                [],
                ["cadence-exceeded", "frequency-cap-exceeded"],
                [],
            ]

            # Misuse: three receipts carrying a coupon, then a clean receipt.
            misuse = await decide(settings, answers, [marketing_receipt(n) for n in range(3)])
            assert all(rules(d) == ["transactional-misuse"] for d in misuse.values())
            events = await enforcement.read_until(
                lambda es: "transactional_suspended" in [e.action for e in es],
                60,
                "the transactional suspension",
            )
            assert [e.action for e in events] == [
                "transactional_misuse",
                "transactional_misuse",
                "transactional_misuse",
                "transactional_suspended",
            ]
            await asyncio.sleep(1)  # the accounts GlobalTable reaches the gate's store
            clean = await decide(
                settings,
                answers,
                [
                    send(
                        request_id="clean-receipt",
                        classification="transactional",
                        send_kind="one_off",
                    )
                ],
            )
            assert rules(clean["clean-receipt"]) == ["account-transactional-suspended"]
    finally:
        worker.stop()
        if worker.alive():  # pragma: no cover - only when stop failed
            worker.kill()
    assert "Traceback" not in worker.log_tail(400), worker.log_tail(80)
