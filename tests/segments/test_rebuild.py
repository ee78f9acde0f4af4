"""Rebuilds (set-based, only the condition source), dependency order, failure, copy/freeze, size history,
the nightly task and manage.py rebuild_groups."""

import datetime as dt
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from contacts.models import Contact
from segments import rebuilds, services, tasks
from segments.models import ContactGroup, GroupSizeSnapshot, Membership, RebuildStatus
from tests.factories import AccountFactory, ContactFactory, ContactGroupFactory, GroupAccountFactory, MembershipFactory

pytestmark = pytest.mark.django_db


def tree(root):
    return {"version": 1, "root": root}


CZ = tree({"type": "field", "field": "country", "operator": "equals", "value": "CZ"})


def members(group):
    return {
        (m.contact_id, m.via_manual, m.via_account, m.via_condition) for m in Membership.objects.filter(group=group)
    }


def test_rebuild_adds_joiners_removes_leavers_and_leaves_other_sources_alone():
    group = ContactGroupFactory(is_condition_based=True, condition=CZ)
    stays, joins = ContactFactory(country="CZ"), ContactFactory(country="CZ")
    leaves, leaves_but_manual = ContactFactory(country="DE"), ContactFactory(country="DE")
    merged = ContactFactory(country="CZ", merged_into=stays)
    MembershipFactory(group=group, contact=stays, via_manual=False, via_condition=True)
    MembershipFactory(group=group, contact=leaves, via_manual=False, via_condition=True)
    MembershipFactory(group=group, contact=leaves_but_manual, via_manual=True, via_condition=True)
    result = rebuilds.group_rebuild(group=group)
    assert (result.added, result.removed, result.member_count) == (1, 1, 3)
    assert members(group) == {
        (stays.pk, False, False, True),
        (joins.pk, False, False, True),
        (leaves_but_manual.pk, True, False, False),
    }
    assert merged.pk not in {m[0] for m in members(group)}
    group.refresh_from_db()
    assert group.rebuild_status == RebuildStatus.SUCCEEDED and group.member_count == 3
    assert (group.last_rebuild_added, group.last_rebuild_removed) == (1, 1)
    again = rebuilds.group_rebuild(group=group)
    assert (again.added, again.removed) == (0, 0)


def test_manual_and_account_members_also_matching_keep_every_source():
    group = ContactGroupFactory(is_condition_based=True, condition=CZ)
    acme = AccountFactory()
    GroupAccountFactory(group=group, account=acme)
    both = ContactFactory(country="CZ", account=acme)
    MembershipFactory(group=group, contact=both, via_manual=True, via_account=True)
    rebuilds.group_rebuild(group=group)
    assert members(group) == {(both.pk, True, True, True)}


def test_switching_the_condition_off_clears_only_the_condition_source():
    group = ContactGroupFactory(is_condition_based=True, condition=CZ)
    c1, c2 = ContactFactory(country="CZ"), ContactFactory(country="CZ")
    rebuilds.group_rebuild(group=group)
    Membership.objects.filter(group=group, contact=c2).update(via_manual=True)
    group.is_condition_based = False
    group.save()
    rebuilds.group_rebuild(group=group)
    assert members(group) == {(c2.pk, True, False, False)}
    assert c1.pk not in {m[0] for m in members(group)}


def test_failed_rebuild_keeps_the_old_members_and_records_the_error():
    group = ContactGroupFactory(is_condition_based=True, condition=CZ)
    c = ContactFactory(country="CZ")
    rebuilds.group_rebuild(group=group)
    ContactGroup.objects.filter(pk=group.pk).update(
        condition=tree({"type": "membership", "group": "missing_group", "operator": "is_member"})
    )
    result = rebuilds.group_rebuild_by_id(group_id=group.pk)
    assert result["ok"] is False
    group.refresh_from_db()
    assert group.rebuild_status == RebuildStatus.FAILED and "missing_group" in group.rebuild_error
    assert members(group) == {(c.pk, False, False, True)}


def test_groups_rebuild_after_the_groups_they_depend_on():
    a = ContactGroupFactory(
        code="a_top",
        is_condition_based=True,
        condition=tree({"type": "membership", "group": "b_mid", "operator": "is_member"}),
    )
    b = ContactGroupFactory(
        code="b_mid",
        is_condition_based=True,
        condition=tree({"type": "membership", "group": "c_base", "operator": "is_member"}),
    )
    c = ContactGroupFactory(code="c_base", is_condition_based=True, condition=CZ)
    ContactFactory(country="CZ")
    ordered = rebuilds.groups_in_dependency_order(groups=ContactGroup.objects.all())
    assert [g.code for g in ordered] == ["c_base", "b_mid", "a_top"]
    out = StringIO()
    call_command("rebuild_groups", "a_top", "b_mid", "c_base", stdout=out)
    for group in (a, b, c):
        group.refresh_from_db()
        assert group.member_count == 1, group.code
    lines = out.getvalue().splitlines()
    assert [line.split()[0] for line in lines[1:]] == ["c_base", "b_mid", "a_top"]


def test_rebuild_groups_command_needs_codes_or_all_and_names_unknown_codes():
    with pytest.raises(CommandError, match="--all"):
        call_command("rebuild_groups")
    with pytest.raises(CommandError, match="nope"):
        call_command("rebuild_groups", "nope")
    ContactGroupFactory(code="cz", is_condition_based=True, condition=CZ)
    ContactFactory(country="CZ")
    out = StringIO()
    call_command("rebuild_groups", "--all", stdout=out)
    assert "cz" in out.getvalue()
    assert ContactGroup.objects.get(code="cz").member_count == 1


def test_nightly_task_rebuilds_scheduled_groups_only_and_records_sizes():
    nightly = ContactGroupFactory(code="nightly", is_condition_based=True, condition=CZ, scheduled_rebuild=True)
    manual = ContactGroupFactory(code="manual", is_condition_based=True, condition=CZ, scheduled_rebuild=False)
    ContactFactory(country="CZ")
    results = tasks.rebuild_scheduled_groups()
    assert [r["group_id"] for r in results] == [nightly.pk]
    nightly.refresh_from_db()
    manual.refresh_from_db()
    assert (nightly.member_count, manual.member_count) == (1, 0)
    assert set(GroupSizeSnapshot.objects.values_list("group__code", "member_count")) == {("nightly", 1), ("manual", 0)}


def test_size_snapshot_overwrites_the_same_day():
    group = ContactGroupFactory(member_count=3)
    day = dt.date(2026, 11, 1)
    services.groups_snapshot_sizes(date=day)
    ContactGroup.objects.filter(pk=group.pk).update(member_count=5)
    services.groups_snapshot_sizes(date=day)
    assert list(GroupSizeSnapshot.objects.filter(group=group).values_list("date", "member_count")) == [(day, 5)]


def test_freeze_makes_a_static_group_of_todays_members(marketer_client):
    group = ContactGroupFactory(code="cz", name="Czechs", is_condition_based=True, condition=CZ)
    c1, c2 = ContactFactory(country="CZ"), ContactFactory(country="CZ")
    rebuilds.group_rebuild(group=group)
    response = marketer_client.post(
        reverse("segments:group_copy", args=[group.pk]), {"name": "Czechs frozen", "code": "cz_frozen", "freeze": "on"}
    )
    frozen = ContactGroup.objects.get(code="cz_frozen")
    assert response.url == reverse("segments:group_detail", args=[frozen.pk])
    assert not frozen.is_condition_based and frozen.condition is None
    assert members(frozen) == {(c1.pk, True, False, False), (c2.pk, True, False, False)}
    assert frozen.member_count == 2
    ContactFactory(country="CZ")
    rebuilds.group_rebuild(group=frozen)
    assert ContactGroup.objects.get(pk=frozen.pk).member_count == 2


def test_copy_keeps_condition_accounts_and_sources():
    group = ContactGroupFactory(code="cz", is_condition_based=True, condition=CZ)
    acme = AccountFactory()
    GroupAccountFactory(group=group, account=acme)
    c = ContactFactory(country="CZ", account=acme)
    MembershipFactory(group=group, contact=c, via_manual=False, via_account=True, via_condition=True)
    copy = services.group_copy(group=group, code="cz_copy", name="Copy", freeze=False)
    assert copy.is_condition_based and copy.condition == CZ
    assert list(copy.group_accounts.values_list("account_id", flat=True)) == [acme.pk]
    assert members(copy) == {(c.pk, False, True, True)}


def test_copy_refuses_an_existing_code(marketer_client):
    group = ContactGroupFactory(code="cz")
    response = marketer_client.post(reverse("segments:group_copy", args=[group.pk]), {"name": "X", "code": "cz"})
    assert response.status_code == 200 and "already exists" in str(response.context["form"].errors)
    assert ContactGroup.objects.count() == 1


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("no_drift")
def test_many_groups_rebuild_level_by_level_in_parallel_and_one_failure_stops_none(monkeypatch, settings):
    """On PostgreSQL two connections rebuild a level's groups at once; SQLite rebuilds them one by one."""
    import threading

    settings.REBUILD_CONNECTIONS = 2
    seen_threads: set[int] = set()
    real = rebuilds.group_rebuild

    def spy(*, group, now=None):
        seen_threads.add(threading.get_ident())
        if group.code == "broken":
            raise RuntimeError("the database went away")
        return real(group=group, now=now)

    monkeypatch.setattr(rebuilds, "group_rebuild", spy)
    ContactFactory.create_batch(3, country="CZ")
    ContactFactory(country="DE")
    base = [
        ContactGroupFactory(code=f"cz{i}", is_condition_based=True, condition=CZ, scheduled_rebuild=True)
        for i in range(3)
    ]
    broken = ContactGroupFactory(code="broken", is_condition_based=True, condition=CZ, scheduled_rebuild=True)
    top = ContactGroupFactory(
        code="top",
        is_condition_based=True,
        scheduled_rebuild=True,
        condition={"version": 1, "root": {"type": "membership", "group": "cz0", "operator": "is_member"}},
    )
    results = rebuilds.groups_rebuild_scheduled()
    by_group = {r["group_id"]: r["ok"] for r in results}
    assert by_group == {**{g.pk: True for g in base}, broken.pk: False, top.pk: True}
    assert [r["group_id"] for r in results][-1] == top.pk  # after the level it reads
    assert ContactGroup.objects.get(pk=top.pk).member_count == 3  # read cz0's finished members
    assert ContactGroup.objects.get(pk=broken.pk).rebuild_status == RebuildStatus.FAILED
    main = threading.get_ident()
    if connection.vendor == "postgresql":
        assert len(seen_threads - {main}) == 2  # level 0 on two connections; `top` alone, here
    else:
        assert seen_threads == {main}
    ContactGroup.objects.filter(pk=broken.pk).delete()  # (its members were never built)


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the planner's statistics are PostgreSQL's")
def test_a_rebuild_that_changes_a_large_share_of_the_memberships_refreshes_their_statistics_on_commit(
    monkeypatch, django_capture_on_commit_callbacks
):
    from segments.memberships import base

    monkeypatch.setattr(base, "ANALYZE_MIN_ROWS", 3)
    group = ContactGroupFactory(is_condition_based=True, condition=CZ)
    ContactFactory.create_batch(4, country="CZ")

    def analyzed(write) -> bool:
        with CaptureQueriesContext(connection) as queries, django_capture_on_commit_callbacks(execute=True):
            write()
        return any(q["sql"].startswith("ANALYZE (SKIP_LOCKED)") for q in queries)

    assert analyzed(lambda: rebuilds.group_rebuild(group=group))  # the first build: 4 members
    assert len(members(group)) == 4
    ContactFactory.create_batch(2, country="CZ")
    assert not analyzed(lambda: rebuilds.group_rebuild(group=group))  # 2 more: under the minimum
    Contact.objects.filter(country="CZ").update(country="DE")
    assert analyzed(lambda: rebuilds.group_rebuild(group=group))  # 6 leave: all of the table
    assert not members(group)
    with connection.cursor() as cursor:
        cursor.execute("SELECT reltuples FROM pg_class WHERE relname = 'segments_membership'")
        assert cursor.fetchone()[0] >= 0  # analyzed (a table never analyzed says -1)
