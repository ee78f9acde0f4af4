"""Rebuilds: a group's condition, evaluated in the database, becomes its condition source.

Invariant: a rebuild writes only the difference between the stored condition members and the rule's
set, through `segments.memberships` (which records the history), under the group's lock; a rebuild
started for an older condition version never overwrites a newer one (the lock orders them, and each
reads the condition after taking it). Groups rebuild in dependency order (`segments.graph`).
"""

from __future__ import annotations

import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.db import connection, connections, transaction
from django.db.models import QuerySet
from django.utils import timezone

from contacts.models import Contact
from segments.graph import dependency_levels
from segments.memberships import Why, groups_lock, member_count_refresh, source_sync
from segments.models import Cause, ContactGroup, RebuildStatus, Source

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class RebuildResult:
    group_id: int
    added: int
    removed: int
    duration_ms: int
    member_count: int


def _rule_contacts(group: ContactGroup, now: datetime | None) -> QuerySet[Contact]:
    from segments.rules import matching_contacts, validate

    if not group.is_condition_based or not group.condition:
        # TRICKY: not .none(): its SQL cannot be compiled into the INSERT … SELECT (EmptyResultSet).
        return Contact.objects.filter(pk__isnull=True)
    return matching_contacts(validate(group.condition, group=group), now=now)


@transaction.atomic
def group_rebuild(*, group: ContactGroup, now: datetime | None = None) -> RebuildResult:
    """Recompute the condition source of `group` in the database, writing only the difference."""
    started = time.monotonic()
    groups_lock(group_ids=[group.pk])  # two rebuilds (or a rebuild and a re-check) never interleave
    _tune_for_a_big_statement()
    locked = ContactGroup.objects.get(pk=group.pk)
    started_at = timezone.now()
    matching = _rule_contacts(locked, now)
    why = Why(Cause.REBUILD)
    change = source_sync(group=locked, source=Source.CONDITION, should=matching, why=why)
    count = member_count_refresh(group=locked)
    duration_ms = int((time.monotonic() - started) * 1000)
    ContactGroup.objects.filter(pk=locked.pk).update(
        rebuild_status=RebuildStatus.SUCCEEDED,
        rebuild_error="",
        last_rebuild_started_at=started_at,
        last_rebuild_finished_at=timezone.now(),
        last_rebuild_duration_ms=duration_ms,
        last_rebuild_added=change.added,
        last_rebuild_removed=change.removed,
    )
    group.refresh_from_db()
    return RebuildResult(
        group_id=group.pk, added=change.added, removed=change.removed, duration_ms=duration_ms, member_count=count
    )


def _tune_for_a_big_statement() -> None:
    """PostgreSQL, this transaction only: no JIT, and room to hash a million ids in memory.

    TRICKY: JIT compiled a rebuild's 77 expressions for 0.5 s to save less than that (100 groups a night);
    with the default 4 MB, joining a 650k-member group with its rule spilled to disk in 8 batches.
    """
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT set_config('jit', 'off', true), set_config('work_mem', %s, true)", [settings.REBUILD_WORK_MEM]
            )


def _rebuild_failed(*, group_id: int, error: str) -> None:
    ContactGroup.objects.filter(pk=group_id).update(
        rebuild_status=RebuildStatus.FAILED, rebuild_error=error, last_rebuild_finished_at=timezone.now()
    )


def group_rebuild_by_id(*, group_id: int, now: datetime | None = None) -> dict:
    """Rebuild one group; a failure keeps the old members and is recorded on the group."""
    from segments.rules import RuleError

    group = ContactGroup.objects.get(pk=group_id)
    ContactGroup.objects.filter(pk=group_id).update(rebuild_status=RebuildStatus.RUNNING)
    try:
        result = group_rebuild(group=group, now=now)
    except RuleError as exc:  # the transaction rolled back: old members stay
        _rebuild_failed(group_id=group_id, error=f"The condition is invalid: {exc}")
        return {"group_id": group_id, "ok": False, "error": str(exc)}
    except Exception as exc:
        _rebuild_failed(group_id=group_id, error=f"The rebuild failed: {exc}")
        raise
    return {"group_id": group_id, "ok": True, "added": result.added, "removed": result.removed}


def groups_in_levels(*, groups: QuerySet[ContactGroup]) -> list[list[ContactGroup]]:
    """`groups` in dependency levels: every group is in a later level than the groups its condition refers to."""
    from segments.rules import referenced_groups

    by_code = {g.code: g for g in groups}
    refs = {
        code: referenced_groups(g.condition) if g.is_condition_based and g.condition else set()
        for code, g in by_code.items()
    }
    return [[by_code[code] for code in level] for level in dependency_levels(refs)]


def groups_in_dependency_order(*, groups: QuerySet[ContactGroup]) -> list[ContactGroup]:
    """`groups` ordered so that every group comes after the groups its condition refers to."""
    return [group for level in groups_in_levels(groups=groups) for group in level]


def groups_rebuild_scheduled(*, now: datetime | None = None) -> list[dict]:
    """Rebuild every condition-based group with scheduled rebuild on, dependencies first."""
    return groups_rebuild_many(
        groups=ContactGroup.objects.filter(is_condition_based=True, scheduled_rebuild=True), now=now
    )


def groups_rebuild_many(*, groups: QuerySet[ContactGroup], now: datetime | None = None) -> list[dict]:
    """Rebuild `groups` level by level of the reference graph; the groups of a level in parallel.

    On PostgreSQL, settings.REBUILD_CONNECTIONS connections (one thread each: the database does the
    work) rebuild the groups of a dependency level at once, biggest first; a level starts when the
    one before it has ended, so a membership rule always reads finished groups. One group's failure is
    recorded on it (and logged) and does not stop the others.
    TRICKY: never inside a caller's transaction (its uncommitted data would be invisible to the other
    connections): there, and on SQLite (one writer at a time), the groups rebuild one after another.
    """
    parallel = settings.REBUILD_CONNECTIONS > 1 and connection.vendor == "postgresql" and not connection.in_atomic_block
    results: list[dict] = []
    for level in groups_in_levels(groups=groups):
        ids = [g.pk for g in sorted(level, key=lambda g: -g.member_count)]
        if not parallel or len(ids) == 1:
            results += [_rebuild_logged(group_id, now) for group_id in ids]
            continue
        with ThreadPoolExecutor(max_workers=settings.REBUILD_CONNECTIONS) as pool:
            results += pool.map(lambda group_id: _rebuild_in_thread(group_id, now), ids)
    return results


def _rebuild_logged(group_id: int, now: datetime | None) -> dict:
    """group_rebuild_by_id, but an unexpected failure becomes a result (it is already recorded on the group)."""
    try:
        return group_rebuild_by_id(group_id=group_id, now=now)
    except Exception as exc:
        logger.exception("rebuild of group %s failed", group_id)
        return {"group_id": group_id, "ok": False, "error": str(exc)}


def _rebuild_in_thread(group_id: int, now: datetime | None) -> dict:
    try:
        return _rebuild_logged(group_id, now)
    finally:
        connections.close_all()  # this thread's own connections


def group_rebuild_queue(*, group: ContactGroup) -> None:
    """Mark `group` queued and run its rebuild in the worker once the current transaction commits."""
    from django_q.tasks import async_task

    ContactGroup.objects.filter(pk=group.pk).update(rebuild_status=RebuildStatus.QUEUED, rebuild_error="")
    transaction.on_commit(lambda: async_task("segments.tasks.rebuild_group", group.pk))


def group_drifts(*, group: ContactGroup) -> bool:
    """True when the condition depends on the passing of time but no nightly rebuild keeps it true."""
    from segments.rules import uses_relative_dates

    return bool(
        group.is_condition_based
        and group.condition
        and not group.scheduled_rebuild
        and uses_relative_dates(group.condition)
    )
