"""Shared fixtures for the pure unit tests: the codec, the default policy and the golden files.

Golden files (`tests/data/golden/<schema>.v<N>.bin` + `.json`, written once by
`tests/data/golden/make_golden.py`) are offered to any test that takes a `golden` argument: the
test runs once per `.bin` file.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from streams.core.codec import Codec
from streams.core.records import Record
from streams.policy import Policy, load_policy
from streams.rules.inputs import DecisionInputs
from streams.topics import all_record_types, default_codec

GOLDEN_DIR = Path(__file__).resolve().parent.parent / "data" / "golden"
_GOLDEN_NAME = re.compile(r"^(?P<schema>[a-z0-9_]+)\.v(?P<version>[1-9][0-9]*)\.bin$")
# DecisionInputs travels inside SendDecision.inputs (encoded on its own), not as a topic's value.
_RECORD_TYPES_BY_NAME = {
    record_type.AVRO_NAME: record_type for record_type in (*all_record_types(), DecisionInputs)
}


@dataclass(frozen=True)
class Golden:
    """One golden value: the bytes a schema version wrote, and the record they must decode to."""

    schema: str
    version: int
    bin_path: Path
    json_path: Path

    @property
    def id(self) -> str:
        return f"{self.schema}.v{self.version}"

    def data(self) -> bytes:
        return self.bin_path.read_bytes()

    def record_type(self) -> type[Record]:
        return _RECORD_TYPES_BY_NAME[self._sample()["record"]]

    def sample(self) -> Record:
        """The record the `.json` file describes, validated by its current record type."""
        return self.record_type().model_validate(self._sample()["value"])

    def _sample(self) -> dict[str, Any]:
        return json.loads(self.json_path.read_text(encoding="utf-8"), object_hook=_from_json)


def _from_json(obj: dict[str, Any]) -> Any:
    """Bytes are written as {"$bytes_hex": "..."} (see make_golden.py); everything else is plain."""
    if obj.keys() == {"$bytes_hex"}:
        return bytes.fromhex(obj["$bytes_hex"])
    return obj


def golden_files() -> list[Golden]:
    found = []
    for path in sorted(GOLDEN_DIR.glob("*.bin")):
        match = _GOLDEN_NAME.match(path.name)
        if match is None:
            raise ValueError(f"golden file {path.name} is not named <schema>.v<N>.bin")
        found.append(
            Golden(
                schema=match["schema"],
                version=int(match["version"]),
                bin_path=path,
                json_path=path.with_suffix(".json"),
            )
        )
    return found


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "golden" in metafunc.fixturenames:
        files = golden_files()
        metafunc.parametrize("golden", files, ids=[golden.id for golden in files])


@pytest.fixture(scope="session")
def all_golden() -> list[Golden]:
    return golden_files()


@pytest.fixture(scope="session")
def codec() -> Codec:
    return default_codec()


@pytest.fixture(scope="session")
def policy() -> Policy:
    return load_policy()
