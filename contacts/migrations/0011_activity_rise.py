"""ActivityRise: a contact's newest activity time while it is later than the contact row's copy (folded in bulk).

Activities raise this narrow row instead of rewriting the wide contact row (contacts.services.last_activity).
No data to copy: the column stays exact, the table starts empty. On PostgreSQL the table keeps free space on
every page (fillfactor 50), so raising a rise is a HOT update (no index entry written).

Also drops two contact indexes: contact_last_activity_idx (nothing reads `last_activity_at` alone; the rules
read contact_inactive_since_idx) and contact_name_idx (redundant beside contact_name_cover_idx, migration 0006).
Each one less is one index entry less for every contact written (imports, merges, the fold).
"""

import django.db.models.deletion
from django.db import migrations, models


def tune(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("ALTER TABLE contacts_activityrise SET (fillfactor = 50)")


class Migration(migrations.Migration):
    dependencies = [
        ("contacts", "0010_live_contact_indexes"),
    ]

    operations = [
        migrations.CreateModel(
            name="ActivityRise",
            fields=[
                (
                    "contact",
                    models.OneToOneField(
                        on_delete=django.db.models.deletion.CASCADE,
                        primary_key=True,
                        related_name="activity_rise",
                        serialize=False,
                        to="contacts.contact",
                    ),
                ),
                ("at", models.DateTimeField()),
            ],
        ),
        migrations.RunPython(tune, migrations.RunPython.noop),
        migrations.RemoveIndex(model_name="contact", name="contact_last_activity_idx"),
        migrations.RemoveIndex(model_name="contact", name="contact_name_idx"),
    ]
