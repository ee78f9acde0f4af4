"""Grant the roles the campaigns app's permissions (Staff has none)."""

from django.db import migrations

from contacts.roles import ALL_ACTIONS, grant_permissions

CAMPAIGNS_PERMISSIONS = {"campaign": {"Admin": ALL_ACTIONS, "Marketer": ALL_ACTIONS}}


def forwards(apps, schema_editor):
    grant_permissions(apps, "campaigns", CAMPAIGNS_PERMISSIONS)


class Migration(migrations.Migration):
    dependencies = [("campaigns", "0001_initial"), ("contacts", "0002_roles")]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
