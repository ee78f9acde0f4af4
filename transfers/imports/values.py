"""Turning the text of a cell into the value a contact stores, by the field's settings.

Invariant: every function here is pure (no database) and either returns the canonical value (None for
an empty cell) or raises ValueError with a message for the report. Custom field values end in the form
`contacts.custom_fields` stores (it checks them again: the one place that knows custom types); the
import only understands more spellings first — dates in a chosen format, "ano"/"ja" for yes, choice
labels as well as codes, countries by name in English, Czech or German, or by code.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from collections.abc import Callable
from functools import cache, lru_cache, partial
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import EmailValidator
from django.utils import translation
from django_countries import countries

from contacts import custom_fields
from contacts.models import Account, Contact, ContactField, FieldType
from contacts.selectors import domain_key

# Date formats a person can choose on the mapping screen ("auto" reads ISO and unambiguous forms).
DATE_FORMATS: dict[str, str] = {
    "auto": "Automatic (YYYY-MM-DD, DD.MM.YYYY; ask when unclear)",
    "dmy": "Day first (31/12/2025, 31.12.2025)",
    "mdy": "Month first (12/31/2025)",
    "ymd": "Year first (2025-12-31, 2025/12/31)",
}
_DATE_PARTS = re.compile(r"^(\d{1,4})[./-](\d{1,2})[./-](\d{1,4})\.?$")
_DATETIME_TAIL = re.compile(r"[ T]\d{1,2}:\d{2}(:\d{2}(\.\d+)?)?( ?([+-]\d{2}:?\d{2}|Z|UTC))?$", re.IGNORECASE)
TRUE_WORDS = {"true", "yes", "y", "1", "on", "x", "ano", "a", "ja", "j", "wahr", "pravda"}
FALSE_WORDS = {"false", "no", "n", "0", "off", "ne", "nein", "falsch", "nepravda"}
EXTRA_COUNTRY_NAMES = {
    "usa": "US",
    "united states": "US",
    "united states of america": "US",
    "america": "US",
    "uk": "GB",
    "united kingdom": "GB",
    "great britain": "GB",
    "england": "GB",
    "scotland": "GB",
    "wales": "GB",
    "czech rep": "CZ",
    "ceska republika": "CZ",
    "cesko": "CZ",
    "cechy": "CZ",
    "slovak republic": "SK",
    "slovensko": "SK",
    "russia": "RU",
    "south korea": "KR",
    "korea": "KR",
    "holland": "NL",
    "the netherlands": "NL",
    "vietnam": "VN",
    "turkey": "TR",
}
_STANDARD_LENGTHS: dict[str, int | None] = {
    name: getattr(Contact._meta.get_field(name), "max_length", None)
    for name in ("first_name", "last_name", "city", "job_title")
}
_ACCOUNT_LENGTHS: dict[str, int] = {
    name: getattr(Account._meta.get_field(name), "max_length", None) or 0 for name in ("name", "industry", "domain")
}
_DOMAIN = re.compile(r"^(?=.{1,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z][a-z0-9-]{0,62}$")


class _EmailValidator(EmailValidator):
    """Django's email validator with its patterns compiled once: Django's are lazy objects, and reaching a
    pattern through one cost as much as matching it (an import checks every row's address)."""

    user_regex = re.compile(EmailValidator.user_regex.pattern, EmailValidator.user_regex.flags)
    domain_regex = re.compile(EmailValidator.domain_regex.pattern, EmailValidator.domain_regex.flags)
    literal_regex = re.compile(EmailValidator.literal_regex.pattern, EmailValidator.literal_regex.flags)


_email_validator = _EmailValidator("Not a valid email address.")


def _plain(text: str) -> str:
    """Lower case, without accents and punctuation ("Česká republika" → "ceska republika")."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
    return re.sub(r"[^a-z0-9]+", " ", ascii_text).strip()


@cache
def _country_names() -> dict[str, str]:
    """Every spelling of every country we know → its ISO alpha-2 code (names in English, Czech, German)."""
    names: dict[str, str] = {}
    for language in ("de", "cs", "en"):  # English last: it wins where languages disagree
        with translation.override(language):
            for code, name in countries:
                names[_plain(str(name))] = code
    for code, _ in countries:
        names[code.lower()] = code
        alpha3 = countries.alpha3(code)
        if alpha3:
            names[alpha3.lower()] = code
    names.update(EXTRA_COUNTRY_NAMES)
    return names


@lru_cache(maxsize=4096)  # a file repeats its few spellings (and errors are not cached)
def country(text: str) -> str:
    """An ISO 3166-1 alpha-2 code from a code ("cz", "CZE") or a name ("Czech Republic", "Czechia", "Česko")."""
    key = _plain(text)
    code = _country_names().get(key) or _country_by_name(text.strip())
    if not code:
        raise ValueError(f"“{text.strip()}” is not a country we know (use a name like Czechia or a code like CZ).")
    return code


@lru_cache(maxsize=4096)
def _country_by_name(name: str) -> str:
    """django-countries' own lookup by official name ("United Kingdom of Great Britain …"), remembered: it
    translates and compares every country's name (3-4 ms a call), and a file repeats its few spellings."""
    return countries.by_name(name)


def _email_trimmed(text: str) -> str:
    return text.strip().strip("<>").strip()


def email_key(text: str) -> str:
    """How a cell's email address is matched (to contacts, to the file's other rows): trimmed, lower case."""
    return _email_trimmed(text).lower()


def email(text: str) -> str:
    """A trimmed email address; ValueError unless it is one (its key: `email_key`)."""
    value = _email_trimmed(text)
    if len(value) > 254:
        raise ValueError("The email address is longer than 254 characters.")
    try:
        _email_validator(value)
    except ValidationError:
        raise ValueError(f"“{value}” is not a valid email address.") from None
    return value


@lru_cache(maxsize=16384)
def date(text: str, *, date_format: str = "auto") -> str:
    """A date as "YYYY-MM-DD" from the usual forms; ValueError when it is not a date or is ambiguous."""
    value = _DATETIME_TAIL.sub("", text.strip())
    match = _DATE_PARTS.match(value)
    if match is None:
        raise ValueError(f"“{text.strip()}” is not a date (e.g. 2025-12-31 or 31.12.2025).")
    a, b, c = match.groups()
    separator = value[len(a)]
    if len(a) == 4:
        year, month, day = a, b, c
    elif len(c) in (2, 4):
        fmt = date_format
        if fmt in ("auto", "ymd"):
            # 31.12.2025: dates with dots are written day first wherever they are used
            if separator == "." or int(a) > 12 >= int(b):
                fmt = "dmy"
            elif int(b) > 12 >= int(a):
                fmt = "mdy"
            else:
                raise ValueError(
                    f"“{text.strip()}” could be day/month or month/day: choose the date format on the mapping screen."
                )
        day, month = (a, b) if fmt == "dmy" else (b, a)
        year = c if len(c) == 4 else f"20{c}" if int(c) < 70 else f"19{c}"
    else:
        raise ValueError(f"“{text.strip()}” is not a date (e.g. 2025-12-31 or 31.12.2025).")
    try:
        return dt.date(int(year), int(month), int(day)).isoformat()
    except ValueError:
        raise ValueError(f"“{text.strip()}” is not a real date.") from None


def boolean(text: str) -> bool:
    """Yes or no, in English, Czech or German ("ano", "ja", "x" for a ticked box)."""
    word = _plain(text)
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise ValueError(f"“{text.strip()}” is not yes or no.")


@lru_cache(maxsize=16384)
def number(text: str) -> int | float:
    """A number; spaces between thousands are allowed ("1 234,5")."""
    value = re.sub(r"[\s\u00a0\u202f']", "", text)
    try:
        return custom_fields.coerce_value(field_type=FieldType.NUMBER, value=value)
    except ValidationError as exc:
        raise ValueError(f"“{text.strip()}”: {' '.join(exc.messages)}") from None


def whole_number(text: str) -> int:
    value = number(text)
    if isinstance(value, float):
        raise ValueError(f"“{text.strip()}” is not a whole number.")
    return value


def _choice_code(field: ContactField, text: str) -> str:
    """The choice code written as its code or its label, ignoring case; ValueError when neither."""
    lookup = field.__dict__.get("_import_choice_words")
    if lookup is None:  # once per field and import (the field object lives for one run)
        lookup = {}
        for code, label in field.choice_labels.items():
            lookup.setdefault(code.lower(), code)
            lookup.setdefault(label.lower(), code)
        field.__dict__["_import_choice_words"] = lookup
    found = lookup.get(text.strip().lower())
    if found is not None:
        return found
    codes = ", ".join(field.choice_codes) or "none defined"
    raise ValueError(f"“{text.strip()}” is not one of the choices of {field.label} ({codes}).")


def custom_value(field: ContactField, text: str, *, date_format: str = "auto") -> Any:
    """The stored value of a custom field from a cell; ValueError with the reason when it does not fit."""
    return custom_converter(field, date_format=date_format)(text)


def custom_converter(field: ContactField, *, date_format: str = "auto") -> Callable[[str], Any]:
    """`custom_value` for one field, chosen once by its type (an import types every cell of a column with it)."""
    match field.type:
        case FieldType.DATE:
            return partial(date, date_format=date_format)
        case FieldType.BOOLEAN:
            return boolean
        case FieldType.NUMBER:
            return number
        case FieldType.CHOICE:
            return partial(_choice_code, field)
        case FieldType.MULTI_CHOICE:
            return partial(_choice_codes, field)

    def other(text: str) -> Any:
        try:
            return custom_fields.field_value(field=field, value=text)
        except ValidationError as exc:
            raise ValueError(f"“{text.strip()}”: {' '.join(exc.messages)}") from None

    return other


def _choice_codes(field: ContactField, text: str) -> list[str]:
    return [_choice_code(field, p) for p in re.split(r"[,;|]", text) if p.strip()]


def _text(name: str, limit: int | None = None) -> Callable[[str], str]:
    limit = limit or _STANDARD_LENGTHS[name]

    def convert(text: str) -> str:
        value = " ".join(text.split())
        if limit and len(value) > limit:
            raise ValueError(f"Longer than {limit} characters.")
        return value

    return convert


@lru_cache(maxsize=16384)
def _phone(text: str) -> str:
    try:
        return custom_fields.phone(text)
    except ValidationError as exc:
        raise ValueError(f"“{text.strip()}”: {' '.join(exc.messages)}") from None


def domain(text: str) -> str:
    """A web domain from a domain, a web address or an email address ("https://www.Acme.com/x" → "acme.com")."""
    value = domain_key(text)
    if not _DOMAIN.match(value):
        raise ValueError(f"“{text.strip()}” is not a web domain (e.g. acme.com).")
    return value


def employees(text: str) -> int:
    """A number of employees: a whole number, 0 or more ("1 200", "1,200" and "1.200" too: never a fraction)."""
    plain = re.sub(r"[\s\u00a0\u202f']", "", text)
    if re.fullmatch(r"\d{1,3}([,.])\d{3}(\1\d{3})*", plain):
        plain = re.sub(r"[,.]", "", plain)
    try:
        value = whole_number(plain)
    except ValueError:
        raise ValueError(f"“{text.strip()}” is not a number of employees (a whole number, like 250).") from None
    if value < 0:
        raise ValueError(f"“{text.strip()}”: the number of employees cannot be negative.")
    if value > 2_147_483_647:
        raise ValueError(f"“{text.strip()}”: too many employees.")
    return value


account_name = _text("account", _ACCOUNT_LENGTHS["name"])

STANDARD_CONVERTERS: dict[str, Callable[[str], Any]] = {
    "email": email,
    "first_name": _text("first_name"),
    "last_name": _text("last_name"),
    "phone": _phone,
    "country": country,
    "city": _text("city"),
    "job_title": _text("job_title"),
    "lead_score": whole_number,
    "account": account_name,
    "account_domain": domain,
}

# An account import's fields.
ACCOUNT_CONVERTERS: dict[str, Callable[[str], Any]] = {
    "name": account_name,
    "domain": domain,
    "industry": _text("industry", _ACCOUNT_LENGTHS["industry"]),
    "employees": employees,
    "country": country,
}
