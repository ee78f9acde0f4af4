"""Accounts: create, update, delete, add and remove contacts."""


from __future__ import annotations

from collections.abc import Iterable
from typing import Unpack

from django.db import transaction
from django.utils import timezone

from contacts.models import (
    Account,
    Contact,
)
from contacts.services.contacts import contacts_assign_account
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
