"""Password rules: Django's four validators, at least 12 characters, explained on the set-password forms."""

from __future__ import annotations

import pytest
from django.contrib.auth.tokens import default_token_generator
from django.urls import reverse
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from contacts.roles import Role
from tests.conftest import make_user

pytestmark = pytest.mark.django_db


def set_password_url(client, user) -> str:
    """The invitation link, followed once (Django moves the token into the session)."""
    url = reverse(
        "account:password_set",
        kwargs={
            "uidb64": urlsafe_base64_encode(force_bytes(user.pk)),
            "token": default_token_generator.make_token(user),
        },
    )
    response = client.get(url)
    assert response.status_code == 302
    return response.url


@pytest.fixture
def invited(db):
    user = make_user(Role.MARKETER, username="new@example.com", email="new@example.com")
    user.set_unusable_password()
    user.save()
    return user


@pytest.mark.parametrize(
    ("password", "message"),
    [
        ("Tr0ub4dor&3", "This password is too short. It must contain at least 12 characters."),
        ("password1234", "This password is too common."),
        ("483920175620", "This password is entirely numeric."),
        ("new@example.com!", "The password is too similar to the"),
    ],
)
def test_weak_passwords_are_refused_on_the_set_password_form(client, invited, password, message):
    url = set_password_url(client, invited)
    response = client.post(url, {"new_password1": password, "new_password2": password})
    assert response.status_code == 200
    assert message in response.content.decode()
    invited.refresh_from_db()
    assert not invited.has_usable_password()


def test_the_set_password_form_explains_the_rules(client, invited):
    page = client.get(set_password_url(client, invited)).content.decode()
    assert "Your password must contain at least 12 characters." in page
    assert "can’t be a commonly used password" in page


def test_the_change_password_form_explains_and_enforces_the_rules(marketer_client, marketer):
    url = reverse("account:password_change")
    page = marketer_client.get(url).content.decode()
    assert "Your password must contain at least 12 characters." in page
    response = marketer_client.post(
        url, {"old_password": "secret-pass-123", "new_password1": "short-1", "new_password2": "short-1"}
    )
    assert "This password is too short" in response.content.decode()
    marketer.refresh_from_db()
    assert marketer.check_password("secret-pass-123")


@pytest.mark.parametrize("role", [Role.MARKETER, Role.ADMIN, Role.STAFF])
def test_every_role_has_its_own_password_page_and_anonymous_is_sent_to_sign_in(client, role):
    url = reverse("account:password_change")
    assert client.get(url).status_code == 302
    client.force_login(make_user(role))
    assert client.get(url).status_code == 200
