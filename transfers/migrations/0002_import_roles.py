"""Grant the roles the import permissions: every role imports contacts (Staff too: it adds and edits
contacts); creating a custom field from a column stays with whoever may add fields (Admin)."""

from django.db import migrations

from contacts.roles import ALL_ACTIONS, grant_permissions

IMPORT_PERMISSIONS = {
    "importjob": {"Admin": ALL_ACTIONS, "Marketer": ALL_ACTIONS, "Staff": ("view", "add")},
    "savedmapping": {"Admin": ALL_ACTIONS, "Marketer": ALL_ACTIONS, "Staff": ("view", "add", "change")},
}


def forwards(apps, schema_editor):
    grant_permissions(apps, "transfers", IMPORT_PERMISSIONS)


class Migration(migrations.Migration):
    dependencies = [("transfers", "0001_imports"), ("contacts", "0002_roles")]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
