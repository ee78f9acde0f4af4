"""An import writes in short transactions (slices): others can write between them, progress per slice,
a failing slice keeps the earlier ones and fails the job saying so, and a dead worker's job is failed."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import OperationalError, connection
from django.urls import reverse
from django.utils import timezone

from contacts.models import Contact
from segments import rechecks
from segments.models import Cause, ContactGroup, Membership, MembershipEvent, PendingGroupRefresh, PendingRecheck
from transfers.imports import feed, lanes, writing
from transfers.models import ImportIssue, ImportJob, ImportStatus

FIVE = b"Email,City\na@x.cz,Brno\nb@x.cz,Brno\nc@x.cz,Brno\nd@x.cz,Brno\ne@x.cz,Brno\n"


@pytest.fixture
def between_slices(monkeypatch):
    """What is committed each time the writer pauses between two slices."""
    seen = []

    def spy() -> None:
        job = ImportJob.objects.get()
        seen.append(
            {
                "in_transaction": connection.in_atomic_block,
                "contacts": Contact.objects.count(),
                "phase": job.phase,
                "done": (job.progress_done, job.progress_total),
                "created": job.created,
                "beat": job.heartbeat_at is not None,
                "notes": PendingGroupRefresh.objects.count(),
            }
        )

    monkeypatch.setattr(writing, "_give_way", spy)
    return seen


@pytest.mark.django_db(transaction=True)
def test_each_slice_commits_before_the_next_so_other_writers_get_in(run_import, between_slices, settings):
    settings.IMPORT_SLICE = 2
    job = run_import(FIVE)
    assert job.status == ImportStatus.SUCCEEDED, job.error
    # Outside any transaction between slices: what is seen there is committed (another connection sees it).
    assert [(s["in_transaction"], s["contacts"], s["created"], s["beat"]) for s in between_slices] == [
        (False, 2, 2, True),
        (False, 4, 4, True),
    ]
    assert (job.created, job.rows_total, Contact.objects.count()) == (5, 5, 5)


@pytest.mark.django_db(transaction=True)
def test_progress_advances_per_slice(run_import, between_slices, settings):
    settings.IMPORT_SLICE = 2
    run_import(FIVE)
    assert [(s["phase"], s["done"]) for s in between_slices] == [
        ("Saving 2 of 5", (2, 5)),
        ("Saving 4 of 5", (4, 5)),
    ]


@pytest.mark.django_db(transaction=True)
def test_a_big_import_notes_one_group_refresh_per_slice_in_the_slice_and_the_drain_runs_one(
    run_import, between_slices, settings, monkeypatch
):
    settings.IMPORT_SLICE = 2
    monkeypatch.setattr(feed, "BULK_REBUILD_THRESHOLD", 4)  # 5 rows: a big import
    monkeypatch.setattr(lanes, "lanes_fit", lambda **kwargs: False)  # one connection: its pauses are spied on
    job = run_import(FIVE)
    assert [s["notes"] for s in between_slices] == [1, 2]  # each committed with its slice
    assert PendingGroupRefresh.objects.count() == 3 and not PendingRecheck.objects.exists()
    runs = []
    monkeypatch.setattr(rechecks, "groups_refresh_after_bulk_change", lambda *, kinds: runs.append(kinds) or 0)
    assert rechecks.groups_refresh_pending() == 1  # one refresh covers the notes committed before it
    assert len(runs) == 1 and not PendingGroupRefresh.objects.exists()
    assert job.status == ImportStatus.SUCCEEDED


@pytest.mark.django_db
def test_a_small_import_still_notes_one_recheck_per_contact(run_import, settings):
    settings.IMPORT_SLICE = 2
    run_import(FIVE)
    assert not PendingGroupRefresh.objects.exists()
    assert set(PendingRecheck.objects.values_list("contact_id", flat=True)) == set(
        Contact.objects.values_list("pk", flat=True)
    )


@pytest.mark.django_db
def test_a_failing_slice_keeps_the_earlier_slices_and_fails_the_job_saying_how_many(run_import, settings, monkeypatch):
    settings.IMPORT_SLICE = 2
    real = writing.contact_services.contacts_upsert
    calls = []

    def flaky(**kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise OperationalError("database is locked")
        return real(**kwargs)

    monkeypatch.setattr(writing.contact_services, "contacts_upsert", flaky)
    job = run_import(FIVE, new_group="Fair visitors")
    assert job.status == ImportStatus.FAILED
    assert job.error == (
        "The import stopped: the database refused a write (OperationalError). 2 of 5 rows were saved; the other 3 "
        "were not (listed in the report). Import the file again to save them (saved contacts come out unchanged)."
    )
    assert sorted(Contact.objects.values_list("email", flat=True)) == ["a@x.cz", "b@x.cz"]
    assert (job.created, job.updated, job.unchanged, job.saved, job.rows_total) == (2, 0, 0, 2, 5)
    group = ContactGroup.objects.get(name="Fair visitors")
    assert job.group == group and job.group_added == 2 and Membership.objects.filter(group=group).count() == 2
    assert MembershipEvent.objects.filter(group=group, cause=Cause.IMPORT).count() == 2
    unsaved = ImportIssue.objects.filter(job=job, level="error").order_by("line")
    assert [(i.line, i.value, i.reason) for i in unsaved] == [
        (line, email, "Not saved: the import stopped before this row.")
        for line, email in ((4, "c@x.cz"), (5, "d@x.cz"), (6, "e@x.cz"))
    ]


@pytest.mark.django_db
def test_a_failing_first_slice_says_nothing_was_imported(run_import, settings, monkeypatch):
    settings.IMPORT_SLICE = 2

    def broken(**kwargs):
        raise OperationalError("disk I/O error")

    monkeypatch.setattr(writing.contact_services, "contacts_upsert", broken)
    job = run_import(FIVE, new_group="Never")
    assert job.error == (
        "The import stopped: the database refused a write (OperationalError). Nothing was imported. Try again."
    )
    assert not Contact.objects.exists() and not ContactGroup.objects.filter(name="Never").exists()


@pytest.mark.django_db
def test_the_report_page_says_partly_imported(run_import, settings, monkeypatch, marketer_client):
    settings.IMPORT_SLICE = 2
    real = writing.contact_services.contacts_upsert
    calls = []

    def flaky(**kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise OperationalError("database is locked")
        return real(**kwargs)

    monkeypatch.setattr(writing.contact_services, "contacts_upsert", flaky)
    job = run_import(FIVE)
    page = marketer_client.get(reverse("transfers:import_detail", args=[job.pk])).content.decode()
    assert "Partly imported." in page and "4 of 5 rows were saved" in page and "Nothing was imported" not in page
    assert 'data-count="created">4<' in page
    assert reverse("transfers:import_report_csv", args=[job.pk]) in page


def _running(**fields):
    defaults = {"file_name": "big.csv", "data": b"", "status": ImportStatus.RUNNING, "started_at": timezone.now()}
    return ImportJob.objects.create(**{**defaults, **fields})


@pytest.mark.django_db
def test_a_silent_running_import_is_failed_with_what_it_saved(settings):
    settings.IMPORT_STALE_AFTER = 90
    now = timezone.now()
    old = now - timedelta(seconds=120)
    dead = _running(
        heartbeat_at=old,
        phase="Saving 3,000 of 10,000",
        progress_done=3000,
        progress_total=10000,
        created=2500,
        updated=400,
        unchanged=100,
    )
    dead_early = _running(heartbeat_at=None, started_at=old, phase="Reading the file")
    alive = _running(heartbeat_at=now - timedelta(seconds=30), created=5)
    assert sorted(writing.imports_recover_interrupted(now=now)) == sorted([dead.pk, dead_early.pk])
    dead.refresh_from_db()
    since = timezone.localtime(old).strftime("%H:%M")
    assert dead.status == ImportStatus.FAILED and dead.finished_at == now
    assert dead.error == (
        f"The worker stopped during the import (no sign of life since {since}) after 3,000 of 10,000 rows were "
        "saved; the rest were not. Import the file again to save them (contacts already saved come out unchanged)."
    )
    dead_early.refresh_from_db()
    assert dead_early.error == (
        f"The worker stopped during the import (no sign of life since {since}); nothing was imported. Try again."
    )
    alive.refresh_from_db()
    assert alive.status == ImportStatus.RUNNING and alive.error == ""


@pytest.mark.django_db
def test_the_minutely_schedule_fails_interrupted_imports():
    from django_q.models import Schedule

    schedule = Schedule.objects.get(name="transfers.interrupted_imports")
    assert (schedule.func, schedule.schedule_type, schedule.minutes) == (
        "transfers.tasks.fail_interrupted_imports",
        Schedule.MINUTES,
        1,
    )
