"""What each RFC 5965 feedback type asks of the suppressions."""

from __future__ import annotations

import pytest

from streams.suppression.feedback import suppression_for_report
from tests.support.factory import feedback_report


@pytest.mark.parametrize(
    ("feedback_type", "account", "list_id", "expected"),
    [
        # The issue: "A complaint (ARF abuse or fraud) unsubscribes the recipient from everything
        # of that account at once (reason complaint)".
        ("abuse", "acme", "news", ("account", "acme", None, "complaint")),
        ("fraud", "acme", None, ("account", "acme", None, "complaint")),
        # No account recovered: platform-wide (documented choice in streams.suppression.feedback).
        ("abuse", None, None, ("platform", None, None, "complaint")),
        # "ARF opt-out becomes an unsubscribe" - from the list when it is known.
        ("opt_out", "acme", "news", ("list", "acme", "news", "unsubscribe")),
        ("opt_out", "acme", None, ("account", "acme", None, "unsubscribe")),
        # "not-spam, virus and auth-failure are recorded, not treated as complaints."
        ("not_spam", "acme", "news", None),
        ("virus", "acme", "news", None),
        ("auth_failure", "acme", "news", None),
        ("other", "acme", "news", None),
    ],
)
def test_feedback_types(feedback_type, account, list_id, expected) -> None:
    """Each feedback type becomes the suppression the policy names, or none."""
    report = feedback_report(
        report_id="inbound-mail/0/7",
        feedback_type=feedback_type,
        account_id=account,
        list_id=list_id,
        source="inbound-mail/0/7",
    )
    click = suppression_for_report(report)
    if expected is None:
        assert click is None
        return
    assert click is not None
    assert (click.scope, click.account_id, click.list_id, click.reason) == expected
    assert click.method == "feedback_loop"
    assert click.click_id == "feedback:inbound-mail/0/7"  # the same report twice: one click id
