"""The daily activity roll-up's upkeep: every writer keeps ActivityDay equal to a recount of the activities."""

from __future__ import annotations

import datetime as dt
from io import StringIO
from zoneinfo import ZoneInfo

import pytest
from django.core.management import call_command

from contacts import services
from contacts.models import Activity, ActivityDay, ActivityUrl
from contacts.services import ActivityRow
from tests.factories import ContactFactory

pytestmark = pytest.mark.django_db
PRAGUE = ZoneInfo("Europe/Prague")


def rows() -> set[tuple[object, ...]]:
    return set(ActivityDay.objects.values_list("contact_id", "day", "type", "url__url", "n"))


def test_days_are_utc_days_counted_per_type_and_exact_url():
    contact = ContactFactory()
    # 00:30 in Prague on 1 June is 22:30 UTC on 31 May: the roll-up's day is the UTC one.
    early = dt.datetime(2026, 6, 1, 0, 30, tzinfo=PRAGUE)
    services.activity_record(contact=contact, type="page_visit", url="https://x.cz/a", occurred_at=early)
    services.activities_record(
        rows=[
            ActivityRow(contact.pk, "page_visit", early + dt.timedelta(hours=2), url="https://x.cz/a"),
            ActivityRow(contact.pk, "page_visit", early + dt.timedelta(hours=3), url="https://x.cz/A"),
            ActivityRow(contact.pk, "email_open", early + dt.timedelta(hours=3)),
        ]
    )
    assert rows() == {
        (contact.pk, dt.date(2026, 5, 31), "page_visit", "https://x.cz/a", 1),
        (contact.pk, dt.date(2026, 6, 1), "page_visit", "https://x.cz/a", 1),
        (contact.pk, dt.date(2026, 6, 1), "page_visit", "https://x.cz/A", 1),
        (contact.pk, dt.date(2026, 6, 1), "email_open", "", 1),
    }
    services.activity_record(contact=contact, type="email_open", occurred_at=early + dt.timedelta(hours=4))
    assert (contact.pk, dt.date(2026, 6, 1), "email_open", "", 2) in rows()
    assert ActivityUrl.objects.count() == 3  # one row per distinct text, shared by every contact


def test_a_load_counts_naive_times_as_project_time(settings):
    settings.TIME_ZONE = "Europe/Prague"
    contact = ContactFactory()
    naive = dt.datetime(2026, 6, 1, 1, 0)  # 01:00 in Prague = 23:00 UTC the day before
    assert services.activities_load(rows=[ActivityRow(contact.pk, "custom", naive)]) == 1
    assert Activity.objects.get().occurred_at == dt.datetime(2026, 5, 31, 23, 0, tzinfo=dt.UTC)
    assert rows() == {(contact.pk, dt.date(2026, 5, 31), "custom", "", 1)}


def test_merges_and_deletes_keep_the_roll_up_equal_to_a_recount():
    parent, child, other = ContactFactory(), ContactFactory(), ContactFactory()
    when = dt.datetime(2026, 6, 1, 12, tzinfo=dt.UTC)
    services.activities_load(
        rows=[ActivityRow(c.pk, "page_visit", when, url="/pricing") for c in (parent, child, child, other)]
    )
    services.contact_merge(parent=parent, child=child)
    assert rows() == {
        (parent.pk, dt.date(2026, 6, 1), "page_visit", "/pricing", 3),
        (other.pk, dt.date(2026, 6, 1), "page_visit", "/pricing", 1),
    }
    services.contact_delete(contact=parent)  # the merged child goes with it
    assert rows() == {(other.pk, dt.date(2026, 6, 1), "page_visit", "/pricing", 1)}
    services.activities_delete_all()
    assert rows() == set()


def test_the_repair_command_recounts_from_the_activities():
    contact = ContactFactory()
    when = dt.datetime(2026, 6, 1, 12, tzinfo=dt.UTC)
    services.activities_load(rows=[ActivityRow(contact.pk, "page_visit", when, url="/a")] * 2)
    ActivityDay.objects.update(n=7)  # as if damaged around the services
    out = StringIO()
    call_command("rebuild_activity_days", stdout=out)
    assert rows() == {(contact.pk, dt.date(2026, 6, 1), "page_visit", "/a", 2)}
    assert "all contacts: 1 rows" in out.getvalue()
    ActivityDay.objects.update(n=7)
    call_command("rebuild_activity_days", "--contact", str(contact.pk), stdout=out)
    assert rows() == {(contact.pk, dt.date(2026, 6, 1), "page_visit", "/a", 2)}
