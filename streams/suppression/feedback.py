"""What a feedback-loop report asks of the suppressions (RFC 5965 feedback types, section 7.3).

Pure. A complaint (abuse, fraud) unsubscribes the recipient from everything of the account that
sent the reported message, at once (reason `complaint`); an opt-out report is an unsubscribe from
the list when the list is known, else from the account. When the account cannot be recovered from
the report, the suppression is platform-wide: mailing someone who complained is the one mistake a
shared platform cannot afford. not-spam, virus, auth-failure and other are recorded (the report
itself lands in the ledger) and suppress nothing.
"""

from __future__ import annotations

from streams.core.records import (
    FeedbackReport,
    SuppressionReason,
    SuppressionScope,
    UnsubscribeClick,
)

__all__ = ["COMPLAINT_TYPES", "suppression_for_report"]

COMPLAINT_TYPES = frozenset({"abuse", "fraud"})


def suppression_for_report(report: FeedbackReport) -> UnsubscribeClick | None:
    """The suppression request a report implies, or None when it implies none."""
    scope: SuppressionScope
    reason: SuppressionReason
    if report.feedback_type in COMPLAINT_TYPES:
        reason = "complaint"
        scope = "account" if report.account_id else "platform"
    elif report.feedback_type == "opt_out":
        reason = "unsubscribe"
        if report.account_id and report.list_id:
            scope = "list"
        elif report.account_id:
            scope = "account"
        else:
            scope = "platform"
    else:
        return None
    return UnsubscribeClick(
        click_id=f"feedback:{report.report_id}",
        recipient_key=report.recipient_key,
        scope=scope,
        account_id=report.account_id if scope != "platform" else None,
        list_id=report.list_id if scope == "list" else None,
        method="feedback_loop",
        reason=reason,
        clicked_at=report.arrival_date or report.received_at,
    )
