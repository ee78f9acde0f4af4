"""Activity nodes: types, `where` filters, counts (eq 0 = "has not done"), windows, future activities,
and the newest-activity fast path (Contact.last_activity_at and its rise), which must agree with the general
path exactly, folded or not."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest

from contacts.models import Activity, ActivityRise, Contact
from contacts.services import contacts_refresh_last_activity
from segments.rules import compiler, matching_contacts
from tests.factories import ActivityFactory, CampaignFactory, ContactFactory
from tests.segments.rules import oracle
from tests.segments.rules.conftest import NOW, local, tree

H = dt.timedelta(hours=1)
D = dt.timedelta(days=1)


@pytest.fixture
def campaigns(db):
    return CampaignFactory(name="Spring sale"), CampaignFactory(name="Autumn")


@pytest.fixture
def crowd(campaigns):
    spring, _autumn = campaigns
    names = ["a", "b", "c", "d", "e", "f", "m"]
    people = {n: ContactFactory(first_name=n) for n in names}
    people["m"].merged_into = people["a"]
    people["m"].save()

    def act(who: str, when: dt.datetime, type: str = "page_visit", **kw: Any) -> None:
        ActivityFactory(contact=people[who], occurred_at=when, type=type, **kw)

    for days in (1, 5, 29):
        act("a", NOW - days * D, url="https://x.cz/pricing")
    act("a", NOW - 2 * D, url="https://x.cz/blog", title="Blog")
    act("a", NOW - 40 * D, type="form_submission", url="", title="Demo request", data={"plan": "Pro", "size": 5})
    act("a", NOW - 3 * D, type="email_open", url="", campaign=spring)
    act("a", NOW - 10 * D, type="purchase", url="", value=Decimal("99.99"))
    act("b", NOW - 10 * D, url="https://x.cz/PRICING?x=1")
    act("b", NOW - 31 * D, url="https://x.cz/pricing")
    act("b", NOW + 1 * D, url="https://x.cz/pricing")  # in the future: never counts
    act("d", NOW + 2 * H, type="email_open", url="")  # only a future activity
    act("e", NOW - 30 * D, type="email_open", url="")  # exactly 30 × 24 h ago: outside "last 30 days"
    act("f", NOW, type="email_open", url="", data={"plan": ""})  # exactly now: inside every window
    act("m", NOW - D, url="https://x.cz/pricing")
    contacts_refresh_last_activity()
    return people


def names(crowd, node: dict[str, Any], now: dt.datetime = NOW) -> set[str]:
    rule = tree(node)
    got = set(matching_contacts(rule, now=now).values_list("first_name", flat=True))
    by_pk = {c.pk: n for n, c in crowd.items()}
    assert {by_pk[i] for i in oracle.evaluate(rule, oracle.load_world(), now)} == got, "oracle disagrees"
    return got


def activity(kind: str = "page_visit", **kw: Any) -> dict[str, Any]:
    return {"type": "activity", "activity": kind, **kw}


PRICING = [{"field": "url", "operator": "contains", "value": "/pricing"}]


@pytest.mark.parametrize(
    ("count", "expected"),
    [
        ({"operator": "gte", "value": 3}, {"a"}),
        ({"operator": "gte", "value": 1}, {"a", "b"}),
        ({"operator": "gt", "value": 2}, {"a"}),
        ({"operator": "eq", "value": 3}, {"a"}),
        ({"operator": "eq", "value": 1}, {"b"}),
        ({"operator": "eq", "value": 0}, {"c", "d", "e", "f"}),
        ({"operator": "lt", "value": 2}, {"b", "c", "d", "e", "f"}),
        ({"operator": "lte", "value": 1}, {"b", "c", "d", "e", "f"}),
        ({"operator": "lt", "value": 1}, {"c", "d", "e", "f"}),
        ({"operator": "lte", "value": 0}, {"c", "d", "e", "f"}),
        ({"operator": "gte", "value": 0}, {"a", "b", "c", "d", "e", "f"}),
        ({"operator": "lt", "value": 0}, set()),
    ],
)
def test_counts_of_pricing_visits_in_the_last_30_days(crowd, count, expected):
    node = activity(where=PRICING, count=count, window={"last_days": 30})
    assert names(crowd, node) == expected
    assert names(crowd, {**node, "negate": True}) == {"a", "b", "c", "d", "e", "f"} - expected


def test_default_count_is_at_least_once(crowd):
    assert names(crowd, activity(where=PRICING)) == {"a", "b"}  # b's future visit never counts


def test_at_least_k_is_a_grouped_in_not_a_correlated_count(crowd):
    pricing_title = [{"field": "title", "operator": "contains", "value": "pricing"}]  # not from the roll-up
    node = tree(activity(where=pricing_title, count={"operator": "gte", "value": 3}, window={"last_days": 30}))
    sql = str(matching_contacts(node, now=NOW).query).upper()
    assert "GROUP BY" in sql and "HAVING COUNT" in sql and '"CONTACTS_CONTACT"."ID" IN (SELECT' in sql
    assert "CONTACTS_ACTIVITYDAY" not in sql


def test_a_url_count_over_whole_days_is_summed_from_the_roll_up(crowd):
    node = tree(activity(where=PRICING, count={"operator": "gte", "value": 3}, window={"last_days": 30}))
    sql = str(matching_contacts(node, now=NOW).query).upper()
    assert "CONTACTS_ACTIVITYDAY" in sql and "HAVING SUM" in sql and '"CONTACTS_CONTACT"."ID" IN (SELECT' in sql


def test_rolling_window_edges(crowd):
    # e's only activity is exactly 30 × 24 h old: outside (now − 30 d, now]; f's is exactly now: inside.
    assert names(crowd, activity("email_open", window={"last_days": 30})) == {"a", "f"}
    assert names(crowd, activity("email_open", window={"last_days": 31})) == {"a", "e", "f"}


def test_window_between_is_inclusive_calendar_days(crowd):
    # a's visits: 1, 2 (blog), 5, 29 days ago; b: 10 days ago. Calendar days in Europe/Prague.
    window = {"between": ["2026-03-10", "2026-03-14"]}
    assert names(crowd, activity(window=window, count={"operator": "gte", "value": 2})) == {"a"}
    assert names(crowd, activity(window=window, where=PRICING, count={"operator": "eq", "value": 1})) == set()
    assert names(crowd, activity(window={"between": ["2026-03-05", "2026-03-05"]})) == {"b"}
    # A window reaching into the future still never counts future activities.
    assert names(crowd, activity(window={"between": ["2026-03-16", "2026-03-31"]})) == set()


def test_window_between_at_midnight(db):
    contact = ContactFactory(first_name="x")
    ActivityFactory(contact=contact, occurred_at=local(2026, 3, 13, 23, 59, 59))
    ActivityFactory(contact=contact, occurred_at=local(2026, 3, 14, 0, 0, 0))
    ActivityFactory(contact=contact, occurred_at=local(2026, 3, 14, 23, 59, 59))
    ActivityFactory(contact=contact, occurred_at=local(2026, 3, 15, 0, 0, 0))
    node = tree(activity(window={"between": ["2026-03-14", "2026-03-14"]}, count={"operator": "eq", "value": 2}))
    assert list(matching_contacts(node, now=NOW)) == [contact]


def test_last_days_is_24_hour_periods_across_daylight_saving(db):
    contact = ContactFactory()
    # 2026-03-29 is 23 hours long in Prague. now − 24 h = 2026-03-28 11:00 CET; wall-clock
    # arithmetic would give 12:00 and miss this visit.
    ActivityFactory(contact=contact, occurred_at=local(2026, 3, 28, 11, 30))
    contacts_refresh_last_activity()
    now = local(2026, 3, 29, 12, 0)
    node = activity(window={"last_days": 1})
    assert list(matching_contacts(tree(node), now=now)) == [contact]
    assert list(matching_contacts(tree({**node, "where": PRICING}), now=now)) == [contact]


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        ([{"field": "title", "operator": "equals", "value": "blog"}], {"a"}),
        ([{"field": "url", "operator": "is_empty"}], {"a", "e", "f"}),  # d's activity is in the future
        ([{"field": "url", "operator": "not_contains", "value": "pricing"}], {"a", "e", "f"}),
        ([{"field": "campaign", "operator": "equals", "value": "SPRING"}], {"a"}),
        ([{"field": "campaign", "operator": "not_equals", "value": "SPRING"}], {"a", "b", "e", "f"}),
        ([{"field": "campaign", "operator": "in", "value": ["SPRING", "AUTUMN"]}], {"a"}),
        ([{"field": "campaign", "operator": "not_in", "value": ["SPRING"]}], {"a", "b", "e", "f"}),
        ([{"field": "value", "operator": "gte", "value": 99.99}], {"a"}),
        ([{"field": "value", "operator": "gt", "value": 99.985}], {"a"}),
        ([{"field": "value", "operator": "lte", "value": 99.989}], set()),
        ([{"field": "value", "operator": "equals", "value": 99.995}], set()),
        ([{"field": "value", "operator": "is_empty"}], {"a", "b", "e", "f"}),
        ([{"field": "data.plan", "operator": "equals", "value": "pro"}], {"a"}),
        ([{"field": "data.plan", "operator": "is_empty"}], {"a", "b", "e", "f"}),
        ([{"field": "data.size", "operator": "equals", "value": "5"}], set()),  # data compares as text
        (
            [
                {"field": "url", "operator": "contains", "value": "x.cz"},
                {"field": "title", "operator": "not_equals", "value": "Blog"},
            ],
            {"a", "b"},
        ),
    ],
)
def test_where_filters(crowd, campaigns, where, expected):
    ids = {"SPRING": campaigns[0].pk, "AUTUMN": campaigns[1].pk}
    for condition in where:
        value = condition.get("value")
        if condition["field"] == "campaign":
            condition["value"] = [ids[v] for v in value] if isinstance(value, list) else ids[value]
    assert names(crowd, activity("any", where=where)) == expected


def test_merged_contacts_never_match(crowd):
    for node in (activity(where=PRICING), activity(where=PRICING, count={"operator": "eq", "value": 0})):
        assert "m" not in names(crowd, node)
        assert "m" not in names(crowd, {**node, "negate": True})


# --- the last_activity_at fast path ------------------------------------------------------------

WINDOWS = [None, {"last_days": 1}, {"last_days": 30}, {"last_days": 31}, {"last_days": 365}]
NOT_DONE = [{"operator": "eq", "value": 0}, {"operator": "lt", "value": 1}, {"operator": "lte", "value": 0}]
DONE = [{"operator": "gte", "value": 1}, {"operator": "gt", "value": 0}]


def where_clause(rule) -> str:
    return str(matching_contacts(rule, now=NOW).query).split(" WHERE ", 1)[1]


def _node(window, count, negate):
    node = activity("any", count=count)
    if window:
        node["window"] = window
    if negate:
        node["negate"] = True
    return node


def unfold() -> None:
    """As between two folds: each contact's row holds its second newest activity time, its rise the newest."""
    for contact in Contact.objects.all():
        times = sorted(Activity.objects.filter(contact=contact).values_list("occurred_at", flat=True))
        Contact.objects.filter(pk=contact.pk).update(last_activity_at=times[-2] if len(times) > 1 else None)
        if times:
            ActivityRise.objects.update_or_create(contact=contact, defaults={"at": times[-1]})


@pytest.mark.parametrize("window", WINDOWS)
@pytest.mark.parametrize("count", NOT_DONE + DONE)
@pytest.mark.parametrize("negate", [False, True])
@pytest.mark.parametrize("future", [True, False], ids=["future-activities", "none-in-the-future"])
@pytest.mark.parametrize("rises", [False, True], ids=["folded", "rises-pending"])
def test_fast_path_equals_general_path(crowd, monkeypatch, window, count, negate, future, rises):
    if not future:  # the index-only form, used while no activity is dated after `now`
        Activity.objects.filter(occurred_at__gt=NOW).delete()
        contacts_refresh_last_activity()
    if rises:
        unfold()
    node = tree(_node(window, count, negate))
    fast = set(matching_contacts(node, now=NOW).values_list("pk", flat=True))
    clause = where_clause(node)
    assert "last_activity_at" in clause and "contacts_activityrise" in clause
    assert ("GREATEST(" in clause or "MAX(" in clause) == future  # the exact newest time: column or rise
    assert ("COALESCE" in clause) == (future or window is not None)
    monkeypatch.setattr(compiler, "last_activity_forms", lambda node, clock: None)
    general = set(matching_contacts(node, now=NOW).values_list("pk", flat=True))
    assert "last_activity_at" not in where_clause(node)
    assert fast == general
    assert fast == oracle.evaluate(node, oracle.load_world(), NOW)


def test_kentico_no_activity_in_the_last_365_days(crowd):
    """Kentico's "Contact has not done any activity in the last 365 day(s)"."""
    node = _node({"last_days": 365}, {"operator": "eq", "value": 0}, False)
    assert names(crowd, node) == {"c", "d"}  # d only has a future activity


def test_fast_path_with_last_activity_in_the_future_and_an_older_one_in_the_window(db):
    contact = ContactFactory()
    ActivityFactory(contact=contact, occurred_at=NOW - 3 * D)
    ActivityFactory(contact=contact, occurred_at=NOW + 3 * D)
    contacts_refresh_last_activity()
    contact.refresh_from_db()
    assert contact.last_activity_at > NOW
    assert list(matching_contacts(tree(_node({"last_days": 7}, DONE[0], False)), now=NOW)) == [contact]
    assert list(matching_contacts(tree(_node({"last_days": 2}, NOT_DONE[0], False)), now=NOW)) == [contact]


@pytest.mark.parametrize(
    "count", [{"operator": "gte", "value": 2}, {"operator": "eq", "value": 1}, {"operator": "lt", "value": 3}]
)
def test_counts_for_a_few_contacts_are_correlated_and_agree(crowd, count):
    node = tree({**activity("page_visit", count=count), "window": {"last_days": 30}})
    ids = [c.pk for c in crowd.values()]
    scoped = matching_contacts(node, now=NOW, among=ids)
    assert set(scoped.values_list("pk", flat=True)) == set(
        matching_contacts(node, now=NOW).values_list("pk", flat=True)
    )
    assert "IN (SELECT" in str(matching_contacts(node, now=NOW).query)  # one grouped pass for everyone
    assert "IN (SELECT" not in str(scoped.query) and "EXISTS" in str(scoped.query)  # per contact
