"""Mailgun's webhooks: their signature, replayed tokens, and the published samples as records.

Expectations come from Mailgun's documentation (User Manual "Webhooks" and "Tracking Failures",
"Events") and from `docs/bounce-reasons.md`; the samples and their sources are in
`tests/data/esp/SOURCES-sendgrid-mailgun.md`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streams.esp.mailgun import (
    SeenTokens,
    mailgun_unsubscribe,
    read_mailgun,
    verify_mailgun_signature,
)
from streams.esp.model import EspContext, NotAuthentic
from streams.esp.reading import DEFAULT_TOLERANCE_S

DATA = Path(__file__).resolve().parent.parent / "data" / "esp" / "mailgun"
KEY = "key-0123456789abcdef0123456789abcdef"
"""A webhook signing key of our own (Mailgun does not publish the one behind its sample)."""
NOW = datetime(2026, 12, 8, 12, 0, tzinfo=UTC)


def key_of(address: str) -> str:
    return hashlib.sha256(address.lower().encode()).hexdigest()


CONTEXT = EspContext(
    recipient_key=key_of,
    provider_of=lambda address: address.rpartition("@")[2],
    received_at=NOW,
)


def sample(name: str) -> Any:
    return json.loads((DATA / name).read_text())


def webhook(event_data: Any) -> dict[str, Any]:
    """The body Mailgun posts: the User Manual's signature object beside the event data."""
    return {"signature": sample("webhook-signature.json"), "event-data": event_data}


def signed(timestamp: str | int, token: str, key: str = KEY) -> dict[str, Any]:
    digest = hmac.new(key.encode(), f"{timestamp}{token}".encode(), hashlib.sha256).hexdigest()
    return {"timestamp": timestamp, "token": token, "signature": digest}


TOKEN = "a8ce0edb2dd8301dee6c2405235584e45aa91d1e9f979f3de0"
STAMP = str(int(NOW.timestamp()) - 30)


def refusal(signature: Any, *, key: str = KEY, now: datetime = NOW) -> NotAuthentic:
    with pytest.raises(NotAuthentic) as caught:
        verify_mailgun_signature(key, signature, now=now, tolerance_s=DEFAULT_TOLERANCE_S)
    return caught.value


# -- the signature ---------------------------------------------------------------------------


def test_a_signature_made_with_the_key_returns_the_token() -> None:
    """HMAC-SHA-256 of timestamp + token under the signing key, hex: Mailgun's; its token comes
    back for the replay check."""
    token = verify_mailgun_signature(
        KEY, signed(STAMP, TOKEN), now=NOW, tolerance_s=DEFAULT_TOLERANCE_S
    )
    assert token == TOKEN


def test_a_numeric_timestamp_is_signed_as_its_digits() -> None:
    """The User Manual types the timestamp as int; its sample posts a string; both verify."""
    assert (
        verify_mailgun_signature(
            KEY, signed(int(STAMP), TOKEN), now=NOW, tolerance_s=DEFAULT_TOLERANCE_S
        )
        == TOKEN
    )


def test_another_key_is_refused() -> None:
    """A signature made with any other key is a bad signature (403)."""
    error = refusal(signed(STAMP, TOKEN, key="key-not-ours"))
    assert (error.reason, error.status) == ("bad-signature", 403)


def test_the_published_signature_is_refused_by_our_key() -> None:
    """The User Manual's sample was signed with a key that is not ours."""
    assert refusal(sample("webhook-signature.json")).reason == "bad-signature"


@pytest.mark.parametrize(
    "change",
    [
        {"token": TOKEN[:-1] + "1"},  # a tampered token
        {"timestamp": str(int(STAMP) + 1)},  # a refreshed timestamp
        {"signature": "0" * 64},
        {"signature": "not hex at all, nor ascii: é"},
    ],
)
def test_a_tampered_signature_object_is_refused(change) -> None:
    """The HMAC covers the timestamp and the token; change either and it no longer holds."""
    error = refusal({**signed(STAMP, TOKEN), **change})
    assert (error.reason, error.status) == ("bad-signature", 403)


@pytest.mark.parametrize("seconds", [DEFAULT_TOLERANCE_S + 1, -(DEFAULT_TOLERANCE_S + 1)])
def test_a_genuine_signature_outside_the_window_is_stale(seconds) -> None:
    """Signed with our key, but too far from now: refused as stale, before any token memory."""
    stamp = str(int(NOW.timestamp() - seconds))
    error = refusal(signed(stamp, TOKEN))
    assert (error.reason, error.status) == ("stale", 403)


@pytest.mark.parametrize(
    "signature",
    [
        None,
        {},
        "a string",
        {"timestamp": STAMP, "token": TOKEN},
        {"timestamp": STAMP, "signature": "ab"},
        {"token": TOKEN, "signature": "ab"},
        {"timestamp": True, "token": TOKEN, "signature": "ab"},
    ],
)
def test_a_missing_signature_is_refused_as_unauthenticated(signature) -> None:
    """No signature object, or one lacking a part: 401."""
    error = refusal(signature)
    assert (error.reason, error.status) == ("missing-signature", 401)


def test_an_empty_signing_key_is_a_configuration_error() -> None:
    """An empty key would make every signature checkable by anyone."""
    with pytest.raises(ValueError):
        verify_mailgun_signature("", signed(STAMP, TOKEN), now=NOW, tolerance_s=300)


@settings(max_examples=50, deadline=None)
@given(
    token=st.text(alphabet="0123456789abcdef", min_size=1, max_size=64),
    age=st.integers(min_value=-300, max_value=300),
    position=st.integers(min_value=0, max_value=63),
)
def test_signatures_hold_for_any_token_and_break_at_any_changed_digit(token, age, position) -> None:
    """Round trip inside the window; one changed hex digit is always refused."""
    stamp = str(int(NOW.timestamp()) - age)
    signature = signed(stamp, token)
    assert verify_mailgun_signature(KEY, signature, now=NOW, tolerance_s=300) == token
    digits = signature["signature"]
    changed = "0" if digits[position] != "0" else "1"
    broken = {**signature, "signature": digits[:position] + changed + digits[position + 1 :]}
    assert refusal(broken).reason == "bad-signature"


# -- replayed tokens -------------------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> datetime:
        return self.now


def test_a_token_seen_before_is_a_replay() -> None:
    """The second request with a token is refused; another token is not."""
    seen = SeenTokens(300, clock=Clock())
    assert seen.reserve(TOKEN) is True
    seen.confirm(TOKEN)
    assert seen.reserve(TOKEN) is False
    assert seen.reserve("another") is True
    assert TOKEN in seen


def test_a_released_token_can_be_retried() -> None:
    """A request that failed to publish gives its token back, so its retry is no replay."""
    seen = SeenTokens(300, clock=Clock())
    assert seen.reserve(TOKEN)
    assert not seen.reserve(TOKEN)  # a concurrent copy while the first is in flight
    seen.release(TOKEN)
    assert seen.reserve(TOKEN)


def test_a_confirmed_token_is_not_released() -> None:
    """Once the records are out, the token stays taken."""
    seen = SeenTokens(300, clock=Clock())
    seen.reserve(TOKEN)
    seen.confirm(TOKEN)
    seen.release(TOKEN)
    assert not seen.reserve(TOKEN)


def test_tokens_expire_after_twice_the_window() -> None:
    """A timestamp may be a window ahead and stays good a window after itself: after that the
    signature check refuses it as stale, so the token need not be kept."""
    clock = Clock()
    seen = SeenTokens(300, clock=clock)
    seen.reserve(TOKEN)
    seen.confirm(TOKEN)
    clock.now = NOW + timedelta(seconds=599)
    assert not seen.reserve(TOKEN, clock.now)
    clock.now = NOW + timedelta(seconds=600)
    assert TOKEN not in seen
    assert seen.reserve(TOKEN, clock.now)


def test_expired_tokens_are_forgotten() -> None:
    """Memory holds only tokens that could still be replayed."""
    clock = Clock()
    seen = SeenTokens(300, clock=clock)
    for number in range(10):
        seen.reserve(f"token-{number}")
    clock.now += timedelta(seconds=601)
    seen.reserve("fresh")
    assert len(seen) == 1


def test_the_memory_is_bounded_and_forgets_the_oldest_first() -> None:
    """Over the bound the oldest token goes; new requests are never refused for room."""
    seen = SeenTokens(300, max_tokens=3, clock=Clock())
    for token in ("a", "b", "c", "d"):
        assert seen.reserve(token)
    assert len(seen) == 3
    assert "a" not in seen and "d" in seen


def test_the_memory_wants_a_positive_window_and_bound() -> None:
    with pytest.raises(ValueError):
        SeenTokens(0)
    with pytest.raises(ValueError):
        SeenTokens(300, max_tokens=0)


# -- the events ------------------------------------------------------------------------------


def test_the_published_delayed_bounce_is_an_unknown_user_and_hard_for_both() -> None:
    """Enhanced code 5.1.1 is userunknown, a dead address: hard; Mailgun's permanent failure is a
    hard bounce in its own words."""
    outcome = read_mailgun(webhook(sample("failed-permanent-delayed-bounce.json")), CONTEXT)
    (bounce,) = outcome.delivery_events
    assert (bounce.kind, bounce.reason, bounce.bounce_class, bounce.status) == (
        "bounced",
        "userunknown",
        "hard",
        "5.1.1",
    )
    assert (bounce.esp, bounce.esp_classification, bounce.esp_bounce_class) == (
        "mailgun",
        "permanent/generic",
        "hard",
    )
    assert bounce.esp_event_id == "ZDMqRgjLTDi6rQcy7K60aA"
    assert bounce.event_id == "mailgun:ZDMqRgjLTDi6rQcy7K60aA:2022-10-19"
    assert bounce.occurred_at == datetime(2022, 10, 19, 21, 15, 38, 404000, tzinfo=UTC)
    assert bounce.recipient_key == key_of("christest123@test.com")
    assert bounce.message_id == "<20221019211537.93011d31ea99c5a8@test.com>"
    assert bounce.diagnostic is not None and "does not exist" in bounce.diagnostic
    assert bounce.source == "webhook:mailgun"


def test_the_published_temporary_failure_is_a_soft_deferral_blaming_the_sender() -> None:
    """4.7.652 is Microsoft's own number (outside the registry, so the words decide): "exceeded
    the maximum number of connections" is toomanyconn, soft since temporary."""
    (deferral,) = read_mailgun(webhook(sample("failed-temporary.json")), CONTEXT).delivery_events
    assert (deferral.kind, deferral.reason, deferral.bounce_class, deferral.status) == (
        "deferred",
        "toomanyconn",
        "soft",
        "4.7.652",
    )
    assert (deferral.esp_classification, deferral.esp_bounce_class) == (
        "temporary/generic",
        "soft",
    )
    assert deferral.remote_mta == "hotmail-com.olc.protection.outlook.com"


def test_the_published_failure_without_mail_host_is_soft() -> None:
    """A temporary "No MX" (Mailgun's own code 498, no enhanced code): hostunknown, soft."""
    (failure,) = sample("events-failure-response.json")["items"]
    (deferral,) = read_mailgun(webhook(failure), CONTEXT).delivery_events
    assert (deferral.kind, deferral.reason, deferral.bounce_class, deferral.status) == (
        "deferred",
        "hostunknown",
        "soft",
        None,
    )


def test_a_send_mailgun_declined_for_its_suppression_list_is_counted_not_recorded() -> None:
    """suppress-bounce: "Not delivering to previously bounced address"; nobody was asked."""
    outcome = read_mailgun(webhook(sample("failed-permanent-suppress-bounce.json")), CONTEXT)
    assert outcome.records == () and outcome.rejections == ()
    assert outcome.ignored == ("failed/suppress-bounce",)


@pytest.mark.parametrize("reason", ["suppress-complaint", "suppress-unsubscribe"])
def test_every_suppression_reason_is_counted_by_kind(reason) -> None:
    declined = {**sample("failed-permanent-suppress-bounce.json"), "reason": reason}
    assert read_mailgun(webhook(declined), CONTEXT).ignored == (f"failed/{reason}",)


def failure(severity: str, reason: str, enhanced: str, message: str, code: int = 550) -> dict:
    """A failure of our own in the shape of Mailgun's samples, about an example.com address."""
    return {
        "event": "failed",
        "id": "b3VyLW93bi1mYWls",
        "timestamp": 1765195200.25,
        "severity": severity,
        "reason": reason,
        "recipient": "jo@example.com",
        "delivery-status": {
            "code": code,
            "enhanced-code": enhanced,
            "message": message,
            "description": "",
            "attempt-no": 1,
            "mx-host": "mx.example.com",
        },
        "message": {"headers": {"message-id": "20261208.1.ABC@mg.example.org"}},
        "user-variables": {},
    }


def test_a_blocklisting_mailgun_calls_a_permanent_bounce_is_not_a_dead_address() -> None:
    """Mailgun's permanent/bounce says hard; 5.7.1 with "Spamhaus" blames the sending IP, which
    `docs/bounce-reasons.md` makes `blocked`, a soft sender refusal: ours decides."""
    refused = failure(
        "permanent", "bounce", "5.7.1", "5.7.1 client host [192.0.2.1] blocked using Spamhaus"
    )
    (bounce,) = read_mailgun(webhook(refused), CONTEXT).delivery_events
    assert (bounce.reason, bounce.bounce_class) == ("blocked", "soft")
    assert (bounce.esp_classification, bounce.esp_bounce_class) == ("permanent/bounce", "hard")


@pytest.mark.parametrize(
    ("severity", "reason", "esp_class"),
    [
        ("permanent", "bounce", "hard"),  # "Hard bounces (permanent failure)"
        ("permanent", "generic", "hard"),
        ("permanent", "old", "soft"),  # "messages that reached their retry limit"
        ("permanent", "espblock", "soft"),  # the receiving provider blocked the sender
        ("temporary", "generic", "soft"),  # "Soft bounces (temporary failure)"
        ("temporary", "greylisted", "soft"),
    ],
)
def test_mailguns_own_class_follows_its_severity_and_reason(severity, reason, esp_class) -> None:
    """Mailgun's word, kept beside ours, is what Mailgun's User Manual says it means."""
    (event,) = read_mailgun(
        webhook(failure(severity, reason, "5.0.0", "550 refused")), CONTEXT
    ).delivery_events
    assert (event.esp_classification, event.esp_bounce_class) == (f"{severity}/{reason}", esp_class)
    assert event.kind == ("deferred" if severity == "temporary" else "bounced")


def test_the_published_delivery_is_delivered() -> None:
    """Accepted by the recipient's server; the MX host is the remote MTA."""
    (delivery,) = read_mailgun(webhook(sample("delivered.json")), CONTEXT).delivery_events
    assert (delivery.kind, delivery.bounce_class, delivery.reason) == ("delivered", None, None)
    assert delivery.remote_mta == "aspmx.l.example.com"
    assert delivery.event_id == "mailgun:hK7mQVt1QtqRiOfQXta4sw:2018-06-22"
    assert delivery.message_id == "<20180622182958.1.48906CB188F1A454@exmple.org>"


def test_the_published_complaint_is_an_abuse_report() -> None:
    """The recipient's spam button, through a feedback loop."""
    outcome = read_mailgun(webhook(sample("complained.json")), CONTEXT)
    (report,) = outcome.feedback_reports
    assert (report.feedback_type, report.esp, report.esp_feedback_type) == (
        "abuse",
        "mailgun",
        "complained",
    )
    assert report.report_id == "mailgun:ncV2XwymRUKbPek_MIM-Gw:2013-08-22"
    assert report.original_message_id == "<20130718032413.263EE2E0926@example.com>"
    assert report.recipient_key == key_of("foo@example.com")
    assert report.received_at == datetime(2013, 8, 22, 23, 31, 0, 49000, tzinfo=UTC)


@pytest.mark.parametrize(
    "name",
    [
        "accepted.json",
        "rejected.json",
        "stored.json",
        "opened.json",
        "clicked.json",
        "unsubscribed.json",
    ],
)
def test_events_sendgate_takes_no_action_on_are_counted_by_kind(name) -> None:
    """No record; the kind is counted (the opt-out is read by `mailgun_unsubscribe`)."""
    published = sample(name)
    outcome = read_mailgun(webhook(published), CONTEXT)
    assert outcome.records == () and outcome.rejections == ()
    assert outcome.ignored == (published["event"],)


def test_a_bare_event_as_the_events_api_returns_it_is_read_the_same() -> None:
    """The webhook's event-data is the Events API's event: either is read."""
    published = sample("delivered.json")
    assert read_mailgun(published, CONTEXT) == read_mailgun(webhook(published), CONTEXT)


def test_user_variables_then_headers_name_the_send() -> None:
    """User variables come first; a header Mailgun echoed fills what they lack."""
    refused = failure("permanent", "bounce", "5.1.1", "550 5.1.1 no such user")
    refused["user-variables"] = {"sendgate_account": "acme"}
    refused["message"]["headers"] |= {
        "X-Sendgate-Account": "other",
        "X-Sendgate-Request-Id": "req-9",
    }
    (bounce,) = read_mailgun(webhook(refused), CONTEXT).delivery_events
    assert (bounce.account_id, bounce.request_id) == ("acme", "req-9")


def test_the_same_event_id_on_another_day_is_another_record() -> None:
    """Mailgun's ids are unique within a day only; the event's date tells two apart, and a retry
    of one event (same id, same time) gives the same record id."""
    first = failure("permanent", "bounce", "5.1.1", "550 5.1.1 no such user")
    later = {**first, "timestamp": first["timestamp"] + 86_400}
    ids = [read_mailgun(webhook(e), CONTEXT).delivery_events[0].event_id for e in (first, later)]
    assert ids == ["mailgun:b3VyLW93bi1mYWls:2025-12-08", "mailgun:b3VyLW93bi1mYWls:2025-12-09"]
    again = read_mailgun(webhook(dict(first)), CONTEXT).delivery_events[0].event_id
    assert again == ids[0]


def test_an_address_in_the_servers_words_is_scrubbed() -> None:
    """The diagnostic keeps the remote MTA's words, not the addresses in them."""
    refused = failure("permanent", "bounce", "5.1.1", "5.1.1 <jo@example.com>: user unknown")
    (bounce,) = read_mailgun(webhook(refused), CONTEXT).delivery_events
    assert bounce.diagnostic == "550 5.1.1 <address>: user unknown"


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"recipient": None}, "a failed event with no recipient address"),
        ({"id": None}, "a failed event with no id"),
        ({"id": "jo@example.com"}, "a failed event whose id is not an event id"),
        ({"timestamp": "soon"}, "a failed event with no unix timestamp"),
        ({"severity": None}, "a failed event with no severity"),
        ({"event": None}, "an event with no event type"),
        ({"event": "teleported"}, "an event type Mailgun does not document: 'teleported'"),
        (
            {"event": "jane@example.com"},
            "an event type Mailgun does not document (not shown: not an event name)",
        ),
    ],
)
def test_an_event_that_cannot_be_read_is_rejected_with_its_json(change, reason) -> None:
    """The event is dead-lettered with its bytes and a reason that names no address."""
    broken = failure("permanent", "bounce", "5.1.1", "550 no such user")
    broken = {name: value for name, value in (broken | change).items() if value is not None}
    outcome = read_mailgun(webhook(broken), CONTEXT)
    (rejection,) = outcome.rejections
    assert (rejection.index, rejection.reason) == (0, reason)
    assert json.loads(rejection.raw) == broken
    assert outcome.records == ()


def test_a_body_without_event_data_is_rejected() -> None:
    (rejection,) = read_mailgun({"signature": {}, "event-data": []}, CONTEXT).rejections
    assert rejection.reason == "no event-data object"


@pytest.mark.parametrize(
    ("variables", "expected"),
    [
        ({"sendgate_account": "acme", "sendgate_list_id": "news"}, ("account", "acme")),
        ({}, ("platform", None)),
    ],
)
def test_an_unsubscribe_through_mailguns_link_is_an_opt_out(variables, expected) -> None:
    """Mailgun's link is for all of a domain's mail (or a tag): the account, else everything."""
    published = {**sample("unsubscribed.json"), "user-variables": variables}
    click = mailgun_unsubscribe(webhook(published), CONTEXT)
    assert click is not None
    assert (click.scope, click.account_id, click.list_id) == (*expected, None)
    assert (click.method, click.reason) == ("link", "unsubscribe")
    assert click.click_id == "mailgun:W3X4JOhFT-OZidZGKKr9iA:2013-08-22"
    assert click.recipient_key == key_of("recipient@example.com")


def test_only_the_unsubscribed_event_gives_an_opt_out() -> None:
    assert mailgun_unsubscribe(webhook(sample("clicked.json")), CONTEXT) is None
    assert mailgun_unsubscribe(webhook({"event": "unsubscribed"}), CONTEXT) is None
