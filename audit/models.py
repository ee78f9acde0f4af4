"""The audit log: one row per audited action, written by the services in the action's own transaction.

Invariant: an entry is never changed or deleted by the app. `AuditEntry.save()` refuses an update, the
queryset refuses `update()`/`delete()`, the model has only the "view" permission (the Django admin shows it
read-only), no view writes it, and on PostgreSQL a trigger refuses UPDATE and DELETE (migration 0003) —
except the one update Django makes when a user is deleted: `actor` set to NULL (`actor_name` keeps the name).
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models
from django.utils import timezone


class AuditAction(models.TextChoices):
    GROUP_CREATED = "group.created", "Group created"
    GROUP_UPDATED = "group.updated", "Group changed"
    GROUP_COPIED = "group.copied", "Group copied"
    GROUP_REBUILT = "group.rebuilt", "Group rebuild requested"
    GROUP_DELETED = "group.deleted", "Group deleted"
    FIELD_CREATED = "field.created", "Field created"
    FIELD_UPDATED = "field.updated", "Field changed"
    FIELD_RETIRED = "field.retired", "Field retired"
    FIELD_RESTORED = "field.restored", "Field restored"
    FIELD_REORDERED = "field.reordered", "Fields reordered"
    IMPORT_RUN = "import.run", "Import started"
    IMPORT_UNDONE = "import.undone", "Import undone"
    EXPORT_RUN = "export.run", "Export downloaded"
    CAMPAIGN_SENT = "campaign.sent", "Campaign sent"
    CAMPAIGN_SCHEDULED = "campaign.scheduled", "Campaign scheduled"
    CAMPAIGN_SEND_CANCELLED = "campaign.send_cancelled", "Scheduled send cancelled"
    CONTACT_RESUBSCRIBED = "contact.resubscribed", "Contact opted back in"
    API_TOKEN_CREATED = "api_token.created", "API token created"
    API_TOKEN_REVOKED = "api_token.revoked", "API token revoked"
    WEBHOOK_CREATED = "webhook.created", "Webhook created"
    WEBHOOK_UPDATED = "webhook.updated", "Webhook changed"
    WEBHOOK_ENABLED = "webhook.enabled", "Webhook enabled"
    WEBHOOK_DISABLED = "webhook.disabled", "Webhook disabled"
    WEBHOOK_SECRET_ROTATED = "webhook.secret_rotated", "Webhook secret replaced"
    USER_INVITED = "user.invited", "User invited"
    USER_INVITE_SENT = "user.invite_sent", "Invitation sent again"
    USER_ROLE_SET = "user.role_set", "User role changed"
    USER_DEACTIVATED = "user.deactivated", "User deactivated"
    USER_REACTIVATED = "user.reactivated", "User reactivated"
    USER_UNLOCKED = "user.unlocked", "Sign-in unlocked"
    USER_SESSIONS_ENDED = "user.sessions_ended", "Logged out everywhere"


# The area of an action ("group" of "group.created") → its name in the filter.
AREAS: dict[str, str] = {
    "group": "Contact groups",
    "field": "Field settings",
    "import": "Imports",
    "export": "Exports",
    "campaign": "Campaigns",
    "contact": "Contacts",
    "api_token": "API tokens",
    "webhook": "Webhooks",
    "user": "Users",
}


class ImmutableEntry(Exception):
    """An audit entry cannot be changed or deleted."""


class AuditEntryQuerySet(models.QuerySet["AuditEntry"]):
    def update(self, **kwargs: Any) -> int:
        raise ImmutableEntry("Audit entries cannot be changed.")

    def delete(self) -> tuple[int, dict[str, int]]:
        raise ImmutableEntry("Audit entries cannot be deleted.")


class AuditEntry(models.Model):
    at = models.DateTimeField(default=timezone.now, db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Who it was when it happened (kept when the user is renamed or deleted); "system" or a command otherwise.
    actor_name = models.CharField(max_length=150)
    ip = models.GenericIPAddressField(null=True, blank=True)
    action = models.CharField(max_length=40)  # an AuditAction (no choices: a new action needs no migration)
    object_type = models.CharField(max_length=60, blank=True)  # app_label.model_name
    object_id = models.CharField(max_length=64, blank=True)
    object_label = models.CharField(max_length=300, blank=True)  # what it was called then
    changes = models.JSONField(default=dict, blank=True)  # {attribute: [before, after]}, or facts of the action
    summary = models.CharField(max_length=500, blank=True)

    objects = AuditEntryQuerySet.as_manager()

    class Meta:
        ordering = ["-at", "-id"]
        default_permissions = ("view",)  # nobody can be granted add, change or delete
        verbose_name = "audit entry"
        verbose_name_plural = "audit entries"
        indexes = [
            models.Index(fields=["action", "-at"], name="audit_action_at"),
            models.Index(fields=["actor_name", "-at"], name="audit_actor_at"),
            models.Index(fields=["object_type", "object_id"], name="audit_object"),
        ]

    def __str__(self) -> str:
        return f"{self.action_label}: {self.object_label}" if self.object_label else self.action_label

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise ImmutableEntry("Audit entries cannot be changed.")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
        raise ImmutableEntry("Audit entries cannot be deleted.")

    @property
    def action_label(self) -> str:
        try:
            return str(AuditAction(self.action).label)
        except ValueError:
            return self.action

    @property
    def area(self) -> str:
        return self.action.partition(".")[0]
