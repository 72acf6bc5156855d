"""One send request through the gate: everything it decides, as one pure function.

`gate_step` is the whole policy of the hot path. Given the request, what the gate knew about the
recipient and the account (`RecipientView`), the policy and the moment, it returns the decision
(with the VERP return path and the list headers an allowed commercial send carries), the
recipient's send history after the send (when the frequency rules count it), and the misuse
report a transactional send denied as marketing owes the enforcer. The worker (`streams.gate`)
only reads the state, calls this, and writes what it returns; an analyst's replay calls the same
function on recorded state, so a decision can be made again exactly.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from streams.content.misuse import MisuseAssessment
from streams.core.records import SendRequest
from streams.policy import Policy
from streams.reputation.standing import MisuseReport, misuse_report_id
from streams.rules import Judgement, RecipientView, decision_fields, judge, wire_time
from streams.rules.memo import ContentFindings
from streams.rules.misuse import TRANSACTIONAL_MISUSE
from streams.sending.frequency import SendHistory, cadence_of, limits_for, record_send
from streams.sending.list_headers import list_headers
from streams.sending.unsubscribe_tokens import UnsubscribeTokens
from streams.sending.verp import VerpSigner

__all__ = ["SendOutcome", "Signing", "gate_step"]


@dataclass(frozen=True, slots=True)
class Signing:
    """What the gate signs into an allowed send: the VERP return path that brings its bounces
    back to this recipient, and the one-click and mailto unsubscribe links of its list headers."""

    verp: VerpSigner
    tokens: UnsubscribeTokens
    unsubscribe_base_url: str
    bounce_domain: str


@dataclass(frozen=True, slots=True)
class SendOutcome:
    """Everything one send request leads to."""

    judgement: Judgement
    decision: dict[str, Any]
    """The `SendDecision`'s fields (`streams.rules.decision_fields`), ready to encode."""
    send_history: SendHistory | None
    """The recipient's send history after this send; the view's own when nothing changed."""
    misuse_report: MisuseReport | None
    """For the enforcer, when the send was denied as marketing dressed as transactional."""


def gate_step(
    request: SendRequest,
    view: RecipientView,
    policy: Policy,
    now: datetime,
    *,
    recipient_key: str,
    signing: Signing,
    request_offset: str,
    state_offsets: Mapping[str, int],
    content: ContentFindings | None = None,
) -> SendOutcome:
    """Decide `request` at `now` on `view`, with everything the decision leads to.

    `now` is first cut to what the decision records (`decided_at`: UTC, whole milliseconds), so
    a replay that decides again at the recorded time sees exactly the moment the gate saw.
    `content` remembers the content rules' findings across requests (`streams.rules.memo`)."""
    now = wire_time(now)
    judgement = judge(request, view, policy, at=now, content=content)
    history = view.send_history
    headers: Mapping[str, str] | None = None
    return_path = None
    if judgement.verdict == "allow":
        return_path = signing.verp.return_path(recipient_key)
        headers = list_headers(
            request,
            recipient_key=recipient_key,
            tokens=signing.tokens,
            base_url=signing.unsubscribe_base_url,
            mailto_domain=signing.bounce_domain,
            issued_at=now,
            policy=policy.unsubscribe,
            cadence=cadence_of(view.consents, request),
        )
        if limits_for(request, view.consents, policy.frequency):
            history = record_send(history, request, policy.frequency)
    decision = decision_fields(
        request,
        view,
        policy,
        judgement,
        recipient_key=recipient_key,
        decided_at=now,
        request_offset=request_offset,
        state_offsets=state_offsets,
        return_path=return_path,
        headers=headers,
    )
    report = _misuse_report(request, judgement, policy, recipient_key)
    return SendOutcome(judgement, decision, history, report)


def _misuse_report(
    request: SendRequest, judgement: Judgement, policy: Policy, recipient_key: str
) -> MisuseReport | None:
    """The report the enforcer counts against the account (`streams.reputation.misuse`), made
    from the rule's own assessment; the same request always makes the same report."""
    if not judgement.failed(TRANSACTIONAL_MISUSE):
        return None
    assessment = judgement.detail(TRANSACTIONAL_MISUSE)
    if not isinstance(assessment, MisuseAssessment):
        raise TypeError("the transactional-misuse rule failed without its assessment")
    return MisuseReport(
        report_id=misuse_report_id(request.account_id, request.request_id),
        account_id=request.account_id,
        request_id=request.request_id,
        recipient_key=recipient_key,
        score=assessment.score,
        signals=tuple(signal.name for signal in assessment.signals),
        policy_version=policy.policy_version,
        detected_at=request.requested_at,
    )
