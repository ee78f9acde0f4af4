"""Walks every URL of the product for every role and checks the status code.

Each view declares the permissions it needs (PermissionRequiredMixin.permission_required, or the
`required_permissions` attribute of a function view); this test resolves every URL pattern with real
objects, requests it as each role and asserts: anonymous → redirect to login, a role lacking a
permission → 403, a role holding them → a page (never 403, never 5xx). The explicit table at the end
pins the role matrix a reader would expect, so a wrong permission on a view cannot pass unnoticed.
"""

from __future__ import annotations

import pytest
from django.contrib.auth.models import AnonymousUser
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from audit.services import audit_record
from campaigns.models import CampaignGroup, GroupRole
from contacts.roles import Role
from tests.conftest import make_user
from tests.factories import (
    AccountFactory,
    ActivityFactory,
    CampaignFactory,
    ConsentFactory,
    ContactFactory,
    ContactFieldFactory,
    ContactGroupFactory,
    MembershipFactory,
)
from transfers.models import ImportJob
from webhooks.models import Delivery, Endpoint

pytestmark = pytest.mark.django_db
PRODUCT_NAMESPACES = {
    "contacts", "fields", "segments", "campaigns", "transfers", "users", "tokens", "webhooks", "audit"
}  # fmt: skip
ROLES = [None, Role.MARKETER, Role.ADMIN, Role.STAFF]


def product_patterns():
    """(namespace:name, pattern) for every named URL in the product's namespaces."""

    def walk(patterns, namespace):
        for p in patterns:
            if isinstance(p, URLResolver):
                yield from walk(p.url_patterns, p.namespace or namespace)
            elif isinstance(p, URLPattern) and p.name and namespace in PRODUCT_NAMESPACES:
                yield f"{namespace}:{p.name}", p

    return sorted(walk(get_resolver().url_patterns, None), key=lambda item: item[0])


def required_permissions(pattern: URLPattern) -> tuple[str, ...]:
    view_class = getattr(pattern.callback, "view_class", None)
    perms = getattr(view_class, "permission_required", None) or getattr(pattern.callback, "required_permissions", None)
    assert perms, f"{pattern.name}: every product view must declare the permissions it needs"
    return (perms,) if isinstance(perms, str) else tuple(perms)


def make_objects() -> dict:
    """One of each kind of object a product URL names (the walk below, and tests/browser/test_csp.py)."""
    account = AccountFactory()
    contact = ContactFactory(account=account)
    other = ContactFactory()
    group = ContactGroupFactory()
    MembershipFactory(group=group, contact=contact)
    endpoint = Endpoint.objects.create(url="https://hooks.example.com/in", events=["entered"])
    campaign = CampaignFactory(body="<p>Hello</p>")
    CampaignGroup.objects.create(campaign=campaign, group=group, role=GroupRole.INCLUDE)  # the contact is previewed
    return {
        "auditentry": audit_record(action="group.created", label="VIP"),
        "endpoint": endpoint,
        "delivery": Delivery.objects.create(
            endpoint=endpoint, first_event_id=1, last_event_id=1, event_count=1, payload={}
        ),
        "contact": contact,
        "other": other,
        "account": account,
        "field": ContactFieldFactory(code="plan_walk", type="text"),
        "group": group,
        "campaign": campaign,
        "consent": ConsentFactory(code="newsletter"),
        "activity": ActivityFactory(contact=contact),
        "user": make_user(None, username="someone_else"),
        "importjob": ImportJob.objects.create(
            file_name="people.csv", data=b"Email\na@x.cz\n", header=["Email"], mapping=["email"]
        ),
    }


@pytest.fixture
def objects():
    return make_objects()


def url_for(name: str, pattern: URLPattern, objects) -> str:
    kwargs = {}
    for key in pattern.pattern.regex.groupindex:
        if key in ("contact_pk", "contact_id"):
            kwargs[key] = objects["contact"].pk
        elif key == "pk":
            model = getattr(getattr(pattern.callback, "view_class", None), "model", None)
            kind = model._meta.model_name if model is not None else "contact"
            obj = {
                "account": objects["account"],
                "contactfield": objects["field"],
                "contactgroup": objects["group"],
                "campaign": objects["campaign"],
                "importjob": objects["importjob"],
                "user": objects["user"],
                "endpoint": objects["endpoint"],
                "auditentry": objects["auditentry"],
            }.get(kind, objects["contact"])
            kwargs[key] = obj.pk
        elif key == "delivery_pk":
            kwargs[key] = objects["delivery"].pk
        elif key in ("other_pk", "child_pk"):
            kwargs[key] = objects["other"].pk
        elif "account" in key:
            kwargs[key] = objects["account"].pk
        elif "group" in key:
            kwargs[key] = objects["group"].pk
        elif "field" in key:
            kwargs[key] = objects["field"].pk
        elif "consent" in key:
            kwargs[key] = objects["consent"].pk
        elif "activity" in key:
            kwargs[key] = objects["activity"].pk
        elif key == "code":
            kwargs[key] = objects["field"].code
        elif key == "kind":  # the last rebuild's added / removed contacts
            kwargs[key] = "added"
        else:
            raise AssertionError(f"{name}: add a value for URL parameter {key!r} to this test")
    return reverse(name, kwargs=kwargs)


@pytest.mark.parametrize("role", ROLES, ids=lambda r: r.value if r else "anonymous")
def test_every_url_for_every_role(client, objects, role):
    user = make_user(role) if role else AnonymousUser()
    if role is not None:
        client.force_login(user)
    failures = []
    for name, pattern in product_patterns():
        url = url_for(name, pattern, objects)
        status = client.get(url).status_code
        perms = required_permissions(pattern)
        if role is None:
            expected_ok = status == 302
        elif user.has_perms(perms):
            expected_ok = status not in (403, 404) and status < 500
        else:
            expected_ok = status == 403
        if not expected_ok:
            failures.append(f"{name} ({url}) as {role or 'anonymous'}: {status}, needs {perms}")
    assert not failures, "\n".join(failures)


# The role matrix for the main pages, pinned by hand.
MATRIX = {
    # url name: (Marketer, Admin, Staff)
    "contacts:contact_list": (200, 200, 200),
    "contacts:account_list": (200, 200, 200),
    "fields:field_list": (403, 200, 403),
    "segments:group_list": (200, 200, 200),
    "transfers:import_list": (200, 200, 200),
    "campaigns:campaign_list": (200, 200, 403),
    "campaigns:campaign_create": (200, 200, 403),
    "transfers:import_upload": (200, 200, 200),
    "transfers:import_upload_accounts": (200, 200, 200),  # every role may add and change accounts
    "users:user_list": (403, 200, 403),
    "users:user_invite": (403, 200, 403),
    "webhooks:endpoint_list": (403, 200, 403),
    "webhooks:endpoint_create": (403, 200, 403),
    "audit:entry_list": (403, 200, 403),
    "audit:entry_export": (403, 200, 403),
}


@pytest.mark.parametrize("name", sorted(MATRIX))
def test_role_matrix(client, name):
    for role, expected in zip([Role.MARKETER, Role.ADMIN, Role.STAFF], MATRIX[name], strict=True):
        client.force_login(make_user(role))
        assert client.get(reverse(name)).status_code == expected, (name, role)
    client.logout()
    response = client.get(reverse(name))
    assert response.status_code == 302 and response.url.startswith(reverse("login"))


@pytest.mark.django_db
def test_a_forbidden_page_explains_itself_inside_the_app(staff_client):
    response = staff_client.get(reverse("segments:group_create"))
    assert response.status_code == 403
    page = response.content.decode()
    assert "Not allowed" in page and "Your role does not allow" in page
    assert 'href="/groups/"' in page  # the app's navigation, not Django's bare page
    assert "staff_user" in page and "Staff" in page


@pytest.mark.django_db
def test_a_missing_page_is_a_friendly_404(marketer_client):
    response = marketer_client.get("/groups/999999/")
    assert response.status_code == 404
    assert "This page does not exist" in response.content.decode()
