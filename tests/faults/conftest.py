"""Fault tests break the real services on purpose (stop PostgreSQL, kill the broker), so they
share the integration tier's fixtures and run on services started by `scripts/services`."""

from tests.integration.conftest import *  # noqa: F403
