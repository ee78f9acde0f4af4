# Written by hand: PostgreSQL only (SQLite keeps its plain table; Django's model state does not change).
"""Partition contacts_activity by month on PostgreSQL (issue 15: the biggest table, old months detachable).

The table is converted in place, in this migration's transaction: a partitioned twin is created (same
columns, `id` an identity column whose sequence continues where the old one stopped), one partition per UTC
month that holds activities plus the current month and the next three, and a default partition for anything
else; the rows are copied set-based; the old table is dropped and the twin takes its name; then the
primary key — (id, occurred_at): a partitioned table's unique keys must include the partition key; ids
still come from one sequence, so `id` alone stays unique and Django keeps it as the pk — the indexes and the
foreign keys are recreated on the parent (each partition gets its own) under their old names.

Writes to activities wait for the whole migration (EXCLUSIVE lock; reads go on until the final swap). It
needs free disk for a second copy of the table, and takes about 2 minutes per 10M activities (bench/README.md,
"Beyond one machine"). New months come from `manage.py activity_partitions` (and its daily schedule); the
SQL here is kept as it was written so that later changes to contacts.services.partitions cannot break it.
"""

from django.db import migrations, models

TABLE = 'contacts_activity'
TWIN = 'contacts_activity_twin'
DEFAULT = 'contacts_activity_default'
AHEAD = 3  # months created ahead of the current one
# The UTC months holding activities, by index probes on occurred_at (a loose index scan: one probe per month).
DATA_MONTHS = f"""
WITH RECURSIVE m(month) AS (
    SELECT date_trunc('month', min(occurred_at) AT TIME ZONE 'UTC') FROM {TABLE}
    UNION ALL
    SELECT (SELECT date_trunc('month', min(a.occurred_at) AT TIME ZONE 'UTC') FROM {TABLE} a
            WHERE a.occurred_at >= (m.month + interval '1 month') AT TIME ZONE 'UTC')
    FROM m WHERE m.month IS NOT NULL
)
SELECT month::date FROM m WHERE month IS NOT NULL AND month < '9999-12-01'  -- the last month: to the default
UNION
SELECT (date_trunc('month', now() AT TIME ZONE 'UTC') + interval '1 month' * k)::date
FROM generate_series(0, {AHEAD}) k
ORDER BY 1
"""


def _structures(cursor, table):
    """(index definitions, constraint (name, definition) pairs) of `table`, its primary key excepted."""
    cursor.execute(
        'SELECT pg_get_indexdef(i.indexrelid) FROM pg_index i WHERE i.indrelid = %s::regclass AND NOT i.indisprimary '
        "AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid AND k.contype <> 'f') "
        'ORDER BY i.indexrelid',
        [table],
    )
    # A partitioned table's index definitions say ON ONLY (the parent alone): recreated, they must recurse.
    indexes = [row[0].replace(' ON ONLY ', ' ON ') for row in cursor.fetchall()]
    cursor.execute(
        "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = %s::regclass "
        "AND contype <> 'p' AND conparentid = 0 ORDER BY conname",
        [table],
    )
    return indexes, cursor.fetchall()


def _sequence_state(cursor, table):
    cursor.execute("SELECT pg_get_serial_sequence(%s, 'id')", [table])
    (sequence,) = cursor.fetchone()
    cursor.execute(f'SELECT last_value, is_called FROM {sequence}')
    return sequence, cursor.fetchone()


def _swap(cursor, *, partitioned, primary_key):
    """Copy contacts_activity into a twin (partitioned or plain), drop it, give the twin its name and structures."""
    cursor.execute(f'LOCK TABLE {TABLE} IN EXCLUSIVE MODE')  # no writes while copying; reads go on
    indexes, constraints = _structures(cursor, TABLE)
    old_sequence, (last_value, is_called) = _sequence_state(cursor, TABLE)
    cursor.execute('SELECT quote_ident(attname) FROM pg_attribute WHERE attrelid = %s::regclass AND attnum > 0 '
                   'AND NOT attisdropped ORDER BY attnum', [TABLE])  # fmt: skip
    columns = ', '.join(row[0] for row in cursor.fetchall())
    partitioning = ' PARTITION BY RANGE (occurred_at)' if partitioned else ''
    cursor.execute(f'CREATE TABLE {TWIN} (LIKE {TABLE} INCLUDING DEFAULTS INCLUDING IDENTITY '
                   f'INCLUDING STORAGE INCLUDING COMMENTS){partitioning}')  # fmt: skip
    if partitioned:
        cursor.execute(DATA_MONTHS)
        for (month,) in cursor.fetchall():
            following = month.replace(year=month.year + month.month // 12, month=month.month % 12 + 1)
            cursor.execute(
                f'CREATE TABLE {TABLE}_p{month:%Y_%m} PARTITION OF {TWIN} '
                f"FOR VALUES FROM ('{month:%Y-%m-%d} 00:00:00+00') TO ('{following:%Y-%m-%d} 00:00:00+00')"
            )
        cursor.execute(f'CREATE TABLE {DEFAULT} PARTITION OF {TWIN} DEFAULT')
    cursor.execute(f'INSERT INTO {TWIN} ({columns}) SELECT {columns} FROM {TABLE}')
    cursor.execute(f'DROP TABLE {TABLE}')  # its identity sequence goes with it
    cursor.execute(f'ALTER TABLE {TWIN} RENAME TO {TABLE}')
    new_sequence, _ = _sequence_state(cursor, TABLE)
    cursor.execute(f'ALTER SEQUENCE {new_sequence} RENAME TO {old_sequence.split(".")[-1]}')
    cursor.execute('SELECT setval(%s, %s, %s)', [old_sequence, last_value, is_called])
    cursor.execute(f'ALTER TABLE {TABLE} ADD CONSTRAINT {TABLE}_pkey PRIMARY KEY ({primary_key})')
    for definition in indexes:
        cursor.execute(definition)
    for name, definition in constraints:
        cursor.execute(f'ALTER TABLE {TABLE} ADD CONSTRAINT "{name}" {definition}')
    cursor.execute(f'ANALYZE {TABLE}')


def _relkind(cursor):
    cursor.execute('SELECT relkind FROM pg_class WHERE oid = %s::regclass', [TABLE])
    return cursor.fetchone()[0]


def partition(apps, schema_editor):
    connection = schema_editor.connection
    if connection.vendor != 'postgresql':
        return
    with connection.cursor() as cursor:
        if _relkind(cursor) == 'p':  # already partitioned
            return
        _swap(cursor, partitioned=True, primary_key='id, occurred_at')


def unpartition(apps, schema_editor):
    """Back to one plain table holding the attached partitions' rows (detached ones stay where they are)."""
    connection = schema_editor.connection
    if connection.vendor != 'postgresql':
        return
    with connection.cursor() as cursor:
        if _relkind(cursor) != 'p':
            return
        _swap(cursor, partitioned=False, primary_key='id')


class Migration(migrations.Migration):

    dependencies = [
        ('contacts', '0012_inactive_index_with_id'),
    ]

    operations = [
        # The per-contact index gains `type` (see Activity.Meta): dropped before the copy, built once after it.
        migrations.RemoveIndex(model_name='activity', name='activity_contact_time_idx'),
        migrations.RunPython(partition, unpartition),
        migrations.AddIndex(
            model_name='activity',
            index=models.Index(
                fields=['contact', '-occurred_at'], include=('type',), name='activity_contact_time_idx'
            ),
        ),
    ]
