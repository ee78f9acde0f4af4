"""Small things a new user tripped over: avatar initials of odd names, the favicon, one red box per error."""

from pathlib import Path
from types import SimpleNamespace

import pytest
from django.contrib.staticfiles import finders
from django.urls import reverse

from contacts.forms import NO_IDENTITY_MESSAGE
from contacts.templatetags.contacts_tags import initials

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("first", "last", "email", "expected"),
    [
        ("<script>", "<b>Smith", None, "SB"),
        ("<<", "", "", "?"),
        ("", "", "<x>@example.com", "X"),
        ("Ada", "Lovelace", "ada@example.com", "AL"),
        ("Čeněk", "", None, "Č"),
        ("", "", None, "?"),
    ],
)
def test_initials_are_letters_or_digits_only(first, last, email, expected):
    assert initials(SimpleNamespace(first_name=first, last_name=last, email=email)) == expected


def test_initials_of_an_account_name():
    assert initials(SimpleNamespace(name="<Acme> Corp")) == "AC"


def test_favicon_ico_is_served(client):
    response = client.get("/favicon.ico")
    assert response.status_code == 302
    assert response.url.split("?")[0].rsplit("/", 1)[-1].startswith("favicon")
    path = finders.find("img/favicon.ico")
    assert path and Path(path).read_bytes()[:4] == b"\x00\x00\x01\x00"  # an ICO file, served from our static files


@pytest.mark.parametrize("url_name", ["contacts:contact_create"])
def test_the_no_identity_message_appears_once(marketer_client, url_name):
    response = marketer_client.post(reverse(url_name), {"first_name": "", "last_name": "", "email": "", "phone": ""})
    body = response.content.decode()
    assert response.status_code == 200
    assert body.count(NO_IDENTITY_MESSAGE) == 1
    assert body.count("alert-danger") == 1
