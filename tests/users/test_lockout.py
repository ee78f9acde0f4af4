"""Failed-sign-in throttling (django-axes): per username + address, the reason on the sign-in page, unlock."""

from __future__ import annotations

import pytest
from django.urls import reverse

from contacts.roles import Role
from tests.conftest import make_user
from tests.users.conftest import sign_in, signed_in

pytestmark = pytest.mark.django_db
GOOD = "secret-pass-123"


def fail_times(client, username: str, n: int) -> list:
    return [sign_in(client, username, "wrong-password") for _ in range(n)]


def test_the_sixth_attempt_is_refused_with_the_reason_even_with_the_right_password(client, axes_on):
    make_user(Role.MARKETER, username="mia")
    responses = fail_times(client, "mia", 5)
    assert all(r.status_code == 200 for r in responses[:4])  # the form's usual error
    assert "Please enter a correct username and password" in responses[0].content.decode()
    locked = sign_in(client, "mia", GOOD)
    page = locked.content.decode()
    assert locked.status_code == 429
    assert "Too many failed attempts; try again in 15 minutes." in page
    assert 'name="username"' in page and "Sign in to Segments" in page  # the sign-in page, not a bare 403
    assert not signed_in(client)


def test_the_message_follows_the_cool_off_setting(client, axes_on, settings):
    import datetime as dt

    settings.AXES_COOLOFF_TIME = dt.timedelta(hours=1)
    make_user(Role.MARKETER, username="mia")
    response = fail_times(client, "mia", 5)[-1]
    assert "Too many failed attempts; try again in 1 hour." in response.content.decode()


def test_fewer_failures_do_not_lock_and_a_success_forgets_them(client, axes_on):
    make_user(Role.MARKETER, username="mia")
    fail_times(client, "mia", 4)
    assert sign_in(client, "mia", GOOD).status_code == 302 and signed_in(client)
    client.logout()
    fail_times(client, "mia", 4)  # counting starts again after the success
    assert sign_in(client, "mia", GOOD).status_code == 302


def test_the_lockout_is_per_username_and_address(client, axes_on):
    make_user(Role.MARKETER, username="mia")
    make_user(Role.STAFF, username="sam")
    fail_times(client, "mia", 5)
    assert sign_in(client, "sam", GOOD).status_code == 302  # another username from the same address
    client.logout()
    response = client.post("/login/", {"username": "mia", "password": GOOD}, REMOTE_ADDR="10.0.0.7")
    assert response.status_code == 302  # the same username from another address


def test_an_admin_sees_the_lockout_and_unlocks_the_user(client, axes_on):
    admin = make_user(Role.ADMIN, username="ada")
    mia = make_user(Role.MARKETER, username="mia")
    fail_times(client, "mia", 5)
    fail_times(client, "ghost", 5)  # a name nobody has

    client.force_login(admin)
    page = client.get(reverse("users:user_list")).content.decode()
    assert 'data-locked-username="mia"' in page and 'data-locked-username="ghost"' in page
    assert "Locked out" in page
    detail = client.get(reverse("users:user_detail", args=[mia.pk])).content.decode()
    assert "Locked out after too many failed sign-ins" in detail

    response = client.post(reverse("users:user_detail", args=[mia.pk]), {"action": "unlock"})
    assert response.status_code == 302
    page = client.get(reverse("users:user_list")).content.decode()
    assert 'data-locked-username="mia"' not in page and 'data-locked-username="ghost"' in page
    client.post(reverse("users:lockout_unlock"), {"username": "ghost"})
    assert "locked-sign-ins" not in client.get(reverse("users:user_list")).content.decode()

    client.logout()
    assert sign_in(client, "mia", GOOD).status_code == 302 and signed_in(client)


def test_unlocking_without_a_username_changes_nothing(admin_client_role, axes_on):
    from axes.models import AccessAttempt
    from django.test import Client

    fail_times(Client(), "mia", 5)
    before = AccessAttempt.objects.count()
    response = admin_client_role.post(reverse("users:lockout_unlock"), {"username": "  "}, follow=True)
    assert "Which username should be unlocked?" in response.content.decode()
    assert AccessAttempt.objects.count() == before > 0


def test_the_test_clients_login_works_with_axes_off(client):
    """The rest of the suite runs with AXES_ENABLED off, where Django's client.login() needs no request."""
    make_user(Role.MARKETER, username="mia")
    assert client.login(username="mia", password=GOOD)


def test_with_axes_on_the_test_clients_login_needs_a_request(client, axes_on):
    """Axes refuses an authenticate() without a request; client.login(request=HttpRequest(), …) passes one."""
    from axes.exceptions import AxesBackendRequestParameterRequired
    from django.http import HttpRequest

    make_user(Role.MARKETER, username="mia")
    with pytest.raises(AxesBackendRequestParameterRequired):
        client.login(username="mia", password=GOOD)
    request = HttpRequest()
    request.META["REMOTE_ADDR"] = "127.0.0.1"
    assert client.login(request=request, username="mia", password=GOOD)
    assert signed_in(client)
