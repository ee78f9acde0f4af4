"""Contact group pages: list, create/edit/delete, members and accounts tabs, rebuild button."""

import json

import pytest
from django.urls import reverse

from segments.models import ContactGroup, Membership, RebuildStatus
from tests.factories import AccountFactory, ContactFactory, ContactGroupFactory, MembershipFactory

pytestmark = pytest.mark.django_db

CZ_TREE = {"version": 1, "root": {"type": "field", "field": "country", "operator": "equals", "value": "CZ"}}


def test_list_shows_groups_with_kind_and_filters_by_kind(marketer_client):
    static = ContactGroupFactory(name="Trade fair leads")
    dynamic = ContactGroupFactory(name="Czech contacts", is_condition_based=True, condition=CZ_TREE)
    response = marketer_client.get(reverse("segments:group_list"))
    assert [g for g, _ in response.context["rows"]] == [dynamic, static]
    assert "Country is" in response.content.decode()
    response = marketer_client.get(reverse("segments:group_list"), {"kind": "static"})
    assert [g for g, _ in response.context["rows"]] == [static]


def test_create_static_group_and_land_on_members(marketer_client):
    response = marketer_client.post(
        reverse("segments:group_create"), {"name": "VIP", "code": "vip", "description": "Best customers"}
    )
    group = ContactGroup.objects.get(code="vip")
    assert response.status_code == 302 and response.url == reverse("segments:group_detail", args=[group.pk])
    assert not group.is_condition_based


def test_create_condition_group_queues_a_rebuild(marketer_client, django_capture_on_commit_callbacks, monkeypatch):
    queued = []
    monkeypatch.setattr("django_q.tasks.async_task", lambda *args, **kwargs: queued.append(args))
    with django_capture_on_commit_callbacks(execute=True):
        marketer_client.post(
            reverse("segments:group_create"),
            {"name": "Czechs", "code": "czechs", "is_condition_based": "on", "condition": json.dumps(CZ_TREE)},
        )
    group = ContactGroup.objects.get(code="czechs")
    assert group.condition == CZ_TREE and group.condition_version == 1
    assert queued == [("segments.tasks.rebuild_group", group.pk)]
    assert group.rebuild_status == RebuildStatus.QUEUED


@pytest.mark.parametrize(
    ("condition", "message"),
    [
        ("{not json", "not valid JSON"),
        (
            json.dumps(
                {"version": 1, "root": {"type": "field", "field": "lead_score", "operator": "gt", "value": "x"}}
            ),
            "root.value",
        ),
        ("", "needs a condition"),
    ],
)
def test_bad_condition_is_a_form_error_and_saves_nothing(marketer_client, condition, message):
    response = marketer_client.post(
        reverse("segments:group_create"),
        {"name": "Bad", "code": "bad", "is_condition_based": "on", "condition": condition},
    )
    assert response.status_code == 200
    assert message in str(response.context["form"].errors["condition"])
    assert not ContactGroup.objects.filter(code="bad").exists()


def test_duplicate_code_is_refused(marketer_client):
    ContactGroupFactory(code="vip")
    response = marketer_client.post(reverse("segments:group_create"), {"name": "VIP 2", "code": "vip"})
    assert "already exists" in str(response.context["form"].errors["code"])


def test_code_cannot_change_on_edit(marketer_client):
    group = ContactGroupFactory(code="vip", name="VIP")
    marketer_client.post(reverse("segments:group_update", args=[group.pk]), {"name": "Very important", "code": "other"})
    group.refresh_from_db()
    assert (group.code, group.name) == ("vip", "Very important")


def test_delete_is_refused_while_another_condition_uses_the_group(marketer_client):
    vip = ContactGroupFactory(code="vip", name="VIP")
    ContactGroupFactory(
        code="vip_cz",
        is_condition_based=True,
        condition={"version": 1, "root": {"type": "membership", "group": "vip", "operator": "is_member"}},
    )
    response = marketer_client.post(reverse("segments:group_delete", args=[vip.pk]), follow=True)
    assert ContactGroup.objects.filter(pk=vip.pk).exists()
    assert "cannot be deleted" in response.content.decode() or "is used by" in response.content.decode()
    plain = ContactGroupFactory(code="plain")
    marketer_client.post(reverse("segments:group_delete", args=[plain.pk]))
    assert not ContactGroup.objects.filter(pk=plain.pk).exists()


def test_members_tab_shows_sources_and_filters_by_source(marketer_client):
    group = ContactGroupFactory()
    by_hand = MembershipFactory(group=group, contact=ContactFactory(last_name="Adams"))
    by_rule = MembershipFactory(
        group=group, contact=ContactFactory(last_name="Brown"), via_manual=False, via_condition=True
    )
    response = marketer_client.get(reverse("segments:group_detail", args=[group.pk]))
    assert list(response.context["object_list"]) == [by_hand, by_rule]
    response = marketer_client.get(reverse("segments:group_detail", args=[group.pk]), {"source": "condition"})
    assert list(response.context["object_list"]) == [by_rule]
    response = marketer_client.get(reverse("segments:group_detail", args=[group.pk]), {"q": "adam"})
    assert list(response.context["object_list"]) == [by_hand]


def test_staff_adds_and_removes_members_and_condition_members_stay(staff_client):
    group = ContactGroupFactory()
    a, b = ContactFactory(), ContactFactory()
    staff_client.post(reverse("segments:group_members_add", args=[group.pk]), {"contacts": [a.pk, b.pk]})
    assert Membership.objects.filter(group=group, via_manual=True).count() == 2
    Membership.objects.filter(group=group, contact=b).update(via_condition=True)
    response = staff_client.post(
        reverse("segments:group_members_remove", args=[group.pk]), {"selected": [a.pk, b.pk]}, follow=True
    )
    assert list(Membership.objects.filter(group=group).values_list("contact_id", "via_manual")) == [(b.pk, False)]
    assert "stays in the group" in response.content.decode()


def test_add_all_contacts_matching_a_contact_list_filter(marketer_client):
    group = ContactGroupFactory()
    cz = [ContactFactory(country="CZ") for _ in range(3)]
    ContactFactory(country="DE")
    marketer_client.post(reverse("segments:group_members_add", args=[group.pk]), {"from_filter": "1", "country": "CZ"})
    assert set(Membership.objects.filter(group=group).values_list("contact_id", flat=True)) == {c.pk for c in cz}


def test_accounts_tab_adds_account_contacts(marketer_client):
    group = ContactGroupFactory()
    acme = AccountFactory()
    c = ContactFactory(account=acme)
    marketer_client.post(reverse("segments:group_accounts_add", args=[group.pk]), {"accounts": [acme.pk]})
    assert Membership.objects.get(group=group, contact=c).via_account
    marketer_client.post(reverse("segments:group_accounts_remove", args=[group.pk, acme.pk]))
    assert not Membership.objects.filter(group=group).exists()


def test_rebuild_button_queues_and_htmx_gets_the_polling_badge(marketer_client, monkeypatch):
    monkeypatch.setattr("django_q.tasks.async_task", lambda *args, **kwargs: None)
    group = ContactGroupFactory(is_condition_based=True, condition=CZ_TREE)
    response = marketer_client.post(reverse("segments:group_rebuild", args=[group.pk]), HTTP_HX_REQUEST="true")
    body = response.content.decode()
    assert "Queued" in body and 'hx-trigger="every 2s"' in body
    group.refresh_from_db()
    assert group.rebuild_status == RebuildStatus.QUEUED


def test_staff_cannot_edit_or_rebuild(staff_client):
    group = ContactGroupFactory(is_condition_based=True, condition=CZ_TREE)
    assert staff_client.get(reverse("segments:group_update", args=[group.pk])).status_code == 403
    assert staff_client.post(reverse("segments:group_rebuild", args=[group.pk])).status_code == 403
    assert staff_client.get(reverse("segments:group_detail", args=[group.pk])).status_code == 200


def test_why_page_shows_sources_and_the_condition_verdict_per_node(marketer_client):
    group = ContactGroupFactory(
        is_condition_based=True,
        condition={
            "version": 1,
            "root": {
                "type": "group",
                "combinator": "or",
                "children": [
                    {"type": "field", "field": "country", "operator": "equals", "value": "CZ"},
                    {"type": "field", "field": "lead_score", "operator": "gte", "value": 50},
                ],
            },
        },
    )
    contact = ContactFactory(country="CZ", lead_score=5)
    MembershipFactory(group=group, contact=contact, via_manual=True, via_condition=True)
    response = marketer_client.get(reverse("segments:group_member_why", args=[group.pk, contact.pk]))
    assert response.status_code == 200
    explanation = response.context["explanation"]
    assert explanation.matched is True
    assert [child.matched for child in explanation.root.children] == [True, False]
    body = response.content.decode()
    assert "Added by hand" in body and "It matches the condition" in body


def test_members_page_warns_when_relative_dates_drift_without_nightly_rebuild(marketer_client):
    relative = {
        "version": 1,
        "root": {
            "type": "activity",
            "activity": "any",
            "count": {"operator": "eq", "value": 0},
            "window": {"last_days": 365},
        },
    }
    group = ContactGroupFactory(is_condition_based=True, condition=relative, scheduled_rebuild=False)
    url = reverse("segments:group_detail", args=[group.pk])
    assert "nightly rebuild is off" in marketer_client.get(url).content.decode()
    group.scheduled_rebuild = True
    group.save()
    assert "nightly rebuild is off" not in marketer_client.get(url).content.decode()
    static_relative = ContactGroupFactory(is_condition_based=True, condition=CZ_TREE)
    assert (
        "nightly rebuild is off"
        not in marketer_client.get(reverse("segments:group_detail", args=[static_relative.pk])).content.decode()
    )


def test_contact_page_links_each_membership_to_its_explanation(marketer_client):
    group = ContactGroupFactory()
    contact = ContactFactory()
    MembershipFactory(group=group, contact=contact)
    body = marketer_client.get(contact.get_absolute_url()).content.decode()
    assert reverse("segments:group_member_why", args=[group.pk, contact.pk]) in body
