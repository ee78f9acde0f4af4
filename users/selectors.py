"""Reads for the user-management pages and the sign-in guard."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from axes.helpers import get_cool_off
from axes.models import AccessAttempt
from django.conf import settings
from django.contrib.auth.models import User
from django.db.models import Max, QuerySet, Sum
from django.utils import timezone

from contacts.roles import Role

ROLE_NAMES = [role.value for role in Role]


def session_epoch_get(*, user_id: int) -> int:
    """The user's current session epoch (0 until their sessions were first ended)."""
    from users.models import UserSecurity

    epoch = UserSecurity.objects.filter(user_id=user_id).values_list("session_epoch", flat=True).first()
    return epoch or 0


def user_role(*, user: User) -> Role | None:
    """The user's role (the first role group they belong to), or None."""
    names = {g.name for g in user.groups.all()}
    return next((role for role in Role if role.value in names), None)


def active_admin_ids() -> list[int]:
    """Ids of the active users holding the Admin role."""
    return list(User.objects.filter(is_active=True, groups__name=Role.ADMIN.value).values_list("pk", flat=True))


def cool_off() -> dt.timedelta:
    return get_cool_off() or dt.timedelta(0)


def cool_off_text() -> str:
    """The lockout period in words: "15 minutes", "1 hour"."""
    minutes = max(1, round(cool_off().total_seconds() / 60))
    if minutes % 60 == 0:
        hours = minutes // 60
        return f"{hours} hour{'s' if hours != 1 else ''}"
    return f"{minutes} minute{'s' if minutes != 1 else ''}"


@dataclass(frozen=True)
class LockedSignIn:
    username: str
    ip_address: str | None
    failures: int
    last_attempt: dt.datetime
    unlocks_at: dt.datetime


def locked_sign_ins() -> list[LockedSignIn]:
    """Username + IP pairs locked out now (as many failures as AXES_FAILURE_LIMIT within the cool-off)."""
    since = timezone.now() - cool_off()
    rows = (
        AccessAttempt.objects.filter(attempt_time__gte=since)
        .values("username", "ip_address")
        .annotate(failures=Sum("failures_since_start"), last_attempt=Max("attempt_time"))
        .filter(failures__gte=settings.AXES_FAILURE_LIMIT)
        .order_by("-last_attempt")
    )
    return [
        LockedSignIn(
            username=row["username"] or "",
            ip_address=row["ip_address"],
            failures=row["failures"],
            last_attempt=row["last_attempt"],
            unlocks_at=row["last_attempt"] + cool_off(),
        )
        for row in rows
    ]


def user_list() -> QuerySet:
    """Every user with their groups, active ones first, then by name."""
    return User.objects.prefetch_related("groups").order_by("-is_active", "first_name", "last_name", "username")


@dataclass(frozen=True)
class UserRow:
    user: User
    role: Role | None
    locked: bool
    invited_pending: bool


def user_rows() -> list[UserRow]:
    """The users page: each user with their role, lockout and whether their invitation is still unused."""
    locked_names = {row.username for row in locked_sign_ins()}
    return [
        UserRow(
            user=user,
            role=user_role(user=user),
            locked=user.get_username() in locked_names,
            invited_pending=not user.has_usable_password() and user.last_login is None,
        )
        for user in user_list()
    ]
