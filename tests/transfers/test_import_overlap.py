"""On PostgreSQL a big import checks its rows in a thread while the slices are written (transfers.imports.feed):
the result is the same as checking the whole file first — duplicates far apart merge into one contact, bad
rows are reported — and the write really starts before the check ends."""

from __future__ import annotations

import threading

import pytest
from django.db import connection

from contacts.models import Contact
from segments.models import ContactGroup, Membership, PendingGroupRefresh, PendingRecheck
from transfers.imports import feed, pipeline, values, writing
from transfers.models import ImportedContact, ImportIssue, ImportJob, ImportStatus


def _file() -> bytes:
    lines = ["Email,First Name,City,Lead Score"]
    for n in range(1, 31):
        lines.append(f"p{n}@x.cz,Name{n},Brno,{n}")
    lines[9] = "Early@X.cz,Eve,Praha,5"  # line 10 …
    lines.append("")  # an empty row: neither counted nor reported
    lines.append("not-an-email,Bad,Brno,1")  # a bad row
    lines.append(",Anonymous,Ostrava,2")  # no email (allowed below)
    lines.append("p7@x.cz,,Plzeň,abc")  # a bad row whose email is an earlier one's: merges into nothing
    lines.append(" <early@x.cz> ,Evelyn,,9")  # … and its duplicate, 33 lines later: one contact, later values win
    return ("\n".join(lines) + "\n").encode()


def _outcome(job: ImportJob) -> dict:
    emails = {c.pk: c.email or f"anonymous {c.first_name}" for c in Contact.objects.all()}
    contacts = {
        (c.email or "").lower() or f"anonymous {c.first_name}": (c.first_name, c.city, c.lead_score)
        for c in Contact.objects.all()
    }
    return {
        "status": job.status,
        "counts": (job.rows_total, job.created, job.updated, job.unchanged, job.skipped, job.merged_duplicates),
        "contacts": contacts,
        "issues": sorted(ImportIssue.objects.filter(job=job).values_list("line", "column", "reason")),
        "recorded": sorted(
            (emails[contact_id], outcome)
            for contact_id, outcome in ImportedContact.objects.filter(job=job).values_list("contact_id", "outcome")
        ),
        "members": Membership.objects.filter(group__code="fair").count(),
        "progress": (job.progress_done, job.progress_total),  # the bar ends full (not at the first estimate)
        "refresh_notes": PendingGroupRefresh.objects.count(),  # a big import: one per slice, in the slice
        "recheck_notes": PendingRecheck.objects.count(),
        "added": job.group_added,
    }


def _reset() -> None:
    PendingGroupRefresh.objects.all().delete()
    PendingRecheck.objects.all().delete()
    Contact.objects.all().delete()
    ImportJob.objects.all().delete()
    Membership.objects.all().delete()


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the check overlaps the write on PostgreSQL only")
@pytest.mark.django_db(transaction=True)
def test_an_overlapped_import_writes_what_a_check_of_the_whole_file_first_writes(run_import, settings, monkeypatch):
    settings.IMPORT_SLICE = 4
    monkeypatch.setattr(pipeline, "PUBLISH_EVERY", 1)
    ContactGroup.objects.create(code="fair", name="Fair")
    group = ContactGroup.objects.get(code="fair")

    # The check waits at line 31 until the first slice (lines 2-5: final once line 6 is checked) is committed.
    first_slice_committed = threading.Event()
    real_slice_write, real_score = writing.slice_write, values.STANDARD_CONVERTERS["lead_score"]

    def slice_write(**kwargs):
        done = real_slice_write(**kwargs)
        connection.on_commit(first_slice_committed.set)
        return done

    def score(text: str) -> int:
        if text == "30" and threading.current_thread().name == "import-check":
            waited.append(first_slice_committed.wait(timeout=10))
        return real_score(text)

    waited: list[bool] = []
    monkeypatch.setattr(writing, "slice_write", slice_write)
    monkeypatch.setitem(values.STANDARD_CONVERTERS, "lead_score", score)
    overlapped = run_import(_file(), allow_anonymous=True, group_id=group.pk)
    assert waited == [True], "the first slice was not written while the check went on"
    result = _outcome(overlapped)

    _reset()
    monkeypatch.setattr(pipeline.feed_module, "overlap_fits", lambda **kwargs: False)
    monkeypatch.setitem(values.STANDARD_CONVERTERS, "lead_score", real_score)
    sequential = _outcome(run_import(_file(), allow_anonymous=True, group_id=group.pk))

    assert result == sequential
    assert result["status"] == ImportStatus.SUCCEEDED
    # 30 + the anonymous one, 2 bad rows, one duplicate merged; the later values won over line 3's.
    assert result["counts"] == (34, 31, 0, 0, 2, 1)
    assert result["contacts"]["early@x.cz"] == ("Evelyn", "Praha", 9)
    assert result["contacts"]["p7@x.cz"] == ("Name7", "Brno", 7)
    assert ("early@x.cz", ImportedContact.Outcome.CREATED) in result["recorded"]  # created once, not updated
    assert result["members"] == result["added"] == 31 and result["progress"] == (31, 31)
    assert {line for line, _, _ in result["issues"]} == {33, 35, 36}  # two bad rows and the merge's note


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the check overlaps the write on PostgreSQL only")
@pytest.mark.django_db(transaction=True)
def test_a_failing_overlapped_check_fails_the_job_with_what_was_saved(run_import, settings, monkeypatch):
    from django.db import OperationalError

    settings.IMPORT_SLICE = 4
    monkeypatch.setattr(pipeline, "PUBLISH_EVERY", 1)
    real_city = values.STANDARD_CONVERTERS["city"]

    def city(text: str) -> str:
        if text == "Plzeň":
            raise OperationalError("the server closed the connection")
        return real_city(text)

    monkeypatch.setitem(values.STANDARD_CONVERTERS, "city", city)
    job = run_import(_file(), allow_anonymous=True)
    assert job.status == ImportStatus.FAILED
    assert job.error.startswith("The import stopped: the database refused a write (OperationalError).")
    assert job.created == Contact.objects.count()  # the job's counts are what its committed slices saved
    assert job.created < 31


@pytest.mark.django_db
def test_no_overlap_inside_a_transaction_or_on_sqlite(settings):
    """A dry run's writes stay in its caller's transaction (the checking thread has a connection of its own)."""
    settings.IMPORT_SLICE = 2
    table = pipeline.table_read(data=_file(), file_name="x.csv")
    assert not feed.overlap_fits(kind="contacts", mapping=["email", "", "", ""], table=table)


def test_the_last_row_of_each_address_is_found_as_the_check_matches_addresses():
    table = pipeline.table_read(data=_file(), file_name="x.csv")
    last = feed.last_rows(table=table, mapping=["email", "", "", ""])
    assert last["early@x.cz"] == len(table.rows) - 1 and last["p7@x.cz"] == len(table.rows) - 2
    assert last["p8@x.cz"] == 7 and "p9@x.cz" not in last


@pytest.mark.skipif(connection.vendor != "postgresql", reason="two lanes on PostgreSQL only")
@pytest.mark.django_db(transaction=True)
def test_two_lanes_save_a_slices_contacts_while_the_previous_slice_ends_and_commit_in_order(
    run_import, settings, monkeypatch
):
    settings.IMPORT_SLICE = 4
    monkeypatch.setattr(feed, "BULK_REBUILD_THRESHOLD", 5)  # a big import: group refreshes, two lanes
    group = ContactGroup.objects.create(code="fair", name="Fair")
    # Slice 0 adds its members only once slice 1 has saved its contacts: possible only on two lanes.
    next_contacts_saved, waited, lanes = threading.Event(), [], set()
    real_upsert, real_add = writing.contact_services.contacts_upsert, writing.group_services.group_add_contacts
    upserts = []

    def upsert(**kwargs):
        lanes.add(threading.current_thread().name)
        upserts.append(1)
        outcomes = real_upsert(**kwargs)
        if len(upserts) == 2:
            next_contacts_saved.set()
        return outcomes

    def add(**kwargs):
        if not waited:
            waited.append(next_contacts_saved.wait(timeout=10))
        return real_add(**kwargs)

    monkeypatch.setattr(writing.contact_services, "contacts_upsert", upsert)
    monkeypatch.setattr(writing.group_services, "group_add_contacts", add)
    laned = _outcome(run_import(_file(), allow_anonymous=True, group_id=group.pk))
    assert waited == [True] and lanes == {"import-lane-0", "import-lane-1"}

    _reset()
    monkeypatch.setattr(pipeline.feed_module, "overlap_fits", lambda **kwargs: False)
    monkeypatch.setattr(writing.group_services, "group_add_contacts", real_add)
    one_by_one = _outcome(run_import(_file(), allow_anonymous=True, group_id=group.pk))
    assert laned == one_by_one and laned["counts"] == (34, 31, 0, 0, 2, 1) and laned["members"] == 31
    assert laned["refresh_notes"] == 8 and laned["recheck_notes"] == 0  # 31 rows in slices of 4


@pytest.mark.skipif(connection.vendor != "postgresql", reason="two lanes on PostgreSQL only")
@pytest.mark.django_db(transaction=True)
def test_on_two_lanes_a_failing_slice_rolls_back_the_next_one_too(run_import, settings, monkeypatch):
    from django.db import OperationalError

    settings.IMPORT_SLICE = 4
    monkeypatch.setattr(feed, "BULK_REBUILD_THRESHOLD", 5)
    group = ContactGroup.objects.create(code="fair", name="Fair")
    real_add, adds = writing.group_services.group_add_contacts, []

    def add(**kwargs):
        adds.append(1)
        if len(adds) == 3:  # the third slice fails after the fourth may have saved its contacts
            raise OperationalError("the server closed the connection")
        return real_add(**kwargs)

    monkeypatch.setattr(writing.group_services, "group_add_contacts", add)
    job = run_import(_file(), allow_anonymous=True, group_id=group.pk)
    assert job.status == ImportStatus.FAILED
    assert job.error.startswith("The import stopped: the database refused a write (OperationalError). 8 of 31 rows")
    # Two whole slices; nothing of the third or the fourth (whose contacts were saved beside the third's rest).
    assert Contact.objects.count() == job.created == Membership.objects.count() == 8
    assert ImportedContact.objects.filter(job=job).count() == 8
