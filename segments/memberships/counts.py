"""Member counts: every writer keeps ContactGroup.member_count true before its transaction ends."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable

from django.db import connection
from django.db.models import Count

from segments.models import ContactGroup, Membership
from segments.rules.expressions import ids_in_sql


def member_count_refresh(*, group: ContactGroup) -> int:
    """Count `group`'s members into its member_count (the caller holds its lock); returns the count."""
    count = Membership.objects.filter(group=group).count()
    ContactGroup.objects.filter(pk=group.pk).update(member_count=count)
    group.member_count = count
    return count


def member_counts_adjust(*, deltas: Counter[int]) -> None:
    """Add each group's change to its member count (the groups are locked): one statement per distinct change."""
    by_change: dict[int, list[int]] = defaultdict(list)
    for group_id, change in deltas.items():
        if change:
            by_change[change].append(group_id)
    table = ContactGroup._meta.db_table
    with connection.cursor() as cursor:
        for change, group_ids in by_change.items():
            where, params = ids_in_sql("id", group_ids, connection)
            cursor.execute(f"UPDATE {table} SET member_count = member_count + %s WHERE {where}", [change, *params])


def member_counts_refresh(*, group_ids: Iterable[int] | None = None) -> None:
    """Recount the members of these groups (all when None) into their member_count."""
    groups = ContactGroup.objects.all() if group_ids is None else ContactGroup.objects.filter(pk__in=list(group_ids))
    counts = dict(
        Membership.objects.filter(group__in=groups.values("pk"))
        .values("group_id")
        .annotate(n=Count("id"))
        .values_list("group_id", "n")
    )
    for group_id, stored in groups.values_list("pk", "member_count"):
        if counts.get(group_id, 0) != stored:
            ContactGroup.objects.filter(pk=group_id).update(member_count=counts.get(group_id, 0))
