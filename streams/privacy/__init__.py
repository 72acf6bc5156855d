"""A person's rights over their data: what an erasure or a corrected address does to the gate's
state, decided on plain records.

An erasure reaches the gate as a platform suppression with reason `erasure` on the topic every
suppression takes, so the state fence orders it like any unsubscribe. The suppression keeper then
deletes the person's other state in the same step (`erasure.erased_tables`), and from then on the
keepers ignore what happened to the person before the erasure (`erasure.predates_erasure`): a
late or replayed event does not bring back what was erased.

A corrected address (Art. 16) moves the person's live consents to the new recipient key as new
consent events, and leaves the old key's suppressions where they are (`rectification`).

Pure: no Kafka, no tables.
"""
