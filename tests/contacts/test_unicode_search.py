"""Searches fold the case of every letter, accented ones included, on SQLite as on PostgreSQL."""

import pytest
from django.urls import reverse

from contacts.models import Contact
from contacts.sqlite import unicode_like
from segments.models import Membership
from tests.factories import ContactFactory, ContactGroupFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def people():
    return {
        "cerny": ContactFactory(first_name="Petr", last_name="Černý", email="petr@example.com"),
        "novak": ContactFactory(first_name="Jana", last_name="Novák", email="jana@example.com"),
        "other": ContactFactory(first_name="Leon", last_name="Bauer", email="leon@example.com"),
    }


@pytest.mark.parametrize(
    ("typed", "who"), [("černý", "cerny"), ("ČERNÝ", "cerny"), ("NOVÁK", "novak"), ("novák", "novak")]
)
def test_contact_list_search_ignores_the_case_of_accented_letters(marketer_client, people, typed, who):
    page = marketer_client.get(reverse("contacts:contact_list"), {"q": typed}).content.decode()
    assert people[who].last_name in page and "Bauer" not in page


def test_orm_lookups_fold_unicode_case(people):
    assert set(Contact.objects.filter(last_name__icontains="čer").values_list("pk", flat=True)) == {people["cerny"].pk}
    assert Contact.objects.filter(last_name__iexact="ČERNÝ").count() == 1
    assert Contact.objects.filter(last_name__istartswith="nov").count() == 1
    assert Contact.objects.filter(email__icontains="%").count() == 0  # wildcards in the text are literal


def test_member_search_ignores_the_case_of_accented_letters(marketer_client, people):
    group = ContactGroupFactory()
    for contact in people.values():
        Membership.objects.create(group=group, contact=contact, via_manual=True)
    page = marketer_client.get(reverse("segments:group_detail", args=[group.pk]), {"q": "černý"}).content.decode()
    assert "Černý" in page and "Bauer" not in page


@pytest.mark.parametrize(
    ("pattern", "value", "escape", "matches"),
    [
        ("%čer%", "Černý", None, True),
        ("n_v%", "NOVÁK", None, True),
        ("100\\%", "100%", "\\", True),
        ("100\\%", "1000", "\\", False),
        ("a\\_b", "axb", "\\", False),
        ("a\\_b", "a_b", "\\", True),
        ("%", None, None, None),
    ],
)
def test_unicode_like_follows_sqlite_like(pattern, value, escape, matches):
    assert unicode_like(pattern, value, escape) is matches
