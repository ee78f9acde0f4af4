"""Accounts: create, update, delete, add and remove contacts; upsert accounts and link contacts in bulk (imports)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, NamedTuple, Unpack, cast

from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import Field
from django.utils import timezone

from config.database import sql_datetime
from contacts.models import (
    Account,
    Contact,
)
from contacts.services.contacts import UPSERT_BATCH, UpsertOutcome, contacts_assign_account
from contacts.services.fields import ACCOUNT_FIELDS, AccountFields
from contacts.signals import ChangeReason, send_contacts_changed

# --- accounts ----------------------------------------------------------------------------------


def _save_account(account: Account) -> None:
    account.full_clean()
    account.save()


@transaction.atomic
def account_create(**fields: Unpack[AccountFields]) -> Account:
    """Create an account from its fields (name, domain, industry, country, employees)."""
    unknown = set(fields) - set(ACCOUNT_FIELDS)
    if unknown:
        raise TypeError(f"account_create() got unexpected fields: {', '.join(sorted(unknown))}")
    account = Account(**fields)
    _save_account(account)
    return account


@transaction.atomic
def account_update(*, account: Account, **fields: Unpack[AccountFields]) -> Account:
    """Change the given fields of an account; its contacts are told (reason "account")."""
    unknown = set(fields) - set(ACCOUNT_FIELDS)
    if unknown:
        raise TypeError(f"account_update() got unexpected fields: {', '.join(sorted(unknown))}")
    for name, value in fields.items():
        setattr(account, name, value)
    _save_account(account)
    # Rules can test account.<field>: the account's contacts may now match different groups.
    send_contacts_changed(
        contact_ids=Contact.objects.filter(account=account).values_list("pk", flat=True),
        reason=ChangeReason.ACCOUNT,
    )
    return account


@transaction.atomic
def account_delete(*, account: Account) -> int:
    """Delete an account; its contacts are kept, unlinked. Returns how many contacts were unlinked."""
    ids = list(Contact.objects.filter(account=account).values_list("pk", flat=True))
    Contact.objects.filter(pk__in=ids).update(account=None, updated_at=timezone.now())
    account.delete()
    send_contacts_changed(contact_ids=ids, reason=ChangeReason.ACCOUNT)
    return len(ids)


def account_add_contacts(*, account: Account, contact_ids: Iterable[int]) -> int:
    """Link contacts to an account; returns how many were not linked to it before."""
    return contacts_assign_account(contact_ids=contact_ids, account=account)


@transaction.atomic
def account_remove_contact(*, account: Account, contact: Contact) -> bool:
    """Unlink one contact from an account; False when it was not linked to it."""
    changed = Contact.objects.filter(pk=contact.pk, account=account).update(account=None, updated_at=timezone.now())
    if changed:
        contact.account = None
        send_contacts_changed(contact_ids=[contact.pk], reason=ChangeReason.ACCOUNT)
    return bool(changed)


# --- accounts and account links in bulk (imports) ------------------------------------------------

# The namespace of the account matching lock (PostgreSQL advisory lock; the groups' locks use 0x5E6_0001).
ACCOUNT_MATCH_LOCK = (0x5E6_0002, 0)


def accounts_match_lock() -> None:
    """Hold the account-matching lock until the transaction ends (PostgreSQL; SQLite serialises writers anyway).

    An API upsert matches an account by name (or domain), then creates it when none matched: two requests naming
    the same new account at once would both create it. Each takes this lock before its matching read, so the
    second one matches the account the first created. Imports match again under it when a slice would create
    accounts (transfers.imports.accounts / account_links). Account upserts are few: one lock for all is enough.
    """
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", ACCOUNT_MATCH_LOCK)


class AccountUpsert(NamedTuple):
    """One account to create (account_id None) or update, with values already typed and checked by the caller."""

    account_id: int | None
    fields: dict[str, Any]  # ACCOUNT_FIELDS → value; absent fields are left as they are (a new account needs a name)


@transaction.atomic
def accounts_upsert(*, rows: Sequence[AccountUpsert], bulk: bool = False) -> list[UpsertOutcome]:
    """Create or update accounts in bulk; one outcome per row (same order). Accounts that would not change are
    not written; the contacts of changed accounts are told once (reason "account", `bulk` for an import's slice).
    """
    for row in rows:
        unknown = set(row.fields) - set(ACCOUNT_FIELDS)
        if unknown:
            raise TypeError(f"accounts_upsert() got unexpected fields: {', '.join(sorted(unknown))}")
        if row.account_id is None and not str(row.fields.get("name") or "").strip():
            raise ValidationError({"name": "A new account needs a name."})
    existing = Account.objects.in_bulk([r.account_id for r in rows if r.account_id is not None])
    missing = {r.account_id for r in rows if r.account_id is not None} - set(existing)
    if missing:
        raise ValidationError("An account to update was deleted meanwhile; import the file again.")
    outcomes: list[UpsertOutcome | None] = [None] * len(rows)
    to_create: list[tuple[int, Account]] = []
    to_update: dict[int, Account] = {}
    changed_fields: set[str] = set()
    for index, row in enumerate(rows):
        if row.account_id is None:
            to_create.append((index, Account(**row.fields)))
            continue
        account = existing[row.account_id]
        previous: dict[str, Any] = {}
        for name, value in row.fields.items():
            old = getattr(account, name)
            if old != value:
                previous[name] = cast(Field, Account._meta.get_field(name)).get_prep_value(old)
                setattr(account, name, value)
        if previous:
            changed_fields |= set(previous)
            to_update[account.pk] = account
        outcomes[index] = UpsertOutcome(account.pk, "updated" if previous else "unchanged", previous or None)
    created = Account.objects.bulk_create([a for _, a in to_create], batch_size=UPSERT_BATCH)
    for (index, _), account in zip(to_create, created, strict=True):
        outcomes[index] = UpsertOutcome(account.pk, "created", None)
    if to_update:
        Account.objects.bulk_update(list(to_update.values()), fields=sorted(changed_fields), batch_size=UPSERT_BATCH)
        # Rules can test account.<field>: the contacts of the changed accounts may now match different groups.
        send_contacts_changed(
            contact_ids=Contact.objects.filter(account_id__in=list(to_update)).values_list("pk", flat=True),
            reason=ChangeReason.ACCOUNT,
            bulk=bulk,
        )
    return [o for o in outcomes if o is not None]


@transaction.atomic
def contacts_link_accounts(
    *, links: Mapping[int, int], bulk: bool = False, now: dt.datetime | None = None
) -> dict[int, int | None]:
    """Link each contact to an account (contact id → account id) in bulk, as editing each contact's account would:
    one contacts_changed (reason "account"), so rules and the groups holding the accounts follow.

    Returns the contacts whose account changed, with the account id each had before (None: no account).
    `now`: their updated_at (an import gives every contact of a slice one instant, which its undo compares).
    """
    current: dict[int, int | None] = {}
    ids = sorted(links)
    for start in range(0, len(ids), UPSERT_BATCH):
        current.update(Contact.objects.filter(pk__in=ids[start : start + UPSERT_BATCH]).values_list("pk", "account_id"))
    changed = {pk: old for pk, old in current.items() if old != links[pk]}
    now = now or timezone.now()
    pairs = [(pk, links[pk]) for pk in sorted(changed)]
    for start in range(0, len(pairs), UPSERT_BATCH):
        _accounts_set(pairs=pairs[start : start + UPSERT_BATCH], now=now)
    send_contacts_changed(contact_ids=changed, reason=ChangeReason.ACCOUNT, bulk=bulk)
    return changed


def _accounts_set(*, pairs: Sequence[tuple[int, int]], now: dt.datetime) -> None:
    """Set each (contact id, account id) pair's account in one UPDATE joined to a VALUES list.

    TRICKY: not bulk_update: its CASE WHEN with a branch per row took ~17 ms a row on PostgreSQL (1,000 rows a
    statement); the join is one pass. `WITH … UPDATE … FROM` is valid on PostgreSQL and SQLite ≥ 3.33.
    """
    if not pairs:
        return
    table = connection.ops.quote_name(Contact._meta.db_table)
    values = ", ".join(["(%s, %s)"] * len(pairs))
    sql = (
        f"WITH v (contact_id, account_id) AS (VALUES {values}) "
        f"UPDATE {table} SET account_id = v.account_id, updated_at = %s FROM v WHERE {table}.id = v.contact_id"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [value for pair in pairs for value in pair] + [sql_datetime(now)])
