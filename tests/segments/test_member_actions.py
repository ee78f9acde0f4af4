"""The Members and Accounts tabs' actions: bad ids are refused with a message (never a 500), and every
action comes back to the view it was taken from (filter, search, sort, page)."""

from urllib.parse import parse_qs, urlsplit

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from segments.models import GroupAccount, Membership
from tests.factories import AccountFactory, ContactFactory, ContactGroupFactory, MembershipFactory

pytestmark = pytest.mark.django_db

HUGE = "99999999999999999999"


@pytest.mark.parametrize(
    ("url_name", "data"),
    [
        ("segments:group_members_add", {"contacts": [HUGE]}),
        ("segments:group_members_add", {"contacts": ["-1"]}),
        ("segments:group_members_add", {"contacts": ["12abc"]}),
        ("segments:group_members_remove", {"selected": [HUGE]}),
        ("segments:group_members_remove", {"selected": ["1.5"]}),
        ("segments:group_accounts_add", {"accounts": [HUGE]}),
    ],
)
def test_huge_or_malformed_ids_are_refused_with_a_message(marketer_client, url_name, data):
    group = ContactGroupFactory()
    member = MembershipFactory(group=group, contact=ContactFactory(), via_manual=True)
    response = marketer_client.post(reverse(url_name, args=[group.pk]), data, follow=True)
    assert response.status_code == 200
    assert [m.level_tag for m in response.context["messages"]] == ["danger"]
    assert list(Membership.objects.filter(group=group)) == [member]
    assert not GroupAccount.objects.exists()


@pytest.mark.parametrize("url_name", ["segments:group_members_add", "segments:group_members_remove"])
def test_a_huge_id_beside_a_good_one_changes_nothing(marketer_client, url_name):
    group = ContactGroupFactory()
    contact = ContactFactory()
    field = "contacts" if url_name.endswith("add") else "selected"
    response = marketer_client.post(reverse(url_name, args=[group.pk]), {field: [str(contact.pk), HUGE]})
    assert response.status_code == 302
    assert not Membership.objects.filter(group=group).exists()


def test_huge_group_or_account_id_in_the_url_is_a_404(marketer_client):
    group = ContactGroupFactory()
    assert marketer_client.post(f"/groups/{HUGE}/members/add/", {"contacts": ["1"]}).status_code == 404
    assert marketer_client.post(f"/groups/{HUGE}/accounts/add/", {"accounts": ["1"]}).status_code == 404
    assert marketer_client.post(f"/groups/{group.pk}/accounts/{HUGE}/remove/").status_code == 404


def test_remove_selected_comes_back_to_the_same_filtered_sorted_page(marketer_client):
    group = ContactGroupFactory()
    contacts = [ContactFactory(first_name=f"Zed{i:02d}", last_name="Manual") for i in range(60)]
    for contact in contacts:
        MembershipFactory(group=group, contact=contact, via_manual=True)
    view = reverse("segments:group_detail", args=[group.pk]) + "?source=manual&q=zed&sort=-name&page=2"
    page = marketer_client.get(view)
    shown = [m.contact_id for m in page.context["object_list"]]
    assert shown and page.context["page_obj"].number == 2
    assert f'name="next" value="{view.replace("&", "&amp;")}"' in page.content.decode()
    response = marketer_client.post(
        reverse("segments:group_members_remove", args=[group.pk]), {"selected": shown[:1], "next": view}
    )
    assert response.status_code == 302 and response.url == view
    assert not Membership.objects.filter(group=group, contact_id=shown[0]).exists()
    query = parse_qs(urlsplit(response.url).query)
    assert query == {"source": ["manual"], "q": ["zed"], "sort": ["-name"], "page": ["2"]}


@pytest.mark.parametrize("url_name", ["segments:group_members_add", "segments:group_members_remove"])
def test_errors_come_back_to_the_same_view_too(marketer_client, url_name):
    group = ContactGroupFactory()
    view = reverse("segments:group_detail", args=[group.pk]) + "?source=manual&q=zed"
    response = marketer_client.post(reverse(url_name, args=[group.pk]), {"next": view})
    assert response.url == view


@pytest.mark.parametrize(
    "next_url", ["https://evil.example/", "/contacts/", "/groups/{other}/?source=manual", "//evil.example/groups/"]
)
def test_next_outside_the_group_goes_to_the_members_tab(marketer_client, next_url):
    group = ContactGroupFactory()
    other = ContactGroupFactory()
    contact = ContactFactory()
    response = marketer_client.post(
        reverse("segments:group_members_add", args=[group.pk]),
        {"contacts": [contact.pk], "next": next_url.format(other=other.pk)},
    )
    assert response.url == reverse("segments:group_detail", args=[group.pk])


def test_account_actions_come_back_to_the_same_page(marketer_client):
    group = ContactGroupFactory()
    accounts = [AccountFactory(name=f"Account {i:02d}") for i in range(3)]
    view = reverse("segments:group_accounts", args=[group.pk]) + "?page=1"
    response = marketer_client.post(
        reverse("segments:group_accounts_add", args=[group.pk]), {"accounts": [a.pk for a in accounts], "next": view}
    )
    assert response.url == view
    response = marketer_client.post(
        reverse("segments:group_accounts_remove", args=[group.pk, accounts[0].pk]), {"next": view}
    )
    assert response.url == view and GroupAccount.objects.filter(group=group).count() == 2


@pytest.mark.parametrize(
    ("query", "counted_apart"),
    [("", True), ("?source=manual", False), ("?source=manual&q=zed", True), ("?source=account", True)],
)
def test_remove_all_by_hand_names_how_many_whatever_the_view(marketer_client, query, counted_apart):
    """The confirmation of "Remove all added by hand" counts them; filtered by that source alone, the page's own
    count is that number (no second count)."""
    group = ContactGroupFactory()
    for name in ("Zed", "Zed", "Amy"):
        MembershipFactory(group=group, contact=ContactFactory(first_name=name), via_manual=True)
    MembershipFactory(group=group, contact=ContactFactory(first_name="Zed"), via_manual=False, via_account=True)
    response = marketer_client.get(reverse("segments:group_detail", args=[group.pk]) + query)
    assert response.status_code == 200
    assert response.context["manual_count"] == 3
    assert 'data-confirm-count="3"' in response.content.decode()
    with CaptureQueriesContext(connection) as queries:
        marketer_client.get(reverse("segments:group_detail", args=[group.pk]) + query)
    manual_counts = [q for q in queries.captured_queries if "COUNT(*)" in q["sql"] and "via_manual" in q["sql"]]
    assert len(manual_counts) == (1 if counted_apart else 0)
