from __future__ import annotations

import django_filters
from django import forms
from django.db.models import Q, QuerySet

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
        value = value.strip()
        return queryset.filter(
            Q(contact__email__icontains=value)
            | Q(contact__first_name__icontains=value)
            | Q(contact__last_name__icontains=value)
        )

    def filter_source(self, queryset: QuerySet[Membership], name: str, value: str) -> QuerySet[Membership]:
        return queryset.filter(**{f"via_{value}": True})
