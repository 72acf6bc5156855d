"""The JSON body of a notification: its envelope, every field of the event, stable bytes."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal

from streams.core.records import ConsentNotice
from streams.edges.notify.payload import (
    PAYLOAD_VERSION,
    consent_notice_notification,
    enforcement_notification,
)
from streams.reputation.standing import EnforcementEvent
from tests.support.notifications import README, strike_event

AT = datetime(2025, 3, 10, 6, 0, 0, 123_000, tzinfo=UTC)


def body_of(event: EnforcementEvent) -> dict:
    return json.loads(enforcement_notification(event).body)


def test_the_envelope_names_the_event_its_type_and_account() -> None:
    body = body_of(strike_event(1, at=AT))
    assert set(body) == {"version", "id", "type", "account_id", "occurred_at", "data"}
    assert body["version"] == PAYLOAD_VERSION == 1
    assert body["id"] == "strike-acme-1"
    assert body["type"] == "enforcement.strike_issued"
    assert body["account_id"] == "acme"
    assert body["occurred_at"] == "2025-03-10T06:00:00.123Z"


def test_data_holds_every_field_of_the_event_null_ones_too() -> None:
    data = body_of(strike_event(1))["data"]
    assert set(data) == set(EnforcementEvent.model_fields)
    assert data["fine_amount"] is None
    assert data["restored"] == []


def test_times_are_iso_utc_and_decimals_are_text() -> None:
    data = body_of(strike_event(2, at=AT))["data"]
    assert data["window_start"] == "2025-03-03T06:00:00.123Z"
    assert data["rate"] == "0.002000000"
    assert data["line"] == "0.001"
    assert data["status_after"]["as_of"] == "2025-03-10T06:00:00.123Z"
    assert data["status_after"]["strikes"] == 2


def test_a_decimal_with_an_exponent_is_written_out() -> None:
    event = strike_event(1).model_copy(
        update={"rate": Decimal("1E-9"), "fine_amount": Decimal("2.5E+2")}
    )
    data = body_of(event)["data"]
    assert (data["rate"], data["fine_amount"]) == ("0.000000001", "250")


def test_every_action_is_a_type_of_its_own() -> None:
    reinstated = strike_event(1).model_copy(
        update={"action": "reinstated", "event_id": "r-1", "by": "ops", "restored": ("gmail",)}
    )
    body = body_of(reinstated)
    assert body["type"] == "enforcement.reinstated"
    assert body["data"]["restored"] == ["gmail"]


def test_the_body_is_compact_sorted_utf8_and_the_same_every_time() -> None:
    explained = {"explanation": "Stufe 1: Beschwerderate über 0,1%"}
    body = enforcement_notification(strike_event(1).model_copy(update=explained)).body
    again = enforcement_notification(strike_event(1).model_copy(update=explained)).body
    assert body == again
    assert "über".encode() in body
    text = body.decode("utf-8")
    assert (
        json.dumps(json.loads(text), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        == text
    )


def test_a_consent_notice_goes_out_by_its_notice_id() -> None:
    notice = ConsentNotice(
        notice_id="notice-1",
        recipient_key="ab" * 32,
        kind="expiring",
        account_id="maple",
        lists=("news",),
        basis="implied_purchase",
        jurisdiction="CA",
        granted_at=datetime(2023, 4, 1, tzinfo=UTC),
        expires_at=datetime(2025, 4, 1, tzinfo=UTC),
        emitted_at=AT,
    )
    notification = consent_notice_notification(notice)
    body = json.loads(notification.body)
    assert (notification.id, notification.type) == ("notice-1", "consent.expiring")
    assert (body["id"], body["type"], body["account_id"]) == (
        "notice-1",
        "consent.expiring",
        "maple",
    )
    assert body["data"]["lists"] == ["news"]
    assert body["occurred_at"] == "2025-03-10T06:00:00.123Z"


def test_the_readme_example_has_the_shape_of_a_real_body() -> None:
    """The README's example body (laid out for reading) has the same keys, nested too, and the
    same kinds of values as what a strike really sends."""
    text = README.read_text(encoding="utf-8")
    section = text[text.index("### Enforcement events by HTTP") :]
    example = json.loads(
        section[section.index("```json\n") + 8 : section.index("\n```", section.index("```json"))]
    )
    real = body_of(strike_event(1))

    def shape(value: object) -> object:
        if isinstance(value, dict):
            return {key: shape(item) for key, item in value.items()}
        return type(value).__name__

    assert shape(example) == shape(real)
