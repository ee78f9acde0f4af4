"""Shared by every writer: what a write did (SourceChange), why (Why), and the statements that change
membership rows and write their history rows in the same statement."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

from django.core.exceptions import EmptyResultSet
from django.db import connection, transaction
from django.db.models import QuerySet
from django.db.models.sql.subqueries import DeleteQuery, UpdateQuery

from config.database import sql_datetime
from segments.models import Cause, EventKind, Membership, MembershipEvent, Source

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


_MEMBERSHIPS = Membership._meta.db_table
_EVENTS = MembershipEvent._meta.db_table
# The one source named by an event that ends (or begins) a membership with several sources at once.
_FIRST_SOURCE_SQL = (
    f"CASE WHEN via_manual THEN {Source.MANUAL:d} WHEN via_account THEN {Source.ACCOUNT:d} "
    f"ELSE {Source.CONDITION:d} END"
)


def _now() -> Any:
    """Now, as a parameter of a hand-written statement (see config.database.sql_datetime)."""
    return sql_datetime()


# A set-based write that changed at least this many memberships, and at least this share of the table, has
# PostgreSQL's planner statistics of the memberships refreshed once its transaction commits.
ANALYZE_MIN_ROWS = 1000
ANALYZE_SHARE = 0.1


def statistics_refresh_after(changed: int) -> None:
    """After a write that changed `changed` memberships: ANALYZE them on commit when it changed a large share.

    Why: autovacuum analyzes a table a minute or so after 10 % of it changed; until then the planner knows
    nothing of a group built a moment ago and guesses it has one member. Searching such a group's members
    (300k) then walked every member for each page: 0.8–1 s instead of 30–90 ms (bench.load's members pages).
    ANALYZE samples 30,000 rows whatever the table's size (0.15 s at 900k memberships); SKIP_LOCKED: when
    another ANALYZE or autovacuum holds the table, that one refreshes them.
    """
    if connection.vendor != "postgresql" or changed < ANALYZE_MIN_ROWS:
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT reltuples FROM pg_class WHERE oid = %s::regclass", [_MEMBERSHIPS])
        (rows,) = cursor.fetchone()
    if changed >= ANALYZE_SHARE * max(rows, 0):  # reltuples is -1 for a table never analyzed
        transaction.on_commit(_analyze, robust=True)


def _analyze() -> None:
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE (SKIP_LOCKED) {connection.ops.quote_name(_MEMBERSHIPS)}")


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
            changed = max(cursor.rowcount, 0)
            statistics_refresh_after(changed)
            return changed
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
