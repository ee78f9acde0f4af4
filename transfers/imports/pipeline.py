"""The import pipeline: read → map → check every row by field settings → upsert in bulk → group add → history.

Invariant: a row is written whole or not at all. Every row is checked (all its mapped cells typed by
the field's settings) before anything is written; a row with any bad cell is skipped and reported cell by
cell. The good rows are then written in slices, each one short transaction (`transfers.imports.writing`):
contacts through `contacts.services` (`contacts_upsert`: one contacts_changed per slice, so segments notes
one batch of re-checks — or, for a big import, a durable group refresh — never one per row), the group add
through `segments.services` with Cause.IMPORT (membership history records the import), the job's counts.
The upload page, `manage.py import_contacts` and (later) the API's bulk upsert all call this.

A job imports contacts or accounts (`ImportJob.kind`, described in `transfers.imports.kinds`): the same
reading, mapping, checking, slices and report; an account import's rows are checked and written by
`transfers.imports.accounts`, and a contact import's company column is linked by
`transfers.imports.account_links`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from functools import partial
from typing import Any

from django.core.exceptions import ValidationError
from django.db import DatabaseError, transaction
from django.utils import timezone

from contacts import selectors as contact_selectors
from contacts import services as contact_services
from contacts.models import ContactField
from transfers.imports import account_links, values, writing
from transfers.imports import feed as feed_module
from transfers.imports.auditing import import_started_record
from transfers.imports.kinds import kind_of
from transfers.imports.mapping import CUSTOM_PREFIX, mapping_problems
from transfers.imports.reading import FileRefused, Table, table_read
from transfers.imports.writing import Written
from transfers.models import ImportIssue, ImportJob, ImportKind, ImportStatus

logger = logging.getLogger(__name__)

PROGRESS_EVERY = 1000  # rows checked between two progress updates
PUBLISH_EVERY = 500  # final rows between two hand-overs to an overlapped write (transfers.imports.feed)
ISSUE_TEXT = 255


@dataclass
class ImportOptions:
    """What the person chose besides the mapping."""

    date_format: str = "auto"
    allow_anonymous: bool = False
    group_id: int | None = None  # an existing static group everyone imported joins
    new_group: str = ""  # or the name of a new static group
    create_accounts: bool = False  # a company column creates the accounts that do not exist

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> ImportOptions:
        data = data or {}
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Issue:
    """A line of the report: the file's line, the column (may be ""), the value and why."""

    line: int
    column: str
    value: str
    reason: str
    level: str = ImportIssue.Level.ERROR


@dataclass
class CheckedRow:
    line: int
    key: str | None  # lower-cased email, None for an anonymous contact (an account import: the name key)
    upsert: Any  # contact_services.ContactUpsert (an account import: contact_services.AccountUpsert)
    company: str = ""  # the account named in the company column ("" none)
    company_domain: str = ""  # and its domain, when mapped


@dataclass
class Checked:
    """Every row of a file checked: the rows to write (duplicates merged), the report, the counts."""

    rows: list[CheckedRow] = field(default_factory=list)
    issues: list[Issue] = field(default_factory=list)
    rows_total: int = 0
    skipped: int = 0
    merged: int = 0
    links: account_links.Links | None = None  # the company column's accounts (a contact import mapping one)


@dataclass
class Cell:
    """One cell as it will be stored (the preview): the text, the stored value shown, or the error."""

    text: str
    shown: str = ""
    error: str = ""
    note: str = ""  # what the import does with it (an account name: linked, created, updated)


Progress = Callable[[str, int, int], None]


def _valid_targets(kind: str = ImportKind.CONTACTS) -> dict[str, Any]:
    return {t.value: t for t in kind_of(kind).targets()}


def mapping_refusal(*, mapping: Sequence[str], options: ImportOptions, kind: str = ImportKind.CONTACTS) -> list[str]:
    """Why this mapping cannot run (empty when it can)."""
    problems = mapping_problems(mapping=mapping, valid=set(_valid_targets(kind)))
    if kind == ImportKind.ACCOUNTS:
        if "name" not in mapping:
            problems.append("Map a column to Name (accounts are matched and created by name).")
        return problems
    if "account_domain" in mapping and "account" not in mapping:
        problems.append("Map a column to Account (company name) too: the domain only helps to find the account.")
    if "email" not in mapping and not options.allow_anonymous:
        problems.append(
            "Map a column to Email (contacts are matched by email), or allow contacts without an email address."
        )
    if options.date_format not in values.DATE_FORMATS:
        problems.append("Choose one of the date formats.")
    return problems


Converter = Callable[[str], Any]


def _converters(
    *, header: Sequence[str], mapping: Sequence[str], options: ImportOptions, kind: str = ImportKind.CONTACTS
) -> list[tuple[int, str, str, Converter]]:
    """(column index, column name, target, converter) for every mapped column."""
    by_value = _valid_targets(kind)
    standard = kind_of(kind).converters
    result: list[tuple[int, str, str, Converter]] = []
    for index, (name, target) in enumerate(zip(header, mapping, strict=True)):
        if not target:
            continue
        if target.startswith(CUSTOM_PREFIX):
            custom_field: ContactField = by_value[target].field

            result.append((index, name, target, values.custom_converter(custom_field, date_format=options.date_format)))
        else:
            result.append((index, name, target, standard[target]))
    return result


def _row_values(
    cells: Sequence[str], converters: list[tuple[int, str, str, Converter]]
) -> tuple[dict[str, Any], dict[str, Any], list[tuple[str, str, str]]]:
    """(standard values, custom values, errors as (column, value, reason)) of one row; empty cells are skipped."""
    standard: dict[str, Any] = {}
    custom: dict[str, Any] = {}
    errors = []
    for index, name, target, convert in converters:
        text = cells[index]
        if not text.strip():
            continue
        try:
            value = convert(text)
        except ValueError as exc:
            errors.append((name, text, str(exc)))
            continue
        if target.startswith(CUSTOM_PREFIX):
            custom[target.removeprefix(CUSTOM_PREFIX)] = value
        else:
            standard[target] = value
    return standard, custom, errors


def rows_check(
    *,
    table: Table,
    mapping: Sequence[str],
    options: ImportOptions,
    progress: Progress | None = None,
    kind: str = ImportKind.CONTACTS,
    on_ready: Callable[[Checked, int], None] | None = None,
    last_rows: dict[str, int] | None = None,
) -> Checked:
    """Check every row of `table` by field settings; duplicates by email merge (last value wins per field).

    With `on_ready` and `last_rows` (each email key's last row index, `transfers.imports.feed`), tell as the
    check goes how many of `Checked.rows` are final: past the last row of their email, nothing merges into them.
    """
    converters = _converters(header=table.header, mapping=mapping, options=options, kind=kind)
    if kind == ImportKind.ACCOUNTS:
        from transfers.imports.accounts import account_rows_check

        return account_rows_check(table=table, converters=converters, progress=progress)
    required = list(ContactField.objects.active().filter(required=True))
    result = Checked()
    by_key: dict[str, int] = {}  # email key → index in result.rows
    first_line: dict[str, int] = {}
    total = len(table.rows)
    emails = []
    email_column = mapping.index("email") if "email" in mapping else None
    if email_column is not None:
        emails = [row[email_column] for row in table.rows]
    existing = contact_selectors.contact_ids_by_email(emails=emails) if required else {}
    final = published = 0  # result.rows[:final] are final; on_ready was told of [:published]
    for number, (line, cells) in enumerate(zip(table.lines, table.rows, strict=True), start=1):
        if progress and number % PROGRESS_EVERY == 0:
            progress("Checking rows", number, total)
        if on_ready is not None and last_rows is not None:
            # Rows before this one (index number - 1) are checked: final unless their email comes again.
            while final < len(result.rows) and (
                (key := result.rows[final].key) is None or last_rows.get(key, -1) < number - 1
            ):
                final += 1
            if final - published >= PUBLISH_EVERY:
                on_ready(result, published := final)
        if not any(c.strip() for c in cells):
            continue  # an empty row is no contact: not counted, not reported
        result.rows_total += 1
        standard, custom, errors = _row_values(cells, converters)
        email = standard.pop("email", None)
        company, company_domain = standard.pop("account", ""), standard.pop("account_domain", "")
        key = values.email_key(email) if email else None
        email_blank = email_column is None or not cells[email_column].strip()
        if key is None and email_blank and not options.allow_anonymous:
            errors.append(
                ("", "", "No email address: tick “Also import rows without an email” to create anonymous contacts.")
            )
        if key is None or key not in existing:
            missing = [f for f in required if f.code not in custom and (key is None or key not in by_key)]
            errors += [(f.label, "", f"{f.label} is required for a new contact.") for f in missing]
        if errors:
            result.skipped += 1
            result.issues += [Issue(line, column, text[:ISSUE_TEXT], reason[:500]) for column, text, reason in errors]
            continue
        if key is not None and key in by_key:
            earlier = result.rows[by_key[key]]
            merged = contact_services.ContactUpsert(
                email=email,
                fields={**earlier.upsert.fields, **standard},
                custom={**earlier.upsert.custom, **custom},
            )
            result.rows[by_key[key]] = CheckedRow(
                line=earlier.line,
                key=key,
                upsert=merged,
                company=company or earlier.company,
                company_domain=company_domain or (earlier.company_domain if not company else ""),
            )
            result.merged += 1
            result.issues.append(
                Issue(
                    line,
                    "",
                    email[:ISSUE_TEXT],
                    f"Same email as line {first_line[key]}: merged into one contact "
                    "(the later value wins for each field).",
                    ImportIssue.Level.NOTE,
                )
            )
            continue
        if key is not None:
            by_key[key] = len(result.rows)
            first_line[key] = line
        result.rows.append(
            CheckedRow(
                line=line,
                key=key,
                upsert=contact_services.ContactUpsert(email, standard, custom),
                company=company,
                company_domain=company_domain,
            )
        )
    if progress:
        progress("Checking rows", total, total)
    if "account" in mapping:
        column = table.header[mapping.index("account")]
        account_links.links_check(checked=result, create=options.create_accounts, column=column)
    return result


def rows_preview(
    *, table: Table, mapping: Sequence[str], options: ImportOptions, limit: int = 10, kind: str = ImportKind.CONTACTS
) -> list[tuple[int, list[Cell]]]:
    """The first rows as they will be stored: for each mapped column the stored value or the error."""
    converters = _converters(header=table.header, mapping=mapping, options=options, kind=kind)
    by_value = _valid_targets(kind)
    preview = []
    for line, cells in zip(table.lines, table.rows, strict=True):
        if not any(c.strip() for c in cells):
            continue
        row = []
        for index, _, target, convert in converters:
            text = cells[index]
            cell = Cell(text=text)
            if text.strip():
                try:
                    cell.shown = _shown(convert(text), by_value[target])
                except ValueError as exc:
                    cell.error = str(exc)
            row.append(cell)
        preview.append((line, row))
        if len(preview) >= limit:
            break
    targets = [target for _, _, target, _ in converters]
    account_links.preview_notes(rows=preview, targets=targets, kind=kind, create=options.create_accounts)
    return preview


def _shown(value: Any, target: Any) -> str:
    if target.field is not None:
        from contacts.custom_fields import display_value

        return display_value(field=target.field, value=value)
    return str(value)


# --- the run ---------------------------------------------------------------------------------


def _job_progress(job: ImportJob) -> Progress:
    def report(phase: str, done: int, total: int) -> None:
        ImportJob.objects.filter(pk=job.pk).update(
            phase=phase, progress_done=done, progress_total=total, heartbeat_at=timezone.now()
        )

    return report


def import_execute(*, job: ImportJob) -> ImportJob:
    """Run an import job to the end (the task, the command); returns it refreshed. Never raises for bad input.

    The rows are written in slices, each its own transaction (`transfers.imports.writing`): a slice that
    fails ends the job as failed, saying how many rows the slices before it saved; the report lists the
    lines not saved. A dry run is this inside a transaction the caller rolls back (after reading the report).
    """
    options = ImportOptions.from_json(job.options)
    if job.status == ImportStatus.DRAFT:  # run at once (`import_contacts`), not queued: job_queue noted the others
        import_started_record(job=job)
    now = timezone.now()
    ImportJob.objects.filter(pk=job.pk).update(
        status=ImportStatus.RUNNING, started_at=now, heartbeat_at=now, phase="Reading the file", error=""
    )
    try:
        table = table_read(data=bytes(job.data), file_name=job.file_name)
        problems = mapping_refusal(mapping=job.mapping, options=options, kind=job.kind)
        if len(job.mapping) != len(table.header):
            problems.append("The mapping does not fit the file's columns.")
        if problems:
            raise FileRefused(" ".join(problems))
        writing.existing_group(options=options)  # a group deleted meanwhile refuses the import before any write
        if feed_module.overlap_fits(kind=job.kind, mapping=job.mapping, table=table):
            # Checked in a thread while the slices are written (transfers.imports.feed).
            feed: feed_module.Feed = feed_module.overlapped_check(
                table=table, mapping=job.mapping, check=partial(rows_check, options=options, kind=job.kind)
            )
        else:
            checked = rows_check(
                table=table, mapping=job.mapping, options=options, progress=_job_progress(job), kind=job.kind
            )
            feed = feed_module.Feed(checked)
    except (FileRefused, ValidationError) as exc:
        _fail(job, " ".join(exc.messages) if isinstance(exc, ValidationError) else str(exc))
    except DatabaseError as exc:
        logger.exception("import %s failed", job.pk)
        _fail(job, f"The database refused the import ({exc.__class__.__name__}); nothing was imported. Try again.")
    else:
        _write(job=job, feed=feed, options=options)
    job.refresh_from_db()
    return job


def _write(*, job: ImportJob, feed: feed_module.Feed, options: ImportOptions) -> None:
    written = writing.Written()
    try:
        writing.rows_write(job=job, feed=feed, options=options, written=written)
        checked = feed.checked()
    except (ValidationError, DatabaseError) as exc:
        logger.exception("import %s stopped after %s rows", job.pk, written.rows)
        _stopped(job=job, feed=feed, written=written, exc=exc)
        return
    ImportJob.objects.filter(pk=job.pk).update(
        status=ImportStatus.SUCCEEDED,
        phase="",
        finished_at=timezone.now(),
        rows_total=checked.rows_total,
        skipped=checked.skipped,
        merged_duplicates=checked.merged,
    )


def _stopped(*, job: ImportJob, feed: feed_module.Feed, written: Written, exc: Exception) -> None:
    """A slice failed: earlier slices stay saved; the job fails saying how many, the report lists the rest.

    (An overlapped check is waited for, so the report is whole; a check that failed lists what it checked.)
    """
    try:
        checked = feed.checked()
    except (ValidationError, DatabaseError):
        checked = Checked(rows=feed.rows)
    why = (
        " ".join(exc.messages)
        if isinstance(exc, ValidationError)
        else f"the database refused a write ({exc.__class__.__name__})"
    )
    total, saved = len(checked.rows), written.rows
    if saved:
        message = (
            f"The import stopped: {why}. {saved:,} of {total:,} rows were saved; the other {total - saved:,} were not "
            "(listed in the report). Import the file again to save them "
            f"(saved {kind_of(job.kind).plural} come out unchanged)."
        )
    else:
        message = f"The import stopped: {why}. Nothing was imported. Try again."
    try:
        writing.issues_write(job=job, checked=checked, written=written)
        with transaction.atomic():
            writing.unsaved_issues_write(
                job=job, rows=checked.rows[saved:], reason="Not saved: the import stopped before this row."
            )
            ImportJob.objects.filter(pk=job.pk).update(
                rows_total=checked.rows_total, skipped=checked.skipped, merged_duplicates=checked.merged
            )
    except DatabaseError:
        logger.exception("import %s: the report of the unsaved rows could not be written", job.pk)
    _fail(job, message)


def _fail(job: ImportJob, message: str) -> None:
    ImportJob.objects.filter(pk=job.pk).update(
        status=ImportStatus.FAILED, error=message, phase="", finished_at=timezone.now()
    )
    job.status, job.error = ImportStatus.FAILED, message
