"""Contacts: create, update, delete, assign to an account, and upsert in bulk (imports, the API)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, NamedTuple, Unpack, cast

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Field
from django.utils import timezone

from contacts import custom_fields, selectors
from contacts.in_list import in_values
from contacts.models import (
    Account,
    Contact,
    ContactField,
)
from contacts.services import bulk as bulk_writes
from contacts.services.fields import CONTACT_FIELDS, DUPLICATE_EMAIL_MESSAGE, ContactFields
from contacts.signals import ChangeReason, send_contacts_changed

# --- contacts ----------------------------------------------------------------------------------


def _normalize_email(email: str | None) -> str | None:
    email = (email or "").strip()
    return email or None


def _check_email_free(*, email: str | None, exclude_pk: int | None = None) -> None:
    if selectors.contact_email_taken(email=email, exclude_pk=exclude_pk):
        raise ValidationError({"email": DUPLICATE_EMAIL_MESSAGE})


KEPT = ("id", "last_activity_at")  # columns a contact's save never writes back


def _save_contact(contact: Contact) -> None:
    """Validate the standard fields and save; a lost race on the unique email becomes a ValidationError."""
    contact.full_clean(exclude=["custom", "merged_into"], validate_constraints=False)
    # TRICKY: never `last_activity_at` from an instance read earlier: the fold may have raised it since
    # (contacts.services.last_activity), and writing the old value back would lower the newest activity time.
    fields = None if contact._state.adding else [f.name for f in Contact._meta.concrete_fields if f.name not in KEPT]
    try:
        with transaction.atomic():
            contact.save(update_fields=fields)
    except IntegrityError as exc:
        if "email" in str(exc).lower():
            raise ValidationError({"email": DUPLICATE_EMAIL_MESSAGE}) from exc
        raise


def _apply_custom(*, contact: Contact, custom: Mapping[str, Any] | None) -> None:
    if custom is None:
        return
    fields = list(ContactField.objects.active())
    known = {f.code for f in fields}
    unknown = sorted(set(custom) - known)
    if unknown:
        raise ValidationError(dict.fromkeys(unknown, "There is no active custom field with this code."))
    contact.custom = custom_fields.clean_custom(values=dict(custom), fields=fields, existing=contact.custom)


@transaction.atomic
def contact_create(*, custom: Mapping[str, Any] | None = None, **fields: Unpack[ContactFields]) -> Contact:
    """Create a contact from standard fields and custom values (code → value); ValidationError if invalid."""
    unknown = set(fields) - set(CONTACT_FIELDS)
    if unknown:
        raise TypeError(f"contact_create() got unexpected fields: {', '.join(sorted(unknown))}")
    fields["email"] = _normalize_email(fields.get("email"))
    _check_email_free(email=fields["email"])
    contact = Contact(**fields)
    # Required custom fields must be checked on create even when the caller sends no value for them.
    values = {f.code: None for f in ContactField.objects.active().filter(required=True)}
    values.update(custom or {})
    _apply_custom(contact=contact, custom=values)
    _save_contact(contact)
    send_contacts_changed(contact_ids=[contact.pk], reason=ChangeReason.CREATED)
    return contact


@transaction.atomic
def contact_update(
    *, contact: Contact, custom: Mapping[str, Any] | None = None, **fields: Unpack[ContactFields]
) -> Contact:
    """Change the given standard fields and custom values of a contact; ValidationError if invalid."""
    unknown = set(fields) - set(CONTACT_FIELDS)
    if unknown:
        raise TypeError(f"contact_update() got unexpected fields: {', '.join(sorted(unknown))}")
    if "email" in fields:
        fields["email"] = _normalize_email(fields["email"])
        _check_email_free(email=fields["email"], exclude_pk=contact.pk)
    account_changed = "account" in fields and fields["account"] != contact.account
    for name, value in fields.items():
        setattr(contact, name, value)
    _apply_custom(contact=contact, custom=custom)
    _save_contact(contact)
    reason = ChangeReason.ACCOUNT if account_changed and len(fields) == 1 and custom is None else ChangeReason.UPDATED
    send_contacts_changed(contact_ids=[contact.pk], reason=reason)
    return contact


# --- contacts in bulk (imports, the API's bulk upsert) --------------------------------------------

UPSERT_BATCH = 1000  # contacts per INSERT / UPDATE statement (and emails per lookup)
# Standard fields an upsert may fill (the email identifies the contact; accounts are linked apart).
UPSERT_FIELDS = ("first_name", "last_name", "phone", "country", "city", "job_title", "lead_score")
_UPSERT_READ = ("id", *UPSERT_FIELDS, "custom", "updated_at")  # an existing contact's fields that an upsert uses


class ContactUpsert(NamedTuple):
    """One contact to create or update by email, with values already typed and checked by the caller."""

    email: str | None  # None: a new anonymous contact
    fields: dict[str, Any]  # UPSERT_FIELDS → value; absent fields are left as they are
    custom: dict[str, Any]  # custom field code → canonical value (contacts.custom_fields' stored form)


class UpsertOutcome(NamedTuple):
    """What happened to one ContactUpsert (same order as given): its contact, and the values it replaced."""

    contact_id: int
    outcome: str  # "created", "updated" or "unchanged"
    previous: dict[str, Any] | None  # updated: field → old value; "custom": {code: old value or None}


def _live_ids(ids: set[int]) -> dict[int, int]:
    """Each contact id → the contact it is (through chains) merged into, or itself when it is not merged."""
    parent = dict(Contact.objects.filter(pk__in=in_values(ids)).values_list("pk", "merged_into_id"))
    result = {}
    for pk in ids:
        seen, current = {pk}, pk
        while parent.get(current):
            current = parent[current]  # type: ignore[assignment]
            if current in seen:  # pragma: no cover - a cycle cannot be created through the services
                break
            seen.add(current)
            if current not in parent:
                parent.update(Contact.objects.filter(pk=current).values_list("pk", "merged_into_id"))
        result[pk] = current
    return result


@transaction.atomic
def contacts_upsert(
    *, rows: Sequence[ContactUpsert], now: dt.datetime | None = None, bulk: bool = False
) -> list[UpsertOutcome]:
    """Create or update contacts by email (compared case-insensitively, trimmed) in bulk; one outcome per row.

    The caller has typed and checked the values (imports do, per row, before anything is written) and
    merged rows with the same email. A row matching a merged contact updates the contact it was merged
    into. Contacts whose values would not change are not written. One contacts_changed for all (`bulk`:
    these rows are one slice of a big import).
    """
    now = now or timezone.now()
    keys = [(row.email or "").strip().lower() or None for row in rows]
    named = [k for k in keys if k]
    if len(named) != len(set(named)):
        raise ValueError("contacts_upsert() needs each email once: merge rows with the same email first")
    allowed = frozenset(UPSERT_FIELDS) - {"email"}
    for row in rows:
        if not allowed.issuperset(row.fields):
            unknown = set(row.fields) - allowed
            raise TypeError(f"contacts_upsert() got unexpected fields: {', '.join(sorted(unknown))}")
    found = selectors.contact_ids_by_email(emails=named)
    live = _live_ids({pk for pk, _ in found.values()})
    existing_ids = {live[pk] for pk, _ in found.values()}
    existing: dict[int, Contact] = {}
    ids = sorted(existing_ids)
    for start in range(0, len(ids), UPSERT_BATCH):
        existing.update(
            (c.pk, c)
            for c in Contact.objects.filter(pk__in=in_values(ids[start : start + UPSERT_BATCH]))
            .only(*_UPSERT_READ)  # what is compared and written below: half the fields, half the cost
            .order_by()
        )

    outcomes: list[UpsertOutcome | None] = [None] * len(rows)
    to_create: list[tuple[int, dict[str, Any]]] = []
    to_update: dict[int, Contact] = {}
    changed_fields: set[str] = set()
    for index, (row, key) in enumerate(zip(rows, keys, strict=True)):
        contact = existing.get(live[found[key][0]]) if key in found else None
        if contact is None:
            new = {"email": (row.email or "").strip() or None, "custom": dict(row.custom), **row.fields}
            new["created_at"] = new["updated_at"] = now
            to_create.append((index, new))
            continue
        previous: dict[str, Any] = {}
        for name, value in row.fields.items():
            old = getattr(contact, name)
            if old != value:
                # As stored (JSON-safe): a country is a django-countries Country object, recorded as its code.
                previous[name] = cast(Field, Contact._meta.get_field(name)).get_prep_value(old)
                setattr(contact, name, value)
        old_custom = contact.custom or {}
        custom_changes = {code: old_custom.get(code) for code, v in row.custom.items() if old_custom.get(code) != v}
        if custom_changes:
            previous["custom"] = custom_changes
            contact.custom = {**old_custom, **row.custom}
        if previous:
            changed_fields |= set(previous)
            contact.updated_at = now
            to_update[contact.pk] = contact
        outcomes[index] = UpsertOutcome(contact.pk, "updated" if previous else "unchanged", previous or None)
    try:
        with transaction.atomic():
            created = bulk_writes.contacts_rows_insert(rows=[values for _, values in to_create])
    except IntegrityError as exc:  # another writer took one of the emails since the lookup
        raise ValidationError({"email": DUPLICATE_EMAIL_MESSAGE}) from exc
    for (index, _), pk in zip(to_create, created, strict=True):
        outcomes[index] = UpsertOutcome(pk, "created", None)
    bulk_writes.contacts_columns_write(contacts=list(to_update.values()), names=sorted(changed_fields | {"updated_at"}))
    send_contacts_changed(
        contact_ids=[*created, *to_update],
        reason=ChangeReason.CREATED if created else ChangeReason.UPDATED,
        bulk=bulk,
    )
    return [o for o in outcomes if o is not None]


@transaction.atomic
def contacts_restore(
    *, previous: Mapping[int, Mapping[str, Any]], now: dt.datetime | None = None, bulk_change: bool = False
) -> int:
    """Put back the values an upsert replaced (`UpsertOutcome.previous` by contact id); returns how many changed.

    A custom value recorded as None was absent: its key is removed. Contacts gone since are skipped (the
    caller, an import's undo, refuses those first). One contacts_changed for all (`bulk_change`: very many).
    """
    now = now or timezone.now()
    ids = sorted(previous)
    contacts: list[Contact] = []
    names: set[str] = set()
    for start in range(0, len(ids), UPSERT_BATCH):
        for contact in Contact.objects.filter(pk__in=ids[start : start + UPSERT_BATCH]).order_by("pk"):
            for name, value in previous[contact.pk].items():
                if name == "custom":
                    custom = dict(contact.custom or {})
                    for code, old in value.items():
                        if old is None:
                            custom.pop(code, None)
                        else:
                            custom[code] = old
                    contact.custom = custom
                elif name in UPSERT_FIELDS:
                    setattr(contact, name, value)
                elif name == "account":  # an import linked it to an account by a company column
                    contact.account_id = value
                    name = "account"  # the field (its column is account_id)
                else:
                    raise TypeError(f"contacts_restore() got unexpected field: {name}")
                names.add(name)
            contact.updated_at = now
            contacts.append(contact)
    bulk_writes.contacts_columns_write(contacts=contacts, names=sorted(names | {"updated_at"}))
    send_contacts_changed(contact_ids=[c.pk for c in contacts], reason=ChangeReason.UPDATED, bulk=bulk_change)
    return len(contacts)


def _with_merged_descendants(ids: Iterable[int]) -> set[int]:
    """The given ids plus every contact merged (directly or through a chain) into them."""
    result = set(ids)
    frontier = set(result)
    while frontier:
        children = set(Contact.objects.filter(merged_into__in=frontier).values_list("pk", flat=True)) - result
        result |= children
        frontier = children
    return result


@transaction.atomic
def contacts_delete(*, contact_ids: Iterable[int], bulk: bool = False) -> int:
    """Delete contacts (and the contacts merged into them); returns how many contacts were deleted.

    `bulk`: one part of a delete of very many contacts (an import's undo): noted as such for the groups.
    """
    ids = _with_merged_descendants(contact_ids)
    ids &= set(Contact.objects.filter(pk__in=ids).values_list("pk", flat=True))
    Contact.objects.filter(pk__in=ids).delete()
    send_contacts_changed(contact_ids=ids, reason=ChangeReason.DELETED, bulk=bulk)
    return len(ids)


def contact_delete(*, contact: Contact) -> int:
    """Delete one contact and the contacts merged into it; returns how many contacts were deleted."""
    return contacts_delete(contact_ids=[contact.pk])


@transaction.atomic
def contacts_assign_account(*, contact_ids: Iterable[int], account: Account | None) -> int:
    """Link the given contacts to `account` (None unlinks them); returns how many changed."""
    ids = list(
        Contact.objects.filter(pk__in=list(contact_ids)).exclude(account=account).values_list("pk", flat=True)
        if account is not None
        else Contact.objects.filter(pk__in=list(contact_ids), account__isnull=False).values_list("pk", flat=True)
    )
    Contact.objects.filter(pk__in=ids).update(account=account, updated_at=timezone.now())
    send_contacts_changed(contact_ids=ids, reason=ChangeReason.ACCOUNT)
    return len(ids)
