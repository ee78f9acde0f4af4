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

from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from django.core.exceptions import EmptyResultSet
from django.db import connection
from django.db.models import BooleanField, Count, Exists, F, Func, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.db.models.lookups import IsNull
from django.db.models.sql.subqueries import DeleteQuery, UpdateQuery
from django.utils import timezone

from contacts.models import Contact
from segments.models import Cause, ContactGroup, EventKind, Membership, MembershipEvent, Source
from segments.rules.expressions import AnyOf, ids_in_sql

SOURCE_FIELDS: tuple[str, ...] = tuple(s.field for s in Source)
INSERT_BATCH = 1000  # rows per multi-row INSERT (a handful of parameters each: within both databases' limits)


@dataclass(frozen=True)
class SourceChange:
    """What one write did to one group.

    `added` / `removed`: contacts that became / stopped being members. `marked`: members already (by
    another source) that got the source too, e.g. added by hand while in through the condition, who stay
    when the condition stops matching. `unmarked`: members that lost the source but stay through another.
    """

    added: int = 0
    removed: int = 0
    marked: int = 0
    unmarked: int = 0

    def __add__(self, other: SourceChange) -> SourceChange:
        return SourceChange(
            added=self.added + other.added,
            removed=self.removed + other.removed,
            marked=self.marked + other.marked,
            unmarked=self.unmarked + other.unmarked,
        )


@dataclass(frozen=True)
class Why:
    """The cause of a write and the user behind it (None for the system), recorded on its events."""

    cause: Cause
    actor_id: int | None = None


# ---------------------------------------------------------------------------------------------
# Events written with the change.

_MEMBERSHIPS = Membership._meta.db_table
_EVENTS = MembershipEvent._meta.db_table
# The one source named by an event that ends (or begins) a membership with several sources at once.
_FIRST_SOURCE_SQL = (
    f"CASE WHEN via_manual THEN {Source.MANUAL:d} WHEN via_account THEN {Source.ACCOUNT:d} "
    f"ELSE {Source.CONDITION:d} END"
)


def _now() -> Any:
    """Now, as a parameter of a hand-written statement: adapted as the ORM stores it (SQLite: naive UTC text; a
    raw aware datetime would be stored as "…+00:00" text, which sorts and compares apart from the ORM's)."""
    return connection.ops.adapt_datetimefield_value(timezone.now())


def _changing(sql: str, params: Sequence[Any], *, kind: EventKind, source: Source | None, why: Why) -> int:
    """Run `sql` (an INSERT / UPDATE / DELETE of memberships) and record one event per row it changed.

    `source`: the source the statement changes, or None when it ends every source of its rows (the
    event then names the first: manual, account, condition). Returns how many rows changed.
    """
    source_sql = _FIRST_SOURCE_SQL if source is None else f"{source:d}"
    returning = f" RETURNING group_id, contact_id, {source_sql}"
    event = (kind, why.cause, why.actor_id, _now())
    columns = "group_id, contact_id, source, kind, cause, actor_id, at"
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                f"WITH changed(group_id, contact_id, source) AS ({sql}{returning}) "
                f"INSERT INTO {_EVENTS} ({columns}) SELECT group_id, contact_id, source, %s, %s, %s, %s FROM changed",
                [*params, *event],
            )
            return max(cursor.rowcount, 0)
        # TRICKY: SQLite has no data-modifying CTE; the rows come back to Python (the embedded database
        # holds demo-sized data) and go in as one executemany.
        cursor.execute(sql + returning, list(params))
        rows = cursor.fetchall()
        if rows:
            cursor.executemany(
                f"INSERT INTO {_EVENTS} ({columns}) VALUES (%s, %s, %s, %s, %s, %s, %s)",
                [(group_id, contact_id, src, *event) for group_id, contact_id, src in rows],
            )
        return len(rows)


def _update_sql(memberships: QuerySet[Membership], **values: Any) -> tuple[str, tuple]:
    """The ORM's own UPDATE statement for `memberships.update(**values)`, not run."""
    query = cast(UpdateQuery, memberships.query.chain(UpdateQuery))
    query.add_update_values(values)
    query.annotations = {}
    sql, params = query.get_compiler(connection=connection).as_sql()
    return sql, tuple(params)


def _delete_sql(memberships: QuerySet[Membership]) -> tuple[str, tuple]:
    """The ORM's own DELETE statement for `memberships` (nothing refers to a membership row), not run."""
    query = memberships.query.clone()
    query.__class__ = DeleteQuery
    sql, params = query.get_compiler(connection=connection).as_sql()
    return sql, tuple(params)


def _flag(memberships: QuerySet[Membership], *, source: Source, value: bool, kind: EventKind, why: Why) -> int:
    """Set `source` to `value` on `memberships` (which all keep a membership), recording `kind` events."""
    try:
        sql, params = _update_sql(memberships, **{source.field: value})
    except EmptyResultSet:
        return 0
    return _changing(sql, params, kind=kind, source=source, why=why)


def _delete(memberships: QuerySet[Membership], *, source: Source | None, why: Why) -> int:
    """Delete `memberships`, recording a LEFT event for each (naming `source`, or their first source)."""
    try:
        sql, params = _delete_sql(memberships)
    except EmptyResultSet:
        return 0
    return _changing(sql, params, kind=EventKind.LEFT, source=source, why=why)


# ---------------------------------------------------------------------------------------------
# Set-based writes.


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


# ---------------------------------------------------------------------------------------------
# Row-based writes, for the few contacts of a re-check.


@dataclass(slots=True)
class Row:
    """A membership row as a re-check reads and writes it."""

    pk: int | None
    group_id: int
    contact_id: int
    via_manual: bool = False
    via_account: bool = False
    via_condition: bool = False


def rows_read(*, contact_ids: list[int]) -> list[Row]:
    """Every membership row of these contacts (hand-written: see the module docstring)."""
    where, params = ids_in_sql("contact_id", contact_ids, connection)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT id, group_id, contact_id, {', '.join(SOURCE_FIELDS)} FROM {_MEMBERSHIPS} WHERE {where}", params
        )
        return [Row(pk, group, contact, *map(bool, flags)) for pk, group, contact, *flags in cursor.fetchall()]


class RowWriter:
    """Writes sources for a few contacts, row by row in Python but in at most 5 statements a call.

    `existing` holds every membership row of the written groups for the contacts concerned, and is kept
    up to date; the events of every call go in with one INSERT at `flush()`, which also adjusts the
    member counts (one UPDATE per distinct change).
    """

    def __init__(self, *, existing: Iterable[Row], why: Why) -> None:
        self.existing = {(m.group_id, m.contact_id): m for m in existing}
        self.why = why
        self.events: list[tuple[int, int, int, int]] = []  # (group, contact, source, kind)
        self.deltas: Counter[int] = Counter()

    def write(self, *, source: Source, should: set[tuple[int, int]], groups: set[int]) -> None:
        """Make `source` true exactly for the (group, contact) pairs in `should` among the rows of `groups`."""
        field = source.field
        others = [s.field for s in Source if s != source]
        new = [Row(None, g, c, **{field: True}) for g, c in should if (g, c) not in self.existing]
        mine = [m for key, m in self.existing.items() if key[0] in groups]
        gain = [m for m in mine if (m.group_id, m.contact_id) in should and not getattr(m, field)]
        lose = [m for m in mine if (m.group_id, m.contact_id) not in should and getattr(m, field)]
        keep = [m for m in lose if any(getattr(m, other) for other in others)]
        drop = [m for m in lose if not any(getattr(m, other) for other in others)]
        with connection.cursor() as cursor:
            if new:  # the groups are locked and their rows read: no conflict is possible
                self._insert(cursor, new, source=source)
            for rows, sql in (
                (gain, f"UPDATE {_MEMBERSHIPS} SET {field} = TRUE"),
                (keep, f"UPDATE {_MEMBERSHIPS} SET {field} = FALSE"),
                (drop, f"DELETE FROM {_MEMBERSHIPS}"),
            ):
                if rows:
                    where, params = ids_in_sql("id", [m.pk for m in rows if m.pk is not None], connection)
                    cursor.execute(f"{sql} WHERE {where}", params)
        for rows, kind in (
            (new, EventKind.ENTERED),
            (gain, EventKind.SOURCE_ADDED),
            (keep, EventKind.SOURCE_REMOVED),
            (drop, EventKind.LEFT),
        ):
            self.events += [(m.group_id, m.contact_id, source, kind) for m in rows]
        for m in new + gain:
            setattr(m, field, True)
            self.existing[(m.group_id, m.contact_id)] = m
        for m in keep:
            setattr(m, field, False)
        for m in drop:
            del self.existing[(m.group_id, m.contact_id)]
        self.deltas.update(m.group_id for m in new)
        self.deltas.subtract(m.group_id for m in drop)

    @staticmethod
    def _insert(cursor: Any, rows: list[Row], *, source: Source) -> None:
        """INSERT these memberships (with `source` only), a thousand rows per statement, and set their pks."""
        flags = ", ".join("TRUE" if s == source else "FALSE" for s in Source)
        added_at = _now()
        pks: dict[tuple[int, int], int] = {}
        for start in range(0, len(rows), INSERT_BATCH):
            batch = rows[start : start + INSERT_BATCH]
            values = ", ".join([f"(%s, %s, {flags}, %s)"] * len(batch))
            cursor.execute(
                f"INSERT INTO {_MEMBERSHIPS} (group_id, contact_id, {', '.join(SOURCE_FIELDS)}, added_at) "
                f"VALUES {values} RETURNING id, group_id, contact_id",
                [x for m in batch for x in (m.group_id, m.contact_id, added_at)],
            )
            pks.update(((g, c), pk) for pk, g, c in cursor.fetchall())
        for m in rows:
            m.pk = pks[(m.group_id, m.contact_id)]

    def flush(self) -> None:
        """Record the events of every write so far and bring the member counts up to date."""
        at = _now()
        tail = (self.why.cause, self.why.actor_id, at)
        with connection.cursor() as cursor:
            for start in range(0, len(self.events), INSERT_BATCH):
                batch = self.events[start : start + INSERT_BATCH]
                values = ", ".join(["(%s, %s, %s, %s, %s, %s, %s)"] * len(batch))
                cursor.execute(
                    f"INSERT INTO {_EVENTS} (group_id, contact_id, source, kind, cause, actor_id, at) VALUES {values}",
                    [x for event in batch for x in (*event, *tail)],
                )
        self.events.clear()
        member_counts_adjust(deltas=self.deltas)
        self.deltas.clear()


# ---------------------------------------------------------------------------------------------
# Member counts.


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


# ---------------------------------------------------------------------------------------------
# Group locks.

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


# ---------------------------------------------------------------------------------------------
# Integrity and history upkeep.


@dataclass(frozen=True)
class Integrity:
    """Rows that break the membership invariants (each should be 0)."""

    orphans: int  # memberships or events whose contact or group no longer exists
    merged_members: int  # memberships of merged contacts
    wrong_counts: int  # groups whose member_count differs from their rows


def memberships_integrity(*, repair: bool = False) -> Integrity:
    """Count (and with `repair`, remove or fix) what breaks the invariants the dropped foreign keys kept."""
    no_contact = ~Exists(Contact.objects.filter(pk=OuterRef("contact_id")))
    no_group = ~Exists(ContactGroup.objects.filter(pk=OuterRef("group_id")))
    orphan_rows = Membership.objects.filter(no_contact | no_group)
    orphan_events = MembershipEvent.objects.filter(no_contact | no_group)
    merged = Membership.objects.filter(contact__merged_into__isnull=False)
    counted = Membership.objects.filter(group=OuterRef("pk")).order_by().values("group").annotate(n=Count("pk"))
    actual = Coalesce(Subquery(counted.values("n")), 0)
    wrong_ids = list(ContactGroup.objects.annotate(n=actual).exclude(member_count=F("n")).values_list("pk", flat=True))
    found = Integrity(
        orphans=orphan_rows.count() + orphan_events.count(),
        merged_members=merged.count(),
        wrong_counts=len(wrong_ids),
    )
    if repair and (found.orphans or found.merged_members or found.wrong_counts):
        orphan_rows.delete()
        orphan_events.delete()
        if found.merged_members:
            memberships_move_to_parents(
                child_ids=list(merged.values_list("contact_id", flat=True).distinct()), why=Why(Cause.MERGE)
            )
        member_counts_refresh()
    return found


def events_prune(*, older_than_days: int, now: datetime | None = None) -> int:
    """Delete membership history older than `older_than_days`; returns how many events went."""
    cutoff = (now or timezone.now()) - timedelta(days=older_than_days)
    deleted = 0
    for group_id in ContactGroup.objects.order_by("pk").values_list("pk", flat=True):  # each on (group, at)
        deleted += MembershipEvent.objects.filter(group_id=group_id, at__lt=cutoff)._raw_delete(connection.alias)
    return deleted


def history_backfill(
    *,
    group: ContactGroup,
    joined: dict[int, datetime],
    past: list[tuple[int, datetime, datetime]],
    source: Source,
    why: Why,
) -> None:
    """Record membership history from before it was kept (demo data; a move from another tool).

    `joined`: when current members of `group` joined — their newest ENTERED event and their
    Membership.added_at move back to then. `past`: (contact, joined, left) memberships that ended
    before now, recorded as an ENTERED and a LEFT event of `source` (no membership row: they are over).
    """
    rows = list(Membership.objects.filter(group=group, contact_id__in=list(joined)))
    for row in rows:
        row.added_at = joined[row.contact_id]
    Membership.objects.bulk_update(rows, ["added_at"], batch_size=500)
    newest: dict[int, MembershipEvent] = {}
    for event in MembershipEvent.objects.filter(group=group, kind=EventKind.ENTERED, contact_id__in=list(joined)):
        if event.contact_id not in newest or event.at > newest[event.contact_id].at:
            newest[event.contact_id] = event
    for event in newest.values():
        event.at = joined[event.contact_id]
    MembershipEvent.objects.bulk_update(list(newest.values()), ["at"], batch_size=500)
    MembershipEvent.objects.bulk_create(
        [
            MembershipEvent(
                group=group, contact_id=cid, kind=kind, source=source, cause=why.cause, actor_id=why.actor_id, at=at
            )
            for cid, start, end in past
            for kind, at in ((EventKind.ENTERED, start), (EventKind.LEFT, end))
        ],
        batch_size=500,
    )
