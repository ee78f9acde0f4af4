"""Per-user sign-in state that Django's User has no field for."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class UserSecurity(models.Model):
    """One row per user who was invited or ended their sessions; a missing row means epoch 0."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="security")
    # Every session remembers the epoch it signed in under; raising it ends them all (users.middleware).
    session_epoch = models.PositiveIntegerField(default=0)
    invited_at = models.DateTimeField(null=True, blank=True)
    invited_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        verbose_name = "user sign-in state"

    def __str__(self) -> str:
        return f"{self.user_id}: epoch {self.session_epoch}"
