"""Which contact field each column of a file fills: automatic by header, corrected by people, saved for reuse.

A mapping is a list with one target per column: "" (ignored), a standard contact field name
("email", "first_name", …), "account" / "account_domain" (the contact's account by company name or
domain), or "custom.<code>" for an active custom field. An account import maps to account fields
instead (transfers.imports.kinds). The automatic mapping knows the
headers of the exports people bring: Mailchimp ("Email Address", "First Name"), HubSpot ("Country/Region",
"Company Name", "Record ID"), Excel sheets headed in English, Czech or German. A column is never mapped
twice: the first column for a field wins, later ones are ignored (and shown as such).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from contacts.models import ContactField

IGNORE = ""
CUSTOM_PREFIX = "custom."

# Standard fields an import may fill, with their labels, in the order of the mapping screen.
STANDARD_TARGETS: dict[str, str] = {
    "email": "Email",
    "first_name": "First name",
    "last_name": "Last name",
    "phone": "Phone",
    "country": "Country",
    "city": "City",
    "job_title": "Job title",
    "lead_score": "Lead score",
    "account": "Account (company name)",
    "account_domain": "Account domain (to find the account)",
}

# Normalised header (see `header_key`) → field. English, Czech, German, and the big tools' export headers.
SYNONYMS: dict[str, str] = {}
_SYNONYM_LISTS = {
    "email": [
        "email",
        "e-mail",
        "email address",
        "e-mail address",
        "emailaddress",
        "mail",
        "email_address",
        "primary email",
        "work email",
        "e-mailova adresa",
        "emailova adresa",
        "e-mailadresse",
        "emailadresse",
        "mailadresse",
        "e-mail-adresse",
        "kontaktni email",
    ],
    "first_name": [
        "first name",
        "firstname",
        "first",
        "given name",
        "forename",
        "fname",
        "jmeno",
        "krestni jmeno",
        "vorname",
        "first_name",
    ],
    "last_name": [
        "last name",
        "lastname",
        "last",
        "surname",
        "family name",
        "lname",
        "prijmeni",
        "nachname",
        "familienname",
        "last_name",
    ],
    "phone": [
        "phone",
        "phone number",
        "telephone",
        "tel",
        "mobile",
        "mobile phone",
        "mobile phone number",
        "cell",
        "telefon",
        "telefonni cislo",
        "mobil",
        "telefonnummer",
        "handy",
        "handynummer",
        "mobilnummer",
    ],
    "country": [
        "country",
        "country/region",
        "country region",
        "country code",
        "nation",
        "zeme",
        "stat",
        "land",
        "staat",
        "country_code",
    ],
    "city": ["city", "town", "mesto", "obec", "stadt", "ort", "wohnort"],
    "job_title": [
        "job title",
        "jobtitle",
        "position",
        "job",
        "job_title",
        "pozice",
        "funkce",
        "pracovni pozice",
        "berufsbezeichnung",
        "stelle",
    ],
    "lead_score": [
        "lead score",
        "leadscore",
        "score",
        "member rating",
        "hubspot score",
        "skore",
        "lead skore",
        "bewertung",
        "lead_score",
    ],
    "account": [
        "account",
        "account name",
        "company",
        "company name",
        "companyname",
        "organization",
        "organisation",
        "organization name",
        "employer",
        "firma",
        "nazev firmy",
        "spolecnost",
        "organizace",
        "zamestnavatel",
        "unternehmen",
        "firmenname",
        "organisation name",
    ],
    "account_domain": [
        "company domain name",
        "company domain",
        "company website",
        "website",
        "website url",
        "web",
        "domain",
        "webova stranka",
        "web firmy",
        "webseite",
        "homepage",
        "domane",
    ],
}
for _field, _names in _SYNONYM_LISTS.items():
    for _name in _names:
        SYNONYMS[re.sub(r"[^a-z0-9]+", " ", _name).strip()] = _field


# Headers recognised but not imported (yet), with the reason shown on the mapping screen.
KNOWN_IGNORED: dict[str, str] = {
    "record id": "HubSpot's own record id: not imported.",
    "leid": "Mailchimp's own id: not imported.",
    "euid": "Mailchimp's own id: not imported.",
}


def header_key(header: str) -> str:
    """A header compared loosely: no accents, case or punctuation ("E-mailová adresa" → "e mailova adresa")."""
    text = unicodedata.normalize("NFKD", header).encode("ascii", "ignore").decode().lower()
    return re.sub(r"[^a-z0-9]+", " ", text).strip()


@dataclass(frozen=True)
class Target:
    """A field a column can fill: its value in a mapping, label, and type (standard fields' own types)."""

    value: str
    label: str
    type: str
    field: ContactField | None = None


def targets(*, fields: Iterable[ContactField] | None = None) -> list[Target]:
    """Every field an import may fill: the standard ones, then the active custom fields."""
    types = {
        "email": "email",
        "phone": "phone",
        "country": "country",
        "lead_score": "number",
        "account": "account",
        "account_domain": "url",
    }
    result = [Target(value=name, label=label, type=types.get(name, "text")) for name, label in STANDARD_TARGETS.items()]
    custom = ContactField.objects.active() if fields is None else fields
    result += [Target(value=f"{CUSTOM_PREFIX}{f.code}", label=f.label, type=f.type, field=f) for f in custom]
    return result


def mapping_guess(
    *,
    header: Sequence[str],
    fields: Iterable[ContactField] | None = None,
    synonyms: dict[str, str] | None = None,
) -> list[str]:
    """The automatic mapping of a header: a target per column by synonym, custom label or code; "" when unknown."""
    custom = list(ContactField.objects.active() if fields is None else fields)
    by_key: dict[str, str] = dict(SYNONYMS if synonyms is None else synonyms)
    for f in custom:  # a custom field's label or code beats a synonym ("Title" may be a custom field)
        by_key[header_key(f.label)] = f"{CUSTOM_PREFIX}{f.code}"
        by_key[header_key(f.code)] = f"{CUSTOM_PREFIX}{f.code}"
    result: list[str] = []
    for name in header:
        key = header_key(name)
        target = by_key.get(key, IGNORE)
        if not target and key.replace(" ", "") in {k.replace(" ", "") for k in by_key}:
            target = next(v for k, v in by_key.items() if k.replace(" ", "") == key.replace(" ", ""))
        result.append(IGNORE if target in result else target)
    return result


def mapping_from_saved(*, header: Sequence[str], columns: dict[str, str], valid: set[str]) -> list[str]:
    """Apply a saved mapping (header key → target) to a header; unknown headers and retired fields are ignored."""
    result: list[str] = []
    for name in header:
        target = columns.get(header_key(name), IGNORE)
        result.append(target if target in valid and target not in result else IGNORE)
    return result


def mapping_to_saved(*, header: Sequence[str], mapping: Sequence[str]) -> dict[str, str]:
    """A mapping as it is saved: header key → target, for the mapped columns."""
    return {header_key(name): target for name, target in zip(header, mapping, strict=True) if target}


def mapping_problems(*, mapping: Sequence[str], valid: set[str]) -> list[str]:
    """What is wrong with a mapping: unknown targets, a field filled by two columns, nothing mapped."""
    problems = []
    unknown = sorted({t for t in mapping if t and t not in valid})
    if unknown:
        problems.append(f"Unknown fields: {', '.join(unknown)}.")
    mapped = [t for t in mapping if t]
    doubled = sorted({t for t in mapped if mapped.count(t) > 1})
    if doubled:
        problems.append(f"Each field can be filled by one column only: {', '.join(doubled)}.")
    if not mapped:
        problems.append("No column is mapped to a field: choose a field for at least one column.")
    return problems
