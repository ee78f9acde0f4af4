"""Activity counts read from the daily roll-up (contacts.models.ActivityDay) where that is exact.

Invariant: `rolled_up_q` returns either None or a Q selecting exactly the contacts that the raw form
(`activity_rows` grouped per contact) selects, at every `now`: it never approximates.

How. A node's window is an instant interval I (`last_days N`: (now − N×24 h, now]; `between`: the
project-time days' instants, capped at now; no window: (−∞, now]). The whole UTC days D1…D2 inside I
are counted from the roll-up (sum of `n`), the two partial edges of I — before the start of D1 and
from the start of D2 + 1 — from the raw activities with the node's own filters. The three parts are
disjoint and cover I, so the per-contact sum is the raw count. Only `where` conditions on `url` are
answered by the roll-up (each is decided once per distinct URL text on ActivityUrl, the same Q as on
Activity.url); a node with any other condition, or a window with no whole UTC day, returns None.

When. Not for a handful of contacts (`few`: re-checks, explanations; the raw per-contact index scan is
already cheap, and a prepared re-check statement re-binds only `now`-relative instants, which the
day-aligned bounds here are not). Nor for a node without `where`: `activity_type_time_idx` answers
"type T in the window" from the index alone; the roll-up pays off where the raw scan has to read each
activity's URL from the table (measured in bench/README.md, "Live counts at scale").
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from django.db import connection
from django.db.models import IntegerField, Q, QuerySet, Value
from django.db.models.expressions import RawSQL

from contacts.models import Activity, ActivityDay, ActivityUrl
from segments.rules.clock import Clock, shift
from segments.rules.nodes import ANY_ACTIVITY, ActivityNode, Between, LastDays

ROLLED_UP_ATTRIBUTES = frozenset({"url"})


def window_bounds(node: ActivityNode, clock: Clock) -> tuple[dt.datetime | None, dt.datetime]:
    """(lower, upper) of the window's instants: `lower` is its start as `activity_rows` filters it
    (exclusive for `last_days`, inclusive for `between`; None: unbounded), `upper` the last instant that can
    count (now, or the last microsecond of a `between` window that ends earlier)."""
    upper = clock.now
    lower: dt.datetime | None = None
    if isinstance(node.window, LastDays):
        lower = clock.window_start(node.window.days)
    elif isinstance(node.window, Between):
        lower = clock.day_start(node.window.start)
        end_day = shift(node.window.end, 1)
        end = clock.day_start(end_day) if end_day is not None else None
        if end is not None:
            upper = min(upper, end - dt.timedelta(microseconds=1))
    return lower, upper


def utc_midnight(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC)


def whole_days(node: ActivityNode, clock: Clock) -> tuple[dt.date | None, dt.date] | None:
    """(first, last) whole UTC days inside the window (first None: unbounded); None if there is none.

    TRICKY: the first whole day is the day *after* the one holding the lower bound even when that bound
    is exactly a UTC midnight (a `between` window in a UTC+0 season): one day more from the raw edge is
    still exact, and the rule stays one line. The last is the day before the one holding the upper bound.
    """
    lower, upper = window_bounds(node, clock)
    try:
        first = None if lower is None else lower.astimezone(dt.UTC).date() + dt.timedelta(days=1)
        last = upper.astimezone(dt.UTC).date() - dt.timedelta(days=1)
    except OverflowError:
        return None
    if first is not None and first > last:
        return None
    return first, last


def _select(rows: QuerySet[Any, Any]) -> tuple[str, tuple[object, ...]]:
    sql, params = rows.query.sql_with_params()
    return sql, tuple(params)


def rolled_up_q(
    node: ActivityNode,
    clock: Clock,
    *,
    raw: QuerySet[Activity],
    url_filter: Q,
    kind: Literal["at_least", "exactly"],
    k: int,
) -> Q | None:
    """`pk IN (contacts whose count is ≥ k / = k)` from the roll-up plus the raw edges; None if not exact here.

    `raw`: the node's activities (`compiler.activity_rows`: type, window, `where`, never future ones);
    `url_filter`: the node's `where` as one Q over ActivityUrl (its `url` column is Activity's).
    """
    if not node.where or any(c.attribute.name not in ROLLED_UP_ATTRIBUTES for c in node.where):
        return None
    days = whole_days(node, clock)
    if days is None:
        return None
    first, last = days
    rolled = ActivityDay.objects.filter(day__lte=last, url__in=ActivityUrl.objects.filter(url_filter).values("pk"))
    if first is not None:
        rolled = rolled.filter(day__gte=first)
    if node.activity != ANY_ACTIVITY:
        rolled = rolled.filter(type=node.activity)
    one = Value(1, output_field=IntegerField())
    parts = [_select(rolled.order_by().values_list("contact_id", "n"))]
    if first is not None:  # the partial day at the window's start
        edge = raw.filter(occurred_at__lt=utc_midnight(first))
        parts.append(_select(edge.annotate(rollup_n=one).values_list("contact_id", "rollup_n")))
    edge = raw.filter(occurred_at__gte=utc_midnight(last + dt.timedelta(days=1)))  # today (UTC), up to now
    parts.append(_select(edge.annotate(rollup_n=one).values_list("contact_id", "rollup_n")))
    union = " UNION ALL ".join(sql for sql, _ in parts)
    params = tuple(p for _, part_params in parts for p in part_params)
    qn = connection.ops.quote_name
    counted = f"SELECT u.{qn('contact_id')} FROM ({union}) u GROUP BY u.{qn('contact_id')}"
    if kind == "at_least" and k == 1:
        sql = f"SELECT u.{qn('contact_id')} FROM ({union}) u"
    elif kind == "at_least":
        sql, params = f"{counted} HAVING SUM(u.{qn('n')}) >= %s", (*params, k)
    else:
        sql, params = f"{counted} HAVING SUM(u.{qn('n')}) = %s", (*params, k)
    # TRICKY: contact_id is never NULL, so `pk IN (…)` is two-valued and its negation the exact complement.
    return Q(pk__in=RawSQL(sql, params))
