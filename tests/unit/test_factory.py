"""The tests' record factory keeps its promises: valid defaults the gate allows, ids derived from
the record, and only RFC 2606 example domains in what it writes."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest

from streams.core.records import Record, SendDecision
from streams.policy import load_policy
from streams.rules import RecipientView, decide
from streams.topics import default_codec
from tests.support import factory
from tests.support.factory import (
    KEY,
    KEYER,
    RECIPIENT,
    consent_entry,
    consent_event,
    delivery_event,
    feedback_report,
    inbound_mail,
    recipient_view,
    send_request,
    sender_domains,
    suppression_entry,
    suppression_state,
    unsubscribe_click,
)

BUILDERS: dict[str, Callable[..., Record]] = {
    "send_request": send_request,
    "unsubscribe_click": unsubscribe_click,
    "suppression_entry": suppression_entry,
    "suppression_state": suppression_state,
    "consent_event": consent_event,
    "consent_entry": consent_entry,
    "delivery_event": delivery_event,
    "feedback_report": feedback_report,
    "inbound_mail": inbound_mail,
    "sender_domains": sender_domains,
}
IDS: dict[str, tuple[Callable[..., Record], str, dict[str, Any]]] = {
    # builder, its id field, a field that makes another record
    "send request": (send_request, "request_id", {"recipient": "bo@example.com"}),
    "click": (unsubscribe_click, "click_id", {"scope": "account"}),
    "suppression entry": (suppression_entry, "source_event_id", {"reason": "complaint"}),
    "consent event": (consent_event, "event_id", {"kind": "withdraw"}),
    "consent entry": (consent_entry, "last_event_id", {"status": "double_opt_in"}),
    "delivery": (delivery_event, "event_id", {"kind": "deferred"}),
    "feedback report": (feedback_report, "report_id", {"feedback_type": "not_spam"}),
    "inbound mail": (inbound_mail, "intake_id", {"mail_from": "mta@example.net"}),
}
EXAMPLE_DOMAIN = re.compile(r"(^|\.)(example(\.(com|net|org))?)$")
"""RFC 2606 §3: example.com, example.net, example.org and the .example top-level domain."""


@pytest.mark.parametrize("name", BUILDERS)
def test_each_default_record_is_valid_on_the_wire(name: str) -> None:
    """What a builder returns by default encodes and decodes to itself."""
    codec = default_codec()
    record = BUILDERS[name]()
    assert codec.decode(codec.encode(record), type(record)) == record


def _decision(request: Any, view: RecipientView) -> SendDecision:
    return decide(
        request,
        view,
        load_policy(),
        recipient_key=KEY,
        decided_at=factory.AT,
        request_offset="send-requests/0/0",
        state_offsets={},
    )


@pytest.mark.parametrize(
    "fields",
    [
        {},
        {"classification": "transactional", "list_id": None, "send_kind": "one_off"},
        {"classification": "transactional", "promotional_content": True},
        {"send_kind": "one_off"},
    ],
    ids=["newsletter", "receipt", "receipt with promotion", "commercial one-off"],
)
def test_the_default_send_to_the_default_view_is_allowed_without_a_flag(
    fields: dict[str, Any],
) -> None:
    """So a test that adds one suppression, consent or content flaw sees only the rule about it."""
    decision = _decision(send_request(**fields), recipient_view())
    assert (decision.verdict, decision.failures, decision.flags) == ("allow", (), ())


def test_another_account_is_compliant_from_its_own_domain() -> None:
    view = recipient_view(
        consents=(consent_entry(account_id="maple"),),
        sender_domains=frozenset({"maple.example"}),
    )
    decision = _decision(send_request(account_id="maple"), view)
    assert (decision.verdict, decision.failures, decision.flags) == ("allow", (), ())
    assert send_request(account_id="maple").from_address == "Maple <hello@maple.example>"


def test_records_are_about_the_default_recipient() -> None:
    assert KEYER.key(RECIPIENT) == KEY
    assert unsubscribe_click().recipient_key == consent_event().recipient_key == KEY


@pytest.mark.parametrize("kind", IDS)
def test_an_id_is_derived_from_the_rest_of_the_record(kind: str) -> None:
    """The same record twice carries the same id (a redelivery); another record another id; an
    id the test gives is kept."""
    build, id_field, other = IDS[kind]
    first, again, different = build(), build(), build(**other)
    assert getattr(first, id_field) == getattr(again, id_field)
    assert getattr(first, id_field) != getattr(different, id_field)
    assert getattr(build(**{id_field: "given-1"}), id_field) == "given-1"


def test_scopes_name_only_what_they_reach() -> None:
    assert (unsubscribe_click().account_id, unsubscribe_click().list_id) == ("acme", "news")
    account = unsubscribe_click(scope="account")
    assert (account.account_id, account.list_id) == ("acme", None)
    platform = suppression_entry(scope="platform")
    assert (platform.account_id, platform.list_id) == (None, None)


def test_a_state_has_applied_the_events_of_its_entries() -> None:
    entries = (suppression_entry(), suppression_entry(scope="account"))
    state = suppression_state(*entries)
    assert state.applied_event_ids == tuple(entry.source_event_id for entry in entries)


@pytest.mark.parametrize("name", BUILDERS)
def test_only_example_domains_are_written(name: str) -> None:
    """Addresses and links in the defaults use RFC 2606 example domains, never a real one."""
    text = BUILDERS[name]().model_dump_json()
    domains = re.findall(r"@([A-Za-z0-9.-]+)", text) + re.findall(
        r"https?://([A-Za-z0-9.-]+)", text
    )
    assert all(EXAMPLE_DOMAIN.search(domain.lower()) for domain in domains), domains
