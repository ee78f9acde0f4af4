from __future__ import annotations

import django_filters
from django import forms
from django.db.models import Q, QuerySet

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
    """The members tab's filters over a group's memberships: a search of its contacts and a source.

    The members page validates with it and reads the matching members through
    `segments.selectors.member_contact_ids` with the same values (`cleaned()`), in the order that is
    fast for them; `qs` is the same set, for other readers.
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

    def filter_search(self, queryset: QuerySet[Membership], name: str, value: str) -> QuerySet[Membership]:
        return queryset.filter(contact__in=Contact.objects.filter(contact_search_q(value)))

    def filter_source(self, queryset: QuerySet[Membership], name: str, value: str) -> QuerySet[Membership]:
        return queryset.filter(**{f"via_{value}": True})

    def cleaned(self) -> tuple[str, str]:
        """(source, search) as validated: "" for one that is absent or invalid (and so not applied)."""
        if not self.is_bound:
            return "", ""
        self.form.is_valid()  # cleaned_data then holds the valid fields only
        data = self.form.cleaned_data
        return data.get("source") or "", (data.get("q") or "").strip()
