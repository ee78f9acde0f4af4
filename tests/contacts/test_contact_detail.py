"""The contact page: fields, custom fields, account, activity timeline, consents, groups, merged contacts."""

import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone

from contacts.models import ContactConsent
from tests.factories import (
    AccountFactory,
    ActivityFactory,
    ConsentFactory,
    ContactConsentFactory,
    ContactFactory,
    ContactFieldFactory,
    ContactGroupFactory,
    MembershipFactory,
)

pytestmark = pytest.mark.django_db


def detail(client, contact):
    response = client.get(reverse("contacts:contact_detail", args=[contact.pk]))
    assert response.status_code == 200
    return response


def test_shows_standard_fields_and_account(marketer_client):
    account = AccountFactory(name="Analytical Engines")
    contact = ContactFactory(
        first_name="Ada",
        last_name="Lovelace",
        email="ada@example.com",
        phone="+44 1",
        job_title="Analyst",
        country="GB",
        city="London",
        lead_score=42,
        account=account,
    )
    content = detail(marketer_client, contact).content.decode()
    for text in ("Ada Lovelace", "ada@example.com", "+44 1", "Analyst", "United Kingdom", "London", "42"):
        assert text in content
    assert account.get_absolute_url() in content and "Analytical Engines" in content


def test_custom_fields_in_field_settings_order_with_display_values(marketer_client, custom_fields):
    ContactFieldFactory(code="retired", label="Retired field", type="text", is_active=False)
    contact = ContactFactory(custom={"vip": True, "plan": "pro", "topics": ["ai", "cloud"], "retired": "x"})
    response = detail(marketer_client, contact)
    values = response.context["custom_values"]
    assert [v.field.code for v in values] == list(custom_fields)
    shown = {v.field.code: v.display for v in values}
    assert shown["vip"] == "Yes" and shown["plan"] == "Pro" and shown["topics"] == "AI, Cloud"
    assert shown["budget"] == ""
    assert "Retired field" not in response.content.decode()


def test_activity_timeline_newest_first_and_load_more(marketer_client):
    contact = ContactFactory()
    now = timezone.now()
    activities = [
        ActivityFactory(contact=contact, occurred_at=now - dt.timedelta(hours=i), title=f"Visit {i}") for i in range(25)
    ]
    response = detail(marketer_client, contact)
    shown = response.context["activities"]
    assert [a.pk for a in shown] == [a.pk for a in activities[:20]]
    assert response.context["activities_more"] is True
    content = response.content.decode()
    assert "bi-globe2" in content  # page visit icon
    more = marketer_client.get(
        reverse("contacts:contact_activities", args=[contact.pk]), {"offset": 20}, HTTP_HX_REQUEST="true"
    )
    assert [a.pk for a in more.context["activities"]] == [a.pk for a in activities[20:]]
    assert more.context["activities_more"] is False
    assert "<html" not in more.content.decode()  # a fragment for htmx
    bad = marketer_client.get(reverse("contacts:contact_activities", args=[contact.pk]), {"offset": "x"})
    assert bad.status_code == 400


def test_activity_types_have_icons_and_details(marketer_client):
    contact = ContactFactory()
    ActivityFactory(contact=contact, type="purchase", value="99.50", title="Order 7", url="")
    ActivityFactory(contact=contact, type="form_submission", data={"company": "Acme"}, url="javascript:alert(1)")
    content = detail(marketer_client, contact).content.decode()
    assert "bi-bag-check" in content and "99.50" in content
    assert "bi-ui-checks" in content and "company" in content and "Acme" in content
    assert 'href="javascript:' not in content  # only http(s) addresses become links


def test_consents_show_agreed_revoked_never(marketer_client):
    contact = ContactFactory()
    agreed, revoked, never = ConsentFactory(name="Newsletter"), ConsentFactory(name="Phone"), ConsentFactory(name="SMS")
    ContactConsentFactory(contact=contact, consent=agreed)
    ContactConsentFactory(contact=contact, consent=revoked, revoked_at=timezone.now())
    response = detail(marketer_client, contact)
    statuses = {s.consent.pk: s.status for s in response.context["consents"]}
    assert statuses == {agreed.pk: "agreed", revoked.pk: "revoked", never.pk: "never"}
    content = response.content.decode()
    assert "Revoke" in content and "Agree" in content and "Never agreed" in content


def test_group_memberships_and_empty_state(marketer_client):
    contact = ContactFactory()
    assert "Not in any group yet" in detail(marketer_client, contact).content.decode()
    group = ContactGroupFactory(name="VIP customers")
    MembershipFactory(group=group, contact=contact, via_manual=True, via_condition=True)
    content = detail(marketer_client, contact).content.decode()
    assert "VIP customers" in content and group.get_absolute_url() in content
    assert "Manual" in content and "Condition" in content
    assert "Not in any group yet" not in content


def test_merged_contacts_listed_and_merged_page_links_to_parent(marketer_client):
    parent = ContactFactory(first_name="Parent", last_name="Person")
    child = ContactFactory(first_name="Child", last_name="Person", merged_into=parent)
    content = detail(marketer_client, parent).content.decode()
    assert "Merged into this contact" in content and child.get_absolute_url() in content
    content = detail(marketer_client, child).content.decode()
    assert "Merged into" in content and parent.get_absolute_url() in content
    assert reverse("contacts:contact_merge", args=[child.pk]) not in content


def test_anonymous_contact_page(marketer_client):
    contact = ContactFactory(email=None, first_name="", last_name="")
    content = detail(marketer_client, contact).content.decode()
    assert f"Contact #{contact.pk}" in content and "Anonymous" in content


def test_buttons_follow_permissions(client, marketer, staff_user):
    contact = ContactFactory()
    ConsentFactory()
    delete_url = reverse("contacts:contact_delete", args=[contact.pk])
    merge_url = reverse("contacts:contact_merge", args=[contact.pk])
    edit_url = reverse("contacts:contact_update", args=[contact.pk])
    client.force_login(marketer)
    content = detail(client, contact).content.decode()
    assert delete_url in content and merge_url in content and edit_url in content
    client.force_login(staff_user)
    content = detail(client, contact).content.decode()
    assert edit_url in content
    assert delete_url not in content and merge_url not in content
    assert 'value="agree"' not in content  # staff may not change consents


# --- consents ------------------------------------------------------------------------------------


def consent_url(contact, consent):
    return reverse("contacts:contact_consent", args=[contact.pk, consent.pk])


def test_agree_then_revoke_then_agree_again(marketer_client):
    contact, consent = ContactFactory(), ConsentFactory()
    response = marketer_client.post(consent_url(contact, consent), {"action": "agree"})
    assert response.status_code == 302
    record = ContactConsent.objects.get(contact=contact, consent=consent)
    assert record.revoked_at is None
    marketer_client.post(consent_url(contact, consent), {"action": "revoke"})
    record.refresh_from_db()
    assert record.revoked_at is not None
    marketer_client.post(consent_url(contact, consent), {"action": "agree"})
    record.refresh_from_db()
    assert record.revoked_at is None and ContactConsent.objects.count() == 1


def test_consent_htmx_returns_the_card(marketer_client):
    contact, consent = ContactFactory(), ConsentFactory(name="Newsletter")
    response = marketer_client.post(consent_url(contact, consent), {"action": "agree"}, HTTP_HX_REQUEST="true")
    content = response.content.decode()
    assert response.status_code == 200 and 'id="consents"' in content and "<html" not in content
    assert "now agrees" in content and 'value="revoke"' in content


def test_consent_bad_requests_come_back_as_the_page_with_a_message(marketer_client):
    contact, consent = ContactFactory(), ConsentFactory(name="Newsletter")
    page = marketer_client.post(consent_url(contact, consent), {"action": "explode"}, follow=True)
    assert page.redirect_chain[-1][0].endswith("#consents")
    assert "Choose Agree or Revoke." in [str(m) for m in page.context["messages"]]
    page = marketer_client.post(consent_url(contact, consent), {"action": "revoke"}, follow=True)
    assert any("never agreed to “Newsletter”" in str(m) for m in page.context["messages"])
    assert not ContactConsent.objects.exists()


def test_consent_errors_escape_names_in_the_htmx_card_and_the_page(marketer_client):
    contact = ContactFactory(first_name="<script>alert(1)</script>", last_name="")
    consent = ConsentFactory(code="news", name="<b>News</b>")
    card = marketer_client.post(consent_url(contact, consent), {"action": "revoke"}, HTTP_HX_REQUEST="true")
    content = card.content.decode()
    assert card["Content-Type"].startswith("text/html") and 'id="consents"' in content and "<html" not in content
    assert "&lt;script&gt;alert(1)&lt;/script&gt; never agreed to “&lt;b&gt;News&lt;/b&gt;”" in content
    assert "<script>alert" not in content and "<b>News</b>" not in content
    page = marketer_client.post(consent_url(contact, consent), {"action": "revoke"}, follow=True).content.decode()
    assert "&lt;script&gt;alert(1)&lt;/script&gt; never agreed" in page and "<script>alert(1)" not in page


def test_consent_needs_change_contactconsent(staff_client):
    contact, consent = ContactFactory(), ConsentFactory()
    assert staff_client.post(consent_url(contact, consent), {"action": "agree"}).status_code == 403
    assert not ContactConsent.objects.exists()
