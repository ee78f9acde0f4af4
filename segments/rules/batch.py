"""Many rules, a few contacts, one query: the verdict of every rule for every contact (re-checks).

Invariant: `VerdictQuery` is compiled once (by the ORM, through `rule_q`) and executed many times,
each time bound to its own `now`, with the result equal to compiling afresh at that `now`.

How: the compiler reads the clock only as `now`, `now − N days` (`Clock.hours_ago`) and `today`
(with the start of today, `Clock.window_start(0)`). A
query is compiled twice with a template clock whose `today` is the real day and whose `now` is one of
two sentinel instants one week apart; the parameters that differ are exactly the `now`-dependent
ones, and each is the sentinel minus a whole number of days. At execution they are re-bound to the
real `now` minus those days. When the two compilations differ in any other way (the SQL text, a
parameter that is not a sentinel instant) the query is not reusable and `build` returns None; a
`VerdictQuery` is valid only on the day (`today`) it was built for.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.db import connection
from django.db.models import BooleanField, Case, F, When

from config.database import sql_datetime
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
    statement: _Statement | None = None  # on PostgreSQL, the form it is prepared in

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
        statement = None
        if connection.vendor == "postgresql":
            statement = _Statement.compose(sql, params, slots)
            if statement is None:
                return None
        return cls(
            names=tuple(name for name, _ in rules),
            sql=sql,
            params=params,
            slots=tuple(slots),
            today=today,
            statement=statement,
        )

    def run(self, contact_ids: Sequence[int], *, now: dt.datetime) -> list[tuple[int, tuple[bool, ...]]]:
        """(contact id, verdict per rule) for each of `contact_ids` that exists, evaluated at `now`."""
        if not contact_ids:
            return []
        clock = Clock.at(now)
        if clock.today != self.today:  # its day-based parameters belong to another day
            raise ValueError(f"this VerdictQuery was built for {self.today}, not for {clock.today}")
        utc_now = clock.now.astimezone(dt.UTC)
        # The contact filter outside the compiled SELECT: both databases pull the subquery up, so the
        # filter is an index lookup and each verdict is computed for these contacts only.
        if self.statement is not None and connection.vendor == "postgresql":
            rows = self.statement.execute(contact_ids, utc_now)
            return [(row[0], tuple(bool(v) for v in row[1:])) for row in rows]
        params = list(self.params)
        for index, days in self.slots:
            params[index] = sql_datetime(utc_now - dt.timedelta(days=days))
        ids = ", ".join(["%s"] * len(contact_ids))
        sql = f"SELECT * FROM ({self.sql}) verdicts WHERE verdicts.recheck_contact IN ({ids})"
        with connection.cursor() as cursor:
            cursor.execute(sql, [*params, *contact_ids])
            rows = cursor.fetchall()
        return [(row[0], tuple(bool(v) for v in row[1:])) for row in rows]


# Prepared statements kept per database connection (the oldest is deallocated past this many).
_STATEMENTS_KEPT = 64


@dataclass(frozen=True)
class _Statement:
    """A `VerdictQuery` as PostgreSQL prepared statements.

    TRICKY: planning the query costs several times its execution (a sub-plan per rule), and so does
    handing its 30 kB of text and hundreds of parameters to psycopg at each run (psycopg caches the
    conversion of short queries only). So it is prepared once per connection, with every constant
    inlined as a literal (quoted by psycopg, as Django's client-side binding does for every query):
    the only parameters left are the `now`-dependent instants (one per distinct number of days) and
    the contact ids; each run sends a short EXECUTE. The connection runs prepared statements with
    plan_cache_mode = force_generic_plan (config.settings), so it is planned once per connection.

    There are two statements: one for a single contact (`= $n`) and one for several (`= ANY($n)`).
    The generic plan cannot see how many contacts an array holds and assumes 10; for a rule on a rare
    activity type it then reads the whole window of that type once into a hash (36k index entries,
    6 ms) rather than probing the index per contact (0.01 ms each). For one contact — the usual
    re-check after an edit — the planner knows better.
    """

    inner: str  # the SELECT with its constants inlined and its instants as $1…
    days: tuple[int, ...]  # $1… are `now` minus these many days; the next parameter is the contact id(s)

    @classmethod
    def compose(cls, sql: str, params: Sequence[Any], slots: Sequence[tuple[int, int]]) -> _Statement | None:
        """Inline `params` into `sql`, the `now`-dependent ones (`slots`) as $n; None if that is not exact."""
        ops: Any = connection.ops  # PostgreSQL's: compose_sql quotes parameters as psycopg binds them
        text = ops.compose_sql(sql, list(params))
        days = tuple(sorted({d for _, d in slots}))
        for number, d in enumerate(days, start=1):
            instants = [index for index, slot_days in slots if slot_days == d]
            literal = ops.compose_sql("%s", [params[instants[0]]])
            if text.count(literal) != len(instants):  # the same text elsewhere (in a value): not safe
                return None
            text = text.replace(literal, f"${number}")
        return cls(inner=text, days=days)

    @functools.cached_property
    def forms(self) -> dict[bool, tuple[str, str]]:
        """{single contact?: (name, PREPARE statement)}; the name is a digest of the statement."""
        forms = {}
        ids = f"${len(self.days) + 1}"
        for single in (True, False):
            match = f"= {ids}" if single else f"= ANY({ids})"
            types = ", ".join(["timestamptz"] * len(self.days) + ["bigint" if single else "bigint[]"])
            body = f"SELECT * FROM ({self.inner}) verdicts WHERE verdicts.recheck_contact {match}"
            name = "verdicts_" + hashlib.sha1(body.encode(), usedforsecurity=False).hexdigest()[:24]
            forms[single] = (name, f"PREPARE {name} ({types}) AS {body}")
        return forms

    def execute(self, contact_ids: Sequence[int], utc_now: dt.datetime) -> list[tuple[Any, ...]]:
        single = len(contact_ids) == 1
        name, prepare = self.forms[single]
        connection.ensure_connection()
        # Prepared statements belong to the connection (they outlive a rollback): the names are kept on
        # psycopg's connection object, so a new connection starts with none.
        raw = connection.connection
        prepared: dict[str, None] | None = getattr(raw, "_segments_verdict_statements", None)
        if prepared is None:
            prepared = {}
            raw._segments_verdict_statements = prepared
        with connection.cursor() as cursor:
            if name not in prepared:
                while len(prepared) >= _STATEMENTS_KEPT:
                    oldest = next(iter(prepared))
                    cursor.execute(f"DEALLOCATE {oldest}")
                    del prepared[oldest]
                cursor.execute(prepare)
                prepared[name] = None
            values: list[Any] = [utc_now - dt.timedelta(days=d) for d in self.days]
            placeholders = ["%s"] * len(values) + ["%s" if single else "%s::bigint[]"]
            cursor.execute(
                f"EXECUTE {name} ({', '.join(placeholders)})",
                [*values, contact_ids[0] if single else list(contact_ids)],
            )
            return cursor.fetchall()
