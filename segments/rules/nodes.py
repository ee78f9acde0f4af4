"""Typed rule-tree nodes: what `parse` turns the JSON of "Rule tree format, version 1" into.

Invariant: a node object is only ever built by `segments.rules.parser` from a tree that passed every
check, so its values are already canonical (choice codes as defined, numbers as Decimal, dates as
`datetime.date`) and the compiler, `describe` and `explain` never re-validate anything.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from typing import Any


class NodeType(StrEnum):
    GROUP = "group"
    FIELD = "field"
    ACTIVITY = "activity"
    MEMBERSHIP = "membership"
    CONSENT = "consent"


class Combinator(StrEnum):
    AND = "and"
    OR = "or"


class Op(StrEnum):
    """Field (and activity `where`) operators."""

    EQUALS = "equals"
    NOT_EQUALS = "not_equals"
    CONTAINS = "contains"
    NOT_CONTAINS = "not_contains"
    STARTS_WITH = "starts_with"
    ENDS_WITH = "ends_with"
    IN = "in"
    NOT_IN = "not_in"
    IS_EMPTY = "is_empty"
    IS_NOT_EMPTY = "is_not_empty"
    LT = "lt"
    LTE = "lte"
    GT = "gt"
    GTE = "gte"
    BETWEEN = "between"
    ON = "on"
    BEFORE = "before"
    AFTER = "after"
    IN_LAST_DAYS = "in_last_days"
    MORE_THAN_DAYS_AGO = "more_than_days_ago"
    IN_NEXT_DAYS = "in_next_days"
    IS_TRUE = "is_true"
    IS_FALSE = "is_false"
    CONTAINS_ANY = "contains_any"
    CONTAINS_ALL = "contains_all"
    CONTAINS_NONE = "contains_none"


# Operators defined as the exact complement of another one: empty values match them (DESIGN).
COMPLEMENT_OF: dict[Op, Op] = {
    Op.NOT_EQUALS: Op.EQUALS,
    Op.NOT_CONTAINS: Op.CONTAINS,
    Op.NOT_IN: Op.IN,
    Op.CONTAINS_NONE: Op.CONTAINS_ANY,
    Op.IS_NOT_EMPTY: Op.IS_EMPTY,
}


class ValueType(StrEnum):
    TEXT = "text"
    EMAIL = "email"
    URL = "url"
    PHONE = "phone"
    CHOICE = "choice"
    NUMBER = "number"
    DATE = "date"
    BOOLEAN = "boolean"
    MULTI_CHOICE = "multi_choice"
    CAMPAIGN = "campaign"  # an activity's campaign id


TEXT_LIKE = frozenset({ValueType.TEXT, ValueType.EMAIL, ValueType.URL, ValueType.PHONE, ValueType.CHOICE})

_TEXT_OPS = (
    Op.EQUALS,
    Op.NOT_EQUALS,
    Op.CONTAINS,
    Op.NOT_CONTAINS,
    Op.STARTS_WITH,
    Op.ENDS_WITH,
    Op.IN,
    Op.NOT_IN,
    Op.IS_EMPTY,
    Op.IS_NOT_EMPTY,
)
OPERATORS_BY_TYPE: dict[ValueType, tuple[Op, ...]] = {
    **dict.fromkeys(TEXT_LIKE, _TEXT_OPS),
    ValueType.NUMBER: (
        Op.EQUALS,
        Op.NOT_EQUALS,
        Op.LT,
        Op.LTE,
        Op.GT,
        Op.GTE,
        Op.BETWEEN,
        Op.IS_EMPTY,
        Op.IS_NOT_EMPTY,
    ),
    ValueType.DATE: (
        Op.ON,
        Op.BEFORE,
        Op.AFTER,
        Op.BETWEEN,
        Op.IN_LAST_DAYS,
        Op.MORE_THAN_DAYS_AGO,
        Op.IN_NEXT_DAYS,
        Op.IS_EMPTY,
        Op.IS_NOT_EMPTY,
    ),
    ValueType.BOOLEAN: (Op.IS_TRUE, Op.IS_FALSE, Op.IS_EMPTY),
    ValueType.MULTI_CHOICE: (Op.CONTAINS_ANY, Op.CONTAINS_ALL, Op.CONTAINS_NONE, Op.IS_EMPTY, Op.IS_NOT_EMPTY),
    ValueType.CAMPAIGN: (Op.EQUALS, Op.NOT_EQUALS, Op.IN, Op.NOT_IN),
}

RELATIVE_DATE_OPS = frozenset({Op.IN_LAST_DAYS, Op.MORE_THAN_DAYS_AGO, Op.IN_NEXT_DAYS})


class CountOp(StrEnum):
    EQ = "eq"
    GTE = "gte"
    GT = "gt"
    LTE = "lte"
    LT = "lt"


class MembershipOp(StrEnum):
    IS_MEMBER = "is_member"
    IS_NOT_MEMBER = "is_not_member"


class ConsentOp(StrEnum):
    AGREED = "agreed"
    NOT_AGREED = "not_agreed"


ANY_ACTIVITY = "any"


class Scope(StrEnum):
    """The model whose row holds an attribute's value."""

    CONTACT = "contact"
    ACCOUNT = "account"
    ACTIVITY = "activity"


@dataclass(frozen=True)
class Attribute:
    """Where one field's value lives and how it compares."""

    name: str  # as written in a tree: "country", "custom.plan", "account.name", "url", "data.plan"
    label: str  # words for sentences ("lead score", "Plan")
    type: ValueType
    scope: Scope
    column: str  # the model field; for JSON-stored values, the JSON column
    key: str | None = None  # the key inside the JSON column, for custom fields and activity data
    nullable: bool = False
    scale: int | None = None  # decimal places of an exact numeric column (0 = integer column)
    datetime_column: bool = False  # a date type stored as a datetime column (vs "YYYY-MM-DD" in JSON)
    choices: tuple[tuple[str, str], ...] = ()  # (code, label)
    exact_codes: bool = False  # choice codes compared exactly (the canonical upper-case country code)

    @property
    def choice_labels(self) -> dict[str, str]:
        return dict(self.choices)


@dataclass(frozen=True)
class Condition:
    """One comparison: a field node's body, or one entry of an activity node's `where`."""

    path: str
    attribute: Attribute
    operator: Op
    # Canonical value: str | tuple[str, ...] | Decimal | tuple[Decimal, Decimal] | date |
    # tuple[date, date] | int (days) | tuple[int, ...] (campaign ids) | None.
    value: Any = None


@dataclass(frozen=True)
class GroupNode:
    path: str
    combinator: Combinator
    children: tuple[Node, ...]
    negate: bool = False


@dataclass(frozen=True)
class FieldNode:
    path: str
    condition: Condition
    negate: bool = False


@dataclass(frozen=True)
class Count:
    operator: CountOp = CountOp.GTE
    value: int = 1


@dataclass(frozen=True)
class LastDays:
    days: int


@dataclass(frozen=True)
class Between:
    start: dt.date
    end: dt.date


Window = LastDays | Between


@dataclass(frozen=True)
class ActivityNode:
    path: str
    activity: str  # an ActivityType value or ANY_ACTIVITY
    where: tuple[Condition, ...] = ()
    count: Count = field(default_factory=Count)
    window: Window | None = None
    negate: bool = False


@dataclass(frozen=True)
class MembershipNode:
    path: str
    group: str
    operator: MembershipOp
    negate: bool = False


@dataclass(frozen=True)
class ConsentNode:
    path: str
    consent: str
    operator: ConsentOp
    negate: bool = False


Node = GroupNode | FieldNode | ActivityNode | MembershipNode | ConsentNode


def walk(node: Node) -> list[Node]:
    """`node` and all its descendants, depth first, parents before children."""
    nodes: list[Node] = [node]
    if isinstance(node, GroupNode):
        for child in node.children:
            nodes += walk(child)
    return nodes


# ---------------------------------------------------------------------------------------------
# Canonical JSON (what `validate` returns): parse(to_json(parse(t))) == parse(t).


def _value_json(value: Any) -> Any:
    if isinstance(value, Decimal):
        return _number_json(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, tuple):
        return [_value_json(v) for v in value]
    return value


def _number_json(value: Decimal) -> int | float:
    if value == value.to_integral_value():
        return int(value)
    return float(value)


def condition_json(condition: Condition) -> dict[str, Any]:
    data: dict[str, Any] = {"field": condition.attribute.name, "operator": str(condition.operator)}
    if condition.value is not None:
        data["value"] = _value_json(condition.value)
    return data


def node_json(node: Node) -> dict[str, Any]:
    data: dict[str, Any]
    match node:
        case GroupNode():
            data = {
                "type": "group",
                "combinator": str(node.combinator),
                "children": [node_json(c) for c in node.children],
            }
        case FieldNode():
            data = {"type": "field", **condition_json(node.condition)}
        case ActivityNode():
            data = {"type": "activity", "activity": node.activity}
            if node.where:
                data["where"] = [condition_json(c) for c in node.where]
            data["count"] = {"operator": str(node.count.operator), "value": node.count.value}
            if isinstance(node.window, LastDays):
                data["window"] = {"last_days": node.window.days}
            elif isinstance(node.window, Between):
                data["window"] = {"between": [node.window.start.isoformat(), node.window.end.isoformat()]}
        case MembershipNode():
            data = {"type": "membership", "group": node.group, "operator": str(node.operator)}
        case ConsentNode():
            data = {"type": "consent", "consent": node.consent, "operator": str(node.operator)}
    if node.negate:
        data["negate"] = True
    return data
