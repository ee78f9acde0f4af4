"""The columns an export can hold, in the order they are offered and written.

A column reads one path of `values_list` (relative to Contact) and says what kind of value it holds;
the writers format each kind (`writers.py`). Custom fields come from field settings (active fields, in
their order); membership columns exist only when exporting a group's members.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from contacts.models import ContactField, FieldType, newest_activity
from contacts.selectors import active_custom_fields


class Kind(StrEnum):
    TEXT = "text"
    NUMBER = "number"
    DATE = "date"
    DATETIME = "datetime"
    BOOLEAN = "boolean"
    LIST = "list"  # a multi-choice custom value: a list of codes
    SOURCES = "sources"  # a membership's three source flags


class Section(StrEnum):
    CONTACT = "Contact"
    CUSTOM = "Custom fields"
    ACCOUNT = "Account"
    MEMBERSHIP = "Group membership"


@dataclass(frozen=True)
class Column:
    key: str  # what `--columns` and the form send: "email", "custom.plan", "account.name", "member.since"
    label: str  # the header written in the file
    section: Section
    path: str  # the `values_list` path from Contact ("custom" for every custom column)
    kind: Kind
    custom_code: str = ""  # the key inside Contact.custom, for custom columns
    default: bool = False  # ticked when the chooser opens
    # Read instead of `path` when set: the value's expression, given the prefix that reaches Contact.
    expression: Callable[[str], Any] | None = None

    def value(self, prefix: str) -> Any:
        """What a query selects for this column: its expression, or its field path (after `prefix`)."""
        if self.expression is not None:
            return self.expression(prefix)
        return self.path if self.section == Section.MEMBERSHIP else prefix + self.path


_CUSTOM_KINDS = {
    FieldType.NUMBER: Kind.NUMBER,
    FieldType.DATE: Kind.DATE,
    FieldType.BOOLEAN: Kind.BOOLEAN,
    FieldType.MULTI_CHOICE: Kind.LIST,
}

BUILTIN_COLUMNS: tuple[Column, ...] = (
    Column("id", "Contact ID", Section.CONTACT, "id", Kind.NUMBER),
    Column("email", "Email", Section.CONTACT, "email", Kind.TEXT, default=True),
    Column("first_name", "First name", Section.CONTACT, "first_name", Kind.TEXT, default=True),
    Column("last_name", "Last name", Section.CONTACT, "last_name", Kind.TEXT, default=True),
    Column("phone", "Phone", Section.CONTACT, "phone", Kind.TEXT, default=True),
    Column("country", "Country", Section.CONTACT, "country", Kind.TEXT, default=True),
    Column("city", "City", Section.CONTACT, "city", Kind.TEXT, default=True),
    Column("job_title", "Job title", Section.CONTACT, "job_title", Kind.TEXT, default=True),
    Column("lead_score", "Lead score", Section.CONTACT, "lead_score", Kind.NUMBER, default=True),
    Column("created_at", "Created", Section.CONTACT, "created_at", Kind.DATETIME, default=True),
    Column("updated_at", "Updated", Section.CONTACT, "updated_at", Kind.DATETIME),
    # The exact newest activity time: the contact row's copy or a later rise not folded yet.
    Column(
        "last_activity_at",
        "Last activity",
        Section.CONTACT,
        "last_activity_at",
        Kind.DATETIME,
        expression=newest_activity,
    ),  # fmt: skip
)
ACCOUNT_COLUMNS: tuple[Column, ...] = (
    Column("account.name", "Account", Section.ACCOUNT, "account__name", Kind.TEXT, default=True),
    Column("account.domain", "Account domain", Section.ACCOUNT, "account__domain", Kind.TEXT),
    Column("account.industry", "Account industry", Section.ACCOUNT, "account__industry", Kind.TEXT),
    Column("account.country", "Account country", Section.ACCOUNT, "account__country", Kind.TEXT),
    Column("account.employees", "Account employees", Section.ACCOUNT, "account__employees", Kind.NUMBER),
)
# Paths of membership columns are relative to Membership (the export of a group reads its rows).
MEMBERSHIP_COLUMNS: tuple[Column, ...] = (
    Column("member.sources", "Member sources", Section.MEMBERSHIP, "", Kind.SOURCES, default=True),
    Column("member.since", "Member since", Section.MEMBERSHIP, "added_at", Kind.DATETIME, default=True),
)
SOURCE_PATHS = ("via_manual", "via_account", "via_condition")
SOURCE_LABELS = ("Manual", "From account", "Condition")


def custom_column(field: ContactField) -> Column:
    return Column(
        key=f"custom.{field.code}",
        label=field.label,
        section=Section.CUSTOM,
        path="custom",
        kind=_CUSTOM_KINDS.get(FieldType(field.type), Kind.TEXT),
        custom_code=field.code,
    )


def column_catalogue(*, membership: bool, custom_fields: list[ContactField] | None = None) -> list[Column]:
    """Every column offered: built-in, custom (active fields, field-settings order), account, and membership
    columns when exporting a group's members."""
    fields = custom_fields if custom_fields is not None else active_custom_fields()
    columns = [*BUILTIN_COLUMNS, *(custom_column(f) for f in fields), *ACCOUNT_COLUMNS]
    if membership:
        columns += MEMBERSHIP_COLUMNS
    return columns


def default_column_keys(*, membership: bool) -> list[str]:
    """The columns ticked when the chooser opens (and exported when none are named)."""
    return [c.key for c in column_catalogue(membership=membership, custom_fields=[]) if c.default]


class UnknownColumns(ValueError):
    """Raised with the unknown keys when asked for columns that do not exist."""

    def __init__(self, keys: list[str]) -> None:
        self.keys = keys
        super().__init__(f"Unknown column{'s' if len(keys) != 1 else ''}: {', '.join(keys)}")


def columns_by_keys(*, keys: list[str], membership: bool) -> list[Column]:
    """The catalogue's columns for `keys`, in the order given (duplicates dropped); UnknownColumns otherwise."""
    catalogue = {c.key: c for c in column_catalogue(membership=membership)}
    unknown = [k for k in keys if k not in catalogue]
    if unknown:
        raise UnknownColumns(unknown)
    return [catalogue[k] for k in dict.fromkeys(keys)]
