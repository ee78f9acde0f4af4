"""Every API endpoint × method × role: the pages' permissions (each view's `permission_map`), by token.

A role holding the permissions gets an answer (never 401/403, never 5xx); one lacking them gets 403;
no token 401; a read-only token 403 on every write. The table at the end pins what a reader expects.
"""

from __future__ import annotations

import pytest
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from api.models import TokenScope
from api.permissions import required_permissions
from contacts.roles import Role
from tests.api.conftest import Api, api_for
from tests.factories import AccountFactory, ContactFactory, ContactGroupFactory, MembershipFactory

pytestmark = pytest.mark.django_db
ROLES = [Role.MARKETER, Role.ADMIN, Role.STAFF]
METHODS = ("GET", "POST", "PATCH", "DELETE")


def api_patterns() -> list[tuple[str, URLPattern]]:
    def walk(patterns, namespace):
        for p in patterns:
            if isinstance(p, URLResolver):
                yield from walk(p.url_patterns, p.namespace or namespace)
            elif namespace == "api" and p.name and p.name.split("_")[0] not in ("schema", "docs", "redoc"):
                yield f"api:{p.name}", p

    return sorted(walk(get_resolver().url_patterns, None), key=lambda item: item[0])


def endpoints() -> list[tuple[str, str]]:
    """(url name, method) for every method every API view maps to permissions."""
    result = []
    for name, pattern in api_patterns():
        view = pattern.callback.view_class
        assert view.permission_map, f"{name}: every API view declares permission_map"
        result += [(name, method) for method in METHODS if method in view.permission_map]
    return result


def call(api: Api, name: str, method: str):
    contact = ContactFactory()
    group = ContactGroupFactory(code="g")
    MembershipFactory(group=group, contact=contact)
    account = AccountFactory()
    kwargs = {}
    pattern = dict(api_patterns())[name].pattern
    for key in pattern.regex.groupindex:
        kwargs[key] = {"pk": contact.pk if "contact" in name else account.pk, "code": "g", "contact_id": contact.pk}[
            key
        ]
    url = reverse(name, kwargs=kwargs)
    body = {"ids": [contact.pk]} if name.endswith(("members", "accounts", "remove")) else {}
    if name == "api:preview":
        body = {"version": 1, "root": {"type": "field", "field": "country", "operator": "equals", "value": "CZ"}}
    if method == "GET":
        return api.get(url)
    if method == "DELETE":
        return api.delete(url)
    return getattr(api, method.lower())(url, body)


@pytest.mark.parametrize("role", ROLES, ids=lambda r: r.value)
def test_every_endpoint_for_every_role(client, role):
    api = api_for(client, role)
    user = api_user(role)
    failures = []
    for name, method in endpoints():
        view = dict(api_patterns())[name].callback.view_class
        perms = required_permissions(view, method)
        status = call(api, name, method).status_code
        ok = status not in (401, 403) and status < 500 if user.has_perms(perms) else status == 403
        if not ok:
            failures.append(f"{method} {name} as {role}: {status}, needs {perms}")
    assert not failures, "\n".join(failures)


def api_user(role):
    from django.contrib.auth import get_user_model

    return get_user_model().objects.get(username=f"api_{role.value.lower()}_{TokenScope.WRITE}")


def test_every_endpoint_needs_a_token(client):
    failures = [
        f"{method} {name}: {response.status_code}"
        for name, method in endpoints()
        if (response := call(Api(client, None), name, method)).status_code != 401
        or response.json()["error"]["code"] != "not_authenticated"
    ]
    assert not failures


def test_a_read_only_token_is_refused_every_write(client):
    api = api_for(client, Role.ADMIN, scope=TokenScope.READ)
    for name, method in endpoints():
        response = call(api, name, method)
        if method == "GET" or name == "api:preview":
            assert response.status_code < 400, (name, method, response.status_code)
        else:
            assert response.status_code == 403, (name, method)
            assert response.json()["error"]["code"] == "read_only_token"


# (url name, method): (Marketer, Admin, Staff) — allowed or not, pinned by hand.
MATRIX = {
    ("api:contact_list", "GET"): (True, True, True),
    ("api:contact_list", "POST"): (True, True, True),
    ("api:contact_detail", "DELETE"): (True, True, False),
    ("api:account_detail", "DELETE"): (True, True, False),
    ("api:group_list", "GET"): (True, True, True),
    ("api:group_list", "POST"): (True, True, False),
    ("api:group_detail", "PATCH"): (True, True, False),
    ("api:group_detail", "DELETE"): (True, True, False),
    ("api:group_rebuild", "POST"): (True, True, False),
    ("api:group_members", "POST"): (True, True, True),
    ("api:preview", "POST"): (True, True, False),
    ("api:activity_create", "POST"): (True, True, False),
    ("api:activity_batch", "POST"): (True, True, False),
    ("api:contact_bulk", "POST"): (True, True, True),
    ("api:account_upsert", "POST"): (True, True, True),
    ("api:account_bulk", "POST"): (True, True, True),
}


@pytest.mark.parametrize("endpoint", sorted(MATRIX), ids=lambda e: f"{e[1]} {e[0]}")
def test_role_matrix(client, endpoint):
    name, method = endpoint
    for role, allowed in zip(ROLES, MATRIX[endpoint], strict=True):
        status = call(api_for(client, role, username=f"m_{role.value}"), name, method).status_code
        assert (status != 403) is allowed and status < 500, (role, status)
