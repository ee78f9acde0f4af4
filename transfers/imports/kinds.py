"""What an import brings in: contacts or accounts. One small description per kind, read by the shared pipeline.

Invariant: the pipeline (reading → mapping → check → preview → slices → report) is one; a kind only says which
fields a column can fill (its targets and how each cell is typed), how headers are guessed, which records
the rows are matched to, and how the pages word it. Contacts are matched by email, accounts by name (compared
like `contacts.models.name_key`: case, accents and spacing ignored) or, when no account has the name, by domain.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from transfers.imports import mapping, values
from transfers.imports.mapping import Target
from transfers.models import ImportKind

ACCOUNT_TARGETS: dict[str, tuple[str, str]] = {  # target → (label, type)
    "name": ("Name", "text"),
    "domain": ("Domain", "url"),
    "industry": ("Industry", "text"),
    "employees": ("Number of employees", "number"),
    "country": ("Country", "country"),
}
_ACCOUNT_SYNONYM_LISTS = {
    "name": [
        "name",
        "account",
        "account name",
        "company",
        "company name",
        "companyname",
        "organization",
        "organisation",
        "organization name",
        "organisation name",
        "firma",
        "nazev",
        "nazev firmy",
        "spolecnost",
        "organizace",
        "unternehmen",
        "firmenname",
        "name des unternehmens",
    ],
    "domain": [
        "domain",
        "company domain name",
        "company domain",
        "website",
        "website url",
        "web",
        "url",
        "homepage",
        "domena",
        "webova stranka",
        "webseite",
        "domane",
    ],
    "industry": ["industry", "sector", "odvetvi", "obor", "branche", "industrie", "sektor"],
    "employees": [
        "number of employees",
        "employees",
        "employee count",
        "headcount",
        "company size",
        "pocet zamestnancu",
        "zamestnanci",
        "mitarbeiter",
        "anzahl mitarbeiter",
        "mitarbeiterzahl",
        "anzahl der mitarbeiter",
    ],
    "country": ["country", "country/region", "country region", "country code", "zeme", "stat", "land", "staat"],
}
ACCOUNT_SYNONYMS: dict[str, str] = {
    re.sub(r"[^a-z0-9]+", " ", name).strip(): target
    for target, names in _ACCOUNT_SYNONYM_LISTS.items()
    for name in names
}


def _account_targets() -> list[Target]:
    return [Target(value=v, label=label, type=kind) for v, (label, kind) in ACCOUNT_TARGETS.items()]


def _account_guess(header: Sequence[str]) -> list[str]:
    return mapping.mapping_guess(header=header, fields=[], synonyms=ACCOUNT_SYNONYMS)


def _contact_guess(header: Sequence[str]) -> list[str]:
    return mapping.mapping_guess(header=header)


@dataclass(frozen=True)
class Kind:
    """How one kind of record is imported (see the module's invariant)."""

    code: str
    noun: str  # "contact"
    plural: str  # "contacts"
    matched_by: str  # the sentence of the upload page
    targets: Callable[[], list[Target]]
    guess: Callable[[Sequence[str]], list[str]]
    converters: dict[str, Callable[[str], Any]]  # standard target → cell typer (custom fields apart)
    permissions: tuple[str, ...]  # besides transfers.add_importjob
    upload_url: str  # the upload page's URL name

    def target_labels(self) -> dict[str, str]:
        return {t.value: t.label for t in self.targets()}


CONTACTS = Kind(
    code=ImportKind.CONTACTS,
    noun="contact",
    plural="contacts",
    matched_by="Contacts are matched by email (ignoring case and spaces): a known email updates that contact, a new "
    "one creates a contact. A company column links each contact to its account.",
    targets=lambda: mapping.targets(),
    guess=_contact_guess,
    converters=values.STANDARD_CONVERTERS,
    permissions=(),
    upload_url="transfers:import_upload",
)
ACCOUNTS = Kind(
    code=ImportKind.ACCOUNTS,
    noun="account",
    plural="accounts",
    matched_by="Accounts are matched by name (ignoring case, accents and spaces), or by domain when no account has "
    "the name: a known account is updated, a new name creates an account.",
    targets=_account_targets,
    guess=_account_guess,
    converters=values.ACCOUNT_CONVERTERS,
    permissions=("contacts.add_account", "contacts.change_account"),
    upload_url="transfers:import_upload_accounts",
)
KINDS: dict[str, Kind] = {CONTACTS.code: CONTACTS, ACCOUNTS.code: ACCOUNTS}


def kind_of(code: str) -> Kind:
    """The description of an import kind by its code (an unknown code is a programming error)."""
    return KINDS[code]
