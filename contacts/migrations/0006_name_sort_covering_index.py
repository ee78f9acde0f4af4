"""contact_name_cover_idx: the name sort's keys with the columns its walks read (an index-only scan).

Built CONCURRENTLY on PostgreSQL (a million-contact table keeps taking writes meanwhile), hence
`atomic = False` and the state and database operations told apart; other databases build it plainly.
"""

import django.db.models.functions.comparison
from django.db import migrations, models

INDEX = models.Index(
    models.ExpressionWrapper(models.Q(("first_name", ""), ("last_name", "")), output_field=models.BooleanField()),
    django.db.models.functions.comparison.Coalesce(
        django.db.models.functions.comparison.NullIf("last_name", models.Value("")), "first_name"
    ),
    models.F("first_name"),
    models.F("id"),
    include=("last_name", "email"),
    name="contact_name_cover_idx",
)


def create(apps, schema_editor):
    model = apps.get_model("contacts", "Contact")
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.add_index(model, INDEX, concurrently=True)
    else:
        schema_editor.add_index(model, INDEX)


def drop(apps, schema_editor):
    model = apps.get_model("contacts", "Contact")
    schema_editor.remove_index(model, INDEX)


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("contacts", "0005_contact_search_trigram"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.AddIndex(model_name="contact", index=INDEX)],
            database_operations=[migrations.RunPython(create, drop)],
        ),
    ]
