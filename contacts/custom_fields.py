"""The one place where custom contact field values are validated, converted and rendered.

Canonical storage in `Contact.custom` (DESIGN): numbers as JSON numbers, dates as "YYYY-MM-DD",
booleans as JSON booleans, choices as the choice code, multi-choice as a JSON array of codes, other
types as strings. Empty (absent key, null, "", []) is stored by removing the key.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from decimal import Decimal, InvalidOperation
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.core.validators import EmailValidator, URLValidator

from contacts.models import ContactField, FieldType

PHONE_RE = re.compile(r"^\+?[0-9][0-9 ()./-]{3,30}$")


def is_empty(value: Any) -> bool:
    """True for the values DESIGN calls empty: absent (None), null, "" and []."""
    return value is None or value == "" or value == [] or (isinstance(value, str) and not value.strip())


def _number(value: Any) -> int | float:
    if isinstance(value, bool):
        raise ValidationError("Enter a number.")
    if isinstance(value, int | float):
        number: int | float = value
    else:
        try:
            parsed = Decimal(str(value).strip().replace(",", "."))
        except InvalidOperation:
            raise ValidationError("Enter a number.") from None
        if not parsed.is_finite():
            raise ValidationError("Enter a number.")
        number = int(parsed) if parsed == parsed.to_integral_value() else float(parsed)
    if isinstance(number, float) and number.is_integer():
        number = int(number)
    return number


def _date(value: Any) -> str:
    if isinstance(value, dt.datetime):
        return value.date().isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    try:
        return dt.date.fromisoformat(str(value).strip()).isoformat()
    except ValueError:
        raise ValidationError("Enter a date as YYYY-MM-DD.") from None


def _boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in {"true", "yes", "1", "y", "on"}:
        return True
    if text in {"false", "no", "0", "n", "off"}:
        return False
    raise ValidationError("Enter yes or no.")


def _choice(value: Any, codes: list[str]) -> str:
    text = str(value).strip()
    for code in codes:  # choices compare ignoring case; the stored value is the canonical code
        if code.lower() == text.lower():
            return code
    raise ValidationError(f"“{text}” is not one of the choices ({', '.join(codes) or 'none defined'}).")


def _multi_choice(value: Any, codes: list[str]) -> list[str]:
    items = [v.strip() for v in value.split(",")] if isinstance(value, str) else list(value)
    unknown = [str(v) for v in items if v not in codes]
    if unknown:
        raise ValidationError(
            f"Not among the choices: {', '.join(unknown)} (choices: {', '.join(codes) or 'none defined'})."
        )
    # Keep the field's own order and drop duplicates, so equal sets are stored equally.
    return [code for code in codes if code in items]


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
            text = str(value).strip()
            if not PHONE_RE.match(text):
                raise ValidationError("Enter a valid phone number, e.g. +420 601 123 456.")
            return text
        case FieldType.TEXT:
            if not isinstance(value, str | int | float) or isinstance(value, bool):
                raise ValidationError("Enter text.")
            return str(value).strip()
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


def form_field(*, field: ContactField, initial: Any = None) -> forms.Field:
    """A Django form field for a custom field; its cleaned value is the canonical stored value."""
    common: dict[str, Any] = {
        "label": field.label,
        "required": field.required,
        "help_text": field.help_text,
        "initial": initial,
    }
    choices = [(c["code"], c.get("label") or c["code"]) for c in field.choices or []]
    match field.type:
        case FieldType.NUMBER:
            return forms.DecimalField(**common, widget=forms.NumberInput(attrs={"step": "any"}))
        case FieldType.DATE:
            return forms.DateField(**common, widget=forms.DateInput(attrs={"type": "date"}))
        case FieldType.BOOLEAN:
            return forms.NullBooleanField(
                **{**common, "required": False},
                widget=forms.Select(choices=[("unknown", "—"), ("true", "Yes"), ("false", "No")]),
            )
        case FieldType.CHOICE:
            return forms.ChoiceField(**common, choices=[("", "—"), *choices])
        case FieldType.MULTI_CHOICE:
            return forms.MultipleChoiceField(**common, choices=choices, widget=forms.CheckboxSelectMultiple)
        case FieldType.EMAIL:
            return forms.EmailField(**common)
        case FieldType.URL:
            return forms.URLField(**common, assume_scheme="https")
        case FieldType.PHONE:
            return forms.CharField(**common, max_length=40)
    return forms.CharField(**common, max_length=1000)
