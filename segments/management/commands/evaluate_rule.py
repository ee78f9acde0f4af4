"""`manage.py evaluate_rule FILE [--now ISO-8601] [--ids]`: evaluate a rule tree from a JSON file.

Prints the number of matching contacts, or with --ids their ids one a line (ascending). An invalid
tree, unreadable JSON or a bad --now exits with status 2 and the message on stderr.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from segments.management.files import json_file_read
from segments.rules import RuleError, matching_contacts


class Command(BaseCommand):
    help = "Evaluate a rule tree (JSON file, '-' for stdin) and print the match count or the matching ids."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", help="JSON file with the rule tree ({'version': 1, 'root': ...}); '-' reads stdin")
        parser.add_argument("--now", help="evaluate as of this moment (ISO 8601; without an offset: project time)")
        parser.add_argument("--ids", action="store_true", help="print the matching contact ids, one a line")

    def handle(self, *args: Any, **options: Any) -> None:
        now = _parse_now(options["now"])
        tree = json_file_read(options["file"])
        try:
            contacts = matching_contacts(tree, now=now)
        except RuleError as error:
            raise CommandError(str(error), returncode=2) from None
        if options["ids"]:
            for pk in contacts.order_by("pk").values_list("pk", flat=True).iterator():
                self.stdout.write(str(pk))
        else:
            self.stdout.write(str(contacts.count()))


def _parse_now(text: str | None) -> dt.datetime | None:
    if text is None:
        return None
    try:
        return dt.datetime.fromisoformat(text)
    except ValueError:
        raise CommandError(f"--now: expected an ISO 8601 date and time, not {text!r}", returncode=2) from None
