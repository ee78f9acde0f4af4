"""The three roles (Django auth groups) and the model permissions each is granted.

Each app grants its own permissions from a data migration with `grant_permissions`, so the role
definitions follow the one-way dependency `campaigns → segments → contacts`.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any


class Role(StrEnum):
    MARKETER = "Marketer"
    ADMIN = "Admin"
    STAFF = "Staff"


ALL_ACTIONS = ("view", "add", "change", "delete")

# app label → model → role → actions
CONTACTS_PERMISSIONS: dict[str, dict[str, tuple[str, ...]]] = {
    "contact": {"Admin": ALL_ACTIONS, "Marketer": ALL_ACTIONS, "Staff": ("view", "add", "change")},
    "account": {"Admin": ALL_ACTIONS, "Marketer": ALL_ACTIONS, "Staff": ("view", "add", "change")},
    "activity": {"Admin": ALL_ACTIONS, "Marketer": ALL_ACTIONS, "Staff": ("view",)},
    "consent": {"Admin": ALL_ACTIONS, "Marketer": ("view",), "Staff": ("view",)},
    "contactconsent": {"Admin": ALL_ACTIONS, "Marketer": ALL_ACTIONS, "Staff": ("view",)},
    "contactfield": {"Admin": ALL_ACTIONS, "Marketer": ("view",), "Staff": ("view",)},
}


def grant_permissions(apps: Any, app_label: str, table: dict[str, dict[str, tuple[str, ...]]]) -> None:
    """Create the role groups if needed and add the listed model permissions to them (idempotent)."""
    from django.contrib.auth.management import create_permissions

    app_config = apps.get_app_config(app_label)
    models_module = getattr(app_config, "models_module", None)
    app_config.models_module = True  # create_permissions skips app configs without models (migration stubs)
    try:
        create_permissions(app_config, verbosity=0, apps=apps)
    finally:
        # TRICKY: restore, never set None: called with the real registry (tests do), None would make
        # every later create_permissions skip this app.
        app_config.models_module = models_module
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for role in Role:
        Group.objects.get_or_create(name=role.value)
    for model, roles in table.items():
        for role_name, actions in roles.items():
            group = Group.objects.get(name=role_name)
            codenames = [f"{action}_{model}" for action in actions]
            perms = Permission.objects.filter(content_type__app_label=app_label, codename__in=codenames)
            group.permissions.add(*perms)


# Django's own user model (app label "auth"): Admins manage users in the app (users/), granted by users' migration.
USER_PERMISSIONS: dict[str, dict[str, tuple[str, ...]]] = {
    "user": {"Admin": ("view", "add", "change")},
}
