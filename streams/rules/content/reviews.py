"""Review rules: no reward for positive reviews only (FTC, 16 CFR 465.4).

The FTC's rule covers every message, transactional included: a review request after a purchase
is often sent as a receipt's follow-up. A message fails when a request for a review, a reward
and a condition on a positive review all stand within a few paragraphs of one another
(`streams.content.body.buys_positive_reviews`); an incentive for every honest review passes.
Without body facts the rule reads the subject alone.
"""

from __future__ import annotations

from streams.content.body import buys_positive_reviews
from streams.core.records import SendRequest
from streams.policy import Policy
from streams.rules.base import RecipientView, Rule

__all__ = ["REVIEW_INCENTIVE_FOR_POSITIVE_REVIEW"]


def _review_incentive(request: SendRequest, view: RecipientView, policy: Policy) -> str | None:
    content = policy.content
    if not buys_positive_reviews(
        request.subject,
        request.body.text if request.body else None,
        content.review_window_paragraphs,
        content.review_request_patterns,
        content.review_incentive_patterns,
        content.positive_review_patterns,
    ):
        return None
    return (
        "The message asks for a review and offers a reward tied to a positive one (such as a "
        "discount for a 5-star rating), which the FTC prohibits; offer any incentive for every "
        "honest review, whatever it says, or none."
    )


REVIEW_INCENTIVE_FOR_POSITIVE_REVIEW = Rule(
    name="review-incentive-for-positive-review",
    law=(
        "FTC Rule on the Use of Consumer Reviews and Testimonials, 16 CFR 465.4: no incentive "
        "conditioned on a review's sentiment; FTC Endorsement Guides, 16 CFR Part 255"
    ),
    description="A review request that rewards positive reviews only.",
    check=_review_incentive,
)
