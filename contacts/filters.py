"""django-filter FilterSets for the contact and account lists.

Invariant: one filter per active custom field is generated at runtime from field settings, and every
custom-field filter is a condition of contacts.custom_sql — the very one the rule engine compiles for the
equivalent rule — so the list and a contact group always agree, on SQLite and PostgreSQL alike.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import django_filters
from django import forms
from django.db.models import Q, QuerySet
from django.urls import reverse_lazy
from django.utils import timezone

from contacts import custom_sql, selectors
from contacts.forms import ManyOptionsSelect, PickerSelect, SafePkMixin, country_choices
from contacts.models import Account, Contact, ContactField, FieldType

CUSTOM_PREFIX = "cf_"
# Bounds of the number filters: custom numbers are stored within ±10^15; lead scores are 32-bit integers.
CUSTOM_NUMBER_LIMIT = Decimal(10**15)
LEAD_SCORE_LIMIT = 2**31 - 1
TEXT_LIKE = (FieldType.TEXT, FieldType.EMAIL, FieldType.URL, FieldType.PHONE)
BOOLEAN_CHOICES = [("yes", "Yes"), ("no", "No"), ("empty", "Empty")]
MATCH_ALL = Q(pk__isnull=False)  # never an empty Q(), which Django drops from an OR


def _search(queryset: QuerySet[Contact], name: str, value: str) -> QuerySet[Contact]:
    """Every word must appear in the first name, last name or email (case-insensitive)."""
    return queryset.filter(selectors.contact_search_q(value))


def _day_start(day: dt.date) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(day, dt.time.min))


class SafeModelChoiceField(SafePkMixin, django_filters.fields.ModelChoiceField):
    pass


class AccountFilter(django_filters.ModelChoiceFilter):
    field_class = SafeModelChoiceField


def _number_input(label: str, placeholder: str, step: int | str = "any") -> forms.NumberInput:
    # Range inputs are rendered bare in an input group (one label per range): they carry their own class.
    return forms.NumberInput(
        attrs={"step": step, "placeholder": placeholder, "aria-label": label, "class": "form-control"}
    )


def _date_input(label: str) -> forms.DateInput:
    return forms.DateInput(attrs={"type": "date", "aria-label": label, "class": "form-control"})


# --- custom field conditions ---------------------------------------------------------------------
# The rule engine's own conditions (contacts.custom_sql): "Budget from 10" here and `custom.budget gte 10`
# in a group match the same contacts, on both databases, whatever a contact's JSON holds.


def custom_text_q(*, code: str, value: str) -> Q:
    """A text-like custom value contains `value`, ignoring case."""
    return custom_sql.json_text_q(column="custom", key=code, lookup="contains", value=value)


def custom_number_q(*, code: str, minimum: Decimal | None, maximum: Decimal | None) -> Q:
    """A custom number within [minimum, maximum] (inclusive; None leaves that side open)."""
    condition = MATCH_ALL
    if minimum is not None:
        condition &= custom_sql.json_number_q(column="custom", key=code, lookup="gte", value=minimum)
    if maximum is not None:
        condition &= custom_sql.json_number_q(column="custom", key=code, lookup="lte", value=maximum)
    return condition


def custom_date_q(*, code: str, start: dt.date | None, end: dt.date | None) -> Q:
    """A custom date within [start, end] (inclusive; None leaves that side open); empty never matches."""
    return custom_sql.json_days_q(column="custom", key=code, start=start, end=end)


def custom_boolean_q(*, code: str, value: str) -> Q:
    """A custom yes / no: "yes" is JSON true, "no" JSON false, "empty" absent, null, "" or []."""
    if value == "empty":
        return custom_sql.json_empty_q(column="custom", key=code)
    return custom_sql.json_boolean_q(column="custom", key=code, value=value == "yes")


def custom_choice_q(*, code: str, value: str) -> Q:
    """A custom choice is the code `value`, ignoring case."""
    return custom_sql.json_text_q(column="custom", key=code, lookup="exact", value=value)


def custom_multi_any_q(*, code: str, values: list[str]) -> Q:
    """A custom multi-choice holds at least one of the codes `values` (compared exactly)."""
    return custom_sql.json_codes_q(column="custom", key=code, codes=values, every=False)


# --- filter set ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class FilterRow:
    """One entry of the filter panel: a single field, or a (from, to) pair shown under one label."""

    label: str
    names: tuple[str, ...]
    kind: str = "single"  # "single", "number_range" or "date_range"


@dataclass
class FilterSection:
    """A titled group of rows in the filter panel."""

    title: str
    rows: list[FilterRow] = field(default_factory=list)


class ContactFilterSet(django_filters.FilterSet):
    q = django_filters.CharFilter(
        label="Search",
        method="filter_search",
        widget=forms.TextInput(attrs={"placeholder": "Name or email", "type": "search"}),
    )
    country = django_filters.ChoiceFilter(
        choices=country_choices,
        empty_label="Any country",
        widget=ManyOptionsSelect(attrs={"data-picker": "", "placeholder": "Any country"}),
    )
    account = AccountFilter(
        queryset=Account.objects.all(),
        empty_label="Any account",
        widget=PickerSelect(url=reverse_lazy("contacts:account_search"), placeholder="Any account"),
    )
    created_after = django_filters.DateFilter(
        label="Created from", method="filter_created", widget=_date_input("Created from")
    )
    created_before = django_filters.DateFilter(
        label="Created to", method="filter_created", widget=_date_input("Created to")
    )
    score_min = django_filters.NumberFilter(
        field_name="lead_score",
        lookup_expr="gte",
        label="Lead score from",
        widget=_number_input("Lead score from", "Min", 1),
        min_value=-LEAD_SCORE_LIMIT,
        max_value=LEAD_SCORE_LIMIT,
    )
    score_max = django_filters.NumberFilter(
        field_name="lead_score",
        lookup_expr="lte",
        label="Lead score to",
        widget=_number_input("Lead score to", "Max", 1),
        min_value=-LEAD_SCORE_LIMIT,
        max_value=LEAD_SCORE_LIMIT,
    )
    include_merged = django_filters.BooleanFilter(
        label="Include merged contacts", method="filter_include_merged", widget=forms.CheckboxInput
    )

    class Meta:
        model = Contact
        fields: list[str] = []

    def __init__(self, *args: Any, custom_fields: list[ContactField] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.custom_fields = custom_fields if custom_fields is not None else selectors.active_custom_fields()
        self.custom_filter_names: dict[str, list[str]] = {}
        for cf in self.custom_fields:
            for name, filter_ in self._custom_filters(cf):
                filter_.field_name = name  # method filters receive it: range filters tell their bound by it
                filter_.model = self.queryset.model
                filter_.parent = self
                self.filters[name] = filter_
                self.custom_filter_names.setdefault(cf.code, []).append(name)

    # Merged contacts are hidden unless asked for; the base queryset holds all of them.
    def filter_queryset(self, queryset: QuerySet[Contact]) -> QuerySet[Contact]:
        if not self.form.cleaned_data.get("include_merged"):
            queryset = queryset.filter(merged_into__isnull=True)
        return super().filter_queryset(queryset)

    def filter_include_merged(self, queryset: QuerySet[Contact], name: str, value: bool) -> QuerySet[Contact]:
        return queryset

    def filter_search(self, queryset: QuerySet[Contact], name: str, value: str) -> QuerySet[Contact]:
        return _search(queryset, name, value)

    def filter_created(self, queryset: QuerySet[Contact], name: str, value: dt.date) -> QuerySet[Contact]:
        # Whole calendar days in the project's time zone, as a range on the indexed column.
        if not dt.date(1, 1, 3) <= value <= dt.date(9999, 12, 29):
            return queryset  # a bound at the very ends of the calendar excludes nothing (and would overflow)
        if name == "created_after":
            return queryset.filter(created_at__gte=_day_start(value))
        return queryset.filter(created_at__lt=_day_start(value + dt.timedelta(days=1)))

    def _custom_filters(self, cf: ContactField) -> list[tuple[str, django_filters.Filter]]:
        name = f"{CUSTOM_PREFIX}{cf.code}"
        code, label = cf.code, cf.label
        if cf.type in TEXT_LIKE:
            return [
                (
                    name,
                    django_filters.CharFilter(
                        label=label,
                        method=lambda qs, _n, v: qs.filter(custom_text_q(code=code, value=v)),
                        widget=forms.TextInput(attrs={"placeholder": "Contains…"}),
                    ),
                )
            ]
        if cf.type == FieldType.NUMBER:

            def number(qs: QuerySet[Contact], n: str, v: Decimal) -> QuerySet[Contact]:
                bound = {"minimum": v, "maximum": None} if n.endswith("_min") else {"minimum": None, "maximum": v}
                return qs.filter(custom_number_q(code=code, **bound))

            return [
                (
                    f"{name}_min",
                    django_filters.NumberFilter(
                        label=f"{label} from",
                        method=number,
                        widget=_number_input(f"{label} from", "Min"),
                        min_value=-CUSTOM_NUMBER_LIMIT,
                        max_value=CUSTOM_NUMBER_LIMIT,
                    ),
                ),
                (
                    f"{name}_max",
                    django_filters.NumberFilter(
                        label=f"{label} to",
                        method=number,
                        widget=_number_input(f"{label} to", "Max"),
                        min_value=-CUSTOM_NUMBER_LIMIT,
                        max_value=CUSTOM_NUMBER_LIMIT,
                    ),
                ),
            ]
        if cf.type == FieldType.DATE:

            def date(qs: QuerySet[Contact], n: str, v: dt.date) -> QuerySet[Contact]:
                bound = {"start": v, "end": None} if n.endswith("_from") else {"start": None, "end": v}
                return qs.filter(custom_date_q(code=code, **bound))

            return [
                (
                    f"{name}_from",
                    django_filters.DateFilter(label=f"{label} from", method=date, widget=_date_input(f"{label} from")),
                ),
                (
                    f"{name}_to",
                    django_filters.DateFilter(label=f"{label} to", method=date, widget=_date_input(f"{label} to")),
                ),
            ]
        if cf.type == FieldType.BOOLEAN:
            return [
                (
                    name,
                    django_filters.ChoiceFilter(
                        label=label,
                        choices=BOOLEAN_CHOICES,
                        empty_label="Any",
                        method=lambda qs, _n, v: qs.filter(custom_boolean_q(code=code, value=v)),
                    ),
                )
            ]
        choices = [(c["code"], c.get("label") or c["code"]) for c in cf.choices or []]
        if cf.type == FieldType.CHOICE:
            return [
                (
                    name,
                    django_filters.ChoiceFilter(
                        label=label,
                        choices=choices,
                        empty_label="Any",
                        method=lambda qs, _n, v: qs.filter(custom_choice_q(code=code, value=v)),
                    ),
                )
            ]
        if cf.type == FieldType.MULTI_CHOICE:

            def multi(qs: QuerySet[Contact], _n: str, v: list[str]) -> QuerySet[Contact]:
                if not v:
                    return qs
                return qs.filter(custom_multi_any_q(code=code, values=list(v)))

            return [
                (
                    name,
                    django_filters.MultipleChoiceFilter(
                        label=f"{label} (any of)",
                        choices=choices,
                        method=multi,
                        widget=forms.SelectMultiple(attrs={"data-picker": "", "placeholder": "Any"}),
                    ),
                )
            ]
        return []

    # --- presentation helpers for the template ---------------------------------------------------

    def sections(self) -> list[FilterSection]:
        """The filter form laid out in titled sections; each range is one row under one label."""
        contact = FilterSection(
            "Contact",
            [
                FilterRow("Search", ("q",)),
                FilterRow("Account", ("account",)),
                FilterRow("Country", ("country",)),
                FilterRow("Lead score", ("score_min", "score_max"), "number_range"),
                FilterRow("Created", ("created_after", "created_before"), "date_range"),
            ],
        )
        custom = FilterSection("Custom fields")
        for cf in self.custom_fields:
            names = tuple(self.custom_filter_names.get(cf.code, []))
            if cf.type == FieldType.NUMBER:
                custom.rows.append(FilterRow(cf.label, names, "number_range"))
            elif cf.type == FieldType.DATE:
                custom.rows.append(FilterRow(cf.label, names, "date_range"))
            elif names:
                custom.rows.append(FilterRow(cf.label, names))
        sections = [contact]
        if custom.rows:
            sections.append(custom)
        sections.append(FilterSection("Other", [FilterRow("Include merged contacts", ("include_merged",))]))
        return sections

    def active_filters(self) -> list[tuple[str, str, str]]:
        """(parameter name, human text, label) for every filter in use, for removable chips."""
        if not self.is_bound or not self.form.is_valid():
            return []
        chips = []
        for name, value in self.form.cleaned_data.items():
            if value in (None, "", [], False):
                continue
            form_field = self.form.fields[name]
            label = str(form_field.label or name)
            if isinstance(value, list):
                labels = dict(getattr(form_field, "choices", []))
                text = ", ".join(str(labels.get(v, v)) for v in value)
            elif hasattr(form_field, "choices") and not isinstance(value, Account):
                text = str(dict(form_field.choices).get(value, value))
            elif value is True:
                text = "Yes"
            else:
                text = str(value)
            chips.append((name, text, label))
        return chips


class AccountFilterSet(django_filters.FilterSet):
    q = django_filters.CharFilter(
        label="Search",
        method="filter_search",
        widget=forms.TextInput(attrs={"placeholder": "Name or domain", "type": "search"}),
    )
    country = django_filters.ChoiceFilter(
        choices=country_choices,
        empty_label="Any country",
        widget=ManyOptionsSelect(attrs={"data-picker": "", "placeholder": "Any country"}),
    )
    industry = django_filters.ChoiceFilter(choices=[], empty_label="Any industry")

    class Meta:
        model = Account
        fields: list[str] = []

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        industry = self.filters["industry"]
        industry.extra["choices"] = [(i, i) for i in selectors.account_industries()]
        # TRICKY: a form field built once from the class's filter (the API schema generator reads it) is copied
        # into every instance and would keep the choices of that moment: build it from these choices instead.
        industry.__dict__.pop("_field", None)

    def filter_search(self, queryset: QuerySet[Account], name: str, value: str) -> QuerySet[Account]:
        return queryset.filter(selectors.account_search_q(value))
