"""Grant the Admin role Django's user permissions (view, add, change): the app's Users page needs them."""

from django.db import migrations

from contacts.roles import USER_PERMISSIONS, grant_permissions


def forwards(apps, schema_editor):
    grant_permissions(apps, "auth", USER_PERMISSIONS)


class Migration(migrations.Migration):
    dependencies = [
        ("users", "0001_user_security"),
        ("contacts", "0002_roles"),
        ("auth", "0012_alter_user_first_name_max_length"),
    ]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
