"""A table of operator × field type × empty values: each case states the contacts a positive operator
matches; the test derives its negation (`negate`) and its complement operator (not_equals, not_in,
not_contains, contains_none, is_not_empty), and checks all four against the ORM compiler AND the
independent Python oracle. Merged contacts match nothing, whatever the operator."""

from __future__ import annotations

from typing import Any

import pytest

from segments.rules import matching_contacts
from segments.rules.nodes import COMPLEMENT_OF, OPERATORS_BY_TYPE, Op, ValueType
from tests.segments.rules import oracle
from tests.segments.rules.conftest import NOTHING, NOW, UNMERGED, field, tree

POSITIVE_TWIN = {str(positive): str(complement) for complement, positive in COMPLEMENT_OF.items()}

# (field, operator, value, contacts matched) — values deliberately in other letter cases than the data.
CASES: list[tuple[str, str, Any, set[str]]] = [
    # text column (NOT NULL, blank "")
    ("first_name", "equals", "žofie", {"full"}),
    ("first_name", "equals", "ŽOFIE", {"full"}),
    ("first_name", "contains", "OF", {"full"}),
    ("first_name", "starts_with", "ad", {"other"}),
    ("first_name", "ends_with", "AM", {"other"}),
    ("first_name", "in", ["adam", "nobody"], {"other"}),
    ("first_name", "is_empty", NOTHING, {"blank", "nulls", "blanks"}),
    ("last_name", "contains", "ková", {"full"}),
    ("city", "contains", "%", set()),  # LIKE wildcards are matched literally
    ("city", "contains", "_", set()),
    ("job_title", "contains", "of mark", {"full"}),
    # email: a nullable column (NULL and "" are both empty)
    ("email", "equals", "full@example.com", {"full"}),
    ("email", "contains", "@EXAMPLE", {"full", "other"}),
    ("email", "ends_with", ".org", {"other"}),
    ("email", "in", ["OTHER@example.org"], {"other"}),
    ("email", "is_empty", NOTHING, {"blank", "nulls", "blanks"}),
    # phone
    ("phone", "starts_with", "+420", {"full"}),
    ("phone", "is_empty", NOTHING, {"other", "blank", "nulls", "blanks"}),
    # country: a choice of country codes
    ("country", "equals", "cz", {"full"}),
    ("country", "in", ["SK", "de"], {"other"}),
    ("country", "contains", "z", {"full"}),
    ("country", "is_empty", NOTHING, {"blank", "nulls", "blanks"}),
    # integer column: numbers compare exactly, whatever the column type
    ("lead_score", "equals", 50, {"full"}),
    ("lead_score", "equals", 10.5, set()),
    ("lead_score", "gt", 9, {"full", "blanks"}),
    ("lead_score", "gte", 9, {"full", "other", "blanks"}),
    ("lead_score", "gt", 8.5, {"full", "other", "blanks"}),
    ("lead_score", "gte", 9.5, {"full", "blanks"}),
    ("lead_score", "gt", 10.5, {"full", "blanks"}),
    ("lead_score", "lt", 0, {"nulls"}),
    ("lead_score", "lte", 0, {"blank", "nulls"}),
    ("lead_score", "lt", 0.5, {"blank", "nulls"}),
    ("lead_score", "lte", -0.5, {"nulls"}),
    ("lead_score", "between", [0, 9], {"other", "blank"}),
    ("lead_score", "between", [-3.5, 0.5], {"blank", "nulls"}),
    ("lead_score", "is_empty", NOTHING, set()),
    # datetime column: calendar days in Europe/Prague; now is 2026-03-15 12:00
    ("created_at", "on", "2026-03-15", {"blank"}),  # created 00:00:00 local (23:00 UTC the day before)
    ("created_at", "on", "2026-03-14", {"other"}),  # created 23:59:59 local
    ("created_at", "before", "2026-03-15", {"full", "other", "nulls"}),
    ("created_at", "after", "2026-03-15", {"blanks"}),
    ("created_at", "between", ["2026-03-10", "2026-03-14"], {"full", "other"}),
    ("created_at", "in_last_days", 1, {"other", "blank"}),
    ("created_at", "in_last_days", 0, {"blank"}),
    ("created_at", "more_than_days_ago", 4, {"full", "nulls"}),
    ("created_at", "in_next_days", 1, {"blank", "blanks"}),
    ("created_at", "is_empty", NOTHING, set()),
    # account fields: a contact without an account has every account field empty
    ("account.name", "contains", "ACME", {"full"}),
    ("account.name", "equals", "beta", {"other"}),
    ("account.name", "in", ["BETA", "Gamma"], {"other"}),
    ("account.name", "is_empty", NOTHING, {"blank", "nulls", "blanks"}),
    ("account.domain", "ends_with", ".CZ", {"full"}),
    ("account.domain", "is_empty", NOTHING, {"other", "blank", "nulls", "blanks"}),
    ("account.industry", "equals", "software", {"full"}),
    ("account.country", "equals", "CZ", {"full"}),
    ("account.country", "is_empty", NOTHING, {"other", "blank", "nulls", "blanks"}),
    ("account.employees", "gt", 100, {"full"}),
    ("account.employees", "lte", 120, {"full"}),
    ("account.employees", "equals", 120.5, set()),
    ("account.employees", "is_empty", NOTHING, {"other", "blank", "nulls", "blanks"}),
    # custom text (absent, null and "" are empty)
    ("custom.nickname", "equals", "ŽLUŤOUČKÝ KŮŇ", {"full"}),
    ("custom.nickname", "contains", "_", {"other"}),
    ("custom.nickname", "starts_with", "žluť", {"full"}),
    ("custom.nickname", "ends_with", "WORLD", {"other"}),
    ("custom.nickname", "in", ["HELLO_WORLD"], {"other"}),
    ("custom.nickname", "is_empty", NOTHING, {"blank", "nulls", "blanks"}),
    # custom number (JSON numbers, compared numerically)
    ("custom.score", "gt", 10, {"full"}),
    ("custom.score", "equals", 10.5, {"full"}),
    ("custom.score", "equals", 9, {"other"}),
    ("custom.score", "gte", 9, {"full", "other"}),
    ("custom.score", "lt", 10.5, {"other"}),
    ("custom.score", "lte", 10.5, {"full", "other"}),
    ("custom.score", "lt", 100, {"full", "other"}),  # 9 < 100 numerically, "9" > "100" as text
    ("custom.score", "between", [9, 10.5], {"full", "other"}),
    ("custom.score", "is_empty", NOTHING, {"blank", "nulls", "blanks"}),
    # custom date ("YYYY-MM-DD")
    ("custom.renewal", "on", "2026-03-15", {"full"}),
    ("custom.renewal", "before", "2026-03-15", {"other"}),
    ("custom.renewal", "after", "2026-02-01", {"full"}),
    ("custom.renewal", "between", ["2026-02-01", "2026-03-14"], {"other"}),
    ("custom.renewal", "in_next_days", 0, {"full"}),
    ("custom.renewal", "in_last_days", 42, {"full", "other"}),
    ("custom.renewal", "in_last_days", 41, {"full"}),
    ("custom.renewal", "more_than_days_ago", 41, {"other"}),
    ("custom.renewal", "more_than_days_ago", 42, set()),
    ("custom.renewal", "is_empty", NOTHING, {"blank", "nulls", "blanks"}),
    # custom boolean
    ("custom.opted_in", "is_true", NOTHING, {"full"}),
    ("custom.opted_in", "is_false", NOTHING, {"other"}),
    ("custom.opted_in", "is_empty", NOTHING, {"blank", "nulls", "blanks"}),
    # custom choice (codes compared ignoring case)
    ("custom.plan", "equals", "PRO", {"full"}),
    ("custom.plan", "in", ["free", "Enterprise"], {"other"}),
    ("custom.plan", "contains", "r", {"full", "other"}),
    ("custom.plan", "starts_with", "f", {"other"}),
    ("custom.plan", "ends_with", "EE", {"other"}),
    ("custom.plan", "is_empty", NOTHING, {"blank", "nulls", "blanks"}),
    # custom multi-choice (JSON arrays of codes)
    ("custom.interests", "contains_any", ["a"], {"full"}),
    ("custom.interests", "contains_any", ["b", "c"], {"full", "other"}),
    ("custom.interests", "contains_all", ["a", "b"], {"full"}),
    ("custom.interests", "contains_all", ["b", "a", "b"], {"full"}),
    ("custom.interests", "contains_all", ["a", "c"], set()),
    ("custom.interests", "is_empty", NOTHING, {"blank", "nulls", "blanks"}),
    # custom email / url / phone
    ("custom.work_email", "starts_with", "Z@", {"full"}),
    ("custom.work_email", "ends_with", "@ACME.CZ", {"full"}),
    ("custom.work_email", "is_empty", NOTHING, {"blank", "nulls", "blanks"}),
    ("custom.site", "equals", "HTTPS://BETA.SK", {"other"}),
    ("custom.site", "contains", "/pricing", {"full"}),
    ("custom.site", "starts_with", "https://", {"full", "other"}),
    ("custom.site", "ends_with", ".sk", {"other"}),
    ("custom.site", "in", ["https://beta.sk", "https://acme.cz"], {"other"}),
    ("custom.site", "is_empty", NOTHING, {"blank", "nulls", "blanks"}),
    ("custom.mobile", "equals", "+421 900 000", {"other"}),
    ("custom.mobile", "contains", "777", {"full"}),
    ("custom.mobile", "starts_with", "+421", {"other"}),
    ("custom.mobile", "ends_with", "111", {"full"}),
    ("custom.mobile", "in", ["+421 900 000", "+1"], {"other"}),
]


def _names(people, ids: set[int]) -> set[str]:
    by_pk = {c.pk: name for name, c in people.items()}
    return {by_pk[i] for i in ids}


def _check(people, node: dict[str, Any], expected: set[str]) -> None:
    rule = tree(node)
    got = _names(people, set(matching_contacts(rule, now=NOW).values_list("pk", flat=True)))
    assert got == expected, f"compiler: {node}"
    assert _names(people, oracle.evaluate(rule, oracle.load_world(), NOW)) == expected, f"oracle: {node}"


@pytest.mark.parametrize(("name", "op", "value", "expected"), CASES, ids=[f"{c[0]}-{c[1]}-{c[2]}" for c in CASES])
def test_operator(people, name, op, value, expected):
    _check(people, field(name, op, value), expected)
    _check(people, field(name, op, value, negate=True), set(UNMERGED - expected))
    twin = POSITIVE_TWIN.get(op)
    if twin and not (op == "is_empty" and name == "custom.opted_in"):  # booleans have no is_not_empty
        _check(people, field(name, twin, value), set(UNMERGED - expected))
        _check(people, field(name, twin, value, negate=True), expected)


def test_every_operator_of_every_type_has_a_case(custom_fields):
    """The table covers each operator (directly or through its positive twin) of each value type."""
    from segments.rules.catalog import builtin_contact_fields, custom_attribute

    attributes = list(builtin_contact_fields().values()) + [custom_attribute(f) for f in custom_fields.values()]
    type_of = {a.name: a.type for a in attributes}
    covered = {(type_of[name], Op(op)) for name, op, _, _ in CASES}
    missing = [
        f"{t}:{op}"
        for t, ops in OPERATORS_BY_TYPE.items()
        if t != ValueType.CAMPAIGN  # activity `where` only: see test_activity
        for op in ops
        if (t, COMPLEMENT_OF.get(op, op)) not in covered
    ]
    assert missing == [], ", ".join(missing)
