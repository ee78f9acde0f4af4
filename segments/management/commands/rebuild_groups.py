"""manage.py rebuild_groups [CODE ...] [--all]: rebuild condition members, dependencies first."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from segments import rebuilds
from segments.models import ContactGroup


class Command(BaseCommand):
    help = "Rebuild the condition-based members of the given groups (or --all), dependencies first."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("codes", nargs="*", metavar="CODE", help="group codes")
        parser.add_argument("--all", action="store_true", help="rebuild every condition-based group")

    def handle(self, *args: Any, codes: list[str], all: bool, **options: Any) -> None:
        if not codes and not all:
            raise CommandError("Name the groups to rebuild (their codes), or pass --all.")
        groups = ContactGroup.objects.filter(is_condition_based=True)
        if codes:
            found = set(ContactGroup.objects.filter(code__in=codes).values_list("code", flat=True))
            missing = [c for c in codes if c not in found]
            if missing:
                raise CommandError(f"No group with code: {', '.join(missing)}")
            groups = groups.filter(code__in=codes)
        ordered = rebuilds.groups_in_dependency_order(groups=groups)
        if not ordered:
            self.stdout.write("No condition-based groups to rebuild.")
            return
        failed = 0
        self.stdout.write(f"{'group':30} {'added':>8} {'removed':>8} {'members':>9} {'ms':>8}")
        for group in ordered:
            result = rebuilds.group_rebuild_by_id(group_id=group.pk)
            if not result["ok"]:
                failed += 1
                self.stderr.write(f"{group.code:30} FAILED: {result['error']}")
                continue
            group.refresh_from_db()
            self.stdout.write(
                f"{group.code:30} {result['added']:>8} {result['removed']:>8} {group.member_count:>9} "
                f"{group.last_rebuild_duration_ms:>8}"
            )
        if failed:
            raise CommandError(f"{failed} group(s) failed to rebuild.")
