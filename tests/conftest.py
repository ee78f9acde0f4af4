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


@pytest.fixture(autouse=True)
def previews_counted_afresh(settings):
    """Each preview counts the data as the test left it (tests/segments/test_preview_shared.py shares them)."""
    settings.PREVIEW_CACHE_SECONDS = 0


@pytest.fixture(autouse=True)
def background_notice_settled():
    """Pages start with the "background work is delayed" notice known to be off (health.notice asks the broker and
    the worker's heartbeat at most every 15 s per process): a test's query counts do not depend on when it ran.
    tests/test_background_work.py asks for real."""
    from health.notice import notice

    notice.remember("")
    yield
    notice.remember("")


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


def roles_restore() -> None:
    """Grant the roles their permissions again, as the apps' data migrations did: a transactional test's flush
    at its end empties the auth tables, so a later transactional test must restore them (this re-runs every
    migration step that calls contacts.roles.grant_permissions, so new apps' grants are included)."""
    from django.apps import apps as registry
    from django.db import migrations
    from django.db.migrations.loader import MigrationLoader

    project = {config.label for config in registry.get_app_configs() if not config.name.startswith("django.")}
    for (app_label, _name), migration in sorted(
        MigrationLoader(None, ignore_no_migrations=True).disk_migrations.items()
    ):
        if app_label not in project:
            continue
        for operation in migration.operations:
            if isinstance(operation, migrations.RunPython) and "grant_permissions" in operation.code.__code__.co_names:
                operation.code(registry, None)


@pytest.fixture
def roles(transactional_db):
    """The roles with their permissions, in a transactional test (see roles_restore)."""
    roles_restore()
