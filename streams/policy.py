"""Load and validate the policy file: the thresholds and lists the gate decides by.

The policy is TOML (comments let it explain itself). Every key has a documented default below, so
a policy file only states where it differs. The policy version that decisions carry is the file's
`name@version` plus a hash of its validated content, so two files that say the same thing under
the same version cannot be told apart, and a silent edit changes the version.
"""

from __future__ import annotations

import hashlib
import json
import tomllib
from functools import cached_property
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from streams.errors import PolicyError

__all__ = ["DEFAULT_POLICY_FILE", "Policy", "load_policy"]

DEFAULT_POLICY_FILE = Path(__file__).resolve().parent / "policies" / "default.toml"


class Policy(BaseModel):
    """Validated policy; frozen so a running gate cannot drift from its version."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1, strict=True)
    version: str = Field(min_length=1, strict=True)
    role_local_parts: frozenset[str] = Field(
        default=frozenset({"abuse", "postmaster", "info", "sales", "support", "noreply"}),
        description="Local parts of role addresses; commercial mail to them is denied.",
    )
    transactional_honors_opt_outs_by_default: bool = Field(
        default=False,
        strict=True,
        description="Whether transactional sends honour list/account unsubscribes by default.",
    )

    @field_validator("role_local_parts")
    @classmethod
    def _lower_case(cls, parts: frozenset[str]) -> frozenset[str]:
        return frozenset(part.strip().lower() for part in parts)

    def model_copy(self, *, update: dict[str, Any] | None = None, deep: bool = False) -> Policy:
        """A copy is validated anew, so it cannot carry its parent's cached version."""
        return type(self).model_validate({**self.model_dump(), **(update or {})})

    @cached_property
    def fingerprint(self) -> str:
        # Sets dump in hash order, which changes between processes: sort them first.
        fields = {
            key: sorted(value) if isinstance(value, frozenset) else value
            for key, value in self.model_dump().items()
        }
        content = json.dumps(fields, sort_keys=True)
        return hashlib.sha256(content.encode()).hexdigest()[:12]

    @property
    def policy_version(self) -> str:
        return f"{self.name}@{self.version}+{self.fingerprint}"


def load_policy(path: Path | None = None) -> Policy:
    """Read and validate a policy file; `PolicyError` says what is wrong and where."""
    path = path or DEFAULT_POLICY_FILE
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise PolicyError(f"policy file not found: {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise PolicyError(f"cannot read policy file {path}: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise PolicyError(f"policy file {path} is not valid TOML: {exc}") from None
    try:
        return Policy.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()
        )
        raise PolicyError(f"policy file {path} is invalid: {problems}") from None
