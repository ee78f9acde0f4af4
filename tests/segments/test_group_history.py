"""The History tab: member count per day as a server-drawn SVG chart, summary figures, last rebuild card."""

import datetime as dt
import random
import re

import pytest
from django.urls import reverse
from django.utils import timezone

from contacts.demo import DemoContext
from contacts.roles import Role
from segments.demo import HISTORY_DAYS, seed_group_size_history
from segments.models import GroupSizeSnapshot, RebuildStatus
from segments.selectors import group_size_history
from segments.views.history import size_chart, value_ticks
from tests.conftest import make_user
from tests.factories import ContactGroupFactory

pytestmark = pytest.mark.django_db

CZ_TREE = {"version": 1, "root": {"type": "field", "field": "country", "operator": "equals", "value": "CZ"}}


def today() -> dt.date:
    return timezone.localdate()


def snap(group, **counts_by_days_ago: int) -> None:
    """snap(group, d3=1200, d1=1300): snapshots 3 and 1 days ago."""
    GroupSizeSnapshot.objects.bulk_create(
        GroupSizeSnapshot(group=group, date=today() - dt.timedelta(days=int(key[1:])), member_count=count)
        for key, count in counts_by_days_ago.items()
    )


def history_page(client, group, **params):
    response = client.get(reverse("segments:group_history", args=[group.pk]), params)
    assert response.status_code == 200
    return response


def path_points(d: str) -> list[tuple[float, float]]:
    return [(float(x), float(y)) for x, y in re.findall(r"[ML](-?[\d.]+),(-?[\d.]+)", d)]


def test_chart_draws_one_point_per_snapshot_and_ends_with_the_live_count(marketer_client):
    group = ContactGroupFactory(member_count=1450)
    snap(group, d3=1200, d2=1300, d1=1400)
    response = history_page(marketer_client, group)
    history, chart = response.context["history"], response.context["chart"]
    assert [(p.date, p.count, p.live) for p in history.points] == [
        (today() - dt.timedelta(days=3), 1200, False),
        (today() - dt.timedelta(days=2), 1300, False),
        (today() - dt.timedelta(days=1), 1400, False),
        (today(), 1450, True),
    ]
    [line] = chart.lines
    points = path_points(line)
    assert len(points) == 4
    assert [x for x, _ in points] == sorted(x for x, _ in points)  # left to right
    assert [y for _, y in points] == sorted((y for _, y in points), reverse=True)  # growing: higher up
    html = response.content.decode()
    assert f'd="{line}"' in html
    for count in (1200, 1300, 1400, 1450):
        assert f'data-count="{count}"' in html  # the data table (and the hover targets)
    assert "1,450" in html and "live" in html


def test_todays_snapshot_is_used_instead_of_the_live_count_once_it_exists(marketer_client):
    group = ContactGroupFactory(member_count=999)
    snap(group, d1=900, d0=950)
    history = history_page(marketer_client, group).context["history"]
    assert [(p.count, p.live) for p in history.points] == [(900, False), (950, False)]


def test_gaps_break_the_line_and_are_never_drawn_as_zero(marketer_client):
    group = ContactGroupFactory(member_count=4)
    snap(group, d5=1, d4=2, d2=3, d1=3)  # 3 days ago: no snapshot
    response = history_page(marketer_client, group)
    history, chart = response.context["history"], response.context["chart"]
    assert [p.count for p in history.points] == [1, 2, None, 3, 3, 4]
    assert chart.y_ticks[0].label == "0"  # zero is on the axis, so a zero would sit on the baseline
    assert [len(path_points(line)) for line in chart.lines] == [2, 3]
    assert len(chart.bridges) == 1
    every_y = [y for line in chart.lines for _, y in path_points(line)]
    assert chart.bottom not in every_y
    gap_day = today() - dt.timedelta(days=3)
    assert gap_day not in [c.point.date for c in chart.points]
    html = response.content.decode()
    assert "no snapshot" in html and "No snapshot (1 day)" in html


@pytest.mark.parametrize(("days", "expected"), [("30", [70, 80]), ("90", [60, 70, 80]), ("365", [50, 60, 70, 80])])
def test_days_picks_the_period(marketer_client, days, expected):
    group = ContactGroupFactory(member_count=80)
    snap(group, d100=50, d40=60, d10=70)
    response = history_page(marketer_client, group, days=days)
    assert response.context["days"] == int(days)
    assert [p.count for p in response.context["history"].known] == expected
    assert f'href="?days={days}" aria-current="true"' in response.content.decode()


@pytest.mark.parametrize("junk", ["", "abc", "7", "-30", "0", "90.5", "1e9", "99999999999999999999", "30; drop"])
def test_junk_days_fall_back_to_90(marketer_client, junk):
    group = ContactGroupFactory(member_count=80)
    snap(group, d100=50, d40=60, d10=70)
    response = history_page(marketer_client, group, days=junk)
    assert response.context["days"] == 90
    assert [p.count for p in response.context["history"].known] == [60, 70, 80]


def test_summary_figures_and_text_alternative(marketer_client):
    group = ContactGroupFactory(member_count=1450)
    snap(group, d90=1200, d60=1180, d30=1460, d1=1400)
    response = history_page(marketer_client, group)
    history = response.context["history"]
    assert (history.change, history.change_display, history.change_pct_display) == (250, "+250", "+20.8%")
    assert (history.low.count, history.high.count, history.tone) == (1180, 1460, "up")
    assert history.sentence == "Members grew from 1,200 to 1,450 over 90 days (lowest 1,180, highest 1,460)"
    html = response.content.decode()
    assert 'role="img" aria-label="Members grew from 1,200 to 1,450 over 90 days' in html
    assert re.search(r'data-stat="change">.*?\+250.*?data-stat="change-pct">\+20\.8%', html, re.S)
    assert "history-stat-up" in html
    assert 'data-stat="low">1,180<' in html and 'data-stat="high">1,460<' in html
    assert 'data-stat="current">1,450<' in html


def test_a_shrinking_group_shows_a_negative_change():
    group = ContactGroupFactory(member_count=900)
    snap(group, d30=1000)
    history = group_size_history(group=group, days=30)
    assert (history.change_display, history.change_pct_display, history.tone) == ("\u2212100", "\u221210.0%", "down")
    assert history.sentence == "Members shrank from 1,000 to 900 over 30 days"


def test_empty_state_names_the_nightly_time(marketer_client, settings):
    settings.NIGHTLY_REBUILD_TIME = "03:30"
    group = ContactGroupFactory(member_count=12)
    html = history_page(marketer_client, group).content.decode()
    assert "History starts after the first nightly snapshot" in html and "03:30" in html
    assert "data-size-chart" not in html and "data-history-summary" not in html


def test_empty_period_suggests_a_longer_one(marketer_client):
    group = ContactGroupFactory(member_count=12)
    snap(group, d60=10)
    html = history_page(marketer_client, group, days="30").content.decode()
    assert "No size history in this period" in html and "data-size-chart" not in html
    assert "data-size-chart" in history_page(marketer_client, group, days="90").content.decode()


def test_value_ticks_are_round_and_cover_the_data():
    assert value_ticks(1200, 1450) == [1200, 1300, 1400, 1500]
    assert value_ticks(1, 4) == [0, 1, 2, 3, 4]
    assert value_ticks(40, 40) == [38, 40, 42]
    assert value_ticks(0, 0) == [0, 1]
    ticks = value_ticks(123_456, 987_654)
    assert ticks[0] <= 123_456 and ticks[-1] >= 987_654 and 3 <= len(ticks) <= 7
    assert len({b - a for a, b in zip(ticks, ticks[1:], strict=False)}) == 1


def test_a_year_of_history_gets_a_few_month_labels_with_thousands_separators():
    group = ContactGroupFactory(member_count=25_000)
    GroupSizeSnapshot.objects.bulk_create(
        GroupSizeSnapshot(group=group, date=today() - dt.timedelta(days=n), member_count=20_000 + 10 * (365 - n))
        for n in range(1, 366)
    )
    chart = size_chart(history=group_size_history(group=group, days=365))
    assert chart is not None and len(chart.points) == 366 and not chart.show_markers
    assert 4 <= len(chart.x_ticks) <= 7
    assert all("," in t.label for t in chart.y_ticks)
    xs = [t.pos for t in chart.x_ticks]
    assert xs == sorted(xs) and min(b - a for a, b in zip(xs, xs[1:], strict=False)) > 80  # not crowded


def test_rebuild_card_for_condition_based_groups(marketer_client):
    group = ContactGroupFactory(
        is_condition_based=True,
        condition=CZ_TREE,
        rebuild_status=RebuildStatus.SUCCEEDED,
        last_rebuild_started_at=timezone.now(),
        last_rebuild_duration_ms=1234,
        last_rebuild_added=12,
        last_rebuild_removed=3,
    )
    html = history_page(marketer_client, group).content.decode()
    assert "data-rebuild-card" in html and "Last rebuild" in html
    assert "1.2 s" in html and "+12" in html and "&minus;3" in html and "Up to date" in html
    static = ContactGroupFactory()
    assert "data-rebuild-card" not in history_page(marketer_client, static).content.decode()


@pytest.mark.parametrize(
    ("role", "expected"), [(Role.MARKETER, 200), (Role.ADMIN, 200), (Role.STAFF, 200), (None, 403)]
)
def test_who_may_see_the_history_tab(client, role, expected):
    group = ContactGroupFactory()
    url = reverse("segments:group_history", args=[group.pk])
    client.force_login(make_user(role))
    assert client.get(url).status_code == expected
    if expected == 200:  # the tab is linked from the group's other tabs
        assert f'href="{url}"' in client.get(reverse("segments:group_detail", args=[group.pk])).content.decode()


def test_anonymous_users_are_sent_to_login(client):
    group = ContactGroupFactory()
    response = client.get(reverse("segments:group_history", args=[group.pk]))
    assert response.status_code == 302 and response.url.startswith(reverse("login"))


def test_unknown_group_is_404(marketer_client):
    assert marketer_client.get(reverse("segments:group_history", args=[999_999])).status_code == 404


def test_demo_history_is_deterministic_idempotent_and_told_alike_by_snapshots_and_events():
    from contacts.models import Contact
    from segments import services
    from segments.models import EventKind, Membership, MembershipEvent
    from segments.selectors import group_flow, group_last_rebuild_changes
    from tests.factories import ContactFactory

    ContactFactory.create_batch(260)
    ids = list(Contact.objects.order_by("pk").values_list("pk", flat=True))
    group = ContactGroupFactory(code="trade_fair_2026")
    other = ContactGroupFactory(
        code="pricing_visitors",
        last_rebuild_started_at=timezone.now() - dt.timedelta(minutes=1),
        last_rebuild_finished_at=timezone.now() + dt.timedelta(minutes=1),
        last_rebuild_added=50,
        last_rebuild_removed=0,
    )
    ContactGroupFactory(code="not_a_sample")
    services.group_add_contacts(group=group, contacts=Contact.objects.filter(pk__in=ids[:200]))
    services.group_add_contacts(group=other, contacts=Contact.objects.filter(pk__in=ids[:50]))
    now = timezone.now()

    def run() -> list[tuple[str, dt.date, int]]:
        seed_group_size_history(DemoContext(seed=42, now=now, created=True, rng=random.Random("42:history")))
        return list(
            GroupSizeSnapshot.objects.order_by("group__code", "date").values_list("group__code", "date", "member_count")
        )

    first = run()
    other.refresh_from_db()  # the last rebuild's figures match the contacts its history lists
    assert other.last_rebuild_added == group_last_rebuild_changes(group=other, joined=True).count() == 0
    events = sorted(MembershipEvent.objects.values_list("group_id", "contact_id", "kind", "at"))
    assert run() == first  # idempotent
    assert sorted(MembershipEvent.objects.values_list("group_id", "contact_id", "kind", "at")) == events
    assert {code for code, _, _ in first} == {"trade_fair_2026", "pricing_visitors"}
    assert GroupSizeSnapshot.objects.filter(group=group).count() == HISTORY_DAYS
    assert GroupSizeSnapshot.objects.filter(group=other).count() == HISTORY_DAYS - 2  # a demo gap
    counts = list(GroupSizeSnapshot.objects.filter(group=group).values_list("member_count", flat=True))
    assert counts[0] < counts[-1] <= 200  # it grew
    group.refresh_from_db()  # it existed before its first join (the dashboard does not call it new)
    assert group.created_at < MembershipEvent.objects.filter(group=group).order_by("at").first().at
    # The snapshots and the joins and leaves tell one story: each day's change is that day's joins − leaves.
    today = timezone.localdate(now)
    days = group_flow(group=group, start=today - dt.timedelta(days=70), today=today)
    flow = {f.date: f.joined - f.left for f in days}
    snaps = dict(GroupSizeSnapshot.objects.filter(group=group).values_list("date", "member_count"))
    for day, count in snaps.items():
        if day - dt.timedelta(days=1) in snaps:
            assert count - snaps[day - dt.timedelta(days=1)] == flow.get(day, 0), day
    assert MembershipEvent.objects.filter(group=group, kind=EventKind.LEFT).exists()  # some churn
    members = Membership.objects.filter(group=group)
    assert members.count() == 200 and not members.filter(added_at__gt=now).exists()
    assert set(members.values_list("added_at", flat=True)) == set(
        MembershipEvent.objects.filter(group=group, kind=EventKind.ENTERED, contact__in=members.values("contact"))
        .values_list("at", flat=True)
    )
    GroupSizeSnapshot.objects.all().delete()
    MembershipEvent.objects.all().delete()
    Membership.objects.all().delete()
    services.group_add_contacts(group=group, contacts=Contact.objects.filter(pk__in=ids[:200]))
    services.group_add_contacts(group=other, contacts=Contact.objects.filter(pk__in=ids[:50]))
    assert run() == first  # deterministic


# --- joins and leaves (membership history) -----------------------------------------------------


def test_joins_and_leaves_per_day_come_from_the_membership_history(marketer_client):
    from contacts.models import Contact
    from segments import services
    from segments.models import MembershipEvent
    from tests.factories import ContactFactory

    group = ContactGroupFactory(name="Fair leads")
    snap(group, d3=0, d1=3)
    contacts = ContactFactory.create_batch(3)
    services.group_add_contacts(group=group, contacts=Contact.objects.filter(pk__in=[c.pk for c in contacts]))
    services.group_remove_contacts(group=group, contacts=Contact.objects.filter(pk=contacts[0].pk))
    two_days_ago = timezone.now() - dt.timedelta(days=2)
    MembershipEvent.objects.filter(kind=1).update(at=two_days_ago)  # they joined two days ago; one left today
    response = history_page(marketer_client, group, days=30)
    flow = response.context["flow"]
    assert (flow.joined, flow.left_total) == (3, 1)
    up = [b for b in flow.bars if b.joined]
    down = [b for b in flow.bars if not b.joined]
    assert len(up) == 1 and len(down) == 1 and up[0].x < down[0].x  # joins two days ago, left today
    assert up[0].y + up[0].height == flow.middle == down[0].y
    assert up[0].height == pytest.approx(3 * down[0].height, abs=0.5)  # bars to scale (rounded to 0.1)
    days = {row.date: day for row, day in response.context["table"]}
    assert days[today()].left == 1
    assert days[timezone.localtime(two_days_ago).date()].joined == 3
    html = response.content.decode()
    assert "+3 joined" in html and "left: removed by hand" in html and "data-flow-chart" in html


def test_a_group_nobody_joined_says_so(marketer_client):
    group = ContactGroupFactory(name="Quiet")
    response = history_page(marketer_client, group)
    assert response.context["flow"] is None
    assert "Nobody joined or left “Quiet”" in response.content.decode()


def test_last_rebuild_lists_the_contacts_it_added_and_removed(marketer_client):
    from contacts.models import Contact
    from segments import rebuilds
    from tests.factories import ContactFactory

    group = ContactGroupFactory(is_condition_based=True, condition=CZ_TREE)
    jana, petr = ContactFactory(first_name="Jana", country="CZ"), ContactFactory(first_name="Petr", country="DE")
    rebuilds.group_rebuild(group=group)
    Contact.objects.filter(pk=jana.pk).update(country="DE")
    Contact.objects.filter(pk=petr.pk).update(country="CZ")
    rebuilds.group_rebuild(group=group)
    page = history_page(marketer_client, group).content.decode()
    added_url = reverse("segments:group_rebuild_changes", args=[group.pk, "added"])
    assert added_url in page
    added = marketer_client.get(added_url)
    assert [e.contact_id for e in added.context["object_list"]] == [petr.pk]
    removed = marketer_client.get(reverse("segments:group_rebuild_changes", args=[group.pk, "removed"]))
    assert [e.contact_id for e in removed.context["object_list"]] == [jana.pk]
    assert marketer_client.get(reverse("segments:group_rebuild_changes", args=[group.pk, "other"])).status_code == 404


@pytest.mark.parametrize(("role", "expected"), [(Role.MARKETER, 200), (Role.STAFF, 200), (None, 403)])
def test_who_may_list_the_last_rebuild_changes(client, role, expected):
    group = ContactGroupFactory(is_condition_based=True, condition=CZ_TREE)
    client.force_login(make_user(role))
    assert client.get(reverse("segments:group_rebuild_changes", args=[group.pk, "added"])).status_code == expected
