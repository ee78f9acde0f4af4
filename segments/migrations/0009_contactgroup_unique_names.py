import django.db.models.functions.text
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("segments", "0008_contactgroup_name_key"),
    ]

    operations = [
        migrations.AddConstraint(
            model_name="contactgroup",
            constraint=models.UniqueConstraint(
                django.db.models.functions.text.Lower("code"),
                name="contactgroup_code_ci_unique",
                violation_error_message="Another group already has this code (ignoring case).",
            ),
        ),
        migrations.AddConstraint(
            model_name="contactgroup",
            constraint=models.UniqueConstraint(
                fields=("name_key",),
                name="contactgroup_name_key_unique",
                violation_error_message="Another group already has this name (ignoring case and accents).",
            ),
        ),
    ]
