"""Read a policy file (the gate's policy, the provider map): TOML into a validated model.

Both are data an operator edits, so every way one can be wrong is a `PolicyError` that names the
file and says what is wrong: missing, unreadable, not TOML, or values the model refuses (each
with the dotted key it concerns). A section may name one of its presets (`preset_named`).
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from streams.core.errors import PolicyError

__all__ = ["load_policy_file", "preset_named"]

M = TypeVar("M", bound=BaseModel)
P = TypeVar("P")


def load_policy_file(path: Path, model: type[M], *, what: str) -> M:
    """The file at `path` read as TOML and validated as `model`; `what` names the kind of file
    in the error (`policy`, `providers`)."""
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise PolicyError(f"{what} file not found: {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise PolicyError(f"cannot read {what} file {path}: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise PolicyError(f"{what} file {path} is not valid TOML: {exc}") from None
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        raise PolicyError(f"{what} file {path} is invalid: {_problems(exc)}") from None


def _problems(exc: ValidationError) -> str:
    """Each refused value as `dotted.key: message`; a check of the whole file has no key."""
    return "; ".join(
        f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" if err["loc"] else err["msg"]
        for err in exc.errors()
    )


def preset_named(presets: Mapping[str, P], name: Any) -> P:
    """The preset a section names (`{ preset = "..." }`); an unknown name is a ValueError that
    lists the known ones, so the policy file's error says what would have been accepted."""
    try:
        return presets[name]
    except KeyError:
        raise ValueError(f"unknown preset {name!r}; one of {sorted(presets)}") from None
