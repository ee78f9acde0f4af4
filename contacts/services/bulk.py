"""Set-based writes of many contacts' rows (imports and their undo): a few statements per batch, never one per row.

Invariant: these helpers only write rows; the calling service checks the values, sends contacts_changed in
its transaction and chooses `updated_at` (kept exactly as set on the instances: an import's undo compares
it). On PostgreSQL new rows get their ids from the table's sequence and go in with one COPY; changed rows
go to a temporary table with one COPY and into the table with one `UPDATE … FROM`. Elsewhere (SQLite,
demo-sized data) Django's bulk_create / bulk_update, which are correct there.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any, cast

from django.db import connection, transaction
from django.db.models import BooleanField, CharField, DateTimeField, Field, ForeignKey, IntegerField, JSONField
from django.utils import timezone
from django_countries.fields import CountryField

from contacts.models import Contact

WRITE_BATCH = 1000  # rows per statement on SQLite


def _fields(names: Sequence[str]) -> list[Field]:
    return [cast(Field, Contact._meta.get_field(name)) for name in names]


def _identity(value: Any) -> Any:
    return value


def _json(value: Any) -> str | None:
    return None if value is None else json.dumps(value)


def _pk(value: Any) -> Any:
    return getattr(value, "pk", value)


def _country(value: Any) -> str:
    return str(getattr(value, "code", value) or "")


def _copy_value(field: Field) -> Callable[[Any], Any]:
    """How COPY takes a value of `field` (the slow generic get_db_prep_save only for fields not listed)."""
    if isinstance(field, JSONField):
        return _json
    if isinstance(field, CountryField):
        return _country
    if isinstance(field, ForeignKey):
        return _pk
    if isinstance(field, CharField | IntegerField | DateTimeField | BooleanField):
        return _identity  # the values were typed by the caller (an aware datetime, an int, a str, an id)

    def generic(value: Any) -> Any:
        return field.get_db_prep_save(value, connection)

    return generic


def _copy(cursor: Any, *, table: str, fields: list[Field], rows: Iterable[Sequence[Any]], with_id: bool) -> None:
    """COPY rows (an id when `with_id`, then one value per field, in order) into `table`."""
    qn = connection.ops.quote_name
    columns = ", ".join((["id"] if with_id else []) + [qn(cast(str, f.column)) for f in fields])
    converters = ([_identity] if with_id else []) + [_copy_value(f) for f in fields]
    with connection.wrap_database_errors, cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row([convert(value) for convert, value in zip(converters, row, strict=True)])


def _instance_rows(contacts: Sequence[Contact], fields: list[Field]) -> Iterator[list[Any]]:
    # TRICKY: the attribute, not pre_save(): updated_at's auto_now would replace the time the caller chose.
    names = [f.attname for f in fields]
    for contact in contacts:
        yield [contact.pk, *(getattr(contact, name) for name in names)]


def contacts_columns_write(*, contacts: Sequence[Contact], names: Sequence[str]) -> None:
    """Write the columns `names` of each contact (by pk) with the values set on the instance."""
    if not contacts or not names:
        return
    if connection.vendor != "postgresql":
        Contact.objects.bulk_update(contacts, fields=list(names), batch_size=WRITE_BATCH)
        return
    fields = _fields(names)
    qn = connection.ops.quote_name
    columns = [qn(cast(str, f.column)) for f in fields]
    table = qn(Contact._meta.db_table)
    staged = "contacts_write_staged"
    # ON COMMIT DROP: the staged table lives as long as the caller's transaction (one is opened if needed).
    with transaction.atomic(savepoint=False), connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS pg_temp.{staged}")
        cursor.execute(
            f"CREATE TEMPORARY TABLE {staged} ON COMMIT DROP AS "
            f"SELECT id, {', '.join(columns)} FROM {table} WITH NO DATA"
        )
        _copy(cursor, table=staged, fields=fields, rows=_instance_rows(contacts, fields), with_id=True)
        assignments = ", ".join(f"{column} = v.{column}" for column in columns)
        cursor.execute(f"UPDATE {table} AS c SET {assignments} FROM {staged} AS v WHERE c.id = v.id")
        cursor.execute(f"DROP TABLE pg_temp.{staged}")


def contacts_rows_insert(*, rows: Sequence[Mapping[str, Any]]) -> list[int]:
    """Insert new contacts from values by field name (absent fields get their defaults); their ids, in order.

    IntegrityError when an email is taken. Give `created_at` and `updated_at`: they are written as given.
    """
    if not rows:
        return []
    if connection.vendor != "postgresql":
        contacts = [Contact(**row) for row in rows]
        Contact.objects.bulk_create(contacts, batch_size=WRITE_BATCH)
        # TRICKY: bulk_create runs updated_at's auto_now; put back the time the caller chose.
        for contact, row in zip(contacts, rows, strict=True):
            contact.updated_at = row.get("updated_at", contact.updated_at)
        contacts_columns_write(contacts=contacts, names=["updated_at"])
        return [c.pk for c in contacts]
    fields = [f for f in Contact._meta.concrete_fields if not f.primary_key]
    defaults = {f.name: f.get_default() for f in fields if f.name not in ("custom", "created_at", "updated_at")}
    table = connection.ops.quote_name(Contact._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT nextval(pg_get_serial_sequence('{Contact._meta.db_table}', 'id')) FROM generate_series(1, %s)",
            [len(rows)],
        )
        ids = [pk for (pk,) in cursor.fetchall()]
        names = [f.name for f in fields]

        def values() -> Iterator[list[Any]]:
            for pk, row in zip(ids, rows, strict=True):
                yield [pk, *(row[name] if name in row else _default(name, defaults) for name in names)]

        _copy(cursor, table=table, fields=fields, rows=values(), with_id=True)
    return ids


def _default(name: str, defaults: Mapping[str, Any]) -> Any:
    if name in defaults:
        return defaults[name]
    return {} if name == "custom" else timezone.now()
