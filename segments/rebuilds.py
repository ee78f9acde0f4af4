"""Rebuilds: a group's condition, evaluated in the database, becomes its condition source.

Invariant: a rebuild writes only the difference between the stored condition members and the rule's
set, through `segments.memberships` (which records the history), under the group's lock; a rebuild
started for an older condition version never overwrites a newer one (the lock orders them, and each
reads the condition after taking it). Groups rebuild in dependency order (`segments.graph`).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import DatabaseError, connection, connections, transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from audit.models import AuditAction
from audit.services import audit_record
from contacts.models import Contact
from segments.graph import dependency_levels
from segments.memberships import (
    SourceChange,
    Why,
    groups_lock,
    member_count_refresh,
    source_sync,
    source_sync_slice_ids,
)
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


def group_rebuild(*, group: ContactGroup, now: datetime | None = None) -> RebuildResult:
    """Recompute the condition source of `group` in the database, writing only the difference.

    PostgreSQL: one transaction, one statement. SQLite (one writer for the whole file): in slices, so
    that other writes never wait for a whole rebuild (`_rebuild_in_slices`).
    """
    if connection.vendor == "postgresql":
        return _rebuild_at_once(group=group, now=now)
    return _rebuild_in_slices(group=group, now=now)


@transaction.atomic
def _rebuild_at_once(*, group: ContactGroup, now: datetime | None) -> RebuildResult:
    started = time.monotonic()
    groups_lock(group_ids=[group.pk])  # two rebuilds (or a rebuild and a re-check) never interleave
    _tune_for_a_big_statement()
    locked = ContactGroup.objects.get(pk=group.pk)
    started_at = timezone.now()
    matching = _rule_contacts(locked, now)
    change = source_sync(group=locked, source=Source.CONDITION, should=matching, why=Why(Cause.REBUILD))
    count = member_count_refresh(group=locked)
    return _rebuild_succeeded(group=group, change=change, count=count, started=started, started_at=started_at)


class _Superseded(Exception):
    """The condition changed while a sliced rebuild ran: the rebuild queued by that change takes over."""


def _rebuild_in_slices(*, group: ContactGroup, now: datetime | None) -> RebuildResult:
    """SQLite: read the difference outside any write transaction, then write it settings.REBUILD_SLICE
    contacts at a time, each slice a short transaction that re-evaluates the rule for its contacts.

    Exact: every contact of a slice is judged under the write lock, so one that changed after the first
    read is still written right (and one that started to differ after it has its own re-check queued).
    TRICKY: a condition change between slices stops the rebuild (the one queued by the change finishes
    the job); without the check, the old condition's slices would undo the new one's.
    """
    started = time.monotonic()
    started_at = timezone.now()
    current = ContactGroup.objects.get(pk=group.pk)
    version = current.condition_version
    matching = _rule_contacts(current, now)  # an invalid condition raises here, before any write
    ids = source_sync_slice_ids(group=current, source=Source.CONDITION, should=matching)
    why = Why(Cause.REBUILD)
    change = SourceChange()
    try:
        for first in range(0, len(ids), settings.REBUILD_SLICE):
            with transaction.atomic():
                _lock_unchanged(group=current, version=version)
                within = ids[first : first + settings.REBUILD_SLICE]
                change += source_sync(group=current, source=Source.CONDITION, should=matching, why=why, within=within)
                member_count_refresh(group=current)
            _give_way()
        with transaction.atomic():
            _lock_unchanged(group=current, version=version)
            count = member_count_refresh(group=current)
            return _rebuild_succeeded(group=group, change=change, count=count, started=started, started_at=started_at)
    except _Superseded:
        logger.info("rebuild of group %s stopped: its condition changed meanwhile", group.pk)
        group.refresh_from_db()
        return RebuildResult(
            group_id=group.pk,
            added=change.added,
            removed=change.removed,
            duration_ms=int((time.monotonic() - started) * 1000),
            member_count=group.member_count,
        )


def _give_way() -> None:
    """Between two slices, a pause in which writers that waited for the lock get it.

    TRICKY: SQLite's busy handler polls (every 100 ms at most); back-to-back slices took the lock again
    the instant they released it, and a contact edit waited 12.7 s behind a 78k-member rebuild.
    Inside a caller's transaction nobody else can write anyway: no pause.
    """
    if not connection.in_atomic_block:
        time.sleep(settings.REBUILD_SLICE_PAUSE)


def _lock_unchanged(*, group: ContactGroup, version: int) -> None:
    groups_lock(group_ids=[group.pk])
    if not ContactGroup.objects.filter(pk=group.pk, condition_version=version).exists():
        raise _Superseded


def _rebuild_succeeded(
    *, group: ContactGroup, change: SourceChange, count: int, started: float, started_at: datetime
) -> RebuildResult:
    duration_ms = int((time.monotonic() - started) * 1000)
    ContactGroup.objects.filter(pk=group.pk).update(
        rebuild_status=RebuildStatus.SUCCEEDED,
        rebuild_error="",
        rebuild_interruptions=0,
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
    ContactGroup.objects.filter(pk=group_id).update(
        rebuild_status=RebuildStatus.RUNNING, rebuild_heartbeat_at=timezone.now()
    )
    try:
        with rebuild_heartbeat(group_id=group_id):
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
    ContactGroup.objects.filter(pk=group.pk).update(
        rebuild_status=RebuildStatus.QUEUED, rebuild_error="", rebuild_interruptions=0
    )
    _queue_on_commit(group_id=group.pk)


@transaction.atomic
def group_rebuild_request(*, group: ContactGroup) -> None:
    """Someone asked for a rebuild (the Rebuild button, the API): queue it and note who in the audit log."""
    group_rebuild_queue(group=group)
    audit_record(action=AuditAction.GROUP_REBUILT, obj=group, summary="queued a rebuild")


def _queue_on_commit(*, group_id: int) -> None:
    from health.queue import task_queue_on_commit

    task_queue_on_commit("segments.tasks.rebuild_group", group_id)  # the broker down: kept, queued when it is back


# ---------------------------------------------------------------------------------------------
# A rebuild's heartbeat, and the minutely check that requeues rebuilds whose worker died.


@contextmanager
def rebuild_heartbeat(*, group_id: int, every: float | None = None) -> Iterator[None]:
    """While the block runs, a thread writes the group's heartbeat every `every` seconds (its own connection).

    TRICKY: the rebuild's own transaction may hold the group's row (its final count update, or a
    caller's transaction): the beat waits at most a second for it (PostgreSQL) and is skipped when it
    cannot be written; a live rebuild only has to beat once per REBUILD_STALE_AFTER.
    """
    every = settings.REBUILD_HEARTBEAT_SECONDS if every is None else every
    stop = threading.Event()

    def beat() -> None:
        try:
            while not stop.wait(every):
                try:
                    with transaction.atomic():
                        if connection.vendor == "postgresql":
                            with connection.cursor() as cursor:
                                cursor.execute("SET LOCAL lock_timeout = '1s'")
                        ContactGroup.objects.filter(pk=group_id, rebuild_status=RebuildStatus.RUNNING).update(
                            rebuild_heartbeat_at=timezone.now()
                        )
                except DatabaseError:
                    logger.debug("heartbeat of group %s skipped", group_id, exc_info=True)
        finally:
            connections.close_all()  # this thread's own connections

    thread = threading.Thread(target=beat, name=f"rebuild-heartbeat-{group_id}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=5)


def rebuilds_recover_interrupted(*, now: datetime | None = None) -> list[int]:
    """Queue again every running rebuild whose heartbeat stopped (its worker died); returns their group ids.

    After settings.REBUILD_MAX_INTERRUPTIONS in a row the group is marked failed instead: a rebuild that
    kills its worker every time (memory, a time limit) must not be retried forever.
    """
    now = now or timezone.now()
    cutoff = now - timedelta(seconds=settings.REBUILD_STALE_AFTER)
    stale = ContactGroup.objects.filter(rebuild_status=RebuildStatus.RUNNING).filter(
        Q(rebuild_heartbeat_at__lt=cutoff) | Q(rebuild_heartbeat_at__isnull=True)
    )
    requeued = []
    for group in stale:
        since = timezone.localtime(group.rebuild_heartbeat_at or now).strftime("%H:%M")
        interruptions = group.rebuild_interruptions + 1
        with transaction.atomic():
            # Only if still silent: a rebuild that beat meanwhile (or ended) is left alone.
            still = ContactGroup.objects.filter(
                pk=group.pk, rebuild_status=RebuildStatus.RUNNING, rebuild_heartbeat_at=group.rebuild_heartbeat_at
            )
            if interruptions >= settings.REBUILD_MAX_INTERRUPTIONS:
                still.update(
                    rebuild_status=RebuildStatus.FAILED,
                    rebuild_interruptions=interruptions,
                    last_rebuild_finished_at=now,
                    rebuild_error=(
                        f"The rebuild was interrupted {interruptions} times in a row (its worker stopped during it, "
                        f"last at {since}), so it is not tried again automatically. Rebuild by hand to try again."
                    ),
                )
                continue
            if still.update(
                rebuild_status=RebuildStatus.INTERRUPTED,
                rebuild_interruptions=interruptions,
                rebuild_error=f"The worker stopped during the rebuild (no sign of life since {since}); queued again.",
            ):
                _queue_on_commit(group_id=group.pk)
                requeued.append(group.pk)
    if requeued:
        logger.warning("interrupted rebuilds queued again: groups %s", requeued)
    return requeued


def group_drifts(*, group: ContactGroup) -> bool:
    """True when the condition depends on the passing of time but no nightly rebuild keeps it true."""
    from segments.rules import uses_relative_dates

    return bool(
        group.is_condition_based
        and group.condition
        and not group.scheduled_rebuild
        and uses_relative_dates(group.condition)
    )
