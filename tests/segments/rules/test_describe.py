"""describe(tree): the readable sentence shown in lists and in the builder."""

from __future__ import annotations

import pytest

from segments.rules import RuleError, describe
from tests.factories import CampaignFactory, ConsentFactory, ContactGroupFactory
from tests.segments.rules.conftest import field, group, tree

pytestmark = pytest.mark.django_db

PRICING_3_IN_30 = {
    "type": "activity",
    "activity": "page_visit",
    "where": [{"field": "url", "operator": "contains", "value": "/pricing"}],
    "count": {"operator": "gte", "value": 3},
    "window": {"last_days": 30},
}


def test_the_example_of_the_issue():
    rule = tree(
        group("and", field("country", "equals", "CZ"), group("or", PRICING_3_IN_30, field("lead_score", "gte", 50)))
    )
    assert describe(rule) == (
        'Country is Czechia and (visited a page containing "/pricing" at least 3 times in the last 30 days '
        "or lead score is at least 50)"
    )


def test_kentico_example():
    rule = tree(
        {"type": "activity", "activity": "any", "count": {"operator": "eq", "value": 0}, "window": {"last_days": 365}}
    )
    assert describe(rule) == "Has not done any activity in the last 365 days"


@pytest.mark.parametrize(
    ("node", "sentence"),
    [
        (field("city", "not_equals", "Praha"), 'City is not "Praha"'),
        (field("country", "in", ["CZ", "SK"]), "Country is one of Czechia, Slovakia"),
        (field("email", "is_empty"), "Email is empty"),
        (field("lead_score", "between", [1, 10.5]), "Lead score is between 1 and 10.5"),
        (field("created_at", "in_last_days", 7), "Date created is in the last 7 days"),
        (field("created_at", "more_than_days_ago", 1), "Date created is more than 1 day ago"),
        (field("created_at", "on", "2026-03-15"), "Date created is on 2026-03-15"),
        (field("custom.plan", "in", ["pro", "free"]), "Plan is one of Pro, Free"),
        (field("custom.plan", "contains", "r"), 'Plan contains "r"'),
        (field("custom.interests", "contains_none", ["a", "c"]), "Interests contains none of Analytics, Commerce"),
        (field("custom.opted_in", "is_true"), "Opted in is yes"),
        (field("account.employees", "gt", 100, negate=True), "Not (account employees is more than 100)"),
        (
            group("or", field("city", "equals", "Brno"), group("and", field("city", "equals", "Praha"), negate=True)),
            'City is "Brno" or not (city is "Praha")',
        ),
        (group("and", group("or", field("city", "equals", "Brno"))), 'City is "Brno"'),
        ({"type": "membership", "group": "vip", "operator": "is_member"}, "Is a member of “Very important”"),
        ({"type": "consent", "consent": "newsletter", "operator": "not_agreed"}, "Has not agreed to Newsletter"),
        (
            {
                "type": "activity",
                "activity": "email_open",
                "count": {"operator": "eq", "value": 1},
                "window": {"between": ["2026-01-01", "2026-03-31"]},
            },
            "Opened an email exactly once between 2026-01-01 and 2026-03-31",
        ),
        (
            {
                "type": "activity",
                "activity": "form_submission",
                "where": [
                    {"field": "data.plan", "operator": "equals", "value": "pro"},
                    {"field": "campaign", "operator": "equals", "value": "CAMPAIGN"},
                ],
                "count": {"operator": "lt", "value": 3},
            },
            'Submitted a form where data "plan" is "pro" and where campaign is “Spring sale” fewer than 3 times',
        ),
        (
            {"type": "activity", "activity": "purchase", "count": {"operator": "lt", "value": 1}},
            "Has not made a purchase",
        ),
    ],
)
def test_sentences(custom_fields, node, sentence):
    ContactGroupFactory(code="vip", name="Very important")
    ConsentFactory(code="newsletter", name="Newsletter")
    campaign = CampaignFactory(name="Spring sale")
    for condition in node.get("where", []):
        if condition["value"] == "CAMPAIGN":
            condition["value"] = campaign.pk
    assert describe(tree(node)) == sentence


def test_an_invalid_tree_raises_rule_error():
    with pytest.raises(RuleError, match=r"^root.value: expected a number$"):
        describe(tree(field("lead_score", "gt", "x")))
