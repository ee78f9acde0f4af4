"""The audit log page's filters: what (an area or one action), who, when (local calendar days) and a search."""

from __future__ import annotations

import datetime as dt
from typing import Any

import django_filters
from django import forms
from django.db.models import Q, QuerySet
from django.utils import timezone

from audit.models import AREAS, AuditAction, AuditEntry


def _day_start(day: dt.date) -> dt.datetime:
    """Midnight starting `day` in the project's time zone (a range on `at` keeps its index usable)."""
    return timezone.make_aware(dt.datetime.combine(day, dt.time.min))


def action_choices() -> list[tuple[str, Any]]:
    """Grouped for the select: each area ("Any contact group action") then its actions."""
    grouped: list[tuple[str, Any]] = []
    for area, name in AREAS.items():
        actions = [(a.value, a.label) for a in AuditAction if a.value.partition(".")[0] == area]
        grouped.append((name, [(area, f"Any: {name.lower()}"), *actions]))
    return grouped


class AuditEntryFilterSet(django_filters.FilterSet):
    q = django_filters.CharFilter(method="filter_search", label="Search")
    action = django_filters.ChoiceFilter(
        method="filter_action",
        label="Action",
        empty_label="Any action",
        choices=action_choices,
        widget=forms.Select(attrs={"class": "form-select"}),
    )
    actor = django_filters.ChoiceFilter(
        field_name="actor_name",
        label="Who",
        empty_label="Anyone",
        widget=forms.Select(attrs={"class": "form-select"}),
    )
    since = django_filters.DateFilter(
        method="filter_since",
        label="From",
        widget=forms.DateInput(attrs={"type": "date", "class": "form-control"}),
    )
    until = django_filters.DateFilter(
        method="filter_until",
        label="To",
        widget=forms.DateInput(attrs={"type": "date", "class": "form-control"}),
    )

    class Meta:
        model = AuditEntry
        fields: list[str] = []

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        names = AuditEntry.objects.order_by("actor_name").values_list("actor_name", flat=True).distinct()
        self.filters["actor"].extra["choices"] = [(name, name) for name in names]

    def filter_search(self, queryset: QuerySet[AuditEntry], name: str, value: str) -> QuerySet[AuditEntry]:
        value = value.strip()
        if not value:
            return queryset
        return queryset.filter(
            Q(object_label__icontains=value)
            | Q(summary__icontains=value)
            | Q(actor_name__icontains=value)
            | Q(object_id=value)
            | Q(ip__startswith=value)
        )

    def filter_action(self, queryset: QuerySet[AuditEntry], name: str, value: str) -> QuerySet[AuditEntry]:
        if "." in value:
            return queryset.filter(action=value)
        return queryset.filter(action__startswith=f"{value}.")

    def filter_since(self, queryset: QuerySet[AuditEntry], name: str, value: dt.date) -> QuerySet[AuditEntry]:
        return queryset.filter(at__gte=_day_start(value))

    def filter_until(self, queryset: QuerySet[AuditEntry], name: str, value: dt.date) -> QuerySet[AuditEntry]:
        return queryset.filter(at__lt=_day_start(value + dt.timedelta(days=1)))

    @property
    def active(self) -> bool:
        return any(self.form.data.get(name) for name in self.filters)
