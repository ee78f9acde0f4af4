"""`manage.py activity_partitions [--ahead N] [--detach-before YYYY-MM]`: the activity table's monthly partitions.

Creates the partitions of the current month and the next N (default ACTIVITY_PARTITIONS_AHEAD, 3) that are
missing, moving any of their rows out of the default partition; with --detach-before, detaches every month
before that one (kept as tables named contacts_activity_archive_YYYY_MM, never dropped: the retention story
in README.md, "Running in production"). Prints what it did, then the layout. PostgreSQL only (SQLite keeps one
plain table: nothing to do). The daily schedule `contacts.activity_partitions` runs it without --detach-before.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import OperationalError
from django.utils import timezone

from contacts.partitions import (
    archived_tables,
    attached_partitions,
    default_months,
    month_start,
    months_ahead,
    partitioned,
)
from contacts.services.partitions import LOCK_TIMEOUT, activity_partitions_create, activity_partitions_detach

MAX_AHEAD = 120


def month_argument(value: str) -> dt.date:
    try:
        return dt.datetime.strptime(value, "%Y-%m").date()
    except ValueError:
        raise CommandError(f"--detach-before takes a month as YYYY-MM (e.g. 2025-01), not “{value}”.") from None


class Command(BaseCommand):
    help = "Create the activity table's monthly partitions ahead; detach (never drop) old ones. PostgreSQL only."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--ahead", type=int, default=None, help="months to create after the current one (default: setting)"
        )
        parser.add_argument(
            "--detach-before", metavar="YYYY-MM", help="detach every monthly partition before this month"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        ahead = options["ahead"] if options["ahead"] is not None else settings.ACTIVITY_PARTITIONS_AHEAD
        if not 0 <= ahead <= MAX_AHEAD:
            raise CommandError(f"--ahead takes 0 to {MAX_AHEAD} months, not {ahead}.")
        before = month_argument(options["detach_before"]) if options["detach_before"] else None
        this_month = month_start(timezone.now())
        if before is not None and before > this_month:
            raise CommandError(
                f"--detach-before {before:%Y-%m} would detach the current month ({this_month:%Y-%m}) or later; "
                f"give {this_month:%Y-%m} at most."
            )
        if not partitioned():
            self.stdout.write("The activity table is not partitioned here (PostgreSQL only): nothing to do.")
            return
        try:
            changes = activity_partitions_create(months=months_ahead(today=this_month, ahead=ahead))
            if before is not None:
                changes += activity_partitions_detach(before=before)
        except OperationalError as exc:
            if "lock timeout" not in str(exc):
                raise
            raise CommandError(
                f"The activity table stayed busy for more than {LOCK_TIMEOUT} (a long query holds it): "
                "nothing was changed; run it again later."
            ) from exc
        for change in changes:
            if change.action == "created":
                moved = f", {change.rows:,} rows moved in from the default partition" if change.rows else ""
                self.stdout.write(f"Created {change.table} for {change.month:%Y-%m}{moved}.")
            else:
                self.stdout.write(
                    f"Detached {change.month:%Y-%m}: kept as table {change.table} ({change.rows:,} rows)."
                )
        if not changes:
            self.stdout.write("Nothing to change.")
        if any(change.action == "detached" for change in changes):
            self.stdout.write(
                "Rules no longer count the detached activities; groups that read activities are rebuilt by the "
                "worker (a bulk change was noted)."
            )
        self._layout()

    def _layout(self) -> None:
        attached = attached_partitions()
        if attached:
            rows = sum(p.rows for p in attached)
            self.stdout.write(
                f"Attached: {len(attached)} monthly partitions, {attached[0].month:%Y-%m} to "
                f"{attached[-1].month:%Y-%m} (about {rows:,} rows by the planner's estimate)."
            )
        else:
            self.stdout.write("Attached: no monthly partitions.")
        in_default = default_months()
        listed = ", ".join(f"{month:%Y-%m}: {n:,}" for month, n in in_default.items())
        total = sum(in_default.values())
        self.stdout.write(f"Default partition: {total:,} rows" + (f" ({listed})." if listed else "."))
        archived = archived_tables()
        self.stdout.write(f"Detached (kept): {', '.join(archived) if archived else 'none'}.")
