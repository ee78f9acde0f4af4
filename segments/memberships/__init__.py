"""Membership rows and their history: the one writer of Membership and MembershipEvent.

Invariant: a Membership row exists iff at least one of via_manual / via_account / via_condition is
true; only unmerged contacts gain a source; and every change of a source writes exactly one
MembershipEvent in the statement that makes it (PostgreSQL: a data-modifying CTE; SQLite: RETURNING,
then one INSERT of the returned rows). An event is ENTERED / LEFT when the change began / ended the
membership, else SOURCE_ADDED / SOURCE_REMOVED. Every writer holds the group's lock (`groups_lock`)
and keeps `ContactGroup.member_count` true before its transaction ends.

Two styles, one invariant:
- set-based, for any number of contacts (rebuilds, accounts, adds by hand, copies, merges): a fixed
  number of statements whatever the size, and no contact id travels through Python;
- row-based, for the few contacts of a re-check (`RowWriter`): hand-written statements, because a
  re-check of one contact has a budget of 10 ms and the ORM spends 0.2-1 ms building each of them.
"""

from __future__ import annotations

from segments.memberships.base import (
    INSERT_BATCH,
    SOURCE_FIELDS,
    SourceChange,
    Why,
)
from segments.memberships.counts import (
    member_count_refresh,
    member_counts_adjust,
    member_counts_refresh,
)
from segments.memberships.locks import (
    GROUP_LOCK_NAMESPACE,
    groups_lock,
)
from segments.memberships.rows import (
    Row,
    RowWriter,
    rows_read,
)
from segments.memberships.sets import (
    group_members_copy,
    memberships_move_to_parents,
    source_add,
    source_remove,
    source_sync,
    source_sync_slice_ids,
)
from segments.memberships.upkeep import (
    Integrity,
    events_prune,
    history_backfill,
    memberships_integrity,
)

__all__ = [
    "GROUP_LOCK_NAMESPACE",
    "INSERT_BATCH",
    "Integrity",
    "Row",
    "RowWriter",
    "SOURCE_FIELDS",
    "SourceChange",
    "Why",
    "events_prune",
    "group_members_copy",
    "groups_lock",
    "history_backfill",
    "member_count_refresh",
    "member_counts_adjust",
    "member_counts_refresh",
    "memberships_integrity",
    "memberships_move_to_parents",
    "rows_read",
    "source_add",
    "source_remove",
    "source_sync",
    "source_sync_slice_ids",
]
