"""The home page: groups with size and change since yesterday, rebuilds running or failed, joins and leaves,
the contact summary and per-role shortcuts; its reads take a fixed number of queries whatever the groups."""

import datetime as dt
import re

import pytest
from django.contrib.auth.models import Permission
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from contacts.models import Contact
from contacts.roles import Role
from segments import services
from segments.models import Cause, ContactGroup, EventKind, MembershipEvent, RebuildStatus
from segments.rebuilds import group_rebuild_by_id
from segments.selectors import dashboard_contacts, dashboard_flow, dashboard_groups
from segments.views.dashboard import day_label, sparkline
from tests.conftest import make_user
from tests.factories import ContactFactory, ContactGroupFactory

pytestmark = pytest.mark.django_db

CZ_TREE = {"version": 1, "root": {"type": "field", "field": "country", "operator": "equals", "value": "CZ"}}
HOME = "/"


def today() -> dt.date:
    return timezone.localdate()


def contacts(ids: list[int]):
    return Contact.objects.filter(pk__in=ids)


def grown_group(code: str = "fair", *, yesterday: int = 3, added_today: int = 2, removed_today: int = 1):
    """A static group made two days ago with `yesterday` members 25 hours ago (and in yesterday's snapshot),
    then changed by hand just now."""
    group = services.group_create(code=code, name=code.replace("_", " ").title())
    ContactGroup.objects.filter(pk=group.pk).update(created_at=timezone.now() - dt.timedelta(days=2))
    people = [ContactFactory().pk for _ in range(yesterday + added_today)]
    services.group_add_contacts(group=group, contacts=contacts(people[:yesterday]))
    MembershipEvent.objects.filter(group=group).update(at=timezone.now() - dt.timedelta(hours=25))
    services.groups_snapshot_sizes(date=today() - dt.timedelta(days=1))
    services.group_add_contacts(group=group, contacts=contacts(people[yesterday:]))
    services.group_remove_contacts(group=group, contacts=contacts(people[:removed_today]))
    group.refresh_from_db()
    return group


def failed_group() -> ContactGroup:
    """A condition-based group whose rebuild failed for real: its condition names a field that does not exist."""
    group = services.group_create(
        code="broken", name="Broken rule", is_condition_based=True, condition=CZ_TREE, queue_rebuild=False
    )
    bad = {"version": 1, "root": {"type": "field", "field": "custom.gone", "operator": "equals", "value": "x"}}
    ContactGroup.objects.filter(pk=group.pk).update(condition=bad)
    assert group_rebuild_by_id(group_id=group.pk)["ok"] is False
    group.refresh_from_db()
    assert group.rebuild_status == RebuildStatus.FAILED
    return group


# ---------------------------------------------------------------------------------------------
# Selectors
# ---------------------------------------------------------------------------------------------


def test_change_since_yesterday_is_the_joins_minus_leaves_of_the_last_24_hours():
    group = grown_group(yesterday=3, added_today=2, removed_today=1)
    assert group.member_count == 4
    [pulse] = dashboard_groups()
    assert pulse.group == group
    assert (pulse.yesterday, pulse.change, pulse.change_display, pulse.tone) == (3, 1, "+1", "up")
    assert pulse.counts[-1] == 4  # today: the live count
    assert pulse.counts[-2] == 3  # yesterday's snapshot


def test_shrinking_group_and_group_younger_than_a_day():
    grown_group("shrank", yesterday=5, added_today=0, removed_today=2)
    services.group_create(code="brand_new", name="Brand new")  # created an hour ago: no size a day ago
    by_code = {p.group.code: p for p in dashboard_groups()}
    shrank = by_code["shrank"]
    assert (shrank.change, shrank.change_display, shrank.tone) == (-2, "\u22122", "down")
    assert by_code["brand_new"].yesterday is None and by_code["brand_new"].change is None
    assert by_code["brand_new"].change_display == ""


def test_todays_snapshot_is_ignored_for_the_live_count_and_gaps_stay_gaps():
    group = grown_group(yesterday=3, added_today=2, removed_today=0)
    services.groups_snapshot_sizes()  # today's nightly snapshot: 5
    one = Contact.objects.filter(pk__in=group.memberships.values("contact_id")[:1])
    services.group_remove_contacts(group=group, contacts=one)
    group.refresh_from_db()
    [pulse] = dashboard_groups(days=30)
    assert len(pulse.counts) == 31
    assert pulse.counts[-1] == group.member_count == 4  # live, not today's snapshot
    assert pulse.change == 1  # against yesterday's 3
    assert pulse.counts[:-2] == [None] * 29  # no snapshots before yesterday: gaps, never zero


def test_flow_counts_joins_and_leaves_per_group_and_day():
    fair = grown_group("fair", yesterday=3, added_today=2, removed_today=1)  # today: 2 joined, 1 left
    vip = grown_group("vip", yesterday=2, added_today=0, removed_today=0)
    # Move vip's joins to three days ago and one of fair's to ten days ago (outside a 7-day window).
    three_days_ago = timezone.now() - dt.timedelta(days=3)
    MembershipEvent.objects.filter(group=vip).update(at=three_days_ago)
    old = MembershipEvent.objects.filter(group=fair, kind=EventKind.ENTERED).order_by("pk").first()
    MembershipEvent.objects.filter(pk=old.pk).update(at=timezone.now() - dt.timedelta(days=10))
    flows = dashboard_flow(group_ids=[fair.pk, vip.pk], since=today() - dt.timedelta(days=6))
    a_day_ago = timezone.localdate(timezone.now() - dt.timedelta(hours=25))  # grown_group's first members
    assert [(f.group_id, f.date, f.joined, f.left) for f in flows] == [
        (fair.pk, today(), 2, 1),
        (fair.pk, a_day_ago, 2, 0),
        (vip.pk, timezone.localdate(three_days_ago), 2, 0),
    ]


def test_flow_leaves_out_source_changes_and_other_groups():
    group = grown_group("fair", yesterday=2, added_today=0, removed_today=0)
    other = grown_group("other", yesterday=1, added_today=0, removed_today=0)
    member = group.memberships.first()
    MembershipEvent.objects.create(
        group=group, contact_id=member.contact_id, kind=EventKind.SOURCE_ADDED, source=2, cause=Cause.ACCOUNT
    )
    flows = dashboard_flow(group_ids=[group.pk], since=today() - dt.timedelta(days=2))
    assert [(f.group_id, f.joined, f.left) for f in flows] == [(group.pk, 2, 0)]
    assert other.pk not in {f.group_id for f in flows}
    assert dashboard_flow(group_ids=[], since=today()) == []


def test_contact_summary_counts_unmerged_and_anonymous():
    parent = ContactFactory(email="a@example.com")
    ContactFactory(email=None)
    ContactFactory(email="")
    ContactFactory(email=None, merged_into=parent)  # merged: not counted
    summary = dashboard_contacts()
    assert (summary.total, summary.anonymous) == (3, 2)


def test_failed_rebuild_is_on_the_pulse():
    failed_group()
    [pulse] = dashboard_groups()
    assert pulse.group.rebuild_status == RebuildStatus.FAILED
    assert "no custom field with code" in pulse.group.rebuild_error


def test_selectors_take_a_fixed_number_of_queries(django_assert_max_num_queries):
    for i in range(12):
        grown_group(f"g{i}", yesterday=2, added_today=1, removed_today=1)
    with django_assert_max_num_queries(3):
        pulses = dashboard_groups()
    assert len(pulses) == 12 and all(p.change == 0 for p in pulses)
    with django_assert_max_num_queries(1):
        flows = dashboard_flow(group_ids=[p.group.pk for p in pulses], since=today())
    assert len(flows) == 12


# ---------------------------------------------------------------------------------------------
# Sparkline
# ---------------------------------------------------------------------------------------------


def test_sparkline_breaks_at_gaps_and_needs_two_days():
    assert sparkline(counts=[None, None, 5]) is None
    spark = sparkline(counts=[10, 12, None, 11, 14], width=100, height=20, pad=0)
    assert spark is not None
    assert spark.paths == ["M0.0,20.0 L25.0,10.0", "M75.0,15.0 L100.0,0.0"]
    assert (spark.last_x, spark.last_y) == (100.0, 0.0)
    assert spark.title == "Members over the last 4 days: 10 → 14"
    flat = sparkline(counts=[7, 7], width=100, height=20, pad=0)
    assert flat is not None and flat.paths == ["M0.0,10.0 L100.0,10.0"]


# ---------------------------------------------------------------------------------------------
# The page, per role
# ---------------------------------------------------------------------------------------------


def main(response) -> str:
    """The page's own content (not the navigation bar)."""
    return response.content.decode().split('<main', 1)[1]


def test_login_required(client):
    response = client.get(HOME)
    assert response.status_code == 302 and response.url.startswith(reverse("login"))


def test_login_lands_on_the_dashboard(client):
    make_user(Role.MARKETER, username="mia", password="secret-pass-123")
    response = client.post(reverse("login"), {"username": "mia", "password": "secret-pass-123"})
    assert response.status_code == 302 and response.url == HOME
    assert client.get(response.url).templates[0].name == "segments/dashboard.html"


def test_marketer_sees_groups_changes_shortcuts_and_can_act_on_a_failed_rebuild(marketer_client):
    fair = grown_group("fair", yesterday=3, added_today=2, removed_today=1)
    broken = failed_group()
    response = marketer_client.get(HOME)
    assert response.status_code == 200
    html = main(response)
    row = re.search(r'<tr data-group="fair">.*?</tr>', html, re.S).group(0)
    assert fair.name in row and ">4</td>" in row and "+1" in row and "<svg" in row
    assert 'data-shortcut="new-group"' in html and 'data-shortcut="new-contact"' in html
    assert 'data-shortcut="field-settings"' not in html
    failed = re.search(r'<li class="list-group-item" data-failed="broken">.*?</li>', html, re.S).group(0)
    assert "no custom field with code" in failed
    assert reverse("segments:group_update", args=[broken.pk]) in failed
    assert reverse("segments:group_rebuild", args=[broken.pk]) in failed
    ctx = response.context
    assert (ctx["contacts"].total, ctx["group_total"], ctx["condition_total"]) == (5, 2, 1)
    assert (ctx["joined_today"], ctx["left_today"]) == (2, 1)
    a_day_ago = timezone.localdate(timezone.now() - dt.timedelta(hours=25))  # grown_group's first members
    assert [label for label, _ in ctx["flows"]] == ["Today", day_label(a_day_ago, today=today())]


def test_staff_sees_the_groups_but_no_group_editing(staff_client):
    grown_group("fair")
    broken = failed_group()
    response = staff_client.get(HOME)
    assert response.status_code == 200
    html = main(response)
    assert 'data-group="fair"' in html
    assert 'data-shortcut="new-contact"' in html  # Staff may add contacts
    assert 'data-shortcut="new-group"' not in html  # but not groups
    failed = re.search(r'data-failed="broken">.*?</li>', html, re.S).group(0)
    assert "no custom field with code" in failed  # sees the error
    assert reverse("segments:group_rebuild", args=[broken.pk]) not in failed  # cannot rebuild
    assert reverse("segments:group_update", args=[broken.pk]) not in failed


def test_admin_also_gets_field_settings(admin_client_role):
    html = main(admin_client_role.get(HOME))
    for shortcut in ("new-group", "new-contact", "field-settings"):
        assert f'data-shortcut="{shortcut}"' in html


def test_running_rebuild_is_shown_and_polls(marketer_client):
    group = ContactGroupFactory(code="busy", is_condition_based=True, condition=CZ_TREE)
    running = {"rebuild_status": RebuildStatus.RUNNING, "rebuild_heartbeat_at": timezone.now()}
    ContactGroup.objects.filter(pk=group.pk).update(**running)
    html = main(marketer_client.get(HOME))
    busy = re.search(r'data-busy="busy">.*?</li>', html, re.S).group(0)
    assert reverse("segments:group_status", args=[group.pk]) + "?reload=1" in busy and "Rebuilding" in busy
    assert "data-rebuilds-ok" not in html


def test_nothing_to_worry_about(marketer_client):
    response = marketer_client.get(HOME)
    html = main(response)
    assert "data-rebuilds-ok" in html and "No contact groups yet" in html
    # No promise of features that do not exist yet.
    assert not re.search(r"import|campaign", html, re.I)


def test_user_without_a_role_is_refused_and_contacts_only_lands_on_contacts(client):
    client.force_login(make_user(None, username="nobody"))
    assert client.get(HOME).status_code == 403
    reader = make_user(None, username="reader")
    reader.user_permissions.add(Permission.objects.get(codename="view_contact", content_type__app_label="contacts"))
    client.force_login(reader)
    response = client.get(HOME)
    assert response.status_code == 302 and response.url == reverse("contacts:contact_list")


def test_page_queries_do_not_grow_with_the_number_of_groups(marketer_client, django_assert_max_num_queries):
    grown_group("first")
    with CaptureQueriesContext(connection) as few:
        assert marketer_client.get(HOME).status_code == 200
    for i in range(15):
        grown_group(f"g{i}")
    failed_group()
    with django_assert_max_num_queries(len(few.captured_queries)):
        response = marketer_client.get(HOME)
    assert response.context["group_total"] == 17
    assert len(response.context["rows"]) == 8 and response.context["more_groups"] == 9
