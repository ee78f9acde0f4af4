"""What an export reads: the contact list as filtered, an Advanced filter's matches, or a group's members.

Each source reuses the page's own query: the list's ContactFilterSet, the rule engine's
`matching_contacts`, the Members tab's source flag and search. Nothing is filtered twice or differently.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db.models import Q, QuerySet
from django.http import QueryDict

from contacts import selectors as contact_selectors
from contacts.filters import ContactFilterSet
from contacts.models import Contact
from segments.models import ContactGroup, Membership
from segments.rules import matching_contacts, validate

MEMBER_SOURCES = ("manual", "account", "condition")
SOURCE_WORDS = {"manual": "added by hand", "account": "from an account", "condition": "by the condition"}


class SourceError(ValueError):
    """The filters of an export are invalid (the message says which and why)."""


@dataclass(frozen=True)
class ExportSource:
    """Rows to export: `queryset` of Contact, or of Membership when `membership` (a group's members)."""

    queryset: QuerySet[Any]
    membership: bool
    name: str  # for the file name: "contacts", "group-vip"
    description: str  # for the chooser page: "All contacts", "Members of “VIP”"

    def count(self) -> int:
        return self.queryset.count()


def contact_list_source(*, filters: QueryDict) -> ExportSource:
    """The contacts the contact list shows for `filters` (its query string): the same FilterSet, merged
    contacts hidden unless `include_merged`. SourceError when a filter is invalid."""
    filterset = ContactFilterSet(
        filters, queryset=contact_selectors.contact_queryset(include_merged=True).select_related(None)
    )
    if not filterset.is_valid():
        problems = "; ".join(f"{name}: {' '.join(errors)}" for name, errors in filterset.errors.items())
        raise SourceError(f"The contact list's filters are invalid ({problems}).")
    chips = filterset.active_filters()
    description = (
        "Contacts matching " + ", ".join(f"{label}: {text}" for _n, text, label in chips) if chips else ("All contacts")
    )
    return ExportSource(queryset=filterset.qs, membership=False, name="contacts", description=description)


def advanced_filter_source(*, tree: Any) -> ExportSource:
    """The contacts matching an Advanced filter (a rule tree, validated here: RuleError when invalid)."""
    from segments.rules import describe

    canonical = validate(tree)
    return ExportSource(
        queryset=matching_contacts(canonical),
        membership=False,
        name="contacts",
        description=f"Contacts where {describe(canonical)}",
    )


def group_source(*, group: ContactGroup, source: str = "", search: str = "") -> ExportSource:
    """A group's members (optionally only those with one source, or matching the Members tab's search)."""
    if source and source not in MEMBER_SOURCES:
        raise SourceError(f"Unknown member source “{source}”: use one of {', '.join(MEMBER_SOURCES)}.")
    flag = Q(**{f"via_{source}": True}) if source else Q()
    members = Membership.objects.filter(flag, group=group)
    if search.strip():
        members = members.filter(
            contact__in=Contact.objects.filter(contact_selectors.contact_search_q(search)).values("pk")
        )
    what = f"Members of “{group.name}”"
    if source:
        what += f" ({SOURCE_WORDS[source]})"
    if search.strip():
        what += f" matching “{search.strip()}”"
    return ExportSource(queryset=members, membership=True, name=f"group-{group.code}", description=what)
