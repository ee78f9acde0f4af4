"""Membership sources: manual and account, written set-based by segments.services."""

import pytest

from contacts.models import Account, Contact
from segments.models import Membership
from segments.services import (
    group_add_accounts,
    group_add_contacts,
    group_remove_accounts,
    group_remove_contacts,
)
from tests.factories import AccountFactory, ContactFactory, ContactGroupFactory, MembershipFactory

pytestmark = pytest.mark.django_db


def flags(group, contact):
    m = Membership.objects.filter(group=group, contact=contact).first()
    return None if m is None else (m.via_manual, m.via_account, m.via_condition)


def test_add_contacts_by_hand_creates_manual_rows_and_skips_merged():
    group = ContactGroupFactory()
    a, b = ContactFactory(), ContactFactory()
    merged = ContactFactory(merged_into=a)
    change = group_add_contacts(group=group, contacts=Contact.objects.filter(pk__in=[a.pk, b.pk, merged.pk]))
    assert change.added == 2
    assert flags(group, a) == (True, False, False)
    assert flags(group, merged) is None
    group.refresh_from_db()
    assert group.member_count == 2


def test_adding_manual_to_condition_member_keeps_one_row_and_does_not_count_as_added():
    group = ContactGroupFactory()
    c = ContactFactory()
    MembershipFactory(group=group, contact=c, via_manual=False, via_condition=True)
    change = group_add_contacts(group=group, contacts=Contact.objects.filter(pk=c.pk))
    assert change.added == 0
    assert flags(group, c) == (True, False, True)


def test_remove_takes_away_only_the_manual_source():
    group = ContactGroupFactory()
    manual_only, manual_and_condition = ContactFactory(), ContactFactory()
    MembershipFactory(group=group, contact=manual_only)
    MembershipFactory(group=group, contact=manual_and_condition, via_condition=True)
    change = group_remove_contacts(group=group)
    assert change.removed == 1
    assert flags(group, manual_only) is None
    assert flags(group, manual_and_condition) == (False, False, True)
    group.refresh_from_db()
    assert group.member_count == 1


def test_adding_an_account_adds_its_contacts_and_removing_it_takes_them_out():
    group = ContactGroupFactory()
    acme, other = AccountFactory(), AccountFactory()
    c1, c2 = ContactFactory(account=acme), ContactFactory(account=acme)
    outsider = ContactFactory(account=other)
    MembershipFactory(group=group, contact=c2)  # also in by hand
    change = group_add_accounts(group=group, accounts=Account.objects.filter(pk=acme.pk))
    assert change.added == 1
    assert flags(group, c1) == (False, True, False)
    assert flags(group, c2) == (True, True, False)
    assert flags(group, outsider) is None

    change = group_remove_accounts(group=group, accounts=Account.objects.filter(pk=acme.pk))
    assert change.removed == 1
    assert flags(group, c1) is None
    assert flags(group, c2) == (True, False, False)
    assert not group.group_accounts.exists()


def test_adding_nothing_is_a_no_op():
    group = ContactGroupFactory()
    assert group_add_contacts(group=group, contacts=Contact.objects.filter(pk__in=[])).added == 0
    assert group_add_accounts(group=group, accounts=Account.objects.filter(pk__in=[])).added == 0
    assert not Membership.objects.exists()
