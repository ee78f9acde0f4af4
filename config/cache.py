"""The cache every process shares when there is no Redis: Django's database cache with an atomic `incr`.

TRICKY: Django's `DatabaseCache.incr` is BaseCache's get-then-set, so two processes incrementing one counter at
once may both write the same value (a lost count: the API's rate limit would let more through). Here `incr` reads
the row under a lock (FOR UPDATE on PostgreSQL; on SQLite the IMMEDIATE transaction holds the one write lock)
and writes the new value in the same transaction, as Redis' INCR does in one step.
"""

from __future__ import annotations

import base64
import pickle
from typing import Any

from django.core.cache.backends.db import DatabaseCache as DjangoDatabaseCache
from django.core.management.commands.createcachetable import Command as CreateCacheTable
from django.db import connections, models, router, transaction
from django.utils.timezone import now as tz_now

TABLE = "django_cache"  # settings.CACHES' LOCATION for this backend; created by a migration (api 0004)


class DatabaseCache(DjangoDatabaseCache):
    """Django's database cache whose `incr` (and `decr`) is atomic across processes."""

    def incr(self, key: Any, delta: int = 1, version: int | None = None) -> Any:
        key = self.make_and_validate_key(key, version=version)
        alias = router.db_for_write(self.cache_model_class)
        connection = connections[alias]
        quote = connection.ops.quote_name
        table = quote(self._table)  # type: ignore[attr-defined]  # set by BaseDatabaseCache, not in the stubs
        lock = " FOR UPDATE" if connection.features.has_select_for_update else ""
        select = f"SELECT {quote('value')}, {quote('expires')} FROM {table} WHERE {quote('cache_key')} = %s"
        with transaction.atomic(using=alias), connection.cursor() as cursor:
            cursor.execute(select + lock, [key])
            row = cursor.fetchone()
            if row is None or _expires(connection, row[1]) < tz_now():
                raise ValueError(f"Key '{key}' not found.")
            value = pickle.loads(base64.b64decode(connection.ops.process_clob(row[0]).encode())) + delta
            encoded = base64.b64encode(pickle.dumps(value, self.pickle_protocol)).decode("latin1")
            cursor.execute(f"UPDATE {table} SET {quote('value')} = %s WHERE {quote('cache_key')} = %s", [encoded, key])
        return value


def _expires(connection: Any, value: Any) -> Any:
    """The row's `expires` as an aware datetime (as Django's database cache converts it)."""
    expression = models.Expression(output_field=models.DateTimeField())
    for converter in connection.ops.get_db_converters(expression) + expression.get_db_converters(connection):
        value = converter(value, expression, connection)
    return value


def cache_table_create(*, alias: str) -> None:
    """Create the cache table in a database (nothing if it exists): what `manage.py createcachetable` does."""
    command = CreateCacheTable()
    command.verbosity = 0
    command.create_table(alias, TABLE, False)
