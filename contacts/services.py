"""Writes to contacts, accounts, activities and consents (HackSoft-style services).

Every function is keyword-only and atomic. Nothing here imports `segments`: contact groups learn of
changes through `contacts.signals.contacts_changed`, sent once per call on commit with every affected id.
Custom field values are validated by `contacts.custom_fields` (the one place that knows their types).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from typing import Any, NamedTuple, TypedDict, Unpack, cast

from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.db.models import Field, Max, OuterRef, Subquery
from django.db.models.functions import Greatest
from django.utils import timezone

from contacts import custom_fields, selectors
from contacts.models import (
    LAST_ACTIVITY_OR_NEVER,
    Account,
    Activity,
    ActivityType,
    Consent,
    Contact,
    ContactConsent,
    ContactField,
)
from contacts.signals import ChangeReason, send_contacts_changed

# Standard contact fields a service may set (`custom`, `merged_into` and timestamps are handled apart).
CONTACT_FIELDS = ("email", "first_name", "last_name", "phone", "country", "city", "job_title", "lead_score", "account")
# Fields copied from a merged contact into its parent when the parent's own value is empty.
MERGE_FILL_FIELDS = ("first_name", "last_name", "phone", "country", "city", "job_title", "account")
ACCOUNT_FIELDS = ("name", "domain", "industry", "country", "employees")


class ContactFields(TypedDict, total=False):
    """The standard contact fields a service may set (CONTACT_FIELDS), typed."""

    email: str | None
    first_name: str
    last_name: str
    phone: str
    country: str
    city: str
    job_title: str
    lead_score: int
    account: Account | None


class AccountFields(TypedDict, total=False):
    """The account fields a service may set (ACCOUNT_FIELDS), typed."""

    name: str
    domain: str
    industry: str
    country: str
    employees: int | None


class ActivityFields(TypedDict, total=False):
    """What one recorded activity may carry besides its contact and type."""

    occurred_at: dt.datetime
    url: str
    title: str
    value: Decimal | None
    campaign_id: int | None
    data: dict[str, Any]

DUPLICATE_EMAIL_MESSAGE = "Another contact already uses this email address."


class MergeError(ValueError):
    """A merge that must not happen (the message says why, for the user)."""


# --- activities --------------------------------------------------------------------------------
# TRICKY: the rule engine answers "did any activity in the last N days" from Contact.last_activity_at
# (segments.rules.compiler.last_activity_forms), so it must equal the newest occurred_at of the contact's
# activities — future-dated ones included. Every activity is therefore written here and nowhere else
# (tests/contacts/test_activity_writes.py scans the code for other writers).

ACTIVITY_BATCH = 1000  # rows per INSERT (Django lowers it where the database's parameter limit needs: SQLite)


class ActivityRow(NamedTuple):
    """One activity to record (the Activity fields by name; far lighter than a model instance)."""

    contact_id: int
    type: str
    occurred_at: dt.datetime
    url: str = ""
    title: str = ""
    value: Decimal | None = None
    data: dict[str, Any] | None = None
    campaign_id: int | None = None


def contacts_refresh_last_activity(*, contact_ids: Iterable[int] | None = None) -> int:
    """Set `Contact.last_activity_at` to the newest activity time (set-based); returns rows updated."""
    qs = Contact.objects.all()
    if contact_ids is not None:
        qs = qs.filter(pk__in=list(contact_ids))
    return qs.update(last_activity_at=_newest_activity())


def _newest_activity() -> Subquery:
    """The newest occurred_at of the outer contact's activities, NULL without any (an index probe per contact)."""
    return Subquery(
        Activity.objects.filter(contact=OuterRef("pk"))
        .order_by()
        .values("contact")
        .annotate(newest=Max("occurred_at"))
        .values("newest")
    )


def _activities_written(*, contact_ids: Iterable[int]) -> None:
    """After activities were inserted for these contacts: raise their `last_activity_at`, note the change."""
    ids = sorted(set(contact_ids))
    # One UPDATE for all of them: the greater of the current value and the newest activity, never lower.
    # TRICKY: GREATEST over the row's *current* value, not a plain "set to the newest": on PostgreSQL
    # a concurrent writer's UPDATE of the same contact re-evaluates it against the committed row, so two
    # transactions recording activities for one contact can never lower it (the subquery's snapshot
    # cannot see the other's rows). Coalesced with NEVER: SQLite's MAX() is NULL if an argument is.
    Contact.objects.filter(pk__in=ids).update(last_activity_at=Greatest(LAST_ACTIVITY_OR_NEVER, _newest_activity()))
    send_contacts_changed(contact_ids=ids, reason=ChangeReason.ACTIVITY)


def _activities_write(*, activities: list[Activity]) -> list[Activity]:
    """Insert validated activities (one INSERT per ACTIVITY_BATCH rows) and keep their contacts current."""
    if not activities:
        return []
    created = Activity.objects.bulk_create(activities, batch_size=ACTIVITY_BATCH)
    _activities_written(contact_ids=(activity.contact_id for activity in activities))
    return created


@transaction.atomic
def activity_record(*, contact: Contact, type: str, **fields: Unpack[ActivityFields]) -> Activity:
    """Record one activity for a contact and keep its `last_activity_at` current."""
    activity = Activity(contact=contact, type=type, **fields)
    activity.full_clean(exclude=["contact", "campaign"])
    return _activities_write(activities=[activity])[0]


@transaction.atomic
def activities_record(*, rows: Iterable[ActivityRow]) -> list[Activity]:
    """Record many activities (any contacts) at once; ValidationError naming the row if one is invalid."""
    activities = []
    for index, row in enumerate(rows):
        activity = Activity(**{**row._asdict(), "data": row.data or {}})
        try:
            activity.full_clean(exclude=["contact", "campaign"])
        except ValidationError as exc:
            errors = {f"rows[{index}].{name}": messages for name, messages in exc.message_dict.items()}
            raise ValidationError(errors) from exc
        activities.append(activity)
    wanted = {activity.contact_id for activity in activities}
    missing = wanted - set(Contact.objects.filter(pk__in=wanted).values_list("pk", flat=True))
    if missing:
        raise ValidationError({"rows": f"No contact with id {', '.join(map(str, sorted(missing)))}."})
    return _activities_write(activities=activities)


@transaction.atomic
def activities_load(*, rows: Iterable[ActivityRow], batch_size: int = 10_000) -> int:
    """Record very many checked rows (their contacts exist) fast, for seeds and large imports; returns how many."""
    # TRICKY: not bulk_create. For 100k rows it builds and validates a model instance per row and, on
    # SQLite, compiles a fresh multi-row INSERT for every ~120 rows (its parameter limit): 3x the whole
    # demo seed. Here: COPY on PostgreSQL, one prepared executemany otherwise; types are still checked.
    meta = Activity._meta
    columns = ["contact", "type", "occurred_at", "url", "title", "value", "campaign", "data"]
    qn = connection.ops.quote_name
    concrete = {f.name: f for f in meta.concrete_fields}
    column_list = ", ".join(qn(str(concrete[name].column)) for name in columns)
    value_field, data_field = concrete["value"], concrete["data"]
    empty_data = data_field.get_db_prep_save({}, connection)
    ops = connection.ops
    types = set(ActivityType.values)
    contact_ids: set[int] = set()

    def prepared(row: ActivityRow) -> tuple[Any, ...]:
        if row.type not in types:
            raise ValidationError({"type": f"Unknown activity type “{row.type}”."})
        contact_ids.add(row.contact_id)
        return (
            row.contact_id,
            row.type,
            ops.adapt_datetimefield_value(row.occurred_at),
            row.url,
            row.title,
            None if row.value is None else value_field.get_db_prep_save(row.value, connection),
            row.campaign_id,
            empty_data if not row.data else data_field.get_db_prep_save(row.data, connection),
        )

    total = 0
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            with cursor.cursor.copy(f"COPY {qn(meta.db_table)} ({column_list}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(prepared(row))
                    total += 1
        else:
            sql = f"INSERT INTO {qn(meta.db_table)} ({column_list}) VALUES ({', '.join(['%s'] * len(columns))})"
            batch: list[tuple[Any, ...]] = []
            for row in rows:
                batch.append(prepared(row))
                if len(batch) >= batch_size:
                    cursor.executemany(sql, batch)
                    total += len(batch)
                    batch = []
            if batch:
                cursor.executemany(sql, batch)
                total += len(batch)
    _activities_written(contact_ids=contact_ids)
    return total


# --- contacts ----------------------------------------------------------------------------------


def _normalize_email(email: str | None) -> str | None:
    email = (email or "").strip()
    return email or None


def _check_email_free(*, email: str | None, exclude_pk: int | None = None) -> None:
    if selectors.contact_email_taken(email=email, exclude_pk=exclude_pk):
        raise ValidationError({"email": DUPLICATE_EMAIL_MESSAGE})


def _save_contact(contact: Contact) -> None:
    """Validate the standard fields and save; a lost race on the unique email becomes a ValidationError."""
    contact.full_clean(exclude=["custom", "merged_into"], validate_constraints=False)
    try:
        with transaction.atomic():
            contact.save()
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
    parent = dict(Contact.objects.filter(pk__in=ids).values_list("pk", "merged_into_id"))
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
    for row in rows:
        unknown = (set(row.fields) - set(UPSERT_FIELDS)) | ({"email"} & set(row.fields))
        if unknown:
            raise TypeError(f"contacts_upsert() got unexpected fields: {', '.join(sorted(unknown))}")
    found = selectors.contact_ids_by_email(emails=named)
    live = _live_ids({pk for pk, _ in found.values()})
    existing_ids = {live[pk] for pk, _ in found.values()}
    existing: dict[int, Contact] = {}
    ids = sorted(existing_ids)
    for start in range(0, len(ids), UPSERT_BATCH):
        existing.update(Contact.objects.in_bulk(ids[start : start + UPSERT_BATCH]))

    outcomes: list[UpsertOutcome | None] = [None] * len(rows)
    to_create: list[tuple[int, Contact]] = []
    to_update: dict[int, Contact] = {}
    changed_fields: set[str] = set()
    for index, (row, key) in enumerate(zip(rows, keys, strict=True)):
        contact = existing.get(live[found[key][0]]) if key in found else None
        if contact is None:
            new = Contact(email=(row.email or "").strip() or None, custom=dict(row.custom), **row.fields)
            new.created_at = new.updated_at = now
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
            created = Contact.objects.bulk_create([c for _, c in to_create], batch_size=UPSERT_BATCH)
    except IntegrityError as exc:  # another writer took one of the emails since the lookup
        raise ValidationError({"email": DUPLICATE_EMAIL_MESSAGE}) from exc
    for (index, _), contact in zip(to_create, created, strict=True):
        outcomes[index] = UpsertOutcome(contact.pk, "created", None)
    if to_update:
        Contact.objects.bulk_update(
            list(to_update.values()), fields=sorted(changed_fields | {"updated_at"}), batch_size=UPSERT_BATCH
        )
    send_contacts_changed(
        contact_ids=[c.pk for c in created] + list(to_update),
        reason=ChangeReason.CREATED if created else ChangeReason.UPDATED,
        bulk=bulk,
    )
    return [o for o in outcomes if o is not None]


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
def contacts_delete(*, contact_ids: Iterable[int]) -> int:
    """Delete contacts (and the contacts merged into them); returns how many contacts were deleted."""
    ids = _with_merged_descendants(contact_ids)
    ids &= set(Contact.objects.filter(pk__in=ids).values_list("pk", flat=True))
    Contact.objects.filter(pk__in=ids).delete()
    send_contacts_changed(contact_ids=ids, reason=ChangeReason.DELETED)
    return len(ids)


def contact_delete(*, contact: Contact) -> int:
    """Delete one contact and the contacts merged into it; returns how many contacts were deleted."""
    return contacts_delete(contact_ids=[contact.pk])


@transaction.atomic
def contacts_assign_account(*, contact_ids: Iterable[int], account: Account | None) -> int:
    """Link the given contacts to `account` (None unlinks them); returns how many changed."""
    ids = list(
        Contact.objects.filter(pk__in=list(contact_ids))
        .exclude(account=account)
        .values_list("pk", flat=True)
        if account is not None
        else Contact.objects.filter(pk__in=list(contact_ids), account__isnull=False).values_list("pk", flat=True)
    )
    Contact.objects.filter(pk__in=ids).update(account=account, updated_at=timezone.now())
    send_contacts_changed(contact_ids=ids, reason=ChangeReason.ACCOUNT)
    return len(ids)


# --- consents ----------------------------------------------------------------------------------


@transaction.atomic
def consent_agree(*, contact: Contact, consent: Consent) -> ContactConsent:
    """Record that the contact agrees to `consent` now (a revoked consent is agreed again)."""
    record, created = ContactConsent.objects.select_for_update().get_or_create(contact=contact, consent=consent)
    if not created and record.revoked_at is not None:
        record.agreed_at = timezone.now()
        record.revoked_at = None
        record.save(update_fields=["agreed_at", "revoked_at"])
    send_contacts_changed(contact_ids=[contact.pk], reason=ChangeReason.CONSENT)
    return record


@transaction.atomic
def consent_revoke(*, contact: Contact, consent: Consent) -> ContactConsent | None:
    """Record that the contact revokes `consent` now; None when the contact never agreed to it."""
    record = ContactConsent.objects.select_for_update().filter(contact=contact, consent=consent).first()
    if record is None:
        return None
    if record.revoked_at is None:
        record.revoked_at = timezone.now()
        record.save(update_fields=["revoked_at"])
        send_contacts_changed(contact_ids=[contact.pk], reason=ChangeReason.CONSENT)
    return record


# --- merging -----------------------------------------------------------------------------------


def contact_merge_check(*, parent: Contact, child: Contact) -> None:
    """Raise MergeError when `child` cannot be merged into `parent`."""
    if parent.pk == child.pk:
        raise MergeError("A contact cannot be merged into itself.")
    if parent.merged_into_id == child.pk:
        raise MergeError(f"{parent} is already merged into {child}: merge the other way round instead.")
    if parent.merged_into_id is not None:
        raise MergeError(f"{parent} has been merged into another contact; merge into that contact instead.")
    if child.merged_into_id is not None:
        raise MergeError(f"{child} has already been merged into another contact.")


def contact_merge_plan(*, parent: Contact, child: Contact) -> dict[str, Any]:
    """The parent's field changes a merge makes (name → new value; "custom" is the whole new dict).

    Empty standard and custom fields of the parent are filled from the child (the email moves with it:
    emails are unique); a lead score of 0 counts as empty; the earlier creation date is kept.
    """
    changes: dict[str, Any] = {}
    for name in MERGE_FILL_FIELDS:
        if not getattr(parent, name) and getattr(child, name):
            changes[name] = getattr(child, name)
    if not parent.email and child.email:
        changes["email"] = child.email
    if not parent.lead_score and child.lead_score:
        changes["lead_score"] = child.lead_score
    if child.created_at < parent.created_at:
        changes["created_at"] = child.created_at
    custom = dict(parent.custom or {})
    for code, value in (child.custom or {}).items():
        if custom_fields.is_empty(custom.get(code)) and not custom_fields.is_empty(value):
            custom[code] = value
    if custom != (parent.custom or {}):
        changes["custom"] = custom
    return changes


def _merge_consents(*, parent: Contact, child: Contact) -> None:
    own = {cc.consent_id: cc for cc in ContactConsent.objects.select_for_update().filter(contact=parent)}
    for theirs in ContactConsent.objects.select_for_update().filter(contact=child):
        mine = own.get(theirs.consent_id)
        if mine is None:
            theirs.contact = parent
            theirs.save(update_fields=["contact"])
            continue
        agreed = [cc for cc in (mine, theirs) if cc.revoked_at is None]
        if agreed:  # an agreement wins over a revocation; the earliest agreement is kept
            mine.agreed_at = min(cc.agreed_at for cc in agreed)
            mine.revoked_at = None
        else:
            mine.agreed_at = min(mine.agreed_at, theirs.agreed_at)
            mine.revoked_at = max(mine.revoked_at, theirs.revoked_at)  # type: ignore[type-var]
        mine.save(update_fields=["agreed_at", "revoked_at"])
        theirs.delete()


@transaction.atomic
def contact_merge(*, parent: Contact, child: Contact) -> Contact:
    """Merge `child` into `parent`: move activities and consents, fill the parent's empty fields."""
    # Lock both rows and work on fresh copies so a concurrent merge cannot interleave.
    locked = {c.pk: c for c in Contact.objects.select_for_update().filter(pk__in=[parent.pk, child.pk])}
    if parent.pk not in locked or child.pk not in locked:
        raise MergeError("One of the contacts no longer exists.")
    parent, child = locked[parent.pk], locked[child.pk]
    contact_merge_check(parent=parent, child=child)

    Activity.objects.filter(contact=child).update(contact=parent)
    _merge_consents(parent=parent, child=child)
    regrouped = list(Contact.objects.filter(merged_into=child).values_list("pk", flat=True))
    Contact.objects.filter(pk__in=regrouped).update(merged_into=parent, updated_at=timezone.now())

    changes = contact_merge_plan(parent=parent, child=child)
    if "email" in changes:
        child.email = None  # the address moves to the parent: emails are unique
    child.merged_into = parent
    child.save()
    for name, value in changes.items():
        setattr(parent, name, value)
    parent.save()
    contacts_refresh_last_activity(contact_ids=[parent.pk])
    parent.refresh_from_db(fields=["last_activity_at"])
    send_contacts_changed(contact_ids=[parent.pk, child.pk, *regrouped], reason=ChangeReason.MERGED)
    return parent


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
