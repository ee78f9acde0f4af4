"""Admins manage users in the app: invite, change role, deactivate and reactivate, with the refusals."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth.models import User
from django.core import mail
from django.test import Client
from django.urls import reverse

from contacts.roles import Role
from tests.conftest import make_user
from tests.users.conftest import sign_in, signed_in
from users import services
from users.signals import UserAction, user_account_changed

pytestmark = pytest.mark.django_db
NEW_PASSWORD = "violet-harbour-lantern-42"


@pytest.fixture
def events():
    """What an audit log would record (users.signals.user_account_changed)."""
    seen: list[tuple] = []

    def record(sender, action, user, actor, changes, **kwargs):
        seen.append((action, user.get_username(), actor.get_username() if actor else None, changes))

    user_account_changed.connect(record, dispatch_uid="test-events")
    yield seen
    user_account_changed.disconnect(dispatch_uid="test-events")


def detail(user) -> str:
    return reverse("users:user_detail", args=[user.pk])


def invite(client, email="nina@example.com", role=Role.STAFF):
    return client.post(
        reverse("users:user_invite"), {"email": email, "first_name": "Nina", "last_name": "Novak", "role": role.value}
    )


def test_invite_set_password_and_sign_in(admin_client_role, admin_user, events, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    response = invite(admin_client_role, email="  Nina@Example.com ")
    page = response.content.decode()
    assert response.status_code == 200 and "nina@example.com is invited" in page

    nina = User.objects.get(username="nina@example.com")
    assert nina.email == "nina@example.com" and nina.is_active and not nina.has_usable_password()
    assert list(nina.groups.values_list("name", flat=True)) == ["Staff"]
    assert events == [
        (UserAction.INVITED, "nina@example.com", "admin_user", {"email": "nina@example.com", "role": "Staff"})
    ]

    [message] = mail.outbox
    assert message.to == ["nina@example.com"]
    link = re.search(r"http://testserver(/account/set-password/\S+)", message.body).group(1)
    assert link in page  # shown to the admin too

    newcomer = Client()
    form_url = newcomer.get(link).url
    assert "Choose your password" in newcomer.get(form_url).content.decode()
    response = newcomer.post(form_url, {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD})
    assert response.status_code == 302 and response.url == reverse("login")
    assert sign_in(newcomer, "nina@example.com", NEW_PASSWORD).status_code == 302 and signed_in(newcomer)
    assert newcomer.get(reverse("contacts:contact_list")).status_code == 200  # Staff may
    assert newcomer.get(reverse("fields:field_list")).status_code == 403  # but not the Admin's pages

    # the link works once
    again = Client()
    assert "no longer valid" in again.get(link).content.decode()


def test_the_users_page_lists_name_email_role_status_and_last_sign_in(admin_client_role, admin_user):
    invite(admin_client_role)
    gone = make_user(Role.MARKETER, username="gone", is_active=False)
    page = admin_client_role.get(reverse("users:user_list")).content.decode()
    for text in ("Nina Novak", "nina@example.com", "Invited", "Staff", "admin_user", "never"):
        assert text in page
    row = re.search(r'<tr data-user="gone".*?</tr>', page, re.S).group(0)
    assert "Deactivated" in row and "Marketer" in row
    assert gone.pk


def test_inviting_an_existing_email_is_a_form_error(admin_client_role, marketer):
    response = invite(admin_client_role, email=marketer.email.upper())
    assert response.status_code == 200
    assert f"A user with the email {marketer.email} exists already." in response.content.decode()
    assert User.objects.filter(email__iexact=marketer.email).count() == 1


def test_inviting_with_a_bad_email_or_role_changes_nothing(admin_client_role):
    before = User.objects.count()
    response = admin_client_role.post(reverse("users:user_invite"), {"email": "not-an-email", "role": "Owner"})
    page = response.content.decode()
    assert "Enter a valid email address." in page and "Select a valid choice" in page
    assert User.objects.count() == before


def test_a_role_change_takes_effect_at_once(admin_client_role, admin_user, events):
    sam = make_user(Role.STAFF, username="sam")
    other = Client()
    other.force_login(sam)
    assert other.get(reverse("fields:field_list")).status_code == 403

    response = admin_client_role.post(detail(sam), {"action": "role", "role": "Admin"})
    assert response.status_code == 302
    assert list(sam.groups.values_list("name", flat=True)) == ["Admin"]
    assert other.get(reverse("fields:field_list")).status_code == 200
    assert other.get(reverse("users:user_list")).status_code == 200
    assert events[-1] == (UserAction.ROLE_SET, "sam", "admin_user", {"role": ["Staff", "Admin"]})


def test_deactivate_blocks_sign_in_and_reactivate_allows_it(admin_client_role, events):
    mia = make_user(Role.MARKETER, username="mia")
    response = admin_client_role.post(detail(mia), {"action": "deactivate"})
    assert response.status_code == 302
    mia.refresh_from_db()
    assert not mia.is_active
    assert [e[0] for e in events] == [UserAction.DEACTIVATED, UserAction.SESSIONS_ENDED]
    assert sign_in(Client(), "mia", "secret-pass-123").status_code == 200  # the form again: refused

    admin_client_role.post(detail(mia), {"action": "reactivate"})
    mia.refresh_from_db()
    assert mia.is_active
    assert sign_in(Client(), "mia", "secret-pass-123").status_code == 302


def test_an_admin_cannot_deactivate_themselves(admin_client_role, admin_user):
    make_user(Role.ADMIN, username="second_admin")
    response = admin_client_role.post(detail(admin_user), {"action": "deactivate"})
    assert response.status_code == 400
    assert "You cannot deactivate yourself" in response.content.decode()
    admin_user.refresh_from_db()
    assert admin_user.is_active


def test_the_last_active_admin_keeps_the_role_and_stays_active(admin_client_role, admin_user, events):
    make_user(Role.ADMIN, username="retired_admin", is_active=False)  # does not count
    response = admin_client_role.post(detail(admin_user), {"action": "role", "role": "Marketer"})
    assert response.status_code == 400
    page = response.content.decode()
    assert "admin_user is the last active Admin: make someone else an Admin first." in page
    assert "is-invalid" in page  # on the role field
    assert list(admin_user.groups.values_list("name", flat=True)) == ["Admin"]

    with pytest.raises(services.ValidationError, match="last active Admin"):
        services.user_deactivate(user=admin_user, actor=None)
    admin_user.refresh_from_db()
    assert admin_user.is_active and events == []

    second = make_user(Role.ADMIN, username="second_admin")  # with another Admin both work
    assert admin_client_role.post(detail(admin_user), {"action": "role", "role": "Marketer"}).status_code == 302
    with pytest.raises(services.ValidationError, match="last active Admin"):
        services.user_deactivate(user=second, actor=None)


def test_only_a_superuser_demotes_or_deactivates_a_superuser(admin_client_role, admin_user):
    root = make_user(Role.ADMIN, username="root", is_superuser=True, is_staff=True)
    response = admin_client_role.post(detail(root), {"action": "role", "role": "Staff"})
    assert response.status_code == 400 and "root is a superuser" in response.content.decode()
    response = admin_client_role.post(detail(root), {"action": "deactivate"})
    assert response.status_code == 400 and "root is a superuser" in response.content.decode()
    root.refresh_from_db()
    assert root.is_active and list(root.groups.values_list("name", flat=True)) == ["Admin"]
    services.user_role_set(user=admin_user, role=Role.STAFF, actor=root)  # a superuser may change anyone
    assert list(admin_user.groups.values_list("name", flat=True)) == ["Staff"]


def test_an_unknown_action_changes_nothing(admin_client_role, marketer):
    response = admin_client_role.post(detail(marketer), {"action": "delete"})
    assert response.status_code == 400 and "Unknown action" in response.content.decode()
    assert User.objects.filter(pk=marketer.pk, is_active=True).exists()


def test_resending_an_invitation(admin_client_role, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    invite(admin_client_role)
    nina = User.objects.get(username="nina@example.com")
    response = admin_client_role.post(detail(nina), {"action": "invite_resend"})
    assert response.status_code == 200 and len(mail.outbox) == 2
    nina.set_password(NEW_PASSWORD)
    nina.save()
    response = admin_client_role.post(detail(nina), {"action": "invite_resend"})
    assert response.status_code == 400 and "has a password already" in response.content.decode()


def test_a_failing_mail_server_still_shows_the_link(admin_client_role, settings, monkeypatch):
    def broken(*args, **kwargs):
        raise ConnectionRefusedError("no SMTP server")

    monkeypatch.setattr("users.services.send_mail", broken)
    page = invite(admin_client_role).content.decode()
    assert "The email could not be sent" in page and "/account/set-password/" in page
    assert User.objects.filter(username="nina@example.com").exists()


@pytest.mark.parametrize("role", [Role.MARKETER, Role.STAFF])
def test_other_roles_cannot_manage_users(client, role):
    victim = make_user(Role.ADMIN, username="boss")
    client.force_login(make_user(role))
    assert client.get(reverse("users:user_list")).status_code == 403
    assert client.get(detail(victim)).status_code == 403
    assert invite(client).status_code == 403
    assert client.post(detail(victim), {"action": "deactivate"}).status_code == 403
    assert client.post(reverse("users:lockout_unlock"), {"username": "boss"}).status_code == 403
    assert not User.objects.filter(username="nina@example.com").exists()
    victim.refresh_from_db()
    assert victim.is_active
    assert "Users</a>" not in client.get(reverse("contacts:contact_list")).content.decode()


def test_admins_see_users_in_the_navigation(admin_client_role):
    page = admin_client_role.get(reverse("contacts:contact_list")).content.decode()
    assert f'href="{reverse("users:user_list")}"' in page
