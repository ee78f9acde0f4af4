"""The visual condition builder's catalog: fields, operators, value inputs, templates (views: segments.views.builder).

Invariant: everything the builder offers is derived from `segments.rules` (the built-in attributes,
`OPERATORS_BY_TYPE`, the activity fields and types, the value shapes the parser accepts), so the
builder can never offer a field, operator or value shape that `validate` would refuse
(tests/segments/test_builder_catalog.py builds a value for every offered operator and validates it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from contacts.models import Activity, Consent, ContactField
from segments.models import ContactGroup
from segments.rules import MAX_DEPTH, MAX_NODES
from segments.rules.catalog import ACTIVITY_FIELDS, ACTIVITY_TYPES, builtin_contact_fields, custom_attribute
from segments.rules.describe import OPERATOR_PHRASES
from segments.rules.nodes import (
    ANY_ACTIVITY,
    OPERATORS_BY_TYPE,
    RELATIVE_DATE_OPS,
    TEXT_LIKE,
    Attribute,
    ConsentOp,
    CountOp,
    MembershipOp,
    Op,
    ValueType,
)
from segments.rules.parser import MAX_COUNT, MAX_DAYS, NO_VALUE_OPS

MAX_GROUPS = 1000  # group picker options (searchable); the cycle check is the server's
MAX_CAMPAIGNS = 300

# Operator words as the builder shows them after the field name ("Lead score" [is at least] [50]).
OPERATOR_LABELS: dict[Op, str] = {**OPERATOR_PHRASES, Op.IN: "is any of"}  # the sentence says "is one of"
# Words after the value of a days-count operator.
OPERATOR_SUFFIXES: dict[Op, str] = {
    Op.IN_LAST_DAYS: "days",
    Op.MORE_THAN_DAYS_AGO: "days ago",
    Op.IN_NEXT_DAYS: "days",
}
COUNT_LABELS: dict[CountOp, str] = {
    CountOp.GTE: "at least",
    CountOp.GT: "more than",
    CountOp.EQ: "exactly",
    CountOp.LTE: "at most",
    CountOp.LT: "fewer than",
}
MEMBERSHIP_LABELS: dict[MembershipOp, str] = {
    MembershipOp.IS_MEMBER: "is a member",
    MembershipOp.IS_NOT_MEMBER: "is not a member",
}
# The consent or group itself is chosen in the field picker ("Consent › Newsletter" [has agreed]).
CONSENT_LABELS: dict[ConsentOp, str] = {ConsentOp.AGREED: "has agreed", ConsentOp.NOT_AGREED: "has not agreed"}
TYPE_LABELS: dict[ValueType, str] = {
    ValueType.TEXT: "text",
    ValueType.EMAIL: "email",
    ValueType.URL: "URL",
    ValueType.PHONE: "phone",
    ValueType.CHOICE: "choice",
    ValueType.NUMBER: "number",
    ValueType.DATE: "date",
    ValueType.BOOLEAN: "yes/no",
    ValueType.MULTI_CHOICE: "multiple choice",
    ValueType.CAMPAIGN: "campaign",
}
ACTIVITY_ICONS = {
    ANY_ACTIVITY: "bi-activity",
    "page_visit": "bi-window",
    "form_submission": "bi-ui-checks",
    "email_open": "bi-envelope-open",
    "email_click": "bi-cursor",
    "email_sent": "bi-envelope",
    "sms_sent": "bi-chat-left-text",
    "purchase": "bi-bag",
    "custom": "bi-stars",
}


def value_input(type_: ValueType, op: Op) -> str:
    """The value control the builder shows for `op` on a field of `type_` (the parser's value shapes).

    none · text · text_list · choice · choice_list · number · number_pair · date · date_pair · days ·
    campaign · campaign_list
    """
    if op in NO_VALUE_OPS:
        return "none"
    if type_ == ValueType.CAMPAIGN:
        return "campaign_list" if op in (Op.IN, Op.NOT_IN) else "campaign"
    if type_ in TEXT_LIKE:
        choice = type_ == ValueType.CHOICE
        if op in (Op.IN, Op.NOT_IN):
            return "choice_list" if choice else "text_list"
        if op in (Op.EQUALS, Op.NOT_EQUALS) and choice:
            return "choice"
        return "text"
    if type_ == ValueType.NUMBER:
        return "number_pair" if op == Op.BETWEEN else "number"
    if type_ == ValueType.DATE:
        if op == Op.BETWEEN:
            return "date_pair"
        return "date" if op in (Op.ON, Op.BEFORE, Op.AFTER) else "days"
    if type_ == ValueType.MULTI_CHOICE:
        return "choice_list"
    raise ValueError(f"no value input for {type_} {op}")  # pragma: no cover - every type is handled above


def operators_json() -> dict[str, list[dict[str, str]]]:
    """For every value type, its operators in the engine's order with label, value input and suffix."""
    return {
        str(type_): [
            {
                "value": str(op),
                "label": OPERATOR_LABELS[op],
                "input": value_input(type_, op),
                **({"suffix": OPERATOR_SUFFIXES[op]} if op in OPERATOR_SUFFIXES else {}),
            }
            for op in ops
        ]
        for type_, ops in OPERATORS_BY_TYPE.items()
    }


def _label(text: str) -> str:
    return text[:1].upper() + text[1:]


def attribute_json(attribute: Attribute, *, label: str | None = None, help_text: str = "") -> dict[str, Any]:
    item: dict[str, Any] = {
        "kind": "field",
        "field": attribute.name,
        "label": label or _label(attribute.label),
        "type": str(attribute.type),
        "type_label": TYPE_LABELS[attribute.type],
    }
    if attribute.choices:
        item["choices"] = [[code, label] for code, label in attribute.choices]
    if help_text:
        item["help"] = help_text
    return item


@dataclass(frozen=True)
class Template:
    key: str
    label: str
    description: str
    icon: str
    name: str  # suggested group name
    tree: dict[str, Any]


def _and(*children: dict[str, Any], combinator: str = "and") -> dict[str, Any]:
    return {"version": 1, "root": {"type": "group", "combinator": combinator, "children": list(children)}}


def _activity(activity: str, operator: str, value: int, days: int) -> dict[str, Any]:
    return {
        "type": "activity",
        "activity": activity,
        "count": {"operator": operator, "value": value},
        "window": {"last_days": days},
    }


def templates() -> list[Template]:
    """Common segments to start from; each a valid tree (the group one only when groups exist)."""
    items = [
        Template(
            "inactive_365",
            "Inactive for a year",
            "Has not done any activity in the last 365 days.",
            "bi-moon",
            "Inactive contacts",
            _and(_activity(ANY_ACTIVITY, "eq", 0, 365)),
        ),
        Template(
            "engaged_30",
            "Engaged in the last 30 days",
            "Visited a page, submitted a form, opened or clicked an email in the last 30 days.",
            "bi-lightning-charge",
            "Engaged contacts",
            _and(
                *(_activity(a, "gte", 1, 30) for a in ("page_visit", "form_submission", "email_open", "email_click")),
                combinator="or",
            ),
        ),
        Template(
            "new_this_week",
            "New this week",
            "Contacts created in the last 7 days.",
            "bi-stars",
            "New contacts",
            _and({"type": "field", "field": "created_at", "operator": "in_last_days", "value": 7}),
        ),
        Template(
            "high_lead_score",
            "High lead score",
            "Lead score of 50 or more.",
            "bi-graph-up-arrow",
            "Hot leads",
            _and({"type": "field", "field": "lead_score", "operator": "gte", "value": 50}),
        ),
        Template(
            "opened_not_clicked",
            "Opened but never clicked",
            "Opened an email in the last 90 days but never clicked a link in one.",
            "bi-envelope-open",
            "Openers who never click",
            _and(
                _activity("email_open", "gte", 1, 90),
                {"type": "activity", "activity": "email_click", "count": {"operator": "eq", "value": 0}},
            ),
        ),
    ]
    codes = list(ContactGroup.objects.order_by("-member_count", "name").values_list("code", flat=True)[:2])
    if codes:
        items.append(
            Template(
                "members_of_groups",
                "Members of some groups",
                "Everyone in any of the chosen groups; pick the groups you need.",
                "bi-collection",
                "Combined groups",
                _and(*({"type": "membership", "group": c, "operator": "is_member"} for c in codes), combinator="or"),
            )
        )
    return items


def catalog() -> dict[str, Any]:
    """Everything the builder may offer: the picker's sections, operators per type, templates, limits."""
    builtins = builtin_contact_fields()
    contact = [attribute_json(a) for name, a in builtins.items() if not name.startswith("account.")]
    account = [
        attribute_json(a, label=_label(a.label.removeprefix("account ")))
        for name, a in builtins.items()
        if name.startswith("account.")
    ]
    # Custom fields and groups are labelled with their code beside the name ("Favourite product
    # (favourite_product)"): two look-alike names can never be mistaken for one another in a picker.
    custom = [
        attribute_json(custom_attribute(f), label=f.picker_label, help_text=f.help_text)
        for f in ContactField.objects.active().order_by("order", "id")
    ]
    activity_types = [{"value": ANY_ACTIVITY, "label": "Any activity"}] + [
        {"value": value, "label": label} for value, label in ACTIVITY_TYPES.items()
    ]
    consents = [{"value": c, "label": n} for c, n in Consent.objects.order_by("name").values_list("code", "name")]
    groups = [
        {"value": g.code, "label": g.picker_label}
        for g in ContactGroup.objects.order_by("name", "id").only("code", "name")[:MAX_GROUPS]
    ]
    # segments never imports campaigns: reach the model through the Activity foreign key.
    campaign_model = Activity._meta.get_field("campaign").related_model
    campaigns = [
        {"value": pk, "label": str(name)}
        for pk, name in campaign_model._default_manager.order_by("-pk").values_list("pk", "name")[:MAX_CAMPAIGNS]  # type: ignore[union-attr]
    ]
    sections = [
        {"key": "contact", "label": "Contact", "icon": "bi-person", "items": contact},
        {"key": "custom", "label": "Custom fields", "icon": "bi-sliders", "items": custom},
        {"key": "account", "label": "Account", "icon": "bi-buildings", "items": account},
        {
            "key": "activity",
            "label": "Activity",
            "icon": "bi-activity",
            "items": [
                {
                    "kind": "activity",
                    "activity": t["value"],
                    "label": t["label"],
                    "icon": ACTIVITY_ICONS.get(t["value"]),
                }
                for t in activity_types
            ],
        },
        {
            "key": "consent",
            "label": "Consent",
            "icon": "bi-shield-check",
            "items": [{"kind": "consent", "consent": c["value"], "label": c["label"]} for c in consents],
        },
        {
            "key": "membership",
            "label": "Group membership",
            "icon": "bi-collection",
            "items": [{"kind": "membership", "group": g["value"], "label": g["label"]} for g in groups],
        },
    ]
    return {
        "version": 1,
        "sections": sections,
        "operators": operators_json(),
        "relative_operators": sorted(str(op) for op in RELATIVE_DATE_OPS),
        "activity": {
            "types": activity_types,
            "where_fields": [
                {"field": a.name, "label": _label(a.label) if a.name != "url" else "URL", "type": str(a.type)}
                for a in ACTIVITY_FIELDS.values()
            ]
            + [{"field": "data.", "label": "Data field…", "type": str(ValueType.TEXT), "keyed": True}],
            "count_operators": [{"value": str(op), "label": label} for op, label in COUNT_LABELS.items()],
            "max_days": MAX_DAYS,
            "max_count": MAX_COUNT,
        },
        "membership_operators": [{"value": str(op), "label": label} for op, label in MEMBERSHIP_LABELS.items()],
        "consent_operators": [{"value": str(op), "label": label} for op, label in CONSENT_LABELS.items()],
        "consents": consents,
        "groups": groups,
        "campaigns": campaigns,
        "templates": [
            {
                "key": t.key,
                "label": t.label,
                "description": t.description,
                "icon": t.icon,
                "name": t.name,
                "tree": t.tree,
            }
            for t in templates()
        ],
        "limits": {"max_depth": MAX_DEPTH, "max_nodes": MAX_NODES},
    }
