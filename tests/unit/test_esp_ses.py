"""Amazon SES notifications and published events as delivery events and feedback reports.

Each expectation is read off AWS's documentation of the sample (tests/data/esp/SOURCES.md): the
field it comes from, and what SES says the value means."""

from __future__ import annotations

import copy
import hashlib
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from streams.core.bounce_reasons import BounceReason
from streams.esp.model import EspContext, EspOutcome
from streams.esp.ses import read_ses

DATA = Path(__file__).resolve().parents[1] / "data" / "esp" / "ses"
RECEIVED = datetime(2026, 12, 8, 9, 30, tzinfo=UTC)


def key_of(address: str) -> str:
    return hashlib.sha256(address.strip().lower().encode()).hexdigest()


def provider_of(address: str) -> str:
    return "provider-of-" + address.rsplit("@", 1)[1]


CONTEXT = EspContext(recipient_key=key_of, provider_of=provider_of, received_at=RECEIVED)


def sample(name: str) -> dict[str, Any]:
    return json.loads((DATA / f"{name}.json").read_text())


def read(notification: dict[str, Any], sns_message_id: str | None = "sns-1") -> EspOutcome:
    return read_ses(notification, CONTEXT, sns_message_id=sns_message_id)


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)


# --- bounces -------------------------------------------------------------------------------


def test_documented_bounce_event_is_a_hard_user_unknown() -> None:
    """The Bounce record of the event-publishing examples: bounceType Permanent/General, status
    5.1.1, "smtp; 550 5.1.1 user unknown", Reporting-MTA "dsn; mta.example.com"."""
    outcome = read(sample("event-bounce"))
    assert outcome.rejections == () and outcome.ignored == ()
    (event,) = outcome.delivery_events
    assert event.kind == "bounced"
    assert event.recipient_key == key_of("recipient@example.com")
    assert event.provider == "provider-of-example.com"
    assert (event.bounce_class, event.reason) == ("hard", BounceReason.USER_UNKNOWN.value)
    assert event.status == "5.1.1"
    assert event.diagnostic == "550 5.1.1 user unknown"
    assert event.remote_mta == "mta.example.com"
    assert event.esp == "ses"
    assert event.esp_classification == "Permanent/General"
    assert event.esp_bounce_class == "hard"
    feedback_id = "01000157c44f053b-61b59c11-9236-11e6-8f96-7be8aexample-000000"
    assert event.esp_event_id == feedback_id
    assert event.event_id == f"ses:bounce:{feedback_id}:0"
    assert event.occurred_at == at("2017-08-05T00:41:02.669Z")
    # commonHeaders.messageId: the original's Message-ID header.
    assert event.message_id == "EXAMPLE7c191be45-e9aedb9a-02f9-4d12-a87d-dd0099a07f8a-000000"
    assert event.source == "ses/sns:sns-1"


def test_documented_bounce_notification_with_a_dsn_keeps_no_address() -> None:
    """ "Bounce notification with a DSN": the diagnostic quotes the recipient's address, which
    the record must not keep; the Message-ID header is "custom-message-ID"."""
    (event,) = read(sample("notification-bounce-with-dsn")).delivery_events
    assert (event.bounce_class, event.reason, event.status) == ("hard", "userunknown", "5.1.1")
    assert event.recipient_key == key_of("jane@example.com")
    assert event.diagnostic == "550 5.1.1 <address>... User"
    assert event.remote_mta == "email.example.com"
    assert event.message_id == "custom-message-ID"
    assert event.occurred_at == at("2016-01-27T14:59:38.237Z")
    dumped = event.model_dump_json()
    assert "jane@" not in dumped and "127.0.2.0" not in dumped  # remoteMtaIp stays out


def test_documented_bounce_without_a_dsn_disagrees_with_ses() -> None:
    """ "Bounce notification without a DSN": SES says Permanent/General, "didn't specify the
    reason". One unexplained report is no proof of a dead address: ours is soft/undefined, the
    soft-bounce policy decides; SES's hard is kept beside it."""
    events = read(sample("notification-bounce-without-dsn")).delivery_events
    assert [e.recipient_key for e in events] == [
        key_of("jane@example.com"),
        key_of("richard@example.com"),
    ]
    assert len({e.event_id for e in events}) == 2
    for event in events:
        assert (event.bounce_class, event.reason, event.status) == ("soft", "undefined", None)
        assert (event.esp_bounce_class, event.esp_classification) == ("hard", "Permanent/General")


def test_a_blocklisting_reported_as_permanent_is_soft_for_us() -> None:
    """The disagreement that matters: SES files a receiver's refusal of the sending IP under
    Permanent/General; the address is fine, so ours is a soft `blocked`, never a suppression."""
    notification = sample("event-bounce")
    notification["bounce"]["bouncedRecipients"][0].update(
        status="5.7.1",
        diagnosticCode="smtp; 554 5.7.1 Service unavailable; Client host blocked using "
        "zen.spamhaus.org",
    )
    (event,) = read(notification).delivery_events
    assert (event.bounce_class, event.reason) == ("soft", BounceReason.BLOCKED.value)
    assert (event.esp_bounce_class, event.esp_classification) == ("hard", "Permanent/General")


@pytest.mark.parametrize(
    ("bounce_type", "sub_type", "status", "diagnostic", "ours", "theirs"),
    [
        # SES: Transient/MailboxFull, "the recipient's inbox was full".
        ("Transient", "MailboxFull", "5.2.2", "smtp; 552 5.2.2 Mailbox full", "soft", "soft"),
        # Transient without a code: SES gave up on a temporary failure; soft either way.
        ("Transient", "General", None, None, "soft", "soft"),
        # SES: Undetermined, "didn't contain enough information".
        ("Undetermined", "Undetermined", None, None, "undetermined", "undetermined"),
        # SES: Permanent/NoEmail, "the email address doesn't exist".
        ("Permanent", "NoEmail", "5.1.1", "smtp; 550 5.1.1 no such user", "hard", "hard"),
        # SES: Permanent/Suppressed, on SES's list for "a recent history of ... hard bounces".
        ("Permanent", "Suppressed", "5.1.1", "Amazon SES has suppressed sending", "hard", "hard"),
    ],
)
def test_bounce_types(
    bounce_type: str,
    sub_type: str,
    status: str | None,
    diagnostic: str | None,
    ours: str,
    theirs: str,
) -> None:
    notification = sample("event-bounce")
    notification["bounce"].update(bounceType=bounce_type, bounceSubType=sub_type)
    recipient = {"emailAddress": "recipient@example.com"}
    if status:
        recipient.update(status=status, diagnosticCode=diagnostic or "")
    notification["bounce"]["bouncedRecipients"] = [recipient]
    (event,) = read(notification).delivery_events
    assert event.kind == "bounced"  # SES reports a Transient bounce once it stopped retrying
    assert (event.bounce_class, event.esp_bounce_class) == (ours, theirs)
    assert event.esp_classification == f"{bounce_type}/{sub_type}"


def test_a_send_ses_never_attempted_is_ignored() -> None:
    """Permanent/OnAccountSuppressionList: SES "has suppressed sending to this address because
    it is on the account-level suppression list" and does not count it: no receiver spoke."""
    notification = sample("event-bounce")
    notification["bounce"]["bounceSubType"] = "OnAccountSuppressionList"
    outcome = read(notification)
    assert outcome.records == ()
    assert outcome.ignored == ("bounce-on-account-suppression-list",)


# --- complaints ----------------------------------------------------------------------------


def test_documented_complaint_with_a_feedback_report() -> None:
    """ "Complaint notification with a feedback report": Feedback-Type abuse from "AnyCompany
    Feedback Loop (V0.01)", about richard@example.com."""
    outcome = read(sample("notification-complaint-with-feedback"))
    (report,) = outcome.feedback_reports
    assert outcome.delivery_events == () and outcome.rejections == ()
    feedback_id = "000001378603177f-18c07c78-fa81-4a58-9dd1-fedc3cb8f49a-000000"
    assert report.report_id == f"ses:complaint:{feedback_id}:0"
    assert report.recipient_key == key_of("richard@example.com")
    assert report.provider == "provider-of-example.com"
    assert report.feedback_type == "abuse"
    assert report.esp_feedback_type == "abuse"
    assert report.reporter == "AnyCompany Feedback Loop (V0.01)"
    assert report.arrival_date == at("2016-01-27T14:59:38.237Z")
    assert report.received_at == at("2016-01-27T14:59:38.237Z")
    assert report.original_message_id == "custom-message-ID"
    assert (report.esp, report.esp_event_id) == ("ses", feedback_id)


def test_documented_complaint_without_a_feedback_report_is_abuse() -> None:
    """ "Complaint notification without a feedback report": no complaintFeedbackType; a
    complaint through a feedback loop is a spam report."""
    (report,) = read(sample("notification-complaint-without-feedback")).feedback_reports
    assert report.feedback_type == "abuse"
    assert report.esp_feedback_type == "complaint"
    assert report.reporter is None and report.arrival_date is None
    assert report.received_at == at("2016-01-27T14:59:38.237Z")


def test_documented_complaint_event() -> None:
    (report,) = read(sample("event-complaint")).feedback_reports
    assert report.recipient_key == key_of("recipient@example.com")
    assert report.feedback_type == "abuse"
    assert report.arrival_date == at("2017-08-05T00:41:02.669Z")


@pytest.mark.parametrize(
    ("word", "ours"),
    [
        ("abuse", "abuse"),
        ("auth-failure", "auth_failure"),
        ("fraud", "fraud"),
        ("not-spam", "not_spam"),
        ("other", "other"),
        ("virus", "virus"),
        ("something-new", "other"),
    ],
)
def test_complaint_feedback_types(word: str, ours: str) -> None:
    """The ARF Feedback-Type values the SES page lists (from IANA's registry)."""
    notification = sample("event-complaint")
    notification["complaint"]["complaintFeedbackType"] = word
    (report,) = read(notification).feedback_reports
    assert (report.feedback_type, report.esp_feedback_type) == (ours, word)


def test_a_complaint_about_mail_ses_never_sent_is_ignored() -> None:
    """complaintSubType OnAccountSuppressionList: "Amazon SES accepted the message, but didn't
    attempt to send it"."""
    notification = sample("event-complaint")
    notification["complaint"]["complaintSubType"] = "OnAccountSuppressionList"
    outcome = read(notification)
    assert outcome.records == ()
    assert outcome.ignored == ("complaint-on-account-suppression-list",)


def test_a_complaint_without_a_timestamp_takes_the_request_time() -> None:
    notification = sample("notification-complaint-without-feedback")
    del notification["complaint"]["timestamp"]
    (report,) = read(notification).feedback_reports
    assert report.received_at == RECEIVED


# --- deliveries and delays -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "address", "when", "response"),
    [
        (
            "notification-delivery",
            "jane@example.com",
            "2016-01-27T14:59:38.237Z",
            "250 ok:  Message 64111812 accepted",
        ),
        (
            "event-delivery",
            "recipient@example.com",
            "2016-10-19T23:21:04.133Z",
            "250 2.6.0 Message received",
        ),
    ],
)
def test_documented_deliveries(name: str, address: str, when: str, response: str) -> None:
    """delivery.recipients, delivery.timestamp and smtpResponse; the delivery's reportingMTA is
    SES's own host ("the Amazon SES mail server that sent the mail"), so no remote MTA."""
    (event,) = read(sample(name)).delivery_events
    document = sample(name)
    assert event.kind == "delivered"
    assert event.recipient_key == key_of(address)
    assert event.occurred_at == at(when)
    assert event.diagnostic == response
    assert event.remote_mta is None
    assert (event.bounce_class, event.reason, event.status) == (None, None, None)
    assert event.esp_event_id == document["mail"]["messageId"]
    assert "@" not in event.event_id


def test_deliveries_of_one_message_to_two_domains_get_two_ids() -> None:
    """SES sends a delivery notification per receiving server, each listing its recipients from
    the start: the place in the list cannot tell them apart, the address does."""
    first = sample("notification-delivery")
    second = copy.deepcopy(first)
    second["delivery"]["recipients"] = ["mary@example.net"]
    (one,) = read(first).delivery_events
    (other,) = read(second).delivery_events
    assert one.event_id != other.event_id


def test_documented_delivery_delay_is_a_deferral() -> None:
    """The DeliveryDelay record: TransientCommunicationFailure, 4.4.1 "Unable to connect to
    remote host"."""
    (event,) = read(sample("event-delivery-delay")).delivery_events
    assert event.kind == "deferred"
    assert event.recipient_key == key_of("recipient@example.com")
    assert event.status == "4.4.1"
    assert event.bounce_class == "soft"
    assert event.reason == BounceReason.NETWORK_ERROR.value
    assert event.esp_classification == "DeliveryDelay/TransientCommunicationFailure"
    assert event.esp_bounce_class is None
    assert event.occurred_at == at("2020-06-16T00:25:40.095Z")


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("event-send", "send"),
        ("event-reject", "reject"),
        ("event-open", "open"),
        ("event-click", "click"),
        ("event-rendering-failure", "rendering-failure"),
        ("event-subscription", "subscription"),
    ],
)
def test_other_documented_events_are_ignored_by_kind(name: str, kind: str) -> None:
    outcome = read(sample(name))
    assert outcome.records == () and outcome.rejections == ()
    assert outcome.ignored == (kind,)


# --- ids and identity ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    ["event-bounce", "notification-bounce-without-dsn", "event-complaint", "event-delivery"],
)
def test_ids_survive_sns_retries_and_second_topics(name: str) -> None:
    """The SNS MessageId differs between two topics; the records' ids must not."""
    first = read(sample(name), sns_message_id="topic-a-message")
    second = read(sample(name), sns_message_id="topic-b-message")
    ids = [getattr(r, "event_id", None) or getattr(r, "report_id", None) for r in first.records]
    again = [getattr(r, "event_id", None) or getattr(r, "report_id", None) for r in second.records]
    assert ids == again and len(ids) == len(set(ids)) > 0
    assert all("@" not in record_id for record_id in ids)


def test_identity_from_message_tags() -> None:
    """SES message tags hold lists (the samples' `tags`); the platform's tags name the send."""
    notification = sample("event-bounce")
    notification["mail"]["tags"].update(
        sendgate_account=["acme"], sendgate_request_id=["req-42"], sendgate_list_id=["news"]
    )
    (event,) = read(notification).delivery_events
    assert (event.account_id, event.request_id) == ("acme", "req-42")
    notification["eventType"] = "Complaint"
    notification["complaint"] = sample("event-complaint")["complaint"]
    (report,) = read(notification).feedback_reports
    assert (report.account_id, report.request_id, report.list_id) == ("acme", "req-42", "news")


def test_identity_from_the_gates_headers() -> None:
    """Without tags, the X-Sendgate-* headers SES echoes when configured to include them."""
    notification = sample("notification-bounce-with-dsn")
    notification["mail"]["headers"] += [
        {"name": "X-Sendgate-Account", "value": "acme"},
        {"name": "X-Sendgate-Request-Id", "value": "req-7"},
    ]
    (event,) = read(notification).delivery_events
    assert (event.account_id, event.request_id) == ("acme", "req-7")


# --- what cannot be read -------------------------------------------------------------------


def test_a_recipient_without_an_address_is_rejected_alone() -> None:
    """The other recipient of the same bounce is still read."""
    notification = sample("notification-bounce-without-dsn")
    del notification["bounce"]["bouncedRecipients"][0]["emailAddress"]
    outcome = read(notification)
    (event,) = outcome.delivery_events
    assert event.recipient_key == key_of("richard@example.com")
    (rejection,) = outcome.rejections
    assert rejection.index == 0
    assert "emailAddress" in rejection.reason
    assert json.loads(rejection.raw) == {}


def test_a_bad_timestamp_rejects_the_event_without_naming_anyone() -> None:
    notification = sample("event-bounce")
    notification["bounce"]["timestamp"] = "recipient@example.com"
    outcome = read(notification)
    assert outcome.delivery_events == ()
    (rejection,) = outcome.rejections
    assert "timestamp" in rejection.reason and "@" not in rejection.reason
    assert json.loads(rejection.raw) == notification


@pytest.mark.parametrize(
    ("change", "says"),
    [
        (lambda n: n["bounce"].pop("feedbackId"), "feedbackId"),
        (lambda n: n["bounce"].pop("bouncedRecipients"), "bouncedRecipients"),
        (lambda n: n["bounce"].update(bouncedRecipients=[]), "bouncedRecipients"),
        (lambda n: n.pop("eventType"), "eventType"),
        (
            lambda n: n["bounce"]["bouncedRecipients"][0].update(emailAddress="not-an-address"),
            "emailAddress",
        ),
        (lambda n: n["bounce"]["bouncedRecipients"].__setitem__(0, "x"), "emailAddress"),
    ],
)
def test_unreadable_events_become_rejections(change: Any, says: str) -> None:
    notification = sample("event-bounce")
    change(notification)
    outcome = read(notification)
    assert outcome.records == ()
    (rejection,) = outcome.rejections
    assert says in rejection.reason
    assert "@" not in rejection.reason
