"""Group locks: every membership writer holds its group's lock first."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.db.models import BooleanField, Func, Q

from segments.models import ContactGroup, Membership
from segments.rules.expressions import AnyOf

# The namespace of the groups' advisory locks (PostgreSQL): the first key of pg_advisory_xact_lock.
GROUP_LOCK_NAMESPACE = 0x5E6_0001


class _GroupLock(Func):
    """Takes the group's advisory lock (PostgreSQL), held until the transaction ends; always FALSE.

    An advisory lock writes nothing: a row lock on 100 groups costs as much as the re-check's reading.
    Ids past 2**31 share a lock with a smaller one: a needless wait, never a missed one.
    """

    output_field = BooleanField()

    def as_sql(self, compiler: Any, connection: Any, *args: Any, **kwargs: Any) -> Any:
        return "FALSE", ()  # SQLite: a write transaction locks the whole database

    def as_postgresql(self, compiler: Any, connection: Any, **extra_context: Any) -> Any:
        column, params = compiler.compile(self.source_expressions[0])
        return f"pg_advisory_xact_lock(%s, mod({column}, 2147483647)::integer) IS NULL", (
            GROUP_LOCK_NAMESPACE,
            *params,
        )


def groups_lock(*, group_ids: Iterable[int], members_of: list[int] | None = None) -> list[int]:
    """Lock these groups, in id order (deadlock-free), until the transaction ends; returns those that exist.

    `members_of`: also lock every group these contacts are members of (in the same statement).
    Every write to a group's memberships, and its deletion, holds its group's lock first, so rebuilds,
    re-checks and by-hand changes of one group never interleave.
    TRICKY: the ids come from the snapshot taken before waiting. A group deleted meanwhile is still
    returned, and rows written for it then outlive it (no foreign key stops them): invisible, never
    counted, and removed by `memberships_integrity` (nightly).
    """
    scope = Q(AnyOf("pk", sorted(set(group_ids))))
    if members_of:
        scope |= Q(pk__in=Membership.objects.filter(contact_id__in=members_of).values("group_id"))
    # The lock is in the SELECT list: PostgreSQL evaluates it after the ORDER BY, so in id order.
    rows = ContactGroup.objects.filter(scope).order_by("pk").values_list("pk", _GroupLock("pk"))
    return [pk for pk, _ in rows]
