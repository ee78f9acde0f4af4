"""Re-checks on change, through a real django-q2 run in sync mode: contacts.services → signal on commit
→ PendingRecheck rows → drain task → account and condition sources brought up to date."""

import datetime as dt

import pytest
from django.utils import timezone
from django_q.conf import Conf

from contacts import services as contact_services
from segments import rechecks as recheck
from segments.models import Membership, PendingRecheck
from segments.rebuilds import group_rebuild
from segments.services import group_add_accounts
from tests.factories import AccountFactory, ContactFactory, ContactGroupFactory, MembershipFactory

pytestmark = pytest.mark.django_db


def tree(root):
    return {"version": 1, "root": root}


CZ = tree({"type": "field", "field": "country", "operator": "equals", "value": "CZ"})
PRICING = tree(
    {
        "type": "activity",
        "activity": "page_visit",
        "where": [{"field": "url", "operator": "contains", "value": "/pricing"}],
        "count": {"operator": "gte", "value": 2},
    }
)


@pytest.fixture
def sync_worker(monkeypatch):
    """Run django-q2 tasks in-process, as the worker would, right when they are queued."""
    monkeypatch.setattr(Conf, "SYNC", True)


def sources(group, contact):
    m = Membership.objects.filter(group=group, contact=contact).first()
    return None if m is None else (m.via_manual, m.via_account, m.via_condition)


@pytest.mark.usefixtures("no_drift")
def test_contact_created_and_changed_follows_the_condition(sync_worker, django_capture_on_commit_callbacks):
    group = ContactGroupFactory(code="czechs", is_condition_based=True, condition=CZ)
    with django_capture_on_commit_callbacks(execute=True):
        contact = contact_services.contact_create(email="jana@example.com", first_name="Jana", country="CZ")
    assert sources(group, contact) == (False, False, True)
    group.refresh_from_db()
    assert group.member_count == 1

    with django_capture_on_commit_callbacks(execute=True):
        contact_services.contact_update(contact=contact, country="DE")
    assert sources(group, contact) is None
    group.refresh_from_db()
    assert group.member_count == 0
    assert not PendingRecheck.objects.exists()


@pytest.mark.usefixtures("no_drift")
def test_condition_source_removed_keeps_the_manual_one(sync_worker, django_capture_on_commit_callbacks):
    group = ContactGroupFactory(is_condition_based=True, condition=CZ)
    contact = ContactFactory(country="CZ")
    group_rebuild(group=group)
    Membership.objects.filter(group=group, contact=contact).update(via_manual=True)
    with django_capture_on_commit_callbacks(execute=True):
        contact_services.contact_update(contact=contact, country="SK")
    assert sources(group, contact) == (True, False, False)


def test_activity_recorded_rechecks_activity_groups_only(sync_worker, django_capture_on_commit_callbacks, monkeypatch):
    pricing = ContactGroupFactory(code="pricing", is_condition_based=True, condition=PRICING)
    country = ContactGroupFactory(code="country", is_condition_based=True, condition=CZ)
    contact = ContactFactory(country="DE")
    evaluated = []
    original = recheck._verdicts
    monkeypatch.setattr(
        recheck, "_verdicts", lambda groups, *a: evaluated.extend(g.code for g in groups) or original(groups, *a)
    )
    now = timezone.now()
    for minutes in (10, 5):
        with django_capture_on_commit_callbacks(execute=True):
            contact_services.activity_record(
                contact=contact,
                type="page_visit",
                url="https://x.example/pricing",
                occurred_at=now - dt.timedelta(minutes=minutes),
            )
    assert sources(pricing, contact) == (False, False, True)
    assert "country" not in evaluated and evaluated.count("pricing") == 2
    assert sources(country, contact) is None


def test_a_burst_of_changes_is_rechecked_once(django_capture_on_commit_callbacks, monkeypatch):
    monkeypatch.setattr("django_q.tasks.async_task", lambda *a, **k: None)  # the worker is busy elsewhere
    contact = ContactFactory()
    with django_capture_on_commit_callbacks(execute=True):
        for score in range(5):
            contact_services.contact_update(contact=contact, lead_score=score)
    # a note per change and kind (never merged into an earlier one: see test_concurrency), drained as one re-check
    assert PendingRecheck.objects.filter(contact_id=contact.pk).count() == 5 * len(recheck.KINDS_BY_REASON["updated"])
    rechecked = []
    real = recheck.contacts_recheck
    monkeypatch.setattr(recheck, "contacts_recheck", lambda **kw: rechecked.append(kw) or real(**kw))
    assert recheck.rechecks_drain() == 1
    assert [sorted(kw["kinds_by_contact"]) for kw in rechecked] == [[contact.pk]]
    assert not PendingRecheck.objects.exists()


def test_a_drain_batch_takes_its_contacts_other_notes_along(django_capture_on_commit_callbacks, monkeypatch):
    monkeypatch.setattr("django_q.tasks.async_task", lambda *a, **k: None)
    busy, quiet = ContactFactory(), ContactFactory()
    with django_capture_on_commit_callbacks(execute=True):
        contact_services.contact_update(contact=busy, lead_score=1)
        contact_services.contact_update(contact=quiet, lead_score=1)
        for score in range(2, 12):
            contact_services.contact_update(contact=busy, lead_score=score)
    rechecked = []
    real = recheck.contacts_recheck
    monkeypatch.setattr(recheck, "contacts_recheck", lambda **kw: rechecked.append(kw) or real(**kw))
    assert recheck.rechecks_drain(batch=2) == 2  # the first batch (2 of busy's 33 notes) took all 33
    assert [sorted(kw["kinds_by_contact"]) for kw in rechecked] == [[busy.pk], [quiet.pk]]
    assert rechecked[0]["kinds_by_contact"][busy.pk] == set(recheck.KINDS_BY_REASON["updated"])
    assert not PendingRecheck.objects.exists()


def test_bulk_writes_queue_one_batched_recheck(django_capture_on_commit_callbacks, monkeypatch):
    queued = []
    monkeypatch.setattr("django_q.tasks.async_task", lambda *a, **k: queued.append(a))
    account = AccountFactory()
    contacts = [ContactFactory() for _ in range(30)]
    with django_capture_on_commit_callbacks(execute=True):
        contact_services.contacts_assign_account(contact_ids=[c.pk for c in contacts], account=account)
    assert queued == [("segments.tasks.drain_rechecks",)]


@pytest.mark.usefixtures("no_drift")
def test_contacts_joining_and_leaving_an_account_follow_it(sync_worker, django_capture_on_commit_callbacks):
    group = ContactGroupFactory()
    acme = AccountFactory()
    group_add_accounts(group=group, accounts=type(acme).objects.filter(pk=acme.pk))
    newcomer = ContactFactory()
    with django_capture_on_commit_callbacks(execute=True):
        contact_services.contacts_assign_account(contact_ids=[newcomer.pk], account=acme)
    assert sources(group, newcomer) == (False, True, False)
    with django_capture_on_commit_callbacks(execute=True):
        contact_services.contacts_assign_account(contact_ids=[newcomer.pk], account=None)
    assert sources(group, newcomer) is None
    group.refresh_from_db()
    assert group.member_count == 0


@pytest.mark.usefixtures("no_drift")
def test_merge_moves_manual_memberships_to_the_parent(sync_worker, django_capture_on_commit_callbacks):
    group = ContactGroupFactory()
    parent, child = ContactFactory(), ContactFactory()
    MembershipFactory(group=group, contact=child)
    with django_capture_on_commit_callbacks(execute=True):
        contact_services.contact_merge(parent=parent, child=child)
    assert sources(group, child) is None
    assert sources(group, parent) == (True, False, False)
    group.refresh_from_db()
    assert group.member_count == 1


@pytest.mark.usefixtures("no_drift")
def test_dependent_groups_follow_in_the_same_recheck(sync_worker, django_capture_on_commit_callbacks):
    ContactGroupFactory(code="czechs", is_condition_based=True, condition=CZ)
    vip = ContactGroupFactory(
        code="czech_vips",
        is_condition_based=True,
        condition=tree(
            {
                "type": "group",
                "combinator": "and",
                "children": [
                    {"type": "membership", "group": "czechs", "operator": "is_member"},
                    {"type": "field", "field": "lead_score", "operator": "gte", "value": 50},
                ],
            }
        ),
    )
    with django_capture_on_commit_callbacks(execute=True):
        contact = contact_services.contact_create(email="petr@example.com", country="CZ", lead_score=80)
    assert sources(vip, contact) == (False, False, True)
    with django_capture_on_commit_callbacks(execute=True):
        contact_services.contact_update(contact=contact, country="AT")
    assert sources(vip, contact) is None


@pytest.mark.usefixtures("no_drift")
def test_a_change_to_very_many_contacts_rebuilds_the_affected_groups(
    sync_worker, django_capture_on_commit_callbacks, monkeypatch
):
    monkeypatch.setattr(recheck, "BULK_REBUILD_THRESHOLD", 3)
    czechs = ContactGroupFactory(code="czechs", is_condition_based=True, condition=CZ)
    pricing = ContactGroupFactory(code="pricing", is_condition_based=True, condition=PRICING)
    key = ContactGroupFactory(code="key")
    acme = AccountFactory()
    group_add_accounts(group=key, accounts=type(acme).objects.filter(pk=acme.pk))
    contacts = ContactFactory.create_batch(5, country="CZ")
    with django_capture_on_commit_callbacks(execute=True):
        contact_services.contacts_assign_account(contact_ids=[c.pk for c in contacts], account=acme)
    assert not PendingRecheck.objects.exists()
    assert Membership.objects.filter(group=key, via_account=True).count() == 5
    czechs.refresh_from_db()
    pricing.refresh_from_db()
    assert czechs.rebuild_status == "never"  # an account move cannot change a country rule
    with django_capture_on_commit_callbacks(execute=True):
        recheck.rechecks_enqueue(contact_ids=[c.pk for c in contacts], reason="updated")
    czechs.refresh_from_db()
    pricing.refresh_from_db()
    assert (czechs.rebuild_status, czechs.member_count) == ("succeeded", 5)
    assert pricing.rebuild_status == "never"  # field edits cannot change an activity rule


# ---------------------------------------------------------------------------------------------
# One query per dependency level, whatever the number of groups; the same members as a rebuild.


def varied_trees(n):
    """`n` condition trees of every node kind; the last ones read the membership of the first."""
    simple = [
        {"type": "field", "field": "country", "operator": "equals", "value": "CZ"},
        {"type": "field", "field": "lead_score", "operator": "gte", "value": 30},
        {"type": "field", "field": "custom.plan", "operator": "in", "value": ["pro", "enterprise"]},
        {"type": "field", "field": "account.country", "operator": "equals", "value": "DE"},
        {"type": "activity", "activity": "page_visit", "count": {"operator": "gte", "value": 2}},
        {"type": "activity", "activity": "any", "count": {"operator": "eq", "value": 0}, "window": {"last_days": 30}},
        {"type": "activity", "activity": "any", "window": {"last_days": 3}},
        {"type": "consent", "consent": "newsletter", "operator": "agreed"},
        {"type": "consent", "consent": "newsletter", "operator": "not_agreed", "negate": True},
    ]
    trees = []
    for i in range(n):
        one, two = simple[i % len(simple)], simple[(i * 5 + 2) % len(simple)]
        pair = {"type": "group", "combinator": "or" if i % 2 else "and", "children": [one, two]}
        trees.append(tree(pair if i % 3 == 2 else one))
    return trees


def make_groups(n, *, dependants=0):
    groups = [
        ContactGroupFactory(code=f"g{i:02d}", is_condition_based=True, condition=t)
        for i, t in enumerate(varied_trees(n))
    ]
    for j in range(dependants):  # a chain: each reads the one before it
        member_of = groups[-1].code
        groups.append(
            ContactGroupFactory(
                code=f"d{j:02d}",
                is_condition_based=True,
                condition=tree(
                    {
                        "type": "group",
                        "combinator": "and",
                        "children": [
                            {"type": "membership", "group": member_of, "operator": "is_member"},
                            {"type": "field", "field": "lead_score", "operator": "gte", "value": 10},
                        ],
                    }
                ),
            )
        )
    return groups


def varied_contacts():
    from tests.factories import ActivityFactory, ConsentFactory, ContactConsentFactory, ContactFieldFactory

    ContactFieldFactory(
        code="plan", type="choice", choices=[{"code": c, "label": c} for c in ("free", "pro", "enterprise")]
    )
    newsletter = ConsentFactory(code="newsletter")
    de = AccountFactory(country="DE")
    now = timezone.now()
    contacts = []
    for i in range(12):
        c = ContactFactory(
            country="CZ" if i % 2 else "AT",
            lead_score=i * 7,
            account=de if i % 3 == 0 else None,
            custom={"plan": ["free", "pro", "enterprise"][i % 3]} if i % 4 else {},
        )
        for k in range(i % 4):
            ActivityFactory(
                contact=c,
                type="page_visit" if k % 2 == 0 else "email_open",
                occurred_at=now - dt.timedelta(days=k * 2 + (i % 5)),
            )
        if i % 5 == 1:
            ContactConsentFactory(contact=c, consent=newsletter)
        contacts.append(c)
    contact_services.contacts_refresh_last_activity()  # the factories bypass the service that keeps it
    return contacts


@pytest.mark.usefixtures("no_drift")
def test_recheck_gives_every_group_the_members_a_rebuild_gives():
    contacts = varied_contacts()
    groups = make_groups(18, dependants=2)
    recheck.contacts_recheck(kinds_by_contact={c.pk: set(recheck.ALL_KINDS) for c in contacts})
    by_recheck = {
        g.code: set(g.memberships.filter(via_condition=True).values_list("contact_id", flat=True)) for g in groups
    }
    counts = {g.code: type(g).objects.get(pk=g.pk).member_count for g in groups}
    for g in groups:  # dependency order: the chain d00 → d01 is created last
        group_rebuild(group=g)
    for g in groups:
        rebuilt = set(g.memberships.filter(via_condition=True).values_list("contact_id", flat=True))
        assert by_recheck[g.code] == rebuilt, g.code
        assert counts[g.code] == len(rebuilt), g.code
    assert any(by_recheck.values()) and not all(len(v) == len(contacts) for v in by_recheck.values())


def test_recheck_statements_do_not_grow_with_the_number_of_groups(django_assert_max_num_queries):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    contacts = varied_contacts()
    kinds = {contacts[1].pk: set(recheck.ALL_KINDS)}
    make_groups(3, dependants=1)
    recheck.contacts_recheck(kinds_by_contact=kinds)  # writes the first memberships, parses the rules
    with CaptureQueriesContext(connection) as few:
        recheck.contacts_recheck(kinds_by_contact=kinds)
    make_groups(30, dependants=1)
    recheck.contacts_recheck(kinds_by_contact=kinds)
    with CaptureQueriesContext(connection) as many:
        recheck.contacts_recheck(kinds_by_contact=kinds)
    assert len(many) == len(few) <= 10, [q["sql"][:80] for q in many]


def test_a_changed_condition_is_parsed_again(monkeypatch):
    from segments.services import group_update

    monkeypatch.setattr("django_q.tasks.async_task", lambda *a, **k: None)
    contact = ContactFactory(country="CZ", lead_score=5)
    group = ContactGroupFactory(code="czechs", is_condition_based=True, condition=CZ)
    recheck.contacts_recheck(kinds_by_contact={contact.pk: {"contact"}})
    assert sources(group, contact) == (False, False, True)
    group_update(
        group=group,
        name=group.name,
        description="",
        is_condition_based=True,
        condition=tree({"type": "field", "field": "lead_score", "operator": "gte", "value": 50}),
        scheduled_rebuild=False,
    )
    recheck.contacts_recheck(kinds_by_contact={contact.pk: {"contact"}})
    assert sources(group, contact) is None


def catalog_version():
    from segments.models import RuleCatalogVersion

    return RuleCatalogVersion.objects.get(pk=recheck.CATALOG_ROW).version


def test_cached_rules_are_reused_until_a_custom_field_changes():
    from tests.factories import ContactFieldFactory

    field = ContactFieldFactory(code="tier", type="text")
    ContactGroupFactory(
        code="has_tier",
        is_condition_based=True,
        condition=tree({"type": "field", "field": "custom.tier", "operator": "is_not_empty"}),
    )
    first = recheck.condition_groups()
    assert [g.rule.root.condition.attribute.type for g in first] == ["text"]
    assert all(a is b for a, b in zip(first, recheck.condition_groups(), strict=True))  # served from the cache
    field.type = "number"  # parsing reads the field's type (it decides how values are compared)
    field.save()
    again = recheck.condition_groups()
    assert again[0] is not first[0]
    assert again[0].rule is not None and again[0].rule.root.condition.attribute.type == "number"


def test_every_change_to_groups_or_fields_gives_a_new_catalog_version(monkeypatch):
    from contacts.field_settings import field_retire
    from segments.rebuilds import group_rebuild
    from segments.services import group_add_contacts, group_delete
    from tests.factories import ContactFieldFactory

    monkeypatch.setattr("django_q.tasks.async_task", lambda *a, **k: None)
    seen = [catalog_version()]

    def changed() -> bool:
        seen.append(catalog_version())
        return seen[-1] not in seen[:-1]

    field = ContactFieldFactory(code="tier", type="text")
    assert changed()
    group = ContactGroupFactory(code="czechs", is_condition_based=True, condition=CZ)
    assert changed()
    contact = ContactFactory(country="CZ")
    group_rebuild(group=group)  # memberships, counts and rebuild fields are not what rules are parsed from
    group_add_contacts(group=group, contacts=type(contact).objects.filter(pk=contact.pk))
    assert not changed()
    field_retire(field=field)
    assert changed()
    group_delete(group=group)
    assert changed()


def test_the_group_list_is_read_only_when_the_catalog_version_changed(django_assert_num_queries):
    from django.db import transaction

    ContactGroupFactory(code="czechs", is_condition_based=True, condition=CZ)
    version = catalog_version()
    first = recheck.condition_groups(version=version)
    with django_assert_num_queries(0):
        assert recheck.condition_groups(version=version) is first
    with transaction.atomic():  # a change rolled back brings the old number back, with the old groups
        ContactGroupFactory(code="germans", is_condition_based=True, condition=CZ)
        inside = catalog_version()
        assert [g.code for g in recheck.condition_groups(version=inside)] == ["czechs", "germans"]
        transaction.set_rollback(True)
    assert catalog_version() == version
    assert [g.code for g in recheck.condition_groups(version=version)] == ["czechs"]
    ContactGroupFactory(code="poles", is_condition_based=True, condition=CZ)  # never the rolled-back number
    assert catalog_version() not in (version, inside)
    assert [g.code for g in recheck.condition_groups(version=catalog_version())] == ["czechs", "poles"]


def test_a_verdict_query_refuses_another_day():
    from segments.rules import parse
    from segments.rules.batch import VerdictQuery

    contact = ContactFactory(country="CZ")
    today = timezone.localdate()
    query = VerdictQuery.build([("czechs", parse(CZ))], today=today)
    assert query is not None
    assert query.run([contact.pk], now=timezone.now()) == [(contact.pk, (True,))]
    with pytest.raises(ValueError, match="built for"):
        query.run([contact.pk], now=timezone.now() + dt.timedelta(days=1))


def test_prepared_verdict_statements_serve_one_and_many_contacts_and_stay_bounded(monkeypatch):
    from django.db import connection

    from segments.rules import parse
    from segments.rules.batch import VerdictQuery

    if connection.vendor != "postgresql":
        pytest.skip("prepared statements are PostgreSQL's")
    monkeypatch.setattr("segments.rules.batch._STATEMENTS_KEPT", 3)
    czech, german = ContactFactory(country="CZ"), ContactFactory(country="DE")
    today, now = timezone.localdate(), timezone.now()
    for country in ("CZ", "DE", "SK"):
        rule = parse(tree({"type": "field", "field": "country", "operator": "equals", "value": country}))
        query = VerdictQuery.build([("here", rule)], today=today)
        assert query is not None and query.statement is not None
        expected = {czech.pk: (country == "CZ",), german.pk: (country == "DE",)}
        assert dict(query.run([czech.pk, german.pk], now=now)) == expected  # = ANY($n)
        assert dict(query.run([german.pk], now=now)) == {german.pk: expected[german.pk]}  # = $n
        assert dict(query.run([german.pk], now=now)) == {german.pk: expected[german.pk]}  # prepared already
    with connection.cursor() as cursor:
        cursor.execute("SELECT name FROM pg_prepared_statements WHERE name LIKE 'verdicts%%'")
        names = {row[0] for row in cursor.fetchall()}
    assert names == set(connection.connection._segments_verdict_statements)
    assert len(names) == 3  # six forms were prepared; the oldest three were deallocated


def test_a_failed_drain_leaves_its_contacts_pending_for_the_next(monkeypatch):
    from django.db import DatabaseError

    monkeypatch.setattr("django_q.tasks.async_task", lambda *a, **k: None)
    contact = ContactFactory(country="CZ")
    group = ContactGroupFactory(code="czechs", is_condition_based=True, condition=CZ)
    PendingRecheck.objects.all().delete()
    PendingRecheck.objects.create(contact_id=contact.pk, kind="contact")
    real = recheck.contacts_recheck

    def lost_connection(**_):
        raise DatabaseError("server closed the connection unexpectedly")

    monkeypatch.setattr(recheck, "contacts_recheck", lost_connection)
    with pytest.raises(DatabaseError):
        recheck.rechecks_drain()
    assert PendingRecheck.objects.filter(contact_id=contact.pk).exists()
    monkeypatch.setattr(recheck, "contacts_recheck", real)
    assert recheck.rechecks_drain() == 1  # (a schedule runs this every 5 minutes)
    assert sources(group, contact) == (False, False, True)
    assert not PendingRecheck.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_a_cached_verdict_query_runs_on_a_new_database_connection():
    """Cached SQL runs on a new connection: PostgreSQL prepares its statements again.

    (The SQLite test database lives in memory and close() keeps it open; the next test covers SQLite.)
    """
    from django.db import connection

    from segments.rules import parse
    from segments.rules.batch import VerdictQuery

    praguer = ContactFactory(city="Praha 6")
    rule = parse(tree({"type": "field", "field": "city", "operator": "contains", "value": "PRAHA"}))  # case-folded
    query = VerdictQuery.build([("prague", rule)], today=timezone.localdate())
    assert query is not None
    assert query.run([praguer.pk], now=timezone.now()) == [(praguer.pk, (True,))]
    connection.close()  # the next statement opens a new connection: no functions, no prepared statements
    assert query.run([praguer.pk], now=timezone.now()) == [(praguer.pk, (True,))]
    assert query.run([praguer.pk, praguer.pk + 1], now=timezone.now()) == [(praguer.pk, (True,))]


def test_every_new_sqlite_connection_has_the_rules_functions(tmp_path):
    """(The test database lives in memory and is never reopened, so a new connection is made here.)"""
    from django.db import connection
    from django.db.backends.sqlite3.base import DatabaseWrapper

    if connection.vendor != "sqlite":
        pytest.skip("SQLite's own functions")
    other = DatabaseWrapper({**connection.settings_dict, "NAME": str(tmp_path / "other.sqlite3")}, alias="other")
    try:
        with other.cursor() as cursor:  # nothing compiled on it yet
            cursor.execute("SELECT SEGMENTS_LOWER('ČERNÝ')")
            assert cursor.fetchone() == ("černý",)
    finally:
        other.close()
