"""The hook for an audit log: every user or role change made by users.services sends this signal.

Sent inside the service's transaction (a receiver writing a log row commits or rolls back with the change),
with keyword arguments `action` (a `UserAction`), `user` (the user changed), `actor` (who did it, or None
for the system) and `changes` (a dict describing the change, e.g. {"role": ["Staff", "Admin"]}).
"""

from __future__ import annotations

from enum import StrEnum

from django.dispatch import Signal


class UserAction(StrEnum):
    INVITED = "invited"
    INVITE_SENT = "invite_sent"
    ROLE_SET = "role_set"
    DEACTIVATED = "deactivated"
    REACTIVATED = "reactivated"
    UNLOCKED = "unlocked"
    SESSIONS_ENDED = "sessions_ended"


user_account_changed = Signal()
