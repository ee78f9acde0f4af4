"""Cheap facts about a rule tree, read without the database: which groups, fields, activities,
consents it uses and whether it depends on the passing of time.

Invariant: these functions are lenient — they accept a raw tree (valid or not, any Python value) or a
parsed Rule, never raise, and never query the database. Callers use them on stored conditions for
dependency order, delete protection, targeted re-checks and the "scheduled rebuild is off" warning.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from segments.rules.nodes import RELATIVE_DATE_OPS, node_json

_MAX_DEPTH = 12  # a little over the valid limit, so an over-deep tree is still walked, and never forever


@dataclass(frozen=True)
class Dependencies:
    """What kinds of change can change which contacts match a tree."""

    contact_fields: frozenset[str]  # built-in Contact columns ("country", "lead_score", ...)
    custom_fields: frozenset[str]  # custom field codes (keys of Contact.custom)
    account_fields: frozenset[str]  # Account columns ("name", "employees", ...); also Contact.account
    activity_types: frozenset[str]  # activity types counted; "any" means every type
    consents: frozenset[str]  # consent codes
    groups: frozenset[str]  # group codes whose Membership rows are read
    relative_dates: bool  # results change with the passing of time alone

    @property
    def kinds(self) -> frozenset[str]:
        """A subset of {"contact", "custom", "account", "activity", "consent", "membership", "time"}."""
        kinds = {
            "contact": self.contact_fields,
            "custom": self.custom_fields,
            "account": self.account_fields,
            "activity": self.activity_types,
            "consent": self.consents,
            "membership": self.groups,
            "time": self.relative_dates,
        }
        return frozenset(k for k, used in kinds.items() if used)


def _raw(tree: Any) -> Any:
    from segments.rules.parser import Rule

    if isinstance(tree, Rule):
        return {"version": 1, "root": node_json(tree.root)}
    return tree


def _nodes(tree: Any) -> Iterator[dict[str, Any]]:
    """Every node-like dict of a raw tree."""
    tree = _raw(tree)
    if not isinstance(tree, dict):
        return
    stack: list[tuple[Any, int]] = [(tree.get("root"), 1)]
    while stack:
        node, depth = stack.pop()
        if not isinstance(node, dict) or depth > _MAX_DEPTH:
            continue
        yield node
        children = node.get("children") if node.get("type") == "group" else None
        if isinstance(children, list):
            stack.extend((child, depth + 1) for child in reversed(children))


def referenced_groups(tree: Any) -> set[str]:
    """Codes of the groups the tree's membership nodes refer to."""
    return {
        node["group"]
        for node in _nodes(tree)
        if node.get("type") == "membership" and isinstance(node.get("group"), str)
    }


def uses_relative_dates(tree: Any) -> bool:
    """True when the result can change with time alone: a relative date operator or a rolling window.

    (An activity node without a rolling window only changes when an activity dated in the future
    comes due; that is not counted here.)
    """
    return dependencies(tree).relative_dates


def dependencies(tree: Any) -> Dependencies:
    """Which contact fields, custom fields, account fields, activities, consents and groups the tree reads."""
    contact: set[str] = set()
    custom: set[str] = set()
    account: set[str] = set()
    activities: set[str] = set()
    consents: set[str] = set()
    groups: set[str] = set()
    relative = False
    for node in _nodes(tree):
        kind = node.get("type")
        if kind == "field":
            name = node.get("field")
            if isinstance(name, str):
                if name.startswith("custom."):
                    custom.add(name.removeprefix("custom."))
                elif name.startswith("account."):
                    account.add(name.removeprefix("account."))
                else:
                    contact.add(name)
            operator = node.get("operator")
            relative = relative or (isinstance(operator, str) and operator in {str(o) for o in RELATIVE_DATE_OPS})
        elif kind == "activity":
            activity = node.get("activity")
            if isinstance(activity, str):
                activities.add(activity)
            window = node.get("window")
            relative = relative or (isinstance(window, dict) and "last_days" in window)
        elif kind == "membership" and isinstance(node.get("group"), str):
            groups.add(node["group"])
        elif kind == "consent" and isinstance(node.get("consent"), str):
            consents.add(node["consent"])
    return Dependencies(
        contact_fields=frozenset(contact),
        custom_fields=frozenset(custom),
        account_fields=frozenset(account),
        activity_types=frozenset(activities),
        consents=frozenset(consents),
        groups=frozenset(groups),
        relative_dates=relative,
    )
