"""The content policy: the switches, phrase lists and patterns the content rules judge a message by.

Each default says where it comes from (`ContentPolicy`). Phrase lists are matched
case-insensitively, on whole words, with any run of white space standing for a space and
typographic apostrophes for `'`; patterns are Python regular expressions (`re`), validated here so
a policy file with a broken one is refused at load time rather than at the first send.
`streams.content.text` compiles each list once and keeps the compiled form.
"""

from __future__ import annotations

from streams.content.policy.fields import SubjectPattern
from streams.content.policy.model import ContentPolicy

__all__ = ["ContentPolicy", "SubjectPattern"]
