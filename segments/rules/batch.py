"""Many rules, a few contacts, one query: the verdict of every rule for every contact (re-checks).

Invariant: `VerdictQuery` is compiled once (by the ORM, through `rule_q`) and executed many times,
each time bound to its own `now`, with the result equal to compiling afresh at that `now`.

How: the compiler reads the clock only as `now`, `now − N days` (`Clock.hours_ago`) and `today`. A
query is compiled twice with a template clock whose `today` is the real day and whose `now` is one of
two sentinel instants one week apart; the parameters that differ are exactly the `now`-dependent
ones, and each is the sentinel minus a whole number of days. At execution they are re-bound to the
real `now` minus those days. When the two compilations differ in any other way (the SQL text, a
parameter that is not a sentinel instant) the query is not reusable and `build` returns None; a
`VerdictQuery` is valid only on the day (`today`) it was built for.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.db import connection
from django.db.models import BooleanField, Case, F, When

from contacts.models import Contact
from segments.rules.clock import Clock
from segments.rules.compiler import rule_q
from segments.rules.parser import Rule

# Instants no real value takes (year 2400, 59.987654 s past midnight UTC); one week apart.
_SENTINELS = (
    dt.datetime(2400, 1, 8, 0, 0, 59, 987_654, tzinfo=dt.UTC),
    dt.datetime(2400, 1, 15, 0, 0, 59, 987_654, tzinfo=dt.UTC),
)


@dataclass(frozen=True)
class _TemplateClock(Clock):
    """A clock whose `now` is a sentinel instant and whose `today` is the real day."""

    day: dt.date

    @property
    def today(self) -> dt.date:
        return self.day


def _days_before(value: Any, sentinel: dt.datetime) -> int | None:
    """If `value` (a parameter as the database adapter got it) is `sentinel` minus whole days, how many."""
    if isinstance(value, str) and value.startswith("2"):
        try:
            value = dt.datetime.fromisoformat(value)
        except ValueError:
            return None
    if not isinstance(value, dt.datetime):
        return None
    if value.tzinfo is None:  # adapted to the connection's time zone (UTC unless configured otherwise)
        value = value.replace(tzinfo=connection.timezone or dt.UTC)
    gap = sentinel - value
    if gap.seconds or gap.microseconds or gap.days < 0 or gap.days > 400_000:
        return None
    return gap.days


@dataclass(frozen=True)
class VerdictQuery:
    """One compiled query: a boolean column per rule, over the contacts given at execution."""

    names: tuple[str, ...]
    sql: str  # SELECT <contact id>, <verdict>… FROM contacts (no contact filter yet)
    params: tuple[Any, ...]
    slots: tuple[tuple[int, int], ...]  # (parameter index, whole days before `now`)
    today: dt.date

    @classmethod
    def build(cls, rules: Sequence[tuple[str, Rule]], *, today: dt.date) -> VerdictQuery | None:
        """Compile `rules` (name, parsed rule) for a few contacts at a time; None if it cannot be reused."""
        tz = Clock.at().tz
        compiled = []
        for sentinel in _SENTINELS:
            clock = _TemplateClock(now=sentinel, tz=tz, day=today)
            columns = {
                name: Case(
                    When(rule_q(rule.root, clock, few=True), then=True), default=False, output_field=BooleanField()
                )
                for name, rule in rules
            }
            query = (
                Contact.objects.order_by()
                .annotate(recheck_contact=F("pk"), **columns)
                .values_list("recheck_contact", *columns)
            )
            sql, params = query.query.sql_with_params()
            compiled.append((sql, tuple(params)))
        (sql, params), (sql_b, params_b) = compiled
        if sql != sql_b or len(params) != len(params_b):
            return None
        slots = []
        for index, (a, b) in enumerate(zip(params, params_b, strict=True)):
            if a == b:
                continue
            days = _days_before(a, _SENTINELS[0])
            if days is None or days != _days_before(b, _SENTINELS[1]):
                return None  # depends on `now` in a way this template cannot re-bind
            slots.append((index, days))
        return cls(names=tuple(name for name, _ in rules), sql=sql, params=params, slots=tuple(slots), today=today)

    def run(self, contact_ids: Sequence[int], *, now: dt.datetime) -> list[tuple[int, tuple[bool, ...]]]:
        """(contact id, verdict per rule) for each of `contact_ids` that exists, evaluated at `now`."""
        if not contact_ids:
            return []
        clock = Clock.at(now)
        if clock.today != self.today:  # its day-based parameters belong to another day
            raise ValueError(f"this VerdictQuery was built for {self.today}, not for {clock.today}")
        params = list(self.params)
        utc_now = clock.now.astimezone(dt.UTC)
        for index, days in self.slots:
            params[index] = connection.ops.adapt_datetimefield_value(utc_now - dt.timedelta(days=days))
        # The contact filter outside the compiled SELECT: both databases pull the subquery up, so the
        # filter is an index lookup and each verdict is computed for these contacts only.
        if connection.vendor == "postgresql":
            # TRICKY: planning this query costs several times its execution (many sub-plans), so it
            # runs as a prepared statement — psycopg's own cursor (server-side binding; Django's binds
            # on the client), one array parameter for any number of contacts. Run it under
            # plan_cache_mode = force_generic_plan (segments.recheck does) and it is planned once per
            # connection: else PostgreSQL plans it afresh while a fresh plan looks cheaper, i.e. always.
            sql = f"SELECT * FROM ({self.sql}) verdicts WHERE verdicts.recheck_contact = ANY(%s)"
            import psycopg

            connection.ensure_connection()
            started = time.monotonic()
            # TRICKY: not connection.connection.cursor(): Django makes that a ClientCursor, which
            # binds on the client and never prepares.
            with connection.wrap_database_errors, psycopg.Cursor(connection.connection) as cursor:
                cursor.execute(sql, [*params, list(contact_ids)], prepare=True)
                rows = cursor.fetchall()
            if connection.queries_logged:  # as Django's debug cursor would (tests and benchmarks count it)
                connection.queries_log.append({"sql": sql, "time": f"{time.monotonic() - started:.3f}"})
        else:
            ids = ", ".join(["%s"] * len(contact_ids))
            sql = f"SELECT * FROM ({self.sql}) verdicts WHERE verdicts.recheck_contact IN ({ids})"
            with connection.cursor() as cursor:
                cursor.execute(sql, [*params, *contact_ids])
                rows = cursor.fetchall()
        return [(row[0], tuple(bool(v) for v in row[1:])) for row in rows]
