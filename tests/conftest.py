import os

import pytest
from django.contrib.auth.models import Group

from contacts.roles import Role
from tests.factories import UserFactory

# Playwright's sync API runs an event loop in the test thread; Django's live_server needs this.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


@pytest.fixture(autouse=True)
def fast_password_hasher(settings):
    """Users are created per test: a fast hasher keeps the suite quick (password security is not under test)."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def axes_off(settings):
    """Failed-login throttling (django-axes) stays out of tests that are not about it (tests/users turn it on):
    it would count every sign-in, and Django's client.login() passes no request, which axes requires."""
    settings.AXES_ENABLED = False


def make_user(role: Role | None, username: str | None = None, **kwargs):
    user = UserFactory(username=username or f"{(role or 'nobody').lower()}_user", **kwargs)
    if role is not None:
        user.groups.add(Group.objects.get(name=role.value))
    return user


@pytest.fixture
def marketer(db):
    return make_user(Role.MARKETER)


@pytest.fixture
def admin_user(db):
    return make_user(Role.ADMIN)


@pytest.fixture
def staff_user(db):
    return make_user(Role.STAFF)


@pytest.fixture
def marketer_client(client, marketer):
    client.force_login(marketer)
    return client


@pytest.fixture
def admin_client_role(client, admin_user):
    """A client signed in as a user with the Admin role (not a Django superuser)."""
    client.force_login(admin_user)
    return client


@pytest.fixture
def staff_client(client, staff_user):
    client.force_login(staff_user)
    return client
