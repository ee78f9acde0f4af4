"""Bounds on a tree's work: the cost estimate of `validate`/`preview`, the evaluation deadline, and the
one rule for a number of days (0 is today, for date operators and activity windows alike)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.db import connection

from contacts.services import contacts_refresh_last_activity
from segments.rules import EvaluationTimeout, RuleError, describe, matching_contacts, preview, validate
from segments.rules.limits import MAX_COST, deadline
from tests.factories import ActivityFactory, ContactFactory
from tests.segments.rules.conftest import NOW, field, group, local, tree

pytestmark = pytest.mark.django_db


def data_contains(i: int) -> dict[str, Any]:
    where = [{"field": "data.form", "operator": "contains", "value": f"form-{i}"}]
    return {"type": "activity", "activity": "form_submission", "where": where}


def url_contains(i: int) -> dict[str, Any]:
    return {
        "type": "activity",
        "activity": "page_visit",
        "where": [{"field": "url", "operator": "contains", "value": f"/p{i}"}],
    }


def visited(i: int) -> dict[str, Any]:
    return {"type": "activity", "activity": "page_visit", "window": {"last_days": i + 1}}


def test_an_or_of_many_data_contains_activities_is_refused_naming_the_cause():
    with pytest.raises(RuleError) as error:
        validate(tree(group("or", *(data_contains(i) for i in range(80)))))
    assert error.value.path == "root.children[20]"  # the condition that crosses the limit
    assert error.value.message.startswith(
        "this condition would be too slow to evaluate: 21 activity conditions filtering by “contains”, "
        "“starts with”, “ends with” or a data.<key> field (at most 20)."
    )
    assert "“is a member of”" in error.value.message


def test_url_contains_and_plain_activities_count_too():
    with pytest.raises(RuleError, match=r"21 activity conditions filtering by “contains”"):
        validate(tree(group("or", *(url_contains(i) for i in range(100)))))
    with pytest.raises(RuleError, match=r"61 other activity conditions \(at most 60\)"):
        validate(tree(group("or", *(visited(i) for i in range(61)))))
    with pytest.raises(RuleError, match=r"data.<key> field and 31 other activity conditions are too many together\."):
        validate(tree(group("or", *(data_contains(i) for i in range(10)), *(visited(i) for i in range(40)))))


def test_trees_under_the_limit_are_accepted():
    validate(tree(group("or", *(data_contains(i) for i in range(20)))))
    validate(tree(group("or", *(visited(i) for i in range(60)))))
    fields = [field("city", "contains", f"x{i}") for i in range(400)]
    validate(tree(group("or", *fields)))  # column comparisons are cheap
    assert MAX_COST == 600


def test_preview_applies_the_same_limit():
    with pytest.raises(RuleError, match="too slow"):
        preview(tree(group("or", *(data_contains(i) for i in range(25)))))


def test_a_preview_past_its_deadline_stops_with_a_clear_error():
    ContactFactory.create_batch(3)
    # A statement that runs for long on either database: a cross join counted many times over.
    slow = "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 100000000) SELECT count(*) FROM n"
    with pytest.raises(EvaluationTimeout) as error, deadline(0.2), connection.cursor() as cursor:
        cursor.execute(slow)
    assert "took longer than 0.2 seconds and was stopped" in str(error.value)
    # The connection is usable afterwards, without a deadline left behind.
    assert matching_contacts(tree(field("city", "is_not_empty"))).count() >= 0
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        assert cursor.fetchone() == (1,)


def test_a_preview_within_its_deadline_answers():
    ContactFactory(country="CZ")
    result = preview(tree(field("country", "equals", "CZ")), timeout=5)
    assert result.count == 1


def test_zero_days_means_today_for_windows_as_for_dates():
    today = ContactFactory(first_name="today")
    yesterday = ContactFactory(first_name="yesterday")
    ActivityFactory(contact=today, type="page_visit", occurred_at=local(2026, 3, 15, 0, 0))  # midnight: today
    ActivityFactory(contact=yesterday, type="page_visit", occurred_at=local(2026, 3, 14, 23, 59, 59))
    node = {"type": "activity", "activity": "page_visit", "window": {"last_days": 0}}
    assert validate(tree(node))["root"]["window"] == {"last_days": 0}
    assert list(matching_contacts(tree(node), now=NOW)) == [today]
    contacts_refresh_last_activity()
    any_today = {"type": "activity", "activity": "any", "window": {"last_days": 0}}  # the last_activity_at form
    assert list(matching_contacts(tree(any_today), now=NOW)) == [today]
    assert describe(tree(node)) == "Visited a page today"
    created = tree(field("created_at", "in_last_days", 0))
    assert validate(created)  # the same rule: 0 to 36525 days, 0 = today
    with pytest.raises(RuleError, match="from 0 to 36525"):
        validate(tree({**node, "window": {"last_days": -1}}))
    assert NOW.date() == dt.date(2026, 3, 15)


@pytest.mark.skipif(connection.vendor != "postgresql", reason="work_mem is a PostgreSQL setting")
def test_a_preview_counts_with_its_own_work_mem_and_leaves_the_sessions_alone(settings):
    settings.PREVIEW_WORK_MEM = "24MB"

    def work_mem() -> str:
        with connection.cursor() as cursor:
            cursor.execute("SHOW work_mem")
            return cursor.fetchone()[0]

    before = work_mem()
    assert before != "24MB"
    with deadline(5):
        assert work_mem() == "24MB"
    assert work_mem() == before
