"""Alembic migrations of the ledger; `streams.ledger.migrate.upgrade` runs them."""
