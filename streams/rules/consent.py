"""Consent rules: whether the recipient gave this account permission, and whether that
permission is one the recipient's law accepts.

All of them judge commercial mail only (a transactional message with promotional content counts
as commercial, `SendRequest.commercial`), except the hard-bounce rule, which stops every message.
Which law applies comes from the request's jurisdiction, or from the policy when the request names
none (`ConsentPolicy.regimes_for`); with the "strictest-when-unknown" preset a request without a
country must satisfy every law at once.

The status rule is the platform's: bulk commercial mail needs single or double opt-in, whatever
the country (Gmail and Yahoo require senders to mail only people who asked). The regime rules
are the laws': CASL, GDPR/PECR and the Spam Act each want a basis they recognise, and CASL's
implied consent lapses. A message can fail both kinds; each is named.
"""

from __future__ import annotations

from datetime import datetime

from streams.consent.lookup import consent_for
from streams.consent.timing import implied_expiry
from streams.core.records import ConsentEntry, SendRequest
from streams.policy import Policy, Regime
from streams.rules.base import RecipientView, Rule, RuleCheck

__all__ = [
    "CASL_IMPLIED_CONSENT_EXPIRED",
    "CASL_NO_VALID_CONSENT",
    "CONSENT_HARD_BOUNCE",
    "CONSENT_RULES",
    "CONSENT_STATUS_NOT_MAILABLE",
    "GDPR_PECR_NO_VALID_CONSENT",
    "SPAM_ACT_NO_VALID_CONSENT",
]

_BASIS_WORDS = {
    "express": "express consent",
    "implied_purchase": "consent implied by a purchase or contract",
    "implied_inquiry": "consent implied by an inquiry",
    "conspicuous_publication": "the conspicuous publication of the address",
    "soft_opt_in": "the soft opt-in of an existing customer",
    "legal_obligation": "a legal obligation to write",
}
_REGIME_WORDS: dict[Regime, str] = {
    "casl": "Canada's anti-spam law (CASL)",
    "gdpr_pecr": "the GDPR and PECR",
    "spam_act": "Australia's Spam Act 2003",
    "can_spam": "CAN-SPAM",
    "platform": "the platform's policy",
}
_REGIME_NEEDS: dict[Regime, str] = {
    "casl": "express consent, or implied consent that has not lapsed",
    "gdpr_pecr": "express consent or a valid soft opt-in",
    "spam_act": "express consent, or consent inferred from a business relationship",
}


def _day(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d") if moment else "an unknown date"


def _mixed(request: SendRequest) -> str:
    if request.classification == "transactional":
        return (
            " (The message is classed transactional but its content is promotional, so it is "
            "judged as commercial.)"
        )
    return ""


def _entry(request: SendRequest, view: RecipientView) -> ConsentEntry | None:
    return consent_for(view.consents, request.account_id, request.list_id)


def _reported_as_suppression(entry: ConsentEntry, view: RecipientView) -> bool:
    """A withdrawal made by an unsubscribe, complaint or bounce is also a suppression, and the
    suppression rules already name it: saying it twice would only make the denial harder to
    read. A withdrawal from a consent event (no suppression) is the consent rules' to report."""
    return entry.withdrawn_reason is not None and any(
        seen.source_event_id == entry.last_event_id for seen in view.suppressions
    )


def _scope_words(request: SendRequest) -> str:
    if request.list_id:
        return f"list {request.list_id} of account {request.account_id}"
    return f"account {request.account_id}"


def _where(request: SendRequest, regime: Regime) -> str:
    if request.jurisdiction:
        return f"The recipient is in {request.jurisdiction}, where {_REGIME_WORDS[regime]} applies"
    return f"The request names no country, and the policy then applies {_REGIME_WORDS[regime]}"


_STATUS_WORDS = {
    "pending_review": "was imported by the account, and the import has not been approved yet",
    "unconfirmed": "has not confirmed the subscription yet (double opt-in)",
    "transactional_only": "receives transactional mail only",
}


def _status(request: SendRequest, view: RecipientView, policy: Policy) -> str | None:
    if not request.commercial:
        return None
    entry = _entry(request, view)
    if entry is None:
        if request.send_kind == "one_off":
            return None  # one-to-one mail: the regime rules judge it
        return (
            f"No consent to mail from {_scope_words(request)} is on record for this recipient; "
            "bulk commercial mail needs a recorded opt-in." + _mixed(request)
        )
    if entry.status == "hard_bounce" or _reported_as_suppression(entry, view):
        return None  # consent-hard-bounce or a suppression rule says it
    allowed = (
        policy.consent.bulk_allowed_statuses
        if request.send_kind == "bulk"
        else policy.consent.one_off_allowed_statuses
    )
    if entry.status in allowed:
        return None
    words = _STATUS_WORDS.get(entry.status, f"has status {entry.status}")
    if entry.status == "transactional_only" and entry.withdrawn_at:
        words = (
            f"withdrew consent on {_day(entry.withdrawn_at)} and receives transactional mail only"
        )
    kind = "bulk" if request.send_kind == "bulk" else "one-off"
    return (
        f"The recipient {words} for {_scope_words(request)}, so no {kind} commercial mail may "
        "go to them." + _mixed(request)
    )


def _hard_bounce(request: SendRequest, view: RecipientView, policy: Policy) -> str | None:
    entry = _entry(request, view)
    if entry is None or entry.status != "hard_bounce" or _reported_as_suppression(entry, view):
        return None
    return (
        f"The recipient's address hard-bounced on {_day(entry.withdrawn_at)}; no mail of any "
        "kind, transactional included, goes to it until the address is confirmed again."
    )


def _regime_check(regime: Regime) -> RuleCheck:
    def check(request: SendRequest, view: RecipientView, policy: Policy) -> str | None:
        if not request.commercial or regime not in policy.consent.regimes_for(request.jurisdiction):
            return None
        entry = _entry(request, view)
        needs = _REGIME_NEEDS[regime]
        where = _where(request, regime)
        if entry is not None and entry.status == "hard_bounce":
            return None  # consent-hard-bounce stops every message and says why
        if entry is not None and entry.status == "transactional_only":
            if _reported_as_suppression(entry, view):
                return None
            return (
                f"{where}: the recipient withdrew consent to {_scope_words(request)} on "
                f"{_day(entry.withdrawn_at)}, and commercial email needs {needs}." + _mixed(request)
            )
        if entry is None or entry.basis is None:
            return (
                f"{where}: commercial email needs {needs}, and none is on record for "
                f"{_scope_words(request)}." + _mixed(request)
            )
        if not policy.consent.accepts(regime, entry.basis):
            return (
                f"{where}: the consent on record rests on {_BASIS_WORDS[entry.basis]}, which "
                f"this law does not accept for commercial email; it needs {needs}."
                + _mixed(request)
            )
        return None

    return check


def _casl_lapsed(request: SendRequest, view: RecipientView, policy: Policy) -> str | None:
    if not request.commercial or "casl" not in policy.consent.regimes_for(request.jurisdiction):
        return None
    entry = _entry(request, view)
    if entry is None or entry.status in ("transactional_only", "hard_bounce"):
        return None
    lapse = implied_expiry(entry.basis, entry.granted_at, policy.consent)
    if lapse is None or view.at is None or view.at < lapse:
        return None
    event = "purchase or contract" if entry.basis == "implied_purchase" else "inquiry"
    return (
        f"The recipient's implied consent, from a {event} on {_day(entry.granted_at)}, lapsed "
        f"on {_day(lapse)} under CASL; ask them for express consent before sending commercial "
        "email." + _mixed(request)
    )


CONSENT_STATUS_NOT_MAILABLE = Rule(
    name="consent-status-not-mailable",
    law=(
        "Platform policy: bulk commercial mail only to people who opted in (Gmail and Yahoo "
        "bulk-sender rules; CASL s.6(1)(a); GDPR Art. 7(1))"
    ),
    description="The recipient's consent status does not allow this commercial message.",
    check=_status,
)

CONSENT_HARD_BOUNCE = Rule(
    name="consent-hard-bounce",
    law=(
        "Platform policy: no mail to an address that hard-bounced (RFC 5321 §4.2.1; Gmail and "
        "Yahoo bulk-sender rules)"
    ),
    description="The recipient's consent record says the address hard-bounced.",
    check=_hard_bounce,
)

CASL_NO_VALID_CONSENT = Rule(
    name="casl-no-valid-consent",
    law="CASL (S.C. 2010, c. 23) s.6(1)(a) and s.10",
    description="No express or implied consent that CASL accepts.",
    check=_regime_check("casl"),
)

CASL_IMPLIED_CONSENT_EXPIRED = Rule(
    name="casl-implied-consent-expired",
    law=(
        "CASL (S.C. 2010, c. 23) s.10(10): implied consent lasts 2 years after a purchase, "
        "6 months after an inquiry"
    ),
    description="The recipient's implied consent has lapsed.",
    check=_casl_lapsed,
)

GDPR_PECR_NO_VALID_CONSENT = Rule(
    name="gdpr-pecr-no-valid-consent",
    law="GDPR Art. 6(1)(a) and Art. 7; PECR reg. 22 (ePrivacy Directive Art. 13)",
    description="No express consent or valid soft opt-in.",
    check=_regime_check("gdpr_pecr"),
)

SPAM_ACT_NO_VALID_CONSENT = Rule(
    name="spam-act-no-valid-consent",
    law="Spam Act 2003 (Cth) s.16 and Schedule 2",
    description="No express or inferred consent that the Spam Act accepts.",
    check=_regime_check("spam_act"),
)

CONSENT_RULES: tuple[Rule, ...] = (
    CONSENT_HARD_BOUNCE,
    CONSENT_STATUS_NOT_MAILABLE,
    CASL_NO_VALID_CONSENT,
    CASL_IMPLIED_CONSENT_EXPIRED,
    GDPR_PECR_NO_VALID_CONSENT,
    SPAM_ACT_NO_VALID_CONSENT,
)
"""Every consent rule, in the order the rule table (`streams.rules`) runs them."""
