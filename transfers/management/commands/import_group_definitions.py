"""`manage.py import_group_definitions FILE [--only-resolving] [--dry-run]`.

Prints what each group of the file becomes. When any cannot be imported (a missing custom field,
consent, group or campaign, an invalid condition, a code that exists) nothing is written and it exits 1,
unless --only-resolving. A file that is not a definitions file exits 2.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from transfers import group_definitions as gd


class Command(BaseCommand):
    help = "Import group definitions (JSON from export_group_definitions or the Contact groups page)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file")
        parser.add_argument(
            "--only-resolving", action="store_true", help="import the groups that resolve, skip the rest"
        )
        parser.add_argument("--dry-run", action="store_true", help="only print what would happen")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            definitions = gd.definitions_parse(Path(options["file"]).read_bytes())
        except OSError as error:
            raise CommandError(f"{options['file']}: cannot read the file ({error.strerror})", returncode=2) from None
        except gd.DefinitionsError as error:
            raise CommandError(str(error), returncode=2) from None
        plan = gd.group_definitions_plan(definitions=definitions)
        for item in plan.groups:
            verdict = "ready" if item.ready else f"NOT IMPORTED: {item.problem}"
            self.stdout.write(f"{item.definition.code}\t{verdict}")
        if options["dry_run"]:
            return
        try:
            created = gd.group_definitions_import(definitions=definitions, only_resolving=options["only_resolving"])
        except gd.ImportRefused as refused:
            raise CommandError(f"{refused} Missing: {', '.join(refused.plan.missing) or 'none'}; "
                               + "; ".join(f"{g.definition.code}: {g.problem}" for g in refused.plan.refused),
                               returncode=1) from None  # fmt: skip
        self.stdout.write(f"Imported {len(created)} group{'s' if len(created) != 1 else ''}.")
