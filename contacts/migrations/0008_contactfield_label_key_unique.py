from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("contacts", "0007_contactfield_label_key"),
    ]

    operations = [
        migrations.AddConstraint(
            model_name="contactfield",
            constraint=models.UniqueConstraint(
                fields=("label_key",),
                name="contactfield_label_key_unique",
                violation_error_message="Another field already has this label (ignoring case and accents).",
            ),
        ),
    ]
