from django.db import migrations, models


def create_the_row(apps, schema_editor):
    apps.get_model("segments", "RuleCatalogVersion").objects.get_or_create(pk=1)


class Migration(migrations.Migration):
    dependencies = [
        ("segments", "0003_recheck_queue_and_size_history"),
    ]

    operations = [
        migrations.CreateModel(
            name="RuleCatalogVersion",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("version", models.BigIntegerField(default=0)),
            ],
        ),
        migrations.RunPython(create_the_row, migrations.RunPython.noop),
    ]
