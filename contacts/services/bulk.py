"""Set-based writes of many contacts' rows (imports and their undo): a few statements per batch, never one per row.

Invariant: these helpers only write rows; the calling service checks the values, sends contacts_changed in
its transaction and chooses `updated_at` (kept exactly as set on the instances: an import's undo compares
it). On PostgreSQL new rows get their ids from the table's sequence and go in with one COPY; changed rows
go to a temporary table with one COPY and into the table with one `UPDATE … FROM`. Elsewhere (SQLite,
demo-sized data) Django's bulk_create / bulk_update, which are correct there.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

from django.db import connection
from django.db.models import Field

from contacts.models import Contact

WRITE_BATCH = 1000  # rows per statement on SQLite


def _fields(names: Sequence[str]) -> list[Field]:
    return [cast(Field, Contact._meta.get_field(name)) for name in names]


def _copy(cursor: Any, *, table: str, fields: list[Field], contacts: Sequence[Contact], with_id: bool) -> None:
    """COPY the contacts' values of `fields` (and ids) into `table`."""
    qn = connection.ops.quote_name
    columns = ", ".join((["id"] if with_id else []) + [qn(f.column) for f in fields])
    # TRICKY: the attribute, not pre_save(): updated_at's auto_now would replace the time the caller chose.
    preps = [(f.attname, f.get_db_prep_save) for f in fields]
    with connection.wrap_database_errors, cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
        for contact in contacts:
            values = [prep(getattr(contact, attname), connection) for attname, prep in preps]
            copy.write_row([contact.pk, *values] if with_id else values)


def contacts_columns_write(*, contacts: Sequence[Contact], names: Sequence[str]) -> None:
    """Write the columns `names` of each contact (by pk) with the values set on the instance."""
    if not contacts or not names:
        return
    if connection.vendor != "postgresql":
        Contact.objects.bulk_update(contacts, fields=list(names), batch_size=WRITE_BATCH)
        return
    fields = _fields(names)
    qn = connection.ops.quote_name
    columns = [qn(f.column) for f in fields]
    table = qn(Contact._meta.db_table)
    staged = "contacts_write_staged"
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS pg_temp.{staged}")
        cursor.execute(
            f"CREATE TEMPORARY TABLE {staged} ON COMMIT DROP AS SELECT id, {', '.join(columns)} FROM {table} WITH NO DATA"
        )
        _copy(cursor, table=staged, fields=fields, contacts=contacts, with_id=True)
        assignments = ", ".join(f"{column} = v.{column}" for column in columns)
        cursor.execute(f"UPDATE {table} AS c SET {assignments} FROM {staged} AS v WHERE c.id = v.id")
        cursor.execute(f"DROP TABLE pg_temp.{staged}")


def contacts_rows_insert(*, contacts: Sequence[Contact]) -> None:
    """Insert new contacts, setting each instance's pk (in order); IntegrityError on a taken email."""
    if not contacts:
        return
    if connection.vendor != "postgresql":
        stamps = [c.updated_at for c in contacts]
        Contact.objects.bulk_create(contacts, batch_size=WRITE_BATCH)
        # TRICKY: bulk_create runs updated_at's auto_now; put back the time the caller chose.
        for contact, stamp in zip(contacts, stamps, strict=True):
            contact.updated_at = stamp
        contacts_columns_write(contacts=contacts, names=["updated_at"])
        return
    fields = [f for f in _fields([f.name for f in Contact._meta.concrete_fields]) if not f.primary_key]
    table = connection.ops.quote_name(Contact._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT nextval(pg_get_serial_sequence('{Contact._meta.db_table}', 'id')) FROM generate_series(1, %s)",
            [len(contacts)],
        )
        for contact, (pk,) in zip(contacts, cursor.fetchall(), strict=True):
            contact.pk = pk
        _copy(cursor, table=table, fields=fields, contacts=contacts, with_id=True)
    for contact in contacts:
        contact._state.adding = False
        contact._state.db = connection.alias
