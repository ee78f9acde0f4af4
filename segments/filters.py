from __future__ import annotations

from typing import Any

import django_filters
from django import forms
from django.db.models import OuterRef, Q, QuerySet, Subquery

from contacts.models import Contact
from contacts.selectors import contact_search_q
from segments.models import ContactGroup, Membership


class GroupFilterSet(django_filters.FilterSet):
    q = django_filters.CharFilter(method="filter_search", label="Search")
    kind = django_filters.ChoiceFilter(
        method="filter_kind",
        label="Kind",
        empty_label="All kinds",
        widget=forms.Select(attrs={"class": "form-select"}),
        choices=[("static", "Static"), ("condition", "Condition-based")],
    )

    class Meta:
        model = ContactGroup
        fields: list[str] = []

    def filter_search(self, queryset: QuerySet[ContactGroup], name: str, value: str) -> QuerySet[ContactGroup]:
        return queryset.filter(Q(name__icontains=value) | Q(code__icontains=value) | Q(description__icontains=value))

    def filter_kind(self, queryset: QuerySet[ContactGroup], name: str, value: str) -> QuerySet[ContactGroup]:
        return queryset.filter(is_condition_based=value == "condition")


class MembershipFilterSet(django_filters.FilterSet):
    """The members tab's filters over a group's memberships (what the page counts).

    `scan_members`: search by reading the members one by one (see `filter_search`); pass False for a
    group holding most contacts, where PostgreSQL's join does better. The members view applies the same
    validated values, `cleaned()`, to its walk over contacts.
    """

    q = django_filters.CharFilter(method="filter_search", label="Search")
    source = django_filters.ChoiceFilter(
        method="filter_source",
        label="Source",
        empty_label="Any source",
        widget=forms.Select(attrs={"class": "form-select"}),
        choices=[("manual", "Manual"), ("account", "From account"), ("condition", "Condition-based")],
    )

    class Meta:
        model = Membership
        fields: list[str] = []

    def __init__(self, *args: Any, scan_members: bool = True, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.scan_members = scan_members

    def filter_search(self, queryset: QuerySet[Membership], name: str, value: str) -> QuerySet[Membership]:
        contacts = Contact.objects.filter(contact_search_q(value))
        if not self.scan_members:
            return queryset.filter(contact__in=contacts)
        # TRICKY: as a join, PostgreSQL scans every contact with the search and hashes the group's members
        # (1 s at 1M contacts) even when the first 10,001 matches are among the first 70,000 members of a
        # 300k group. A scalar subquery never becomes a join: the members are read in order, each one's
        # contact is tested, and the capped count stops at its LIMIT (0.2 s).
        hit = contacts.filter(pk=OuterRef("contact_id")).order_by().values("pk")[:1]
        return queryset.alias(search_hit=Subquery(hit)).filter(search_hit__isnull=False)

    def filter_source(self, queryset: QuerySet[Membership], name: str, value: str) -> QuerySet[Membership]:
        return queryset.filter(**{f"via_{value}": True})

    def cleaned(self) -> tuple[str, str]:
        """(source, search) as validated: "" for one that is absent or invalid (and so not applied)."""
        if not self.is_bound:
            return "", ""
        self.form.is_valid()  # cleaned_data then holds the valid fields only
        data = self.form.cleaned_data
        return data.get("source") or "", (data.get("q") or "").strip()
