"""Monthly partitions of contacts_activity (PostgreSQL): created ahead, old ones detached — never dropped.

Layout and reads: contacts.partitions. Two writes:
- `activity_partitions_create(months=…)` adds the missing monthly partitions. TRICKY: PostgreSQL refuses to
  add a partition whose range has rows in the default partition, so each month is built as a plain table,
  the default's rows of that month are moved into it (one DELETE … RETURNING feeding one INSERT), and it is
  then ATTACHed — which locks the parent only in SHARE UPDATE EXCLUSIVE mode: reads and writes go on.
- `activity_partitions_detach(before=…)` detaches every month before `before` and keeps it as a table. The
  rule engine then sees exactly the attached activities, in the same transaction: the daily roll-up of the
  detached UTC days is deleted (partitions hold whole UTC days), each contact whose newest activity was
  detached gets `last_activity_at` recomputed (none left: NULL), and a bulk change of activities is noted so
  the condition groups that read activities are rebuilt by the worker. The detached table loses its foreign
  keys (deleting a contact or a campaign must not trip over history kept outside the app).

Locks are waited for at most LOCK_TIMEOUT (a long report holding the table makes the run fail, not queue
every request behind it); the next run, or the daily schedule, tries again.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from django.db import connection, transaction
from django.db.models import Q

from contacts.models import Activity, Contact
from contacts.partitions import (
    ARCHIVE_PREFIX,
    DEFAULT,
    PARENT,
    attached_partitions,
    default_months,
    month_after,
    month_instant,
    partition_name,
    partitioned,
)
from contacts.services.activity_days import activity_days_forget
from contacts.services.last_activity import contacts_refresh_last_activity
from contacts.signals import ChangeReason, send_contacts_changed

LOCK_TIMEOUT = "5s"
REFRESH_CHUNK = 10_000  # contacts per last_activity_at refresh (a statement takes at most 65,535 parameters)


@dataclass(frozen=True)
class PartitionChange:
    action: Literal["created", "detached"]
    month: dt.date
    table: str  # the partition created, or the table a detached month is kept as
    rows: int  # rows moved in from the default partition (created), rows kept in the table (detached)


def _columns() -> str:
    return ", ".join(connection.ops.quote_name(f.column) for f in Activity._meta.concrete_fields if f.column)


def _create(cursor: object, month: dt.date) -> PartitionChange:
    """Build one month's partition, moving the default partition's rows of that month into it, and attach it."""
    name, columns = partition_name(month), _columns()
    low, high = month_instant(month), month_instant(month_after(month))
    execute = cursor.execute  # type: ignore[attr-defined]
    execute(f"CREATE TABLE {name} (LIKE {PARENT} INCLUDING DEFAULTS)")
    execute(
        f"WITH moved AS (DELETE FROM {DEFAULT} WHERE occurred_at >= %s AND occurred_at < %s RETURNING {columns}) "
        f"INSERT INTO {name} ({columns}) SELECT {columns} FROM moved",
        [low, high],
    )
    moved = max(cursor.rowcount, 0)  # type: ignore[attr-defined]
    # The bound as a CHECK first: ATTACH then trusts it instead of scanning the new table.
    execute(
        f"ALTER TABLE {name} ADD CONSTRAINT {name}_bound CHECK (occurred_at IS NOT NULL "
        f"AND occurred_at >= %s AND occurred_at < %s)",
        [low, high],
    )
    execute(f"ALTER TABLE {PARENT} ATTACH PARTITION {name} FOR VALUES FROM (%s) TO (%s)", [low, high])
    execute(f"ALTER TABLE {name} DROP CONSTRAINT {name}_bound")
    return PartitionChange("created", month, name, moved)


def _lock(cursor: object, *, parent_mode: str) -> None:
    """Parent first, then the default partition (the order every writer takes them: no deadlock)."""
    execute = cursor.execute  # type: ignore[attr-defined]
    execute(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'")
    execute(f"LOCK TABLE ONLY {PARENT} IN {parent_mode} MODE")
    execute(f"LOCK TABLE ONLY {DEFAULT} IN EXCLUSIVE MODE")  # no new rows in it while its rows move


def activity_partitions_create(*, months: Iterable[dt.date]) -> list[PartitionChange]:
    """Add the monthly partitions missing among `months` (first days), each in its own short transaction."""
    if not partitioned():
        return []
    changes = []
    for month in sorted(set(months) - {p.month for p in attached_partitions()}):
        with transaction.atomic(), connection.cursor() as cursor:
            _lock(cursor, parent_mode="SHARE UPDATE EXCLUSIVE")
            if month not in {p.month for p in attached_partitions()}:  # not added meanwhile by another run
                changes.append(_create(cursor, month))
    return changes


def _archive_name(cursor: object, month: dt.date) -> str:
    """A free table name for a detached month (a month detached twice gets a suffix)."""
    base = f"{ARCHIVE_PREFIX}{month:%Y_%m}"
    name, n = base, 1
    while True:
        cursor.execute("SELECT to_regclass(%s) IS NULL", [name])  # type: ignore[attr-defined]
        if cursor.fetchone()[0]:  # type: ignore[attr-defined]
            return name
        n += 1
        name = f"{base}_{n}"


@transaction.atomic
def activity_partitions_detach(*, before: dt.date) -> list[PartitionChange]:
    """Detach every monthly partition before the month of `before` (kept as archive tables; see the module)."""
    if not partitioned():
        return []
    boundary = before.replace(day=1)
    changes: list[PartitionChange] = []
    with connection.cursor() as cursor:
        # EXCLUSIVE: writes wait, reads go on until the DETACH itself (ACCESS EXCLUSIVE, to the commit).
        _lock(cursor, parent_mode="EXCLUSIVE")
        # Rows of those months still in the default partition get their month's partition first: detached too.
        changes += [_create(cursor, month) for month in default_months(before=boundary)]
        old = [p for p in attached_partitions() if p.month < boundary]
        if not old:
            return changes
        tables = " UNION ".join(f"SELECT contact_id FROM {p.table}" for p in old)
        cursor.execute(f"SELECT DISTINCT contact_id FROM ({tables}) t")
        touched = [row[0] for row in cursor.fetchall()]
        activity_days_forget(before=boundary)
        # Newest activity before the boundary (on the row, or a rise not folded yet): every activity of theirs
        # may be detached. Recomputed exactly below, so taking a few too many is harmless.
        instant = month_instant(boundary)
        emptied = list(
            Contact.objects.filter(Q(last_activity_at__lt=instant) | Q(activity_rise__at__lt=instant))
            .values_list("pk", flat=True)
            .distinct()
        )
        for partition in old:
            cursor.execute(f"SELECT count(*) FROM {partition.table}")
            rows = cursor.fetchone()[0]
            cursor.execute(f"ALTER TABLE {PARENT} DETACH PARTITION {partition.table}")
            cursor.execute(
                "SELECT conname FROM pg_constraint WHERE conrelid = %s::regclass AND contype = 'f'", [partition.table]
            )
            for (constraint,) in cursor.fetchall():
                cursor.execute(f'ALTER TABLE {partition.table} DROP CONSTRAINT "{constraint}"')
            archive = _archive_name(cursor, partition.month)
            cursor.execute(f"ALTER TABLE {partition.table} RENAME TO {archive}")
            changes.append(PartitionChange("detached", partition.month, archive, rows))
    for start in range(0, len(emptied), REFRESH_CHUNK):
        contacts_refresh_last_activity(contact_ids=emptied[start : start + REFRESH_CHUNK])
    send_contacts_changed(contact_ids=touched, reason=ChangeReason.ACTIVITY, bulk=True)
    return changes


def activity_statistics_refresh() -> None:
    """ANALYZE the partitioned parent: autovacuum analyses each partition but never the parent's own statistics."""
    if partitioned():
        with connection.cursor() as cursor:
            cursor.execute(f"ANALYZE {PARENT}")
