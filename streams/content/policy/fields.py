"""The content policy's value types, validated as a policy file is loaded.

A pattern is a Python regular expression (`re`), refused at load time when it does not compile,
rather than at the first send; a phrase is plain words, matched case-insensitively on whole words
(`streams.content.text`); a subject pattern carries the sentence that tells the sender why such a
subject misleads.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

__all__ = ["Pattern", "Phrase", "SubjectPattern"]


def _compiles(pattern: str) -> str:
    """A pattern that `re` cannot compile is refused with the reason."""
    try:
        re.compile(pattern)
    except re.error as exc:
        raise ValueError(f"{pattern!r} is not a valid regular expression: {exc}") from None
    return pattern


Pattern = Annotated[str, Field(min_length=1, max_length=1000), AfterValidator(_compiles)]
Phrase = Annotated[str, Field(min_length=1, max_length=200)]


class SubjectPattern(BaseModel):
    """A subject that would mislead on a commercial message, and what to tell the sender."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    pattern: Pattern
    """Matched case-insensitively anywhere in the subject."""
    explanation: str = Field(min_length=1, max_length=500)
    """Why such a subject misleads, said to the sender (e.g. "looks like a shipping notice")."""
