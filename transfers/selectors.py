"""Reads for the import (and export) pages."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.db.models import QuerySet

from segments.models import ContactGroup
from transfers.models import ImportIssue, ImportJob, ImportKind, SavedMapping

if TYPE_CHECKING:
    from transfers.imports.pipeline import ImportOptions


def import_list() -> QuerySet[ImportJob]:
    """Every import job, newest first, without the files themselves."""
    return ImportJob.objects.select_related("created_by", "group").defer("data")


def import_issues(*, job: ImportJob) -> QuerySet[ImportIssue]:
    """The report of an import, by line."""
    return job.issues.order_by("line", "id")


def import_group(*, options: ImportOptions) -> ContactGroup | str | None:
    """The group an import will add to: an existing one, the name of a new one, or None."""
    if options.group_id:
        return ContactGroup.objects.filter(pk=options.group_id).first()
    return options.new_group.strip() or None


def saved_mappings() -> QuerySet[SavedMapping]:
    return SavedMapping.objects.order_by("name")


def _n(count: int, word: str) -> str:
    return f"{count:,} {word}{'' if count == 1 else 's'}"


def import_summary(*, job: ImportJob) -> str:
    """The counts of a finished import in one sentence."""
    text = (
        f"{_n(job.rows_total, 'row')}: {job.created:,} created, {job.updated:,} updated, "
        f"{job.unchanged:,} unchanged, {job.skipped:,} skipped"
    )
    if job.merged_duplicates:
        duplicate = "duplicate account" if job.kind == ImportKind.ACCOUNTS else "duplicate email"
        text += f"; {_n(job.merged_duplicates, duplicate)} merged"
    if job.accounts_created:
        text += f"; {_n(job.accounts_created, 'new account')} created from the company column"
    if job.group_id:
        text += f"; {job.group_added:,} added to the group “{job.group}”"
    return text + "."
