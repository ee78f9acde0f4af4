"""Entries cannot be changed or deleted through the app: no URL, not the model, not the Django admin, and on
PostgreSQL not even by SQL (a trigger); a rolled-back action leaves no entry."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group, Permission, User
from django.db import DatabaseError, connection, transaction
from django.urls import get_resolver, reverse

from audit.models import AuditEntry, ImmutableEntry
from audit.services import audit_record
from segments import services
from segments.models import ContactGroup
from tests.conftest import make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def entry(db):
    return audit_record(action="group.created", label="VIP", summary="first")


def test_the_model_refuses_to_change_or_delete_an_entry(entry):
    entry.summary = "rewritten"
    with pytest.raises(ImmutableEntry):
        entry.save()
    with pytest.raises(ImmutableEntry):
        entry.delete()
    with pytest.raises(ImmutableEntry):
        AuditEntry.objects.filter(pk=entry.pk).update(summary="rewritten")
    with pytest.raises(ImmutableEntry):
        AuditEntry.objects.filter(pk=entry.pk).delete()
    assert AuditEntry.objects.get(pk=entry.pk).summary == "first"


def test_no_url_changes_or_deletes_an_entry(admin_client_role, entry):
    names = {name for name in get_resolver().reverse_dict if isinstance(name, str)}
    audit_names = {name for name in get_resolver().namespace_dict["audit"][1].reverse_dict if isinstance(name, str)}
    assert audit_names == {"entry_list", "entry_detail", "entry_export"}
    assert not {n for n in names if "audit" in n}  # nothing outside the namespace
    for url in (reverse("audit:entry_list"), reverse("audit:entry_detail", args=[entry.pk])):
        assert admin_client_role.post(url, {"summary": "x"}).status_code == 405
        assert admin_client_role.delete(url).status_code == 405
    assert AuditEntry.objects.get(pk=entry.pk).summary == "first"


def test_the_django_admin_shows_entries_read_only(client, entry):
    client.force_login(make_user(None, username="root", is_superuser=True, is_staff=True))
    change = reverse("admin:audit_auditentry_change", args=[entry.pk])
    page = client.get(change)
    assert page.status_code == 200 and 'name="_save"' not in page.content.decode()
    assert client.post(change, {"summary": "rewritten"}).status_code == 403
    assert client.get(reverse("admin:audit_auditentry_delete", args=[entry.pk])).status_code == 403
    assert client.post(reverse("admin:audit_auditentry_delete", args=[entry.pk]), {"post": "yes"}).status_code == 403
    assert client.get(reverse("admin:audit_auditentry_add")).status_code == 403
    changelist = reverse("admin:audit_auditentry_changelist")
    bulk = client.post(changelist, {"action": "delete_selected", "_selected_action": [entry.pk]})
    assert bulk.status_code in (200, 302)
    assert AuditEntry.objects.get(pk=entry.pk).summary == "first"


def test_nobody_can_be_granted_change_or_delete():
    codenames = Permission.objects.filter(content_type__app_label="audit").values_list("codename", flat=True)
    assert set(codenames) == {"view_auditentry"}
    assert Group.objects.get(name="Admin").permissions.filter(codename="view_auditentry").exists()
    assert not Group.objects.get(name="Marketer").permissions.filter(content_type__app_label="audit").exists()


def test_a_rolled_back_action_leaves_no_entry(db):
    with pytest.raises(RuntimeError), transaction.atomic():
        services.group_create(code="vip", name="VIP")
        assert AuditEntry.objects.filter(action="group.created").exists()  # written with the group…
        raise RuntimeError("the request failed after the service")
    assert not ContactGroup.objects.exists()
    assert not AuditEntry.objects.exists()  # …and rolled back with it


def test_deleting_a_user_keeps_their_entries_under_their_name(entry):
    user = make_user(None, username="leaver")
    with_user = audit_record(action="group.deleted", label="Old", actor=user)
    user.delete()
    with_user.refresh_from_db()
    assert (with_user.actor, with_user.actor_name) == (None, "leaver")


def test_postgresql_refuses_update_and_delete_of_an_entry_by_sql(entry):
    if connection.vendor != "postgresql":
        pytest.skip("the trigger exists on PostgreSQL only")
    table = AuditEntry._meta.db_table
    for sql in (f"UPDATE {table} SET summary = 'x' WHERE id = %s", f"DELETE FROM {table} WHERE id = %s"):
        refused = pytest.raises(DatabaseError, match="cannot be changed or deleted")
        with refused, transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(sql, [entry.pk])
    user = User.objects.create(username="someone")  # the actor of a deleted user may be set to NULL
    by_user = audit_record(action="group.deleted", label="Old", actor=user)
    user.delete()
    assert AuditEntry.objects.get(pk=by_user.pk).actor_id is None
    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"UPDATE {table} SET actor_id = NULL, summary = 'x' WHERE id = %s", [entry.pk])
