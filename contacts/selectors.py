"""Reads for contacts and accounts: base querysets, whitelisted orderings, picker searches, page data.

Orderings are whitelisted and always end with `id`, so every sort is total (stable pagination) and can
walk one of the indexes declared on the model.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from django.db import connection
from django.db.models import Count, F, IntegerField, OrderBy, OuterRef, Q, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce, Lower
from django.utils.formats import date_format

from contacts import custom_fields
from contacts.in_list import in_values
from contacts.models import (
    FAMILY_OR_GIVEN_NAME,
    NAME_MISSING,
    Account,
    Activity,
    Consent,
    Contact,
    ContactConsent,
    ContactField,
    FieldType,
    name_key,
    newest_activity,
)

SEARCH_LIMIT = 20

# sort key → (label, ascending ordering expressions). Descending reverses every expression.
CONTACT_SORTS: dict[str, tuple[str, tuple[Any, ...]]] = {
    "name": ("Name", (NAME_MISSING, FAMILY_OR_GIVEN_NAME, F("first_name"), F("id"))),
    "email": ("Email", (Lower("email"), F("id"))),
    "account": ("Account", (F("account__name"), F("id"))),
    "country": ("Country", (F("country"), F("id"))),
    "lead_score": ("Lead score", (F("lead_score"), F("id"))),
    "created": ("Created", (F("created_at"), F("id"))),
}
CONTACT_DEFAULT_SORT = "-created"

ACCOUNT_SORTS: dict[str, tuple[str, tuple[Any, ...]]] = {
    "name": ("Name", (F("name"), F("id"))),
    "domain": ("Domain", (F("domain"), F("id"))),
    "industry": ("Industry", (F("industry"), F("id"))),
    "country": ("Country", (F("country"), F("id"))),
    "employees": ("Employees", (F("employees"), F("id"))),
    "contacts": ("Contacts", (F("contact_count"), F("id"))),
    "created": ("Created", (F("created_at"), F("id"))),
}
ACCOUNT_DEFAULT_SORT = "name"


def active_custom_fields() -> list[ContactField]:
    """The active custom fields in field-settings order (what forms, filters and pages show)."""
    return list(ContactField.objects.active().order_by("order", "id"))


def parse_sort(value: str | None, *, sorts: dict[str, tuple[str, tuple[Any, ...]]], default: str) -> str:
    """The requested sort ("key" or "-key") when whitelisted, else the default."""
    value = (value or "").strip()
    return value if value.lstrip("-") in sorts else default


def sort_ordering(sort: str, *, sorts: dict[str, tuple[str, tuple[Any, ...]]]) -> list[OrderBy]:
    """ORDER BY expressions for a parsed sort. Empty values sort last ascending and first descending."""
    descending = sort.startswith("-")
    expressions = sorts[sort.lstrip("-")][1]
    if descending:
        return [e.desc(nulls_first=True) for e in expressions]
    return [e.asc(nulls_last=True) for e in expressions]


def contact_queryset(*, include_merged: bool = False) -> QuerySet[Contact]:
    """Contacts for lists: unmerged unless asked, with the account joined for display."""
    qs = Contact.objects.all() if include_merged else Contact.objects.unmerged()
    return qs.select_related("account", "merged_into")


def contact_email_taken(*, email: str | None, exclude_pk: int | None = None) -> bool:
    """True when another contact (merged or not) already uses `email`, compared case-insensitively."""
    if not email:
        return False
    clash = Contact.objects.annotate(email_lower=Lower("email")).filter(email_lower=email.strip().lower())
    if exclude_pk is not None:
        clash = clash.exclude(pk=exclude_pk)
    return clash.exists()


EMAIL_LOOKUP_BATCH = 1000


def contact_ids_by_email(*, emails: Iterable[str]) -> dict[str, tuple[int, int | None]]:
    """Lower-cased, trimmed email → (contact id, merged into) for the contacts using these emails."""
    keys = sorted({e.strip().lower() for e in emails if e and e.strip()})
    found: dict[str, tuple[int, int | None]] = {}
    for start in range(0, len(keys), EMAIL_LOOKUP_BATCH):
        chunk = keys[start : start + EMAIL_LOOKUP_BATCH]
        rows = (
            Contact.objects.annotate(email_key=Lower("email"))
            .filter(email_key__in=in_values(chunk, sql_type="text"))
            .values_list("email_key", "pk", "merged_into_id")
        )
        found.update({key: (pk, merged) for key, pk, merged in rows})
    return found


SEARCH_WORDS = 5


def contacts_newest_activity(*, contact_ids: Iterable[int]) -> dict[int, dt.datetime | None]:
    """Each contact's exact newest activity time (None: no activity): its row's copy or a later rise."""
    rows = Contact.objects.filter(pk__in=in_values(sorted(set(contact_ids)))).values_list("pk", newest_activity())
    return dict(rows)


def contact_sort_key(*, pk: int, ordering: list[OrderBy]) -> list[Any] | None:
    """The values of `ordering`'s keys for contact `pk` (a keyset page's position), or None when it is gone."""
    names = [f"sort_key_{i}" for i in range(len(ordering))]
    row = (
        Contact.objects.filter(pk=pk)
        .annotate(**{name: o.expression for name, o in zip(names, ordering, strict=True)})
        .values_list(*names)
        .first()
    )
    return list(row) if row is not None else None


def search_is_indexed() -> bool:
    """True where trigram indexes serve `contact_search_q` (PostgreSQL: contacts migration 0005), so a
    search can start from the matching contacts; elsewhere it scans."""
    return connection.vendor == "postgresql"


def contact_search_q(value: str) -> Q:
    """Contacts with every word of `value` (the first five) in the first name, last name or email, ignoring
    case: the one search of contacts (the contact list, pickers, a group's members).

    On PostgreSQL each `icontains` is `UPPER(col::text) LIKE UPPER('%word%')`, served by a trigram (GIN)
    index on that very expression (contacts migration 0005): change the lookups and those indexes go unused."""
    condition = Q()
    for word in value.split()[:SEARCH_WORDS]:
        condition &= Q(first_name__icontains=word) | Q(last_name__icontains=word) | Q(email__icontains=word)
    return condition


def contact_search(
    *,
    query: str,
    limit: int = SEARCH_LIMIT,
    exclude_ids: list[int] | None = None,
    exclude_account_id: int | None = None,
) -> list[Contact]:
    """Unmerged contacts whose name or email contains every word of `query` (for pickers)."""
    qs = Contact.objects.unmerged().filter(contact_search_q(query))
    if exclude_ids:
        qs = qs.exclude(pk__in=exclude_ids)
    if exclude_account_id is not None:
        qs = qs.exclude(account_id=exclude_account_id)
    return list(qs.order_by("last_name", "first_name", "id")[:limit])


def contact_picker_label(contact: Contact) -> str:
    """How a contact reads in a picker: name and email, or just one of them."""
    if contact.full_name and contact.email:
        return f"{contact.full_name} <{contact.email}>"
    return contact.display_name


def account_search_q(value: str) -> Q:
    """Accounts with every word of `value` (the first five) in the name or domain, ignoring case: the
    account list's search and the pickers'."""
    condition = Q()
    for word in value.split()[:SEARCH_WORDS]:
        condition &= Q(name__icontains=word) | Q(domain__icontains=word)
    return condition


def account_search(*, query: str, limit: int = SEARCH_LIMIT) -> list[Account]:
    """Accounts whose name or domain contains every word of `query` (for pickers)."""
    return list(Account.objects.filter(account_search_q(query)).order_by("name", "id")[:limit])


def account_picker_label(account: Account) -> str:
    return f"{account.name} ({account.domain})" if account.domain else account.name


def account_queryset() -> QuerySet[Account]:
    """Accounts annotated with `contact_count` (unmerged contacts), counted per row by a subquery."""
    counts = (
        Contact.objects.filter(account=OuterRef("pk"), merged_into__isnull=True)
        .order_by()
        .values("account")
        .annotate(n=Count("pk"))
        .values("n")
    )
    return Account.objects.annotate(contact_count=Coalesce(Subquery(counts, output_field=IntegerField()), Value(0)))


def account_industries() -> list[str]:
    """Distinct non-empty industries of all accounts, sorted (for the industry filter)."""
    return list(Account.objects.exclude(industry="").order_by("industry").values_list("industry", flat=True).distinct())


def account_contacts(*, account: Account) -> QuerySet[Contact]:
    """The unmerged contacts of an account, by name."""
    return Contact.objects.unmerged().filter(account=account).order_by("last_name", "first_name", "id")


# --- contact detail ----------------------------------------------------------------------------


@dataclass(frozen=True)
class CustomValue:
    field: ContactField
    value: Any
    display: str  # custom_fields.display_value: "" when empty

    @property
    def pretty(self) -> str:
        """The display text made easier to read: numbers with digit grouping, dates as "15 Jan 2025"."""
        if not self.display:
            return ""
        if self.field.type == FieldType.NUMBER and isinstance(self.value, int | float):
            return f"{self.value:,}"
        if self.field.type == FieldType.DATE:
            try:
                return date_format(dt.date.fromisoformat(str(self.value)), "j M Y")
            except ValueError:
                return self.display
        return self.display


def contact_custom_values(*, contact: Contact, fields: list[ContactField] | None = None) -> list[CustomValue]:
    """Each active custom field (in field-settings order) with the contact's value and its display text."""
    fields = fields if fields is not None else active_custom_fields()
    custom = contact.custom or {}
    return [
        CustomValue(
            field=f,
            value=custom.get(f.code),
            display=custom_fields.display_value(field=f, value=custom.get(f.code)),
        )
        for f in fields
    ]


@dataclass(frozen=True)
class ConsentStatus:
    consent: Consent
    record: ContactConsent | None

    @property
    def status(self) -> str:
        """ "agreed", "revoked" or "never"."""
        if self.record is None:
            return "never"
        return "agreed" if self.record.revoked_at is None else "revoked"


def contact_consents(*, contact: Contact) -> list[ConsentStatus]:
    """Every defined consent with the contact's record of it (None when never given)."""
    records = {cc.consent_id: cc for cc in ContactConsent.objects.filter(contact=contact)}
    return [ConsentStatus(consent=c, record=records.get(c.pk)) for c in Consent.objects.order_by("name", "id")]


def contact_activities(*, contact: Contact, offset: int = 0, limit: int = 20) -> tuple[list[Activity], bool]:
    """One page of a contact's activities, newest first, and whether more follow."""
    rows = list(
        Activity.objects.filter(contact=contact)
        .select_related("campaign")
        .order_by("-occurred_at", "-id")[offset : offset + limit + 1]
    )
    return rows[:limit], len(rows) > limit


def contact_memberships(*, contact: Contact) -> list[Any]:
    """The contact's contact-group memberships (read through the reverse relation; contacts never imports segments)."""
    return list(contact.memberships.select_related("group").order_by("group__name", "group_id"))  # type: ignore[attr-defined]


# Whether another app is still working out what a contact's change means (segments: re-checks not yet run).
# Registered by those apps (contacts never imports them); the contact page refreshes its groups meanwhile.
_PENDING_CHECKS: list[Callable[[int], bool]] = []


def register_pending_check(check: Callable[[int], bool]) -> None:
    if check not in _PENDING_CHECKS:
        _PENDING_CHECKS.append(check)


def contact_has_pending_work(*, contact: Contact) -> bool:
    """True while a registered app still has to act on a change to this contact (e.g. re-check its groups)."""
    return any(check(contact.pk) for check in _PENDING_CHECKS)


def contact_group_history(*, contact: Contact, limit: int = 20) -> tuple[list[Any], bool]:
    """The contact's newest membership history events (groups joined and left, and why), and whether more exist.

    Read through the reverse relation `membership_events`: contacts never imports segments.
    """
    rows = list(
        contact.membership_events.select_related("group", "actor").order_by("-at", "-id")[: limit + 1]  # type: ignore[attr-defined]
    )
    return rows[:limit], len(rows) > limit


def contact_merged_children(*, contact: Contact) -> list[Contact]:
    """Contacts merged into this one, by name."""
    return list(contact.merged_contacts.order_by("last_name", "first_name", "id"))


@dataclass(frozen=True)
class ContactFootprint:
    """What hangs on a contact: shown before deleting it or merging it away."""

    activities: int
    consents: int
    merged: int


def contact_footprint(*, contact: Contact) -> ContactFootprint:
    return ContactFootprint(
        activities=contact.activities.count(),
        consents=contact.consents.count(),
        merged=contact.merged_contacts.count(),
    )


def contacts_existing_ids(*, ids: list[int]) -> list[int]:
    """The given ids that belong to existing contacts, sorted."""
    return sorted(Contact.objects.filter(pk__in=ids).values_list("pk", flat=True))


def contacts_by_name(*, ids: list[int], limit: int = 10) -> list[Contact]:
    """Up to `limit` of the given contacts, by name (a sample to show on confirm pages)."""
    return list(Contact.objects.filter(pk__in=ids[:limit]).order_by("last_name", "first_name", "id"))


# --- accounts by name or domain (imports link and upsert accounts by them) -------------------------


def domain_key(text: str) -> str:
    """A web domain compared loosely: "https://www.Example.com/about" and "example.com" give "example.com"."""
    value = (text or "").strip().lower()
    value = re.sub(r"^[a-z][a-z0-9+.-]*://", "", value)
    value = re.split(r"[/?#]", value, maxsplit=1)[0]
    value = value.rsplit("@", 1)[-1].split(":", 1)[0].strip(".")
    return value.removeprefix("www.")


@dataclass
class AccountIndex:
    """Every account's id by its name key (`contacts.models.name_key`) and by its domain key."""

    by_name: dict[str, list[int]]
    by_domain: dict[str, list[int]]

    def add(self, *, pk: int, name: str, domain: str = "") -> None:
        self.by_name.setdefault(name_key(name), []).append(pk)
        if domain_key(domain):
            self.by_domain.setdefault(domain_key(domain), []).append(pk)


def account_index() -> AccountIndex:
    """All accounts by name key and domain key, in one query.

    TRICKY: the loose name key (accents, case, spacing) cannot be computed in SQL on SQLite and PostgreSQL alike
    and accounts have no stored key, so every account's id, name and domain is read (a few MB for 100k accounts).
    """
    index = AccountIndex(by_name={}, by_domain={})
    for pk, name, domain in Account.objects.order_by("pk").values_list("pk", "name", "domain").iterator(2000):
        index.add(pk=pk, name=name, domain=domain)
    return index
