"""The content rules' findings, remembered per message content.

A broadcast sends one template to many people, and the content rules (who the message is from,
how it is authenticated, what its subject and body say, whether transactional mail carries
marketing) judge the message, not the person: the same content, the same account's verified
domains and the same policy always give the same findings. A replay decides whole days of such
traffic again, so it judges each content once (`judge(..., content=ContentFindings())`).

What a content rule may read is therefore part of the key: every field of the request a content
rule reads (account, list, classification, promotional content, send kind, From, Reply-To,
subject, headers, body facts, authentication) and the account's verified domains. One content
rule also reads the person's consent (an advertisement label is not required for someone who
opted in expressly, CAN-SPAM §7704(a)(5)(B)); it stays out of the memo and is judged every time.
`tests/unit/test_replay.py` decides random requests with and without the memo and compares the
bytes, and `sendgate replay verify` compares every memo-judged decision with the gate's own.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable

from streams.core.records import RuleFailure, SendRequest
from streams.policy import Policy
from streams.rules.base import RecipientView, Rule
from streams.rules.content import AD_IDENTIFICATION_MISSING, CONTENT_RULES
from streams.rules.misuse import TRANSACTIONAL_MISUSE

__all__ = ["MEMO_RULES", "ContentFindings", "content_key"]

MEMO_RULES: frozenset[str] = frozenset(
    rule.name
    for rule in (*CONTENT_RULES, TRANSACTIONAL_MISUSE)
    if rule is not AD_IDENTIFICATION_MISSING
)
"""The rules judged once per content: every content rule but the one that reads consent."""

_RULES: tuple[Rule, ...] = tuple(
    rule for rule in (*CONTENT_RULES, TRANSACTIONAL_MISUSE) if rule.name in MEMO_RULES
)

Assessed = tuple[RuleFailure, object] | None


def content_key(request: SendRequest, view: RecipientView) -> Hashable:
    """Everything a remembered rule reads."""
    return (
        request.account_id,
        request.list_id,
        request.classification,
        request.promotional_content,
        request.send_kind,
        request.from_address,
        request.reply_to,
        request.subject,
        tuple(request.headers.items()),
        request.body,
        request.authentication,
        view.sender_domains,
    )


class ContentFindings:
    """The remembered rules' findings by content and policy, the least recently used out."""

    def __init__(self, entries: int = 4096) -> None:
        self._entries = entries
        self._found: OrderedDict[tuple[Hashable, str], dict[str, Assessed]] = OrderedDict()
        self.hits = 0
        self.misses = 0

    def findings(
        self, request: SendRequest, view: RecipientView, policy: Policy
    ) -> dict[str, Assessed]:
        """Each remembered rule's finding (None: it passed) for this request's content."""
        key = (content_key(request, view), policy.policy_version)
        found = self._found.get(key)
        if found is not None:
            self._found.move_to_end(key)
            self.hits += 1
            return found
        self.misses += 1
        found = {rule.name: rule.assess(request, view, policy) for rule in _RULES}
        self._found[key] = found
        if len(self._found) > self._entries:
            self._found.popitem(last=False)
        return found
