"""The lenient helpers: referenced_groups, uses_relative_dates, dependencies."""

from __future__ import annotations

import pytest

from segments.rules import dependencies, referenced_groups, uses_relative_dates
from tests.segments.rules.conftest import field, group, tree

RULE = tree(
    group(
        "or",
        {"type": "membership", "group": "vip", "operator": "is_member"},
        group(
            "and", {"type": "membership", "group": "gold", "operator": "is_not_member"}, field("city", "equals", "x")
        ),
        field("custom.plan", "equals", "pro"),
        field("account.employees", "gt", 3),
        {"type": "activity", "activity": "page_visit"},
        {"type": "consent", "consent": "newsletter", "operator": "agreed"},
    )
)


def test_referenced_groups():
    assert referenced_groups(RULE) == {"vip", "gold"}
    assert referenced_groups(tree(field("city", "equals", "x"))) == set()


@pytest.mark.parametrize(
    "junk",
    [
        None,
        [],
        "x",
        {"root": 5},
        {"root": {"type": "group", "children": "x"}},
        {"root": {"type": "field", "operator": ["x"]}},
    ],
)
def test_lenient_on_anything(junk):
    assert referenced_groups(junk) == set()
    assert uses_relative_dates(junk) is False
    assert dependencies(junk).kinds == frozenset()


def test_uses_relative_dates():
    assert not uses_relative_dates(RULE)
    assert uses_relative_dates(tree(group("and", field("created_at", "in_last_days", 3))))
    assert uses_relative_dates(tree({"type": "activity", "activity": "any", "window": {"last_days": 3}}))
    assert not uses_relative_dates(tree(field("created_at", "before", "2026-01-01")))
    assert not uses_relative_dates(
        tree({"type": "activity", "activity": "any", "window": {"between": ["2026-01-01", "2026-01-02"]}})
    )


def test_dependencies():
    deps = dependencies(RULE)
    assert deps.contact_fields == {"city"}
    assert deps.custom_fields == {"plan"}
    assert deps.account_fields == {"employees"}
    assert deps.activity_types == {"page_visit"}
    assert deps.consents == {"newsletter"}
    assert deps.groups == {"vip", "gold"}
    assert deps.kinds == {"contact", "custom", "account", "activity", "consent", "membership"}
