"""Bulk actions on selected contacts: delete, assign to account, "all matching", and the registry."""

import pytest
from django import forms
from django.urls import reverse

from contacts import bulk_actions
from contacts.models import Contact
from tests.factories import AccountFactory, ContactFactory

pytestmark = pytest.mark.django_db
BULK = reverse("contacts:contact_bulk")
LIST = reverse("contacts:contact_list")


def test_list_offers_the_actions_the_user_may_run(client, marketer, staff_user):
    ContactFactory()
    client.force_login(marketer)
    names = [a.name for a in client.get(LIST).context["bulk_actions"]]
    assert names == ["assign_account", "add_to_group", "delete"]
    client.force_login(staff_user)
    content = client.get(LIST).content.decode()
    assert 'value="assign_account"' in content and 'value="delete"' not in content


def test_bulk_delete_confirms_then_deletes_only_selected(marketer_client):
    keep = ContactFactory()
    doomed = ContactFactory.create_batch(3)
    merged = ContactFactory(merged_into=doomed[0])
    ids = [c.pk for c in doomed]
    confirm = marketer_client.post(BULK, {"action": "delete", "ids": ids, "next": f"{LIST}?sort=name"})
    assert confirm.status_code == 200 and "cannot be undone" in confirm.content.decode()
    assert Contact.objects.count() == 5
    done = marketer_client.post(BULK, {"action": "delete", "ids": ids, "confirm": "1", "next": f"{LIST}?sort=name"})
    assert done.status_code == 302 and done.url == f"{LIST}?sort=name"
    assert set(Contact.objects.values_list("pk", flat=True)) == {keep.pk}
    assert not Contact.objects.filter(pk=merged.pk).exists()


def test_bulk_assign_account_needs_an_account(marketer_client):
    contacts = ContactFactory.create_batch(2)
    other = ContactFactory()
    account = AccountFactory()
    ids = [c.pk for c in contacts]
    missing = marketer_client.post(BULK, {"action": "assign_account", "ids": ids, "confirm": "1"})
    assert missing.status_code == 200 and missing.context["form"].errors["account"]
    assert not Contact.objects.filter(account__isnull=False).exists()
    done = marketer_client.post(BULK, {"action": "assign_account", "ids": ids, "confirm": "1", "account": account.pk})
    assert done.status_code == 302
    assert set(Contact.objects.filter(account=account).values_list("pk", flat=True)) == set(ids)
    other.refresh_from_db()
    assert other.account is None


def test_all_matching_uses_the_lists_filters(marketer_client):
    germans = ContactFactory.create_batch(3, country="DE")
    ContactFactory(country="CZ")
    response = marketer_client.post(
        BULK, {"action": "delete", "all_matching": "1", "filters": "country=DE&sort=name", "confirm": "1"}
    )
    assert response.status_code == 302
    assert not Contact.objects.filter(pk__in=[c.pk for c in germans]).exists()
    assert Contact.objects.count() == 1


def test_nothing_selected_and_unknown_action(marketer_client):
    response = marketer_client.post(BULK, {"action": "delete", "next": LIST}, follow=True)
    assert "Select at least one contact first." in response.content.decode()
    assert marketer_client.post(BULK, {"action": "explode", "ids": [1]}).status_code == 400
    assert marketer_client.post(BULK, {"action": "delete", "ids": ["x"], "next": "https://evil.example/"}).url == LIST


def test_action_without_permission_is_refused(staff_client):
    contact = ContactFactory()
    response = staff_client.post(BULK, {"action": "delete", "ids": [contact.pk], "confirm": "1"})
    assert response.status_code == 302
    assert Contact.objects.filter(pk=contact.pk).exists()


def test_other_apps_can_register_an_action(marketer_client, monkeypatch):
    monkeypatch.setattr(bulk_actions, "BULK_ACTIONS", list(bulk_actions.BULK_ACTIONS))
    calls = []

    class TagForm(forms.Form):
        tag = forms.CharField()

    def run(*, contact_ids, data, user):
        calls.append((contact_ids, data["tag"], user.username))
        return "Tagged."

    bulk_actions.register_bulk_action(
        bulk_actions.BulkAction(
            name="tag", label="Tag", icon="tag", permissions=("contacts.view_contact",), run=run, form_class=TagForm
        )
    )
    contact = ContactFactory()
    assert 'value="tag"' in marketer_client.get(LIST).content.decode()
    marketer_client.post(BULK, {"action": "tag", "ids": [contact.pk], "confirm": "1", "tag": "hot"})
    assert calls == [([contact.pk], "hot", "marketer_user")]
