"""`manage.py export_contacts [--group CODE] [--output FILE] [--format csv|xlsx] [--columns a,b,…]`.

Streams the export (the same as the pages': one query read in chunks, written as it comes) to FILE or
stdout. Without --group: every unmerged contact, or those the contact list's `--filters` (its query
string, e.g. "country=CZ&score_min=10") or an Advanced filter's rule tree (`--condition FILE`) select.
Bad options exit with status 2 and the message on stderr; nothing is written then.
"""

from __future__ import annotations

import time
from typing import Any, BinaryIO

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.http import QueryDict

from segments.management.files import json_file_read
from segments.models import ContactGroup
from segments.rules import RuleError
from transfers.exports import (
    ExportError,
    ExportFormat,
    ExportRequest,
    SourceError,
    UnknownColumns,
    advanced_filter_source,
    column_catalogue,
    columns_by_keys,
    contact_list_source,
    default_column_keys,
    export_check,
    export_start,
    export_stream,
    group_source,
)


class Command(BaseCommand):
    help = "Export contacts (or a group's members) as CSV or XLSX, streamed to a file or stdout."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--group", metavar="CODE", help="export this group's members")
        parser.add_argument("--source", choices=["manual", "account", "condition"], help="only members with it")
        parser.add_argument(
            "--filters", default="", help='the contact list\'s filters as a query string ("country=CZ")'
        )
        parser.add_argument("--condition", metavar="FILE", help="an Advanced filter: a rule tree in a JSON file")
        parser.add_argument("--output", "-o", metavar="FILE", help="write here (default: stdout)")
        parser.add_argument("--format", choices=["csv", "xlsx"], help="default: from --output's extension, else csv")
        parser.add_argument("--columns", help="comma-separated column keys (default: the page's defaults)")
        parser.add_argument("--list-columns", action="store_true", help="print the column keys and labels, then stop")
        parser.add_argument("--bom", action="store_true", help="CSV: start with a UTF-8 byte order mark (for Excel)")
        parser.add_argument("--no-guard", action="store_true", help="CSV: no apostrophe before formula-like text")

    def handle(self, *args: Any, **options: Any) -> None:
        membership = bool(options["group"])
        if options["list_columns"]:
            for column in column_catalogue(membership=membership):
                self.stdout.write(f"{column.key}\t{column.label}")
            return
        request = export_start(request=self._request(options, membership))
        started = time.monotonic()
        written = 0
        if options["output"] and options["output"] != "-":
            with open(options["output"], "wb") as handle:
                written = self._write(request, handle)
            seconds = time.monotonic() - started
            self.stderr.write(f"Wrote {written:,} bytes to {options['output']} in {seconds:.1f} s.")
        else:
            target: BinaryIO | None = getattr(self.stdout._out, "buffer", None)
            if target is None:  # a text stream (call_command(stdout=StringIO())): CSV only
                if request.format is ExportFormat.XLSX:
                    raise CommandError("XLSX needs --output FILE or a binary stdout.", returncode=2)
                for chunk in export_stream(request=request):
                    self.stdout.write(chunk.decode(), ending="")
            else:
                self._write(request, target)
                target.flush()

    def _write(self, request: ExportRequest, handle: BinaryIO) -> int:
        written = 0
        for chunk in export_stream(request=request):
            handle.write(chunk)
            written += len(chunk)
        return written

    def _request(self, options: dict[str, Any], membership: bool) -> ExportRequest:
        output = options["output"] or ""
        fmt = options["format"] or ("xlsx" if output.lower().endswith(".xlsx") else "csv")
        keys = [k.strip() for k in (options["columns"] or "").split(",") if k.strip()]
        try:
            columns = columns_by_keys(keys=keys or default_column_keys(membership=membership), membership=membership)
            if options["group"]:
                group = ContactGroup.objects.filter(code=options["group"]).first()
                if group is None:
                    raise CommandError(f"There is no group with code “{options['group']}”.", returncode=2)
                source = group_source(group=group, source=options["source"] or "")
            elif options["condition"]:
                source = advanced_filter_source(tree=json_file_read(options["condition"]))
            else:
                source = contact_list_source(filters=QueryDict(options["filters"]))
        except (UnknownColumns, SourceError, RuleError) as exc:
            raise CommandError(f"{exc} (see --list-columns)" if isinstance(exc, UnknownColumns) else str(exc),
                               returncode=2) from None  # fmt: skip
        request = ExportRequest(
            source=source, columns=columns, format=ExportFormat(fmt), bom=options["bom"], guard=not options["no_guard"]
        )
        try:
            return export_check(request=request)
        except ExportError as exc:
            raise CommandError(str(exc), returncode=2) from None
