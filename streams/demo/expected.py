"""What the gate must decide for each send of a demo scenario, by the policy's own rules.

Folds the scenario's consent events and clicks with the keepers' pure folds and runs the gate's
pure rule table over each send, in publishing order, so a run can check that the gate, through
Kafka, decided exactly what the policy says. The consent events are applied before anything else
is published, and every click is acknowledged before the sends it precedes are produced, so the
gate's state fence makes it see each of them; the bad records change nothing.
"""

from __future__ import annotations

from datetime import datetime

from streams.consent.fold import apply_consent_event, apply_opt_out
from streams.core.recipient import RecipientKeyer
from streams.core.records import ConsentState, SendRequest, SuppressionState, UnsubscribeClick
from streams.demo.scenario import Scenario
from streams.policy import Policy
from streams.privacy.erasure import request_id_of
from streams.rules import RecipientView, decide
from streams.suppression.fold import apply_click

__all__ = ["expected_failed_rules"]


def expected_failed_rules(
    scenario: Scenario, keyer: RecipientKeyer, policy: Policy, *, now: datetime
) -> dict[str, tuple[str, ...]]:
    """Request id -> the names of the rules the gate must say failed (empty: allowed)."""
    states: dict[str, SuppressionState] = {}
    consents: dict[str, ConsentState] = {}
    for event in scenario.consents:
        folded = apply_consent_event(consents.get(event.recipient_key), event, policy.consent)
        consents[event.recipient_key] = folded.state

    def fold(click: UnsubscribeClick) -> None:
        state, _ = apply_click(states.get(click.recipient_key), click, source="expected", now=now)
        states[click.recipient_key] = state
        if request_id_of(click) is not None:
            consents.pop(click.recipient_key, None)  # an erasure deletes the person's consents
        else:
            consents[click.recipient_key] = apply_opt_out(consents.get(click.recipient_key), click)

    def failed_rules(send: SendRequest) -> tuple[str, ...]:
        recipient_key = keyer.key(send.recipient)
        state = states.get(recipient_key)
        consent = consents.get(recipient_key)
        view = RecipientView(
            suppressions=state.entries if state else (),
            consents=consent.entries if consent else (),
            # Every demo account verified its domain first (`streams.demo.content`).
            sender_domains=frozenset({f"{send.account_id}.example"}),
        )
        decision = decide(
            send,
            view,
            policy,
            recipient_key=recipient_key,
            decided_at=now,
            request_offset="expected",
            state_offsets={},
        )
        return tuple(failure.rule for failure in decision.failures)

    for click in scenario.clicks:
        fold(click)
    expected = {send.request_id: failed_rules(send) for send in scenario.sends}
    for click, send in scenario.race:
        fold(click)
        expected[send.request_id] = failed_rules(send)
    return expected
