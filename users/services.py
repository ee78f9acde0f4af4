"""Every write to users, their roles, sign-in lockouts and sessions.

Each function takes typed keyword-only arguments, runs in one transaction, refuses bad input with a
ValidationError (nothing changed) and announces the change with `users.signals.user_account_changed`,
the hook a later audit log records.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from axes.utils import reset as axes_reset
from django.conf import settings
from django.contrib.auth.models import Group, User
from django.contrib.auth.tokens import default_token_generator
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import F
from django.urls import reverse
from django.utils import timezone
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from contacts.roles import Role
from users.models import UserSecurity
from users.selectors import ROLE_NAMES, active_admin_ids, user_role
from users.signals import UserAction, user_account_changed

logger = logging.getLogger(__name__)


def _announce(action: UserAction, *, user: User, actor: User | None, **changes: Any) -> None:
    user_account_changed.send(sender=User, action=action, user=user, actor=actor, changes=changes)


def _is_last_active_admin(user: User) -> bool:
    admins = active_admin_ids()
    return user.is_active and admins == [user.pk]


def _refuse_superuser_change(user: User, actor: User | None) -> None:
    """An Admin who is not a superuser cannot demote or deactivate a superuser (Django admin's owner)."""
    if user.is_superuser and actor is not None and not actor.is_superuser:
        raise ValidationError(
            f"{user.get_username()} is a superuser: only a superuser may change their role or access."
        )


def _lock_admins() -> None:
    """Serialise the last-Admin checks (PostgreSQL row locks; SQLite's writes are serialised anyway)."""
    list(User.objects.select_for_update().filter(groups__name=Role.ADMIN.value).values_list("pk", flat=True))


@dataclass(frozen=True)
class Invitation:
    user: User
    url: str
    emailed: bool


def invite_url(*, user: User, base_url: str) -> str:
    """The one-time set-password link (Django's password-reset token: spent once a password is set)."""
    path = reverse(
        "account:password_set",
        kwargs={
            "uidb64": urlsafe_base64_encode(force_bytes(user.pk)),
            "token": default_token_generator.make_token(user),
        },
    )
    return base_url.rstrip("/") + path


def _invite_email(*, user: User, url: str, actor: User | None) -> bool:
    days = max(1, settings.PASSWORD_RESET_TIMEOUT // 86400)
    inviter = (actor.get_full_name() or actor.get_username()) if actor else "An administrator"
    body = (
        f"{inviter} invited you to Segments.\n\n"
        f"Choose your password here (the link works once, for {days} day{'s' if days != 1 else ''}):\n{url}\n\n"
        f"Then sign in with the username {user.get_username()}.\n"
    )
    try:
        send_mail("Your Segments account", body, None, [user.email])
    except Exception:  # the account exists either way: the admin copies the link from the page instead
        logger.exception("Could not email the invitation to %s", user.email)
        return False
    return True


def user_invite(
    *,
    email: str,
    role: Role,
    actor: User | None,
    base_url: str,
    first_name: str = "",
    last_name: str = "",
) -> Invitation:
    """Create a user (username = email, no usable password yet) with a role, and email the set-password link."""
    email = User.objects.normalize_email(email.strip()).lower()
    if User.objects.filter(email__iexact=email).exists() or User.objects.filter(username__iexact=email).exists():
        raise ValidationError({"email": f"A user with the email {email} exists already."})
    with transaction.atomic():
        user = User(username=email, email=email, first_name=first_name.strip(), last_name=last_name.strip())
        user.set_unusable_password()
        user.save()
        user.groups.add(Group.objects.get(name=role.value))
        UserSecurity.objects.create(user=user, invited_at=timezone.now(), invited_by=actor)
        _announce(UserAction.INVITED, user=user, actor=actor, email=email, role=role.value)
    url = invite_url(user=user, base_url=base_url)
    return Invitation(user=user, url=url, emailed=_invite_email(user=user, url=url, actor=actor))


def invite_resend(*, user: User, actor: User | None, base_url: str) -> Invitation:
    """Email a fresh set-password link to an invited user who has not chosen a password yet."""
    if user.has_usable_password():
        raise ValidationError(f"{user.get_username()} has a password already: they can sign in.")
    if not user.is_active:
        raise ValidationError(f"{user.get_username()} is deactivated: reactivate them first.")
    url = invite_url(user=user, base_url=base_url)
    with transaction.atomic():
        UserSecurity.objects.update_or_create(user=user, defaults={"invited_at": timezone.now(), "invited_by": actor})
        _announce(UserAction.INVITE_SENT, user=user, actor=actor)
    return Invitation(user=user, url=url, emailed=_invite_email(user=user, url=url, actor=actor))


def user_role_set(*, user: User, role: Role, actor: User | None) -> None:
    """Give the user exactly this role (other, non-role groups stay); the last active Admin keeps theirs."""
    with transaction.atomic():
        _lock_admins()
        old = user_role(user=user)
        if old == role:
            return
        _refuse_superuser_change(user, actor)
        if role != Role.ADMIN and _is_last_active_admin(user):
            raise ValidationError(
                {"role": f"{user.get_username()} is the last active Admin: make someone else an Admin first."}
            )
        user.groups.remove(*Group.objects.filter(name__in=ROLE_NAMES))
        user.groups.add(Group.objects.get(name=role.value))
        _announce(UserAction.ROLE_SET, user=user, actor=actor, role=[old.value if old else None, role.value])


def sessions_end_all(*, user: User, actor: User | None) -> None:
    """End every session of the user, on every device (their session epoch moves on; see users.middleware)."""
    with transaction.atomic():
        security, _ = UserSecurity.objects.get_or_create(user=user)
        UserSecurity.objects.filter(pk=security.pk).update(session_epoch=F("session_epoch") + 1)
        _announce(UserAction.SESSIONS_ENDED, user=user, actor=actor)


def user_deactivate(*, user: User, actor: User | None) -> None:
    """Block the user from signing in and end their sessions (not oneself, not the last active Admin)."""
    if actor is not None and actor.pk == user.pk:
        raise ValidationError("You cannot deactivate yourself: ask another Admin.")
    _refuse_superuser_change(user, actor)
    with transaction.atomic():
        _lock_admins()
        user.refresh_from_db(fields=["is_active"])
        if not user.is_active:
            return
        if _is_last_active_admin(user):
            raise ValidationError(f"{user.get_username()} is the last active Admin: make someone else an Admin first.")
        user.is_active = False
        user.save(update_fields=["is_active"])
        _announce(UserAction.DEACTIVATED, user=user, actor=actor)
        sessions_end_all(user=user, actor=actor)


def user_reactivate(*, user: User, actor: User | None) -> None:
    """Let a deactivated user sign in again (with their old password, or an invitation if they had none)."""
    with transaction.atomic():
        user.refresh_from_db(fields=["is_active"])
        if user.is_active:
            return
        user.is_active = True
        user.save(update_fields=["is_active"])
        _announce(UserAction.REACTIVATED, user=user, actor=actor)


def user_unlock(*, username: str, actor: User | None) -> int:
    """Forget the failed sign-ins of this username (from every address); returns how many records went."""
    if not username:  # axes would read "no username" as "every username"
        raise ValidationError("Which username should be unlocked?")
    with transaction.atomic():
        removed = axes_reset(username=username)
        user = User.objects.filter(username=username).first()
        if user is not None:
            _announce(UserAction.UNLOCKED, user=user, actor=actor, attempts=removed)
    return removed
