"""The policies a replay can decide by, found by the version each decision records.

A decision names its policy as `name@version+fingerprint` (the fingerprint hashes the whole
validated policy), so a file matches only if it is that very policy. The shipped files in
`streams/policies/`, the worker's configured file and any the analyst names are read; a
decision whose policy is not among them is not replayed, and the replay says which version was
missing rather than decide by a look-alike.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from streams.core.errors import SendgateError
from streams.core.settings import Settings
from streams.policy import DEFAULT_POLICY_FILE, Policy, load_policy

__all__ = ["PolicyBook", "policy_book"]


@dataclass
class PolicyBook:
    """Policies by the version a decision records."""

    by_version: dict[str, Policy] = field(default_factory=dict)

    def add(self, policy: Policy) -> None:
        self.by_version.setdefault(policy.policy_version, policy)

    def get(self, version: str) -> Policy | None:
        return self.by_version.get(version)


def _policy_files(directory: Path) -> list[Path]:
    return sorted(path for path in directory.glob("*.toml") if path.is_file())


def policy_book(settings: Settings, extra: Iterable[Path] = ()) -> PolicyBook:
    """The shipped policies, the configured one, and `extra` (files or directories).

    A file named in `extra` must be a valid policy (else `PolicyError` says why); files found
    by looking in a directory that are not policies (the providers table beside them) are
    passed over."""
    book = PolicyBook()
    for path in _policy_files(DEFAULT_POLICY_FILE.parent):
        _add_if_policy(book, path)
    if settings.policy_file is not None:
        book.add(load_policy(settings.policy_file))
    for path in extra:
        if path.is_dir():
            for found in _policy_files(path):
                _add_if_policy(book, found)
        elif path.is_file():
            book.add(load_policy(path))
        else:
            raise SendgateError(f"policy file or directory {path} does not exist")
    return book


def _add_if_policy(book: PolicyBook, path: Path) -> None:
    with contextlib.suppress(SendgateError):
        book.add(load_policy(path))
