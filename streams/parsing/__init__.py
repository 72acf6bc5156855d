"""Parse inbound mail (RFC 3464 DSNs, RFC 5965 feedback reports, RFC 3834 auto-replies, replies).

A pure package: no Kafka, no I/O. `parse_message(raw)` is the one entry point; the modules:

* `model`: the frozen result records;
* `mime`: bounded, defensive MIME reading;
* `dsn`: RFC 3464 delivery-status fields; `freeform`: non-standard bounces (with flufl.bounce);
* `arf`: RFC 5965 and ISP feedback formats; `replies`: auto-replies, challenges, unsubscribe asks;
* `taxonomy`: the bounce reasons, by RFC 3463 status code and by diagnostic phrase;
* `diagnosis`: a failed recipient's bounce class and reason, from its code, text and action;
* `original`: Message-ID, send request id, account and VERP token of the original message;
* `classify`: the order in which the above decide the kind.
"""

from streams.core.bounce_reasons import BounceReason as Reason
from streams.parsing.classify import parse_message
from streams.parsing.model import (
    AutoReplyDetails,
    BounceClass,
    FeedbackDetails,
    FeedbackType,
    Kind,
    OriginalMessage,
    ParsedMessage,
    RecipientOutcome,
    ReplyDetails,
)
from streams.parsing.replies import DEFAULT_UNSUBSCRIBE_KEYWORDS

__all__ = [
    "DEFAULT_UNSUBSCRIBE_KEYWORDS",
    "AutoReplyDetails",
    "BounceClass",
    "FeedbackDetails",
    "FeedbackType",
    "Kind",
    "OriginalMessage",
    "ParsedMessage",
    "Reason",
    "RecipientOutcome",
    "ReplyDetails",
    "parse_message",
]
