"""Benchmarks: `python -m bench.<name> [--contacts N]` against the DATABASE_URL database (PostgreSQL).

Never imported by product code. Each benchmark prints a table and, last, one line
`RESULT name=value …` (DESIGN, "Benchmarks"). See bench/README.md.
"""

from __future__ import annotations

import os
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


class Medians:
    """For a result holding `orm_ms` and `sql_ms` timings: their medians and the ORM/baseline ratio."""

    orm_ms: list[float]
    sql_ms: list[float]

    @property
    def orm(self) -> float:
        return statistics.median(self.orm_ms)

    @property
    def base(self) -> float:
        return statistics.median(self.sql_ms)

    @property
    def ratio(self) -> float:
        return self.orm / self.base if self.base else float("inf")


def setup_django() -> None:
    """Configure Django from config.settings (DATABASE_URL decides the database)."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()


def require_postgresql(program: str) -> None:
    """Exit with a clear message unless the default database is PostgreSQL; create it when missing."""
    from django.conf import settings

    db = settings.DATABASES["default"]
    if "postgresql" not in db["ENGINE"]:
        sys.exit(
            f"{program} needs PostgreSQL, but DATABASE_URL points at {db['ENGINE'].rsplit('.', 1)[-1]}.\n"
            f"Run it as: DATABASE_URL=postgresql://postgres@127.0.0.1:5432/bench python -m {program}"
        )
    _create_database_if_missing(db)


def connection_params(db: dict | None = None) -> dict:
    """psycopg connection keywords for Django's default database."""
    if db is None:
        from django.conf import settings

        db = settings.DATABASES["default"]
    return {
        "dbname": db["NAME"],
        "host": db.get("HOST") or None,
        "port": db.get("PORT") or None,
        "user": db.get("USER") or None,
        "password": db.get("PASSWORD") or None,
    }


def _create_database_if_missing(db: dict) -> None:
    import psycopg
    from psycopg import sql

    params = connection_params(db)
    params.pop("dbname")
    try:
        psycopg.connect(dbname=db["NAME"], **params).close()
        return
    except psycopg.OperationalError as exc:
        if "does not exist" not in str(exc):
            sys.exit(f"Cannot connect to PostgreSQL: {exc}")
    with psycopg.connect(dbname="postgres", autocommit=True, **params) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(db["NAME"])))
    print(f"Created database {db['NAME']}.")


@contextmanager
def timed(label: str, timings: list[tuple[str, float, str]], detail: str = "") -> Iterator[dict]:
    """Time a step; print one line when it ends (safe from threads) and record (label, seconds, detail)."""
    info: dict = {"detail": detail}
    started = time.perf_counter()
    yield info
    seconds = time.perf_counter() - started
    timings.append((label, seconds, info["detail"]))
    print(f"  {label:<46}{seconds:8.2f} s  {info['detail']}".rstrip(), flush=True)


def execute(sql: str, params: Any = None) -> int:
    """Run one statement on Django's default connection; returns its row count."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return int(cursor.rowcount)


def process_stop(process: subprocess.Popen | None) -> None:
    """Stop a process started in its own session (and its children): TERM, then KILL after 20 s."""
    if process is None or process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)
