"""Set-based writes, for any number of contacts: rebuilds, accounts, adds by hand, copies, merges."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.core.exceptions import EmptyResultSet
from django.db import connection
from django.db.models import Exists, OuterRef, Q, QuerySet, Subquery
from django.db.models.lookups import IsNull
from django.utils import timezone

from contacts.models import Contact
from segments.memberships.base import (
    _EVENTS,
    _MEMBERSHIPS,
    SOURCE_FIELDS,
    SourceChange,
    Why,
    _changing,
    _delete,
    _flag,
    _now,
    statistics_refresh_after,
)
from segments.models import ContactGroup, EventKind, Membership, Source
from segments.rules.expressions import ids_in_sql


def _contact_in(contacts: QuerySet[Contact]) -> Q:
    """Q over Membership: its contact is in `contacts`, as a correlated EXISTS.

    TRICKY: not `contact__in=…` under a negation: PostgreSQL runs `NOT IN (subquery)` as a hashed
    subplan only while the ids fit in work_mem; past that (a 300k-member group) it rescans the subquery
    for every row and a rebuild never finishes. NOT EXISTS is planned as an anti-join.
    """
    return Q(Exists(contacts.order_by().filter(pk=OuterRef("contact_id"))))


def _contact_probe(contacts: QuerySet[Contact]) -> IsNull:
    """A filter on Membership: its contact is in `contacts`, checked row by row.

    TRICKY: for statements over the few memberships that other sources keep (the members that also
    have another source). EXISTS / IN become a join that evaluates all of `contacts` first (a full rule
    set: 300k contacts for the CZ group); a scalar sub-select never becomes a join, so PostgreSQL runs it
    only for the rows that pass the cheap conditions, each an index probe.
    """
    return IsNull(Subquery(contacts.order_by().filter(pk=OuterRef("contact_id")).values("pk")[:1]), False)


def source_add(
    *, group: ContactGroup, source: Source, contacts: QuerySet[Contact], why: Why, few_existing: bool = False
) -> SourceChange:
    """Give every unmerged contact in `contacts` the source in `group` (the caller holds its lock).

    `few_existing`: few of the group's members lack the source (a re-build: only those in by hand or
    by account), so those are probed one by one rather than joined with all of `contacts`.
    """
    unmerged = contacts.filter(merged_into__isnull=True).order_by()
    try:
        select, params = unmerged.values("pk").query.get_compiler(connection=connection).as_sql()
    except EmptyResultSet:  # Django proved the set empty (e.g. `pk__in=[]`): nothing to add
        return SourceChange()
    lacking = Membership.objects.filter(group=group, **{source.field: False})
    lacking = lacking.filter(_contact_probe(unmerged) if few_existing else Q(contact__in=unmerged.values("pk")))
    marked = _flag(lacking, source=source, value=True, kind=EventKind.SOURCE_ADDED, why=why)
    # TRICKY: Django has no INSERT … SELECT; the SELECT is the ORM's own SQL for `contacts`, so the
    # rule engine's query runs inside the database and no id travels through Python.
    # TRICKY: which rows are new. A group with members: an anti-join with them (a re-build of a 300k
    # group otherwise attempts 300k conflicting inserts). An empty group: no anti-join — on an empty,
    # freshly vacuumed membership table PostgreSQL plans `NOT EXISTS (same table)` as a nested loop
    # over the growing table (quadratic first builds); ON CONFLICT alone skips the rare existing row.
    # "WHERE …" also resolves SQLite's INSERT … SELECT … ON CONFLICT parsing ambiguity.
    if Membership.objects.filter(group=group).exists():
        new_only = f"WHERE NOT EXISTS (SELECT 1 FROM {_MEMBERSHIPS} m WHERE m.group_id = %s AND m.contact_id = src.pk)"
        new_params: tuple = (group.pk,)
    else:
        new_only, new_params = "WHERE true", ()
    flags = [s == source for s in Source]
    insert = (
        f"INSERT INTO {_MEMBERSHIPS} (group_id, contact_id, {', '.join(SOURCE_FIELDS)}, added_at) "
        f"SELECT %s, src.pk, %s, %s, %s, %s FROM ({select}) src {new_only} "
        "ON CONFLICT (group_id, contact_id) DO NOTHING"
    )
    added = _changing(
        insert,
        (group.pk, *flags, _now(), *params, *new_params),
        kind=EventKind.ENTERED,
        source=source,
        why=why,
    )
    return SourceChange(added=added, marked=marked)


def source_remove(
    *,
    group: ContactGroup,
    source: Source,
    memberships: QuerySet[Membership],
    why: Why,
    still: QuerySet[Contact] | None = None,
) -> SourceChange:
    """Take `source` away from `memberships` of `group`, except for contacts in `still` (when given)."""
    scope = memberships.filter(group=group, **{source.field: True})
    others = [s.field for s in Source if s != source]
    only_this = Q(**{others[0]: False}) & Q(**{others[1]: False})
    gone, kept = scope.filter(only_this), scope.exclude(only_this)
    if still is not None:
        gone = gone.filter(~_contact_in(still))  # most of the rows: one anti-join
        kept = kept.exclude(_contact_probe(still))  # few rows: probed one by one
    removed = _delete(gone, source=source, why=why)
    unmarked = _flag(kept, source=source, value=False, kind=EventKind.SOURCE_REMOVED, why=why)
    return SourceChange(removed=removed, unmarked=unmarked)


def source_sync(
    *,
    group: ContactGroup,
    source: Source,
    should: QuerySet[Contact],
    why: Why,
    within: Sequence[int] | None = None,
) -> SourceChange:
    """Make `source` true in `group` for exactly the unmerged contacts of `should` (the caller holds the lock).

    `within`: only for these contacts (a slice of a rebuild); the group's other members are left alone.
    PostgreSQL: one statement that evaluates `should` once. SQLite, or a slice: a removal, then an addition.
    """
    if within is not None:
        should = should.filter(pk__in=within)
    unmerged = should.filter(merged_into__isnull=True)
    if connection.vendor != "postgresql" or within is not None:
        memberships = Membership.objects.filter(group=group)
        if within is not None:
            memberships = memberships.filter(contact_id__in=within)
        change = source_remove(group=group, source=source, memberships=memberships, still=unmerged, why=why)
        return change + source_add(group=group, source=source, contacts=should, why=why, few_existing=True)
    try:
        select, params = unmerged.order_by().values("pk").query.get_compiler(connection=connection).as_sql()
    except EmptyResultSet:
        select, params = "SELECT NULL::bigint AS pk WHERE false", ()
    flag = source.field
    others = " OR ".join(f"d.{s.field}" for s in Source if s != source)
    flags = ", ".join("true" if s == source else "false" for s in Source)
    returning = f"RETURNING m.group_id, m.contact_id, {source:d}"
    # TRICKY: one statement. The rule's set and the group's rows meet once, in a FULL JOIN that keeps
    # only the rows to change (`diff`, materialized: usually a handful); four data-modifying CTEs then
    # change those rows by key — members that only had this source leave, members with another source
    # lose it, members without it gain it, the others enter — each recording its history. They touch
    # disjoint rows (PostgreSQL forbids changing a row twice in one statement) and see the memberships
    # as they were before the statement, which is what each needs. An empty group: `_first_build`.
    if not Membership.objects.filter(group=group).exists():
        return _first_build(group=group, select=select, params=params, source=source, why=why)
    diff = f"""
        SELECT coalesce(s.pk, c.contact_id) AS contact_id, s.pk IS NOT NULL AS should,
               c.contact_id IS NOT NULL AS present, c.via_manual, c.via_account, c.via_condition
        FROM should s FULL JOIN (
            SELECT contact_id, via_manual, via_account, via_condition FROM {_MEMBERSHIPS} WHERE group_id = %s
        ) c ON c.contact_id = s.pk
        WHERE CASE WHEN s.pk IS NULL THEN c.{flag} ELSE c.contact_id IS NULL OR NOT c.{flag} END"""
    diff_params: tuple = (group.pk,)

    def keyed(condition: str) -> str:
        # TRICKY: by key, through an array built when the statement runs: the planner cannot know how few
        # rows `diff` holds and would otherwise hash-join it with every membership of every group.
        return f"m.group_id = %s AND m.contact_id = ANY(ARRAY(SELECT d.contact_id FROM diff d WHERE {condition}))"

    sql = f"""
        WITH should AS MATERIALIZED ({select}),
        diff AS MATERIALIZED ({diff}),
        gone AS (
            DELETE FROM {_MEMBERSHIPS} m WHERE {keyed(f"NOT d.should AND NOT ({others})")}
            {returning}, {EventKind.LEFT:d}),
        unmarked AS (
            UPDATE {_MEMBERSHIPS} m SET {flag} = false WHERE {keyed(f"NOT d.should AND ({others})")}
            {returning}, {EventKind.SOURCE_REMOVED:d}),
        marked AS (
            UPDATE {_MEMBERSHIPS} m SET {flag} = true WHERE {keyed("d.should AND d.present")}
            {returning}, {EventKind.SOURCE_ADDED:d}),
        entered AS (
            INSERT INTO {_MEMBERSHIPS} AS m (group_id, contact_id, {", ".join(SOURCE_FIELDS)}, added_at)
            SELECT %s, d.contact_id, {flags}, %s FROM diff d WHERE d.should AND NOT d.present
            ON CONFLICT (group_id, contact_id) DO NOTHING
            {returning}, {EventKind.ENTERED:d}),
        recorded AS (
            INSERT INTO {_EVENTS} (group_id, contact_id, source, kind, cause, actor_id, at)
            SELECT c.*, %s, %s, %s FROM (
                SELECT * FROM gone UNION ALL SELECT * FROM unmarked
                UNION ALL SELECT * FROM marked UNION ALL SELECT * FROM entered) c
            RETURNING kind)
        SELECT kind, count(*) FROM recorded GROUP BY kind"""
    now = timezone.now()
    with connection.cursor() as cursor:
        cursor.execute(
            sql,
            [*params, *diff_params, group.pk, group.pk, group.pk, group.pk, now, why.cause, why.actor_id, now],
        )
        counts = dict(cursor.fetchall())
    statistics_refresh_after(sum(counts.values()))
    return SourceChange(
        added=counts.get(EventKind.ENTERED, 0),
        removed=counts.get(EventKind.LEFT, 0),
        marked=counts.get(EventKind.SOURCE_ADDED, 0),
        unmarked=counts.get(EventKind.SOURCE_REMOVED, 0),
    )


def _first_build(*, group: ContactGroup, select: str, params: Sequence[Any], source: Source, why: Why) -> SourceChange:
    """`source_sync` into an empty group (the caller holds its lock): every contact of the set enters.

    One INSERT … SELECT and its history, as a hand-written first build would be: no join with the group's
    rows (on an empty, freshly vacuumed table PostgreSQL may plan one as a nested loop), no difference
    materialised and scanned, and no ON CONFLICT probe per row — TRICKY: safe because every membership writer
    holds the group's lock (`groups_lock`), so the group the caller found empty stays empty until this runs.
    """
    flags = ", ".join("true" if s == source else "false" for s in Source)
    sql = f"""
        WITH entered AS (
            INSERT INTO {_MEMBERSHIPS} AS m (group_id, contact_id, {", ".join(SOURCE_FIELDS)}, added_at)
            SELECT %s, s.pk, {flags}, %s FROM ({select}) s
            RETURNING m.group_id, m.contact_id),
        recorded AS (
            INSERT INTO {_EVENTS} (group_id, contact_id, source, kind, cause, actor_id, at)
            SELECT e.group_id, e.contact_id, %s, %s, %s, %s, %s FROM entered e
            RETURNING 1)
        SELECT count(*) FROM recorded"""
    now = timezone.now()
    with connection.cursor() as cursor:
        cursor.execute(sql, [group.pk, now, *params, int(source), int(EventKind.ENTERED), why.cause, why.actor_id, now])
        (added,) = cursor.fetchone()
    statistics_refresh_after(added)
    return SourceChange(added=added)


def source_sync_slice_ids(*, group: ContactGroup, source: Source, should: QuerySet[Contact]) -> list[int]:
    """The contacts whose `source` in `group` differs from `should` now: what a sliced sync must visit.

    A read (no lock, no write): the slices then re-evaluate their contacts under the lock, so a contact
    that changed between this read and its slice is still written right.
    """
    unmerged = should.filter(merged_into__isnull=True).order_by().values("pk")
    holding = Membership.objects.filter(group=group, **{source.field: True}).values("contact_id")
    lacking = set(unmerged.exclude(pk__in=holding).values_list("pk", flat=True))
    extra = set(holding.exclude(contact_id__in=unmerged).values_list("contact_id", flat=True))
    return sorted(lacking | extra)


def group_members_copy(*, source_group: ContactGroup, target: ContactGroup, freeze: bool, why: Why) -> int:
    """Make `target` (new, empty, locked) hold the members of `source_group`: all by hand (`freeze`) or
    with the same sources."""
    flags = "TRUE, FALSE, FALSE" if freeze else ", ".join(SOURCE_FIELDS)
    insert = (
        f"INSERT INTO {_MEMBERSHIPS} (group_id, contact_id, {', '.join(SOURCE_FIELDS)}, added_at) "
        f"SELECT %s, contact_id, {flags}, %s FROM {_MEMBERSHIPS} WHERE group_id = %s"
    )
    return _changing(
        insert,
        (target.pk, _now(), source_group.pk),
        kind=EventKind.ENTERED,
        source=Source.MANUAL if freeze else None,
        why=why,
    )


def memberships_move_to_parents(*, child_ids: Sequence[int], why: Why) -> None:
    """Merged contacts are never members: their manual memberships move to their parents, the rest go.

    Set-based over every merged contact at once; the parent is each child's `merged_into`.
    """
    if not child_ids:
        return
    moving = Membership.objects.filter(contact_id__in=child_ids, via_manual=True)
    by_hand_elsewhere = moving.filter(group_id=OuterRef("group_id"), contact__merged_into=OuterRef("contact_id"))
    _flag(
        Membership.objects.filter(via_manual=False).filter(Exists(by_hand_elsewhere)),
        source=Source.MANUAL,
        value=True,
        kind=EventKind.SOURCE_ADDED,
        why=why,
    )
    where, params = ids_in_sql("m.contact_id", child_ids, connection)
    _changing(
        f"INSERT INTO {_MEMBERSHIPS} (group_id, contact_id, {', '.join(SOURCE_FIELDS)}, added_at) "
        f"SELECT DISTINCT m.group_id, c.merged_into_id, TRUE, FALSE, FALSE, %s "
        f"FROM {_MEMBERSHIPS} m JOIN {Contact._meta.db_table} c ON c.id = m.contact_id "
        f"WHERE m.via_manual AND c.merged_into_id IS NOT NULL AND {where} "
        "ON CONFLICT (group_id, contact_id) DO NOTHING",
        (_now(), *params),
        kind=EventKind.ENTERED,
        source=Source.MANUAL,
        why=why,
    )
    _delete(Membership.objects.filter(contact_id__in=child_ids), source=None, why=why)
