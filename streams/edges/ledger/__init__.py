"""The durable ledger: decisions, suppression and bounce changes, feedback reports, consent
events, enforcement events and erasures in PostgreSQL (SQLite for the demo).

`models` defines the tables, `migrations` creates them (`migrate.upgrade`), `catalogue` says which
topic lands in which table and what identifies its rows, `writer` stores batches idempotently
together with the ledger's offsets (`identity` telling a replay from a conflict), and `sink` feeds
the writer from the topics and dead-letters the conflicts. `chain` hash-chains each
recipient's consent events, and `proof` reads them back as the proof of consent; `subject_access`
reads every table by one recipient key, for the person's own copy of what is held about them.
`redaction` carries erasure requests out, and `erasures` reads where an erasure stands.

Identities. Every row is unique on its Kafka coordinates (the same record read again adds
nothing). Most are also unique on the event they record, scoped the way that event's id is issued,
so the same event published again at other coordinates adds nothing either, while two events that
merely share an id are both kept (`catalogue.LedgerTopic.identity`):
- `consent_events`: (account_id, event_id). Accounts choose their event ids (a form post's id, an
  import's row), so two accounts, or two deployments sharing a database, can use one id for
  different events; the bare id would lose one of them, and with it proof of consent.
- `bounce_changes`: (recipient_key, event_id). The bounce keeper tells delivery events apart per
  recipient (the ids it applied are part of each recipient's state), so one delivery id reported
  for two recipients is two changes.
- `suppression_changes`: source, the click's Kafka coordinates. They name one click of one
  deployment (the topic name carries its prefix), so they are global already.
- `feedback_reports`: report_id. The platform issues it (a digest of the inbound message, or of
  the unsubscribe token), never an account, so it is global.
- `enforcement_events`: event_id. The enforcer derives it from the cause, account or breach
  included, so it is global.
- `address_corrections`: correction_id. Corrections are the platform's (its support desk,
  `sendgate rectify`), one id per correction.
- `erasures`: request_id, and `erasure_steps`: event_id (`<request_id>/<kind>`). Erasure requests
  are the platform's (a data-protection desk, `sendgate erase`), one id per request.
- `send_decisions`: (account_id, request_id, kafka_topic). Request ids are the senders', per
  account; the topic, whose name carries the deployment's prefix, keeps apart deployments (and
  demo runs) that share a database and reuse ids. Unlike the others, a second record of a request
  is not the same event reported again but the gate deciding it again (at-least-once: the request
  published twice, or re-read after a commit the broker never took), made on the state of its
  moment, so it may differ and always carries new tokens and a new time. Comparing it would make
  it a conflict, and dropping it would lose a record; instead `send_decisions` keeps the first
  (the lowest offset: both copies are on the recipient's partition, which the sink writes in
  order) as the request's one decision, and every later one goes whole to
  `send_decision_repeats` (unique by coordinates only, so a replay adds nothing there either),
  with `same_decision` saying whether it came to the same verdict and rules
  (`catalogue.LedgerTopic.repeats`). The first is kept, not the latest: it is the decision a
  mailer that acts on a request id once has acted on, and the ledger never rewrites a row it
  stored. Decisions and repeats together are the topic, record for record.
Deployments sharing one database keep apart by their topic prefix, which the topic names in the
coordinates, the click sources, the decisions' identity and the ledger's consumer group all
carry. Consent events are the exception: their identity is the account's, so two deployments
sharing a database and an account name, and reusing an event id, meet as a conflict (dead-lettered
with its reason, never dropped); give each deployment its own database, or its own account names.

Same content. When a row's identity is stored already, the two are compared by a digest
(`identity.content_digest`) of every column the record fills, leaving out what the ledger adds
(row id, Kafka coordinates, chain columns) and the columns a keeper legitimately changes when it
reports one event again after a crash (`catalogue.LedgerTopic.varying`: a suppression change's
outcome and time; everything of a bounce change but its recipient and event id, since the keeper
itself says "replayed"; a feedback report's receipt time and source, since a report its sender
delivered twice is one report read from two inbound records). Equal digests are a replay and
change nothing; different ones are a conflict: the stored row stands (a proof or a chain never
changes under it) and the newcomer goes to dead-letters with a reason naming both and the
differing columns (`writer`, `sink`). A decision is compared only with what is stored at its own
coordinates (the same record again, or another one if the topic was created anew); at other
coordinates it is a repeat, never a conflict.

Erasure. The ledger copies `erasure-requests` into `erasures` and carries each new request out
in the same transaction (`redaction`): the person's data in clear, which the catalogue names per
table (`LedgerTopic.personal`: a consent event's IP address, user agent and source id, a feedback
report's Message-ID), is set to NULL with `erased_at`, and rows are never deleted. Every table
keeps the recipient key, a keyed hash: pseudonymous, not anonymous, and the erasure's report
says so. Consent events are chained through a salted commitment to those fields (`chain`, format
2), so the chain verifies after they are gone; rows chained before the commitment (format 1) keep
their place and link, and the proof names them unchecked once erased. The step the ledger took
(`ErasureEvent` `ledger_erased`, place by place) is on `erasure-events` before the redaction
commits (`sink`), and the ledger copies that topic too (`erasure_steps`), so `erasures` reads an
erasure's status from the database alone.

The sink's names load the Kafka client only when asked for, so reading the ledger (`sendgate
consent proof`) needs no broker library.
"""

from typing import Any

from streams.edges.ledger.catalogue import LEDGER_TOPICS, LedgerTopic
from streams.edges.ledger.engine import make_engine
from streams.edges.ledger.erasures import ErasureStatus, erasure_status
from streams.edges.ledger.migrate import upgrade
from streams.edges.ledger.models import (
    BounceChangeRow,
    ConsentEventRow,
    ConsumerOffset,
    ErasureRow,
    ErasureStepRow,
    FeedbackReportRow,
    SendDecisionRepeatRow,
    SendDecisionRow,
    SuppressionChangeRow,
    UtcDateTime,
    metadata,
)
from streams.edges.ledger.writer import (
    LedgerConflict,
    LedgerConflictError,
    LedgerErasureError,
    LedgerItem,
    LedgerWriter,
    read_offsets,
)

__all__ = [
    "LEDGER_TOPICS",
    "BounceChangeRow",
    "ConsentEventRow",
    "ConsumerOffset",
    "ErasureRow",
    "ErasureStatus",
    "ErasureStepRow",
    "FeedbackReportRow",
    "LedgerConflict",
    "LedgerConflictError",
    "LedgerErasureError",
    "LedgerItem",
    "LedgerTopic",
    "LedgerWriter",
    "SendDecisionRepeatRow",
    "SendDecisionRow",
    "SinkProgress",
    "SuppressionChangeRow",
    "UtcDateTime",
    "erasure_status",
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
