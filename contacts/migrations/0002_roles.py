"""Create the Marketer, Admin and Staff roles and grant them the contacts app's permissions."""

from django.db import migrations

from contacts.roles import CONTACTS_PERMISSIONS, grant_permissions


def forwards(apps, schema_editor):
    grant_permissions(apps, "contacts", CONTACTS_PERMISSIONS)


class Migration(migrations.Migration):
    dependencies = [
        ("contacts", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
