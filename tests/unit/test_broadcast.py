"""A worker's copy of a whole topic: the latest usable value per key (streams.broadcast)."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import partial

from streams.broadcast import TopicCopy
from streams.codec import default_codec
from streams.domains import domains_of_record
from tests.support.content import verified_domains

AT = datetime(2026, 11, 23, tzinfo=UTC)


def test_the_latest_record_of_a_key_wins_and_unusable_ones_change_nothing() -> None:
    codec = default_codec()
    copy: TopicCopy[frozenset[str]] = TopicCopy(
        "127.0.0.1:1", "sender-domains", 4, partial(domains_of_record, codec)
    )
    first = codec.encode(verified_domains("acme", "acme.example", at=AT))
    second = codec.encode(verified_domains("acme", "acme.example", "mail.acme.example", at=AT))
    copy.apply(b"acme", first)
    copy.apply(b"acme", second)
    copy.apply(b"acme", b"not avro")  # undecodable: the agent dead-letters it
    copy.apply(b"globex", second)  # keyed by another account than it names
    copy.apply(None, second)
    assert copy.get(b"acme") == frozenset({"acme.example", "mail.acme.example"})
    assert copy.get(b"globex") is None
    assert not copy.ready.is_set()
