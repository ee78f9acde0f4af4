"""An import's write phase: the checked rows written in short transactions (slices), and the heartbeat.

Invariant: a slice (settings.IMPORT_SLICE rows) is one transaction: its contacts (`contacts_upsert`, whose
contacts_changed notes the slice's re-checks in that transaction — a big import notes a durable group
refresh per slice, which the drain runs once for all the notes it finds), its ImportedContact rows (with the
updated_at the slice gave each contact and whether the import gave it the group's manual source: what an undo
checks and takes back), its group add (Cause.IMPORT, so history records the import) and the job's counts
and progress. A slice writes all its rows or none; the job's counts always equal what is committed. Between
slices on SQLite (one writer for the whole file) a short pause lets other writers (an edit, a login) in, as
rebuilds do.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from contacts import services as contact_services
from contacts.field_settings import code_from_label
from contacts.in_list import in_values
from contacts.models import Contact
from segments import selectors as group_selectors
from segments import services as group_services
from segments.models import Cause, ContactGroup
from transfers.imports import account_links
from transfers.models import ImportedContact, ImportIssue, ImportJob, ImportKind, ImportStatus

if TYPE_CHECKING:
    from contacts.services import UpsertOutcome
    from transfers.imports.feed import Feed
    from transfers.imports.pipeline import Checked, CheckedRow, ImportOptions


@dataclass
class Written:
    """What the committed slices saved so far (rows of `Checked.rows`)."""

    rows: int = 0
    seen: set[int] = field(default_factory=set)  # contact ids already recorded for the job
    reported: bool = False  # the check's report (bad rows, merged duplicates) is written
    group: ContactGroup | None = None


def existing_group(*, options: ImportOptions) -> ContactGroup | None:
    """The existing group chosen (checked before anything is written)."""
    if not options.group_id:
        return None
    group = ContactGroup.objects.filter(pk=options.group_id).first()
    if group is None:
        raise ValidationError("The contact group chosen for this import no longer exists.")
    return group


def slice_group(
    *, job: ImportJob, options: ImportOptions, group: ContactGroup | None, first: int
) -> ContactGroup | None:
    """The group a slice adds its contacts to: the one the slices before it used, or — the first slice — the new
    group asked for (created in that slice's transaction)."""
    if group is None and first == 0:
        return _new_group(job=job, options=options)
    return group


def _new_group(*, job: ImportJob, options: ImportOptions) -> ContactGroup | None:
    if not options.new_group.strip():
        return None
    name = options.new_group.strip()[:200]
    code = _free_group_code(code_from_label(name) or "import")
    return group_services.group_create(code=code, name=name, description=f"Imported from {job.file_name}.")


def _free_group_code(base: str) -> str:
    base = base if base[:1].isalpha() else f"import_{base}"
    base = base[:44]
    code, n = base, 1
    while ContactGroup.objects.filter(code=code).exists():
        n += 1
        code = f"{base}_{n}"
    return code


def issues_write(*, job: ImportJob, checked: Checked, written: Written) -> None:
    """The report of the check (bad rows, merged duplicates), once (before any contact when the check ended first)."""
    if written.reported:
        return
    with transaction.atomic():
        ImportIssue.objects.bulk_create(
            [ImportIssue(job=job, **asdict(issue)) for issue in checked.issues], batch_size=1000
        )
    written.reported = True


def rows_write(*, job: ImportJob, feed: Feed, options: ImportOptions, written: Written) -> None:
    """Write the feed's rows slice by slice; `written` says what is committed (also when a slice raises).

    The report of the check goes in as soon as the check has ended (before the first slice when it ended
    first). Waiting for an overlapped check's rows, the job keeps beating. A big contact import on PostgreSQL
    writes its slices on two connections, one slice's contacts beside the previous slice's rest
    (`transfers.imports.lanes`); the slices still commit one after another, in order.
    """
    from transfers.imports import lanes

    written.group = existing_group(options=options)
    job.progress_total = feed.estimate
    ImportJob.objects.filter(pk=job.pk).update(
        phase=f"Saving 0 of {feed.estimate:,}",
        progress_done=0,
        progress_total=feed.estimate,
        heartbeat_at=timezone.now(),
    )
    bulk = feed.bulk  # decided once: one group refresh, not a re-check per contact
    slices = _slices(job=job, feed=feed, written=written)
    if lanes.lanes_fit(job=job, feed=feed):
        lanes.slices_write(job=job, slices=slices, bulk=bulk, options=options, written=written)
    else:
        for first, rows in slices:
            if first:
                _give_way()
            with transaction.atomic():
                _slice_settings()

                def rest(first: int = first) -> tuple[ContactGroup | None, set[int]]:
                    return slice_group(job=job, options=options, group=written.group, first=first), written.seen

                seen, group = slice_write(
                    job=job, rows=rows, bulk=bulk, done=first + len(rows), links=feed.links, rest=rest
                )
            written.rows, written.group = first + len(rows), group
            written.seen |= seen
    if written.rows == 0 and written.group is None:
        written.group = _new_group(job=job, options=options)
    _search_index_merge()


def _slices(*, job: ImportJob, feed: Feed, written: Written) -> Iterator[tuple[int, list[CheckedRow]]]:
    """(index of its first row, rows) of each slice, as the feed makes them final; the report once checked."""
    size = max(1, settings.IMPORT_SLICE)
    first = 0
    while True:
        while not feed.wait(first + size, timeout=WAIT_BEAT):
            ImportJob.objects.filter(pk=job.pk).update(heartbeat_at=timezone.now())
        if feed.finished and not written.reported:
            checked = feed.checked()  # raises what stopped the check
            issues_write(job=job, checked=checked, written=written)
            if job.progress_total != len(checked.rows):  # the estimate counted bad, merged and empty rows
                job.progress_total = len(checked.rows)
                ImportJob.objects.filter(pk=job.pk).update(progress_total=job.progress_total)
        rows = feed.rows[first : min(feed.ready, first + size)]
        if not rows:
            return
        yield first, rows
        first += len(rows)


WAIT_BEAT = 5.0  # seconds between two heartbeats while the write waits for an overlapped check


# TRICKY (PostgreSQL), two settings for a slice's transaction only:
# - The contacts' three trigram search indexes (GIN) take new entries into a pending list that the inserting
#   statement merges into the index whenever it passes gin_pending_list_limit (4 MB): many small merges, a
#   third of a new contact's insert. A slice raises the limit, and the import merges the whole list once at
#   its end (timed with the import): 20,000 new contacts took 3.7–4.0 s + 0.8–1.0 s for the merge instead of
#   4.9–5.6 s + 0.3–0.8 s (bench machine, load 6).
# - Its commit need not wait for the WAL to reach the disk (synchronous_commit off): a crash of the server
#   within a moment of a commit may lose the last slices whole — the job's counts and heartbeat with them, in
#   the same transaction — never a part of one, and the import is marked failed with what was kept, as when
#   its worker dies. A later commit that waits (the job's end) flushes these too. 20 fsyncs fewer per 100k rows.
SLICE_GIN_PENDING_LIST_LIMIT = "64MB"


def _slice_settings() -> None:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT set_config('gin_pending_list_limit', %s, true), set_config('synchronous_commit', 'off', true)",
                [SLICE_GIN_PENDING_LIST_LIMIT],
            )


def _search_index_merge() -> None:
    """After the slices on PostgreSQL: merge the contacts' GIN pending lists into their indexes now, so no
    search scans a long list and no later single insert pays for merging it."""
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT gin_clean_pending_list(i.indexrelid) FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
            "JOIN pg_am a ON a.oid = c.relam WHERE i.indrelid = %s::regclass AND a.amname = 'gin'",
            [Contact._meta.db_table],
        )


def slice_write(
    *,
    job: ImportJob,
    rows: list[CheckedRow],
    bulk: bool,
    done: int,
    links: account_links.Links | None = None,
    rest: Callable[[], tuple[ContactGroup | None, set[int]]],
) -> tuple[set[int], ContactGroup | None]:
    """One slice, in the caller's transaction: its contacts, then (after `rest()`, which gives the group to add
    them to and the contact ids already recorded) the rest; returns the contact ids it recorded and the group."""
    if job.kind == ImportKind.ACCOUNTS:  # an account import's slice (transfers.imports.accounts)
        from transfers.imports.accounts import account_slice_write

        group, _ = rest()
        return account_slice_write(job=job, rows=rows, bulk=bulk, done=done), group
    now = timezone.now()  # every contact the slice writes gets this updated_at (an undo compares it)
    outcomes = contact_services.contacts_upsert(rows=[r.upsert for r in rows], bulk=bulk, now=now)
    outcomes = account_links.slice_link(job=job, links=links, rows=rows, outcomes=outcomes, bulk=bulk, now=now)
    group, seen = rest()
    recorded: dict[int, UpsertOutcome] = {}
    for outcome in outcomes:
        # Two emails of the file may lead to one contact (one merged into the other): recorded once.
        if outcome.contact_id not in seen and outcome.contact_id not in recorded:
            recorded[outcome.contact_id] = outcome
    added = 0
    gained: set[int] = set()  # the contacts this import gave the manual source in the group
    if group is not None and recorded:
        ids = sorted(recorded)
        members = Contact.objects.filter(pk__in=in_values(ids))
        # A contact the slice created was nobody's member before: only the others can have had the source.
        had = group_selectors.manual_members_among(
            group=group, contact_ids=[pk for pk in ids if recorded[pk].outcome != ImportedContact.Outcome.CREATED]
        )
        change = group_services.group_add_contacts(
            group=group, contacts=members, actor_id=job.created_by_id, cause=Cause.IMPORT
        )
        added = change.added
        gained = set(recorded) - had
    _imported_write(
        [
            (
                job.pk,
                pk,
                o.outcome,
                o.previous,
                now if o.outcome != ImportedContact.Outcome.UNCHANGED else None,
                pk in gained,
            )
            for pk, o in recorded.items()
        ]
    )
    counts = {
        kind: F(kind) + sum(1 for o in outcomes if o.outcome == kind) for kind in ("created", "updated", "unchanged")
    }
    ImportJob.objects.filter(pk=job.pk).update(
        phase=f"Saving {done:,} of {job.progress_total:,}",
        progress_done=done,
        heartbeat_at=timezone.now(),
        group=group,
        group_added=F("group_added") + added,
        **counts,
    )
    return set(recorded), group


_IMPORTED_COLUMNS = ("job_id", "contact_id", "outcome", "previous", "written_at", "added_to_group")


def _imported_write(rows: list[tuple[Any, ...]]) -> None:
    """The slice's ImportedContact rows (values in _IMPORTED_COLUMNS' order): one COPY on PostgreSQL."""
    if connection.vendor != "postgresql":
        ImportedContact.objects.bulk_create(
            [ImportedContact(**dict(zip(_IMPORTED_COLUMNS, row, strict=True))) for row in rows], batch_size=1000
        )
        return
    table = ImportedContact._meta.db_table
    columns = ", ".join(_IMPORTED_COLUMNS)
    with (
        connection.cursor() as cursor,
        connection.wrap_database_errors,
        cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy,
    ):
        for job_id, contact_id, outcome, previous, written_at, added in rows:
            copy.write_row(
                (job_id, contact_id, outcome, None if previous is None else json.dumps(previous), written_at, added)
            )


def _give_way() -> None:
    """Between two slices on SQLite, a pause in which writers that waited for the lock get it.

    Like segments.rebuilds._give_way: inside a caller's transaction (a dry run) nobody else can write: no pause.
    """
    if connection.vendor == "sqlite" and not connection.in_atomic_block:
        time.sleep(settings.IMPORT_SLICE_PAUSE)


def unsaved_issues_write(*, job: ImportJob, rows: list[CheckedRow], reason: str) -> None:
    """The report lists every line a failed import did not save."""
    ImportIssue.objects.bulk_create(
        [ImportIssue(job=job, line=row.line, column="", value=(row.key or "")[:255], reason=reason) for row in rows],
        batch_size=1000,
    )


# ---------------------------------------------------------------------------------------------
# The heartbeat: a running job beats at every progress update and slice; the minutely check fails
# jobs silent for settings.IMPORT_STALE_AFTER seconds (their worker died).


def imports_recover_interrupted(*, now: datetime | None = None) -> list[int]:
    """Mark failed every running import whose heartbeat stopped, saying how many rows were saved.

    Not resumed: the rows already saved would come out "unchanged" and the report would no longer say what
    the import changed. Importing the file again saves the rest (saved contacts are matched by email).
    """
    now = now or timezone.now()
    cutoff = now - timedelta(seconds=settings.IMPORT_STALE_AFTER)
    stale = ImportJob.objects.filter(status=ImportStatus.RUNNING).filter(
        Q(heartbeat_at__lt=cutoff) | Q(heartbeat_at__isnull=True, started_at__lt=cutoff)
    )
    failed = []
    for job in stale:
        since = timezone.localtime(job.heartbeat_at or job.started_at or now).strftime("%H:%M")
        message = interrupted_message(since=since, saved=job.saved, job=job)
        if ImportJob.objects.filter(pk=job.pk, status=ImportStatus.RUNNING, heartbeat_at=job.heartbeat_at).update(
            status=ImportStatus.FAILED, error=message, phase="", finished_at=now
        ):
            failed.append(job.pk)
    return failed


def interrupted_message(*, since: str, saved: int, job: ImportJob) -> str:
    if not saved:
        return f"The worker stopped during the import (no sign of life since {since}); nothing was imported. Try again."
    total = job.progress_total if job.phase.startswith("Saving") else 0
    of = f" of {total:,}" if total else ""
    return (
        f"The worker stopped during the import (no sign of life since {since}) after {saved:,}{of} rows were saved; "
        "the rest were not. Import the file again to save them (contacts already saved come out unchanged)."
    )
