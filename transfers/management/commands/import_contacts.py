"""`manage.py import_contacts FILE [--group CODE] [--mapping NAME] [--dry-run] [--allow-anonymous]
[--create-accounts]`.

Maps the columns automatically (or by a saved mapping), runs the same pipeline as the upload page and
prints the report. `import_accounts` (a subclass) imports accounts the same way. Exit status: 0 when the
import ran (bad rows are reported, not fatal), 2 when the file or its mapping is refused (nothing written),
1 when the arguments are wrong.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from segments.models import ContactGroup
from transfers.imports import mapping as mappings
from transfers.imports.jobs import job_create
from transfers.imports.kinds import CONTACTS, Kind
from transfers.imports.pipeline import ImportOptions, import_execute
from transfers.imports.reading import FileRefused, table_read
from transfers.models import ImportIssue, ImportStatus, SavedMapping
from transfers.selectors import import_summary

REFUSED = 2


class Command(BaseCommand):
    help = "Import contacts from a CSV or XLSX file (create or update by email) and print the report."
    kind: Kind = CONTACTS

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", help="a .csv, .xlsx or .xls file with a header row")
        parser.add_argument("--mapping", metavar="NAME", help="use this saved mapping instead of the automatic one")
        parser.add_argument("--dry-run", action="store_true", help="check and count everything, write nothing")
        if self.kind != CONTACTS:
            return
        parser.add_argument("--group", metavar="CODE", help="add everyone imported to this static group")
        parser.add_argument("--date-format", default="auto", choices=["auto", "dmy", "mdy", "ymd"])
        parser.add_argument("--allow-anonymous", action="store_true", help="create contacts for rows without email")
        parser.add_argument(
            "--create-accounts", action="store_true", help="a company column creates the accounts that do not exist"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        path = Path(options["file"])
        if not path.is_file():
            raise CommandError(f"No such file: {path}")
        group = None
        if options.get("group"):
            group = ContactGroup.objects.filter(code=options["group"]).first()
            if group is None:
                raise CommandError(f"No contact group with code “{options['group']}”.")
        data = path.read_bytes()
        try:
            table = table_read(data=data, file_name=path.name)
        except FileRefused as exc:
            self._refuse(str(exc))
        if options["mapping"]:
            saved = SavedMapping.objects.filter(name=options["mapping"]).first()
            if saved is None:
                raise CommandError(f"No saved mapping called “{options['mapping']}”.")
            valid = {t.value for t in self.kind.targets()}
            columns = mappings.mapping_from_saved(header=table.header, columns=saved.columns, valid=valid)
        else:
            columns = self.kind.guess(table.header)
        for name, target in zip(table.header, columns, strict=True):
            self.stdout.write(f"  {name} → {target or '(ignored)'}")
        import_options = ImportOptions(
            date_format=options.get("date_format", "auto"),
            allow_anonymous=options.get("allow_anonymous", False),
            group_id=group.pk if group else None,
            create_accounts=options.get("create_accounts", False),
        )
        with transaction.atomic():
            job = job_create(
                data=data,
                file_name=path.name,
                user=None,
                table=table,
                mapping=columns,
                options=import_options,
                kind=self.kind.code,
            )
            result = import_execute(job=job)
            report = list(job.issues.all())
            if options["dry_run"]:
                transaction.set_rollback(True)
        if result.status == ImportStatus.FAILED:
            self._refuse(result.error)
        self._print(job=result, issues=report, dry_run=options["dry_run"])

    def _refuse(self, message: str) -> None:
        self.stderr.write(f"Refused: {message} Nothing was imported.")
        raise SystemExit(REFUSED)

    def _print(self, *, job: Any, issues: list[ImportIssue], dry_run: bool) -> None:
        self.stdout.write(("Dry run (nothing written): " if dry_run else "") + import_summary(job=job))
        for issue in issues:
            column = f" [{issue.column}]" if issue.column else ""
            value = f" “{issue.value}”" if issue.value else ""
            self.stdout.write(f"  line {issue.line}{column}{value}: {issue.reason}")
