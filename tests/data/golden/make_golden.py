"""Write the golden encoded values the codec tests compare against: one per schema version.

For every current schema `schemas/<name>.avsc` this writes

    tests/data/golden/<name>.v<N>.bin    the sample, single-object encoded by the current codec
    tests/data/golden/<name>.v<N>.json   the same sample as JSON: {"record": <Avro full name>,
                                         "value": <fields>}; bytes are {"$bytes_hex": "..."},
                                         datetimes ISO 8601 with their UTC offset, decimals
                                         strings ("0.001": exact, unlike a JSON number)

and `tests/unit/test_codec.py` checks that every `.bin` still decodes to its `.json` and that the
newest version of each schema still encodes its sample to the very same bytes. Golden files are a
record of what was once written to Kafka, so they are never regenerated:

- Run this once per new schema version, and commit what it writes.
- It refuses to overwrite an existing file. `--force` exists for a sample that was wrong before it
  was ever committed; never use it on a committed file.
- A schema's current version is one more than its highest `schemas/history/<name>.v<N>.avsc`
  (1 without any). That is the version written when `--version` is not given, and a `--version`
  that disagrees is refused, so a newer schema's sample never lands in an older version's files.
- Changing a schema makes a NEW version: copy the old `.avsc` into `schemas/history/` (as
  `<name>.v<N>.avsc`; see below for records that embed the changed type), edit the current file,
  update the sample below if needed, then run `make_golden.py --only <name>` (it writes vN+1).
  The older files stay as they are, and the tests then prove that the new reader still reads them.
- A record that embeds a changed named type (SendDecision embeds RuleFailure and
  SuppressionEntry, for example) gets a new fingerprint too, so it needs its own history copy
  and golden `vN+1` files. Write its history copy self-contained (the expanded schema, with the
  old inner type spelled out), because a history file's references by name resolve to the
  *current* definitions. The golden tests fail with `UnknownSchemaError` until that is done.

Usage (from the repository root):

    .venv/bin/python tests/data/golden/make_golden.py [--only NAME ...] [--version N] [--force]
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from streams.core.codec import SCHEMA_DIR
from streams.core.records import (
    AddressCorrection,
    BodyLink,
    BounceChange,
    BounceState,
    ConsentDeadline,
    ConsentEntry,
    ConsentEvent,
    ConsentNotice,
    ConsentState,
    DeadLetter,
    DeliveryEvent,
    ErasedPlace,
    ErasureEvent,
    ErasureRequest,
    EspWebhook,
    FeedbackReport,
    InboundMail,
    MailAuthentication,
    MessageBody,
    Record,
    RuleFailure,
    SendDecision,
    SenderDomains,
    SendRequest,
    SuppressionChange,
    SuppressionEntry,
    SuppressionState,
    UnsubscribeClick,
)
from streams.reputation.breaches import Breach
from streams.reputation.rate_inputs import CountedEvent, RateEvent, RateTick, RecipientRates
from streams.reputation.rates import RateBucket, RateState, Window
from streams.reputation.standing import (
    AccountSnapshot,
    BreachReport,
    EnforcementEvent,
    MisuseReport,
    ReinstatementRequest,
    misuse_report_id,
)
from streams.reputation.strikes import (
    AccountStanding,
    CountedMisuse,
    Pause,
    Reinstatement,
    Review,
    Strike,
)
from streams.rules.inputs import DecisionInputs
from streams.sending.frequency import SendHistory, SentMark
from streams.topics import default_codec

GOLDEN_DIR = Path(__file__).resolve().parent

# A recipient key is a hex HMAC; this one is made up (it is no key of any address).
_KEY = "5f0c6a1e9d2b47c38e1f0a9b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a0b9c8d"
_CLICKED = datetime(2026, 3, 1, 18, 4, 5, 250_000, tzinfo=UTC)

_LIST_ENTRY = SuppressionEntry(
    scope="list",
    account_id="acct-42",
    list_id="weekly-news",
    reason="unsubscribe",
    since=_CLICKED,
    source="unsubscribe-clicks/3/17",
    source_event_id="click-0001",
)
_PLATFORM_ENTRY = SuppressionEntry(
    scope="platform",
    reason="complaint",
    since=datetime(2025, 12, 24, 7, 0, tzinfo=UTC),
    source="unsubscribe-clicks/3/2",
    source_event_id="fbl-0007",
)
_LIST_FAILURE = RuleFailure(
    rule="list-unsubscribed",
    law="CAN-SPAM 15 U.S.C. §7704(a)(4); CASL s.11(3)",
    explanation="The recipient unsubscribed from list weekly-news on 2026-03-01.",
)
_ROLE_FAILURE = RuleFailure(
    rule="role-address",
    law="Platform policy: role addresses cannot give individual consent to marketing",
    explanation="'info@' is a role address.",
)

_SENT_MARK = SentMark(
    account_id="acct-42",
    list_id="weekly-news",
    request_id="req-2026-03-02-0001",
    sent_at=datetime(2026, 3, 2, 9, 30, 0, 123_000, tzinfo=UTC),
)
_CONSENT_ENTRY = ConsentEntry(
    account_id="acct-42",
    lists=(),
    status="single_opt_in",
    basis="implied_purchase",
    jurisdiction="CA",
    cadence=None,
    source_kind="checkout",
    source_id="order-981",
    wording_version=None,
    requires_confirmation=False,
    granted_at=datetime(2024, 4, 2, 12, 0, tzinfo=UTC),
    expires_at=datetime(2026, 4, 2, 12, 0, tzinfo=UTC),
    expiring_notified=True,
    last_event_id="order-981",
)

# Rates and enforcement: one story of the made-up account `acme-shoes`. The week
# 2026-02-23..03-02 is judged when its 48 h lateness has passed (03-04 00:00 UTC): 3 complaints
# of 1,200 delivered at google pass the 0.1% strike line (strike 1: broadcasts disabled), 9 of
# 1,500 at microsoft the 0.5% pause level of the `ses-pauses` preset, 2 of 1,500 at yahoo its
# 0.1% review level. On 03-09 an operator reinstates the account. Breach and event ids are what
# `streams.reputation.strikes.breach_id` and `streams.reputation.events.enforcement_events` give
# for this story.
_POLICY_VERSION = "default@2026.11.2+0123456789ab"
_WEEK = Window(start=datetime(2026, 2, 23, tzinfo=UTC), end=datetime(2026, 3, 2, tzinfo=UTC))
_JUDGED = datetime(2026, 3, 4, 0, 0, 5, tzinfo=UTC)
_REINSTATED = datetime(2026, 3, 9, 15, 30, tzinfo=UTC)
_GOOGLE_BREACH_ID = "6238b62daabee2cf7b84e0d08960ce17"
_GOOGLE_BREACH = Breach(
    kind="complaint",
    level="strike",
    provider="google",
    window=_WEEK,
    count=3,
    volume=1200,
    line=Decimal("0.001"),
)
_STRIKE = Strike(
    breach_id=_GOOGLE_BREACH_ID,
    provider="google",
    kind="complaint",
    window=_WEEK,
    count=3,
    volume=1200,
    line=Decimal("0.001"),
    at=_JUDGED,
    number=1,
)
_PAUSE = Pause(
    breach_id="423de20d4aa37fa0775820428104a4c9",
    provider="microsoft",
    kind="complaint",
    window=_WEEK,
    count=9,
    volume=1500,
    line=Decimal("0.005"),
    at=_JUDGED,
    lifted_at=_REINSTATED,
)
_REVIEW = Review(
    breach_id="e765796f0b6895a3ff2ed51aa9405102",
    provider="yahoo",
    kind="complaint",
    window=_WEEK,
    count=2,
    volume=1500,
    line=Decimal("0.001"),
    at=_JUDGED,
)
_REINSTATEMENT = Reinstatement(
    reinstatement_id="reinstate-acme-shoes-0001",
    by="ops-agent-17",
    reason="Passed the best-practice test (ticket EX-1042)",
    at=_REINSTATED,
    restored=("broadcasts", "provider:microsoft"),
)
# Transactional misuse: after the reinstatement, three transactional sends of acme-shoes
# carry marketing (03-10, 03-11, 03-12); the third reaches the default 3 in 30 days and suspends
# its transactional sending. Report and event ids are what `misuse_report_id` and
# `enforcement_events` give for this story.
_MISUSE_AT = (
    datetime(2026, 3, 10, 8, 12, 4, 500_000, tzinfo=UTC),
    datetime(2026, 3, 11, 14, 3, tzinfo=UTC),
    datetime(2026, 3, 12, 9, 41, 17, 250_000, tzinfo=UTC),
)
_MISUSE_REQUESTS = ("req-000311", "req-000342", "req-000377")
_MISUSE = tuple(
    CountedMisuse(report_id=misuse_report_id("acme-shoes", request_id), detected_at=at)
    for request_id, at in zip(_MISUSE_REQUESTS, _MISUSE_AT, strict=True)
)
_SUSPENDED = datetime(2026, 3, 12, 9, 41, 18, tzinfo=UTC)
# What the gate saw beside the suppressions when it allowed req-2026-03-02-0002 (the
# send_decision sample): the recipient's consent, one earlier weekly send, acct-42 in good standing
# with two verified domains.
_DECISION_INPUTS = DecisionInputs(
    consents=(_CONSENT_ENTRY,),
    state_current=True,
    account=AccountSnapshot(
        account_id="acct-42", status="active", as_of=datetime(2026, 2, 27, 8, 0, tzinfo=UTC)
    ),
    send_history=SendHistory(sends=(_SENT_MARK,)),
    sender_domains=("example.org", "xn--bcher-kva.example"),
)
_ERASED_CONSENTS = ErasedPlace(
    place="table consents",
    action="deleted",
    count=1,
    done_by=datetime(2026, 3, 2, 9, 15, 1, 52_000, tzinfo=UTC),
    note="compaction tombstone on the changelog",
)
_COMPLAINT = CountedEvent(
    event_id="inbound-mail/1/2", occurred_at=datetime(2026, 3, 1, 21, 47, 30, tzinfo=UTC)
)

SAMPLES: dict[str, Record] = {
    "send_request": SendRequest(
        request_id="req-2026-03-02-0001",
        account_id="acct-42",
        list_id="weekly-news",
        recipient="Zoë.Doe+news@example.com",
        jurisdiction="CA",
        # v1 was commercial; v2 adds `promotional_content`, so its sample is a transactional
        # message with promotional content (the mixed-content case).
        classification="transactional",
        promotional_content=True,
        honor_list_opt_outs=False,
        send_kind="bulk",
        from_address="Example News <news@example.org>",
        subject="Spring sale — 20% off ✉",
        # v3 adds the content facts: Reply-To, other headers, the body, authentication.
        reply_to="Example Help <help@example.org>",
        headers={"Precedence": "bulk", "X-Campaign": "spring-2026"},
        body=MessageBody(
            text="Spring sale: 20% off everything.\nExample News, 1 Main St, Springfield\n"
            "Unsubscribe",
            links=(
                BodyLink(url="https://example.org/sale", text="Shop the sale"),
                BodyLink(url="https://example.org/u/abc", text="Unsubscribe"),
            ),
        ),
        authentication=MailAuthentication(
            dkim_domain="example.org",
            dkim_signed_headers=("from", "subject", "list-unsubscribe", "list-unsubscribe-post"),
            spf_domain="bounce.example.org",
            dmarc_policy="quarantine",
        ),
        requested_at=datetime(2026, 3, 2, 9, 30, 0, 123_000, tzinfo=UTC),
    ),
    "rule_failure": _LIST_FAILURE,
    "suppression_entry": _LIST_ENTRY,
    "suppression_state": SuppressionState(
        entries=(_PLATFORM_ENTRY, _LIST_ENTRY),
        applied_event_ids=("fbl-0007", "click-0001"),
    ),
    # v1 was a denial (its files stay as written); v2 added `return_path`, so its sample is an
    # allowed send that carries one; v3 adds `provider`; v4 the list headers.
    "send_decision": SendDecision(
        request_id="req-2026-03-02-0002",
        account_id="acct-42",
        recipient_key=_KEY,
        verdict="allow",
        failures=(),
        # v5 adds `flags`: failures the policy reports without denying.
        flags=(
            RuleFailure(
                rule="permission-reminder-missing",
                law="Platform policy: a permission reminder on commercial mail",
                explanation="The message body does not remind the recipient why they receive it.",
            ),
        ),
        policy_version="default@2026.11.2+0123456789ab",
        decided_at=datetime(2026, 3, 2, 9, 30, 1, 12_000, tzinfo=UTC),
        request_offset="send-requests/3/1042",
        suppressions_seen=(_LIST_ENTRY,),
        state_offsets={"unsubscribe-clicks": 18},
        return_path="b-abcdefghijklmnopqrstuvwxyz234567abcdefghijklmnopqrstuvwxyz23456@bounces.example.net",
        provider="google",
        headers={
            "List-Unsubscribe": (
                "<https://unsubscribe.example.net/u/AQEAAAAA>, "
                "<mailto:unsubscribe-mail@bounces.example.net?subject=AQEAAAAA>"
            ),
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
            "List-Id": '"weekly-deals" <weekly-deals.acct-42.bounces.example.net>',
        },
        # v6 adds `inputs`: the rest of what the decision was made on, for a replay.
        inputs=default_codec().encode(_DECISION_INPUTS),
    ),
    "unsubscribe_click": UnsubscribeClick(
        click_id="click-0002",
        recipient_key=_KEY,
        scope="platform",
        account_id="acct-42",
        list_id=None,
        method="one_click",
        reason="unsubscribe",
        clicked_at=_CLICKED,
    ),
    "suppression_change": SuppressionChange(
        recipient_key=_KEY,
        entry=_LIST_ENTRY,
        outcome="already_suppressed",
        changed_at=datetime(2026, 3, 1, 18, 4, 6, tzinfo=UTC),
    ),
    "dead_letter": DeadLetter(
        origin_topic="send-requests",
        origin_partition=3,
        origin_offset=1042,
        original_key=_KEY.encode("ascii"),
        original_value=b"\xc3\x01\xde\xad\xbe\xef\x00\x01\x02\x03\xff",
        error_kind="unknown_schema",
        reason="no schema of ours has fingerprint 030201000fefbeadde",
        agent="gate",
        failed_at=datetime(2026, 3, 2, 9, 31, tzinfo=UTC),
    ),
    "inbound_mail": InboundMail(
        intake_id="in-20260302-000017",
        received_at=datetime(2026, 3, 2, 9, 40, 12, 5000, tzinfo=UTC),
        mail_from="",
        rcpt_to=("b-exampletoken@bounces.example.net",),
        raw=b"From: MAILER-DAEMON@mx.example.org\r\nSubject: Undelivered Mail\r\n\r\nGone.\r\n",
        peer="mx.example.org",
    ),
    "esp_webhook": EspWebhook(
        webhook_id="esp-3f1c9a0d2b7e4c58a6f0e1d2c3b4a5968778695a",
        esp="postmark",
        received_at=datetime(2026, 3, 2, 9, 41, 3, 250000, tzinfo=UTC),
        authenticated_by="postmark-basic-auth",
        body=b'{"RecordType":"SpamComplaint","ID":42,"Email":"jane@example.net"}',
    ),
    "delivery_event": DeliveryEvent(
        event_id="inbound-mail/2/17#0",
        recipient_key=_KEY,
        kind="bounced",
        bounce_class="hard",
        reason="mailbox_does_not_exist",
        status="5.1.1",
        diagnostic="550 5.1.1 <address>: Recipient address rejected: User unknown",
        remote_mta="mx.example.org",
        account_id="acme-shoes",
        request_id="req-000117",
        message_id="<20260302094012.17@mail.example.net>",
        occurred_at=datetime(2026, 3, 2, 9, 40, 12, tzinfo=UTC),
        source="inbound-mail/2/17",
        # v2 adds `provider`: here the group of a domain no provider claims
        # (streams.core.providers).
        provider="domain:example.org",
        # v3 adds what an ESP's webhook said: here SES's classification of a 5.1.1, which
        # agrees with ours.
        esp="ses",
        esp_event_id="01000f0000000000-ffffffff-0000-0000-0000-000000000000-000000",
        esp_classification="Permanent/General",
        esp_bounce_class="hard",
    ),
    "feedback_report": FeedbackReport(
        report_id="inbound-mail/0/3",
        recipient_key=_KEY,
        feedback_type="abuse",
        reporter="feedback.example.org",
        account_id="acme-shoes",
        request_id="req-000117",
        list_id="newsletter",
        original_message_id="<20260302094012.17@mail.example.net>",
        arrival_date=datetime(2026, 3, 2, 9, 12, tzinfo=UTC),
        received_at=datetime(2026, 3, 2, 10, 1, 5, tzinfo=UTC),
        source="inbound-mail/0/3",
        provider="google",  # v2 adds `provider`
        # v3 adds what an ESP's webhook said (a SendGrid spam report).
        esp="sendgrid",
        esp_event_id="sendgrid-internal-event-id-0001",
        esp_feedback_type="spamreport",
    ),
    "bounce_state": BounceState(
        consecutive_soft=2,
        total_soft=3,
        soft_since_delivery=(
            datetime(2026, 2, 20, 8, 0, tzinfo=UTC),
            datetime(2026, 2, 27, 8, 0, tzinfo=UTC),
        ),
        recent_outcomes=("soft", "delivered", "soft", "soft"),
        last_delivery=datetime(2026, 2, 13, 8, 0, tzinfo=UTC),
        hard_bounced=False,
        applied_event_ids=("mta-1", "mta-2", "mta-3", "mta-4"),
    ),
    "bounce_change": BounceChange(
        recipient_key=_KEY,
        event_id="mta-4",
        outcome="counted",
        consecutive_soft_before=1,
        consecutive_soft_after=2,
        policy="consecutive(4)",
        source="delivery-events/1/88",
        changed_at=datetime(2026, 2, 27, 8, 0, 1, tzinfo=UTC),
    ),
    "consent_event": ConsentEvent(
        event_id="signup-form-7/2026-03-01/0042",
        recipient_key=_KEY,
        kind="grant",
        account_id="acct-42",
        lists=("weekly-news", "offers"),
        cadence="weekly",
        basis="express",
        requires_confirmation=True,
        jurisdiction="CA",
        source_kind="form",
        source_id="signup-form-7",
        wording_hash="9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
        wording_version="2026-01",
        ip="203.0.113.7",
        user_agent="Mozilla/5.0 (X11; Linux x86_64)",
        occurred_at=datetime(2026, 3, 1, 18, 0, 0, 500_000, tzinfo=UTC),
    ),
    "decision_inputs": _DECISION_INPUTS,
    "sent_mark": _SENT_MARK,
    "send_history": SendHistory(
        sends=(
            _SENT_MARK,
            SentMark(
                account_id="acct-42",
                list_id=None,
                request_id="req-2026-03-02-0002",
                sent_at=datetime(2026, 3, 2, 10, 0, 0, 1_000, tzinfo=UTC),
            ),
        )
    ),
    "erasure_request": ErasureRequest(
        request_id="dpo-2026-0117",
        recipient_key=_KEY,
        requested_by="privacy-desk",
        requested_at=datetime(2026, 3, 2, 9, 15, 0, 125_000, tzinfo=UTC),
    ),
    "erased_place": _ERASED_CONSENTS,
    "erasure_event": ErasureEvent(
        event_id="dpo-2026-0117/completed",
        request_id="dpo-2026-0117",
        recipient_key=_KEY,
        kind="completed",
        places=(
            ErasedPlace(
                place="table suppressions",
                action="kept",
                count=1,
                done_by=datetime(2026, 3, 2, 9, 15, 1, 40_000, tzinfo=UTC),
                note="the platform suppression (reason erasure), by recipient key only",
            ),
            _ERASED_CONSENTS,
            ErasedPlace(
                place="topic send-requests",
                action="expires",
                count=0,
                done_by=datetime(2026, 3, 10, 1, 0, tzinfo=UTC),
            ),
        ),
        at=datetime(2026, 3, 10, 1, 0, 5, tzinfo=UTC),
    ),
    "address_correction": AddressCorrection(
        correction_id="dpo-2026-0121",
        old_recipient_key=_KEY,
        new_recipient_key="0f" * 32,
        requested_by="privacy-desk",
        requested_at=datetime(2026, 3, 3, 14, 5, 0, 250_000, tzinfo=UTC),
    ),
    "sender_domains": SenderDomains(
        account_id="acct-42",
        domains=("example.org", "xn--bcher-kva.example"),
        changed_at=datetime(2026, 3, 1, 12, 0, 0, 250_000, tzinfo=UTC),
        source="domain-verification",
    ),
    "consent_entry": _CONSENT_ENTRY,
    "consent_state": ConsentState(
        entries=(
            _CONSENT_ENTRY,
            ConsentEntry(
                account_id="acct-42",
                lists=("offers",),
                status="transactional_only",
                source_kind="unsubscribe",
                withdrawn_at=_CLICKED,
                withdrawn_reason="unsubscribe",
                last_event_id="click-0001",
            ),
        ),
        applied_event_ids=("order-981", "click-0001"),
    ),
    "consent_notice": ConsentNotice(
        notice_id="consent-expiring:0123456789abcdef0123456789abcdef",
        recipient_key=_KEY,
        kind="expiring",
        account_id="acct-42",
        lists=(),
        basis="implied_purchase",
        jurisdiction="CA",
        granted_at=datetime(2024, 4, 2, 12, 0, tzinfo=UTC),
        expires_at=datetime(2026, 4, 2, 12, 0, tzinfo=UTC),
        emitted_at=datetime(2026, 3, 3, 12, 0, 5, tzinfo=UTC),
    ),
    "consent_deadline": ConsentDeadline(
        recipient_key=_KEY,
        due_at=datetime(2026, 3, 3, 12, 0, tzinfo=UTC),
        requested_at=datetime(2026, 3, 3, 12, 0, 5, tzinfo=UTC),
    ),
    "rate_window": _WEEK,
    "rate_bucket": RateBucket(
        start=datetime(2026, 3, 1, tzinfo=UTC), delivered=383, hard_bounced=1, complained=2
    ),
    # (acme-shoes, google) as judged on 03-04: the week's 1,200 delivered and 3 complaints, and
    # the day after it.
    "rate_state": RateState(
        buckets=(
            RateBucket(start=datetime(2026, 2, 27, tzinfo=UTC), delivered=405, complained=1),
            RateBucket(start=datetime(2026, 2, 28, tzinfo=UTC), delivered=412),
            RateBucket(
                start=datetime(2026, 3, 1, tzinfo=UTC), delivered=383, hard_bounced=1, complained=2
            ),
            RateBucket(start=datetime(2026, 3, 2, tzinfo=UTC), delivered=57),
        ),
        horizon=datetime(2026, 2, 24, tzinfo=UTC),
        last_offset=5817,
        last_evaluated_end=datetime(2026, 3, 2, tzinfo=UTC),
    ),
    "rate_breach": _GOOGLE_BREACH,
    "strike": _STRIKE,
    "pause": _PAUSE,
    "review": _REVIEW,
    "reinstatement": _REINSTATEMENT,
    "account_standing": AccountStanding(
        account_id="acme-shoes",
        strikes=(_STRIKE,),
        broadcasts_disabled=False,  # given back by the reinstatement; the strike stays
        warned=False,
        terminated=False,
        pauses=(_PAUSE,),
        reviews=(_REVIEW,),
        reinstatements=(_REINSTATEMENT,),
        # v2 adds the misuse count and the suspension: the sample is from 03-12, after the third
        # misuse report suspended the account's transactional sending.
        misuse=_MISUSE,
        transactional_suspended=True,
    ),
    "counted_misuse": _MISUSE[0],
    "misuse_report": MisuseReport(
        report_id=_MISUSE[2].report_id,
        account_id="acme-shoes",
        request_id=_MISUSE_REQUESTS[2],
        recipient_key=_KEY,
        score=0.91,
        signals=("discount_code", "promotional_link"),
        policy_version=_POLICY_VERSION,
        detected_at=_MISUSE_AT[2],
    ),
    "rate_event": RateEvent(
        event_id=_COMPLAINT.event_id,
        account_id="acme-shoes",
        provider="google",
        kind="complaint",
        occurred_at=_COMPLAINT.occurred_at,
    ),
    "rate_tick": RateTick(
        account_id="acme-shoes",
        provider="google",
        at=datetime(2026, 3, 4, 0, 5, tzinfo=UTC),
    ),
    "counted_event": _COMPLAINT,
    "recipient_rates": RecipientRates(
        provider="google",
        counted=(
            CountedEvent(
                event_id="delivery-events/1/90",
                occurred_at=datetime(2026, 3, 1, 8, 0, 2, 310_000, tzinfo=UTC),
            ),
            _COMPLAINT,
        ),
        horizon=datetime(2026, 2, 24, tzinfo=UTC),
    ),
    "breach_report": BreachReport(
        account_id="acme-shoes",
        breach=_GOOGLE_BREACH,
        policy_version=_POLICY_VERSION,
        detected_at=datetime(2026, 3, 4, 0, 0, 3, 250_000, tzinfo=UTC),
    ),
    "reinstatement_request": ReinstatementRequest(
        reinstatement_id=_REINSTATEMENT.reinstatement_id,
        account_id="acme-shoes",
        by=_REINSTATEMENT.by,
        reason=_REINSTATEMENT.reason,
        requested_at=datetime(2026, 3, 9, 15, 29, 41, 500_000, tzinfo=UTC),
    ),
    # v1 was the snapshot after the microsoft pause (before the reinstatement); v2 adds
    # `transactional_suspended`, so its sample is the snapshot after the suspension on 03-12.
    "account_snapshot": AccountSnapshot(
        account_id="acme-shoes",
        status="active",
        broadcasts_denied=False,
        commercial_denied=False,
        paused_providers=(),
        all_providers_paused=False,
        transactional_suspended=True,
        strikes=1,
        as_of=_SUSPENDED,
    ),
    # v1 was strike 1 (its files stay as written); v2 adds the misuse kinds, so its sample is the
    # suspension on 03-12.
    "enforcement_event": EnforcementEvent(
        event_id="400985d4f192c8715cef651ed91e9291",
        account_id="acme-shoes",
        action="transactional_suspended",
        at=_SUSPENDED,
        policy_version=_POLICY_VERSION,
        explanation=(
            "Transactional sending is suspended: 3 messages sent as transactional carried "
            "marketing in the last 30 days (the limit is 3). Until the account is reinstated no "
            "message goes out as transactional; commercial mail still goes under the usual "
            "consent and unsubscribe rules."
        ),
        report_id=_MISUSE[2].report_id,
        window_start=datetime(2026, 2, 10, 9, 41, 17, 250_000, tzinfo=UTC),
        window_end=_MISUSE_AT[2],
        count=3,
        status_after=AccountSnapshot(
            account_id="acme-shoes",
            status="active",
            transactional_suspended=True,
            strikes=1,
            as_of=_SUSPENDED,
        ),
    ),
}


def _to_json(value: Any) -> Any:
    if isinstance(value, bytes):
        return {"$bytes_hex": value.hex()}
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, dict):
        return {key: _to_json(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_to_json(item) for item in value]
    return value


def current_version(name: str) -> int:
    """One more than the highest `schemas/history/<name>.v<N>.avsc` (1 without any)."""
    pattern = re.compile(rf"^{re.escape(name)}\.v(?P<version>[1-9][0-9]*)\.avsc$")
    older = [
        int(match["version"])
        for path in (SCHEMA_DIR / "history").glob(f"{name}.v*.avsc")
        if (match := pattern.match(path.name))
    ]
    return max(older, default=0) + 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--version", type=int, help="schema version number N (vN); must be the current one"
    )
    parser.add_argument("--only", nargs="+", metavar="NAME", help="schema names, e.g. send_request")
    parser.add_argument("--force", action="store_true", help="overwrite existing files")
    args = parser.parse_args(argv)

    codec = default_codec()
    current = sorted(path.stem for path in SCHEMA_DIR.glob("*.avsc"))
    missing = sorted(set(current) - set(SAMPLES))
    if missing:
        print(f"no sample for schema(s) {missing}: add one to SAMPLES", file=sys.stderr)
        return 2
    names = args.only or current
    unknown = sorted(set(names) - set(current))
    if unknown:
        print(f"no current schema named {unknown}", file=sys.stderr)
        return 2

    versions = {name: current_version(name) for name in names}
    if args.version is not None:
        wrong = sorted(f"{name} (v{n})" for name, n in versions.items() if n != args.version)
        if wrong:
            print(
                f"--version {args.version} is not the current version of {wrong}: its history "
                "copies in schemas/history/ say so (leave out --version to use it)",
                file=sys.stderr,
            )
            return 2
    targets = {
        name: (GOLDEN_DIR / f"{name}.v{n}.bin", GOLDEN_DIR / f"{name}.v{n}.json")
        for name, n in versions.items()
    }
    existing = [str(path) for paths in targets.values() for path in paths if path.exists()]
    if existing and not args.force:
        print(
            "refusing to overwrite golden files (a new schema version adds vN+1 files):\n  "
            + "\n  ".join(existing),
            file=sys.stderr,
        )
        return 1

    for name, (bin_path, json_path) in targets.items():
        sample = SAMPLES[name]
        schema_name = json.loads((SCHEMA_DIR / f"{name}.avsc").read_text(encoding="utf-8"))["name"]
        if not sample.AVRO_NAME.endswith(f".{schema_name}"):
            print(f"sample for {name} is a {sample.AVRO_NAME}", file=sys.stderr)
            return 2
        document = {"record": sample.AVRO_NAME, "value": _to_json(sample.model_dump())}
        bin_path.write_bytes(codec.encode(sample))
        json_path.write_text(
            json.dumps(document, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
        )
        print(f"wrote {bin_path.name} and {json_path.name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
