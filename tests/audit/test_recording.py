"""Every audited action writes one entry, in its own transaction: who, from where, what, and the changes."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from django.contrib.auth.models import User
from django.urls import reverse
from django.utils import timezone

from api.models import ApiToken
from api.tokens import token_create, token_revoke
from audit.models import AuditEntry
from campaigns import sending
from campaigns.models import Campaign
from contacts import field_settings
from contacts.models import ContactField
from contacts.roles import Role
from segments import rebuilds, services
from segments.models import ContactGroup
from tests.audit.conftest import assert_by, entry
from tests.campaigns.conftest import email_campaign
from tests.conftest import make_user
from tests.factories import ContactFactory, ContactFieldFactory, ContactGroupFactory
from users import services as user_services
from webhooks.models import Endpoint

pytestmark = pytest.mark.django_db

CZ = {"version": 1, "root": {"type": "field", "field": "country", "operator": "equals", "value": "CZ"}}


def tree(*children, combinator="and"):
    return {"version": 1, "root": {"type": "group", "combinator": combinator, "children": list(children)}}


def field(name, operator, value):
    return {"type": "field", "field": name, "operator": operator, "value": value}


# --- groups ----------------------------------------------------------------------------------------


def test_creating_a_group_on_its_page_records_who_from_where_and_what(marketer_client, marketer):
    data = {"name": "Czechs", "code": "czechs", "is_condition_based": "on", "condition": json.dumps(CZ)}
    response = marketer_client.post(reverse("segments:group_create"), data, REMOTE_ADDR="198.51.100.4")
    assert response.status_code == 302
    item = entry("group.created")
    assert_by(item, marketer, "198.51.100.4")
    group = ContactGroup.objects.get(code="czechs")
    assert (item.object_type, item.object_id, item.object_label) == ("segments.contactgroup", str(group.pk), "Czechs")
    assert item.changes["name"] == {"before": None, "after": "Czechs"}
    assert item.changes["condition"] == {"before": None, "after": ["Country is Czechia"]}


def test_changing_a_condition_records_the_sentences_before_and_after(marketer_client, marketer):
    group = services.group_create(
        code="fans",
        name="Fans",
        is_condition_based=True,
        condition=tree(field("country", "equals", "CZ"), field("lead_score", "gte", 10)),
    )
    new = tree(field("country", "equals", "DE"), field("lead_score", "gte", 10))
    data = {"name": "Fans", "is_condition_based": "on", "condition": json.dumps(new)}
    response = marketer_client.post(reverse("segments:group_update", args=[group.pk]), data, REMOTE_ADDR="198.51.100.9")
    assert response.status_code == 302
    item = entry("group.updated")
    assert_by(item, marketer, "198.51.100.9")
    assert item.changes == {
        "condition": {
            "before": ["All of:", "  Country is Czechia", "  Lead score is at least 10"],
            "after": ["All of:", "  Country is Germany", "  Lead score is at least 10"],
        }
    }
    assert item.summary == "changed the condition"


def test_saving_a_group_unchanged_records_nothing(acting):
    group = services.group_create(code="same", name="Same")
    services.group_update(
        group=group, name="Same", description="", is_condition_based=False, condition=None, scheduled_rebuild=False
    )
    assert not AuditEntry.objects.filter(action="group.updated").exists()


def test_renaming_a_group_records_the_old_and_new_name(acting):
    group = services.group_create(code="old", name="Old name")
    services.group_update(
        group=group, name="New name", description="d", is_condition_based=False, condition=None, scheduled_rebuild=True
    )
    item = entry("group.updated")
    assert_by(item, acting)
    assert item.changes == {
        "name": {"before": "Old name", "after": "New name"},
        "description": {"before": "", "after": "d"},
        "nightly_rebuild": {"before": False, "after": True},
    }
    assert item.object_label == "New name"


def test_the_rebuild_button_records_who_asked(marketer_client, marketer):
    group = services.group_create(code="cz", name="CZ", is_condition_based=True, condition=CZ)
    marketer_client.post(reverse("segments:group_rebuild", args=[group.pk]), REMOTE_ADDR="198.51.100.5")
    item = entry("group.rebuilt")
    assert_by(item, marketer, "198.51.100.5")
    assert (item.object_id, item.summary) == (str(group.pk), "queued a rebuild")


def test_the_api_rebuild_records_the_tokens_user(client):
    user = make_user(Role.ADMIN, username="robot")
    _, text = token_create(user=user, name="ci", scope="write")
    services.group_create(code="cz", name="CZ", is_condition_based=True, condition=CZ)
    response = client.post("/api/v1/groups/cz/rebuild/", HTTP_AUTHORIZATION=f"Bearer {text}", REMOTE_ADDR="192.0.2.33")
    assert response.status_code == 202
    assert_by(entry("group.rebuilt"), user, "192.0.2.33")


def test_deleting_a_group_records_what_it_was(marketer_client, marketer):
    group = services.group_create(code="gone", name="Gone", description="soon", is_condition_based=True, condition=CZ)
    marketer_client.post(reverse("segments:group_delete", args=[group.pk]), REMOTE_ADDR="198.51.100.6")
    item = entry("group.deleted")
    assert_by(item, marketer, "198.51.100.6")
    assert item.object_label == "Gone" and item.object_id == str(group.pk)
    assert item.changes["condition"] == {"before": ["Country is Czechia"], "after": None}
    assert item.changes["members"] == {"before": 0, "after": None}


def test_a_refused_delete_records_nothing(acting):
    vip = ContactGroupFactory(code="vip")
    ContactGroupFactory(
        code="uses_vip",
        is_condition_based=True,
        condition={"version": 1, "root": {"type": "membership", "group": "vip", "operator": "is_member"}},
    )
    with pytest.raises(services.GroupInUse):
        services.group_delete(group=vip)
    assert not AuditEntry.objects.exists()


def test_copying_a_group_records_the_copy(acting):
    group = ContactGroupFactory(code="vip", name="VIP")
    copy = services.group_copy(group=group, code="vip_jan", name="VIP in January", freeze=True, actor_id=acting.pk)
    item = entry("group.copied")
    assert_by(item, acting)
    assert item.object_id == str(copy.pk)
    assert item.changes == {"copy_of": "VIP (vip)", "frozen": True, "members": 0}


# --- field settings --------------------------------------------------------------------------------


def test_field_create_change_reorder_retire_and_restore_are_recorded(acting):
    plan = field_settings.field_create(
        label="Plan", code="plan", type="choice", choices=[{"code": "free", "label": "Free"}]
    )
    item = entry("field.created")
    assert_by(item, acting)
    assert item.changes["choices"] == {"before": None, "after": ["Free (free)"]}
    field_settings.field_update(
        field=plan, label="Plan", choices=[{"code": "free", "label": "Free"}, {"code": "pro", "label": "Pro"}]
    )
    assert entry("field.updated").changes == {
        "choices": {"before": ["Free (free)"], "after": ["Free (free)", "Pro (pro)"]}
    }
    other = field_settings.field_create(label="Budget", code="budget", type="number")
    field_settings.field_reorder(field_ids=[other.pk, plan.pk])
    assert entry("field.reordered").changes == {"order": {"before": ["Plan", "Budget"], "after": ["Budget", "Plan"]}}
    field_settings.field_retire(field=plan)
    field_settings.field_restore(field=plan)
    assert entry("field.retired").object_label == entry("field.restored").object_label == "Plan"
    assert AuditEntry.objects.filter(object_type="contacts.contactfield", object_id=str(plan.pk)).count() == 4


def test_a_field_page_records_the_admin_and_address(admin_client_role, admin_user):
    ContactFieldFactory(code="budget", label="Budget", type="number")
    response = admin_client_role.post(
        reverse("fields:field_update", args=["budget"]),
        {"label": "Yearly budget", "type": "number", "help_text": ""},
        REMOTE_ADDR="2001:db8::5",
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    item = entry("field.updated")
    assert_by(item, admin_user, "2001:db8::5")
    assert item.changes == {"label": {"before": "Budget", "after": "Yearly budget"}}


def test_a_refused_field_change_records_nothing(acting):
    ContactFieldFactory(code="size", label="Size", type="text")
    ContactFactory(custom={"size": "big"})
    with pytest.raises(field_settings.FieldChangeRefused):
        field_settings.field_update(field=ContactField.objects.get(code="size"), type="number")
    assert not AuditEntry.objects.exists()


# --- campaigns, tokens, webhooks, users ----------------------------------------------------------------


@pytest.mark.usefixtures("sync_worker")
def test_sending_a_campaign_is_recorded(acting, people, django_capture_on_commit_callbacks):
    campaign = email_campaign(people)
    with django_capture_on_commit_callbacks(execute=False):
        sending.campaign_send(campaign=campaign)
    item = entry("campaign.sent")
    assert_by(item, acting)
    assert (item.object_id, item.object_label) == (str(campaign.pk), "Spring")
    assert item.changes["groups"] == ["Excluded: BLOCKED", "Included: VIP", "Included: CZ"]
    assert item.changes["channel"] == "Email"


def test_scheduling_then_cancelling_a_campaign_is_recorded(acting, people):
    campaign = email_campaign(people)
    sending.campaign_send(campaign=campaign, at=timezone.now() + dt.timedelta(days=1))
    sending.campaign_send_cancel(campaign=campaign)
    assert entry("campaign.scheduled").changes["scheduled_at"] is not None
    assert_by(entry("campaign.send_cancelled"), acting)


def test_a_refused_send_records_nothing(acting, people):
    campaign = email_campaign(people)
    Campaign.objects.filter(pk=campaign.pk).update(body="")
    with pytest.raises(sending.SendError, match="empty"):
        sending.campaign_send(campaign=campaign)
    assert not AuditEntry.objects.filter(action__startswith="campaign.").exists()


def test_creating_and_revoking_an_api_token_on_its_page(marketer_client, marketer):
    marketer_client.post(reverse("tokens:token_list"), {"name": "Zapier", "scope": "read"}, REMOTE_ADDR="192.0.2.8")
    token = ApiToken.objects.get(name="Zapier")
    created = entry("api_token.created")
    assert_by(created, marketer, "192.0.2.8")
    assert created.changes == {"owner": "marketer_user", "scope": "read"}
    assert "seg_" not in json.dumps(created.changes) and token.secret_hash not in json.dumps(created.changes)
    marketer_client.post(reverse("tokens:token_revoke", args=[token.pk]), REMOTE_ADDR="192.0.2.9")
    marketer_client.post(reverse("tokens:token_revoke", args=[token.pk]), REMOTE_ADDR="192.0.2.9")  # again: no-op
    assert_by(entry("api_token.revoked"), marketer, "192.0.2.9")


def test_webhook_pages_record_create_change_disable_and_new_secret(admin_client_role, admin_user, settings):
    settings.WEBHOOKS_ALLOW_PRIVATE = True  # the receiver's name need not resolve
    vip = ContactGroupFactory(code="vip", name="VIP")
    data = {"url": "http://127.0.0.1:9/in", "events": ["entered"], "groups": []}
    admin_client_role.post(reverse("webhooks:endpoint_create"), data, REMOTE_ADDR="192.0.2.20")
    created = entry("webhook.created")
    assert_by(created, admin_user, "192.0.2.20")
    assert created.changes["groups"] == {"before": None, "after": ["every group"]}
    pk = int(created.object_id)
    data = {"url": "http://127.0.0.1:9/v2", "events": ["entered", "left"], "groups": [vip.pk]}
    admin_client_role.post(reverse("webhooks:endpoint_edit", args=[pk]), data, REMOTE_ADDR="192.0.2.20")
    assert entry("webhook.updated").changes == {
        "url": {"before": "http://127.0.0.1:9/in", "after": "http://127.0.0.1:9/v2"},
        "events": {"before": ["entered"], "after": ["entered", "left"]},
        "groups": {"before": ["every group"], "after": ["VIP"]},
    }
    admin_client_role.post(reverse("webhooks:endpoint_toggle", args=[pk]))
    admin_client_role.post(reverse("webhooks:secret_rotate", args=[pk]))
    assert_by(entry("webhook.disabled"), admin_user, "127.0.0.1")
    rotated = entry("webhook.secret_rotated")
    assert Endpoint.objects.get(pk=pk).secret not in json.dumps(rotated.changes) + rotated.summary


def test_user_changes_are_recorded_from_the_users_signal(acting):
    invitation = user_services.user_invite(
        email="new@example.com", role=Role.STAFF, actor=acting, base_url="http://testserver"
    )
    user = invitation.user
    user_services.user_role_set(user=user, role=Role.MARKETER, actor=acting)
    user_services.user_deactivate(user=user, actor=acting)
    invited, role = entry("user.invited"), entry("user.role_set")
    assert_by(invited, acting)
    assert (invited.object_type, invited.object_label) == ("auth.user", "new@example.com")
    assert role.changes == {"role": {"before": "Staff", "after": "Marketer"}}
    assert role.summary == "role changed from Staff to Marketer"
    assert entry("user.deactivated").object_id == str(user.pk)
    assert entry("user.sessions_ended").actor == acting


def test_log_out_everywhere_is_recorded_for_the_user_themself(marketer_client, marketer):
    marketer_client.post(reverse("account:logout_everywhere"), REMOTE_ADDR="192.0.2.77")
    item = entry("user.sessions_ended")
    assert_by(item, marketer, "192.0.2.77")
    assert item.object_label == "marketer_user"


def test_without_a_request_the_actor_is_the_system(db):
    token, _ = token_create(user=make_user(None, username="owner"), name="nightly", scope="read")
    token_revoke(token=token)
    item = entry("api_token.revoked")
    assert (item.actor, item.actor_name, item.ip) == (None, "system", None)


def test_a_deleted_user_leaves_their_name_on_the_entries(acting):
    services.group_create(code="kept", name="Kept")
    User.objects.filter(pk=acting.pk).delete()
    item = entry("group.created")
    assert (item.actor, item.actor_name) == (None, "admin_user")


def test_rebuild_request_service_rolls_back_with_its_caller(acting):
    from django.db import transaction

    group = services.group_create(code="cz", name="CZ", is_condition_based=True, condition=CZ)
    with pytest.raises(RuntimeError), transaction.atomic():
        rebuilds.group_rebuild_request(group=group)
        raise RuntimeError("the caller failed")
    assert not AuditEntry.objects.filter(action="group.rebuilt").exists()
    assert AuditEntry.objects.filter(action="group.created").exists()
