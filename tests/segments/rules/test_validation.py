"""Validation: every error is a RuleError naming the exact path, in words a marketer understands;
limits, unknown codes, membership cycles; and the canonical tree `validate` returns."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from segments.rules import CycleError, RuleError, validate
from tests.factories import ConsentFactory, ContactGroupFactory
from tests.segments.rules.conftest import field, group, tree

pytestmark = pytest.mark.django_db

LEAF = field("lead_score", "gte", 50)


def activity(**kw: Any) -> dict[str, Any]:
    return {"type": "activity", "activity": "page_visit", **kw}


def nested(depth: int) -> dict[str, Any]:
    node: dict[str, Any] = LEAF
    for _ in range(depth - 1):
        node = group("and", node)
    return node


CASES: list[tuple[Any, str]] = [
    ([], 'tree: expected a JSON object like {"version": 1, "root": {...}}'),
    ({"version": 2, "root": LEAF}, "version: unsupported version “2” (expected 1)"),
    ({"version": True, "root": LEAF}, "version: unsupported version “True” (expected 1)"),
    ({"version": 1}, "root: missing"),
    ({"version": 1, "root": LEAF, "colour": 1}, "colour: unknown key (allowed here: version, root)"),
    (tree("country"), "root: expected a condition (an object with a type)"),
    (tree({"field": "country"}), "root.type: missing (group, field, activity, membership or consent)"),
    (
        tree({"type": "fields"}),
        "root.type: unknown condition type “fields” (expected group, field, activity, membership or consent)",
    ),
    (tree({"type": "group", "combinator": "and"}), "root.children: missing"),
    (tree(group("and")), "root.children: a group needs at least one condition"),
    (tree({**group("and", LEAF), "children": LEAF}), "root.children: expected a list of conditions"),
    (tree(group("xor", LEAF)), "root.combinator: unknown combinator “xor” (expected one of: and, or)"),
    (tree({**group("and", LEAF), "negate": "yes"}), "root.negate: expected true or false"),
    (
        tree(group("and", {**LEAF, "colour": "red"})),
        "root.children[0].colour: unknown key (allowed here: type, field, operator, value, negate)",
    ),
    # the example of DESIGN
    (
        tree(group("and", LEAF, LEAF, field("lead_score", "gt", "abc"))),
        "root.children[2].value: expected a number",
    ),
    (tree(field("lead_score", "gt", True)), "root.value: expected a number"),
    (tree(field("lead_score", "gt", float("nan"))), "root.value: expected a number"),
    (tree(field("lead_score", "gt", 10**16)), "root.value: the number is too large (at most 10^15)"),
    (
        tree(field("colour", "equals", "red")),
        "root.field: unknown field “colour” (expected one of: email, first_name, last_name, phone, country, "
        "city, job_title, lead_score, created_at, updated_at, custom.<code>, account.<name>)",
    ),
    (
        tree(field("account.size", "gt", 1)),
        "root.field: unknown account field “account.size” (expected one of: account.name, account.domain, "
        "account.industry, account.country, account.employees)",
    ),
    (tree(field(3, "equals", "x")), "root.field: expected a field name"),
    (tree(field("custom.nope", "equals", "x")), "root.field: there is no custom field with code “nope”"),
    (
        tree(field("custom.legacy", "equals", "x")),
        "root.field: the custom field “Legacy” is retired and cannot be used in rules",
    ),
    (
        tree(field("city", "gt", 3)),
        "root.operator: unknown operator “gt” for a text field (expected one of: equals, not_equals, contains, "
        "not_contains, starts_with, ends_with, in, not_in, is_empty, is_not_empty)",
    ),
    (
        tree(field("custom.opted_in", "is_not_empty")),
        "root.operator: unknown operator “is_not_empty” for a boolean field (expected one of: is_true, is_false, "
        "is_empty)",
    ),
    (
        tree(field("custom.plan", "equals", "gold")),
        "root.value: “gold” is not one of the choices of Plan (pro, enterprise, free)",
    ),
    (tree(field("country", "in", ["CZ", "XX"])), "root.value[1]: “XX” is not a country code (two letters, e.g. CZ)"),
    (
        tree(field("custom.interests", "contains_any", ["A"])),
        "root.value[0]: “A” is not one of the choices of Interests (a, b, c)",
    ),
    (tree(field("city", "in", [])), "root.value: expected at least one value"),
    (tree(field("city", "in", "Praha")), "root.value: expected a list"),
    (tree(field("city", "in", ["Praha", 3])), "root.value[1]: expected text"),
    (tree(field("city", "equals", "")), "root.value: expected a non-empty text (use is_empty to find empty values)"),
    (tree(field("city", "equals", "a\x00b")), "root.value: the text contains a NUL character"),
    (tree(field("city", "equals", "\ud800")), "root.value: the text is not valid Unicode"),
    (tree(field("city", "equals", "x" * 1001)), "root.value: the text is too long (at most 1000 characters)"),
    (tree(field("city", "equals")), "root.value: missing: equals needs a value"),
    (tree(field("city", "is_empty", "x")), "root.value: is_empty takes no value"),
    (tree(field("lead_score", "between", [5, 1])), "root.value: the first value must not be greater than the second"),
    (tree(field("lead_score", "between", [1])), "root.value: expected two numbers [from, to]"),
    (tree(field("created_at", "on", "2026-02-30")), "root.value: expected a date as YYYY-MM-DD"),
    (tree(field("created_at", "on", "15.3.2026")), "root.value: expected a date as YYYY-MM-DD"),
    (tree(field("created_at", "between", ["2026-01-02", 5])), "root.value[1]: expected a date as YYYY-MM-DD"),
    (
        tree(field("created_at", "in_last_days", -1)),
        "root.value: expected a whole number of days from 0 to 36525",
    ),
    (tree(field("created_at", "in_last_days", 1.5)), "root.value: expected a whole number of days from 0 to 36525"),
    (
        tree({"type": "activity", "activity": "visit"}),
        "root.activity: unknown activity type “visit” (expected any, page_visit, form_submission, email_open, "
        "email_click, email_sent, sms_sent, purchase, custom)",
    ),
    (tree({"type": "activity"}), "root.activity: missing"),
    (tree(activity(where={})), "root.where: expected a list of conditions"),
    (
        tree(activity(where=[{"field": "colour", "operator": "equals", "value": "x"}])),
        "root.where[0].field: unknown activity field “colour” (expected url, title, campaign, value or data.<key>)",
    ),
    (
        tree(activity(where=[{"field": "data.a b", "operator": "equals", "value": "x"}])),
        "root.where[0].field: a data key has 1–64 letters, digits, “_” or “-”",
    ),
    (
        tree(activity(where=[{"field": "url", "operator": "equals", "value": "x", "negate": True}])),
        "root.where[0].negate: unknown key (allowed here: field, operator, value)",
    ),
    (
        tree(activity(where=[{"field": "campaign", "operator": "equals", "value": "x"}])),
        "root.where[0].value: expected a campaign id (a positive whole number)",
    ),
    (
        tree(activity(where=[{"field": "campaign", "operator": "contains", "value": 1}])),
        "root.where[0].operator: unknown operator “contains” for a campaign field (expected one of: equals, "
        "not_equals, in, not_in)",
    ),
    (
        tree(activity(count={"operator": "ge", "value": 1})),
        "root.count.operator: unknown count operator “ge” (expected one of: eq, gte, gt, lte, lt)",
    ),
    (
        tree(activity(count={"operator": "gte", "value": -1})),
        "root.count.value: expected a whole number from 0 to 1000000",
    ),
    (tree(activity(count={"operator": "gte"})), "root.count.value: missing"),
    (tree(activity(count=3)), 'root.count: expected an object like {"operator": "gte", "value": 3}'),
    (
        tree(activity(window={"last_days": 3, "between": ["2026-01-01", "2026-01-02"]})),
        'root.window: expected exactly one of "last_days" or "between"',
    ),
    (tree(activity(window={})), 'root.window: expected exactly one of "last_days" or "between"'),
    (
        tree(activity(window={"last_days": -1})),
        "root.window.last_days: expected a whole number of days from 0 to 36525",
    ),
    (tree(field("created_at", "in_last_days", -1)), "root.value: expected a whole number of days from 0 to 36525"),
    (tree(activity(window={"days": 3})), "root.window.days: unknown key (allowed here: last_days, between)"),
    (
        tree(activity(window={"between": ["2026-02-01", "2026-01-01"]})),
        "root.window.between: the first value must not be greater than the second",
    ),
    (
        tree({"type": "membership", "group": "nope", "operator": "is_member"}),
        "root.group: there is no group with code “nope”",
    ),
    (
        tree({"type": "membership", "group": "NOPE\x00", "operator": "is_member"}),
        "root.group: there is no group with code “NOPE\\x00”",
    ),
    (
        tree({"type": "consent", "consent": "nope", "operator": "agreed"}),
        "root.consent: there is no consent with code “nope”",
    ),
    (
        tree({"type": "consent", "consent": "newsletter", "operator": "yes"}),
        "root.operator: unknown operator “yes” (expected one of: agreed, not_agreed)",
    ),
    (tree(nested(11)), "root" + ".children[0]" * 10 + ": conditions are nested too deeply (at most 10 levels)"),
    (tree(group("or", *[LEAF] * 500)), "root.children[499]: the rule has too many conditions (at most 500)"),
]


@pytest.fixture(autouse=True)
def _codes(custom_fields):
    ConsentFactory(code="newsletter", name="Newsletter")


@pytest.mark.parametrize(("raw", "message"), CASES, ids=[m.split(":")[0] + f"-{i}" for i, (_, m) in enumerate(CASES)])
def test_error_names_the_path(raw, message):
    with pytest.raises(RuleError) as error:
        validate(raw)
    assert str(error.value) == message
    assert error.value.path == message.split(": ", 1)[0]


def test_limits_are_inclusive():
    validate(tree(nested(10)))
    validate(tree(group("or", *[LEAF] * 499)))  # 500 nodes with the root


def test_validate_returns_the_canonical_tree():
    raw = tree(
        group(
            "and",
            field("country", "in", ["cz", "SK", "cz"]),
            field("custom.plan", "equals", "PRO"),
            {**field("lead_score", "gt", 10.0), "negate": False},
            {"type": "activity", "activity": "any", "window": {"last_days": 30}},
            field("email", "is_empty", None),
        )
    )
    before = copy.deepcopy(raw)
    canonical = validate(raw)
    assert raw == before  # the input is not changed
    assert canonical == tree(
        group(
            "and",
            field("country", "in", ["CZ", "SK"]),
            field("custom.plan", "equals", "pro"),
            field("lead_score", "gt", 10),
            {
                "type": "activity",
                "activity": "any",
                "count": {"operator": "gte", "value": 1},
                "window": {"last_days": 30},
            },
            field("email", "is_empty"),
        )
    )
    assert validate(canonical) == canonical


# --- membership cycles ------------------------------------------------------------------------


def member_of(code: str) -> dict[str, Any]:
    return tree({"type": "membership", "group": code, "operator": "is_member"})


@pytest.fixture
def chain(db):
    """a's condition uses b, b's uses c; c is a manual group. x is manual, with a leftover condition."""
    c = ContactGroupFactory(code="c", name="C")
    b = ContactGroupFactory(code="b", name="B", is_condition_based=True, condition=member_of("c"))
    a = ContactGroupFactory(code="a", name="A", is_condition_based=True, condition=member_of("b"))
    x = ContactGroupFactory(code="x", name="X", is_condition_based=False, condition=member_of("c"))
    return a, b, c, x


def test_a_cycle_through_stored_conditions_is_rejected_in_names(chain):
    a, b, c, x = chain
    with pytest.raises(CycleError) as error:
        validate(member_of("a"), group=c)
    assert str(error.value) == "root.group: “A” already uses this group (through “B”), so it cannot use “A”"
    with pytest.raises(CycleError) as error:
        validate(member_of("b"), group="c")
    assert str(error.value) == "root.group: “B” already uses this group, so it cannot use “B”"


def test_a_group_cannot_refer_to_itself(chain):
    with pytest.raises(CycleError) as error:
        validate(tree(group("or", LEAF, member_of("c")["root"])), group="c")
    assert str(error.value) == (
        "root.children[1].group: “C” is this group: a group's condition cannot use the group itself"
    )


def test_no_cycle(chain):
    a, b, c, x = chain
    validate(member_of("a"), group="new_group")
    validate(member_of("c"), group=a)  # a → c directly is fine: c depends on nothing
    validate(member_of("x"), group=c)  # x is not condition-based: its leftover condition does not count
    validate(member_of("a"), group=None)  # no owner, no cycle check


def test_cycle_check_survives_corrupt_stored_cycles(db):
    ContactGroupFactory(code="p", is_condition_based=True, condition=member_of("q"))
    ContactGroupFactory(code="q", is_condition_based=True, condition=member_of("p"))
    validate(member_of("p"), group="r")  # terminates; r is not on the p ↔ q loop


def test_deeply_nested_values_are_rule_errors():
    deep: list = []
    for _ in range(5000):
        deep = [deep]
    for raw in ({"version": deep, "root": LEAF}, tree({"type": deep}), tree(field("city", "equals", deep))):
        with pytest.raises(RuleError):
            validate(raw)
    with pytest.raises(RuleError, match="^version: unsupported version “a list” "):
        validate({"version": deep, "root": LEAF})
    with pytest.raises(RuleError, match=r"^root: expected a condition"):
        validate(tree(deep))
