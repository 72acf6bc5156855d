"""Integration tests run against the real Kafka broker and PostgreSQL that scripts/services starts.

An unreachable service is a failure, never a skip: these tests exist to prove the gate on the real
thing. Each test gets its own topic prefix (and so its own topics, consumer group and changelog),
so tests neither see each other's records nor need a clean broker.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import SecretStr

from streams.core.settings import Settings
from streams.edges.ledger import upgrade
from tests.support.postgres import scratch_database

KAFKA = os.environ.get("SENDGATE_KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092")
DATABASE_URL = os.environ.get(
    "SENDGATE_DATABASE_URL", "postgresql+psycopg://sendgate:sendgate@127.0.0.1:54329/sendgate"
)


def _reachable(host_port: str) -> bool:
    host, _, port = host_port.split(",")[0].rpartition(":")
    try:
        with socket.create_connection((host, int(port)), timeout=3):
            return True
    except OSError:
        return False


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/integration" in str(item.path):
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def kafka_bootstrap() -> str:
    if not _reachable(KAFKA):
        pytest.fail(
            f"Kafka broker at {KAFKA} is not reachable: start it with `scripts/services start` "
            "(integration tests never skip)"
        )
    return KAFKA


@pytest.fixture(scope="session")
def database_url() -> str:
    host_port = DATABASE_URL.split("@", 1)[1].split("/", 1)[0]
    if not _reachable(host_port):
        pytest.fail(
            f"PostgreSQL at {host_port} is not reachable: start it with `scripts/services start` "
            "(integration tests never skip)"
        )
    return DATABASE_URL


@pytest.fixture
def settings(kafka_bootstrap: str, tmp_path: Path) -> Settings:
    """Settings of one test: its own topic prefix, data folder and recipient key secret."""
    return Settings(
        kafka_bootstrap_servers=kafka_bootstrap,
        topic_prefix=f"t{uuid.uuid4().hex[:10]}-",
        topic_partitions=4,
        data_dir=tmp_path / "data",
        recipient_key_secret=SecretStr("integration-test-secret-" + uuid.uuid4().hex),
        database_url=SecretStr(f"sqlite:///{tmp_path / 'ledger.sqlite3'}"),
    )


@pytest.fixture(scope="session")
def ledger_database_url(database_url: str) -> Iterator[str]:
    """A fresh, migrated PostgreSQL database for this session, dropped afterwards."""
    with scratch_database(database_url) as url:
        upgrade(url)
        yield url
