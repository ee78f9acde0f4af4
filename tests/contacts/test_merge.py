"""Merging contact B into A: what moves, what is filled in, what is refused — service and pages."""

import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone

from contacts import services
from contacts.models import Activity, Contact, ContactConsent
from tests.factories import (
    AccountFactory,
    ActivityFactory,
    ConsentFactory,
    ContactConsentFactory,
    ContactFactory,
)

pytestmark = pytest.mark.django_db
NOW = timezone.now()


def days_ago(n):
    return NOW - dt.timedelta(days=n)


def test_activities_move_and_last_activity_is_recomputed():
    a = ContactFactory()
    b = ContactFactory()
    ActivityFactory(contact=a, occurred_at=days_ago(10))
    newest = ActivityFactory(contact=b, occurred_at=days_ago(1))
    services.contacts_refresh_last_activity()
    services.contact_merge(parent=a, child=b)
    assert Activity.objects.filter(contact=a).count() == 2
    a.refresh_from_db()
    b.refresh_from_db()
    assert a.last_activity_at == newest.occurred_at
    assert b.merged_into == a


def test_consents_move_and_conflicts_keep_the_agreement_with_earliest_date():
    a, b = ContactFactory(), ContactFactory()
    only_b = ConsentFactory(code="only_b")
    both_agreed = ConsentFactory(code="both_agreed")
    a_revoked = ConsentFactory(code="a_revoked")
    b_revoked = ConsentFactory(code="b_revoked")
    both_revoked = ConsentFactory(code="both_revoked")
    ContactConsentFactory(contact=b, consent=only_b, agreed_at=days_ago(5))
    ContactConsentFactory(contact=a, consent=both_agreed, agreed_at=days_ago(3))
    ContactConsentFactory(contact=b, consent=both_agreed, agreed_at=days_ago(9))
    ContactConsentFactory(contact=a, consent=a_revoked, agreed_at=days_ago(20), revoked_at=days_ago(2))
    ContactConsentFactory(contact=b, consent=a_revoked, agreed_at=days_ago(4))
    ContactConsentFactory(contact=a, consent=b_revoked, agreed_at=days_ago(6))
    ContactConsentFactory(contact=b, consent=b_revoked, agreed_at=days_ago(30), revoked_at=days_ago(1))
    ContactConsentFactory(contact=a, consent=both_revoked, agreed_at=days_ago(8), revoked_at=days_ago(7))
    ContactConsentFactory(contact=b, consent=both_revoked, agreed_at=days_ago(12), revoked_at=days_ago(3))

    services.contact_merge(parent=a, child=b)

    assert not ContactConsent.objects.filter(contact=b).exists()
    got = {cc.consent.code: (cc.agreed_at, cc.revoked_at) for cc in ContactConsent.objects.filter(contact=a)}
    assert got == {
        "only_b": (days_ago(5), None),
        "both_agreed": (days_ago(9), None),
        "a_revoked": (days_ago(4), None),  # B's agreement wins over A's revocation
        "b_revoked": (days_ago(6), None),
        "both_revoked": (days_ago(12), days_ago(3)),
    }


def test_empty_fields_of_parent_are_filled_and_email_moves():
    account = AccountFactory()
    created_early = days_ago(100)
    a = ContactFactory(
        email=None,
        first_name="Ada",
        last_name="",
        phone="",
        job_title="CEO",
        account=None,
        lead_score=0,
        custom={"plan": "pro", "budget": 5},
    )
    b = ContactFactory(
        email="ada@example.com",
        first_name="Adeline",
        last_name="Lovelace",
        phone="+1 555",
        job_title="CTO",
        account=account,
        lead_score=30,
        created_at=created_early,
        custom={"plan": "basic", "nickname": "Countess", "legacy": "old value"},
    )
    services.contact_merge(parent=a, child=b)
    a.refresh_from_db()
    b.refresh_from_db()
    assert (a.email, a.first_name, a.last_name, a.phone, a.job_title) == (
        "ada@example.com",
        "Ada",
        "Lovelace",
        "+1 555",
        "CEO",
    )
    assert a.account == account and a.lead_score == 30 and a.created_at == created_early
    assert a.custom == {"plan": "pro", "budget": 5, "nickname": "Countess", "legacy": "old value"}
    assert b.email is None  # emails are unique: the address moved to the parent


def test_contacts_merged_into_child_now_point_at_parent():
    a, b = ContactFactory(), ContactFactory()
    grandchild = ContactFactory(merged_into=b)
    services.contact_merge(parent=a, child=b)
    grandchild.refresh_from_db()
    assert grandchild.merged_into == a


@pytest.mark.parametrize("case", ["itself", "into_own_merged", "child_already_merged", "parent_merged"])
def test_refused_merges(case):
    a, b, c = ContactFactory(), ContactFactory(), ContactFactory()
    if case == "itself":
        parent, child, message = a, a, "itself"
    elif case == "into_own_merged":
        b.merged_into = a
        b.save()
        parent, child, message = b, a, "already merged into"
    elif case == "child_already_merged":
        b.merged_into = c
        b.save()
        parent, child, message = a, b, "already been merged"
    else:
        a.merged_into = c
        a.save()
        parent, child, message = a, b, "merge into that contact instead"
    ActivityFactory(contact=child)
    with pytest.raises(services.MergeError, match=message):
        services.contact_merge(parent=parent, child=child)
    assert Activity.objects.get().contact == child


# --- pages ---------------------------------------------------------------------------------------


def test_merge_flow_pick_review_confirm(marketer_client):
    a = ContactFactory(first_name="Ada", email="ada@example.com")
    b = ContactFactory(first_name="Adeline", email="adeline@example.com", city="Paris")
    a.city = ""
    a.save()
    url = reverse("contacts:contact_merge", args=[a.pk])
    pick = marketer_client.get(url)
    assert pick.status_code == 200 and f"exclude={a.pk}" in pick.content.decode()
    review = marketer_client.get(url, {"other": b.pk})
    assert review.status_code == 200
    content = review.content.decode()
    assert "Adeline" in content and "Paris" in content and "filled in" in content
    assert Contact.objects.get(pk=b.pk).merged_into is None  # nothing changes before confirming
    done = marketer_client.post(url, {"other": b.pk})
    assert done.status_code == 302 and done.url == a.get_absolute_url()
    b.refresh_from_db()
    assert b.merged_into == a


def test_merge_picker_refuses_self_and_merged(marketer_client):
    a, b = ContactFactory(), ContactFactory()
    merged = ContactFactory(merged_into=b)
    url = reverse("contacts:contact_merge", args=[a.pk])
    for other in (a, merged):
        response = marketer_client.get(url, {"other": other.pk})
        assert response.status_code == 200
        assert response.context["form"].errors["other"]
    response = marketer_client.post(url, {"other": a.pk}, follow=True)
    assert "cannot be merged into itself" in response.content.decode()


def test_merged_contact_cannot_receive_a_merge(marketer_client):
    a, b = ContactFactory(), ContactFactory()
    a.merged_into = b
    a.save()
    response = marketer_client.get(reverse("contacts:contact_merge", args=[a.pk]))
    assert response.status_code == 302 and response.url == a.get_absolute_url()
