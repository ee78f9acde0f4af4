"""The contact list's custom-field filters and the rule engine read `Contact.custom` the same way.

For every custom field type and every sidebar filter, the contacts the sidebar lists are exactly the
contacts the equivalent rule tree matches — over canonical values and the non-canonical ones an
import or an old row may hold (wrong JSON type, other letter case, null, "", []). Runs on SQLite and,
with DATABASE_URL, on PostgreSQL.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest

from contacts.filters import ContactFilterSet
from contacts.models import Contact
from segments.rules import matching_contacts
from tests.factories import ContactFactory

MISSING = object()
EMPTIES = [MISSING, None, "", []]

# field code (from tests/contacts/conftest.py) → values stored in Contact.custom, canonical and not.
TEXTS = ["Anna", "ANNABEL", "hanna", "Černý", "černá", "50% off_now", "x", 42, True, ["anna"], {"anna": 1}]
VALUES: dict[str, list[Any]] = {
    "nickname": TEXTS,
    "work_email": [*TEXTS, "Ada@Example.com", "ada@work.example"],
    "website": [*TEXTS, "https://Ada.example/x", "http://work.example"],
    "mobile": [*TEXTS, "+420 601 234 567", "601234"],
    "budget": [0, 9, 10, 10.5, -5.5, 1000, 10**15, 0.1, "12", "abc", True, False, [10], {"n": 10}],
    "renewal": ["2026-01-15", "2026-03-01", "2025-12-31", "2026-02-01", 20260101, "later", True, ["2026-01-15"]],
    "vip": [True, False, 1, 0, "true", "yes", [True]],
    "plan": ["pro", "PRO", "Pro", "basic", "enterprise", "gold", ["pro"], 1, {"pro": 1}],
    "topics": [["ai"], ["ai", "cloud"], ["security"], ["AI"], "ai", {"ai": 1}, ["cloud", "x"], [1, "ai"], ["ai", "ai"]],
}
TEXT_SEARCHES = ["ann", "ANN", "čer", "ČERNÁ", "50%", "_", "42", "example", "601", "zzz"]


def field(code: str, operator: str, value: Any = None, **extra: Any) -> dict[str, Any]:
    node = {"type": "field", "field": f"custom.{code}", "operator": operator, **extra}
    if value is not None:
        node["value"] = value
    return node


def both(*children: dict[str, Any]) -> dict[str, Any]:
    return {"type": "group", "combinator": "and", "children": list(children)}


def day(iso: str, days: int = 0) -> str:
    return (dt.date.fromisoformat(iso) + dt.timedelta(days=days)).isoformat()


def number_cases(code: str) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    bounds = [None, "-5.5", "0", "0.1", "9", "10", "10.5", "12", "1000", "1000000000000000"]
    cases = []
    for low in bounds:
        for high in bounds:
            if low is None and high is None:
                continue
            params, rules = {}, []
            if low is not None:
                params[f"cf_{code}_min"] = low
                rules.append(field(code, "gte", json.loads(low)))
            if high is not None:
                params[f"cf_{code}_max"] = high
                rules.append(field(code, "lte", json.loads(high)))
            cases.append((params, both(*rules)))
    return cases


def date_cases(code: str) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    days = [None, "2025-12-31", "2026-01-15", "2026-02-01", "2026-03-01", "2027-01-01"]
    cases = []
    for start in days:
        for end in days:
            if start is None and end is None:
                continue
            params = {}
            if start is not None:
                params[f"cf_{code}_from"] = start
            if end is not None:
                params[f"cf_{code}_to"] = end
            if start is not None and end is not None:
                if start > end:  # nothing is both: the rule says so without a reversed "between"
                    rule = both(field(code, "after", day(start, -1)), field(code, "before", day(end, 1)))
                else:
                    rule = field(code, "between", [start, end])
            elif start is not None:
                rule = field(code, "after", day(start, -1))  # on or after the day
            else:
                rule = field(code, "before", day(end, 1))  # on or before the day
            cases.append((params, rule))
    return cases


def cases_for(code: str, kind: str) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """(sidebar GET parameters, the equivalent rule tree's root) for every filter the sidebar has for the field."""
    if kind in ("text", "email", "url", "phone"):
        return [({f"cf_{code}": s}, field(code, "contains", s)) for s in TEXT_SEARCHES]
    if kind == "number":
        return number_cases(code)
    if kind == "date":
        return date_cases(code)
    if kind == "boolean":
        return [
            ({f"cf_{code}": "yes"}, field(code, "is_true")),
            ({f"cf_{code}": "no"}, field(code, "is_false")),
            ({f"cf_{code}": "empty"}, field(code, "is_empty")),
        ]
    if kind == "choice":
        return [({f"cf_{code}": c}, field(code, "equals", c)) for c in ("basic", "pro", "enterprise")]
    assert kind == "multi_choice"
    subsets = [["ai"], ["cloud"], ["security"], ["ai", "cloud"], ["cloud", "security"], ["ai", "cloud", "security"]]
    return [({f"cf_{code}": s}, field(code, "contains_any", s)) for s in subsets]


def seed(code: str) -> None:
    """One contact per stored value (and per kind of empty), plus a merged one that nothing lists."""
    for value in [*EMPTIES, *VALUES[code]]:
        ContactFactory(custom={} if value is MISSING else {code: value, "other": "x"})
    parent = ContactFactory(custom={})
    ContactFactory(custom={code: VALUES[code][0]}, merged_into=parent)


def sidebar_ids(params: dict[str, Any]) -> set[int]:
    filterset = ContactFilterSet(params, queryset=Contact.objects.all())
    assert filterset.is_valid(), filterset.form.errors
    return set(filterset.qs.values_list("pk", flat=True))


def stored(code: str, ids: set[int]) -> list[str]:
    """The stored values of these contacts, for a readable failure."""
    return sorted(repr(c.custom.get(code, "<absent>")) for c in Contact.objects.filter(pk__in=ids))


def rule_ids(root: dict[str, Any]) -> set[int]:
    return set(matching_contacts({"version": 1, "root": root}).values_list("pk", flat=True))


@pytest.mark.parametrize(
    "code", ["nickname", "work_email", "website", "mobile", "budget", "renewal", "vip", "plan", "topics"]
)
def test_sidebar_filter_lists_exactly_the_contacts_of_the_equivalent_rule(custom_fields, code):
    seed(code)
    kind = custom_fields[code].type
    disagreements = []
    sizes = set()
    for params, root in cases_for(code, kind):
        sidebar, rule = sidebar_ids(params), rule_ids(root)
        sizes.add(len(rule))
        if sidebar != rule:
            only_sidebar, only_rule = stored(code, sidebar - rule), stored(code, rule - sidebar)
            disagreements.append(f"{params}: sidebar only {only_sidebar}, rule only {only_rule}")
    assert not disagreements, f"{kind} field {code!r}:\n" + "\n".join(disagreements)
    assert len(sizes) > 1 and max(sizes) > 0  # the cases tell contacts apart (the test can fail)


def test_sidebar_filters_follow_the_rule_semantics_users_see(custom_fields):
    """Choices ignore case; "", null and [] are empty for every filter; only JSON numbers are numbers."""
    upper = ContactFactory(custom={"plan": "PRO", "vip": "", "topics": ["AI"]})
    blank = ContactFactory(custom={"renewal": "", "budget": "", "vip": []})
    typed = ContactFactory(custom={"renewal": "2026-01-15", "budget": 10, "vip": False, "topics": ["ai"]})
    strings = ContactFactory(custom={"budget": "10", "nickname": 10})
    assert sidebar_ids({"cf_plan": "pro"}) == {upper.pk}
    assert sidebar_ids({"cf_renewal_to": "2030-01-01"}) == {typed.pk}  # "" is no date before 2030
    assert sidebar_ids({"cf_budget_max": "100"}) == {typed.pk}  # "" and "10" are not numbers (nor a crash)
    assert sidebar_ids({"cf_vip": "empty"}) == {upper.pk, blank.pk, strings.pk}
    assert sidebar_ids({"cf_topics": ["ai"]}) == {typed.pk}  # multi-choice codes compare exactly
    assert sidebar_ids({"cf_nickname": "10"}) == set()  # a number is not text
