"""Grant the Admin role the audit log's one permission (view): only Admins read it, nobody changes it."""

from django.db import migrations

from contacts.roles import grant_permissions

AUDIT_PERMISSIONS = {"auditentry": {"Admin": ("view",)}}


def forwards(apps, schema_editor):
    grant_permissions(apps, "audit", AUDIT_PERMISSIONS)


class Migration(migrations.Migration):
    dependencies = [
        ("audit", "0001_audit_entries"),
        ("contacts", "0002_roles"),
    ]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
