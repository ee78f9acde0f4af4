"""explain(tree, contact): every node's verdict for one contact, in one query, agreeing with matching."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from contacts.services import contacts_refresh_last_activity
from segments.rules import explain, matching_contacts, parse
from tests.factories import ActivityFactory
from tests.segments.rules.conftest import NOW, field, group, tree

RULE = tree(
    group(
        "and",
        field("country", "equals", "CZ"),
        group(
            "or",
            {
                "type": "activity",
                "activity": "page_visit",
                "where": [{"field": "url", "operator": "contains", "value": "/pricing"}],
                "count": {"operator": "gte", "value": 3},
                "window": {"last_days": 30},
            },
            field("lead_score", "gte", 50, negate=True),
        ),
    )
)


def test_every_node_has_a_verdict(people):
    full = people["full"]
    ActivityFactory(contact=full, occurred_at=NOW.replace(day=10), url="https://x.cz/pricing")
    ActivityFactory(contact=full, occurred_at=NOW.replace(day=11), url="https://x.cz/Pricing")
    contacts_refresh_last_activity()
    parse(RULE)  # metadata loaded; the explanation itself is then one query
    with CaptureQueriesContext(connection) as queries:
        result = explain(RULE, full, now=NOW)
    assert len([q for q in queries.captured_queries if "contacts_contact" in q["sql"]]) == 1
    assert result.matched is False and result.merged is False
    root = result.root
    assert (root.path, root.type, root.matched) == ("root", "group", False)
    country, either = root.children
    assert (country.path, country.matched, country.description) == ("root.children[0]", True, "Country is Czechia")
    visits, score = either.children
    assert (visits.path, visits.matched, visits.count) == ("root.children[1].children[0]", False, 2)
    assert visits.description == 'Visited a page containing "/pricing" at least 3 times in the last 30 days'
    assert (score.matched, score.negate, score.count) == (False, True, None)
    assert result.to_dict()["root"]["children"][1]["children"][0]["count"] == 2


def test_merged_contact_is_never_matched(people):
    result = explain(tree(field("city", "equals", "Praha")), people["merged"], now=NOW)
    assert result.root.matched is True
    assert result.merged is True and result.matched is False


@pytest.mark.parametrize("name", ["full", "other", "blank", "nulls", "blanks", "merged"])
def test_agrees_with_matching_contacts(people, name):
    contact = people[name]
    matching = set(matching_contacts(RULE, now=NOW).values_list("pk", flat=True))
    assert explain(RULE, contact.pk, now=NOW).matched == (contact.pk in matching)
