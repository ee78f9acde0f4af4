"""`manage.py rebuild_activity_days [--contact ID ...]`: recompute the daily activity roll-up from the activities.

A repair tool: the roll-up is kept exact by contacts.services in every writing transaction and filled by
the data migration that created it; run this after activities were changed around the services (a manual
SQL fix, a restore of the activity table alone). Without --contact it rebuilds everything set-based in one
transaction (about 2 minutes per 10M activities; writes of activities wait until it commits).
"""

from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from contacts.services import activity_days_rebuild


class Command(BaseCommand):
    help = "Recompute the daily activity roll-up (contacts_activityday) from the activities."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--contact", type=int, action="append", dest="contacts", help="Only this contact id (repeatable)."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        started = time.perf_counter()
        rows = activity_days_rebuild(contact_ids=options["contacts"])
        scope = f"{len(set(options['contacts']))} contact(s)" if options["contacts"] else "all contacts"
        self.stdout.write(
            f"Rebuilt the daily roll-up of {scope}: {rows} rows in {time.perf_counter() - started:.1f} s."
        )
