"""Grant the roles the API token permissions: everyone manages their own tokens, Admins everyone's."""

from django.db import migrations

from contacts.roles import grant_permissions

OWN = ("view", "add", "change")
API_PERMISSIONS = {"apitoken": {"Admin": OWN, "Marketer": OWN, "Staff": OWN}}


def forwards(apps, schema_editor):
    grant_permissions(apps, "api", API_PERMISSIONS)
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    manage = Permission.objects.get(content_type__app_label="api", codename="manage_all_tokens")
    Group.objects.get(name="Admin").permissions.add(manage)


class Migration(migrations.Migration):
    dependencies = [("api", "0001_api_tokens"), ("contacts", "0002_roles")]
    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
