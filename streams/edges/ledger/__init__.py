"""The durable ledger: decisions, suppression and bounce changes, feedback reports and consent
events in PostgreSQL (SQLite for the demo).

`models` defines the tables, `migrations` creates them (`migrate.upgrade`), `catalogue` says which
topic lands in which table, `writer` stores batches idempotently by Kafka coordinates together
with the ledger's offsets, and `sink` feeds the writer from the topics. `chain` hash-chains each
recipient's consent events, and `proof` reads them back as the proof of consent.

The sink's names load the Kafka client only when asked for, so reading the ledger (`sendgate
consent proof`) needs no broker library.
"""

from typing import Any

from streams.edges.ledger.catalogue import LEDGER_TOPICS, LedgerTopic
from streams.edges.ledger.engine import make_engine
from streams.edges.ledger.migrate import upgrade
from streams.edges.ledger.models import (
    BounceChangeRow,
    ConsentEventRow,
    ConsumerOffset,
    FeedbackReportRow,
    SendDecisionRow,
    SuppressionChangeRow,
    UtcDateTime,
    metadata,
)
from streams.edges.ledger.writer import LedgerItem, LedgerWriter, read_offsets

__all__ = [
    "LEDGER_TOPICS",
    "BounceChangeRow",
    "ConsentEventRow",
    "ConsumerOffset",
    "FeedbackReportRow",
    "LedgerItem",
    "LedgerTopic",
    "LedgerWriter",
    "SendDecisionRow",
    "SinkProgress",
    "SuppressionChangeRow",
    "UtcDateTime",
    "ledger_consumer_group",
    "ledger_counts",
    "make_engine",
    "metadata",
    "read_offsets",
    "run_ledger_sink",
    "upgrade",
]

_FROM_SINK = frozenset(
    {"SinkProgress", "ledger_consumer_group", "ledger_counts", "run_ledger_sink"}
)


def __getattr__(name: str) -> Any:
    if name in _FROM_SINK:
        from streams.edges.ledger import sink

        return getattr(sink, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
