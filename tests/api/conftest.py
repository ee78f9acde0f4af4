import pytest
from django.core.cache import cache

from api.models import TokenScope
from api.tokens import token_create
from contacts.roles import Role
from tests.conftest import make_user


@pytest.fixture(autouse=True)
def fresh_throttle():
    """The rate limit counts in the cache: every test starts with none used."""
    cache.clear()
    yield
    cache.clear()


class Api:
    """A test client that sends a token and JSON."""

    def __init__(self, client, token: str | None):
        self.client = client
        self.headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"} if token else {}

    def get(self, url, data=None, **extra):
        return self.client.get(url, data, **self.headers, **extra)

    def delete(self, url, **extra):
        return self.client.delete(url, **self.headers, **extra)

    def _send(self, method, url, body, raw):
        data = raw if raw is not None else body
        kwargs = {"content_type": "application/json"}
        return getattr(self.client, method)(url, data, **kwargs, **self.headers)

    def post(self, url, body=None, *, raw=None):
        return self._send("post", url, body if body is not None else {}, raw)

    def patch(self, url, body=None, *, raw=None):
        return self._send("patch", url, body if body is not None else {}, raw)


def api_for(client, role, scope=TokenScope.WRITE, username=None):
    user = make_user(role, username=username or f"api_{role.value.lower()}_{scope}")
    _, text = token_create(user=user, name="test", scope=scope)
    return Api(client, text)


@pytest.fixture
def api_factory(client, db):
    return lambda role=Role.ADMIN, scope=TokenScope.WRITE, username=None: api_for(client, role, scope, username)


@pytest.fixture
def admin_api(api_factory):
    return api_factory(Role.ADMIN)


@pytest.fixture
def marketer_api(api_factory):
    return api_factory(Role.MARKETER)


@pytest.fixture
def staff_api(api_factory):
    return api_factory(Role.STAFF)
