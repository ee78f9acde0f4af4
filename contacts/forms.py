"""Forms for contacts and accounts: they validate and lay out (crispy FormHelper); services do the writes.

Custom contact fields are rendered by `custom_fields.form_field` and validated by
`custom_fields.clean_custom` — the one place that knows their types.
"""

from __future__ import annotations

import functools
import re
from html import escape
from typing import Any

from crispy_forms.helper import FormHelper
from crispy_forms.layout import HTML, Column, Div, Fieldset, Layout, Row
from django import forms
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db.backends.base.operations import BaseDatabaseOperations
from django.forms.utils import flatatt
from django.urls import reverse, reverse_lazy
from django.utils import translation
from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe
from django_countries import countries

from contacts import custom_fields, selectors
from contacts.models import Account, Contact, ContactField, FieldType
from contacts.services import DUPLICATE_EMAIL_MESSAGE

CUSTOM_PREFIX = "custom_"
MAX_PK = 2**63 - 1
NO_IDENTITY_MESSAGE = "Give the contact a name, an email or a phone number."
IDENTITY_FIELDS = ("first_name", "last_name", "email", "phone")
DOMAIN_RE = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")


# --- primary keys from the request --------------------------------------------------------------


def valid_pk(value: Any) -> bool:
    """True for a whole number that can be a primary key (anything else would only crash the query)."""
    text = str(value).strip()
    return text.isdigit() and 0 < int(text) <= MAX_PK


def parse_pks(values: Any) -> list[int]:
    """The valid primary keys among request values, sorted and unique."""
    return sorted({int(str(v).strip()) for v in values if valid_pk(v)})


class SafePkMixin:
    """Model choice fields that refuse malformed or out-of-range ids as an invalid choice (no query)."""

    error_messages: dict[str, Any]

    def to_python(self, value: Any) -> Any:
        if value not in self.empty_values and not valid_pk(value):  # type: ignore[attr-defined]
            raise ValidationError(self.error_messages["invalid_choice"], code="invalid_choice")
        return super().to_python(value)  # type: ignore[misc]

    def _check_values(self, value: Any) -> Any:
        bad = [v for v in value if not valid_pk(v)]
        if bad:
            raise ValidationError(
                self.error_messages["invalid_choice"], code="invalid_choice", params={"value": bad[0]}
            )
        return super()._check_values(value)  # type: ignore[misc]


# --- picker widgets ------------------------------------------------------------------------------


class PickerMixin:
    """A Tom Select picker that loads options from a JSON search endpoint as the user types.

    Only the selected options are rendered into the page (never the whole table), so it stays light
    with a million contacts.
    """

    def __init__(self, *, url: Any, placeholder: str = "Type to search…", attrs: dict[str, Any] | None = None):
        super().__init__(attrs)  # type: ignore[call-arg]
        self.url = url
        self.placeholder = placeholder

    def get_context(self, name: str, value: Any, attrs: dict[str, Any] | None) -> dict[str, Any]:
        context = super().get_context(name, value, attrs)  # type: ignore[misc]
        context["widget"]["attrs"].update(
            {"data-picker": "", "data-picker-url": str(self.url), "placeholder": self.placeholder}
        )
        return context

    def optgroups(self, name: str, value: list[Any], attrs: dict[str, Any] | None = None) -> list[Any]:
        wanted = [str(v) for v in value if v not in (None, "") and valid_pk(v)]
        options: list[tuple[Any, Any]] = []
        queryset = getattr(self.choices, "queryset", None)  # type: ignore[attr-defined]
        if queryset is not None:
            if getattr(self.choices, "field", None) is not None and self.choices.field.empty_label is not None:  # type: ignore[attr-defined]
                options.append(("", self.placeholder))  # what the picker shows while nothing is chosen
            if wanted:
                options += [self.choices.choice(obj) for obj in queryset.filter(pk__in=wanted)]  # type: ignore[attr-defined]
        else:
            options = [(k, v) for k, v in self.choices if str(k) in wanted or k == ""]  # type: ignore[attr-defined]
        return [
            (
                None,
                [
                    self.create_option(  # type: ignore[attr-defined]
                        name, key, label, str(key) in wanted, index, attrs=attrs
                    )
                    for index, (key, label) in enumerate(options)
                ],
                0,
            )
        ]


class PickerSelect(PickerMixin, forms.Select):
    pass


@functools.lru_cache(maxsize=32)
def _countries_in(language: str) -> tuple[tuple[str, str], ...]:
    return tuple((code, str(name)) for code, name in countries)


@functools.lru_cache(maxsize=32)
def _country_names(language: str) -> dict[str, str]:
    return dict(_countries_in(language))


def country_name(code: Any) -> str:
    """A country's name in the active language, from the same once-translated table ("" for no country).

    `contact.country.name` asks django-countries to translate it again: 40 µs a row, 4 ms of a list page."""
    return _country_names(translation.get_language() or "").get(str(code or ""), "")


def country_choices() -> list[tuple[str, str]]:
    """Every country as (code, name), sorted by name in the active language: translated and sorted once per
    language (django-countries does it for every form, 15 ms of each contact list page)."""
    return list(_countries_in(translation.get_language() or ""))


class ManyOptionsSelect(forms.Select):
    """A select of many fixed options (the countries), written in Python: the same HTML as Django's `Select`
    (its attributes in another order), without a template and a context per option, which made the
    contact list's country filter 20 ms of every page."""

    def render(self, name: str, value: Any, attrs: dict[str, Any] | None = None, renderer: Any = None) -> SafeString:
        widget = forms.Widget.get_context(self, name, value, attrs)["widget"]
        wanted = set(self.format_value(value))
        chosen = False

        def option(key: Any, label: Any) -> str:
            nonlocal chosen
            key = "" if key is None else str(key)
            selected = not chosen and key in wanted
            chosen = chosen or selected
            return f'<option value="{escape(key)}"{" selected" if selected else ""}>{escape(str(label))}</option>'

        parts = []
        for key, label in self.choices:
            if isinstance(label, list | tuple):
                inner = "".join(option(k, v) for k, v in label)
                parts.append(f'<optgroup label="{escape(str(key))}">{inner}</optgroup>')
            else:
                parts.append(option(key, label))
        return format_html('<select name="{}"{}>{}</select>', name, flatatt(widget["attrs"]), mark_safe("".join(parts)))


class PickerSelectMultiple(PickerMixin, forms.SelectMultiple):
    pass


def _searchable(field: forms.Field, placeholder: str, *, blank_label: str | None = None) -> None:
    """Make a select a local Tom Select picker; `blank_label` replaces the "---------" of the empty choice."""
    field.widget.attrs.update({"data-picker": "", "placeholder": placeholder})
    if blank_label is not None and isinstance(field, forms.ChoiceField):
        choices: Any = field.choices
        field.choices = [(value, blank_label if value == "" else label) for value, label in choices]


class AccountChoiceField(SafePkMixin, forms.ModelChoiceField):
    def label_from_instance(self, obj: Any) -> str:
        return selectors.account_picker_label(obj)


class ContactChoiceField(SafePkMixin, forms.ModelChoiceField):
    def label_from_instance(self, obj: Any) -> str:
        return selectors.contact_picker_label(obj)


class ContactMultipleChoiceField(SafePkMixin, forms.ModelMultipleChoiceField):
    def label_from_instance(self, obj: Any) -> str:
        return selectors.contact_picker_label(obj)


# --- contacts ----------------------------------------------------------------------------------


def _lacks_identity(values: dict[str, Any], errors: Any = ()) -> bool:
    """True when none of the identity fields has a value (a field with its own error counts as given)."""
    return not any(name in errors or str(values.get(name) or "").strip() for name in IDENTITY_FIELDS)


class ContactForm(forms.ModelForm):
    """Standard fields plus one field per active custom field (named `custom_<code>`)."""

    account = AccountChoiceField(
        queryset=Account.objects.all(),
        required=False,
        widget=PickerSelect(url=reverse_lazy("contacts:account_search"), placeholder="Search accounts…"),
        help_text="The company this person works for.",
    )

    class Meta:
        model = Contact
        fields = ["first_name", "last_name", "email", "phone", "job_title", "account", "country", "city", "lead_score"]
        help_texts = {"email": "Optional: contacts without an email are kept as anonymous contacts."}

    def __init__(self, *args: Any, custom_field_defs: list[ContactField] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _portable_integer_range(self.fields["lead_score"], Contact._meta.get_field("lead_score"))
        self.custom_field_defs = (
            custom_field_defs if custom_field_defs is not None else selectors.active_custom_fields()
        )
        _searchable(self.fields["country"], "Choose a country…", blank_label="No country")
        stored = self.instance.custom or {}
        for cf in self.custom_field_defs:
            initial = stored.get(cf.code)
            if cf.type == FieldType.BOOLEAN and isinstance(initial, bool):
                initial = "true" if initial else "false"  # the Select's option values
            self.fields[CUSTOM_PREFIX + cf.code] = custom_fields.form_field(field=cf, initial=initial)
        self.custom_values: dict[str, Any] = {}
        self.helper = FormHelper()
        self.helper.form_tag = False
        self.helper.disable_csrf = True
        self.helper.layout = self._layout()

    def _layout(self) -> Layout:
        parts: list[Any] = [
            Fieldset(
                "Person",
                Row(Column("first_name", css_class="col-md-6"), Column("last_name", css_class="col-md-6")),
                Row(Column("email", css_class="col-md-6"), Column("phone", css_class="col-md-6")),
            ),
            Fieldset(
                "Work",
                Row(Column("job_title", css_class="col-md-6"), Column("account", css_class="col-md-6")),
            ),
            Fieldset(
                "Location and score",
                Row(
                    Column("country", css_class="col-md-5"),
                    Column("city", css_class="col-md-4"),
                    Column("lead_score", css_class="col-md-3"),
                ),
            ),
        ]
        if self.custom_field_defs:
            names = [CUSTOM_PREFIX + cf.code for cf in self.custom_field_defs]
            parts.append(
                Fieldset(
                    "Custom fields",
                    Row(*[Column(name, css_class="col-md-6") for name in names]),
                )
            )
        else:
            parts.append(HTML(""))
        return Layout(Div(*parts, css_class="contact-form"))

    @property
    def field_error_count(self) -> int:
        """How many fields have errors (form-level errors are not a field to highlight)."""
        return sum(1 for name in self.errors if name != NON_FIELD_ERRORS)

    def clean_email(self) -> str | None:
        email = (self.cleaned_data.get("email") or "").strip() or None
        if email and selectors.contact_email_taken(email=email, exclude_pk=self.instance.pk):
            raise ValidationError(DUPLICATE_EMAIL_MESSAGE, code="duplicate")
        return email

    def clean_phone(self) -> str:
        phone = (self.cleaned_data.get("phone") or "").strip()
        if not phone or (self.instance.pk and phone == (self.instance.phone or "").strip()):
            return phone  # a stored phone left as it was is kept, even one saved before this check existed
        return custom_fields.phone(phone)

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        # Anonymous contacts come from tracking and imports; one made by hand with nothing to tell it apart is
        # almost surely a mistake. An existing contact that already has none of these can still be edited.
        stored = {name: getattr(self.instance, name) for name in IDENTITY_FIELDS}
        if _lacks_identity(cleaned, self.errors) and (self.instance.pk is None or not _lacks_identity(stored)):
            self.add_error(None, ValidationError(NO_IDENTITY_MESSAGE, code="no_identity"))
        values = {}
        for cf in self.custom_field_defs:
            name = CUSTOM_PREFIX + cf.code
            if name in self.errors:
                continue
            values[cf.code] = cleaned.get(name)
        try:
            custom_fields.clean_custom(values=values, fields=self.custom_field_defs, existing=self.instance.custom)
        except ValidationError as exc:
            for code, messages in exc.message_dict.items():
                self.add_error(CUSTOM_PREFIX + code, messages)
        self.custom_values = values
        return cleaned

    def standard_data(self) -> dict[str, Any]:
        """The cleaned standard fields, as keyword arguments for contact_create / contact_update."""
        return {name: self.cleaned_data[name] for name in self.Meta.fields}

    def add_service_error(self, error: ValidationError) -> None:
        """Show a service's ValidationError on the matching form fields (custom codes → custom_<code>)."""
        if not hasattr(error, "error_dict"):
            self.add_error(None, error)
            return
        for key, messages in error.message_dict.items():
            name = key if key in self.fields else CUSTOM_PREFIX + key
            self.add_error(name if name in self.fields else None, messages)


def _portable_integer_range(field: forms.Field, model_field: Any) -> None:
    """Limit an integer form field to its model field's range on every database, with a human message.

    Django's own limits follow the connection (64-bit on SQLite, 32-bit on PostgreSQL for an IntegerField)
    and read "Ensure this value is less than or equal to 9223372036854775807.".
    """
    low, high = BaseDatabaseOperations.integer_field_ranges[model_field.get_internal_type()]
    message = f"{field.label} must be between {low:,} and {high:,}."
    assert isinstance(field, forms.IntegerField)
    field.min_value, field.max_value = low, high
    kept = [v for v in field.validators if not isinstance(v, MinValueValidator | MaxValueValidator)]
    field.validators = [*kept, MinValueValidator(low, message=message), MaxValueValidator(high, message=message)]
    field.widget.attrs.update({"min": low, "max": high})


class MergeForm(forms.Form):
    """Choose the contact to merge into `parent` (the picker excludes it and merged contacts)."""

    other = ContactChoiceField(queryset=Contact.objects.none(), label="Contact to merge into this one")

    def __init__(self, *args: Any, parent: Contact, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.parent = parent
        field = self.fields["other"]
        assert isinstance(field, ContactChoiceField)
        field.queryset = Contact.objects.unmerged().exclude(pk=parent.pk)
        field.widget = PickerSelect(
            url=f"{reverse('contacts:contact_search')}?exclude={parent.pk}", placeholder="Search by name or email…"
        )
        field.widget.choices = field.choices
        field.error_messages["invalid_choice"] = "Choose another contact that has not been merged."
        self.helper = FormHelper()
        self.helper.form_tag = False
        self.helper.disable_csrf = True


# --- bulk actions ------------------------------------------------------------------------------


class BulkAssignAccountForm(forms.Form):
    account = AccountChoiceField(
        queryset=Account.objects.all(),
        widget=PickerSelect(url=reverse_lazy("contacts:account_search"), placeholder="Search accounts…"),
        help_text="The selected contacts will be linked to this account (replacing their current account).",
    )


# --- accounts ----------------------------------------------------------------------------------


class AccountForm(forms.ModelForm):
    class Meta:
        model = Account
        fields = ["name", "domain", "industry", "country", "employees"]
        help_texts = {"domain": "The company's web domain, e.g. example.com."}
        widgets = {"industry": forms.TextInput(attrs={"list": "industry-options", "autocomplete": "off"})}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _searchable(self.fields["country"], "Choose a country…", blank_label="No country")
        self.industries = selectors.account_industries()
        self.helper = FormHelper()
        self.helper.form_tag = False
        self.helper.disable_csrf = True
        self.helper.layout = Layout(
            Row(Column("name", css_class="col-md-6"), Column("domain", css_class="col-md-6")),
            Row(
                Column("industry", css_class="col-md-5"),
                Column("country", css_class="col-md-4"),
                Column("employees", css_class="col-md-3"),
            ),
        )

    def clean_domain(self) -> str:
        domain = (self.cleaned_data.get("domain") or "").strip().lower()
        domain = re.sub(r"^[a-z][a-z0-9+.-]*://", "", domain).split("/")[0].removeprefix("www.")
        if domain and not DOMAIN_RE.match(domain):
            raise ValidationError("Enter a domain such as example.com.")
        return domain

    def clean_industry(self) -> str:
        return (self.cleaned_data.get("industry") or "").strip()


class AddContactsForm(forms.Form):
    contacts = ContactMultipleChoiceField(queryset=Contact.objects.none(), label="Contacts to add")

    def __init__(self, *args: Any, account: Account, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["contacts"]
        assert isinstance(field, ContactMultipleChoiceField)
        field.queryset = Contact.objects.unmerged()
        field.widget = PickerSelectMultiple(
            url=f"{reverse('contacts:contact_search')}?not_account={account.pk}",
            placeholder="Search contacts by name or email…",
        )
        field.widget.choices = field.choices
