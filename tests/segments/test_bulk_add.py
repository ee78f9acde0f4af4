import pytest
from django.urls import reverse

from segments.models import Membership
from tests.factories import ContactFactory, ContactGroupFactory, MembershipFactory

pytestmark = pytest.mark.django_db
BULK = reverse("contacts:contact_bulk")


def test_staff_adds_selected_contacts_to_a_group_from_the_contact_list(staff_client):
    group = ContactGroupFactory(name="Fair leads")
    a, b, already, by_hand = ContactFactory(), ContactFactory(), ContactFactory(), ContactFactory()
    MembershipFactory(group=group, contact=already, via_manual=False, via_condition=True)
    MembershipFactory(group=group, contact=by_hand, via_manual=True)
    ids = [a.pk, b.pk, already.pk, by_hand.pk]
    confirm = staff_client.post(BULK, {"action": "add_to_group", "ids": ids})
    assert confirm.status_code == 200 and "Contact group" in confirm.content.decode()
    done = staff_client.post(
        BULK, {"action": "add_to_group", "ids": ids, "confirm": "1", "group": group.pk}, follow=True
    )
    body = done.content.decode()
    assert "2 contacts added to “Fair leads”" in body
    assert "1 contact was already in through the condition or an account and now also by hand" in body
    assert "1 contact was already added by hand" in body
    assert set(Membership.objects.filter(group=group, via_manual=True).values_list("contact_id", flat=True)) == set(ids)
    group.refresh_from_db()
    assert group.member_count == 4


def test_all_matching_contacts_can_be_added(marketer_client):
    group = ContactGroupFactory()
    czechs = ContactFactory.create_batch(3, country="CZ")
    ContactFactory(country="DE")
    marketer_client.post(
        BULK,
        {"action": "add_to_group", "all_matching": "1", "filters": "country=CZ", "confirm": "1", "group": group.pk},
    )
    assert set(Membership.objects.filter(group=group).values_list("contact_id", flat=True)) == {c.pk for c in czechs}


def test_a_missing_group_is_a_form_error_and_adds_nothing(marketer_client):
    c = ContactFactory()
    response = marketer_client.post(BULK, {"action": "add_to_group", "ids": [c.pk], "confirm": "1", "group": "999999"})
    assert response.status_code == 200 and response.context["form"].errors["group"]
    assert not Membership.objects.exists()
