"""Re-checks on change, through a real django-q2 run in sync mode: contacts.services → signal on commit
→ PendingRecheck rows → drain task → account and condition sources brought up to date."""

import datetime as dt

import pytest
from django.utils import timezone
from django_q.conf import Conf

from contacts import services as contact_services
from segments import recheck
from segments.models import Membership, PendingRecheck
from segments.services import group_add_accounts, group_rebuild
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
    original = recheck._evaluate
    monkeypatch.setattr(
        recheck, "_evaluate", lambda *, group, **kw: evaluated.append(group.code) or original(group=group, **kw)
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


def test_a_burst_of_changes_leaves_one_pending_row_per_kind(django_capture_on_commit_callbacks, monkeypatch):
    monkeypatch.setattr("django_q.tasks.async_task", lambda *a, **k: None)  # the worker is busy elsewhere
    contact = ContactFactory()
    with django_capture_on_commit_callbacks(execute=True):
        for score in range(5):
            contact_services.contact_update(contact=contact, lead_score=score)
    assert PendingRecheck.objects.filter(contact_id=contact.pk).count() == len(recheck.KINDS_BY_REASON["updated"])
    assert recheck.rechecks_drain() == 1
    assert not PendingRecheck.objects.exists()


def test_bulk_writes_queue_one_batched_recheck(django_capture_on_commit_callbacks, monkeypatch):
    queued = []
    monkeypatch.setattr("django_q.tasks.async_task", lambda *a, **k: queued.append(a))
    account = AccountFactory()
    contacts = [ContactFactory() for _ in range(30)]
    with django_capture_on_commit_callbacks(execute=True):
        contact_services.contacts_assign_account(contact_ids=[c.pk for c in contacts], account=account)
    assert queued == [("segments.tasks.drain_rechecks",)]


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
