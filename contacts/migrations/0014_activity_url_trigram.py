"""A trigram index on the roll-up's URL texts (PostgreSQL only): a rule's `where url …` is decided once per distinct
URL (segments.rules.rollup), as `LOWER("url")::text LIKE '%…%'` over contacts_activityurl — without an index a scan
of every distinct URL in each parallel worker of every count (33 ms at 42k URLs; real sites with query strings hold
millions). A GIN index with pg_trgm's `gin_trgm_ops` on that expression answers it from the index (0.1 ms), and
ANALYZE gathers the expression's statistics, so the planner's guess of how many URLs match comes closer (at 1M
contacts bench.preview (b) 183–188 → 166 ms, (d) 471–508 → 408–445 ms).

Not in `ActivityUrl.Meta.indexes` (SQLite has no trigram index), as in migration 0005; built CONCURRENTLY.
"""

from django.db import migrations

NAME = "activityurl_url_trgm_idx"


def create(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    schema_editor.execute(
        f'CREATE INDEX CONCURRENTLY IF NOT EXISTS "{NAME}" ON contacts_activityurl USING gin (LOWER("url") gin_trgm_ops)'
    )
    schema_editor.execute("ANALYZE contacts_activityurl")


def drop(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(f'DROP INDEX CONCURRENTLY IF EXISTS "{NAME}"')


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("contacts", "0013_activity_partitions"),
    ]

    operations = [migrations.RunPython(create, drop, elidable=False)]
