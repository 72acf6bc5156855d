"""Suppression rules: people who asked not to be mailed, at platform, account and list scope.

Transactional mail (a receipt, a password reset) is not covered by an unsubscribe from marketing:
CAN-SPAM's opt-out duty (15 U.S.C. §7704(a)(4)) applies to commercial messages only, and so do
CASL s.11 and PECR reg. 22. It honours list and account unsubscribes only when the request (or the
policy) says so, like Salesforce's "honour list-level opt-outs". Platform suppressions (complaint,
hard bounce, erasure, operator) stop every message; an erasure only until the person gives an
account a fresh express consent, and then for that account alone (`streams.privacy.erasure`).
"""

from __future__ import annotations

from streams.core.records import SendRequest, SuppressionEntry
from streams.policy import Policy
from streams.privacy.erasure import lifted_by_fresh_consent
from streams.rules.base import RecipientView, Rule

__all__ = [
    "ACCOUNT_UNSUBSCRIBED",
    "LIST_UNSUBSCRIBED",
    "PLATFORM_SUPPRESSED",
    "SUPPRESSIONS_NOT_CURRENT",
]

_OPT_OUT_LAW = (
    "CAN-SPAM 15 U.S.C. §7704(a)(4); CASL s.11(3); GDPR Art. 21(3) and PECR reg. 22; "
    "Spam Act 2003 (Cth) s.16 and s.18"
)

_REASON_WORDS = {
    "unsubscribe": "asked to receive no mail sent through this platform",
    "complaint": "reported a message as spam",
    "hard_bounce": "has an address that hard-bounced (it does not exist or cannot receive mail)",
    "erasure": "asked for their personal data to be erased",
    "manual": "was suppressed by a platform operator",
}


def _since(entry: SuppressionEntry) -> str:
    return entry.since.strftime("%Y-%m-%d")


def _honours_opt_outs(request: SendRequest, policy: Policy) -> bool:
    return (
        request.commercial
        or request.honor_list_opt_outs
        or policy.transactional_honors_opt_outs_by_default
    )


def _not_current(request: SendRequest, view: RecipientView, policy: Policy) -> str | None:
    if view.state_current:
        return None
    return (
        "The gate could not confirm that it had every unsubscribe received before this request, "
        "so it held the message back; send the request again."
    )


def _platform_suppressed(request: SendRequest, view: RecipientView, policy: Policy) -> str | None:
    for entry in view.suppressions:
        if entry.scope == "platform" and not lifted_by_fresh_consent(
            entry, view.consents, request.account_id
        ):
            return (
                f"The recipient {_REASON_WORDS[entry.reason]} on {_since(entry)}, so no account "
                "on this platform may email them."
            )
    return None


def _account_unsubscribed(request: SendRequest, view: RecipientView, policy: Policy) -> str | None:
    if not _honours_opt_outs(request, policy):
        return None
    for entry in view.suppressions:
        if entry.scope == "account" and entry.account_id == request.account_id:
            if entry.reason == "complaint":
                return (
                    f"The recipient reported mail from account {request.account_id} as spam on "
                    f"{_since(entry)}, which unsubscribes them from everything this sender "
                    "sends."
                )
            return (
                f"The recipient unsubscribed from all mail of account {request.account_id} on "
                f"{_since(entry)}; an unsubscribe must be honoured for every later "
                f"{request.classification} message from this sender."
            )
    return None


def _list_unsubscribed(request: SendRequest, view: RecipientView, policy: Policy) -> str | None:
    if request.list_id is None or not _honours_opt_outs(request, policy):
        return None
    for entry in view.suppressions:
        if (
            entry.scope == "list"
            and entry.account_id == request.account_id
            and entry.list_id == request.list_id
        ):
            return (
                f"The recipient unsubscribed from list {request.list_id} on {_since(entry)}; "
                "mail to that list must stop."
            )
    return None


SUPPRESSIONS_NOT_CURRENT = Rule(
    name="suppressions-not-current",
    law=(
        "Platform policy: fail closed rather than risk mailing someone who opted out "
        "(CAN-SPAM 15 U.S.C. §7704(a)(4))"
    ),
    description="The gate's suppression state could not be confirmed current for this request.",
    check=_not_current,
)

PLATFORM_SUPPRESSED = Rule(
    name="platform-suppressed",
    law=(
        "Platform policy: complaints, hard bounces and erasure requests stop all mail "
        "(CAN-SPAM 15 U.S.C. §7704(a)(4); GDPR Art. 17; Gmail and Yahoo bulk-sender rules)"
    ),
    description="The recipient is suppressed for every account on the platform.",
    check=_platform_suppressed,
)

ACCOUNT_UNSUBSCRIBED = Rule(
    name="account-unsubscribed",
    law=_OPT_OUT_LAW,
    description="The recipient unsubscribed from everything this account sends.",
    check=_account_unsubscribed,
)

LIST_UNSUBSCRIBED = Rule(
    name="list-unsubscribed",
    law=_OPT_OUT_LAW,
    description="The recipient unsubscribed from the list this message goes to.",
    check=_list_unsubscribed,
)
