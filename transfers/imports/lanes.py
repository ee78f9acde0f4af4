"""A big contact import's slices on two connections: one slice saves its contacts while the previous one adds
its members, records them and commits.

Invariant: the slices commit one after another, in order, each whole — exactly what `writing.rows_write` does
on one connection. Slice k (on lane k mod 2, each lane a thread with its own connection) runs inside its own
transaction:

1. after slice k-1 has saved its contacts: its contacts (`contacts_upsert`: the COPY into the contacts table,
   the updates, the group-refresh note);
2. after slice k-1 has ended: the rest (the group add with its history, the ImportedContact rows, the job's
   counts), then the commit. If slice k-1 failed, slice k rolls back and nothing after it runs.

So the contacts of slice k are written while slice k-1 does everything else (two cores for PostgreSQL), and
no step waits in a cycle: step 1 of slice k may wait for a lock of slice k-1 (a contact reached by two emails
of the file), never the other way round — slice k-1 has done its step 1 and its step 2 touches none of the rows
slice k's step 1 writes (its members, history and records, the group and the job, and a big import notes a
group refresh, not a re-check per contact: `lanes_fit` asks for that). A wait that still lasted
`LANE_WAIT` seconds ends slice k with an error, never a hang.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterable
from functools import partial
from typing import TYPE_CHECKING

from django.db import OperationalError, connections, transaction

from transfers.imports import feed as feed_module
from transfers.models import ImportKind

if TYPE_CHECKING:
    from segments.models import ContactGroup
    from transfers.imports.feed import Feed
    from transfers.imports.pipeline import CheckedRow, ImportOptions
    from transfers.imports.writing import Written
    from transfers.models import ImportJob

LANE_WAIT = 600.0  # seconds a slice waits for the previous one before it gives up (an error, not a hang)


def lanes_fit(*, job: ImportJob, feed: Feed) -> bool:
    """Two lanes for an overlapped contact import (PostgreSQL, no transaction around it, no company column)
    that notes group refreshes (a big import)."""
    return isinstance(feed, feed_module.OverlappedFeed) and feed.bulk and job.kind == ImportKind.CONTACTS


class _Abandoned(Exception):
    """The previous slice failed: this one rolls back."""


class _Slice:
    def __init__(self, *, first: int, rows: list[CheckedRow], previous: _Slice | None) -> None:
        self.first, self.rows, self.previous = first, rows, previous
        self.contacts_saved = threading.Event()  # step 1 done (or never to be done)
        self.ended = threading.Event()  # committed, or failed
        self.error: BaseException | None = None
        self.group: ContactGroup | None = None  # after it committed: the group, and every contact id recorded
        self.seen: set[int] = set()

    def after(self, event: Callable[[_Slice], threading.Event]) -> None:
        """Wait for the previous slice's `event`; _Abandoned when it failed."""
        if self.previous is None:
            return
        if not event(self.previous).wait(timeout=LANE_WAIT):
            raise OperationalError(f"the previous part of the import did not end within {LANE_WAIT:.0f} s")
        if self.previous.error is not None:
            raise _Abandoned


class _Lane(threading.Thread):
    """A thread with its own database connection that runs the slices given to it, one after another."""

    def __init__(self, name: str) -> None:
        super().__init__(name=name, daemon=True)
        self.tasks: queue.Queue[Callable[[], None] | None] = queue.Queue()

    def run(self) -> None:
        try:
            while (task := self.tasks.get()) is not None:
                task()
        finally:
            connections.close_all()  # this thread's connections only


def slices_write(
    *,
    job: ImportJob,
    slices: Iterable[tuple[int, list[CheckedRow]]],
    bulk: bool,
    options: ImportOptions,
    written: Written,
) -> None:
    """Write `slices` on two lanes; `written` follows the committed slices in order. Raises what stopped one."""
    from transfers.imports import writing

    first_group, first_seen = written.group, set(written.seen)

    def run(part: _Slice) -> None:
        try:
            part.after(lambda p: p.contacts_saved)
            with transaction.atomic():
                writing._slice_settings()

                def rest() -> tuple[ContactGroup | None, set[int]]:
                    part.contacts_saved.set()
                    part.after(lambda p: p.ended)
                    if part.previous is None:
                        return writing.slice_group(job=job, options=options, group=first_group, first=0), first_seen
                    return part.previous.group, part.previous.seen

                recorded, part.group = writing.slice_write(
                    job=job, rows=part.rows, bulk=bulk, done=part.first + len(part.rows), rest=rest
                )
                part.seen = (part.previous.seen if part.previous else first_seen) | recorded
        except BaseException as exc:  # noqa: BLE001 — kept for the caller, which raises the first one
            part.error = exc
        finally:
            part.contacts_saved.set()
            part.ended.set()

    lanes = [_Lane("import-lane-0"), _Lane("import-lane-1")]
    for lane in lanes:
        lane.start()
    parts: list[_Slice] = []
    try:
        for number, (first, rows) in enumerate(slices):  # (the feed is waited for here, in this thread)
            if parts and parts[-1].previous is not None:
                _settle(parts[-1].previous, written)  # at most two slices in flight
                if parts[-1].previous.error is not None:
                    break
            part = _Slice(first=first, rows=rows, previous=parts[-1] if parts else None)
            parts.append(part)
            lanes[number % 2].tasks.put(partial(run, part))
    finally:  # also when the feed raised: the slices given to the lanes end, and `written` counts those committed
        for lane in lanes:
            lane.tasks.put(None)
        for lane in lanes:
            lane.join()
        for part in parts:
            _settle(part, written)
    failed = next((p.error for p in parts if p.error is not None), None)
    if failed is not None and not isinstance(failed, _Abandoned):
        raise failed


def _settle(part: _Slice, written: Written) -> None:
    """Wait for `part` to end; when it committed (and every slice before it did), `written` counts it."""
    part.ended.wait()
    if part.error is None and written.rows == part.first:
        written.rows, written.group, written.seen = part.first + len(part.rows), part.group, part.seen
