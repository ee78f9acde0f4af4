"""Contact group pages: list, create/edit/delete, members and accounts tabs, rebuild button."""

import datetime as dt
import html
import json
import re
import time

import pytest
from django.http import QueryDict
from django.urls import reverse
from django.utils import timezone

from config import replica
from segments.models import ContactGroup, Membership, RebuildStatus
from tests.factories import AccountFactory, ContactFactory, ContactGroupFactory, MembershipFactory

pytestmark = pytest.mark.django_db

CZ_TREE = {"version": 1, "root": {"type": "field", "field": "country", "operator": "equals", "value": "CZ"}}


def test_list_shows_groups_with_kind_and_filters_by_kind(marketer_client):
    static = ContactGroupFactory(name="Trade fair leads")
    dynamic = ContactGroupFactory(name="Czech contacts", is_condition_based=True, condition=CZ_TREE)
    response = marketer_client.get(reverse("segments:group_list"))
    assert [g for g, _ in response.context["rows"]] == [dynamic, static]
    assert "Country is" in response.content.decode()
    response = marketer_client.get(reverse("segments:group_list"), {"kind": "static"})
    assert [g for g, _ in response.context["rows"]] == [static]


def test_create_static_group_and_land_on_members(marketer_client):
    response = marketer_client.post(
        reverse("segments:group_create"), {"name": "VIP", "code": "vip", "description": "Best customers"}
    )
    group = ContactGroup.objects.get(code="vip")
    assert response.status_code == 302 and response.url == reverse("segments:group_detail", args=[group.pk])
    assert not group.is_condition_based


def test_create_condition_group_queues_a_rebuild(marketer_client, django_capture_on_commit_callbacks, monkeypatch):
    queued = []
    monkeypatch.setattr("django_q.tasks.async_task", lambda *args, **kwargs: queued.append(args))
    with django_capture_on_commit_callbacks(execute=True):
        marketer_client.post(
            reverse("segments:group_create"),
            {"name": "Czechs", "code": "czechs", "is_condition_based": "on", "condition": json.dumps(CZ_TREE)},
        )
    group = ContactGroup.objects.get(code="czechs")
    assert group.condition == CZ_TREE and group.condition_version == 1
    assert queued == [("segments.tasks.rebuild_group", group.pk)]
    assert group.rebuild_status == RebuildStatus.QUEUED


@pytest.mark.parametrize(
    ("condition", "message"),
    [
        ("{not json", "not valid JSON"),
        (
            json.dumps(
                {"version": 1, "root": {"type": "field", "field": "lead_score", "operator": "gt", "value": "x"}}
            ),
            "root.value",
        ),
        ("", "needs a condition"),
    ],
)
def test_bad_condition_is_a_form_error_and_saves_nothing(marketer_client, condition, message):
    response = marketer_client.post(
        reverse("segments:group_create"),
        {"name": "Bad", "code": "bad", "is_condition_based": "on", "condition": condition},
    )
    assert response.status_code == 200
    assert message in str(response.context["form"].errors["condition"])
    assert not ContactGroup.objects.filter(code="bad").exists()


def test_duplicate_code_is_refused(marketer_client):
    ContactGroupFactory(code="vip")
    response = marketer_client.post(reverse("segments:group_create"), {"name": "VIP 2", "code": "vip"})
    assert "already exists" in str(response.context["form"].errors["code"])


def test_code_cannot_change_on_edit(marketer_client):
    group = ContactGroupFactory(code="vip", name="VIP")
    marketer_client.post(reverse("segments:group_update", args=[group.pk]), {"name": "Very important", "code": "other"})
    group.refresh_from_db()
    assert (group.code, group.name) == ("vip", "Very important")


def test_delete_is_refused_while_another_condition_uses_the_group(marketer_client):
    vip = ContactGroupFactory(code="vip", name="VIP")
    ContactGroupFactory(
        code="vip_cz",
        is_condition_based=True,
        condition={"version": 1, "root": {"type": "membership", "group": "vip", "operator": "is_member"}},
    )
    response = marketer_client.post(reverse("segments:group_delete", args=[vip.pk]), follow=True)
    assert ContactGroup.objects.filter(pk=vip.pk).exists()
    assert "cannot be deleted" in response.content.decode() or "is used by" in response.content.decode()
    plain = ContactGroupFactory(code="plain")
    marketer_client.post(reverse("segments:group_delete", args=[plain.pk]))
    assert not ContactGroup.objects.filter(pk=plain.pk).exists()


def test_members_tab_shows_sources_and_filters_by_source(marketer_client):
    group = ContactGroupFactory()
    by_hand = MembershipFactory(group=group, contact=ContactFactory(last_name="Adams"))
    by_rule = MembershipFactory(
        group=group, contact=ContactFactory(last_name="Brown"), via_manual=False, via_condition=True
    )
    response = marketer_client.get(reverse("segments:group_detail", args=[group.pk]))
    assert list(response.context["object_list"]) == [by_hand, by_rule]
    response = marketer_client.get(reverse("segments:group_detail", args=[group.pk]), {"source": "condition"})
    assert list(response.context["object_list"]) == [by_rule]
    response = marketer_client.get(reverse("segments:group_detail", args=[group.pk]), {"q": "adam"})
    assert list(response.context["object_list"]) == [by_hand]


def test_staff_adds_and_removes_members_and_condition_members_stay(staff_client):
    group = ContactGroupFactory()
    a, b = ContactFactory(), ContactFactory()
    staff_client.post(reverse("segments:group_members_add", args=[group.pk]), {"contacts": [a.pk, b.pk]})
    assert Membership.objects.filter(group=group, via_manual=True).count() == 2
    Membership.objects.filter(group=group, contact=b).update(via_condition=True)
    response = staff_client.post(
        reverse("segments:group_members_remove", args=[group.pk]), {"selected": [a.pk, b.pk]}, follow=True
    )
    assert list(Membership.objects.filter(group=group).values_list("contact_id", "via_manual")) == [(b.pk, False)]
    assert "stays in the group" in response.content.decode()


def test_removing_all_added_by_hand_when_nobody_was_says_so(staff_client):
    group = ContactGroupFactory(is_condition_based=True, condition=CZ_TREE)
    MembershipFactory(group=group, contact=ContactFactory(country="CZ"), via_manual=False, via_condition=True)
    response = staff_client.post(reverse("segments:group_members_remove", args=[group.pk]), {"all": "1"}, follow=True)
    page = response.content.decode()
    assert "Nobody was added by hand, so nothing was removed." in page and "0 members removed" not in page
    assert Membership.objects.filter(group=group).count() == 1


def test_add_all_contacts_matching_a_contact_list_filter(marketer_client):
    group = ContactGroupFactory()
    cz = [ContactFactory(country="CZ") for _ in range(3)]
    ContactFactory(country="DE")
    marketer_client.post(reverse("segments:group_members_add", args=[group.pk]), {"from_filter": "1", "country": "CZ"})
    assert set(Membership.objects.filter(group=group).values_list("contact_id", flat=True)) == {c.pk for c in cz}


def test_accounts_tab_adds_account_contacts(marketer_client):
    group = ContactGroupFactory()
    acme = AccountFactory()
    c = ContactFactory(account=acme)
    marketer_client.post(reverse("segments:group_accounts_add", args=[group.pk]), {"accounts": [acme.pk]})
    assert Membership.objects.get(group=group, contact=c).via_account
    marketer_client.post(reverse("segments:group_accounts_remove", args=[group.pk, acme.pk]))
    assert not Membership.objects.filter(group=group).exists()


def test_rebuild_button_queues_and_htmx_gets_the_polling_badge(marketer_client, monkeypatch):
    monkeypatch.setattr("django_q.tasks.async_task", lambda *args, **kwargs: None)
    group = ContactGroupFactory(is_condition_based=True, condition=CZ_TREE)
    response = marketer_client.post(reverse("segments:group_rebuild", args=[group.pk]), HTTP_HX_REQUEST="true")
    body = response.content.decode()
    assert "Queued" in body and 'hx-trigger="every 2s"' in body
    group.refresh_from_db()
    assert group.rebuild_status == RebuildStatus.QUEUED


def test_a_group_page_opened_during_a_rebuild_polls_and_hides_the_previous_time(marketer_client):
    from django.utils import timezone

    group = ContactGroupFactory(
        is_condition_based=True,
        condition=CZ_TREE,
        rebuild_status=RebuildStatus.QUEUED,
        last_rebuild_finished_at=timezone.now() - dt.timedelta(minutes=5),
        last_rebuild_duration_ms=1500,
        last_rebuild_added=12345,
        last_rebuild_removed=0,
    )
    body = marketer_client.get(reverse("segments:group_detail", args=[group.pk])).content.decode()
    assert 'hx-trigger="every 2s"' in body and "Queued" in body
    assert "5\xa0minutes ago" not in body and "5 minutes ago" not in body  # not "queued 5 minutes ago"
    group.rebuild_status = RebuildStatus.SUCCEEDED
    group.save()
    body = marketer_client.get(reverse("segments:group_detail", args=[group.pk])).content.decode()
    assert 'hx-trigger="every 2s"' not in body
    assert "+12,345" in body and "minutes ago" in body


def test_pages_showing_members_reload_when_the_rebuild_ends_and_forms_do_not(marketer_client):
    group = ContactGroupFactory(is_condition_based=True, condition=CZ_TREE, rebuild_status=RebuildStatus.RUNNING)
    members = marketer_client.get(reverse("segments:group_detail", args=[group.pk])).content.decode()
    status_url = reverse("segments:group_status", args=[group.pk])
    assert f'hx-get="{status_url}?reload=1"' in members
    settings = marketer_client.get(reverse("segments:group_update", args=[group.pk])).content.decode()
    assert f'hx-get="{status_url}"' in settings  # an edit in progress is never reloaded away
    assert "HX-Refresh" not in marketer_client.get(status_url + "?reload=1", HTTP_HX_REQUEST="true").headers
    group.rebuild_status = RebuildStatus.SUCCEEDED
    group.save()
    ended = marketer_client.get(status_url + "?reload=1", HTTP_HX_REQUEST="true")
    assert ended.headers["HX-Refresh"] == "true"
    # the reloaded members tab reads the primary, which holds what the worker just wrote (config.replica)
    assert float(ended.cookies[replica.PIN_COOKIE].value) > time.time()
    assert "HX-Refresh" not in marketer_client.get(status_url, HTTP_HX_REQUEST="true").headers


def test_a_failed_rebuild_shows_its_error_under_the_header(marketer_client):
    group = ContactGroupFactory(
        is_condition_based=True, condition=CZ_TREE, rebuild_status=RebuildStatus.FAILED,
        rebuild_error="The condition is invalid: root.children[0].field: “plan” is not an active field.",
    )  # fmt: skip
    body = marketer_client.get(reverse("segments:group_detail", args=[group.pk])).content.decode()
    assert "The last rebuild failed</strong>, so the members from before it are kept" in body
    assert "is not an active field" in body


def test_a_page_past_the_end_shows_the_last_page_not_a_404(marketer_client):
    group = ContactGroupFactory()
    for contact in ContactFactory.create_batch(3):
        MembershipFactory(group=group, contact=contact, via_manual=True)
    for name in ("segments:group_detail", "segments:group_accounts"):
        response = marketer_client.get(reverse(name, args=[group.pk]), {"page": "999"})
        assert response.status_code == 200 and response.context["page_obj"].number == 1
    members = marketer_client.get(reverse("segments:group_detail", args=[group.pk]), {"page": "oops"})
    assert len(members.context["page_obj"].object_list) == 3
    assert marketer_client.get(reverse("segments:group_list"), {"page": "999"}).status_code == 200


def test_staff_cannot_edit_or_rebuild(staff_client):
    group = ContactGroupFactory(is_condition_based=True, condition=CZ_TREE)
    assert staff_client.get(reverse("segments:group_update", args=[group.pk])).status_code == 403
    assert staff_client.post(reverse("segments:group_rebuild", args=[group.pk])).status_code == 403
    assert staff_client.get(reverse("segments:group_detail", args=[group.pk])).status_code == 200


def test_why_page_shows_sources_and_the_condition_verdict_per_node(marketer_client):
    group = ContactGroupFactory(
        is_condition_based=True,
        condition={
            "version": 1,
            "root": {
                "type": "group",
                "combinator": "or",
                "children": [
                    {"type": "field", "field": "country", "operator": "equals", "value": "CZ"},
                    {"type": "field", "field": "lead_score", "operator": "gte", "value": 50},
                ],
            },
        },
    )
    contact = ContactFactory(country="CZ", lead_score=5)
    MembershipFactory(group=group, contact=contact, via_manual=True, via_condition=True)
    response = marketer_client.get(reverse("segments:group_member_why", args=[group.pk, contact.pk]))
    assert response.status_code == 200
    explanation = response.context["explanation"]
    assert explanation.matched is True
    assert [child.matched for child in explanation.root.children] == [True, False]
    body = response.content.decode()
    assert "Added by hand" in body and "It matches the condition" in body


def test_members_page_warns_when_relative_dates_drift_without_nightly_rebuild(marketer_client):
    relative = {
        "version": 1,
        "root": {
            "type": "activity",
            "activity": "any",
            "count": {"operator": "eq", "value": 0},
            "window": {"last_days": 365},
        },
    }
    group = ContactGroupFactory(is_condition_based=True, condition=relative, scheduled_rebuild=False)
    url = reverse("segments:group_detail", args=[group.pk])
    assert "nightly rebuild is off" in marketer_client.get(url).content.decode()
    group.scheduled_rebuild = True
    group.save()
    assert "nightly rebuild is off" not in marketer_client.get(url).content.decode()
    static_relative = ContactGroupFactory(is_condition_based=True, condition=CZ_TREE)
    assert (
        "nightly rebuild is off"
        not in marketer_client.get(reverse("segments:group_detail", args=[static_relative.pk])).content.decode()
    )


def test_contact_page_links_each_membership_to_its_explanation(marketer_client):
    group = ContactGroupFactory()
    contact = ContactFactory()
    MembershipFactory(group=group, contact=contact)
    body = marketer_client.get(contact.get_absolute_url()).content.decode()
    assert reverse("segments:group_member_why", args=[group.pk, contact.pk]) in body


# --- members tab: order, filters, search, count (tests/segments: the page's rows, whichever query shape) ---

# How the page reads its rows: a few matches as a list of ids sorted; up to the count cap, the matches as
# a subquery; beyond the cap (or a search's count deferred) walking contacts in name order with a probe per
# contact, or PostgreSQL's choice (EXISTS).
STRATEGIES = ["sorted matches", "matches subquery", "walk", "planner's choice"]


@pytest.fixture
def members_page(monkeypatch):
    """Pages of two rows; beyond one match read as a list, and for the strategies beyond the cap, a cap of
    `cap` (4 unless told)."""
    from segments.views import members as views

    monkeypatch.setattr(views.GroupMembersView, "paginate_by", 2)

    def configure(strategy: str, cap: int = 4) -> None:
        if strategy == "sorted matches":
            return
        monkeypatch.setattr(views._MembersPaginator, "listed", 1)
        if strategy == "matches subquery":
            monkeypatch.setattr(views, "walk_is_cheap", lambda **kwargs: False)  # (a search's count is deferred)
            return
        monkeypatch.setattr(views._MembersPaginator, "cap", cap)
        monkeypatch.setattr(views, "walk_is_cheap", lambda **kwargs: strategy == "walk")

    return configure


@pytest.fixture
def team():
    """A group of seven members (and contacts that are not members, who must never show)."""
    group = ContactGroupFactory()
    people = {
        "anonymous": ContactFactory(first_name="", last_name="", email=None),
        "zoe": ContactFactory(first_name="Zoe", last_name="Adams"),
        "jana_d": ContactFactory(first_name="Jana", last_name="Dvořák"),
        "adam_n": ContactFactory(first_name="Adam", last_name="Novák"),
        "jana_n1": ContactFactory(first_name="Jana", last_name="Novák"),
        "jana_n2": ContactFactory(first_name="Jana", last_name="Novák"),
        "petr": ContactFactory(first_name="Petr", last_name="Svoboda", email="petr.novak@example.com"),
    }
    sources = {
        "anonymous": {"via_manual": True},
        "zoe": {"via_manual": False, "via_account": True},
        "jana_d": {"via_manual": True, "via_condition": True},
        "adam_n": {"via_manual": False, "via_condition": True},
        "jana_n1": {"via_manual": True},
        "jana_n2": {"via_manual": False, "via_condition": True},
        "petr": {"via_manual": True},
    }
    for key, flags in sources.items():
        MembershipFactory(group=group, contact=people[key], **flags)
    # Not members of this group: sorted between the members and matching the searches below.
    ContactFactory(first_name="Aaron", last_name="Adams")
    MembershipFactory(contact=ContactFactory(first_name="Jana", last_name="Nováková"))
    return group, people


def page_of(client, group, page=1, **params):
    response = client.get(reverse("segments:group_detail", args=[group.pk]), {**params, "page": page})
    assert response.status_code == 200
    return [m.contact for m in response.context["object_list"]]


NAME_ORDER = ["zoe", "jana_d", "adam_n", "jana_n1", "jana_n2", "petr", "anonymous"]


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_members_are_sorted_by_name_both_ways(marketer_client, team, members_page, strategy):
    members_page(strategy)
    group, people = team
    ascending = [people[k] for k in NAME_ORDER]  # last name, first name, then id; no name last
    for params in ({}, {"sort": "name"}, {"sort": "nonsense"}):
        shown = page_of(marketer_client, group, 1, **params) + page_of(marketer_client, group, 2, **params)
        assert shown == ascending[:4], params
    shown = page_of(marketer_client, group, 1, sort="-name") + page_of(marketer_client, group, 2, sort="-name")
    assert shown == ascending[::-1][:4]


@pytest.mark.parametrize("stored_count", [7, 10**6])  # a search reads the members, or the contacts first
@pytest.mark.parametrize("strategy", STRATEGIES)
def test_members_filter_by_source_and_search_by_every_word(marketer_client, team, members_page, strategy, stored_count):
    members_page(strategy, cap=1)  # beyond the cap as soon as two members match
    group, people = team
    ContactGroup.objects.filter(pk=group.pk).update(member_count=stored_count)

    def shown(**params):
        return page_of(marketer_client, group, **params)

    assert shown(source="manual") == [people["jana_d"], people["jana_n1"]]  # (the nameless one last)
    assert shown(source="condition", sort="-name") == [people["jana_n2"], people["adam_n"]]
    assert shown(source="account") == [people["zoe"]]
    assert shown(q="jana") == [people["jana_d"], people["jana_n1"]]  # not Jana Nováková: another group's
    assert shown(q="novák jana") == [people["jana_n1"], people["jana_n2"]]  # both words, in any field
    assert shown(q="  nov  ", source="manual") == [people["jana_n1"], people["petr"]]  # petr: by e-mail
    assert shown(q="adams") == [people["zoe"]]  # not Aaron Adams: no member
    assert shown(q="nobody") == []
    assert shown(source="nonsense") == [people["zoe"], people["jana_d"]]  # an invalid source is ignored


def test_members_search_of_a_group_of_most_contacts_joins(marketer_client, team, members_page):
    members_page("walk", cap=1)
    group, people = team
    ContactGroup.objects.filter(pk=group.pk).update(member_count=10**9)  # PostgreSQL's join, not a scan
    assert page_of(marketer_client, group, q="novák jana") == [people["jana_n1"], people["jana_n2"]]
    assert page_of(marketer_client, group, q="jana", source="condition") == [people["jana_d"], people["jana_n2"]]


def test_members_count_shows_the_group_total_beyond_the_cap(marketer_client, team, members_page):
    members_page("walk")
    group, people = team
    url = reverse("segments:group_detail", args=[group.pk])
    ContactGroup.objects.filter(pk=group.pk).update(member_count=12_345)
    response = marketer_client.get(url)
    assert "Showing 1–2 of 12,345" in response.content.decode()
    assert not response.context["paginator"].matches  # counted, not read
    assert "Showing 1–2 of 4" in marketer_client.get(url, {"source": "manual"}).content.decode()  # counted
    assert "Showing 1–2 of more than 1" in text(marketer_client.get(url, {"q": "a"}))  # see below
    # A stored count that is out of date never hides members: the page counts them.
    Membership.objects.filter(group=group).exclude(contact__in=[people["zoe"], people["petr"]]).delete()
    response = marketer_client.get(url)
    assert "Showing 1–2" not in response.content.decode() and "2 in all" in response.content.decode()
    assert [m.contact for m in response.context["object_list"]] == [people["zoe"], people["petr"]]


COUNT_URL = re.compile(r'<span hx-get="([^"]*)" hx-trigger="load"')


def text(response):
    """The page's text as read: tags dropped, spaces collapsed."""
    return " ".join(re.sub(r"<[^>]+>", " ", response.content.decode()).split()).replace(" – ", "–")


@pytest.mark.parametrize("strategy", ["walk", "planner's choice"])
def test_a_search_shows_its_page_at_once_and_loads_its_count_after_it(marketer_client, team, members_page, strategy):
    members_page(strategy)  # pages of 2, one match read as a list, counted up to 4
    group, people = team
    url = reverse("segments:group_detail", args=[group.pk])
    # "a": every member but the nameless one (Petr by his e-mail), six.
    response = marketer_client.get(url, {"q": "a", "source": "", "sort": "-name"})
    paginator = response.context["paginator"]
    assert paginator.count_deferred and "count" not in vars(paginator)  # the page never counted
    assert [m.contact for m in response.context["object_list"]] == [people["petr"], people["jana_n2"]]
    body = response.content.decode()
    assert "Showing 1–2 of more than 1 counting…" in text(response)  # a true lower bound, until the count comes
    assert "Page 1</span>" in body and 'aria-label="Last page"' not in body
    found = COUNT_URL.search(body)
    assert found, "the page loads its count"
    count = marketer_client.get(html.unescape(found.group(1)))
    assert count.status_code == 200 and text(count) == "more than 4"
    # The count keeps the filters (and only them).
    body = marketer_client.get(url, {"q": "a", "source": "manual"}).content.decode()
    count_url = html.unescape(COUNT_URL.search(body).group(1))
    assert QueryDict(count_url.split("?", 1)[1]).dict() == {"q": "a", "source": "manual"}
    assert text(marketer_client.get(count_url)) == "3"  # Jana Dvořák, Jana Novák, Petr
    # Without a search nothing is deferred: a source filter's count is cheap.
    assert not COUNT_URL.search(marketer_client.get(url, {"source": "manual"}).content.decode())


def test_a_searched_page_past_the_end_or_the_last_page_counts_after_all(marketer_client, team, members_page):
    members_page("walk", cap=10)
    group, people = team
    url = reverse("segments:group_detail", args=[group.pk])
    last = [people["jana_n2"], people["petr"]]  # "a", six matches by name: pages of 2, the third
    for page in ("99", "last", "3"):
        response = marketer_client.get(url, {"q": "a", "page": page})
        assert response.context["page_obj"].number == 3, page
        assert [m.contact for m in response.context["object_list"]] == last, page
        assert not response.context["paginator"].count_deferred or page == "3", page  # counted: shown
    response = marketer_client.get(url, {"q": "a", "page": "99"})
    assert "Showing 5–6 of 6" in text(response) and not COUNT_URL.search(response.content.decode())  # counted
    # Page 2 of 3, its count deferred, knows a next page exists; page 3 reached by its number knows none.
    response = marketer_client.get(url, {"q": "a", "page": "2"})
    assert response.context["paginator"].count_deferred and response.context["page_obj"].has_next()


def test_the_members_count_needs_the_view_permission(client, team):
    group, _ = team
    url = reverse("segments:group_members_count", args=[group.pk])
    assert client.get(url, {"q": "a"}).status_code == 302  # to the login page


def test_members_name_header_sorts_and_keeps_the_filters(marketer_client, team):
    group, _ = team
    url = reverse("segments:group_detail", args=[group.pk])
    body = marketer_client.get(url, {"source": "manual"}).content.decode()
    assert 'aria-sort="ascending"' in body and "?source=manual&amp;sort=-name" in body
    body = marketer_client.get(url, {"sort": "-name"}).content.decode()
    assert 'aria-sort="descending"' in body and 'name="sort" value="-name"' in body


def test_walking_contacts_in_name_order_is_chosen_for_dense_groups_and_early_pages():
    from segments.selectors import walk_is_cheap

    million = 1_000_000
    assert walk_is_cheap(contacts=million, member_count=300_000, found=300_000, end=50)
    assert walk_is_cheap(contacts=million, member_count=300_000, found=300_000, end=10_000)
    assert walk_is_cheap(contacts=million, member_count=300_000, found=10_001, end=50)  # a dense filter
    assert not walk_is_cheap(contacts=million, member_count=300_000, found=10_001, end=10_000)
    assert not walk_is_cheap(contacts=million, member_count=2_000, found=2_000, end=50)  # a small group
    # Counted matches (at most the cap): 8,209 added by hand are walked to, 500 are fetched and sorted.
    assert walk_is_cheap(contacts=million, member_count=8_209, found=8_209, end=50)
    assert not walk_is_cheap(contacts=million, member_count=500, found=500, end=50)


# --- keyset pages: Next/Previous carry the position, and give the same rows as the page numbers ---

NEXT_LINK = re.compile(r'<a class="page-link" href="\?([^"]*)">Next</a>')
PREVIOUS_LINK = re.compile(r'<a class="page-link" href="\?([^"]*)">Previous</a>')


def follow(client, group, link, body):
    """The page behind the Next or Previous link of `body`: (its contacts, its page number, its HTML)."""
    found = link.search(body)
    assert found, "no such link"
    query = QueryDict(html.unescape(found.group(1)))
    response = client.get(reverse("segments:group_detail", args=[group.pk]), query)
    assert response.status_code == 200
    return [m.contact for m in response.context["object_list"]], response.context["page_obj"].number, query


@pytest.mark.parametrize("strategy", STRATEGIES)
@pytest.mark.parametrize("params", [{}, {"sort": "-name"}, {"source": "manual"}, {"q": "a"}])
def test_next_and_previous_links_walk_the_pages_by_position(marketer_client, team, members_page, strategy, params):
    members_page(strategy)
    group, people = team
    url = reverse("segments:group_detail", args=[group.pk])
    by_number = [page_of(marketer_client, group, n, **params) for n in (1, 2, 3)]
    response = marketer_client.get(url, params)
    pages = response.context["paginator"].num_pages
    body = response.content.decode()
    shown, number, query = follow(marketer_client, group, NEXT_LINK, body)
    assert (shown, number) == (by_number[1], 2)
    assert query["after"] == str(by_number[0][-1].pk)  # the last contact of page 1
    if pages < 3:
        return
    body = marketer_client.get(url, query).content.decode()
    shown, number, query = follow(marketer_client, group, NEXT_LINK, body)
    assert (shown, number) == (by_number[2], 3)
    assert query["after"] == str(by_number[1][-1].pk)  # the last contact of page 2
    body = marketer_client.get(url, query).content.decode()
    shown, number, query = follow(marketer_client, group, PREVIOUS_LINK, body)
    assert (shown, number) == (by_number[1], 2)
    assert query["before"] == str(by_number[2][0].pk)  # the first contact of page 3
    assert {k: query[k] for k in params} == params  # the filters and the sort stay


def test_a_position_that_is_gone_or_malformed_falls_back_to_the_page_number(marketer_client, team, members_page):
    members_page("walk")
    group, people = team
    second = page_of(marketer_client, group, 2)
    assert page_of(marketer_client, group, 2, after="999999999") == second  # a contact since deleted
    assert page_of(marketer_client, group, 2, after="x") == second
    assert page_of(marketer_client, group, 1, after=str(people["jana_n1"].pk)) == page_of(marketer_client, group, 1)
    # A position wins over the number's offset: the rows right after it (members added or removed
    # before it meanwhile shift nothing).
    assert page_of(marketer_client, group, 2, after=str(people["adam_n"].pk)) == [people["jana_n1"], people["jana_n2"]]


def test_changing_the_sort_or_filters_starts_again_at_the_first_page(marketer_client, team, members_page):
    members_page("walk")
    group, people = team
    body = marketer_client.get(
        reverse("segments:group_detail", args=[group.pk]), {"page": 3, "after": people["adam_n"].pk}
    ).content.decode()
    header = re.search(r'<a href="\?([^"]*)" class="sort-link', body)
    assert header and "after" not in header.group(1) and "page" not in header.group(1)
    first = re.search(r'<a class="page-link" href="\?([^"]*)" aria-label="First page"', body)
    assert first and QueryDict(html.unescape(first.group(1))).dict() == {"page": "1"}


def test_members_tab_shows_when_each_member_joined(marketer_client):
    group = ContactGroupFactory()
    joined = timezone.make_aware(dt.datetime(2026, 3, 14, 9, 30))
    MembershipFactory(group=group, contact=ContactFactory(last_name="Adams"), added_at=joined)
    body = marketer_client.get(reverse("segments:group_detail", args=[group.pk])).content.decode()
    assert ">Member since</th>" in body
    assert f'<time datetime="{timezone.localtime(joined).isoformat()}">' in body
    assert ">14 Mar 2026</time>" in body  # the day first, as everywhere else (not 03/14/2026)


def test_plain_save_stays_on_the_settings_and_save_and_view_goes_to_members(marketer_client):
    group = ContactGroupFactory(name="Partners")
    url = reverse("segments:group_update", args=[group.pk])
    assert ">Save</button>" in marketer_client.get(url).content.decode()
    stay = marketer_client.post(url, {"name": "Partners 2", "code": group.code, "_stay": "1"})
    assert stay.status_code == 302 and stay.url == url
    go = marketer_client.post(url, {"name": "Partners 3", "code": group.code})
    assert go.url == reverse("segments:group_detail", args=[group.pk])
    group.refresh_from_db()
    assert group.name == "Partners 3"


# --- look-alike names and Kentico-style codes (issue 11, items 2 and 4) ---------------------------------


@pytest.mark.parametrize("name", ["Inactive contacts", "inactive  contacts", "Inactivé contacts", "INACTIVE CONTACTS "])
def test_a_look_alike_group_name_is_refused_naming_the_existing_group(marketer_client, name):
    ContactGroupFactory(code="inactive_365", name="Inactive contacts")
    response = marketer_client.post(reverse("segments:group_create"), {"name": name, "code": "other"})
    assert response.status_code == 200
    assert "“Inactive contacts” (inactive_365)" in str(response.context["form"].errors["name"])
    assert ContactGroup.objects.count() == 1


def test_renaming_a_group_to_a_look_alike_name_is_refused_but_its_own_case_may_change(marketer_client):
    ContactGroupFactory(code="vip", name="VIP")
    group = ContactGroupFactory(code="fair", name="Fair leads")
    url = reverse("segments:group_update", args=[group.pk])
    response = marketer_client.post(url, {"name": "vip"})
    assert "“VIP” (vip)" in str(response.context["form"].errors["name"])
    marketer_client.post(url, {"name": "FAIR LEADS"})
    group.refresh_from_db()
    assert group.name == "FAIR LEADS"


def test_copy_and_save_as_group_refuse_a_look_alike_name(marketer_client):
    group = ContactGroupFactory(code="vip", name="VIP")
    response = marketer_client.post(reverse("segments:group_copy", args=[group.pk]), {"name": "vip", "code": "vip2"})
    assert "“VIP” (vip)" in str(response.context["form"].errors["name"])
    response = marketer_client.post(
        reverse("segments:builder_save_group"), {"name": "Vip", "code": "vip3", "condition": json.dumps(CZ_TREE)}
    )
    assert response.status_code == 400
    assert "“VIP” (vip)" in str(response.context["form"].errors["name"])
    assert ContactGroup.objects.count() == 1


def test_the_services_and_the_database_refuse_look_alike_names_too():
    from django.core.exceptions import ValidationError
    from django.db import IntegrityError, transaction

    from segments import services

    ContactGroupFactory(code="vip", name="VIP customers")
    with pytest.raises(ValidationError) as excinfo:
        services.group_create(code="other", name="vip  Customers")
    assert "name" in excinfo.value.message_dict
    with pytest.raises(IntegrityError), transaction.atomic():
        ContactGroup.objects.create(code="other", name="VÍP customers")
    with pytest.raises(IntegrityError), transaction.atomic():
        ContactGroup.objects.create(code="VIP", name="Something else")


def test_kentico_style_codes_are_accepted_and_unique_ignoring_case(marketer_client):
    response = marketer_client.post(
        reverse("segments:group_create"), {"name": "Inactive contacts", "code": "InactiveContacts"}
    )
    assert response.status_code == 302
    assert ContactGroup.objects.filter(code="InactiveContacts").exists()
    response = marketer_client.post(reverse("segments:group_create"), {"name": "Other", "code": "inactivecontacts"})
    errors = str(response.context["form"].errors["code"])
    assert "already exists: “Inactive contacts” (InactiveContacts)" in errors and "ignoring case" in errors
    for bad in ("1st_group", "inactive-contacts", "Inactive Contacts", "_x"):
        response = marketer_client.post(reverse("segments:group_create"), {"name": f"Bad {bad}", "code": bad})
        assert "Use letters (either case), digits and underscores" in str(response.context["form"].errors["code"])


def test_a_condition_refers_to_a_kentico_style_code(marketer_client):
    from segments.rules import matching_contacts, validate

    vip = ContactGroupFactory(code="VipCustomers", name="VIP customers")
    member, _other = ContactFactory(), ContactFactory()
    MembershipFactory(group=vip, contact=member, via_manual=True)
    tree = {"version": 1, "root": {"type": "membership", "group": "VipCustomers", "operator": "is_member"}}
    assert list(matching_contacts(validate(tree))) == [member]
    response = marketer_client.post(
        reverse("segments:group_create"),
        {"name": "VIP copy", "code": "VipCopy", "is_condition_based": "on", "condition": json.dumps(tree)},
    )
    assert response.status_code == 302
    assert ContactGroup.objects.get(code="VipCopy").condition == tree


def test_group_pickers_show_the_code_beside_the_name(marketer_client):
    from segments.builder import catalog

    group = ContactGroupFactory(code="inactive_365", name="Inactive contacts")
    contact = ContactFactory()
    MembershipFactory(group=group, contact=contact, via_manual=True)
    membership = next(s for s in catalog()["sections"] if s["key"] == "membership")
    assert membership["items"] == [
        {"kind": "membership", "group": "inactive_365", "label": "Inactive contacts (inactive_365)"}
    ]
    bulk = marketer_client.post(reverse("contacts:contact_bulk"), {"action": "add_to_group", "ids": [contact.pk]})
    option = rf'<option value="{group.pk}"[^>]*>Inactive contacts \(inactive_365\)</option>'
    assert re.search(option, bulk.content.decode())
    page = marketer_client.get(reverse("contacts:contact_detail", args=[contact.pk])).content.decode()
    assert re.search(r"Inactive contacts\s*<code[^>]*>inactive_365</code>", page)
