"""Grant the Admin role the webhooks' permissions (only Admins see and manage webhooks)."""

from django.db import migrations

from contacts.roles import grant_permissions

WEBHOOK_PERMISSIONS = {
    "endpoint": {"Admin": ("view", "add", "change", "delete")},
    "delivery": {"Admin": ("view", "change")},
}


def forwards(apps, schema_editor):
    grant_permissions(apps, "webhooks", WEBHOOK_PERMISSIONS)


class Migration(migrations.Migration):
    dependencies = [
        ("webhooks", "0001_endpoints_and_deliveries"),
        ("contacts", "0002_roles"),
    ]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
