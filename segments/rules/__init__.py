"""The rule engine: "Rule tree format, version 1" (DESIGN) → validation, ORM query, sentence, explanation.

Invariant: this package is the one place that turns a tree into a query. Every public function takes
the JSON tree (a dict) or an already parsed `Rule`; invalid trees raise `RuleError` (and nothing else)
whose message starts with the path of the bad part. Evaluation happens in the database only.

    validate(tree, *, group=None) -> dict           canonical tree; rejects membership cycles for `group`
                                                    and trees too costly to evaluate (limits.check_cost)
    matching_contacts(tree, *, now=None) -> QuerySet[Contact]   unmerged contacts matching the tree
    describe(tree) -> str                           "Country is Czechia and (…)"
    describe_lines(tree) -> list[str]               the same as an outline, one line per node (the audit log's diff)
    explain(tree, contact, *, now=None) -> Explanation          every node's verdict for one contact
    preview(tree, *, now=None, group=None, timeout=None) -> Preview   count, reachability and the first 10
                                                    (one aggregate query), validated like `validate`
    referenced_groups / uses_relative_dates / dependencies     lenient facts, no database
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from django.db.models import Q, QuerySet

from contacts.models import Contact
from segments.rules.analysis import Dependencies, dependencies, referenced_groups, uses_relative_dates
from segments.rules.clock import Clock
from segments.rules.compiler import rule_q
from segments.rules.describe import describe_outline, describe_rule
from segments.rules.errors import CycleError, RuleError
from segments.rules.explain import Explanation, NodeVerdict, explain_rule
from segments.rules.limits import EvaluationTimeout, check_cost, deadline
from segments.rules.parser import MAX_DEPTH, MAX_NODES, Rule, parse
from segments.rules.reach import Preview, contacts_preview

__all__ = [
    "MAX_DEPTH",
    "MAX_NODES",
    "CycleError",
    "Dependencies",
    "EvaluationTimeout",
    "Explanation",
    "NodeVerdict",
    "Preview",
    "Rule",
    "RuleError",
    "dependencies",
    "describe",
    "describe_lines",
    "explain",
    "matching_contacts",
    "parse",
    "preview",
    "referenced_groups",
    "to_q",
    "uses_relative_dates",
    "validate",
]


def validate(tree: Any, *, group: Any = None) -> dict[str, Any]:
    """Check a tree and return its canonical form; `group` (a ContactGroup or its code) owns it (cycle check).

    Also refuses a tree that would be too slow to evaluate (see `segments.rules.limits`).
    """
    rule = parse(tree, group=group)
    check_cost(rule.root)
    return rule.to_json()


def to_q(tree: Any, *, now: dt.datetime | None = None, few: bool = False) -> Q:
    """The Q over Contact for a tree, evaluated at `now` (merged contacts are NOT excluded by it).

    `few=True` compiles for a query limited to a handful of contacts (see `matching_contacts(among=…)`).
    """
    return rule_q(parse(tree).root, Clock.at(now), few=few)


def matching_contacts(
    tree: Any, *, now: dt.datetime | None = None, among: Iterable[int] | None = None
) -> QuerySet[Contact]:
    """The unmerged contacts matching the tree at `now` (default: the current time).

    `among`: only these contact ids are considered — a re-check of a few contacts; the query is then
    shaped for them (each count looked up per contact rather than over all activities).
    """
    contacts = Contact.objects.filter(merged_into__isnull=True)
    if among is None:
        return contacts.filter(to_q(tree, now=now))
    return contacts.filter(pk__in=list(among)).filter(to_q(tree, now=now, few=True))


def describe(tree: Any) -> str:
    """The tree as one human sentence."""
    return describe_rule(parse(tree))


def describe_lines(tree: Any) -> list[str]:
    """The tree as an outline: a line per node, a group's children indented under its heading."""
    return describe_outline(parse(tree))


def explain(tree: Any, contact: Contact | int, *, now: dt.datetime | None = None) -> Explanation:
    """Every node's verdict for one contact (and each activity node's count), computed in one query."""
    return explain_rule(parse(tree), contact, Clock.at(now))


def preview(tree: Any, *, now: dt.datetime | None = None, group: Any = None, timeout: float | None = None) -> Preview:
    """What the builder shows while the marketer types: counts, reachability, the first contacts.

    Validated like `validate` (`group`: the group whose condition this is, for the cycle check);
    with `timeout` (seconds) the queries stop after it and EvaluationTimeout is raised.
    """
    rule = parse(tree, group=group)
    check_cost(rule.root)
    contacts = matching_contacts(rule, now=now)
    if timeout is None:
        return contacts_preview(contacts=contacts, description=describe_rule(rule))
    with deadline(timeout):
        return contacts_preview(contacts=contacts, description=describe_rule(rule))
