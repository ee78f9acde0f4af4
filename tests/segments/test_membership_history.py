"""Membership history: every change of a source writes one event, with its cause, in the same statements."""

import datetime as dt
import random

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from django_q.conf import Conf

from contacts import services as contact_services
from contacts.models import Account, Contact
from segments import memberships, rebuilds, services
from segments.memberships import Integrity, events_prune, memberships_integrity
from segments.models import Cause, ContactGroup, EventKind, Membership, MembershipEvent, Source
from segments.rechecks import rechecks_drain
from tests.factories import AccountFactory, ContactFactory, ContactGroupFactory, UserFactory

pytestmark = pytest.mark.django_db

CZ = {"version": 1, "root": {"type": "field", "field": "country", "operator": "equals", "value": "CZ"}}


def events(group=None, **filters):
    """(contact id, kind, source, cause) of the events, oldest first."""
    qs = MembershipEvent.objects.order_by("id")
    if group is not None:
        qs = qs.filter(group=group)
    return [(e.contact_id, e.kind, e.source, e.cause) for e in qs.filter(**filters)]


def replay(group):
    """The sources each contact holds in `group`, folded from the group's history alone."""
    held: dict[int, set[int]] = {}
    for contact_id, kind, source, _cause in events(group):
        now = held.setdefault(contact_id, set())
        if kind in (EventKind.ENTERED, EventKind.SOURCE_ADDED):
            assert source not in now, f"{contact_id} gained {source} twice"
            assert (kind == EventKind.ENTERED) == (not now), "ENTERED iff it was not a member"
            now.add(source)
        else:
            assert source in now or kind == EventKind.LEFT, f"{contact_id} lost {source} it did not hold"
            if kind == EventKind.LEFT:
                now.clear()  # a membership ends with all its sources (a merge ends several at once)
            else:
                now.discard(source)
                assert now, "SOURCE_REMOVED must leave another source"
    return {cid: sources for cid, sources in held.items() if sources}


def stored(group):
    flags = {Source.MANUAL: "via_manual", Source.ACCOUNT: "via_account", Source.CONDITION: "via_condition"}
    return {
        m.contact_id: {source for source, field in flags.items() if getattr(m, field)}
        for m in Membership.objects.filter(group=group)
    }


def test_manual_add_and_remove_record_who_and_why():
    user = UserFactory()
    group = ContactGroupFactory()
    a, b = ContactFactory(), ContactFactory()
    Membership.objects.create(group=group, contact=b, via_condition=True)  # (a fixture row: no event)
    services.group_add_contacts(group=group, contacts=Contact.objects.filter(pk__in=[a.pk, b.pk]), actor_id=user.pk)
    assert sorted(events(group)) == sorted(
        [
            (a.pk, EventKind.ENTERED, Source.MANUAL, Cause.MANUAL),
            (b.pk, EventKind.SOURCE_ADDED, Source.MANUAL, Cause.MANUAL),
        ]
    )
    assert set(MembershipEvent.objects.values_list("actor_id", flat=True)) == {user.pk}
    MembershipEvent.objects.all().delete()
    services.group_remove_contacts(group=group, actor_id=user.pk)
    assert sorted(events(group)) == sorted(
        [
            (a.pk, EventKind.LEFT, Source.MANUAL, Cause.MANUAL),
            (b.pk, EventKind.SOURCE_REMOVED, Source.MANUAL, Cause.MANUAL),
        ]
    )


@pytest.mark.usefixtures("no_drift")
def test_accounts_record_the_account_cause():
    group = ContactGroupFactory()
    acme = AccountFactory()
    c1, c2 = ContactFactory(account=acme), ContactFactory(account=acme)
    services.group_add_contacts(group=group, contacts=Contact.objects.filter(pk=c2.pk))
    services.group_add_accounts(group=group, accounts=Account.objects.filter(pk=acme.pk))
    services.group_remove_accounts(group=group, accounts=Account.objects.filter(pk=acme.pk))
    recorded = events(group, cause=Cause.ACCOUNT)
    assert sorted(recorded[:2]) == [
        (c1.pk, EventKind.ENTERED, Source.ACCOUNT, Cause.ACCOUNT),
        (c2.pk, EventKind.SOURCE_ADDED, Source.ACCOUNT, Cause.ACCOUNT),
    ]
    assert sorted(recorded[2:]) == [
        (c1.pk, EventKind.LEFT, Source.ACCOUNT, Cause.ACCOUNT),
        (c2.pk, EventKind.SOURCE_REMOVED, Source.ACCOUNT, Cause.ACCOUNT),
    ]


@pytest.mark.usefixtures("no_drift")
def test_rebuild_records_joins_and_leaves_and_nothing_when_nothing_changed():
    group = ContactGroupFactory(is_condition_based=True, condition=CZ)
    czech, german = ContactFactory(country="CZ"), ContactFactory(country="DE")
    rebuilds.group_rebuild(group=group)
    assert events(group) == [(czech.pk, EventKind.ENTERED, Source.CONDITION, Cause.REBUILD)]
    rebuilds.group_rebuild(group=group)
    assert len(events(group)) == 1
    Contact.objects.filter(pk=czech.pk).update(country="DE")
    Contact.objects.filter(pk=german.pk).update(country="CZ")
    rebuilds.group_rebuild(group=group)
    assert events(group)[1:] == [
        (czech.pk, EventKind.LEFT, Source.CONDITION, Cause.REBUILD),
        (german.pk, EventKind.ENTERED, Source.CONDITION, Cause.REBUILD),
    ]


def test_rebuild_writes_history_set_based_whatever_the_number_of_contacts():
    def statements(n):
        group = ContactGroupFactory(is_condition_based=True, condition=CZ)
        Contact.objects.bulk_create([Contact(country="CZ") for _ in range(n)])
        with CaptureQueriesContext(connection) as queries:
            rebuilds.group_rebuild(group=group)
        assert MembershipEvent.objects.filter(group=group).count() == Contact.objects.filter(country="CZ").count()
        return len(queries)

    assert statements(3) == statements(60)


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("no_drift")
def test_recheck_records_the_recheck_cause(monkeypatch):
    monkeypatch.setattr(Conf, "SYNC", True)  # the woken drain runs in-process on commit
    group = ContactGroupFactory(code="czechs", is_condition_based=True, condition=CZ)
    contact = contact_services.contact_create(email="jana@example.com", country="CZ")
    contact_services.contact_update(contact=contact, country="SK")
    assert events(group) == [
        (contact.pk, EventKind.ENTERED, Source.CONDITION, Cause.RECHECK),
        (contact.pk, EventKind.LEFT, Source.CONDITION, Cause.RECHECK),
    ]


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("no_drift")
def test_merge_moves_manual_membership_and_records_the_merge(monkeypatch):
    monkeypatch.setattr(Conf, "SYNC", True)
    by_hand, both_in = ContactGroupFactory(code="vip"), ContactGroupFactory(code="club")
    parent, child = ContactFactory(email="p@example.com"), ContactFactory(email="c@example.com")
    services.group_add_contacts(group=by_hand, contacts=Contact.objects.filter(pk=child.pk))
    services.group_add_contacts(group=both_in, contacts=Contact.objects.filter(pk__in=[parent.pk, child.pk]))
    MembershipEvent.objects.all().delete()
    contact_services.contact_merge(parent=parent, child=child)
    assert sorted(events(cause=Cause.MERGE)) == sorted(
        [
            (parent.pk, EventKind.ENTERED, Source.MANUAL, Cause.MERGE),
            (child.pk, EventKind.LEFT, Source.MANUAL, Cause.MERGE),
            (child.pk, EventKind.LEFT, Source.MANUAL, Cause.MERGE),
        ]
    )
    assert set(Membership.objects.values_list("group_id", "contact_id")) == {
        (by_hand.pk, parent.pk),
        (both_in.pk, parent.pk),
    }
    for group in (by_hand, both_in):
        group.refresh_from_db()
        assert group.member_count == 1


def test_copy_records_the_copy_cause_with_each_source():
    group = ContactGroupFactory()
    a, b = ContactFactory(), ContactFactory()
    Membership.objects.create(group=group, contact=a, via_manual=True)
    Membership.objects.create(group=group, contact=b, via_condition=True)
    live = services.group_copy(group=group, code="live", name="Live copy", freeze=False)
    frozen = services.group_copy(group=group, code="frozen", name="Frozen copy", freeze=True)
    assert sorted(events(live)) == [
        (a.pk, EventKind.ENTERED, Source.MANUAL, Cause.COPY),
        (b.pk, EventKind.ENTERED, Source.CONDITION, Cause.COPY),
    ]
    assert sorted(events(frozen)) == [
        (a.pk, EventKind.ENTERED, Source.MANUAL, Cause.COPY),
        (b.pk, EventKind.ENTERED, Source.MANUAL, Cause.COPY),
    ]


def test_history_replays_to_the_stored_memberships_after_random_changes():
    """Folding a group's events alone gives back exactly its members and their sources."""
    rng = random.Random(11)
    accounts = AccountFactory.create_batch(3)
    contacts = [
        ContactFactory(country=rng.choice(["CZ", "DE"]), account=rng.choice([*accounts, None])) for _ in range(30)
    ]
    group = ContactGroupFactory(is_condition_based=True, condition=CZ)
    for _step in range(25):
        picked = Contact.objects.filter(pk__in=[c.pk for c in rng.sample(contacts, 6)])
        action = rng.choice(["add", "remove", "add_account", "remove_account", "move", "rebuild"])
        if action == "add":
            services.group_add_contacts(group=group, contacts=picked)
        elif action == "remove":
            services.group_remove_contacts(group=group, contacts=picked)
        elif action == "add_account":
            services.group_add_accounts(group=group, accounts=Account.objects.filter(pk=rng.choice(accounts).pk))
        elif action == "remove_account":
            services.group_remove_accounts(group=group, accounts=Account.objects.filter(pk=rng.choice(accounts).pk))
        elif action == "move":
            picked.update(country=rng.choice(["CZ", "DE"]))
        else:
            rebuilds.group_rebuild(group=group)
        assert replay(group) == stored(group), f"after step {_step}: {action}"
    group.refresh_from_db()
    assert group.member_count == len(stored(group))


def test_prune_deletes_only_old_history():
    group = ContactGroupFactory()
    contact = ContactFactory()
    services.group_add_contacts(group=group, contacts=Contact.objects.filter(pk=contact.pk))
    services.group_remove_contacts(group=group)
    old, recent = MembershipEvent.objects.order_by("id")
    MembershipEvent.objects.filter(pk=old.pk).update(at=timezone.now() - dt.timedelta(days=401))
    assert events_prune(older_than_days=400) == 1
    assert list(MembershipEvent.objects.values_list("pk", flat=True)) == [recent.pk]


@pytest.mark.usefixtures("no_drift")
def test_deleting_a_contact_or_group_deletes_its_memberships_and_history():
    group, other = ContactGroupFactory(), ContactGroupFactory()
    a, b = ContactFactory(), ContactFactory()
    for g in (group, other):
        services.group_add_contacts(group=g, contacts=Contact.objects.filter(pk__in=[a.pk, b.pk]))
    contact_services.contact_delete(contact=a)
    rechecks_drain()  # (the woken worker) recounts the groups the contact was in
    assert not Membership.objects.filter(contact_id=a.pk).exists()
    assert not MembershipEvent.objects.filter(contact_id=a.pk).exists()
    services.group_delete(group=group)
    assert not Membership.objects.filter(group_id=group.pk).exists()
    assert not MembershipEvent.objects.filter(group_id=group.pk).exists()
    assert memberships_integrity() == Integrity(orphans=0, merged_members=0, wrong_counts=0)


def test_integrity_finds_and_repairs_what_the_dropped_foreign_keys_used_to_stop():
    group = ContactGroupFactory()
    kept, gone, merged, parent = ContactFactory(), ContactFactory(), ContactFactory(), ContactFactory()
    services.group_add_contacts(group=group, contacts=Contact.objects.filter(pk__in=[kept.pk, gone.pk, merged.pk]))
    # What a race could leave: a row of a contact deleted meanwhile, a merged member, a stale count.
    Contact.objects.filter(pk=gone.pk)._raw_delete(connection.alias)
    Contact.objects.filter(pk=merged.pk).update(merged_into=parent)
    ContactGroup.objects.filter(pk=group.pk).update(member_count=99)
    found = memberships_integrity(repair=True)
    assert found.orphans >= 1 and found.merged_members == 1 and found.wrong_counts == 1
    assert memberships_integrity().orphans == 0 and memberships_integrity().merged_members == 0
    assert set(Membership.objects.values_list("contact_id", flat=True)) == {kept.pk, parent.pk}
    group.refresh_from_db()
    assert group.member_count == 2


@pytest.mark.parametrize("role_client", ["marketer_client", "staff_client", "admin_client_role"])
def test_contact_page_shows_the_group_timeline_to_every_role(role_client, request, marketer):
    client = request.getfixturevalue(role_client)
    hot = ContactGroupFactory(name="Hot CZ prospects", is_condition_based=True, condition=CZ)
    vip = ContactGroupFactory(name="VIP")
    contact = ContactFactory(country="CZ")
    rebuilds.group_rebuild(group=hot)
    services.group_add_contacts(group=vip, contacts=Contact.objects.filter(pk=contact.pk))
    services.group_remove_contacts(group=vip, actor_id=marketer.pk)
    response = client.get(contact.get_absolute_url())
    assert response.status_code == 200
    timeline = [(e.group.name, e.summary) for e in response.context["group_history"]]
    assert timeline == [
        ("VIP", "left: removed by hand"),
        ("VIP", "joined by hand"),
        ("Hot CZ prospects", "joined by the condition"),
    ]
    html = response.content.decode()
    assert "Group history" in html and f"by {marketer.get_username()}" in html


def test_rebuild_groups_check_reports_drift_and_passes_once_rebuilt():
    from io import StringIO

    from django.core.management import CommandError, call_command

    group = ContactGroupFactory(code="czechs", is_condition_based=True, condition=CZ)
    czech = ContactFactory(country="CZ")
    rebuilds.group_rebuild(group=group)
    Contact.objects.filter(pk=czech.pk).update(country="DE")  # behind the services' back: nobody re-checks
    ContactFactory(country="CZ")
    out = StringIO()
    with pytest.raises(CommandError, match="1 group"):
        call_command("rebuild_groups", "--all", "--check", stdout=out)
    assert "czechs" in out.getvalue() and "DRIFT" in out.getvalue()
    rebuilds.group_rebuild(group=group)
    out = StringIO()
    call_command("rebuild_groups", "--all", "--check", stdout=out)
    assert "No drift" in out.getvalue()


def test_pages_record_the_signed_in_user_on_every_change_they_make(staff_client, staff_user):
    from django.urls import reverse

    group = ContactGroupFactory()
    acme = AccountFactory()
    a, b = ContactFactory(), ContactFactory(account=acme)
    staff_client.post(reverse("segments:group_members_add", args=[group.pk]), {"contacts": [a.pk]})
    staff_client.post(reverse("segments:group_members_remove", args=[group.pk]), {"selected": [a.pk]})
    staff_client.post(reverse("segments:group_accounts_add", args=[group.pk]), {"accounts": [acme.pk]})
    staff_client.post(reverse("segments:group_accounts_remove", args=[group.pk, acme.pk]))
    recorded = list(MembershipEvent.objects.order_by("id").values_list("contact_id", "kind", "cause", "actor_id"))
    assert recorded == [
        (a.pk, EventKind.ENTERED, Cause.MANUAL, staff_user.pk),
        (a.pk, EventKind.LEFT, Cause.MANUAL, staff_user.pk),
        (b.pk, EventKind.ENTERED, Cause.ACCOUNT, staff_user.pk),
        (b.pk, EventKind.LEFT, Cause.ACCOUNT, staff_user.pk),
    ]


def test_bulk_add_to_group_records_the_user(marketer_client, marketer):
    from django.urls import reverse

    group = ContactGroupFactory()
    contacts = ContactFactory.create_batch(2)
    marketer_client.post(
        reverse("contacts:contact_bulk"),
        {"action": "add_to_group", "ids": [c.pk for c in contacts], "group": group.pk, "confirm": "1"},
    )
    assert sorted(MembershipEvent.objects.values_list("contact_id", "actor_id")) == sorted(
        (c.pk, marketer.pk) for c in contacts
    )


def test_contact_page_refreshes_its_groups_while_a_recheck_is_pending(marketer_client):
    from segments.models import PendingRecheck

    contact = ContactFactory()
    page = marketer_client.get(contact.get_absolute_url()).content.decode()
    assert "data-groups-pending" not in page and 'hx-select="#contact-groups"' not in page
    PendingRecheck.objects.create(contact_id=contact.pk, kind="contact")
    page = marketer_client.get(contact.get_absolute_url()).content.decode()
    assert "updating after the latest change" in page and 'hx-select="#contact-groups"' in page


def test_one_membership_row_per_group_and_contact_on_both_databases():
    from django.db import IntegrityError, transaction

    group, contact = ContactGroupFactory(), ContactFactory()
    Membership.objects.create(group=group, contact=contact, via_manual=True)
    with pytest.raises(IntegrityError), transaction.atomic():
        Membership.objects.create(group=group, contact=contact, via_condition=True)
    if connection.vendor == "postgresql":  # the unique index also carries the flags (rebuilds read it alone)
        with connection.cursor() as cursor:
            cursor.execute("SELECT indexdef FROM pg_indexes WHERE indexname = 'membership_group_contact_unique'")
            assert "INCLUDE (via_manual, via_account, via_condition)" in cursor.fetchone()[0]


def test_times_written_by_hand_written_statements_are_stored_as_the_orm_stores_them():
    """Every writer's `added_at` / `at` equals itself when the ORM compares it (on SQLite a raw aware datetime
    was stored as "…+00:00" text, which no ORM value ever equals)."""
    group, copy = ContactGroupFactory(), ContactGroupFactory()
    contacts = [ContactFactory() for _ in range(3)]
    services.group_add_contacts(group=group, contacts=Contact.objects.filter(pk__in=[c.pk for c in contacts]))
    services.group_remove_contacts(group=group, contacts=Contact.objects.filter(pk=contacts[0].pk))
    memberships.group_members_copy(source_group=group, target=copy, freeze=True, why=memberships.Why(Cause.COPY))
    assert MembershipEvent.objects.count() == 6  # 3 entered, 1 left, 2 entered the copy
    for event in MembershipEvent.objects.all():
        assert MembershipEvent.objects.filter(pk=event.pk, at=event.at).exists(), event
    for membership in Membership.objects.all():
        assert Membership.objects.filter(pk=membership.pk, added_at=membership.added_at).exists(), membership
