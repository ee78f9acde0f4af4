"""Helpers for tests that start other processes (workers) on the test database (PostgreSQL only)."""

from __future__ import annotations

from django.db import connection


def database_url() -> str:
    """DATABASE_URL of the test database, for a subprocess: it sees what the (transactional) test commits."""
    db = connection.settings_dict
    auth = db["USER"] + (f":{db['PASSWORD']}" if db["PASSWORD"] else "")
    return f"postgresql://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
