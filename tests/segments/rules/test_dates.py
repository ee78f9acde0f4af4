"""Dates compare by calendar day in the project's time zone, around midnight and daylight saving
changes, and "today" follows `now` in that zone (not UTC)."""

from __future__ import annotations

import datetime as dt

import pytest

from contacts.models import Contact
from segments.rules import matching_contacts
from tests.factories import ContactFactory
from tests.segments.rules.conftest import field, local, tree

pytestmark = pytest.mark.django_db


def created(*moments: dt.datetime) -> list[Contact]:
    return [ContactFactory(created_at=m, first_name=f"c{i}") for i, m in enumerate(moments)]


def matched(node, now) -> set[str]:
    return set(matching_contacts(tree(node), now=now).values_list("first_name", flat=True))


def test_on_uses_local_midnight_not_utc():
    created(
        local(2026, 3, 14, 23, 59, 59),  # c0: 22:59:59 UTC on the 14th
        local(2026, 3, 15, 0, 0, 0),  # c1: 23:00 UTC on the 14th, but the 15th in Prague
        local(2026, 3, 15, 23, 59, 59),  # c2
        local(2026, 3, 16, 0, 0, 0),  # c3
    )
    now = local(2026, 3, 20, 12)
    assert matched(field("created_at", "on", "2026-03-15"), now) == {"c1", "c2"}
    assert matched(field("created_at", "before", "2026-03-15"), now) == {"c0"}
    assert matched(field("created_at", "after", "2026-03-15"), now) == {"c3"}
    assert matched(field("created_at", "between", ["2026-03-14", "2026-03-15"]), now) == {"c0", "c1", "c2"}


def test_today_is_the_local_date_just_after_midnight():
    created(local(2026, 3, 14, 12), local(2026, 3, 15, 0, 0, 10))
    now = local(2026, 3, 15, 0, 0, 30)  # still the 14th in UTC
    assert matched(field("created_at", "in_last_days", 0), now) == {"c1"}
    assert matched(field("created_at", "in_last_days", 1), now) == {"c0", "c1"}
    assert matched(field("created_at", "more_than_days_ago", 0), now) == {"c0"}
    assert matched(field("created_at", "in_next_days", 0), now) == {"c1"}


@pytest.mark.parametrize(
    ("day", "inside", "outside"),
    [
        # 2026-03-29 has 23 hours in Prague (02:00 → 03:00), 2026-10-25 has 25 (03:00 → 02:00).
        ("2026-03-29", [(2026, 3, 29, 0, 0), (2026, 3, 29, 23, 59, 59)], [(2026, 3, 28, 23, 59), (2026, 3, 30, 0, 0)]),
        ("2026-10-25", [(2026, 10, 25, 0, 0), (2026, 10, 25, 23, 30)], [(2026, 10, 24, 23, 59), (2026, 10, 26, 0, 0)]),
    ],
)
def test_days_with_a_daylight_saving_change(day, inside, outside):
    for i, moment in enumerate(inside):
        ContactFactory(first_name=f"in{i}", created_at=local(*moment))
    for i, moment in enumerate(outside):
        ContactFactory(first_name=f"out{i}", created_at=local(*moment))
    assert matched(field("created_at", "on", day), local(2027, 1, 1)) == {"in0", "in1"}


def test_relative_operators_follow_design():
    today = dt.date(2026, 3, 15)
    moments = {
        f"d{offset:+d}": local(*(today + dt.timedelta(days=offset)).timetuple()[:3], 12) for offset in range(-5, 6)
    }
    for name, moment in moments.items():
        ContactFactory(first_name=name, created_at=moment)
    now = local(2026, 3, 15, 8)
    # in_last_days N: today − N ≤ date ≤ today
    assert matched(field("created_at", "in_last_days", 2), now) == {"d-2", "d-1", "d+0"}
    # more_than_days_ago N: date < today − N
    assert matched(field("created_at", "more_than_days_ago", 3), now) == {"d-5", "d-4"}
    # in_next_days N: today ≤ date ≤ today + N
    assert matched(field("created_at", "in_next_days", 2), now) == {"d+0", "d+1", "d+2"}


def test_the_project_time_zone_setting_decides(settings):
    created(dt.datetime(2026, 3, 15, 3, 0, tzinfo=dt.UTC))  # the 15th in Prague, the 14th in New York
    now = dt.datetime(2026, 3, 20, tzinfo=dt.UTC)
    assert matched(field("created_at", "on", "2026-03-15"), now) == {"c0"}
    settings.TIME_ZONE = "America/New_York"
    assert matched(field("created_at", "on", "2026-03-14"), now) == {"c0"}


def test_naive_now_means_project_time():
    created(local(2026, 3, 15, 0, 30))
    assert matched(field("created_at", "in_last_days", 0), dt.datetime(2026, 3, 15, 0, 45)) == {"c0"}


def test_extreme_dates_do_not_fail():
    created(local(2026, 3, 15, 12))
    now = local(2026, 3, 15, 13)
    assert matched(field("created_at", "before", "0001-01-01"), now) == set()
    assert matched(field("created_at", "after", "9999-12-31"), now) == set()
    assert matched(field("created_at", "between", ["0001-01-01", "9999-12-31"]), now) == {"c0"}
    assert matched(field("created_at", "in_last_days", 36525), now) == {"c0"}
    assert matched(field("created_at", "in_next_days", 36525), now) == {"c0"}


def test_custom_dates_compare_as_calendar_dates(custom_fields):
    ContactFactory(first_name="early", custom={"renewal": "2026-03-09"})
    ContactFactory(first_name="late", custom={"renewal": "2026-03-10"})
    ContactFactory(first_name="none", custom={})
    now = local(2026, 3, 15, 0, 10)
    assert matched(field("custom.renewal", "before", "2026-03-10"), now) == {"early"}
    assert matched(field("custom.renewal", "in_last_days", 5), now) == {"late"}
    assert matched(field("custom.renewal", "more_than_days_ago", 5), now) == {"early"}
