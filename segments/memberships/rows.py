"""Row-based writes, for the few contacts of a re-check (RowWriter): hand-written for the 10 ms budget."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.db import connection

from segments.memberships.base import (
    _EVENTS,
    _MEMBERSHIPS,
    INSERT_BATCH,
    SOURCE_FIELDS,
    Why,
    _now,
)
from segments.memberships.counts import (
    member_counts_adjust,
)
from segments.models import EventKind, Source
from segments.rules.expressions import ids_in_sql


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
