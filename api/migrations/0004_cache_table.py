"""The database cache's table (config.cache: the API's rate limits without Redis), made by every `migrate`, so a
fresh clone, the tests and CI need no separate `manage.py createcachetable`."""

from django.db import migrations


def create(apps, schema_editor):
    from config.cache import cache_table_create

    cache_table_create(alias=schema_editor.connection.alias)


def drop(apps, schema_editor):
    from config.cache import TABLE

    if TABLE in schema_editor.connection.introspection.table_names():
        schema_editor.execute(f"DROP TABLE {schema_editor.quote_name(TABLE)}")


class Migration(migrations.Migration):
    dependencies = [("api", "0003_idempotent_requests")]

    operations = [migrations.RunPython(create, drop, elidable=False)]
