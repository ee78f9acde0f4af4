"""API tokens: created on the page (shown once, only a hash stored), scoped, revoked; Admins manage everyone's."""

from __future__ import annotations

import hashlib

import pytest
from django.urls import reverse

from api.models import ApiToken, TokenScope
from api.tokens import token_create, token_find
from contacts.roles import Role
from tests.api.conftest import Api
from tests.conftest import make_user
from tests.factories import ContactFactory

pytestmark = pytest.mark.django_db
TOKENS = "/account/api-tokens/"


def test_a_token_created_on_the_page_is_shown_once_and_only_its_hash_is_stored(marketer_client, marketer):
    response = marketer_client.post(TOKENS, {"name": "CRM sync", "scope": "write"})
    assert response.status_code == 200 and response["Cache-Control"] == "no-store"
    text = response.context["new_token_text"]
    assert text.startswith("seg_") and text in response.content.decode()
    token = ApiToken.objects.get(user=marketer)
    assert (token.name, token.scope) == ("CRM sync", TokenScope.WRITE)
    secret = text.split(".", 1)[1]
    assert token.secret_hash == hashlib.sha256(secret.encode()).hexdigest()
    assert secret not in str(ApiToken.objects.filter(pk=token.pk).values().get())
    # Shown once: the page shows only its start afterwards.
    page = marketer_client.get(TOKENS).content.decode()
    assert "CRM sync" in page and f"seg_{token.prefix}" in page and secret not in page


def test_the_page_refuses_a_nameless_token(marketer_client):
    response = marketer_client.post(TOKENS, {"name": "", "scope": "read"})
    assert response.status_code == 200 and response.context["form"].errors["name"]
    assert not ApiToken.objects.exists()


def test_the_user_menu_links_to_the_tokens_page(marketer_client):
    assert f'href="{TOKENS}"' in marketer_client.get(reverse("contacts:contact_list")).content.decode()


def test_a_token_authenticates_and_records_its_last_use(client, marketer):
    token, text = token_create(user=marketer, name="t", scope="read")
    assert Api(client, text).get("/api/v1/contacts/").status_code == 200
    token.refresh_from_db()
    assert token.last_used_at is not None


@pytest.mark.parametrize(
    "header",
    ["Bearer seg_nothing.here", "Bearer wrong", "Bearer", "Bearer a b", "Token abc"],
)
def test_a_bad_or_missing_token_is_401_in_the_error_shape(client, header):
    response = client.get("/api/v1/contacts/", HTTP_AUTHORIZATION=header)
    assert response.status_code == 401
    assert set(response.json()["error"]) >= {"code", "message", "path"}
    assert response["WWW-Authenticate"] == "Bearer"


def test_no_credentials_is_401_not_a_login_redirect(client):
    response = client.get("/api/v1/contacts/")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"


def test_a_right_prefix_with_a_wrong_secret_is_refused(client, marketer):
    token, text = token_create(user=marketer, name="t", scope="write")
    forged = text[: text.index(".") + 1] + "x" * 43
    assert token_find(text=forged) is None
    assert Api(client, forged).get("/api/v1/contacts/").status_code == 401


def test_a_revoked_token_stops_working_at_once(client, marketer):
    token, text = token_create(user=marketer, name="t", scope="write")
    api = Api(client, text)
    assert api.get("/api/v1/contacts/").status_code == 200
    client.force_login(marketer)
    response = client.post(reverse("tokens:token_revoke", args=[token.pk]))
    assert response.status_code == 302
    client.logout()
    token.refresh_from_db()
    assert token.revoked_at is not None
    response = api.get("/api/v1/contacts/")
    assert response.status_code == 401 and response.json()["error"]["code"] == "authentication_failed"


def test_the_revoke_button_asks_in_the_page_not_with_a_native_dialog(marketer_client, marketer):
    token_create(user=marketer, name="t", scope="read")
    page = marketer_client.get(TOKENS).content.decode()
    assert "data-confirm=" in page and "confirm(" not in page


def test_a_read_only_token_reads_but_cannot_write(client, marketer):
    _, text = token_create(user=marketer, name="ro", scope="read")
    api = Api(client, text)
    contact = ContactFactory()
    assert api.get(f"/api/v1/contacts/{contact.pk}/").status_code == 200
    for response in (
        api.post("/api/v1/contacts/", {"email": "new@example.com"}),
        api.patch(f"/api/v1/contacts/{contact.pk}/", {"city": "Brno"}),
        api.delete(f"/api/v1/contacts/{contact.pk}/"),
        api.post("/api/v1/groups/", {"code": "g", "name": "G"}),
    ):
        assert response.status_code == 403
        assert response.json()["error"]["code"] == "read_only_token"
    contact.refresh_from_db()
    assert contact.city != "Brno"
    # The preview is a POST that only reads: a read-only token may use it.
    tree = {"version": 1, "root": {"type": "field", "field": "country", "operator": "equals", "value": "CZ"}}
    assert api.post("/api/v1/preview/", tree).status_code == 200


def test_users_see_and_revoke_only_their_own_tokens_admins_everyone(client):
    alice = make_user(Role.MARKETER, username="alice")
    bob = make_user(Role.STAFF, username="bob")
    boss = make_user(Role.ADMIN, username="boss")
    alices, _ = token_create(user=alice, name="alice-token", scope="read")
    bobs, _ = token_create(user=bob, name="bob-token", scope="read")

    client.force_login(bob)
    page = client.get(TOKENS).content.decode()
    assert "bob-token" in page and "alice-token" not in page
    assert client.post(reverse("tokens:token_revoke", args=[alices.pk])).status_code == 404
    alices.refresh_from_db()
    assert alices.revoked_at is None

    client.force_login(boss)
    page = client.get(TOKENS).content.decode()
    assert "bob-token" in page and "alice-token" in page
    assert client.post(reverse("tokens:token_revoke", args=[alices.pk])).status_code == 302
    alices.refresh_from_db()
    bobs.refresh_from_db()
    assert alices.revoked_at is not None and bobs.revoked_at is None


def test_a_token_of_a_deactivated_user_is_refused(client, marketer):
    _, text = token_create(user=marketer, name="t", scope="read")
    marketer.is_active = False
    marketer.save()
    assert Api(client, text).get("/api/v1/contacts/").status_code == 401


def test_session_auth_works_for_the_api_and_the_docs(marketer_client):
    assert marketer_client.get("/api/v1/contacts/").status_code == 200
    docs = marketer_client.get("/api/docs/")
    assert docs.status_code == 200
    html = docs.content.decode()
    # Swagger UI from the sidecar (served by this site), never a CDN.
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/" in html
    assert "cdn" not in html.lower() and "unpkg" not in html.lower()
    schema = marketer_client.get("/api/schema/?format=json")
    assert schema.status_code == 200 and "tokenAuth" in schema.json()["components"]["securitySchemes"]


def test_a_session_write_needs_the_csrf_token(client, marketer):
    from django.test import Client

    csrf_client = Client(enforce_csrf_checks=True)
    csrf_client.force_login(marketer)
    response = csrf_client.post("/api/v1/contacts/", {"email": "x@example.com"}, content_type="application/json")
    assert response.status_code == 403 and "CSRF" in response.json()["error"]["message"]


def test_the_docs_need_a_login(client):
    response = client.get("/api/docs/")
    assert response.status_code == 302 and "/login/" in response.url
    assert client.get("/api/schema/").status_code == 401
