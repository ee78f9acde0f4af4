"""An account import's rows: checked like a contact import's (every cell typed, a bad row skipped whole and
reported cell by cell), matched to accounts, and written a slice at a time.

Invariant: an account row is matched by its name (compared like `contacts.models.name_key`: case, accents and
spacing ignored), or — when no account has the name — by its domain; a name two accounts share is an error on
that row (never a guess). Rows naming the same account merge, the later value winning for each field, and are
noted. A slice's new accounts are matched by name again under `contacts.services.accounts_match_lock` (held to
the commit): one created since the check is updated, never created twice. Each slice writes through
`contacts.services.accounts_upsert` (the contacts of changed accounts are told once, so rules on account fields
follow) with its `ImportedAccount` records and the job's counts, in the slice's transaction
(`transfers.imports.writing`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from django.db.models import F
from django.utils import timezone

from contacts import selectors as contact_selectors
from contacts import services as contact_services
from contacts.models import name_key
from transfers.imports.account_links import accounts_named_now
from transfers.imports.reading import Table
from transfers.models import ImportedAccount, ImportIssue, ImportJob

if TYPE_CHECKING:
    from transfers.imports.pipeline import Checked, CheckedRow, Converter, Progress


def account_rows_check(
    *, table: Table, converters: Sequence[tuple[int, str, str, Converter]], progress: Progress | None = None
) -> Checked:
    """Check every row of an account file; rows naming the same account merge (last value wins per field)."""
    from transfers.imports.pipeline import ISSUE_TEXT, PROGRESS_EVERY, Checked, CheckedRow, Issue, _row_values

    index = contact_selectors.account_index()
    name_column = next((name for _, name, target, _ in converters if target == "name"), "")
    result = Checked()
    by_account: dict[str, int] = {}  # "id:<pk>" or "name:<key>" → index in result.rows
    first_line: dict[str, int] = {}
    total = len(table.rows)
    for number, (line, cells) in enumerate(zip(table.lines, table.rows, strict=True), start=1):
        if progress and number % PROGRESS_EVERY == 0:
            progress("Checking rows", number, total)
        if not any(c.strip() for c in cells):
            continue  # an empty row is no account: not counted, not reported
        result.rows_total += 1
        fields, _, errors = _row_values(cells, list(converters))
        name = fields.get("name") or ""
        account_id, match = _match(index=index, name=name, domain=fields.get("domain", ""))
        if not name and not any(column == name_column for column, _, _ in errors):
            errors.append((name_column, "", "No account name: every account needs one."))
        elif match:
            errors.append((name_column, name, match))
        if errors:
            result.skipped += 1
            result.issues += [Issue(line, column, text[:ISSUE_TEXT], reason[:500]) for column, text, reason in errors]
            continue
        merge_key = f"id:{account_id}" if account_id is not None else f"name:{name_key(name)}"
        if merge_key in by_account:
            earlier = result.rows[by_account[merge_key]]
            upsert = contact_services.AccountUpsert(account_id, {**earlier.upsert.fields, **fields})
            result.rows[by_account[merge_key]] = CheckedRow(line=earlier.line, key=earlier.key, upsert=upsert)
            result.merged += 1
            result.issues.append(
                Issue(
                    line,
                    name_column,
                    name[:ISSUE_TEXT],
                    f"Same account as line {first_line[merge_key]}: merged into one account "
                    "(the later value wins for each field).",
                    ImportIssue.Level.NOTE,
                )
            )
            continue
        by_account[merge_key] = len(result.rows)
        first_line[merge_key] = line
        upsert = contact_services.AccountUpsert(account_id, fields)
        result.rows.append(CheckedRow(line=line, key=name_key(name), upsert=upsert))
    if progress:
        progress("Checking rows", total, total)
    return result


def _match(*, index: contact_selectors.AccountIndex, name: str, domain: str) -> tuple[int | None, str]:
    """(the account a row updates or None for a new one, "" or why the row cannot be matched)."""
    if not name:
        return None, ""
    found = index.by_name.get(name_key(name), [])
    if len(found) > 1:
        return None, (
            f"{len(found)} accounts are named “{name}”: cannot tell which one to update "
            "(rename one of them first, then import again)."
        )
    if found:
        return found[0], ""
    by_domain = index.by_domain.get(domain, []) if domain else []
    return (by_domain[0], "") if len(by_domain) == 1 else (None, "")


def account_slice_write(*, job: ImportJob, rows: list[CheckedRow], bulk: bool, done: int) -> set[int]:
    """One slice of an account import, in the caller's transaction; returns no contact ids (none are recorded)."""
    outcomes = contact_services.accounts_upsert(rows=_matched_again(rows), bulk=bulk)
    ImportedAccount.objects.bulk_create(
        [ImportedAccount(job=job, account_id=o.contact_id, outcome=o.outcome, previous=o.previous) for o in outcomes],
        batch_size=1000,
    )
    counts: dict[str, Any] = {
        kind: F(kind) + sum(1 for o in outcomes if o.outcome == kind) for kind in ("created", "updated", "unchanged")
    }
    ImportJob.objects.filter(pk=job.pk).update(
        phase=f"Saving {done:,} of {job.progress_total:,}",
        progress_done=done,
        heartbeat_at=timezone.now(),
        **counts,
    )
    return set()


def _matched_again(rows: list[CheckedRow]) -> list[contact_services.AccountUpsert]:
    """The slice's upserts, its new accounts matched again under the account-matching lock (held to the commit).

    The rows were matched when the file was checked; an account with one of the new names may have been created
    since (a person, the API, another import): such a row updates it instead of creating a second one
    (`account_links.accounts_named_now`: by name only; a name that has become ambiguous is created as checked)."""
    upserts = [r.upsert for r in rows]
    if all(u.account_id is not None for u in upserts):
        return upserts
    named = accounts_named_now(keys=[name_key(u.fields["name"]) for u in upserts if u.account_id is None])
    again = []
    for upsert in upserts:
        if upsert.account_id is None:
            upsert = contact_services.AccountUpsert(named.get(name_key(upsert.fields["name"])), upsert.fields)
        again.append(upsert)
    return again
