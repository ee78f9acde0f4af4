"""Human sentences for rule trees, e.g. `Country is Czechia and (visited a page containing "/pricing"
at least 3 times in the last 30 days or lead score is at least 50)`.

Invariant: a sentence is built from the parsed tree only (labels, choice labels, country names, group
and consent names come with it), so it always says what the compiler evaluates.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from segments.rules.catalog import ACTIVITY_TYPES
from segments.rules.nodes import (
    ANY_ACTIVITY,
    ActivityNode,
    Attribute,
    Between,
    Combinator,
    Condition,
    ConsentNode,
    ConsentOp,
    CountOp,
    FieldNode,
    GroupNode,
    LastDays,
    MembershipNode,
    MembershipOp,
    Node,
    Op,
    ValueType,
)
from segments.rules.parser import Rule

# activity type → (did, has not done)
VERBS: dict[str, tuple[str, str]] = {
    "page_visit": ("visited a page", "has not visited a page"),
    "form_submission": ("submitted a form", "has not submitted a form"),
    "email_open": ("opened an email", "has not opened an email"),
    "email_click": ("clicked a link in an email", "has not clicked a link in an email"),
    "email_sent": ("was sent an email", "has not been sent an email"),
    "sms_sent": ("was sent an SMS", "has not been sent an SMS"),
    "purchase": ("made a purchase", "has not made a purchase"),
    "custom": ("did a custom activity", "has not done a custom activity"),
    ANY_ACTIVITY: ("did any activity", "has not done any activity"),
}

OPERATOR_PHRASES: dict[Op, str] = {  # also the builder's operator labels
    Op.EQUALS: "is",
    Op.NOT_EQUALS: "is not",
    Op.CONTAINS: "contains",
    Op.NOT_CONTAINS: "does not contain",
    Op.STARTS_WITH: "starts with",
    Op.ENDS_WITH: "ends with",
    Op.IN: "is one of",
    Op.NOT_IN: "is none of",
    Op.IS_EMPTY: "is empty",
    Op.IS_NOT_EMPTY: "is not empty",
    Op.LT: "is less than",
    Op.LTE: "is at most",
    Op.GT: "is more than",
    Op.GTE: "is at least",
    Op.BETWEEN: "is between",
    Op.ON: "is on",
    Op.BEFORE: "is before",
    Op.AFTER: "is after",
    Op.IN_LAST_DAYS: "is in the last",
    Op.MORE_THAN_DAYS_AGO: "is more than",
    Op.IN_NEXT_DAYS: "is in the next",
    Op.IS_TRUE: "is yes",
    Op.IS_FALSE: "is no",
    Op.CONTAINS_ANY: "contains any of",
    Op.CONTAINS_ALL: "contains all of",
    Op.CONTAINS_NONE: "contains none of",
}
_URL_PHRASES = {Op.CONTAINS: "containing", Op.STARTS_WITH: "starting with", Op.ENDS_WITH: "ending with"}


def describe_rule(rule: Rule) -> str:
    return capitalize(describe_node(rule.root, rule, top=True))


def capitalize(text: str) -> str:
    return text[:1].upper() + text[1:]


def describe_node(node: Node, rule: Rule, *, top: bool = False) -> str:
    """The sentence part for one node (its `negate` included); `top` leaves a root group unbracketed."""
    match node:
        case GroupNode():
            joiner = " and " if node.combinator == Combinator.AND else " or "
            # A nested group brings its own brackets (none when it has a single child).
            text = joiner.join(describe_node(c, rule) for c in node.children)
            if node.negate:
                return f"not ({text})"
            if top or len(node.children) == 1:
                return text
            return f"({text})"
        case FieldNode():
            text = describe_condition(node.condition, rule)
        case ActivityNode():
            text = describe_activity(node, rule)
        case MembershipNode():
            name = _group_name(node.group, rule)
            verb = "is a member of" if node.operator == MembershipOp.IS_MEMBER else "is not a member of"
            text = f"{verb} {name}"
        case ConsentNode():
            name = rule.catalog.consent_name(node.consent) or node.consent
            text = f"has agreed to {name}" if node.operator == ConsentOp.AGREED else f"has not agreed to {name}"
    return f"not ({text})" if node.negate else text


def _group_name(code: str, rule: Rule) -> str:
    group = rule.catalog.group(code)
    return f"“{group[0]}”" if group else code


def _number(value: Decimal) -> str:
    return format(value.normalize(), "f")


def _days(n: int) -> str:
    return "1 day" if n == 1 else f"{n} days"


def _quoted(text: str) -> str:
    return f'"{text}"'


def _value_text(attribute: Attribute, value: Any, rule: Rule) -> str:
    if isinstance(value, tuple) and attribute.type != ValueType.NUMBER:
        return ", ".join(_value_text(attribute, v, rule) for v in value)
    if attribute.type == ValueType.CAMPAIGN:
        name = rule.catalog.campaign_name(value)
        return f"“{name}”" if name else f"campaign #{value}"
    if attribute.type in (ValueType.CHOICE, ValueType.MULTI_CHOICE):
        return attribute.choice_labels.get(value, str(value))
    if isinstance(value, Decimal):
        return _number(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    return _quoted(str(value))


def describe_condition(condition: Condition, rule: Rule, *, subject: bool = True) -> str:
    attribute, op, value = condition.attribute, condition.operator, condition.value
    label = attribute.label if subject else ""
    phrase = OPERATOR_PHRASES[op]
    if value is None:
        rest = ""
    elif op == Op.BETWEEN:
        low, high = value
        low_text = _number(low) if isinstance(low, Decimal) else low.isoformat()
        high_text = _number(high) if isinstance(high, Decimal) else high.isoformat()
        rest = f" {low_text} and {high_text}"
    elif op in (Op.IN_LAST_DAYS, Op.IN_NEXT_DAYS):
        rest = f" {_days(value)}"
    elif op == Op.MORE_THAN_DAYS_AGO:
        rest = f" {_days(value)} ago"
    elif attribute.type in (ValueType.CHOICE,) and op in (Op.CONTAINS, Op.NOT_CONTAINS, Op.STARTS_WITH, Op.ENDS_WITH):
        rest = f" {_quoted(value)}"
    else:
        rest = f" {_value_text(attribute, value, rule)}"
    return f"{label} {phrase}{rest}".strip()


def describe_activity(node: ActivityNode, rule: Rule) -> str:
    did, did_not = VERBS.get(node.activity, (f"did {ACTIVITY_TYPES.get(node.activity, node.activity)}", ""))
    op, k = node.count.operator, node.count.value
    never = (op == CountOp.EQ and k == 0) or (op == CountOp.LT and k == 1) or (op == CountOp.LTE and k == 0)
    words = [did_not if never else did]
    filters = []
    for condition in node.where:
        if condition.attribute.name == "url" and condition.operator in _URL_PHRASES:
            filters.append(f"{_URL_PHRASES[condition.operator]} {_quoted(condition.value)}")
        else:
            filters.append(f"where {describe_condition(condition, rule)}")
    if filters:
        words.append(" and ".join(filters))
    if not never:
        count = _count_phrase(op, k)
        if count:
            words.append(count)
    if isinstance(node.window, LastDays):
        days = node.window.days
        words.append("today" if days == 0 else "in the last day" if days == 1 else f"in the last {days} days")
    elif isinstance(node.window, Between):
        words.append(f"between {node.window.start.isoformat()} and {node.window.end.isoformat()}")
    return " ".join(words)


def _times(k: int) -> str:
    return {1: "once", 2: "twice"}.get(k, f"{k} times")


def _count_phrase(op: CountOp, k: int) -> str:
    match op:
        case CountOp.GTE:
            return "" if k == 1 else f"at least {_times(k)}"
        case CountOp.GT:
            return f"more than {_times(k)}"
        case CountOp.EQ:
            return f"exactly {_times(k)}"
        case CountOp.LTE:
            return f"at most {_times(k)}"
        case CountOp.LT:
            return f"fewer than {_times(k)}"
    return ""


def describe_outline(rule: Rule) -> list[str]:
    """The rule as an outline, one line per node: a group is a heading ("All of:", "Any of:", "None of:",
    "Not all of:") with its children indented two spaces under it; a condition is its sentence. Lines are the
    unit the audit log compares, so a changed condition shows as one removed and one added line."""
    lines: list[str] = []

    def walk(node: Node, depth: int) -> None:
        indent = "  " * depth
        if isinstance(node, GroupNode):
            any_of = node.combinator == Combinator.OR
            heading = ("None of:" if any_of else "Not all of:") if node.negate else ("Any of:" if any_of else "All of:")
            lines.append(indent + heading)
            for child in node.children:
                walk(child, depth + 1)
        else:
            lines.append(indent + capitalize(describe_node(node, rule)))

    walk(rule.root, 0)
    return lines
