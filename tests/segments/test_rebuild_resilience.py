"""Rebuilds that leave room for other writers (SQLite slices) and tell the truth when their worker dies
(heartbeat, interrupted status, the minutely re-queue)."""

import datetime as dt
import threading
import time

import pytest
from django.db import OperationalError, connection
from django.urls import reverse
from django.utils import timezone
from django_q.models import Schedule

from segments import memberships, rebuilds, tasks
from segments.models import ContactGroup, Membership, RebuildStatus
from segments.schedules import INTERRUPTED_REBUILDS
from tests.factories import ContactFactory, ContactGroupFactory, MembershipFactory

CZ = {"version": 1, "root": {"type": "field", "field": "country", "operator": "equals", "value": "CZ"}}


def condition_members(group):
    return set(Membership.objects.filter(group=group, via_condition=True).values_list("contact_id", flat=True))


def cz_group_with_changes():
    """A CZ group with 5 contacts to add, 2 to remove and 1 to keep."""
    group = ContactGroupFactory(is_condition_based=True, condition=CZ)
    joiners = [ContactFactory(country="CZ") for _ in range(5)]
    stays = ContactFactory(country="CZ")
    MembershipFactory(group=group, contact=stays, via_manual=False, via_condition=True)
    for _ in range(2):
        MembershipFactory(group=group, contact=ContactFactory(country="DE"), via_manual=False, via_condition=True)
    return group, {c.pk for c in joiners} | {stays.pk}


# ---------------------------------------------------------------------------------------------
# Slices (SQLite: one writer for the whole file)


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(connection.vendor != "sqlite", reason="slices are SQLite's way; PostgreSQL writes at once")
def test_sqlite_rebuild_reads_outside_any_transaction_and_writes_in_short_slices(settings, monkeypatch):
    settings.REBUILD_SLICE = 2
    group, expected = cz_group_with_changes()
    reads, writes = [], []
    real_ids, real_sync = memberships.source_sync_slice_ids, memberships.source_sync

    def spy_ids(**kwargs):
        reads.append(connection.in_atomic_block)
        return real_ids(**kwargs)

    def spy_sync(**kwargs):
        writes.append((connection.in_atomic_block, len(kwargs["within"])))
        return real_sync(**kwargs)

    monkeypatch.setattr(rebuilds, "source_sync_slice_ids", spy_ids)
    monkeypatch.setattr(rebuilds, "source_sync", spy_sync)
    result = rebuilds.group_rebuild(group=group)
    # The rule was read with no write lock held; the 7 differing contacts were written 2 at a time.
    assert reads == [False]
    assert writes == [(True, 2), (True, 2), (True, 2), (True, 1)]
    assert (result.added, result.removed, result.member_count) == (5, 2, 6)
    assert condition_members(group) == expected
    group.refresh_from_db()
    assert group.rebuild_status == RebuildStatus.SUCCEEDED and group.member_count == 6


@pytest.mark.django_db
def test_a_contact_changed_between_the_read_and_its_slice_is_judged_at_its_slice(settings, monkeypatch):
    settings.REBUILD_SLICE = 3
    group, expected = cz_group_with_changes()
    moved = ContactFactory(country="CZ")  # would join, but moves to Germany before its slice
    real_ids = memberships.source_sync_slice_ids

    def ids_then_a_concurrent_change(**kwargs):
        ids = real_ids(**kwargs)
        assert moved.pk in ids
        type(moved).objects.filter(pk=moved.pk).update(country="DE")
        return ids

    monkeypatch.setattr(rebuilds, "source_sync_slice_ids", ids_then_a_concurrent_change)
    result = rebuilds._rebuild_in_slices(group=group, now=None)
    assert condition_members(group) == expected
    assert (result.added, result.removed) == (5, 2)


@pytest.mark.django_db
def test_a_condition_change_between_slices_stops_the_old_rebuild(settings, monkeypatch):
    settings.REBUILD_SLICE = 2
    group, _ = cz_group_with_changes()
    group.rebuild_status = RebuildStatus.QUEUED  # the newer rebuild the change queued
    group.save()
    real_sync = memberships.source_sync

    def sync_then_the_condition_changes(**kwargs):
        change = real_sync(**kwargs)
        ContactGroup.objects.filter(pk=group.pk).update(condition_version=group.condition_version + 1)
        return change

    monkeypatch.setattr(rebuilds, "source_sync", sync_then_the_condition_changes)
    result = rebuilds._rebuild_in_slices(group=group, now=None)
    assert result.added + result.removed == 2  # one slice, then it stopped
    group.refresh_from_db()
    assert group.rebuild_status == RebuildStatus.QUEUED  # left to the newer rebuild
    assert group.member_count == Membership.objects.filter(group=group).count()


# ---------------------------------------------------------------------------------------------
# Heartbeat and interrupted rebuilds


@pytest.mark.django_db(transaction=True)
def test_a_running_rebuild_beats_while_it_works():
    long_ago = timezone.now() - dt.timedelta(minutes=10)
    group = ContactGroupFactory(is_condition_based=True, condition=CZ, rebuild_status=RebuildStatus.RUNNING)
    ContactGroup.objects.filter(pk=group.pk).update(rebuild_heartbeat_at=long_ago)
    with rebuilds.rebuild_heartbeat(group_id=group.pk, every=0.05):
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            try:
                group.refresh_from_db()
            except OperationalError:  # SQLite's shared-cache test database: the beat holds the table a moment
                continue
            if group.rebuild_heartbeat_at > long_ago:
                break
            time.sleep(0.05)
    group.refresh_from_db()
    assert group.rebuild_heartbeat_at > long_ago
    assert not group.rebuild_heartbeat_stale()
    assert not [t for t in threading.enumerate() if t.name == f"rebuild-heartbeat-{group.pk}"]


@pytest.mark.django_db
def test_the_rebuild_task_starts_with_a_heartbeat_and_clears_past_interruptions(monkeypatch):
    group = ContactGroupFactory(is_condition_based=True, condition=CZ, rebuild_interruptions=2)
    seen = {}

    def rebuild(**kwargs):
        running = ContactGroup.objects.get(pk=group.pk)
        seen.update(status=running.rebuild_status, beat=running.rebuild_heartbeat_at)
        return real(**kwargs)

    real = rebuilds.group_rebuild
    monkeypatch.setattr(rebuilds, "group_rebuild", rebuild)
    tasks.rebuild_group(group.pk)
    assert seen["status"] == RebuildStatus.RUNNING
    assert timezone.now() - seen["beat"] < dt.timedelta(seconds=30)
    group.refresh_from_db()
    assert (group.rebuild_status, group.rebuild_interruptions) == (RebuildStatus.SUCCEEDED, 0)


def silent_running_group(minutes: int, **fields):
    group = ContactGroupFactory(is_condition_based=True, condition=CZ, **fields)
    ContactGroup.objects.filter(pk=group.pk).update(
        rebuild_status=RebuildStatus.RUNNING, rebuild_heartbeat_at=timezone.now() - dt.timedelta(minutes=minutes)
    )
    group.refresh_from_db()
    return group


@pytest.mark.django_db
def test_a_silent_running_rebuild_is_shown_interrupted_and_queued_again(
    marketer_client, monkeypatch, django_capture_on_commit_callbacks
):
    cz = ContactFactory(country="CZ")
    group = silent_running_group(minutes=5)
    page = marketer_client.get(reverse("segments:group_detail", args=[group.pk])).content.decode()
    assert "Interrupted" in page and "Rebuilding…" not in page
    queued = []
    monkeypatch.setattr("django_q.tasks.async_task", lambda *args, **kwargs: queued.append(args))
    with django_capture_on_commit_callbacks(execute=True):
        assert tasks.recover_interrupted_rebuilds() == [group.pk]
    assert queued == [("segments.tasks.rebuild_group", group.pk)]
    group.refresh_from_db()
    assert (group.rebuild_status, group.rebuild_interruptions) == (RebuildStatus.INTERRUPTED, 1)
    assert "queued again" in group.rebuild_error
    assert rebuilds.rebuilds_recover_interrupted() == []  # not queued twice
    tasks.rebuild_group(group.pk)  # the worker takes it
    group.refresh_from_db()
    assert (group.rebuild_status, group.rebuild_interruptions, group.rebuild_error) == (RebuildStatus.SUCCEEDED, 0, "")
    assert condition_members(group) == {cz.pk}


@pytest.mark.django_db
def test_a_rebuild_that_beats_is_left_alone(monkeypatch):
    monkeypatch.setattr("django_q.tasks.async_task", lambda *args, **kwargs: pytest.fail("queued a live rebuild"))
    group = silent_running_group(minutes=0)
    assert rebuilds.rebuilds_recover_interrupted() == []
    group.refresh_from_db()
    assert group.rebuild_status == RebuildStatus.RUNNING and group.rebuild_state == RebuildStatus.RUNNING


@pytest.mark.django_db
def test_a_rebuild_interrupted_three_times_in_a_row_fails_instead_of_looping(monkeypatch, settings):
    monkeypatch.setattr("django_q.tasks.async_task", lambda *args, **kwargs: None)
    group = silent_running_group(minutes=5, rebuild_interruptions=settings.REBUILD_MAX_INTERRUPTIONS - 1)
    assert rebuilds.rebuilds_recover_interrupted() == []
    group.refresh_from_db()
    assert group.rebuild_status == RebuildStatus.FAILED
    assert "interrupted 3 times in a row" in group.rebuild_error and "Rebuild by hand" in group.rebuild_error


@pytest.mark.django_db
def test_interrupted_rebuilds_are_checked_every_minute():
    schedule = Schedule.objects.get(name=INTERRUPTED_REBUILDS)
    assert (schedule.func, schedule.schedule_type, schedule.minutes) == (
        "segments.tasks.recover_interrupted_rebuilds",
        Schedule.MINUTES,
        1,
    )
