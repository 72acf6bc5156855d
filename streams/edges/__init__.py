"""Where sendgate meets the outside: HTTP, SMTP, the producer senders use, the ledger, admin.

Edges talk to the broker and the database directly (aiokafka, aiohttp, aiosmtpd, SQLAlchemy) and
never import the worker (`streams.gate`).
"""
