"""Personalised bodies: a twin of every send as a mail merge writes it, for the gate's (d) run.

The plain workload sends one body per account and classification, and the gate's content readers
cache what they read by text, so the plain run reads each template once. A real sender's bodies
differ per recipient; the twins make every subject and body distinct, so the (d) figure holds the
cost of reading each message.
"""

from __future__ import annotations

import hashlib

from harness.content import check_content_compliant
from harness.errors import BenchError
from harness.report import console

from streams.core.records import BodyLink, MessageBody, SendRequest
from streams.policy import Policy
from streams.topics import default_codec

__all__ = ["PERSONALISED_SUFFIX", "personalise", "personalised_sends"]

PERSONALISED_SUFFIX = "-p"
"""Appended to a send's request id for its personalised twin."""
_CHECK_BATCH = 5000


def personalise(request: SendRequest, number: int, seed: int) -> SendRequest:
    """The same send as a mail merge writes it: the recipient's first name, a reference number
    of this message and a link token of this recipient woven into the template's subject, text
    and links.

    The plain workload sends one body per (account, classification), and the gate's content
    readers cache what they read by text, so (c) reads each template once and looks the rest up.
    A real sender's bodies differ per recipient; this twin makes every subject and body distinct,
    so the figure holds the cost of reading each message. Recipient, account, list and
    classification stay as they are, so the gate must decide the twin as it decided the send.
    """
    if request.body is None:
        raise BenchError(f"{request.request_id} carries no body to personalise")
    reference = 100_000 + number
    local = request.recipient.partition("@")[0]
    first = local.split(".")[0].rstrip("0123456789").title() if "." in local else None
    token = hashlib.blake2b(
        f"{seed}:{request.recipient}:{number}".encode(), digest_size=8
    ).hexdigest()
    if request.classification == "commercial" and first:
        subject = f"{first}, {request.subject[:1].lower()}{request.subject[1:]} (ref. {reference})"
    else:
        subject = f"{request.subject} (ref. {reference})"
    greeting = f"Hi {first}," if first else "Hello,"
    if request.classification == "commercial":
        closing = f"Your member reference: {reference}."
    else:
        closing = f"This is about your order {reference}."
    body = MessageBody(
        text=f"{greeting}\n{request.body.text}\n{closing}",
        links=tuple(
            BodyLink(url=f"{link.url}?r={token}", text=link.text) for link in request.body.links
        ),
    )
    fields = dict(request)
    fields.update(
        request_id=f"{request.request_id}{PERSONALISED_SUFFIX}", subject=subject, body=body
    )
    return SendRequest(**fields)


def personalised_sends(
    sends: list[tuple[bytes, bytes]], *, seed: int, policy: Policy
) -> list[tuple[bytes, bytes]]:
    """The personalised twin of every send, same key (so same partition and recipient state).

    Every twin goes through the pure content rules before anything is sent, not one per kind as
    for the plain sends: what varies is the text the rules read, so each one could differ.
    """
    codec = default_codec()
    twins: list[tuple[bytes, bytes]] = []
    batch: list[SendRequest] = []
    with console.status(f"personalising and checking {len(sends):,} send requests"):
        for number, (key, value) in enumerate(sends):
            twin = personalise(codec.decode(value, SendRequest), number, seed)
            batch.append(twin)
            twins.append((key, codec.encode(twin)))
            if len(batch) >= _CHECK_BATCH or number == len(sends) - 1:
                check_content_compliant(batch, policy, what="personalised sends")
                batch.clear()
    return twins
