"""The activity table's monthly partitions (PostgreSQL): the conversion, months ahead, the default partition,
detaching old months (the retention story: detached activities no longer count for any rule) and the command.

PostgreSQL-only tests skip on SQLite, where the table stays plain and the command has nothing to do.
"""

from __future__ import annotations

import datetime as dt
import importlib
from io import StringIO
from types import SimpleNamespace

import pytest
from django.apps import apps as registry
from django.core.management import CommandError, call_command
from django.db import connection
from django.utils import timezone
from django_q.models import Schedule

from contacts import services
from contacts.models import Activity, ActivityDay, Contact
from contacts.partitions import (
    DEFAULT,
    archived_tables,
    attached_partitions,
    default_months,
    months_ahead,
    partition_name,
    partitioned,
)
from contacts.schedules import ACTIVITY_PARTITIONS, schedules_register
from contacts.services import ActivityRow
from contacts.services.partitions import activity_partitions_create, activity_partitions_detach
from contacts.tasks import activity_partitions_ahead
from segments.models import PendingGroupRefresh
from segments.rules import matching_contacts
from tests.factories import ContactFactory

pytestmark = pytest.mark.django_db
postgres = pytest.mark.skipif("connection.vendor != 'postgresql'", reason="partitions are PostgreSQL only")
migration = importlib.import_module("contacts.migrations.0013_activity_partitions")
UTC = dt.UTC
PRICING = "https://example.com/pricing"


def at(*parts: int) -> dt.datetime:
    return dt.datetime(*parts, tzinfo=UTC)


def record(contact: Contact, *moments: dt.datetime, url: str = PRICING) -> None:
    services.activities_record(rows=[ActivityRow(contact.pk, "page_visit", moment, url=url) for moment in moments])


def home(activity_id: int) -> str:
    """The partition a row is stored in."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT tableoid::regclass::text FROM contacts_activity WHERE id = %s", [activity_id])
        return cursor.fetchone()[0]


def visited(*, between: tuple[str, str] | None = None, gte: int = 1, url: bool = True) -> dict:
    node: dict = {"type": "activity", "activity": "page_visit", "count": {"operator": "gte", "value": gte}}
    if url:
        node["where"] = [{"field": "url", "operator": "contains", "value": "/pricing"}]
    if between:
        node["window"] = {"between": list(between)}
    return {"version": 1, "root": node}


def any_activity_ever() -> dict:
    return {"version": 1, "root": {"type": "activity", "activity": "any"}}


def members(tree: dict, now: dt.datetime) -> set[int]:
    return set(matching_contacts(tree, now=now).values_list("pk", flat=True))


@pytest.fixture
def immediate():
    """Deferred foreign-key checks of rows inserted in this test fire now: PostgreSQL refuses to ALTER a table
    with pending trigger events (in production every partition change runs in a transaction of its own)."""
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")


def snapshot() -> list[tuple]:
    return list(Activity.objects.order_by("id").values_list("id", "contact_id", "type", "occurred_at", "url", "data"))


@postgres
def test_the_migration_converts_the_table_and_back_leaving_the_data_equal(immediate):
    contact = ContactFactory()
    record(contact, at(2019, 12, 31, 23, 59), at(2020, 1, 1), at(2024, 6, 15), timezone.now(), at(2300, 1, 1))
    before = snapshot()
    editor = SimpleNamespace(connection=connection)

    migration.unpartition(registry, editor)
    assert not partitioned() and snapshot() == before
    migration.partition(registry, editor)
    assert partitioned() and snapshot() == before
    months = {p.month for p in attached_partitions()}
    with_data = {dt.date(2019, 12, 1), dt.date(2020, 1, 1), dt.date(2024, 6, 1), dt.date(2300, 1, 1)}
    ahead = set(months_ahead(today=timezone.now().date(), ahead=migration.AHEAD))
    assert months == with_data | ahead and default_months() == {}  # each month with data, and those ahead
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexname FROM pg_indexes WHERE tablename = 'contacts_activity'")
        indexes = {row[0] for row in cursor.fetchall()}
        cursor.execute("SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conname = 'contacts_activity_pkey'")
        primary_key = cursor.fetchone()[0]
        cursor.execute("SELECT count(*) FROM pg_constraint WHERE conrelid = 'contacts_activity'::regclass "
                       "AND contype = 'f'")  # fmt: skip
        foreign_keys = cursor.fetchone()[0]
    assert {"activity_contact_time_idx", "activity_type_time_idx", "activity_time_idx"} <= indexes
    assert primary_key == "PRIMARY KEY (id, occurred_at)" and foreign_keys == 2
    record(contact, timezone.now())  # the sequence goes on where it stopped: ids stay unique
    assert Activity.objects.latest("id").pk > max(row[0] for row in before)
    assert migration.partition(registry, editor) is None and partitioned()  # a second run changes nothing


@postgres
def test_months_are_created_ahead_once_with_whole_utc_month_bounds():
    months = months_ahead(today=dt.date(2031, 11, 20), ahead=2)
    assert months == [dt.date(2031, 11, 1), dt.date(2031, 12, 1), dt.date(2032, 1, 1)]
    created = activity_partitions_create(months=months)
    assert [c.table for c in created] == ["contacts_activity_p2031_11", "contacts_activity_p2031_12",
                                          "contacts_activity_p2032_01"]  # fmt: skip
    assert activity_partitions_create(months=months) == []
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_get_expr(relpartbound, oid) FROM pg_class WHERE relname = %s", [created[1].table])
        bound = cursor.fetchone()[0]
    assert bound == "FOR VALUES FROM ('2031-12-01 00:00:00+00') TO ('2032-01-01 00:00:00+00')"


@postgres
def test_rows_far_in_the_past_or_future_land_in_the_default_partition_and_move_out_with_their_month(immediate):
    contact = ContactFactory()
    record(contact, at(1999, 5, 1), at(2200, 2, 3, 4, 5), at(2200, 2, 28))
    past, future, later = Activity.objects.order_by("occurred_at", "id")
    assert {home(a.pk) for a in (past, future, later)} == {DEFAULT}

    [change] = activity_partitions_create(months=[dt.date(2200, 2, 1)])
    assert (change.table, change.rows) == ("contacts_activity_p2200_02", 2)
    assert home(future.pk) == home(later.pk) == "contacts_activity_p2200_02" and home(past.pk) == DEFAULT
    assert Activity.objects.get(pk=future.pk).occurred_at == future.occurred_at  # the same rows, ids kept
    assert default_months() == {dt.date(1999, 5, 1): 1}


@postgres
@pytest.mark.parametrize("folded", [False, True], ids=["newest-time-in-rises", "newest-time-folded"])
def test_a_detached_month_no_longer_counts_for_any_rule(immediate, folded):
    old_only, both = ContactFactory(), ContactFactory()
    record(old_only, at(2020, 3, 10), at(2020, 3, 11))  # in the default partition until detached
    activity_partitions_create(months=[dt.date(2020, 4, 1)])
    record(both, at(2020, 3, 12), at(2020, 4, 2))
    now = at(2020, 5, 1)
    spring = visited(between=("2020-03-01", "2020-04-30"))  # whole days: read from the roll-up
    assert members(spring, now) == members(any_activity_ever(), now) == {old_only.pk, both.pk}
    assert members(visited(between=("2020-03-01", "2020-04-30"), gte=2, url=False), now) == {old_only.pk, both.pk}
    refreshes = PendingGroupRefresh.objects.count()
    if folded:
        services.activity_rises_fold()

    changes = activity_partitions_detach(before=dt.date(2020, 4, 1))

    assert [(c.action, c.month, c.table, c.rows) for c in changes] == [
        ("created", dt.date(2020, 3, 1), partition_name(dt.date(2020, 3, 1)), 3),  # out of the default first
        ("detached", dt.date(2020, 3, 1), "contacts_activity_archive_2020_03", 3),
    ]
    assert members(spring, now) == members(any_activity_ever(), now) == {both.pk}
    assert members(visited(between=("2020-03-01", "2020-04-30"), gte=2, url=False), now) == set()
    assert not ActivityDay.objects.filter(day__lt=dt.date(2020, 4, 1)).exists()
    old_only.refresh_from_db()
    both.refresh_from_db()
    # Exact whether the newest time is still a rise (not folded yet) or on the row.
    assert old_only.newest_activity_at is None and both.newest_activity_at == at(2020, 4, 2)
    assert archived_tables() == ["contacts_activity_archive_2020_03"]
    assert PendingGroupRefresh.objects.count() == refreshes + 1  # groups reading activities get rebuilt
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM contacts_activity_archive_2020_03")
        assert cursor.fetchone()[0] == 3  # kept, never dropped
    old_only.delete()  # the archive holds no foreign keys: deleting a contact it names still works
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    assert activity_partitions_detach(before=dt.date(2020, 4, 1)) == []


@postgres
def test_rules_are_exact_across_a_month_boundary(immediate, settings):
    settings.TIME_ZONE = "UTC"
    activity_partitions_create(months=[dt.date(2025, 1, 1), dt.date(2025, 2, 1)])
    edge, inside, late = ContactFactory(), ContactFactory(), ContactFactory()
    record(edge, at(2025, 1, 31, 23, 59, 59, 999999), at(2025, 2, 1))
    record(inside, at(2025, 1, 15), at(2025, 1, 31, 12))
    record(late, at(2025, 2, 1, 0, 0, 1), at(2025, 2, 2))
    assert {home(a.pk) for a in edge.activities.all()} == {"contacts_activity_p2025_01", "contacts_activity_p2025_02"}
    now = at(2025, 2, 10)
    last_days = {"version": 1, "root": {**visited(gte=2)["root"], "window": {"last_days": 10}}}  # from Jan 31 00:00
    for url in (True, False):
        assert members(visited(between=("2025-01-31", "2025-02-01"), gte=2, url=url), now) == {edge.pk}
        assert members(visited(between=("2025-01-01", "2025-01-31"), gte=2, url=url), now) == {inside.pk}
        assert members(visited(between=("2025-02-01", "2025-02-28"), gte=2, url=url), now) == {late.pk}
    assert members(last_days, now) == {edge.pk, late.pk}

    activity_partitions_detach(before=dt.date(2025, 2, 1))
    assert members(visited(between=("2025-01-31", "2025-02-01"), gte=1), now) == {edge.pk, late.pk}
    assert members(visited(between=("2025-01-01", "2025-02-28"), gte=2), now) == {late.pk}


def test_the_command_refuses_bad_months():
    with pytest.raises(CommandError, match="YYYY-MM"):
        call_command("activity_partitions", "--detach-before", "2025-13")
    with pytest.raises(CommandError, match="current month"):
        call_command("activity_partitions", "--detach-before", "2999-01")
    with pytest.raises(CommandError, match="0 to 120"):
        call_command("activity_partitions", "--ahead", "-1")


def run_command(*args: str) -> str:
    out = StringIO()
    call_command("activity_partitions", *args, stdout=out)
    return out.getvalue()


def test_the_command_says_there_is_nothing_to_do_on_sqlite():
    if connection.vendor == "postgresql":
        pytest.skip("SQLite only")
    assert run_command() == "The activity table is not partitioned here (PostgreSQL only): nothing to do.\n"


@postgres
def test_the_command_prints_what_it_did_and_the_layout(immediate):
    record(ContactFactory(), at(2021, 7, 4), at(2021, 8, 1))
    first = run_command("--ahead", "5")
    upcoming = months_ahead(today=timezone.now().date(), ahead=5)
    assert f"Created {partition_name(upcoming[-1])} for {upcoming[-1]:%Y-%m}." in first
    assert "Default partition: 2 rows (2021-07: 1, 2021-08: 1)." in first and "Detached (kept): none." in first
    assert run_command("--ahead", "5").startswith("Nothing to change.\nAttached: ")

    detached = run_command("--ahead", "0", "--detach-before", "2021-08")
    assert detached.splitlines()[:3] == [
        "Created contacts_activity_p2021_07 for 2021-07, 1 rows moved in from the default partition.",
        "Detached 2021-07: kept as table contacts_activity_archive_2021_07 (1 rows).",
        "Rules no longer count the detached activities; groups that read activities are rebuilt by the worker "
        "(a bulk change was noted).",
    ]
    assert "Default partition: 1 rows (2021-08: 1)." in detached
    assert "Detached (kept): contacts_activity_archive_2021_07." in detached


def test_the_daily_schedule_keeps_the_months_ahead(settings):
    schedules_register()
    schedules_register()
    assert list(Schedule.objects.filter(name=ACTIVITY_PARTITIONS).values_list("func", "schedule_type")) == [
        ("contacts.tasks.activity_partitions_ahead", Schedule.DAILY)
    ]
    settings.ACTIVITY_PARTITIONS_AHEAD = 15
    created = activity_partitions_ahead()
    if connection.vendor != "postgresql":
        assert created == []
        return
    last = months_ahead(today=timezone.now().date(), ahead=15)[-1]
    assert created[-1] == partition_name(last) and activity_partitions_ahead() == []
