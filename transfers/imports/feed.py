"""The checked rows on their way to the writer: all at once, or slice by slice while the check goes on.

Invariant: the writer takes `Feed.rows[:ready]` only, and those rows are final — no later row of the file
merges into them. A finished check (`Feed.finished`) makes every row final. An overlapped check
(`overlapped_check`) runs `rows_check` in a thread of its own and publishes how many rows are final as it
goes: a row is final once the check has passed the file's last row with the same email address (found by a
pre-pass over the email column, `last_rows`), so duplicates merge exactly as in a check of the whole file
first. The write waits on PostgreSQL while the check runs Python: on two cores the two overlap.

Overlapped only where it is safe and pays (`overlap_fits`): PostgreSQL, no transaction around the import (a
dry run's writes must stay in the caller's transaction, and the thread has its own connection), a contact
import without a company column (linking accounts needs every row's company first), and more rows than
one slice.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from django.conf import settings
from django.db import connection, connections

from segments.rechecks import BULK_REBUILD_THRESHOLD
from transfers.imports import values
from transfers.models import ImportKind

if TYPE_CHECKING:
    from transfers.imports.account_links import Links
    from transfers.imports.pipeline import Checked, CheckedRow
    from transfers.imports.reading import Table


class Feed:
    """The rows of a check for the writer; this one holds a finished check."""

    def __init__(self, checked: Checked) -> None:
        self._checked: Checked | None = checked
        self._error: BaseException | None = None
        self.rows: list[CheckedRow] = checked.rows
        self.ready = len(checked.rows)
        self.estimate = len(checked.rows)  # how many rows there will be (exact once finished)

    @property
    def finished(self) -> bool:
        return self._checked is not None or self._error is not None

    @property
    def bulk(self) -> bool:
        """A big import: one durable group refresh per slice, not a re-check per contact."""
        return self.estimate > BULK_REBUILD_THRESHOLD

    @property
    def links(self) -> Links | None:
        return self._checked.links if self._checked is not None else None

    def wait(self, rows: int, timeout: float) -> bool:
        """Wait until `rows` rows are final or the check ended (True), or until `timeout` seconds passed."""
        return True

    def checked(self) -> Checked:
        """The whole check (the report, the counts); raises what stopped the check."""
        if self._error is not None:
            raise self._error
        assert self._checked is not None
        return self._checked


class OverlappedFeed(Feed):
    """The rows of a check still running in another thread."""

    def __init__(self, *, estimate: int) -> None:
        self._checked = None
        self._error = None
        self.rows = []
        self.ready = 0
        self.estimate = estimate
        self._changed = threading.Condition()
        self._thread: threading.Thread | None = None

    def publish(self, checked: Checked, ready: int) -> None:
        """(In the checking thread) `checked.rows[:ready]` are final."""
        with self._changed:
            self.rows, self.ready = checked.rows, ready
            self._changed.notify_all()

    def _end(self, checked: Checked | None, error: BaseException | None) -> None:
        with self._changed:
            if checked is not None:
                self.rows, self.ready, self.estimate = checked.rows, len(checked.rows), len(checked.rows)
            self._checked, self._error = checked, error
            self._changed.notify_all()

    def wait(self, rows: int, timeout: float) -> bool:
        with self._changed:
            return self._changed.wait_for(lambda: self.finished or self.ready >= rows, timeout=timeout)

    def checked(self) -> Checked:
        if self._thread is not None:
            self._thread.join()
        return super().checked()


CHECK_SWITCH_INTERVAL = 0.001  # seconds (sys.setswitchinterval) while an overlapped check runs


def overlap_fits(*, kind: str, mapping: Sequence[str], table: Table) -> bool:
    return (
        connection.vendor == "postgresql"
        and not connection.in_atomic_block
        and kind == ImportKind.CONTACTS
        and "account" not in mapping
        and len(table.rows) > max(1, settings.IMPORT_SLICE)
    )


def last_rows(*, table: Table, mapping: Sequence[str]) -> dict[str, int]:
    """The index of the last row of each email address in the file (matched as the check matches them)."""
    if "email" not in mapping:
        return {}
    column = mapping.index("email")
    # A valid address's key is the same from the cell as from the checked value (trimming it again changes
    # nothing); a row with an invalid one is skipped and merges into nothing, so waiting for it is only late.
    return {values.email_key(row[column]): index for index, row in enumerate(table.rows)}


def overlapped_check(*, table: Table, mapping: Sequence[str], check: Callable[..., Checked]) -> OverlappedFeed:
    """Start `check(table=…, mapping=…, on_ready=…)` (rows_check with the options bound) in a thread; its feed."""
    feed = OverlappedFeed(estimate=len(table.rows))
    last = last_rows(table=table, mapping=mapping)

    def run() -> None:
        checked, error = None, None
        # TRICKY: while the check (pure Python) holds the GIL, a statement's answer waits for the writer to get it
        # back — up to the switch interval (5 ms) each time, ~25 statements a slice. A shorter interval while both
        # run (it is the process's); the process's own once the check ends.
        interval = sys.getswitchinterval()
        sys.setswitchinterval(CHECK_SWITCH_INTERVAL)
        try:
            checked = check(table=table, mapping=mapping, on_ready=feed.publish, last_rows=last)
        except BaseException as exc:  # noqa: BLE001 — handed to the writer, which stops and reports it
            error = exc
        finally:
            sys.setswitchinterval(interval)
            try:
                connections.close_all()  # this thread's connections only
            finally:
                feed._end(checked, error)

    feed._thread = threading.Thread(target=run, name="import-check", daemon=True)
    feed._thread.start()
    return feed
