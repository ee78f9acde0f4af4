"""Groups over the API: rule trees validated like the builder, the pages' refusals, rebuilds, members,
Why?, and the preview (the builder's service)."""

from __future__ import annotations

import pytest
from django.urls import reverse
from django.utils.dateparse import parse_datetime

from segments.models import Cause, ContactGroup, GroupAccount, Membership, MembershipEvent, RebuildStatus
from segments.rebuilds import group_rebuild
from tests.factories import AccountFactory, ContactFactory, ContactGroupFactory, MembershipFactory

pytestmark = pytest.mark.django_db

CZ = {"version": 1, "root": {"type": "field", "field": "country", "operator": "equals", "value": "CZ"}}
BAD = {
    "version": 1,
    "root": {
        "type": "group",
        "combinator": "and",
        "children": [
            {"type": "field", "field": "country", "operator": "equals", "value": "CZ"},
            {"type": "field", "field": "lead_score", "operator": "gt", "value": "high"},
        ],
    },
}


def member_of(code: str) -> dict:
    return {"version": 1, "root": {"type": "membership", "group": code, "operator": "is_member"}}


def test_create_a_condition_group_queues_its_first_rebuild(admin_api, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks:
        response = admin_api.post("/api/v1/groups/", {"code": "czechs", "name": "Czechs", "condition": CZ})
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["is_condition_based"] and body["summary"] == "Country is Czechia"
    assert body["rebuild_status"] == "queued" and len(callbacks) == 1


def test_a_static_group_has_no_condition(admin_api):
    body = admin_api.post("/api/v1/groups/", {"code": "hand", "name": "By hand"}).json()
    assert body["is_condition_based"] is False and body["condition"] is None and body["summary"] == ""


def test_a_bad_tree_is_400_with_the_builders_node_path_and_message(admin_api, marketer_client):
    response = admin_api.post("/api/v1/groups/", {"code": "bad", "name": "Bad", "condition": BAD})
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid_rule" and error["path"] == "condition.root.children[1].value"
    builder = marketer_client.post(reverse("segments:rule_preview"), BAD, content_type="application/json").json()
    assert builder["path"] == "root.children[1].value"
    assert error["message"] == f"condition.{builder['error']}"
    assert not ContactGroup.objects.exists()


def test_name_and_code_clashes_are_refused_like_the_form(admin_api):
    ContactGroupFactory(code="vip", name="VIP")
    response = admin_api.post("/api/v1/groups/", {"code": "VIP", "name": "Other"})
    assert response.status_code == 400 and response.json()["error"]["path"] == "code"
    response = admin_api.post("/api/v1/groups/", {"code": "vip2", "name": " vip "})
    assert response.status_code == 400 and response.json()["error"]["path"] == "name"
    assert admin_api.post("/api/v1/groups/", {"code": "1x", "name": "Y"}).json()["error"]["path"] == "code"


def test_get_a_group_with_its_tree_and_sentence(admin_api):
    ContactGroupFactory(code="czechs", name="Czechs", is_condition_based=True, condition=CZ)
    body = admin_api.get("/api/v1/groups/czechs/").json()
    assert body["condition"] == CZ and body["summary"] == "Country is Czechia"


def test_list_filters_like_the_group_list(admin_api):
    ContactGroupFactory(code="a", name="Alpha", is_condition_based=True, condition=CZ)
    ContactGroupFactory(code="b", name="Beta")
    codes = [g["code"] for g in admin_api.get("/api/v1/groups/", {"kind": "static"}).json()["results"]]
    assert codes == ["b"]
    codes = [g["code"] for g in admin_api.get("/api/v1/groups/", {"q": "alp"}).json()["results"]]
    assert codes == ["a"]


def test_update_changes_what_is_sent_and_a_new_tree_queues_a_rebuild(admin_api):
    group = ContactGroupFactory(code="g", name="G", description="keep")
    response = admin_api.patch("/api/v1/groups/g/", {"name": "New name"})
    assert response.status_code == 200
    group.refresh_from_db()
    assert (group.name, group.description, group.is_condition_based) == ("New name", "keep", False)
    response = admin_api.patch("/api/v1/groups/g/", {"condition": CZ})
    group.refresh_from_db()
    assert group.is_condition_based and group.rebuild_status == RebuildStatus.QUEUED
    bad = admin_api.patch("/api/v1/groups/g/", {"condition": BAD, "name": "Changed"})
    assert bad.json()["error"]["path"] == "condition.root.children[1].value"
    group.refresh_from_db()
    assert group.condition == CZ and group.name == "New name"
    assert admin_api.patch("/api/v1/groups/g/", {"code": "other"}).json()["error"]["path"] == "code"


def test_a_membership_cycle_is_refused(admin_api):
    ContactGroupFactory(code="a", is_condition_based=True, condition=member_of("b"))
    ContactGroupFactory(code="b")
    response = admin_api.patch("/api/v1/groups/b/", {"condition": member_of("a")})
    assert response.status_code == 400 and response.json()["error"]["code"] == "invalid_rule"


def test_delete_is_refused_while_another_groups_condition_uses_it(admin_api):
    ContactGroupFactory(code="vip", name="VIP")
    ContactGroupFactory(code="uses", name="Uses", is_condition_based=True, condition=member_of("vip"))
    response = admin_api.delete("/api/v1/groups/vip/")
    assert response.status_code == 409 and response.json()["error"]["code"] == "group_in_use"
    assert "Uses" in response.json()["error"]["message"]
    assert admin_api.delete("/api/v1/groups/uses/").status_code == 204
    assert admin_api.delete("/api/v1/groups/vip/").status_code == 204
    assert not ContactGroup.objects.exists()


def test_rebuild_is_202_with_a_status_url(admin_api, django_capture_on_commit_callbacks):
    group = ContactGroupFactory(code="czechs", is_condition_based=True, condition=CZ)
    ContactFactory(country="CZ")
    with django_capture_on_commit_callbacks() as callbacks:
        response = admin_api.post("/api/v1/groups/czechs/rebuild/")
    assert response.status_code == 202 and len(callbacks) == 1
    status_url = response.json()["status_url"]
    assert response["Location"] == status_url == "/api/v1/groups/czechs/status/"
    assert admin_api.get(status_url).json()["rebuilding"] is True
    group_rebuild(group=group)  # what the worker does
    status = admin_api.get(status_url).json()
    assert status["rebuilding"] is False and status["rebuild_status"] == "succeeded" and status["member_count"] == 1


def test_a_static_group_cannot_be_rebuilt(admin_api):
    ContactGroupFactory(code="hand")
    response = admin_api.post("/api/v1/groups/hand/rebuild/")
    assert response.status_code == 409 and response.json()["error"]["code"] == "not_condition_based"


# --- members ----------------------------------------------------------------------------------


def test_members_with_sources_and_member_since_in_cursor_pages(admin_api):
    group = ContactGroupFactory(code="g")
    memberships = [MembershipFactory(group=group, contact=ContactFactory(), via_manual=True) for _ in range(5)]
    Membership.objects.filter(pk=memberships[0].pk).update(via_condition=True)
    seen, url = [], "/api/v1/groups/g/members/?page_size=2"
    while url:
        body = admin_api.get(url).json()
        seen += body["results"]
        url = body["next"]
    assert [m["contact"]["id"] for m in seen] == sorted(m.contact_id for m in memberships)
    first = next(m for m in seen if m["contact"]["id"] == memberships[0].contact_id)
    assert first["sources"] == ["manual", "condition"]
    assert parse_datetime(first["member_since"]) == memberships[0].added_at


def test_members_filter_like_the_members_tab(admin_api):
    group = ContactGroupFactory(code="g")
    jana = ContactFactory(first_name="Jana", last_name="Nová")
    MembershipFactory(group=group, contact=jana, via_manual=True)
    MembershipFactory(group=group, contact=ContactFactory(first_name="Petr"), via_manual=False, via_account=True)

    def names(params):
        return [
            m["contact"]["first_name"] for m in admin_api.get("/api/v1/groups/g/members/", params).json()["results"]
        ]

    assert names({"source": "account"}) == ["Petr"]
    assert names({"q": "jana"}) == ["Jana"]
    assert admin_api.get("/api/v1/groups/g/members/", {"source": "magic"}).status_code == 400
    assert admin_api.get("/api/v1/groups/g/members/", {"page_size": "0"}).status_code == 400


def test_add_and_remove_contacts_by_hand_with_history_cause_api(admin_api):
    group = ContactGroupFactory(code="g")
    a, b = ContactFactory(), ContactFactory()
    response = admin_api.post("/api/v1/groups/g/members/", {"ids": [a.pk, b.pk, 999999]})
    assert response.json() == {"requested": 3, "missing": [999999], "added": 2, "removed": 0}
    assert set(Membership.objects.filter(group=group).values_list("contact_id", flat=True)) == {a.pk, b.pk}
    assert set(MembershipEvent.objects.filter(group=group).values_list("cause", flat=True)) == {Cause.API}
    group.refresh_from_db()
    assert group.member_count == 2
    response = admin_api.post("/api/v1/groups/g/members/remove/", {"ids": [a.pk]})
    assert response.json()["removed"] == 1
    assert list(Membership.objects.filter(group=group).values_list("contact_id", flat=True)) == [b.pk]
    assert admin_api.post("/api/v1/groups/g/members/", {"ids": []}).status_code == 400
    assert admin_api.post("/api/v1/groups/g/members/", {"ids": ["x"]}).json()["error"]["path"] == "ids.0"


def test_link_and_unlink_accounts(admin_api):
    group = ContactGroupFactory(code="g")
    acme = AccountFactory()
    contact = ContactFactory(account=acme)
    response = admin_api.post("/api/v1/groups/g/accounts/", {"ids": [acme.pk]})
    assert response.json()["added"] == 1
    assert GroupAccount.objects.filter(group=group, account=acme).exists()
    assert Membership.objects.get(group=group, contact=contact).via_account
    assert admin_api.post("/api/v1/groups/g/accounts/remove/", {"ids": [acme.pk]}).json()["removed"] == 1
    assert not Membership.objects.filter(group=group).exists()


def test_explain_is_the_why_page_as_json(admin_api):
    score = {"type": "field", "field": "lead_score", "operator": "gt", "value": 5}
    tree = {"version": 1, "root": {**BAD["root"], "children": [BAD["root"]["children"][0], score]}}
    group = ContactGroupFactory(code="czechs", is_condition_based=True, condition=tree)
    contact = ContactFactory(country="CZ", lead_score=1)
    MembershipFactory(group=group, contact=contact, via_manual=True)
    body = admin_api.get(f"/api/v1/groups/czechs/explain/{contact.pk}/").json()
    assert body["member"] is True and body["sources"] == ["manual"] and body["linked_account"] is None
    root = body["condition"]["root"]
    assert body["condition"]["matched"] is False and root["matched"] is False
    assert [c["matched"] for c in root["children"]] == [True, False]
    assert [c["path"] for c in root["children"]] == ["root.children[0]", "root.children[1]"]
    assert admin_api.get("/api/v1/groups/czechs/explain/999999/").status_code == 404


# --- preview ----------------------------------------------------------------------------------


def test_preview_counts_reachability_and_a_sample(admin_api):
    for _ in range(3):
        ContactFactory(country="CZ")
    ContactFactory(country="SK")
    body = admin_api.post("/api/v1/preview/", CZ).json()
    assert body["count"] == 3 and len(body["contacts"]) == 3
    assert set(body["reachable"]) == {"email", "sms"} and body["description"] == "Country is Czechia"


def test_preview_of_a_bad_tree_is_the_builders_400(admin_api, marketer_client):
    response = admin_api.post("/api/v1/preview/", BAD)
    builder = marketer_client.post(reverse("segments:rule_preview"), BAD, content_type="application/json").json()
    assert response.status_code == 400
    assert response.json()["error"]["path"] == builder["path"] == "root.children[1].value"
    assert response.json()["error"]["message"] == builder["error"]
    assert admin_api.post("/api/v1/preview/", raw="[]").status_code == 400
