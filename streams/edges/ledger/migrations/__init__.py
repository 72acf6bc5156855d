"""Alembic migrations of the ledger; `streams.edges.ledger.migrate.upgrade` runs them."""
