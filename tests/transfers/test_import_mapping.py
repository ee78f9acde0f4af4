"""Automatic column mapping (the headers people bring) and typing cells by field settings."""

from __future__ import annotations

import pytest

from tests.factories import ContactFieldFactory
from transfers.imports import values
from transfers.imports.mapping import mapping_from_saved, mapping_guess, mapping_problems, mapping_to_saved


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (
            ["Email Address", "First Name", "Last Name", "MEMBER_RATING", "LEID"],  # Mailchimp
            ["email", "first_name", "last_name", "lead_score", ""],
        ),
        (
            [
                "Record ID",
                "First Name",
                "Email",
                "Country/Region",
                "Company Name",
                "Job Title",
                "Phone Number",
            ],  # HubSpot
            ["", "first_name", "email", "country", "account", "job_title", "phone"],
        ),
        (
            ["E-mailová adresa", "Jméno", "Příjmení", "Město", "Země", "Telefon", "Pracovní pozice"],  # Czech Excel
            ["email", "first_name", "last_name", "city", "country", "phone", "job_title"],
        ),
        (
            ["E-Mail-Adresse", "Vorname", "Nachname", "Stadt", "Land", "Telefonnummer"],  # German Excel
            ["email", "first_name", "last_name", "city", "country", "phone"],
        ),
        (["Email", "e-mail", "Favourite colour"], ["email", "", ""]),  # a field is filled by one column only
    ],
    ids=["mailchimp", "hubspot", "czech", "german", "repeat"],
)
def test_headers_people_bring_are_mapped(header, expected):
    assert mapping_guess(header=header) == expected


@pytest.mark.django_db
def test_custom_fields_are_mapped_by_label_or_code():
    ContactFieldFactory(code="tier", label="Customer tier", type="choice")
    ContactFieldFactory(code="birthday", label="Date of birth", type="date")
    ContactFieldFactory(code="old", label="Retired one", is_active=False)
    assert mapping_guess(header=["customer tier", "BIRTHDAY", "Retired one"]) == ["custom.tier", "custom.birthday", ""]


def test_saved_mappings_apply_by_loose_header_and_drop_unknown_targets():
    saved = mapping_to_saved(header=["E-mail", "Sign-up", "Notes"], mapping=["email", "custom.signup", ""])
    assert saved == {"e mail": "email", "sign up": "custom.signup"}
    header = ["e-mail", "SIGN UP", "Other"]
    assert mapping_from_saved(header=header, columns=saved, valid={"email"}) == ["email", "", ""]


def test_mapping_problems_name_what_is_wrong():
    assert mapping_problems(mapping=["email", "email"], valid={"email"}) == [
        "Each field can be filled by one column only: email."
    ]
    assert "No column is mapped" in mapping_problems(mapping=["", ""], valid={"email"})[0]
    assert "Unknown fields: custom.gone." in mapping_problems(mapping=["custom.gone"], valid={"email"})


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("Czech Republic", "CZ"),
        ("Czechia", "CZ"),
        ("cz", "CZ"),
        ("CZE", "CZ"),
        ("Česko", "CZ"),
        ("Česká republika", "CZ"),
        ("Deutschland", "DE"),
        ("Germany", "DE"),
        ("USA", "US"),
        ("UK", "GB"),
        (" slovakia ", "SK"),
    ],
)
def test_countries_in_any_common_form(text, code):
    assert values.country(text) == code


def test_a_country_spelling_is_looked_up_by_name_once(monkeypatch):
    # countries.by_name translates every country's name (ms per call): a 100k-row file repeats a few spellings.
    calls = []
    by_name = values.countries.by_name
    monkeypatch.setattr(values.countries, "by_name", lambda name, **kw: calls.append(name) or by_name(name, **kw))
    values._country_by_name.cache_clear()
    assert [values.country("United Kingdom of Great Britain and Northern Ireland") for _ in range(3)] == ["GB"] * 3
    assert len(calls) <= 1


def test_unknown_country_is_an_error():
    with pytest.raises(ValueError, match="not a country we know"):
        values.country("Atlantis")


@pytest.mark.parametrize(
    ("text", "fmt", "expected"),
    [
        ("2025-12-31", "auto", "2025-12-31"),
        ("31.12.2025", "auto", "2025-12-31"),
        ("1. 2. 2025".replace(" ", ""), "auto", "2025-02-01"),
        ("31/12/2025", "auto", "2025-12-31"),
        ("12/31/2025", "auto", "2025-12-31"),
        ("03/04/2025", "dmy", "2025-04-03"),
        ("03/04/2025", "mdy", "2025-03-04"),
        ("2025-12-31 14:30:00", "auto", "2025-12-31"),
        ("2025-12-31T14:30:00Z", "auto", "2025-12-31"),
    ],
)
def test_dates_in_the_usual_formats(text, fmt, expected):
    assert values.date(text, date_format=fmt) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [("03/04/2025", "choose the date format"), ("31.02.2025", "not a real date"), ("next tuesday", "not a date")],
)
def test_bad_and_ambiguous_dates_say_why(text, message):
    with pytest.raises(ValueError, match=message):
        values.date(text)


@pytest.mark.django_db
def test_custom_values_by_field_settings():
    tier = ContactFieldFactory(code="tier", type="choice", choices=[{"code": "gold", "label": "Gold plan"}])
    tags = ContactFieldFactory(
        code="tags", type="multi_choice", choices=[{"code": "a", "label": "Alpha"}, {"code": "b", "label": "Beta"}]
    )
    vip = ContactFieldFactory(code="vip", type="boolean")
    size = ContactFieldFactory(code="size", type="number")
    assert values.custom_value(tier, "GOLD") == "gold"
    assert values.custom_value(tier, "gold plan") == "gold"
    assert values.custom_value(tags, "Alpha; b") == ["a", "b"]
    assert values.custom_value(vip, "Ano") is True and values.custom_value(vip, "nein") is False
    assert values.custom_value(size, "1 234,5") == 1234.5
    with pytest.raises(ValueError, match="not one of the choices"):
        values.custom_value(tier, "platinum")
    with pytest.raises(ValueError, match="not yes or no"):
        values.custom_value(vip, "maybe")
