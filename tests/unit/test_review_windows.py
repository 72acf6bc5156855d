"""The review-incentive check searches the whole text first and the paragraph windows only when
that can find something: the answer must be the windows' answer, whatever the text and the
policy's patterns (16 CFR 465.4 is judged per nearby paragraphs, not per message)."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from streams.content.body import buys_positive_reviews
from streams.content.policy import ContentPolicy
from streams.content.text import compiled, matches_any, plain

POLICY = ContentPolicy()
PATTERNS = (
    POLICY.review_request_patterns,
    POLICY.review_incentive_patterns,
    POLICY.positive_review_patterns,
)


def by_windows_only(
    subject: str,
    text: str | None,
    window: int,
    requests: tuple[str, ...],
    incentives: tuple[str, ...],
    positive: tuple[str, ...],
) -> bool:
    """The rule as written: all three pattern lists in `window` consecutive paragraphs."""
    blocks = [plain(subject)]
    if text:
        blocks += [block for block in re.split(r"\n\s*\n", plain(text)) if block.strip()]
    lists = [compiled(patterns, re.IGNORECASE) for patterns in (requests, incentives, positive)]
    for start in range(max(1, len(blocks) - window + 1)):
        chunk = "\n\n".join(blocks[start : start + window])
        if all(matches_any(patterns, chunk) for patterns in lists):
            return True
    return False


FRAGMENTS = [
    "Leave us a review",
    "leave a 5-star review",
    "rate us",
    "get 20% off",
    "a $10 gift card",
    "free shipping",
    "If you loved it",
    "5 stars",
    "out of 5 stars",
    "Rate your order from 1 to 5 stars",
    "Our new boots are here.",
    "Thanks for your order",
    "Laissez-nous un avis",
    "bon d'achat",
    "",
]

paragraphs = st.lists(
    st.lists(st.sampled_from(FRAGMENTS), max_size=4).map(" ".join), min_size=0, max_size=6
)


@settings(max_examples=400, deadline=None)
@given(
    subject=st.lists(st.sampled_from(FRAGMENTS), max_size=2).map(" ".join),
    body=paragraphs,
    window=st.integers(min_value=1, max_value=4),
)
def test_the_whole_text_first_gives_the_windows_answer(
    subject: str, body: list[str], window: int
) -> None:
    text = "\n\n".join(body) or None
    assert buys_positive_reviews(subject, text, window, *PATTERNS) == by_windows_only(
        subject, text, window, *PATTERNS
    )


def test_a_pattern_anchored_to_a_window_is_still_found_in_its_window() -> None:
    """`^` matches at a window's start, which the whole text does not have there: such a
    policy must be judged by its windows (a search of the whole text would miss this one)."""
    requests = (r"^leave a review",)
    subject, text = "Your order", "Thanks for shopping.\n\nleave a review, get 20% off for 5 stars"
    assert by_windows_only(subject, text, 1, requests, *PATTERNS[1:])
    assert buys_positive_reviews(subject, text, 1, requests, *PATTERNS[1:])


def test_a_lookbehind_at_a_window_edge_is_still_judged_by_its_window() -> None:
    """A lookbehind sees the paragraph break before the window in the whole text, and nothing
    in the window."""
    positive = (r"(?<!\n)5 stars",)
    subject, text = "How did we do?", "We are glad.\n\n5 stars earns a gift card: leave a review"
    assert by_windows_only(subject, text, 1, PATTERNS[0], PATTERNS[1], positive)
    assert buys_positive_reviews(subject, text, 1, PATTERNS[0], PATTERNS[1], positive)
