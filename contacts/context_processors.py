from django.http import HttpRequest


def navigation(request: HttpRequest) -> dict:
    """Which top-level sections the signed-in user may open (drives the navigation bar)."""
    user = getattr(request, "user", None)
    if not user or not user.is_authenticated:
        return {"nav": {}}
    return {
        "nav": {
            "contacts": user.has_perm("contacts.view_contact"),
            "accounts": user.has_perm("contacts.view_account"),
            "groups": user.has_perm("segments.view_contactgroup"),
            "campaigns": user.has_perm("campaigns.view_campaign"),
            "fields": user.has_perm("contacts.change_contactfield"),
            "imports": user.has_perm("transfers.view_importjob"),
            "users": user.has_perm("auth.view_user"),
            "webhooks": user.has_perm("webhooks.view_endpoint"),
            "audit": user.has_perm("audit.view_auditentry"),
        },
        "user_roles": [g.name for g in user.groups.all()] or (["Superuser"] if user.is_superuser else []),
    }
