import pytest


@pytest.fixture
def axes_on(settings):
    """django-axes as in production (tests/conftest.py turns it off elsewhere)."""
    settings.AXES_ENABLED = True
    settings.AXES_FAILURE_LIMIT = 5


def sign_in(client, username: str, password: str):
    """Post the sign-in form (as a browser does: axes sees the request)."""
    return client.post("/login/", {"username": username, "password": password})


def signed_in(client) -> bool:
    return "_auth_user_id" in client.session
