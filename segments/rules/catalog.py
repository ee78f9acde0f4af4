"""What a rule tree may refer to: built-in fields, custom fields, activity fields, groups, consents.

Invariant: the catalog is the only part of the rule engine that reads metadata from the database
(ContactField, Consent, ContactGroup, Campaign); it loads each kind at most once, in one query, and
only for the codes a tree actually mentions.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from typing import Any

from django_countries import countries

from contacts.models import Activity, ActivityType, Consent, ContactField, FieldType
from segments.rules.nodes import Attribute, Scope, ValueType


@cache
def country_choices() -> tuple[tuple[str, str], ...]:
    return tuple((code, str(name)) for code, name in countries)


def _contact(name: str, label: str, type: ValueType, **kw: Any) -> Attribute:
    return Attribute(name=name, label=label, type=type, scope=Scope.CONTACT, column=name, **kw)


def _account(name: str, label: str, type: ValueType, **kw: Any) -> Attribute:
    return Attribute(name=f"account.{name}", label=label, type=type, scope=Scope.ACCOUNT, column=name, **kw)


def _activity(name: str, label: str, type: ValueType, **kw: Any) -> Attribute:
    return Attribute(name=name, label=label, type=type, scope=Scope.ACTIVITY, **{"column": name, **kw})


def builtin_contact_fields() -> dict[str, Attribute]:
    countries_ = country_choices()
    fields = [
        _contact("email", "email", ValueType.EMAIL, nullable=True),
        _contact("first_name", "first name", ValueType.TEXT),
        _contact("last_name", "last name", ValueType.TEXT),
        _contact("phone", "phone", ValueType.PHONE),
        _contact("country", "country", ValueType.CHOICE, choices=countries_, exact_codes=True),
        _contact("city", "city", ValueType.TEXT),
        _contact("job_title", "job title", ValueType.TEXT),
        _contact("lead_score", "lead score", ValueType.NUMBER, scale=0),
        _contact("created_at", "date created", ValueType.DATE, datetime_column=True),
        _contact("updated_at", "date last updated", ValueType.DATE, datetime_column=True),
        _account("name", "account name", ValueType.TEXT),
        _account("domain", "account domain", ValueType.TEXT),
        _account("industry", "account industry", ValueType.TEXT),
        _account("country", "account country", ValueType.CHOICE, choices=countries_, exact_codes=True),
        _account("employees", "account employees", ValueType.NUMBER, nullable=True, scale=0),
    ]
    return {f.name: f for f in fields}


ACTIVITY_FIELDS: dict[str, Attribute] = {
    a.name: a
    for a in (
        _activity("url", "URL", ValueType.URL),
        _activity("title", "title", ValueType.TEXT),
        _activity("campaign", "campaign", ValueType.CAMPAIGN, column="campaign_id", nullable=True),
        _activity("value", "value", ValueType.NUMBER, nullable=True, scale=2),
    )
}
# A key inside Activity.data (e.g. a submitted form's field). TRICKY: the key is put into an SQLite
# JSON path ('$."key"'), so it must never contain quotes or backslashes; this pattern guarantees it.
DATA_KEY_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
# Field and consent codes are identifiers (contacts.models.IDENTIFIER_VALIDATOR), group codes may also
# hold upper-case letters (segments.models.GROUP_CODE_VALIDATOR); anything else cannot exist, so it is
# never sent to the database (no NUL bytes or lone surrogates there).
CODE_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,49}$")


def is_code(value: Any) -> bool:
    return isinstance(value, str) and CODE_RE.fullmatch(value) is not None


ACTIVITY_TYPES: dict[str, str] = {str(value): str(label) for value, label in ActivityType.choices}

_FIELD_TYPES = {
    FieldType.TEXT: ValueType.TEXT,
    FieldType.NUMBER: ValueType.NUMBER,
    FieldType.DATE: ValueType.DATE,
    FieldType.BOOLEAN: ValueType.BOOLEAN,
    FieldType.CHOICE: ValueType.CHOICE,
    FieldType.MULTI_CHOICE: ValueType.MULTI_CHOICE,
    FieldType.EMAIL: ValueType.EMAIL,
    FieldType.URL: ValueType.URL,
    FieldType.PHONE: ValueType.PHONE,
}


def custom_attribute(field: ContactField) -> Attribute:
    choices = tuple((str(c["code"]), str(c.get("label") or c["code"])) for c in field.choices or [])
    return Attribute(
        name=f"custom.{field.code}",
        label=field.label,
        type=_FIELD_TYPES[FieldType(field.type)],
        scope=Scope.CONTACT,
        column="custom",
        key=field.code,
        choices=choices,
    )


def data_attribute(key: str) -> Attribute:
    return Attribute(
        name=f"data.{key}", label=f'data "{key}"', type=ValueType.TEXT, scope=Scope.ACTIVITY, column="data", key=key
    )


@dataclass(frozen=True)
class References:
    """The codes a raw tree mentions (collected leniently, before validation) so they load in bulk."""

    custom_fields: frozenset[str] = frozenset()
    groups: frozenset[str] = frozenset()
    consents: frozenset[str] = frozenset()
    campaigns: frozenset[int] = frozenset()


class Catalog:
    """Metadata for one validation: loads only what `references` names, each kind in one query."""

    def __init__(self, references: References) -> None:
        self.references = references
        self.contact_fields = builtin_contact_fields()
        self._custom: dict[str, ContactField] | None = None
        self._groups: dict[str, tuple[str, bool, Any]] | None = None
        self._consents: dict[str, str] | None = None
        self._campaigns: dict[int, str] | None = None

    def custom_field(self, code: str) -> ContactField | None:
        if self._custom is None:
            codes = self.references.custom_fields
            self._custom = {f.code: f for f in ContactField.objects.filter(code__in=codes)} if codes else {}
        if not is_code(code):
            return None
        if code not in self._custom:  # not collected up front (never the case for parsed trees)
            self._custom.update({f.code: f for f in ContactField.objects.filter(code=code)})
        return self._custom.get(code)

    def group(self, code: str) -> tuple[str, bool, Any] | None:
        """(name, is_condition_based, condition) of the group with `code`, or None."""
        if self._groups is None:
            self._groups = self.load_groups(self.references.groups)
        if not is_code(code):
            return None
        if code not in self._groups:
            self._groups.update(self.load_groups([code]))
        return self._groups.get(code)

    @staticmethod
    def load_groups(codes: Iterable[str]) -> dict[str, tuple[str, bool, Any]]:
        from segments.models import ContactGroup

        codes = [c for c in codes if is_code(c)]
        if not codes:
            return {}
        rows = ContactGroup.objects.filter(code__in=codes).values_list(
            "code", "name", "is_condition_based", "condition"
        )
        return {code: (name, based, condition) for code, name, based, condition in rows}

    def consent_name(self, code: str) -> str | None:
        if self._consents is None:
            codes = self.references.consents
            self._consents = dict(Consent.objects.filter(code__in=codes).values_list("code", "name")) if codes else {}
        if not is_code(code):
            return None
        if code not in self._consents:
            self._consents.update(Consent.objects.filter(code=code).values_list("code", "name"))
        return self._consents.get(code)

    def campaign_name(self, pk: int) -> str | None:
        # segments never imports campaigns: reach the model through the Activity foreign key.
        model = Activity._meta.get_field("campaign").related_model
        if self._campaigns is None:
            ids = self.references.campaigns
            self._campaigns = (
                {p: str(n) for p, n in model._default_manager.filter(pk__in=ids).values_list("pk", "name")}  # type: ignore[union-attr]
                if ids
                else {}
            )
        return self._campaigns.get(pk)


def collect_references(tree: Any) -> References:
    """Codes mentioned anywhere in a raw tree; never raises, whatever `tree` is."""
    custom: set[str] = set()
    groups: set[str] = set()
    consents: set[str] = set()
    campaigns: set[int] = set()

    def visit_condition(cond: Any) -> None:
        if not isinstance(cond, dict):
            return
        name = cond.get("field")
        if isinstance(name, str) and name.startswith("custom.") and is_code(name.removeprefix("custom.")):
            custom.add(name.removeprefix("custom."))
        if name == "campaign":
            value = cond.get("value")
            for v in value if isinstance(value, list) else [value]:
                if isinstance(v, int) and not isinstance(v, bool) and 0 < v < 2**63:
                    campaigns.add(v)

    def visit(node: Any, depth: int) -> None:
        if not isinstance(node, dict) or depth > 12:
            return
        kind = node.get("type")
        if kind == "group" and isinstance(node.get("children"), list):
            for child in node["children"][:600]:
                visit(child, depth + 1)
        elif kind == "field":
            visit_condition(node)
        elif kind == "activity" and isinstance(node.get("where"), list):
            for cond in node["where"][:600]:
                visit_condition(cond)
        elif kind == "membership" and is_code(node.get("group")):
            groups.add(node["group"])
        elif kind == "consent" and is_code(node.get("consent")):
            consents.add(node["consent"])

    if isinstance(tree, dict):
        visit(tree.get("root"), 1)
    return References(frozenset(custom), frozenset(groups), frozenset(consents), frozenset(campaigns))
