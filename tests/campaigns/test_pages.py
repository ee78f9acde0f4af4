"""Campaign pages per role: list, create (errors change nothing), live audience panel with overlap,
overview, variants, A/B split, preview as three contacts, test send."""

from __future__ import annotations

import pytest
from django.core import mail
from django.urls import reverse

from campaigns import services
from campaigns.models import Campaign, Channel
from contacts.roles import Role
from segments.models import Membership
from tests.conftest import make_user
from tests.factories import ConsentFactory, ContactFactory, ContactGroupFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def world():
    vip, cz, blocked = (ContactGroupFactory(code=c, name=c.upper()) for c in ("vip", "cz", "blocked"))
    people = {}
    for name, groups in {"ann": [vip], "bob": [vip, cz], "cyd": [cz], "dan": [cz, blocked], "eve": [vip]}.items():
        people[name] = ContactFactory(first_name=name.capitalize(), email=f"{name}@example.com", phone="")
        for g in groups:
            Membership.objects.create(group=g, contact=people[name], via_manual=True)
    return {"vip": vip, "cz": cz, "blocked": blocked, **people}


def form_data(world, **overrides):
    data = {
        "name": "Spring sale",
        "channel": "email",
        "include": [world["vip"].pk, world["cz"].pk],
        "exclude": [world["blocked"].pk],
        "required_consent": "",
        "sender": "Shop <shop@example.com>",
        "subject": 'Hi {{ first_name|default:"there" }}',
        "preheader": "",
        "body": "<p>Hello {{ first_name }}</p>",
    }
    return {**data, **overrides}


def test_marketer_creates_a_campaign_and_sees_its_audience(marketer_client, world):
    response = marketer_client.post(reverse("campaigns:campaign_create"), form_data(world))
    campaign = Campaign.objects.get()
    assert response.status_code == 302 and response.url == reverse("campaigns:campaign_detail", args=[campaign.pk])
    page = marketer_client.get(response.url)
    assert page.context["breakdown"].audience == 4  # ann, bob, cyd, eve (dan is excluded)
    assert {r.key: r.count for r in page.context["breakdown"].reasons}[f"group:{world['blocked'].pk}"] == 1
    assert [c.first_name for c, _ in page.context["sample"]] == ["Ann", "Bob", "Cyd", "Eve"]
    assert marketer_client.get(reverse("campaigns:campaign_list")).context["object_list"][0] == campaign


@pytest.mark.parametrize(
    "overrides, field, message",
    [
        ({"body": "{{ contact.delete }}"}, "body", "contact.delete"),
        ({"subject": "{% load static %}"}, "subject", "Template tags are not allowed: {% load static %}"),
        ({"include": []}, "include", "required"),
        ({"exclude": ["vip"]}, "exclude", "both included and excluded"),
        ({"sender": "not an address"}, "sender", "email address"),
        ({"channel": "sms", "sender": "way too long sender"}, "sender", "11 letters"),
    ],
)
def test_bad_input_is_a_form_error_and_changes_nothing(marketer_client, world, overrides, field, message):
    if overrides.get("exclude") == ["vip"]:
        overrides["exclude"] = [world["vip"].pk]
    response = marketer_client.post(reverse("campaigns:campaign_create"), form_data(world, **overrides))
    assert response.status_code == 200
    assert message in " ".join(response.context["form"].errors[field])
    assert not Campaign.objects.exists()


def test_live_audience_panel_counts_and_draws_the_overlap(marketer_client, world):
    consent = ConsentFactory(code="news")
    url = reverse("campaigns:audience_panel")
    params = {"channel": "email", "include": [world["vip"].pk, world["cz"].pk], "exclude": [world["blocked"].pk]}
    response = marketer_client.get(url, params)
    assert response.status_code == 200
    assert response.context["breakdown"].audience == 4
    assert [c.first_name for c in response.context["sample"]] == ["Ann", "Bob", "Cyd", "Eve"]
    overlap = response.context["overlap"]
    # vip = bit 1, cz = bit 2, blocked = bit 4: ann+eve only VIP, bob VIP&CZ, cyd only CZ, dan CZ&blocked
    assert {r.mask: r.count for r in overlap.regions} == {1: 2, 3: 1, 2: 1, 6: 1}
    assert "<svg" in response.content.decode() and "<circle" in response.content.decode()
    response = marketer_client.get(url, {**params, "required_consent": consent.pk})
    assert response.context["breakdown"].audience == 0
    assert marketer_client.get(url, {"include": ["x"]}).status_code == 400


def test_variants_split_and_preview_as_three_contacts(marketer_client, world):
    campaign = services.campaign_create(
        name="Spring",
        channel=Channel.EMAIL,
        include=[world["vip"], world["cz"]],
        exclude=[world["blocked"]],
        subject="Hi {{ first_name }}",
        body="<p>Default for {{ first_name }}</p>",
    )
    url = reverse("campaigns:campaign_variants", args=[campaign.pk])
    bad = marketer_client.post(url, {"group": world["cz"].pk, "priority": 1, "body": "{{ nope }}"})
    assert bad.status_code == 400 and "nope" in " ".join(bad.context["form"].errors["body"])
    ok = marketer_client.post(url, {"group": world["cz"].pk, "priority": 1, "subject": "Ahoj {{ first_name }}"})
    assert ok.status_code == 302
    variant = campaign.variants.get()
    split_url = reverse("campaigns:campaign_split", args=[campaign.pk])
    assert marketer_client.post(split_url, {"A_percent": 50, "B_percent": 40}).status_code == 400
    assert (
        marketer_client.post(
            split_url, {"A_percent": 50, "B_percent": 50, "B_subject": "B {{ first_name }}"}
        ).status_code
        == 302
    )
    assert [a.percent for a in campaign.arms.all()] == [50, 50]
    page = marketer_client.get(reverse("campaigns:campaign_preview", args=[campaign.pk]))
    previews = page.context["previews"]
    assert len(previews) == 3
    assert {p["variant"] for p in previews} == {variant, None}
    for p in previews:
        name = p["contact"].first_name
        expected = f"B {name}" if p["arm"].label == "B" else (f"Ahoj {name}" if p["variant"] else f"Hi {name}")
        assert p["message"].subject == expected
    send = reverse("campaigns:campaign_test_send", args=[campaign.pk])
    response = marketer_client.post(send, {"to": "me@example.com", "contact": previews[0]["contact"].pk})
    assert response.status_code == 302
    assert len(mail.outbox) == 1 and mail.outbox[0].to == ["me@example.com"]
    assert mail.outbox[0].subject == f"[Test] {previews[0]['message'].subject}"
    assert mail.outbox[0].alternatives[0][1] == "text/html"
    assert marketer_client.post(send, {"to": "nope"}).status_code == 400
    assert len(mail.outbox) == 1
    remove = reverse("campaigns:campaign_variant_delete", args=[campaign.pk])
    assert marketer_client.post(remove, {"variant": variant.pk}).status_code == 302
    assert not campaign.variants.exists()


@pytest.mark.parametrize(
    "role, can_view, can_change", [(Role.MARKETER, True, True), (Role.ADMIN, True, True), (Role.STAFF, False, False)]
)
def test_every_campaign_page_per_role(client, world, role, can_view, can_change):
    campaign = services.campaign_create(name="C", channel=Channel.EMAIL, include=[world["vip"]], body="<p>x</p>")
    client.force_login(make_user(role))
    views = ["campaign_detail", "campaign_variants", "campaign_split", "campaign_preview"]
    for name in views:
        assert client.get(reverse(f"campaigns:{name}", args=[campaign.pk])).status_code == (200 if can_view else 403)
    assert client.get(reverse("campaigns:campaign_list")).status_code == (200 if can_view else 403)
    for name in ("campaign_update", "campaign_delete"):
        assert client.get(reverse(f"campaigns:{name}", args=[campaign.pk])).status_code == (200 if can_change else 403)
    response = client.post(reverse("campaigns:campaign_delete", args=[campaign.pk]))
    assert Campaign.objects.filter(pk=campaign.pk).exists() != can_change
    assert response.status_code == (302 if can_change else 403)


def test_a_group_used_by_a_campaign_cannot_be_deleted(admin_client_role, world):
    services.campaign_create(name="Protects", channel=Channel.EMAIL, include=[world["vip"]])
    response = admin_client_role.get(reverse("segments:group_delete", args=[world["vip"].pk]))
    assert "campaign “Protects”" in response.content.decode()


def test_editing_changes_groups_and_channel(marketer_client, world):
    campaign = services.campaign_create(
        name="C", channel=Channel.EMAIL, include=[world["vip"]], subject="Hi", body="<p>x</p>"
    )
    services.variant_save(campaign=campaign, group=world["vip"], priority=1, subject="VIP")
    page = marketer_client.get(reverse("campaigns:campaign_update", args=[campaign.pk]))
    assert page.context["form"].initial["include"] == [world["vip"].pk]
    data = form_data(world, channel="sms", sender="Shop", include=[world["cz"].pk], exclude=[], body="Ahoj!")
    response = marketer_client.post(reverse("campaigns:campaign_update", args=[campaign.pk]), data)
    assert response.status_code == 302
    campaign.refresh_from_db()
    assert (campaign.channel, campaign.subject, campaign.body) == ("sms", "", "Ahoj!")
    assert [link.group for link in campaign.group_links.all()] == [world["cz"]]
    assert not campaign.variants.exists()  # its group is no longer included
    # nobody in CZ has a phone: all are left out for that reason
    detail = marketer_client.get(reverse("campaigns:campaign_detail", args=[campaign.pk]))
    assert {r.key: r.count for r in detail.context["breakdown"].reasons}["no_address"] == 3


def test_an_arm_nobody_landed_in_shows_zero_and_arms_outside_the_split_a_dash(marketer_client):
    """One contact, a 50/50 split: one arm holds them and the other shows 0, never a dash (a dash is for C, D)."""
    group = ContactGroupFactory(code="solo", name="Solo")
    Membership.objects.create(group=group, contact=ContactFactory(email="solo@example.com"), via_manual=True)
    campaign = services.campaign_create(
        name="Solo", channel=Channel.EMAIL, include=[group], exclude=[], subject="Hi", body="<p>Hi</p>"
    )
    url = reverse("campaigns:campaign_split", args=[campaign.pk])
    assert marketer_client.post(url, {"A_percent": 50, "B_percent": 50}).status_code == 302
    rows = marketer_client.get(url).context["rows"]
    assert sorted(row["count"] for row in rows[:2]) == [0, 1]
    assert [row["count"] for row in rows[2:]] == [None, None]
