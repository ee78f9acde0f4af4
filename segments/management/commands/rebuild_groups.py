"""manage.py rebuild_groups [CODE ...] [--all] [--check]: rebuild condition members, dependencies first.

--check rebuilds nothing: it compares each group's stored condition and account sources with a fresh
evaluation and the membership invariants (orphans, merged members, member counts), prints what
differs, and exits 1 when anything does.
"""

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
        parser.add_argument(
            "--check", action="store_true", help="rebuild nothing: report groups whose stored members are not true"
        )

    def handle(self, *args: Any, codes: list[str], all: bool, check: bool, **options: Any) -> None:
        if not codes and not all:
            raise CommandError("Name the groups to rebuild (their codes), or pass --all.")
        groups = ContactGroup.objects.filter(is_condition_based=True) if not check else ContactGroup.objects.all()
        if codes:
            found = set(ContactGroup.objects.filter(code__in=codes).values_list("code", flat=True))
            missing = [c for c in codes if c not in found]
            if missing:
                raise CommandError(f"No group with code: {', '.join(missing)}")
            groups = groups.filter(code__in=codes)
        ordered = rebuilds.groups_in_dependency_order(groups=groups)
        if check:
            self._check(ordered)
            return
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

    def _check(self, groups: list[ContactGroup]) -> None:
        """Report drift per group and the membership invariants; CommandError (exit 1) if anything is off."""
        from segments.memberships import memberships_integrity
        from segments.rules import RuleError
        from segments.selectors import group_drift

        self.stdout.write(
            f"{'group':30} {'cond. missing':>13} {'cond. extra':>11} {'acct missing':>12} {'acct extra':>10}"
        )
        drifting = 0
        for group in groups:
            try:
                drift = group_drift(group=group)
            except RuleError as exc:
                self.stdout.write(f"{group.code:30} skipped: the condition is invalid ({exc})")
                continue
            drifting += bool(drift.total)
            self.stdout.write(
                f"{group.code:30} {drift.condition_missing:>13} {drift.condition_extra:>11} "
                f"{drift.account_missing:>12} {drift.account_extra:>10}{'  DRIFT' if drift.total else ''}"
            )
        integrity = memberships_integrity()
        self.stdout.write(
            f"orphan rows: {integrity.orphans}, memberships of merged contacts: {integrity.merged_members}, "
            f"wrong member counts: {integrity.wrong_counts}"
        )
        if drifting or integrity.orphans or integrity.merged_members or integrity.wrong_counts:
            raise CommandError(f"{drifting} group(s) drift from a fresh evaluation; rebuild them to repair.")
        self.stdout.write("No drift: every group's stored members are true.")
