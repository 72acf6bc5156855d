"""The project's exception tree, so callers can tell what is retriable.

    SendgateError
    ├── CodecError               a value could not be encoded or decoded (not retriable)
    │   ├── UndecodableError     not single-object framing, or Avro that does not parse
    │   └── UnknownSchemaError   framing is fine but the writer schema's fingerprint is unknown
    ├── InvalidRecordError       decoded, but failed validation (not retriable)
    ├── InputFileError           a CLI input file has a bad row (file, line, field)
    ├── PolicyError              the policy file is missing, unreadable or invalid
    └── ServiceUnavailableError  Kafka or PostgreSQL did not answer (retriable)

Records that raise the first three go to the dead-letter topic with the error's message as reason;
the error kind names the `DeadLetter.error_kind` symbol.
"""

from __future__ import annotations

__all__ = [
    "CodecError",
    "InputFileError",
    "InvalidRecordError",
    "PolicyError",
    "SendgateError",
    "ServiceUnavailableError",
    "UndecodableError",
    "UnknownSchemaError",
]


class SendgateError(Exception):
    """Base of every error sendgate raises on purpose."""


class CodecError(SendgateError):
    """A value could not be encoded or decoded."""

    error_kind = "undecodable"


class UndecodableError(CodecError):
    """The bytes are not single-object encoded Avro, or the Avro body is broken."""

    error_kind = "undecodable"


class UnknownSchemaError(CodecError):
    """The framing is right but no schema of ours has that fingerprint."""

    error_kind = "unknown_schema"


class InvalidRecordError(SendgateError):
    """The record decoded but its values break the record's rules."""

    error_kind = "invalid"


class InputFileError(SendgateError):
    """A row of an input file is bad; the message names file, line and field."""

    def __init__(self, file: str, line: int, field: str, problem: str) -> None:
        super().__init__(f"{file}:{line}: field '{field}': {problem}")
        self.file = file
        self.line = line
        self.field = field
        self.problem = problem


class PolicyError(SendgateError):
    """The policy file is missing, unreadable or invalid."""


class ServiceUnavailableError(SendgateError):
    """Kafka or PostgreSQL could not be reached; retrying later may work."""
