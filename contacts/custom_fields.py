"""The one place where custom contact field values are validated, converted and rendered.

Canonical storage in `Contact.custom` (DESIGN): numbers as JSON numbers, dates as "YYYY-MM-DD",
booleans as JSON booleans, choices as the choice code, multi-choice as a JSON array of codes, other
types as strings. Empty (absent key, null, "", []) is stored by removing the key.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Iterable
from decimal import Decimal, InvalidOperation
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.core.validators import EmailValidator, URLValidator
from django.utils import timezone
from django.utils.html import escape

from contacts.models import ContactField, FieldType

# A phone number: digits, spaces, "+", "-", "(", ")" and ".", then an optional extension ("ext. 12", "x12").
PHONE_RE = re.compile(
    r"^(?P<number>\(?\+?[0-9][0-9 ().-]*?)(?:\s*(?:ext\.?|x)\s*(?P<extension>[0-9]{1,7}))?$",
    re.ASCII | re.IGNORECASE,
)
PHONE_MIN_DIGITS = 6
PHONE_MAX_LENGTH = 40  # Contact.phone's max_length; custom phone values keep the same limit
PHONE_MESSAGE = "Enter a phone number, e.g. +420 601 234 567."
# A plain decimal number: optional sign, digits with "." or "," as the decimal separator, optional exponent.
NUMBER_RE = re.compile(r"^[+-]?(\d+([.,]\d*)?|[.,]\d+)([eE][+-]?\d+)?$", re.ASCII)
# "1,000" could be one thousand or one: refused rather than guessed.
AMBIGUOUS_NUMBER_RE = re.compile(r"^[+-]?\d{1,3},\d{3}$", re.ASCII)
DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$", re.ASCII)
# Numbers are kept within the range where JSON, float and both databases agree exactly on integers.
MAX_NUMBER = 10**15
NUMBER_RANGE_MESSAGE = f"Enter a number between {-MAX_NUMBER:,} and {MAX_NUMBER:,}."
FINITE_MESSAGE = "Enter a finite number."
# What people (and spreadsheets) write for infinity and not-a-number.
NON_FINITE_WORDS = {"inf", "infinity", "nan", "snan", "∞"}


def is_empty(value: Any) -> bool:
    """True for the values DESIGN calls empty: absent (None), null, "" and []."""
    return value is None or value == "" or value == [] or (isinstance(value, str) and not value.strip())


def _number(value: Any) -> int | float:
    """A finite number within ±MAX_NUMBER: an int when whole, else a float (JSON stores both faithfully)."""
    if isinstance(value, bool):
        raise ValidationError("Enter a number.")
    if isinstance(value, int):
        number: int | float = value
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise ValidationError(FINITE_MESSAGE)
        number = value
    else:
        if isinstance(value, Decimal):
            parsed = value
        else:
            text = str(value).strip()
            if AMBIGUOUS_NUMBER_RE.match(text):
                raise ValidationError(f"“{text}” is ambiguous: write it without the comma, or with a decimal point.")
            if text.lower().lstrip("+-") in NON_FINITE_WORDS:
                raise ValidationError(FINITE_MESSAGE)
            if not NUMBER_RE.match(text):
                raise ValidationError("Enter a number.")
            try:
                parsed = Decimal(text.replace(",", "."))
            except InvalidOperation:  # pragma: no cover - NUMBER_RE only lets valid decimals through
                raise ValidationError("Enter a number.") from None
        if not parsed.is_finite():
            raise ValidationError(FINITE_MESSAGE)
        # Compared as a Decimal, before any float conversion: "1e400" would otherwise become infinity.
        if abs(parsed) > MAX_NUMBER:
            raise ValidationError(NUMBER_RANGE_MESSAGE)
        number = int(parsed) if parsed == parsed.to_integral_value() else float(parsed)
    if isinstance(number, float) and number.is_integer():
        number = int(number)
    if abs(number) > MAX_NUMBER:
        raise ValidationError(NUMBER_RANGE_MESSAGE)
    return number


def phone(value: Any) -> str:
    """A phone number as typed (stripped); ValidationError unless it looks like one, with at least 6 digits."""
    text = value.strip() if isinstance(value, str) else ""
    if len(text) > PHONE_MAX_LENGTH:
        raise ValidationError(f"Enter a phone number of at most {PHONE_MAX_LENGTH} characters.", code="invalid_phone")
    match = PHONE_RE.match(text)
    if match is None or sum(map(str.isdigit, match["number"])) < PHONE_MIN_DIGITS:
        raise ValidationError(PHONE_MESSAGE, code="invalid_phone")
    return text


def _date(value: Any) -> str:
    if isinstance(value, dt.datetime):
        return (timezone.localtime(value) if timezone.is_aware(value) else value).date().isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    text = value.strip() if isinstance(value, str) else ""
    try:
        if not DATE_RE.match(text):
            raise ValueError(text)
        return dt.date.fromisoformat(text).isoformat()
    except ValueError:
        raise ValidationError("Enter a date as YYYY-MM-DD.") from None


def _boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, list | dict):
        raise ValidationError("Enter yes or no.")
    text = str(value).strip().lower()
    if text in {"true", "yes", "1", "y", "on"}:
        return True
    if text in {"false", "no", "0", "n", "off"}:
        return False
    raise ValidationError("Enter yes or no.")


def _choice(value: Any, codes: list[str]) -> str:
    if isinstance(value, list | tuple):
        items = [v for v in value if not is_empty(v)]
        if len(items) != 1:
            raise ValidationError("Choose only one of the choices.")
        value = items[0]
    if isinstance(value, dict | list | tuple):
        raise ValidationError("Choose one of the choices.")
    text = str(value).strip()
    for code in codes:  # choices compare ignoring case; the stored value is the canonical code
        if code.lower() == text.lower():
            return code
    raise ValidationError(f"“{text}” is not one of the choices ({', '.join(codes) or 'none defined'}).")


def _multi_choice(value: Any, codes: list[str]) -> list[str]:
    if isinstance(value, str):
        raw: list[Any] = value.split(",")
    elif isinstance(value, list | tuple | set | frozenset):
        raw = list(value)
    elif isinstance(value, dict):
        raise ValidationError("Choose from the choices.")
    else:
        raw = [value]
    items = [v.strip() if isinstance(v, str) else v for v in raw]
    items = [v for v in items if not is_empty(v)]
    unknown = [str(v) for v in items if v not in codes]
    if unknown:
        raise ValidationError(
            f"Not among the choices: {', '.join(unknown)} (choices: {', '.join(codes) or 'none defined'})."
        )
    # Keep the field's own order and drop duplicates, so equal sets are stored equally.
    return [code for code in codes if code in items]


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "Yes" if value else "No"
    if isinstance(value, str | int | float):
        return str(value).strip()
    if isinstance(value, list) and all(isinstance(v, str | int | float) and not isinstance(v, bool) for v in value):
        return ", ".join(str(v).strip() for v in value)  # e.g. a multi-choice value turned into text
    raise ValidationError("Enter text.")


def coerce_value(*, field_type: str, value: Any, choices: list[str] | None = None) -> Any:
    """Return the canonical stored form of `value` for a field type, None when empty; ValidationError if bad."""
    if is_empty(value):
        return None
    codes = choices or []
    match field_type:
        case FieldType.NUMBER:
            return _number(value)
        case FieldType.DATE:
            return _date(value)
        case FieldType.BOOLEAN:
            return _boolean(value)
        case FieldType.CHOICE:
            return _choice(value, codes)
        case FieldType.MULTI_CHOICE:
            return _multi_choice(value, codes) or None
        case FieldType.EMAIL:
            text = str(value).strip()
            EmailValidator("Enter a valid email address.")(text)
            return text
        case FieldType.URL:
            text = str(value).strip()
            URLValidator(message="Enter a valid web address, e.g. https://example.com.")(text)
            return text
        case FieldType.PHONE:
            return phone(value if isinstance(value, str) else str(value))
        case FieldType.TEXT:
            return _text(value)
    raise ValidationError(f"Unknown field type “{field_type}”.")


def field_value(*, field: ContactField, value: Any) -> Any:
    """Canonical value of `value` for one custom field (None when empty)."""
    return coerce_value(field_type=field.type, value=value, choices=field.choice_codes)


def clean_custom(
    *, values: dict[str, Any], fields: Iterable[ContactField], existing: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Validate `values` (code → raw value) for the given fields, merged over `existing`.

    Returns the new `custom` dict. Raises ValidationError with a dict of code → message. Keys in
    `existing` for fields not given (retired fields, unknown keys) are kept unchanged.
    """
    result = dict(existing or {})
    errors: dict[str, list[str]] = {}
    for field in fields:
        if field.code not in values:
            continue
        try:
            cleaned = field_value(field=field, value=values[field.code])
        except ValidationError as exc:
            errors[field.code] = exc.messages
            continue
        if cleaned is None:
            if field.required and field.is_active:
                errors[field.code] = ["This field is required."]
            result.pop(field.code, None)
        else:
            result[field.code] = cleaned
    if errors:
        raise ValidationError(errors)
    return result


def display_value(*, field: ContactField, value: Any) -> str:
    """Human text for a stored value ("" when empty)."""
    if is_empty(value):
        return ""
    if field.type == FieldType.BOOLEAN:
        return "Yes" if value else "No"
    if field.type == FieldType.CHOICE:
        return field.choice_labels.get(value, str(value))
    if field.type == FieldType.MULTI_CHOICE and isinstance(value, list):
        return ", ".join(field.choice_labels.get(v, str(v)) for v in value)
    return str(value)


class NumberFormField(forms.DecimalField):
    """A custom number on a form: the same rules and messages as `coerce_value` (finite, within ±MAX_NUMBER)."""

    def to_python(self, value: Any) -> Decimal | None:  # type: ignore[override]  # the stubs inherit IntegerField's
        if value in self.empty_values or is_empty(value):
            return None
        return Decimal(str(_number(value.strip() if isinstance(value, str) else value)))


class PhoneFormField(forms.CharField):
    """A phone number on a form (custom phone fields and the contact's own phone)."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("max_length", PHONE_MAX_LENGTH)
        super().__init__(**kwargs)

    def to_python(self, value: Any) -> str | None:
        text = super().to_python(value)
        return phone(text) if text else text


def form_field(*, field: ContactField, initial: Any = None) -> forms.Field:
    """A Django form field for a custom field; its cleaned value is the canonical stored value."""
    common: dict[str, Any] = {
        "label": field.label,
        "required": field.required,
        # TRICKY: form templates print help_text unescaped (crispy and Django alike: `|safe`), and an admin
        # types it: escaped here, it shows as typed and never runs as markup.
        "help_text": escape(field.help_text),
        "initial": initial,
    }
    choices = [(c["code"], c.get("label") or c["code"]) for c in field.choices or []]
    match field.type:
        case FieldType.NUMBER:
            return NumberFormField(**common, widget=forms.NumberInput(attrs={"step": "any"}))
        case FieldType.DATE:
            return forms.DateField(**common, widget=forms.DateInput(attrs={"type": "date"}))
        case FieldType.BOOLEAN:
            # NullBooleanSelect (not a plain Select) so a stored True/False is shown selected.
            widget = forms.NullBooleanSelect()
            widget.choices = [("unknown", "—"), ("true", "Yes"), ("false", "No")]
            return forms.NullBooleanField(**{**common, "required": False}, widget=widget)
        case FieldType.CHOICE:
            return forms.ChoiceField(**common, choices=[("", "—"), *choices])
        case FieldType.MULTI_CHOICE:
            return forms.MultipleChoiceField(**common, choices=choices, widget=forms.CheckboxSelectMultiple)
        case FieldType.EMAIL:
            return forms.EmailField(**common)
        case FieldType.URL:
            return forms.URLField(**common, assume_scheme="https")
        case FieldType.PHONE:
            return PhoneFormField(**common)
    return forms.CharField(**common, max_length=1000)
