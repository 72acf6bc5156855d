"""Every fuzz target by name, each built on first use (a worker process builds only its own)."""

from __future__ import annotations

import importlib
from functools import cache

from fuzzing.engine import Target

__all__ = ["TARGET_NAMES", "get_target"]

_MODULES = {
    "parser": "fuzzing.parser",
    "codec": "fuzzing.codec",
    "token": "fuzzing.tokens",
    "one-click": "fuzzing.one_click",
    "intake": "fuzzing.intake",
    "publish": "fuzzing.publish",
}
TARGET_NAMES = tuple(_MODULES)


@cache
def get_target(name: str) -> Target:
    target: Target = importlib.import_module(_MODULES[name]).target()
    return target
