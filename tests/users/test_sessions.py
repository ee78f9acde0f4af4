"""Sessions: "Log out everywhere", a password change ending the other sessions, the sliding expiry."""

from __future__ import annotations

import time

import pytest
from django.contrib.sessions.models import Session
from django.test import Client
from django.urls import reverse

from contacts.roles import Role
from tests.conftest import make_user
from tests.users.conftest import sign_in, signed_in
from users import services
from users.middleware import REFRESHED_KEY

pytestmark = pytest.mark.django_db
GOOD = "secret-pass-123"


def two_devices(username: str = "mia"):
    make_user(Role.MARKETER, username=username)
    laptop, phone = Client(), Client()
    assert sign_in(laptop, username, GOOD).status_code == 302
    assert sign_in(phone, username, GOOD).status_code == 302
    return laptop, phone


def test_log_out_everywhere_ends_the_sessions_on_every_device(axes_on):
    laptop, phone = two_devices()
    other = make_user(Role.STAFF, username="sam")
    bystander = Client()
    bystander.force_login(other)

    response = laptop.post(reverse("account:logout_everywhere"), follow=True)
    assert "You are signed out on every device." in response.content.decode()
    assert not signed_in(laptop)

    response = phone.get(reverse("contacts:contact_list"), follow=True)
    assert response.redirect_chain[-1][0].startswith(reverse("login"))
    assert "Your session was ended. Please sign in again." in response.content.decode()
    assert not signed_in(phone)
    assert bystander.get(reverse("contacts:contact_list")).status_code == 200  # other users are untouched

    # and they can sign in again, fresh sessions work
    assert sign_in(phone, "mia", GOOD).status_code == 302
    assert phone.get(reverse("contacts:contact_list")).status_code == 200


def test_log_out_everywhere_is_a_post_in_the_user_menu(marketer_client):
    page = marketer_client.get(reverse("contacts:contact_list")).content.decode()
    assert f'action="{reverse("account:logout_everywhere")}"' in page and "Log out everywhere" in page
    assert 'data-confirm="This ends your sessions on every device' in page
    assert marketer_client.get(reverse("account:logout_everywhere")).status_code == 405
    assert signed_in(marketer_client)


def test_changing_the_password_ends_the_other_sessions_but_not_this_one():
    laptop, phone = two_devices()
    response = laptop.post(
        reverse("account:password_change"),
        {
            "old_password": GOOD,
            "new_password1": "violet-harbour-lantern-42",
            "new_password2": "violet-harbour-lantern-42",
        },
    )
    assert response.status_code == 302
    assert laptop.get(reverse("contacts:contact_list")).status_code == 200
    assert phone.get(reverse("contacts:contact_list")).status_code == 302


def test_deactivation_ends_the_users_sessions(admin_user):
    laptop, phone = two_devices()
    from django.contrib.auth.models import User

    services.user_deactivate(user=User.objects.get(username="mia"), actor=admin_user)
    assert laptop.get(reverse("contacts:contact_list")).status_code == 302
    assert phone.get(reverse("contacts:contact_list")).status_code == 302
    response = sign_in(phone, "mia", GOOD)
    assert response.status_code == 200 and "Please enter a correct username" in response.content.decode()
    assert phone.get(reverse("contacts:contact_list")).status_code == 302


def test_the_session_expiry_slides_but_is_written_at_most_every_few_minutes(marketer_client, settings):
    url = reverse("contacts:contact_list")
    marketer_client.get(url)
    key = marketer_client.session.session_key
    first_expiry = Session.objects.get(session_key=key).expire_date
    stamp = marketer_client.session[REFRESHED_KEY]
    assert abs(stamp - time.time()) < 60

    marketer_client.get(url)  # within the refresh interval: not written again
    assert marketer_client.session[REFRESHED_KEY] == stamp
    assert Session.objects.get(session_key=key).expire_date == first_expiry

    session = marketer_client.session  # pretend the last refresh was long ago
    session[REFRESHED_KEY] = stamp - settings.SESSION_REFRESH_SECONDS - 1
    session.save()
    marketer_client.get(url)
    assert marketer_client.session[REFRESHED_KEY] >= stamp
    assert Session.objects.get(session_key=key).expire_date > first_expiry


def test_session_settings_come_from_the_environment(monkeypatch):
    import importlib

    import config.settings as module

    monkeypatch.setenv("SESSION_COOKIE_AGE", "3600")
    monkeypatch.setenv("AXES_FAILURE_LIMIT", "3")
    monkeypatch.setenv("AXES_COOLOFF_MINUTES", "30")
    monkeypatch.setenv("PASSWORD_MIN_LENGTH", "14")
    try:
        reloaded = importlib.reload(module)
        assert reloaded.SESSION_COOKIE_AGE == 3600 and reloaded.SESSION_REFRESH_SECONDS == 300
        assert reloaded.AXES_FAILURE_LIMIT == 3
        assert reloaded.AXES_COOLOFF_TIME.total_seconds() == 1800
        lengths = [v.get("OPTIONS", {}).get("min_length") for v in reloaded.AUTH_PASSWORD_VALIDATORS]
        assert 14 in lengths
    finally:
        monkeypatch.undo()
        importlib.reload(module)
