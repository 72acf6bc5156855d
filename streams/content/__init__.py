"""Message content: the facts a send request carries about its message, and the policy they are
judged by (`ContentPolicy`). The rules themselves are in `streams.rules.content`."""

from __future__ import annotations

from streams.content.policy import ContentPolicy, SubjectPattern

__all__ = ["ContentPolicy", "SubjectPattern"]
