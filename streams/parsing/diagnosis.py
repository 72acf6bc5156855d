"""Diagnose one failed recipient: its bounce reason and class, from its RFC 3463 status code, its
SMTP reply code, its diagnostic text and its action.

The signals and their order are `streams.parsing.taxonomy`; the reasons and the class each gives
are `streams.core.bounce_reasons`. In short:

1. An enhanced status code that says enough (5.1.1, 5.2.2, 5.7.26, ...) decides the reason. A
   weak one (5.0.0, 5.7.1, 5.4.1, ...) first looks for a precise code inside the diagnostic text
   ("Status: 5.0.0" over "550 5.1.1 <x>: user unknown"), then for a telling phrase, and keeps its
   own reason only when neither is there.
2. Without any code, a telling phrase decides; failing that, the SMTP reply code ("552 ...").
3. The class follows the reason: `hard` only for a dead address, never for a temporary failure
   (a 4.x.x code, a 4xx reply, `Action: delayed`, a free-form warning). A failure whose report
   says neither why nor whether it is final is `undetermined`; one that is final but says
   nothing about why is `undefined` and `soft`, so the soft-bounce policy, not one unexplained
   report, decides when to stop mailing the address.
"""

from __future__ import annotations

import re

from streams.core.bounce_reasons import BounceReason, class_of
from streams.parsing.model import BounceClass
from streams.parsing.taxonomy import (
    TEXT_LIMIT,
    reason_for_reply_code,
    reason_for_status,
    reason_for_text,
)

__all__ = ["classify", "find_status", "normalise_status"]

_STATUS = re.compile(r"^([245])\.(\d{1,3})\.(\d{1,3})$")
# An enhanced code inside free text ("550 5.1.1 <x>: ...", "#5.1.1", "(4.4.7)"); not part of a
# longer dotted number such as an IP address or a version ("8.12.5/8.12.5").
_STATUS_IN_TEXT = re.compile(r"(?<![\w.])([245])\.(\d{1,3})\.(\d{1,3})(?![\w.]|\.\d)")
_TEMPORARY_REPLY = re.compile(r"^\s*4\d\d(?:[\s-]|$)")


def normalise_status(value: str | None) -> str | None:
    """`5.1.1` from a Status field such as `5.1.1 (bad destination)`; None if not a code."""
    if not value:
        return None
    token = value.strip().split(None, 1)[0] if value.strip() else ""
    token = token.strip("()[]#;,")
    match = _STATUS.match(token)
    if not match:
        return find_status(value)
    return ".".join(str(int(group)) for group in match.groups())


def find_status(text: str | None) -> str | None:
    """The first enhanced status code written inside free text, normalised; None if none."""
    if not text:
        return None
    match = _STATUS_IN_TEXT.search(text, 0, TEXT_LIMIT)
    if not match:
        return None
    return ".".join(str(int(group)) for group in match.groups())


def classify(
    status: str | None, text: str | None, *, temporary: bool = False, permanent: bool = False
) -> tuple[BounceClass, BounceReason]:
    """Class and reason of one failed recipient from its code, its diagnostic and its action.

    `temporary` is true for a delay (`Action: delayed`, a free-form warning), `permanent` for a
    final failure (`Action: failed`, a free-form bounce that gave up); the code's class digit
    and a 4xx reply code add to them.
    """
    reason: BounceReason | None
    if status is not None:
        reason, weak = reason_for_status(status)
        if weak:
            inner = find_status(text)
            inner_reason, inner_weak = reason_for_status(inner) if inner else (None, True)
            if inner_reason is not None and not inner_weak:
                reason = inner_reason
            else:
                reason = reason_for_text(text) or reason
                if reason is BounceReason.UNDEFINED:
                    reason = reason_for_reply_code(text) or reason
        temporary = temporary or status.startswith("4")
        permanent = permanent or status.startswith("5")
    else:
        reason = reason_for_text(text) or reason_for_reply_code(text)
    if text and _TEMPORARY_REPLY.match(text) and not permanent:
        temporary = True
    if reason is None or reason is BounceReason.UNDEFINED:
        reason = BounceReason.ON_HOLD if temporary else BounceReason.UNDEFINED
    return class_of(reason, temporary=temporary, permanent=permanent), reason
