"""A contact import's company column: contacts linked to their account by name (or domain), created when asked.

Invariant: the accounts are resolved once for the whole file before anything is written (one read of every
account: `contacts.selectors.account_index`), an unknown or ambiguous company is a note on its row (the contact
is imported, its account left as it is), and the links are written per slice inside the slice's transaction:
first the slice's new accounts (each distinct name created once per import, however many rows name it; matched
by name again under `contacts.services.accounts_match_lock` first, so one created meanwhile is linked instead) through
`contacts.services.accounts_upsert`, then every link through `contacts.services.contacts_link_accounts` — one
contacts_changed (reason "account") per slice, so rules and the static groups holding an account follow exactly
as when a person edits the contact's account. A contact whose only change is its account comes out "updated",
with its previous account id in the record's `previous` ("account": id or None).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from django.db.models import F

from contacts import selectors as contact_selectors
from contacts import services as contact_services
from contacts.models import name_key
from transfers.models import ImportedAccount, ImportIssue, ImportJob, ImportKind

if TYPE_CHECKING:
    from transfers.imports.pipeline import Cell, Checked, CheckedRow

ISSUE_TEXT = 255


@dataclass
class Links:
    """The company column resolved: per row (by line) an account id, or the name key of an account to create."""

    by_line: dict[int, int | str] = field(default_factory=dict)
    to_create: dict[str, dict[str, Any]] = field(default_factory=dict)  # name key → the new account's fields
    created: dict[str, int] = field(default_factory=dict)  # name key → id, once a slice created it


def links_check(*, checked: Checked, create: bool, column: str = "") -> None:
    """Resolve every row's company to an account (or an account to create); unknown or ambiguous ones are noted."""
    from transfers.imports.pipeline import Issue

    index = contact_selectors.account_index()
    links = Links()
    for row in checked.rows:
        if not row.company:
            continue
        key = name_key(row.company)
        found = _found(index=index, name=row.company, domain=row.company_domain)
        reason = ""
        if len(found) == 1:
            links.by_line[row.line] = found[0]
        elif found:
            reason = (
                f"{len(found)} accounts are named “{row.company}”: the contact was imported without changing its "
                "account (rename one of them, or give the account's domain in a column, then import again)."
            )
        elif create:
            new = links.to_create.setdefault(key, {"name": row.company})
            if row.company_domain and "domain" not in new:
                new["domain"] = row.company_domain
            links.by_line[row.line] = key
        else:
            reason = (
                f"No account is named “{row.company}”: the contact was imported without an account (tick “Create "
                "accounts that do not exist” to create it)."
            )
        if reason:
            checked.issues.append(
                Issue(row.line, column, row.company[:ISSUE_TEXT], reason[:500], ImportIssue.Level.NOTE)
            )
    checked.issues.sort(key=lambda issue: issue.line)
    checked.links = links


def accounts_named_now(*, keys: Iterable[str]) -> dict[str, int]:
    """Name key → the one account with that name, as the accounts are now: read under the account-matching lock
    (`contacts.services.accounts_match_lock`, held to the commit), so nobody creates one of these names before
    this transaction does. By name only (a domain match would let an import's own new accounts absorb each other);
    a name two accounts share is left out (never a guess)."""
    contact_services.accounts_match_lock()
    index = contact_selectors.account_index()
    return {key: found[0] for key in keys if len(found := index.by_name.get(key, [])) == 1}


def _found(*, index: contact_selectors.AccountIndex, name: str, domain: str) -> list[int]:
    """The accounts a company cell names: the one account with the domain, else every account with the name."""
    if domain and len(index.by_domain.get(domain, [])) == 1:
        return index.by_domain[domain]
    return index.by_name.get(name_key(name), [])


def preview_notes(*, rows: list[tuple[int, list[Cell]]], targets: list[str], kind: str, create: bool) -> None:
    """Say beside each previewed account name what the import will do with it (link, create, update or not)."""
    accounts = kind == ImportKind.ACCOUNTS
    name_target, domain_target = ("name", "domain") if accounts else ("account", "account_domain")
    if name_target not in targets:
        return
    index = contact_selectors.account_index()
    for _, cells in rows:
        cell = cells[targets.index(name_target)]
        if not cell.shown:
            continue
        domain = cells[targets.index(domain_target)].shown if domain_target in targets else ""
        found = _found(index=index, name=cell.shown, domain=domain)
        if len(found) > 1:
            if accounts:  # an account import cannot tell which to update: the row is skipped
                cell.error = f"{len(found)} accounts have this name: the row is skipped."
            else:
                cell.note = f"{len(found)} accounts have this name: not linked"
        elif found:
            cell.note = "updates the existing account" if accounts else "existing account"
        elif accounts or create:
            cell.note = "new account"
        else:
            cell.note = "no such account: not linked"


def slice_link(
    *,
    job: ImportJob,
    links: Links | None,
    rows: list[CheckedRow],
    outcomes: list[contact_services.UpsertOutcome],
    bulk: bool,
    now: datetime | None = None,
) -> list[contact_services.UpsertOutcome]:
    """Link one slice's contacts (in the slice's transaction); returns the outcomes with the account changes."""
    if links is None or not links.by_line:
        return outcomes
    new_keys = sorted({t for r in rows if isinstance(t := links.by_line.get(r.line), str) and t not in links.created})
    if new_keys:
        # The accounts were matched when the file was checked; one of these names may have been created since (a
        # person, the API, another import): linked, not created (and not undone with this import).
        links.created.update(accounts_named_now(keys=new_keys))
        new_keys = [key for key in new_keys if key not in links.created]
    if new_keys:
        made = contact_services.accounts_upsert(
            rows=[contact_services.AccountUpsert(None, links.to_create[key]) for key in new_keys], bulk=bulk
        )
        links.created.update(zip(new_keys, (o.contact_id for o in made), strict=True))
        ImportedAccount.objects.bulk_create(
            [ImportedAccount(job=job, account_id=o.contact_id, outcome=o.outcome) for o in made], batch_size=1000
        )
        ImportJob.objects.filter(pk=job.pk).update(accounts_created=F("accounts_created") + len(made))
    wanted: dict[int, int] = {}
    for row, outcome in zip(rows, outcomes, strict=True):
        target = links.by_line.get(row.line)
        if target is not None:
            wanted[outcome.contact_id] = target if isinstance(target, int) else links.created[target]
    if not wanted:
        return outcomes
    previous = contact_services.contacts_link_accounts(links=wanted, bulk=bulk, now=now)
    result = []
    for outcome in outcomes:
        if outcome.contact_id in previous and outcome.outcome != "created":
            before = {**(outcome.previous or {}), "account": previous[outcome.contact_id]}
            outcome = contact_services.UpsertOutcome(outcome.contact_id, "updated", before)
        result.append(outcome)
    return result
