"""The daily roll-up is exact: counts summed from it (whole UTC days) plus the raw window edges equal the
counts over raw activities, for random activities written through the services at every kind of edge
(a rolling window's exact start ± 1 µs, 23:59:59 / 00:00 in Europe/Prague, UTC midnights, daylight-saving
change days, now, the future), after merges and deletes; and the roll-up equals a rebuild from scratch."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.db import connection, transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from contacts import services
from contacts.models import ActivityDay, ActivityUrl, Contact
from contacts.services import ActivityRow
from segments.rules import matching_contacts, parse
from segments.rules.clock import Clock
from segments.rules.compiler import condition_q
from segments.rules.nodes import ActivityNode
from segments.rules.rollup import whole_days
from tests.factories import ContactFactory
from tests.segments.rules import oracle
from tests.segments.rules.conftest import TZ, local, tree

pytestmark = pytest.mark.django_db

HYPOTHESIS = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)
UTC = dt.UTC
US = dt.timedelta(microseconds=1)
# Evaluation moments: the night after the spring change (23-hour day), the 25-hour autumn day late and
# early, an exact UTC midnight, an ordinary afternoon.
NOWS = [
    local(2026, 3, 30, 0, 0, 0),
    local(2026, 3, 29, 12, 0),
    local(2026, 10, 25, 23, 59, 59),
    local(2026, 10, 26, 1, 30),
    dt.datetime(2026, 3, 20, 0, 0, tzinfo=UTC),
    local(2026, 6, 10, 16, 45, 30),
]
URLS = ["", "https://x.cz/pricing", "https://x.cz/PRICING?a=1", "https://x.cz/blog", "https://y.cz/"]
TYPES = ["page_visit", "email_open"]
WHERE = [
    [{"field": "url", "operator": "contains", "value": "pricing"}],
    [{"field": "url", "operator": "not_contains", "value": "pricing"}],
    [{"field": "url", "operator": "equals", "value": "https://x.cz/pricing"}],
    [{"field": "url", "operator": "is_empty"}],
    [{"field": "url", "operator": "starts_with", "value": "https://x"},
     {"field": "url", "operator": "not_contains", "value": "?"}],
    [{"field": "title", "operator": "is_empty"}],  # not from the roll-up: the raw path throughout
]  # fmt: skip
COUNTS = [("gte", 1), ("gte", 2), ("gte", 3), ("eq", 0), ("eq", 1), ("eq", 2), ("lt", 2), ("lte", 1), ("gt", 1)]


def moments(draw: Any, now: dt.datetime) -> dt.datetime:
    """An activity time at an edge the roll-up must get right (or anywhere in the last 10 days)."""
    today = now.astimezone(TZ).date()
    kind = draw(st.sampled_from(["rolling", "local", "utc", "now", "any"]))
    if kind == "rolling":  # the exact start of `last_days N`, and a microsecond or a second around it
        days = draw(st.sampled_from([1, 2, 3, 7]))
        delta = draw(st.sampled_from([dt.timedelta(0), US, -US, dt.timedelta(seconds=1), -dt.timedelta(seconds=1)]))
        return now.astimezone(UTC) - dt.timedelta(days=days) + delta
    if kind == "local":  # 00:00 and 23:59:59(.999999) in Prague, around the daylight-saving days too
        day = today - dt.timedelta(days=draw(st.integers(-1, 8)))
        start = dt.datetime.combine(day, dt.time(), tzinfo=TZ)
        return start + draw(st.sampled_from([dt.timedelta(0), -US, -dt.timedelta(seconds=1), dt.timedelta(seconds=1)]))
    if kind == "utc":
        day = now.astimezone(UTC).date() - dt.timedelta(days=draw(st.integers(-1, 8)))
        return dt.datetime.combine(day, dt.time(), tzinfo=UTC) + draw(st.sampled_from([dt.timedelta(0), -US]))
    if kind == "now":
        return now + draw(st.sampled_from([dt.timedelta(0), US, -US, dt.timedelta(hours=2)]))
    return now - dt.timedelta(minutes=draw(st.integers(-60, 10 * 24 * 60)))


def activity_rows(draw: Any, now: dt.datetime, contacts: list[Contact], size: int) -> list[ActivityRow]:
    return [
        ActivityRow(
            contact_id=draw(st.sampled_from(contacts)).pk,
            type=draw(st.sampled_from(TYPES)),
            occurred_at=moments(draw, now),
            url=draw(st.sampled_from(URLS)),
            title=draw(st.sampled_from(["", "Pricing"])),
        )
        for _ in range(size)
    ]


def write_world(draw: Any, now: dt.datetime) -> None:
    """Contacts and their activities through every writer, with merges and deletes in between."""
    contacts = [ContactFactory() for _ in range(4)]
    for _ in range(draw(st.integers(1, 6))):
        live = list(Contact.objects.filter(merged_into__isnull=True).order_by("pk"))
        step = draw(st.sampled_from(["one", "many", "load", "load", "merge", "delete"]))
        if step == "one":
            row = activity_rows(draw, now, live, 1)[0]
            contact = Contact.objects.get(pk=row.contact_id)
            services.activity_record(
                contact=contact, type=row.type, occurred_at=row.occurred_at, url=row.url, title=row.title
            )
        elif step == "many":
            services.activities_record(rows=activity_rows(draw, now, live, draw(st.integers(1, 8))))
        elif step == "load":
            services.activities_load(rows=activity_rows(draw, now, live, draw(st.integers(1, 12))))
        elif step == "merge" and len(live) >= 2:
            parent, child = draw(st.lists(st.sampled_from(live), min_size=2, max_size=2, unique=True))
            services.contact_merge(parent=parent, child=child)
        elif step == "delete" and len(live) >= 3:
            services.contact_delete(contact=draw(st.sampled_from(live)))
    del contacts


def windows(draw: Any, now: dt.datetime) -> dict[str, Any] | None:
    kind = draw(st.sampled_from(["last", "last", "between", "ever"]))
    if kind == "last":
        return {"last_days": draw(st.sampled_from([0, 1, 2, 3, 7, 30]))}
    if kind == "between":
        today = now.astimezone(TZ).date()
        a, b = sorted(draw(st.lists(st.integers(-1, 9), min_size=2, max_size=2)))
        return {"between": [(today - dt.timedelta(days=b)).isoformat(), (today - dt.timedelta(days=a)).isoformat()]}
    return None


def roll_up() -> set[tuple[Any, ...]]:
    return set(ActivityDay.objects.values_list("contact_id", "day", "type", "url__url", "n"))


@HYPOTHESIS
@given(data=st.data())
def test_rolled_up_counts_equal_raw_counts(data):
    now = data.draw(st.sampled_from(NOWS), label="now")
    with transaction.atomic():
        write_world(data.draw, now)
        kept = roll_up()
        services.activity_days_rebuild()  # upkeep (records, loads, merges, deletes) == recomputed from raw
        assert roll_up() == kept
        world = oracle.load_world()
        everyone = [c.pk for c in world.contacts]
        for _ in range(5):
            operator, value = data.draw(st.sampled_from(COUNTS), label="count")
            node: dict[str, Any] = {
                "type": "activity",
                "activity": data.draw(st.sampled_from([*TYPES, "any"]), label="type"),
                "where": data.draw(st.sampled_from(WHERE), label="where"),
                "count": {"operator": operator, "value": value},
            }
            window = windows(data.draw, now)
            if window is not None:
                node["window"] = window
            rule = tree(node)
            rolled = set(matching_contacts(rule, now=now).values_list("pk", flat=True))
            raw = set(matching_contacts(rule, now=now, among=everyone).values_list("pk", flat=True))
            assert rolled == raw == oracle.evaluate(rule, world, now), node
        transaction.set_rollback(True)


# --- the window's whole UTC days -------------------------------------------------------------------


def days_of(window: dict[str, Any] | None, now: dt.datetime) -> tuple[dt.date | None, dt.date] | None:
    node: dict[str, Any] = {"type": "activity", "activity": "page_visit"}
    if window is not None:
        node["window"] = window
    root = parse(tree(node)).root
    assert isinstance(root, ActivityNode)
    return whole_days(root, Clock.at(now))


def test_whole_days_of_a_rolling_window_leave_both_partial_days_to_the_raw_rows():
    # now = 2026-03-30 00:00 Prague = 2026-03-29 22:00 UTC; 3 × 24 h earlier is 2026-03-26 22:00 UTC.
    assert days_of({"last_days": 3}, local(2026, 3, 30)) == (dt.date(2026, 3, 27), dt.date(2026, 3, 28))
    assert days_of({"last_days": 1}, local(2026, 3, 30)) is None  # no whole UTC day inside
    assert days_of({"last_days": 0}, local(2026, 6, 10, 23, 0)) is None
    assert days_of(None, local(2026, 6, 10, 12)) == (None, dt.date(2026, 6, 9))


def test_whole_days_of_a_between_window_across_the_autumn_change():
    # 25–26 October in Prague: 2026-10-24 22:00 UTC (summer time) to 2026-10-26 23:00 UTC (winter time).
    window = {"between": ["2026-10-25", "2026-10-26"]}
    assert days_of(window, local(2026, 11, 5)) == (dt.date(2026, 10, 25), dt.date(2026, 10, 25))
    assert days_of(window, local(2026, 10, 26, 10)) == (dt.date(2026, 10, 25), dt.date(2026, 10, 25))
    assert days_of(window, local(2026, 10, 25, 23)) is None  # 22:00 UTC on the 25th: no whole UTC day yet


# --- where the roll-up is (not) used ------------------------------------------------------------------

PRICING = [{"field": "url", "operator": "contains", "value": "pricing"}]


def sql_of(node: dict[str, Any], now: dt.datetime = NOWS[1], **kw: Any) -> str:
    return str(matching_contacts(tree(node), now=now, **kw).query)


def test_url_conditions_over_whole_days_read_the_roll_up():
    node = {"type": "activity", "activity": "page_visit", "where": PRICING, "window": {"last_days": 30},
            "count": {"operator": "gte", "value": 3}}  # fmt: skip
    assert "contacts_activityday" in sql_of(node)
    assert "contacts_activityday" not in sql_of(node, among=[1, 2])  # a few contacts: per-contact raw scans
    assert "contacts_activityday" not in sql_of({**node, "window": {"last_days": 1}})  # no whole day
    title = [{"field": "title", "operator": "contains", "value": "pricing"}]
    assert "contacts_activityday" not in sql_of({**node, "where": [*PRICING, *title]})
    assert "contacts_activityday" not in sql_of({**node, "where": []})  # the type index answers it


@pytest.mark.skipif("connection.vendor != 'postgresql'", reason="trigram indexes are PostgreSQL only")
@pytest.mark.parametrize("operator", ["contains", "starts_with", "equals"])
def test_a_url_condition_can_find_its_urls_through_the_trigram_index(operator):
    """contacts 0014's index is on the very expression the compiled condition reads (else it is never used): the
    roll-up's URL filter (the node's `where` over ActivityUrl, as segments.rules.rollup applies it) is answered by
    a scan of the index when PostgreSQL may not read the table itself."""
    where = [{"field": "url", "operator": operator, "value": "https://x.example/pricing"}]
    node = tree({"type": "activity", "activity": "page_visit", "where": where})["root"]
    clock = Clock.at(NOWS[1])
    url_filter = condition_q(parse(tree(node)).root.where[0], clock)
    sql, params = ActivityUrl.objects.filter(url_filter).values("pk").query.sql_with_params()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("SET LOCAL enable_indexscan = off")  # not the primary key's index as a way round a scan
        cursor.execute("EXPLAIN " + sql, params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "activityurl_url_trgm_idx" in plan, plan


def test_a_recorded_activity_counts_at_once_and_a_merge_moves_its_days():
    now = NOWS[5]
    a, b = ContactFactory(), ContactFactory()
    for days in (1, 2):
        services.activity_record(
            contact=a, type="page_visit", url="https://x.cz/pricing", occurred_at=now - dt.timedelta(days=days)
        )
    services.activity_record(
        contact=b, type="page_visit", url="https://x.cz/pricing", occurred_at=now - dt.timedelta(days=3)
    )
    node = {"type": "activity", "activity": "page_visit", "where": PRICING, "window": {"last_days": 7},
            "count": {"operator": "gte", "value": 3}}  # fmt: skip
    assert "contacts_activityday" in sql_of(node, now)
    assert set(matching_contacts(tree(node), now=now).values_list("pk", flat=True)) == set()
    services.contact_merge(parent=b, child=a)
    assert set(matching_contacts(tree(node), now=now).values_list("pk", flat=True)) == {b.pk}
    assert not ActivityDay.objects.filter(contact=a).exists()
