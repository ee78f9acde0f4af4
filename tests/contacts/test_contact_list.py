"""The contact list: every filter (standard and one per custom-field type), sorting, pagination, empty states."""

import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone

from contacts.pagination import CappedPaginator
from tests.factories import AccountFactory, ContactFactory, ContactFieldFactory

pytestmark = pytest.mark.django_db
URL = reverse("contacts:contact_list")


def listed(client, **params):
    response = client.get(URL, params)
    assert response.status_code == 200
    return {c.pk for c in response.context["object_list"]}


def test_lists_unmerged_contacts_and_hides_merged_by_default(marketer_client):
    parent = ContactFactory()
    merged = ContactFactory(merged_into=parent)
    assert listed(marketer_client) == {parent.pk}
    assert listed(marketer_client, include_merged="on") == {parent.pk, merged.pk}


def test_search_matches_name_and_email_case_insensitively(marketer_client):
    ada = ContactFactory(first_name="Ada", last_name="Lovelace", email="ada@engine.example")
    alan = ContactFactory(first_name="Alan", last_name="Turing", email="alan@bletchley.example")
    ContactFactory(first_name="Grace", last_name="Hopper", email="grace@navy.example")
    assert listed(marketer_client, q="lovelace") == {ada.pk}
    assert listed(marketer_client, q="BLETCHLEY") == {alan.pk}
    assert listed(marketer_client, q="ada lovelace") == {ada.pk}  # every word must match somewhere
    assert listed(marketer_client, q="a") >= {ada.pk, alan.pk}
    assert listed(marketer_client, q="nobody-like-this") == set()


def test_the_country_filter_offers_every_country_by_name_and_keeps_the_chosen_one(marketer_client):
    from django import forms
    from django.test.html import parse_html
    from django.utils import translation
    from django_countries import countries

    from contacts.forms import ManyOptionsSelect, country_choices

    assert country_choices() == [(code, str(name)) for code, name in countries]  # sorted by name, translated
    with translation.override("de"):
        assert dict(country_choices())["DE"] == str(countries.name("DE"))
    # The same HTML as Django's own select (options escaped, the chosen one selected, groups kept).
    choices = [("", "Any country"), *country_choices(), ("<x>", "A & \"B\" 'C'"), ("Group", [("g", "G<1>")])]
    for value in ("", "CZ", None, "<x>", "g", "nonsense"):
        attrs = {"data-picker": "", "placeholder": "Any country", "class": "form-select"}
        django_select = forms.Select(attrs=attrs, choices=choices).render("country", value, {"id": "id_country"})
        ours = ManyOptionsSelect(attrs=attrs, choices=choices).render("country", value, {"id": "id_country"})
        assert parse_html(ours) == parse_html(django_select), value
    body = marketer_client.get(URL, {"country": "CZ"}).content.decode()
    assert '<option value="CZ" selected>Czechia</option>' in body and '<option value="DE">Germany</option>' in body


def test_country_account_and_lead_score_filters(marketer_client):
    acme = AccountFactory(name="Acme")
    cz = ContactFactory(country="CZ", lead_score=5, account=acme)
    de = ContactFactory(country="DE", lead_score=50)
    us = ContactFactory(country="US", lead_score=100)
    assert listed(marketer_client, country="DE") == {de.pk}
    assert listed(marketer_client, account=acme.pk) == {cz.pk}
    assert listed(marketer_client, score_min=50) == {de.pk, us.pk}
    assert listed(marketer_client, score_max=50) == {cz.pk, de.pk}
    assert listed(marketer_client, score_min=10, score_max=60) == {de.pk}


def test_created_date_range_uses_whole_days_in_project_time_zone(marketer_client):
    tz = timezone.get_current_timezone()
    early = ContactFactory(created_at=dt.datetime(2025, 3, 1, 0, 30, tzinfo=tz))
    late = ContactFactory(created_at=dt.datetime(2025, 3, 10, 23, 30, tzinfo=tz))
    ContactFactory(created_at=dt.datetime(2025, 3, 11, 0, 10, tzinfo=tz))
    assert listed(marketer_client, created_after="2025-03-01", created_before="2025-03-10") == {early.pk, late.pk}
    assert listed(marketer_client, created_after="2025-03-02", created_before="2025-03-10") == {late.pk}


def test_invalid_filter_value_is_shown_as_form_error_not_a_crash(marketer_client):
    contact = ContactFactory()
    response = marketer_client.get(URL, {"score_min": "lots", "created_after": "yesterday"})
    assert response.status_code == 200
    assert {c.pk for c in response.context["object_list"]} == {contact.pk}
    assert response.context["filterset"].form.errors.keys() == {"score_min", "created_after"}


# --- custom fields: one filter per active field, by type ----------------------------------------


def test_text_like_custom_fields_filter_by_contains(marketer_client, custom_fields):
    a = ContactFactory(custom={"nickname": "Captain Ada", "website": "https://ada.example", "mobile": "+420 601"})
    b = ContactFactory(custom={"nickname": "Alan", "work_email": "alan@work.example"})
    ContactFactory(custom={})
    assert listed(marketer_client, cf_nickname="captain") == {a.pk}
    assert listed(marketer_client, cf_website="ada.example") == {a.pk}
    assert listed(marketer_client, cf_work_email="WORK.example") == {b.pk}
    assert listed(marketer_client, cf_mobile="601") == {a.pk}


def test_number_custom_field_filters_by_numeric_range(marketer_client, custom_fields):
    nine = ContactFactory(custom={"budget": 9})
    ten_half = ContactFactory(custom={"budget": 10.5})
    hundred = ContactFactory(custom={"budget": 100})
    ContactFactory(custom={})
    # Numeric, not textual ("100" < "9" as text): both bounds inclusive.
    assert listed(marketer_client, cf_budget_min=10) == {ten_half.pk, hundred.pk}
    assert listed(marketer_client, cf_budget_max=10.5) == {nine.pk, ten_half.pk}
    assert listed(marketer_client, cf_budget_min=9, cf_budget_max=9) == {nine.pk}
    assert listed(marketer_client, cf_budget_min="-5.5", cf_budget_max="1000") == {nine.pk, ten_half.pk, hundred.pk}


def test_date_custom_field_filters_by_range(marketer_client, custom_fields):
    jan = ContactFactory(custom={"renewal": "2026-01-15"})
    mar = ContactFactory(custom={"renewal": "2026-03-01"})
    ContactFactory(custom={})
    assert listed(marketer_client, cf_renewal_from="2026-02-01") == {mar.pk}
    assert listed(marketer_client, cf_renewal_to="2026-01-15") == {jan.pk}
    assert listed(marketer_client, cf_renewal_from="2026-01-15", cf_renewal_to="2026-03-01") == {jan.pk, mar.pk}


def test_boolean_custom_field_filters_yes_no_empty(marketer_client, custom_fields):
    yes = ContactFactory(custom={"vip": True})
    no = ContactFactory(custom={"vip": False})
    absent = ContactFactory(custom={})
    null = ContactFactory(custom={"vip": None})
    assert listed(marketer_client, cf_vip="yes") == {yes.pk}
    assert listed(marketer_client, cf_vip="no") == {no.pk}
    assert listed(marketer_client, cf_vip="empty") == {absent.pk, null.pk}


def test_choice_custom_field_filters_by_code(marketer_client, custom_fields):
    pro = ContactFactory(custom={"plan": "pro"})
    ContactFactory(custom={"plan": "basic"})
    ContactFactory(custom={})
    assert listed(marketer_client, cf_plan="pro") == {pro.pk}
    response = marketer_client.get(URL, {"cf_plan": "platinum"})  # not a choice → form error, filter ignored
    assert "cf_plan" in response.context["filterset"].form.errors


def test_multi_choice_custom_field_filters_contains_any(marketer_client, custom_fields):
    ai = ContactFactory(custom={"topics": ["ai"]})
    ai_cloud = ContactFactory(custom={"topics": ["ai", "cloud"]})
    security = ContactFactory(custom={"topics": ["security"]})
    ContactFactory(custom={"topics": []})
    ContactFactory(custom={})
    assert listed(marketer_client, cf_topics="cloud") == {ai_cloud.pk}
    assert listed(marketer_client, cf_topics=["cloud", "security"]) == {ai_cloud.pk, security.pk}
    assert listed(marketer_client, cf_topics=["ai"]) == {ai.pk, ai_cloud.pk}


def test_multi_choice_code_does_not_match_a_longer_code_containing_it(marketer_client):
    ContactFieldFactory(
        code="skills", type="multi_choice", choices=[{"code": "go", "label": "Go"}, {"code": "golang", "label": "Go 2"}]
    )
    go = ContactFactory(custom={"skills": ["go"]})
    ContactFactory(custom={"skills": ["golang"]})
    assert listed(marketer_client, cf_skills="go") == {go.pk}


def test_filters_exist_only_for_active_custom_fields(marketer_client, custom_fields):
    ContactFieldFactory(code="legacy", type="text", is_active=False)
    form = marketer_client.get(URL).context["filterset"].form
    assert "cf_nickname" in form.fields and "cf_budget_min" in form.fields and "cf_budget_max" in form.fields
    assert "cf_renewal_from" in form.fields and "cf_topics" in form.fields
    assert not any(name.startswith("cf_legacy") for name in form.fields)


def test_custom_filters_combine_with_standard_filters(marketer_client, custom_fields):
    match = ContactFactory(country="DE", custom={"plan": "pro", "budget": 50})
    ContactFactory(country="CZ", custom={"plan": "pro", "budget": 50})
    ContactFactory(country="DE", custom={"plan": "basic", "budget": 50})
    assert listed(marketer_client, country="DE", cf_plan="pro", cf_budget_min=10) == {match.pk}


# --- sorting and pagination ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sort", "key"),
    [
        ("name", lambda c: (c.last_name or c.first_name, c.first_name, c.pk)),
        ("email", lambda c: (c.email.lower(), c.pk)),
        ("country", lambda c: (c.country.code, c.pk)),
        ("lead_score", lambda c: (c.lead_score, c.pk)),
        ("created", lambda c: (c.created_at, c.pk)),
        ("account", lambda c: (c.account.name, c.pk)),
    ],
)
def test_sorting_each_column_both_directions(marketer_client, sort, key):
    accounts = [AccountFactory(name=n) for n in ("Beta", "Alpha", "Gamma")]
    now = timezone.now()
    contacts = [
        ContactFactory(
            first_name=first,
            last_name=last,
            email=email,
            country=country,
            lead_score=score,
            account=accounts[i % 3],
            created_at=now - dt.timedelta(days=score),
        )
        for i, (first, last, email, country, score) in enumerate(
            [
                ("Zoe", "Adams", "zoe@x.example", "DE", 30),
                ("Ann", "Brown", "Ann@x.example", "AT", 10),
                ("Bob", "Adams", "bob@x.example", "US", 20),
                ("Cy", "Cole", "cy@x.example", "AT", 10),
            ]
        )
    ]
    expected = [c.pk for c in sorted(contacts, key=key)]
    response = marketer_client.get(URL, {"sort": sort})
    assert [c.pk for c in response.context["object_list"]] == expected
    response = marketer_client.get(URL, {"sort": f"-{sort}"})
    assert [c.pk for c in response.context["object_list"]] == expected[::-1]


def test_unknown_sort_falls_back_to_newest_first(marketer_client):
    old = ContactFactory(created_at=timezone.now() - dt.timedelta(days=3))
    new = ContactFactory()
    response = marketer_client.get(URL, {"sort": "password; drop table"})
    assert [c.pk for c in response.context["object_list"]] == [new.pk, old.pk]


def test_anonymous_contacts_sort_after_emails_ascending(marketer_client):
    anon = ContactFactory(email=None, first_name="", last_name="")
    named = ContactFactory(email="a@x.example")
    response = marketer_client.get(URL, {"sort": "email"})
    assert [c.pk for c in response.context["object_list"]] == [named.pk, anon.pk]


def test_name_sort_puts_contacts_without_a_name_last_and_a_lone_given_name_in_place(marketer_client):
    nameless = ContactFactory(email="info@x.example", first_name="", last_name="")
    anonymous = ContactFactory(email=None, first_name="", last_name="")
    maria = ContactFactory(first_name="Maria", last_name="")  # only a given name: sorted by it
    novak = ContactFactory(first_name="Adam", last_name="Novák")
    adams = ContactFactory(first_name="Zoe", last_name="Adams")
    ascending = [adams.pk, maria.pk, novak.pk, nameless.pk, anonymous.pk]
    assert [c.pk for c in marketer_client.get(URL, {"sort": "name"}).context["object_list"]] == ascending
    descending = [c.pk for c in marketer_client.get(URL, {"sort": "-name"}).context["object_list"]]
    assert descending == ascending[::-1]  # empty values first when descending, as in every column


def test_pagination_50_per_page_with_capped_paginator(marketer_client):
    ContactFactory.create_batch(51)
    response = marketer_client.get(URL)
    assert isinstance(response.context["paginator"], CappedPaginator)
    assert len(response.context["object_list"]) == 50
    second = marketer_client.get(URL, {"page": 2})
    assert len(second.context["object_list"]) == 1
    first_ids = {c.pk for c in response.context["object_list"]}
    assert not first_ids & {c.pk for c in second.context["object_list"]}
    # Out-of-range and malformed pages show the nearest page instead of a 404.
    assert marketer_client.get(URL, {"page": 99}).context["page_obj"].number == 2
    assert marketer_client.get(URL, {"page": "last"}).context["page_obj"].number == 2
    assert marketer_client.get(URL, {"page": "x"}).context["page_obj"].number == 1


def test_pagination_links_keep_filters_and_sort(marketer_client):
    ContactFactory.create_batch(51, country="DE")
    content = marketer_client.get(URL, {"country": "DE", "sort": "name"}).content.decode()
    assert "?country=DE&amp;sort=name&amp;page=2" in content


def test_row_shows_anonymous_badge_flag_and_account(marketer_client):
    acme = AccountFactory(name="Acme Rockets")
    ContactFactory(email=None, first_name="", last_name="", country="CZ", account=acme)
    content = marketer_client.get(URL).content.decode()
    assert "Anonymous" in content
    assert "flags/cz.gif" in content and "Czechia" in content
    assert "Acme Rockets" in content


def test_rows_name_countries_in_the_active_language_from_one_table():
    from django.utils import translation

    from contacts.forms import country_name
    from contacts.models import Contact
    from contacts.templatetags.contacts_tags import country_name_filter

    contact = Contact(country="CZ")
    assert country_name_filter(contact.country) == country_name("CZ") == str(contact.country.name) == "Czechia"
    with translation.override("de"):
        assert country_name_filter(contact.country) == str(contact.country.name) == "Tschechien"
    assert country_name_filter(Contact().country) == country_name(None) == ""


def test_a_row_names_its_country(marketer_client):
    ContactFactory(country="NZ")
    content = marketer_client.get(URL).content.decode()
    assert '<span title="New Zealand"><img class="flag me-1" src="/static/flags/nz.gif" alt="">' in content


def test_empty_states(marketer_client):
    content = marketer_client.get(URL).content.decode()
    assert "No contacts yet" in content and reverse("contacts:contact_create") in content
    ContactFactory(country="CZ")
    content = marketer_client.get(URL, {"country": "DE"}).content.decode()
    assert "No contacts match these filters" in content and "Clear filters" in content


def test_active_filters_are_listed_as_removable_chips(marketer_client, custom_fields):
    ContactFactory()
    response = marketer_client.get(URL, {"country": "DE", "cf_plan": "pro"})
    chips = response.context["filterset"].active_filters()
    assert [(name, text) for name, text, _ in chips] == [("country", "Germany"), ("cf_plan", "Pro")]
    content = response.content.decode()
    assert 'href="?cf_plan=pro"' in content  # removing the country chip keeps the plan filter


def test_query_count_does_not_grow_with_rows(marketer_client, django_assert_max_num_queries, custom_fields):
    account = AccountFactory()
    ContactFactory.create_batch(30, account=account)
    with django_assert_max_num_queries(12):
        marketer_client.get(URL)
