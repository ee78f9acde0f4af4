"""The Audit log page: Admins only, newest first, filters, the readable diff of a group's condition, CSV."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re

import pytest
from django.test import RequestFactory
from django.urls import reverse
from django.utils import timezone

from audit.context import acting_as
from audit.models import AuditEntry
from audit.services import audit_changes, audit_record, change
from contacts.roles import Role
from segments import services
from tests.conftest import make_user

pytestmark = pytest.mark.django_db

LIST = reverse("audit:entry_list")


def tree(*children):
    return {"version": 1, "root": {"type": "group", "combinator": "and", "children": list(children)}}


def country(code):
    return {"type": "field", "field": "country", "operator": "equals", "value": code}


def by(user, **kwargs):
    """Record an entry as `user` (a request of theirs)."""
    request = RequestFactory().get("/", REMOTE_ADDR=kwargs.pop("ip", "192.0.2.1"))
    request.user = user
    with acting_as(request=request):
        return audit_record(**kwargs)


@pytest.mark.parametrize("role", [Role.MARKETER, Role.STAFF])
def test_only_admins_see_the_log(client, role):
    entry = by(make_user(Role.ADMIN, username="boss"), action="group.created", label="VIP")
    client.force_login(make_user(role))
    for url in (LIST, reverse("audit:entry_detail", args=[entry.pk]), reverse("audit:entry_export")):
        assert client.get(url).status_code == 403, url
    client.logout()
    assert client.get(LIST).status_code == 302


def test_the_admin_menu_links_the_log_for_admins_only(admin_client_role, client):
    page = admin_client_role.get(reverse("segments:group_list")).content.decode()
    assert f'href="{LIST}"' in page and "Audit log" in page
    client.force_login(make_user(Role.MARKETER))
    assert f'href="{LIST}"' not in client.get(reverse("segments:group_list")).content.decode()


def test_newest_first_with_who_what_and_from_where(admin_client_role, admin_user):
    old = by(admin_user, action="field.created", label="Plan", ip="192.0.2.10")
    new = by(admin_user, action="api_token.revoked", label="Zapier (ab12…)", ip="2001:db8::1")
    response = admin_client_role.get(LIST)
    assert [e.pk for e in response.context["entries"]] == [new.pk, old.pk]
    page = response.content.decode()
    assert page.index("Zapier") < page.index("Plan")
    assert "2001:db8::1" in page and "192.0.2.10" in page and "API token revoked" in page


def test_filters_by_area_action_who_dates_and_search(admin_client_role, admin_user):
    ann = make_user(Role.MARKETER, username="ann")
    by(ann, action="group.created", label="VIP customers")
    by(ann, action="group.deleted", label="Old list", summary="cleanup")
    by(admin_user, action="field.created", label="Budget")
    AuditEntry.objects.create(actor_name="system", action="export.run", object_label="Contacts",
                              at=timezone.now() - dt.timedelta(days=10))  # fmt: skip

    def shown(**query):
        response = admin_client_role.get(LIST, query)
        assert response.status_code == 200
        return {e.object_label for e in response.context["entries"]}

    assert shown(action="group") == {"VIP customers", "Old list"}
    assert shown(action="group.deleted") == {"Old list"}
    assert shown(actor="ann") == {"VIP customers", "Old list"}
    assert shown(actor="system") == {"Contacts"}
    assert shown(q="vip") == {"VIP customers"}
    assert shown(q="cleanup") == {"Old list"}
    today = timezone.localdate().isoformat()
    assert shown(since=today) == {"VIP customers", "Old list", "Budget"}
    assert shown(until=(timezone.localdate() - dt.timedelta(days=1)).isoformat()) == {"Contacts"}
    assert shown(since="not a date") == {"VIP customers", "Old list", "Budget", "Contacts"}  # ignored, said so


def test_the_group_change_shows_the_changed_sentence_as_removed_and_added_lines(admin_client_role, admin_user):
    request = RequestFactory().post("/", REMOTE_ADDR="192.0.2.3")
    request.user = admin_user
    with acting_as(request=request):
        group = services.group_create(
            code="fans", name="Fans", is_condition_based=True, condition=tree(country("CZ"), country("SK"))
        )
        services.group_update(
            group=group,
            name="Fans",
            description="",
            is_condition_based=True,
            condition=tree(country("CZ"), country("DE")),
            scheduled_rebuild=False,
        )
    entry = AuditEntry.objects.get(action="group.updated")
    for url in (reverse("audit:entry_detail", args=[entry.pk]), LIST + "?action=group.updated"):
        page = admin_client_role.get(url).content.decode()
        lines = re.findall(r'audit-line audit-line-(\w+)">.*?<span class="audit-text">(.*?)</span>', page)
        assert lines == [
            ("same", "All of:"),
            ("same", "  Country is Czechia"),
            ("removed", "  Country is Slovakia"),
            ("added", "  Country is Germany"),
        ], url
        assert f'href="{reverse("segments:group_detail", args=[group.pk])}"' in page  # the group still exists


def test_values_show_before_and_after_and_facts_as_they_are(admin_client_role, admin_user):
    entry = by(
        admin_user,
        action="user.role_set",
        label="bob",
        changes={"role": change("Staff", "Admin"), "required": change(False, True), "attempts": 3},
    )
    page = admin_client_role.get(reverse("audit:entry_detail", args=[entry.pk])).content.decode()
    assert re.search(r'audit-before">Staff</span>.*?audit-after">Admin</span>', page, re.S)
    assert re.search(r'audit-before">no</span>.*?audit-after">yes</span>', page, re.S)
    assert re.search(r"<dt>Attempts</dt>\s*<dd>\s*3", page)


def test_a_deleted_object_is_named_but_not_linked(admin_client_role, acting_admin):
    group = services.group_create(code="gone", name="Gone soon")
    pk = group.pk
    services.group_delete(group=group)
    response = admin_client_role.get(LIST)
    rows = [(entry.action, entry.object_label, link) for entry, link, _changes in response.context["rows"]]
    assert rows == [("group.deleted", "Gone soon", None), ("group.created", "Gone soon", None)]
    assert f'href="{reverse("segments:group_detail", args=[pk])}"' not in response.content.decode()


@pytest.fixture
def acting_admin(admin_user, rf):
    request = rf.post("/", REMOTE_ADDR="192.0.2.4")
    request.user = admin_user
    with acting_as(request=request):
        yield admin_user


def test_csv_export_of_the_filtered_log(admin_client_role, admin_user):
    by(admin_user, action="group.created", label="=HYPERLINK(1)", changes=audit_changes({}, {"name": "x"}))
    by(admin_user, action="field.created", label="Budget")
    response = admin_client_role.get(reverse("audit:entry_export"), {"action": "group"})
    assert response["Content-Type"].startswith("text/csv")
    text = b"".join(response.streaming_content).decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0][:4] == ["Time", "Who", "Address", "Action"]
    assert len(rows) == 2
    assert rows[1][1:5] == ["admin_user", "192.0.2.1", "Group created", "group.created"]
    assert rows[1][7] == "'=HYPERLINK(1)"  # a spreadsheet must not run it
    assert json.loads(rows[1][9]) == {"name": {"before": None, "after": "x"}}


def test_the_pages_of_the_log_are_paginated(admin_client_role, admin_user):
    AuditEntry.objects.bulk_create(
        [AuditEntry(actor_name="system", action="export.run", object_label=f"e{i}") for i in range(55)]
    )
    first = admin_client_role.get(LIST)
    assert len(first.context["entries"]) == 50 and first.context["page_obj"].has_next()
    assert len(admin_client_role.get(LIST, {"page": 2}).context["entries"]) == 5
