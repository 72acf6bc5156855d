"""Content rules: who a message says it is from, how it is authenticated, and what commercial mail
must say, judged on the facts a send request carries (`SendRequest.body`,
`SendRequest.authentication`, the headers), before anyone receives the message.

Which messages each group judges, one module each, every check beside its rule:
- `sender`: every message. The From is one valid mailbox at one of the account's verified
  domains, a Reply-To likewise, no display name posing as another address or domain; bulk mail
  not From a free-mail domain.
- `authentication`: bulk mail (`send_kind == "bulk"`), the bulk-sender rules of Gmail and Yahoo
  (February 2024): SPF and DKIM, DMARC, From aligned with one of them, and for commercial bulk
  mail the list headers signed by DKIM.
- `commercial`: commercial mail (`SendRequest.commercial`): a sender name, a postal address, a
  visible unsubscribe mechanism, and where the policy asks, identification as an advertisement
  and a permission reminder; `body-facts-missing` when commercial bulk mail comes without the
  body facts those rules read.
- `subject`: commercial mail: no fake "Re:"/"Fwd:", no subject posing as a transactional notice.
- `reviews`: every message: no incentive for positive reviews only (16 CFR 465.4 covers
  transactional mail too).

Where the reading is done
The code that reads the message is pure and lives beside the content policy
(`streams.content.policy`): `streams.content.sender` (From and Reply-To mailboxes, display names,
domain alignment), `streams.content.body` (postal address, unsubscribe mechanism, advertisement
label, permission reminder, review incentive) and `streams.content.subject` (reply prefixes,
transactional-looking subjects). These modules keep what is the gate's to say: when each rule
judges, and the explanation it gives. Explanations name the sender's own domains and the rule's
reason; they never quote the body, the recipient's address or the subject (a personalised subject
may hold the address), except a reply prefix ("Re").
"""

from __future__ import annotations

from streams.rules.base import Rule
from streams.rules.content.authentication import (
    BULK_AUTHENTICATION_MISSING,
    BULK_DMARC_MISSING,
    BULK_FROM_NOT_ALIGNED,
    LIST_UNSUBSCRIBE_NOT_SIGNED,
)
from streams.rules.content.commercial import (
    AD_IDENTIFICATION_MISSING,
    BODY_FACTS_MISSING,
    PERMISSION_REMINDER_MISSING,
    POSTAL_ADDRESS_MISSING,
    SENDER_NAME_MISSING,
    UNSUBSCRIBE_MECHANISM_MISSING,
)
from streams.rules.content.reviews import REVIEW_INCENTIVE_FOR_POSITIVE_REVIEW
from streams.rules.content.sender import (
    ACCOUNT_STATE_RULES,
    DISPLAY_NAME_SPOOFED,
    FROM_ADDRESS_INVALID,
    FROM_DOMAIN_NOT_VERIFIED,
    FROM_FREE_MAIL_DOMAIN,
    REPLY_TO_DOMAIN_NOT_VERIFIED,
)
from streams.rules.content.subject import SUBJECT_FAKE_REPLY, SUBJECT_LOOKS_TRANSACTIONAL

__all__ = [
    "ACCOUNT_STATE_RULES",
    "AD_IDENTIFICATION_MISSING",
    "BODY_FACTS_MISSING",
    "BULK_AUTHENTICATION_MISSING",
    "BULK_DMARC_MISSING",
    "BULK_FROM_NOT_ALIGNED",
    "CONTENT_RULES",
    "DISPLAY_NAME_SPOOFED",
    "FROM_ADDRESS_INVALID",
    "FROM_DOMAIN_NOT_VERIFIED",
    "FROM_FREE_MAIL_DOMAIN",
    "LIST_UNSUBSCRIBE_NOT_SIGNED",
    "PERMISSION_REMINDER_MISSING",
    "POSTAL_ADDRESS_MISSING",
    "REPLY_TO_DOMAIN_NOT_VERIFIED",
    "REVIEW_INCENTIVE_FOR_POSITIVE_REVIEW",
    "SENDER_NAME_MISSING",
    "SUBJECT_FAKE_REPLY",
    "SUBJECT_LOOKS_TRANSACTIONAL",
    "UNSUBSCRIBE_MECHANISM_MISSING",
]

CONTENT_RULES: tuple[Rule, ...] = (
    # Every message: who it is from.
    FROM_ADDRESS_INVALID,
    FROM_DOMAIN_NOT_VERIFIED,
    REPLY_TO_DOMAIN_NOT_VERIFIED,
    FROM_FREE_MAIL_DOMAIN,
    DISPLAY_NAME_SPOOFED,
    # Bulk mail: how it is authenticated.
    BULK_AUTHENTICATION_MISSING,
    BULK_FROM_NOT_ALIGNED,
    BULK_DMARC_MISSING,
    LIST_UNSUBSCRIBE_NOT_SIGNED,
    # Commercial mail: what it must say, and must not.
    BODY_FACTS_MISSING,
    SENDER_NAME_MISSING,
    POSTAL_ADDRESS_MISSING,
    UNSUBSCRIBE_MECHANISM_MISSING,
    AD_IDENTIFICATION_MISSING,
    SUBJECT_FAKE_REPLY,
    SUBJECT_LOOKS_TRANSACTIONAL,
    PERMISSION_REMINDER_MISSING,
    # Every message: what it offers for reviews.
    REVIEW_INCENTIVE_FOR_POSITIVE_REVIEW,
)
"""Every content rule, in the order the gate's table lists them (`streams.rules`): the policy's
reading order, and the order a decision lists their failures in."""
