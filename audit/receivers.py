"""users.services announce every user and role change (users.signals): each becomes an audit entry, written
in the service's transaction like every other."""

from __future__ import annotations

from typing import Any

from django.dispatch import receiver

from audit.services import audit_record, change
from users.signals import UserAction, user_account_changed

SUMMARIES = {
    UserAction.INVITED: "invited with the role {role}",
    UserAction.INVITE_SENT: "sent a new invitation link",
    UserAction.ROLE_SET: "role changed from {role_before} to {role_after}",
    UserAction.DEACTIVATED: "deactivated (cannot sign in; sessions ended)",
    UserAction.REACTIVATED: "reactivated",
    UserAction.UNLOCKED: "failed sign-ins forgotten ({attempts} records)",
    UserAction.SESSIONS_ENDED: "every session ended",
}


@receiver(user_account_changed, dispatch_uid="audit.user_account_changed")
def record_user_change(sender: Any, action: UserAction, user: Any, actor: Any, changes: dict, **kwargs: Any) -> None:
    facts: dict[str, Any] = dict(changes)
    role = facts.get("role")
    words = {"role": role, "attempts": facts.get("attempts", 0)}
    if action == UserAction.ROLE_SET and isinstance(role, list | tuple) and len(role) == 2:
        facts["role"] = change(role[0], role[1])
        words.update(role_before=role[0] or "no role", role_after=role[1])
    audit_record(
        action=f"user.{UserAction(action).value}",
        obj=user,
        label=user.get_username(),
        changes=facts,
        summary=SUMMARIES[UserAction(action)].format(**words),
        actor=actor,
    )
