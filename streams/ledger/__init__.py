"""The durable ledger: decisions, suppression and bounce changes, feedback reports and consent
events in PostgreSQL (SQLite for the demo).

`models` defines the tables, `migrations` creates them (`migrate.upgrade`), `catalogue` says which
topic lands in which table, `writer` stores batches idempotently by Kafka coordinates together
with the ledger's offsets, and `sink` feeds the writer from the topics. `chain` hash-chains each
recipient's consent events, and `proof` reads them back as the proof of consent.
"""

from streams.ledger.catalogue import LEDGER_TOPICS, LedgerTopic
from streams.ledger.engine import make_engine
from streams.ledger.migrate import upgrade
from streams.ledger.models import (
    BounceChangeRow,
    ConsentEventRow,
    ConsumerOffset,
    FeedbackReportRow,
    SendDecisionRow,
    SuppressionChangeRow,
    UtcDateTime,
    metadata,
)
from streams.ledger.sink import SinkProgress, ledger_consumer_group, ledger_counts, run_ledger_sink
from streams.ledger.writer import LedgerItem, LedgerWriter, read_offsets

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
