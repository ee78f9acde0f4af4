"""Grant the roles the contact groups app's permissions."""

from django.db import migrations

from contacts.roles import ALL_ACTIONS, grant_permissions

MEMBERS = {"Admin": ALL_ACTIONS, "Marketer": ALL_ACTIONS, "Staff": ALL_ACTIONS}
SEGMENTS_PERMISSIONS = {
    "contactgroup": {"Admin": ALL_ACTIONS, "Marketer": ALL_ACTIONS, "Staff": ("view",)},
    "membership": MEMBERS,
    "groupaccount": MEMBERS,
}


def forwards(apps, schema_editor):
    grant_permissions(apps, "segments", SEGMENTS_PERMISSIONS)


class Migration(migrations.Migration):
    dependencies = [("segments", "0001_initial"), ("contacts", "0002_roles")]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
