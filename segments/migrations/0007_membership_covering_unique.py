"""PostgreSQL: the unique (group, contact) index of memberships also carries the source flags (INCLUDE).

A rebuild reads a group's rows from this index alone. Done by hand, not with UniqueConstraint(include=...):
Django skips such a constraint on SQLite, which would then have no unique index (ON CONFLICT needs it).
"""

from django.db import migrations

TABLE = "segments_membership"
NAME = "membership_group_contact_unique"


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(f"ALTER TABLE {TABLE} DROP CONSTRAINT IF EXISTS {NAME}")
    schema_editor.execute(f"DROP INDEX IF EXISTS {NAME}")
    schema_editor.execute(
        f"CREATE UNIQUE INDEX {NAME} ON {TABLE} (group_id, contact_id) INCLUDE (via_manual, via_account, via_condition)"
    )
    schema_editor.execute(f"ALTER TABLE {TABLE} ADD CONSTRAINT {NAME} UNIQUE USING INDEX {NAME}")


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(f"ALTER TABLE {TABLE} DROP CONSTRAINT {NAME}")
    schema_editor.execute(f"ALTER TABLE {TABLE} ADD CONSTRAINT {NAME} UNIQUE (group_id, contact_id)")


class Migration(migrations.Migration):
    dependencies = [("segments", "0006_membership_source_indexes")]

    operations = [migrations.RunPython(forwards, backwards)]
