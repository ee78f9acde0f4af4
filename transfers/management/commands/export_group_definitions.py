"""`manage.py export_group_definitions [CODE ...] [--output FILE]`: group definitions as JSON (all by default)."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from segments.models import ContactGroup
from transfers.group_definitions import group_definitions_export


class Command(BaseCommand):
    help = "Write the definitions (name, code, description, flags, condition) of groups as JSON."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("codes", nargs="*", metavar="CODE", help="only these groups (default: all)")
        parser.add_argument("--output", "-o", metavar="FILE", help="write here (default: stdout)")

    def handle(self, *args: Any, **options: Any) -> None:
        groups = ContactGroup.objects.all()
        if options["codes"]:
            groups = groups.filter(code__in=options["codes"])
            unknown = sorted(set(options["codes"]) - set(groups.values_list("code", flat=True)))
            if unknown:
                raise CommandError(f"No group with code {', '.join(unknown)}.", returncode=2)
        text = json.dumps(group_definitions_export(groups=groups), indent=2, ensure_ascii=False) + "\n"
        if options["output"]:
            with open(options["output"], "w", encoding="utf-8") as handle:
                handle.write(text)
        else:
            self.stdout.write(text, ending="")
