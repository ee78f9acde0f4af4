"""Create, edit and delete contacts through the pages and the services; bad input stores nothing."""

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from contacts import services
from contacts.models import Activity, Contact
from tests.factories import AccountFactory, ActivityFactory, ContactFactory, ContactFieldFactory

pytestmark = pytest.mark.django_db
CREATE = reverse("contacts:contact_create")


def form_data(**overrides):
    data = {
        "first_name": "Ada",
        "last_name": "Lovelace",
        "email": "ada@example.com",
        "phone": "+44 20 7946 0000",
        "job_title": "Analyst",
        "account": "",
        "country": "GB",
        "city": "London",
        "lead_score": "12",
    }
    data.update(overrides)
    return data


def test_create_contact_with_every_custom_field_type(marketer_client, custom_fields):
    account = AccountFactory()
    response = marketer_client.post(
        CREATE,
        form_data(
            account=account.pk,
            custom_nickname="  Countess ",
            custom_budget="1250.50",
            custom_renewal="2026-05-01",
            custom_vip="true",
            custom_plan="pro",
            custom_topics=["cloud", "ai"],
            custom_website="https://ada.example",
            custom_work_email="ada@work.example",
            custom_mobile="+44 7700 900000",
        ),
    )
    contact = Contact.objects.get()
    assert response.status_code == 302 and response.url == contact.get_absolute_url()
    assert contact.account == account and contact.country.code == "GB" and contact.lead_score == 12
    assert contact.custom == {
        "nickname": "Countess",
        "budget": 1250.5,
        "renewal": "2026-05-01",
        "vip": True,
        "plan": "pro",
        "topics": ["ai", "cloud"],  # the field's own order
        "website": "https://ada.example",
        "work_email": "ada@work.example",
        "mobile": "+44 7700 900000",
    }


def test_form_shows_active_custom_fields_in_field_settings_order(marketer_client, custom_fields):
    ContactFieldFactory(code="old", type="text", is_active=False)
    form = marketer_client.get(CREATE).context["form"]
    custom = [name for name in form.fields if name.startswith("custom_")]
    assert custom == [f"custom_{code}" for code in custom_fields]


def test_anonymous_contact_blank_email_is_stored_as_null(marketer_client):
    marketer_client.post(CREATE, form_data(email="", first_name="", last_name=""))
    marketer_client.post(CREATE, form_data(email="   ", first_name="", last_name=""))
    assert list(Contact.objects.values_list("email", flat=True)) == [None, None]


def test_duplicate_email_case_insensitive_is_a_form_error(marketer_client):
    ContactFactory(email="Ada@Example.com")
    response = marketer_client.post(CREATE, form_data(email="ada@EXAMPLE.com"))
    assert response.status_code == 200
    assert response.context["form"].errors["email"] == ["Another contact already uses this email address."]
    assert Contact.objects.count() == 1


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("email", "not-an-email", "Enter a valid email address."),
        ("custom_budget", "twelve", "Enter a number."),
        ("custom_plan", "platinum", "Select a valid choice."),
        ("custom_topics", ["ai", "quantum"], "Select a valid choice."),
        ("custom_renewal", "31/12/2026", "Enter a valid date."),
        ("custom_website", "not a url", "Enter a valid URL."),
        ("custom_work_email", "nope@", "Enter a valid email address."),
        ("custom_mobile", "call me", "Enter a phone number, e.g. +420 601 234 567."),
        ("lead_score", "high", "Enter a whole number."),
    ],
)
def test_bad_input_is_a_form_error_and_stores_nothing(marketer_client, custom_fields, field, value, message):
    response = marketer_client.post(CREATE, form_data(**{field: value}))
    assert response.status_code == 200
    errors = response.context["form"].errors
    assert field in errors and message in " ".join(errors[field])
    assert "Nothing was saved" in response.content.decode()
    assert not Contact.objects.exists()


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("custom_budget", "1e400", "Enter a number between -1,000,000,000,000,000 and 1,000,000,000,000,000."),
        ("custom_budget", "-1e400", "Enter a number between -1,000,000,000,000,000 and 1,000,000,000,000,000."),
        ("custom_budget", "9" * 400, "Enter a number between -1,000,000,000,000,000 and 1,000,000,000,000,000."),
        ("custom_budget", "inf", "Enter a finite number."),
        ("custom_budget", "-Infinity", "Enter a finite number."),
        ("custom_budget", "NaN", "Enter a finite number."),
        ("lead_score", "99999999999999999999", "Lead score must be between -2,147,483,648 and 2,147,483,647."),
        ("lead_score", "2147483648", "Lead score must be between -2,147,483,648 and 2,147,483,647."),
        ("lead_score", "-2147483649", "Lead score must be between -2,147,483,648 and 2,147,483,647."),
        ("phone", "abc", "Enter a phone number, e.g. +420 601 234 567."),
        ("phone", "12345", "Enter a phone number, e.g. +420 601 234 567."),
        ("phone", "+420 601 234 567; drop", "Enter a phone number, e.g. +420 601 234 567."),
        ("custom_mobile", "abc", "Enter a phone number, e.g. +420 601 234 567."),
        ("custom_mobile", "601 x 1234", "Enter a phone number, e.g. +420 601 234 567."),  # 3 digits + extension
    ],
)
def test_out_of_range_and_malformed_values_get_human_messages(marketer_client, custom_fields, field, value, message):
    response = marketer_client.post(CREATE, form_data(**{field: value}))
    assert response.status_code == 200
    assert response.context["form"].errors[field] == [message]
    assert not Contact.objects.exists()


def test_lead_score_limits_are_accepted(marketer_client):
    for score in (2147483647, -2147483648):
        marketer_client.post(CREATE, form_data(email=f"{score}@example.com", lead_score=str(score)))
    assert sorted(Contact.objects.values_list("lead_score", flat=True)) == [-2147483648, 2147483647]


@pytest.mark.parametrize(
    "phone",
    [
        "+420 601 234 567",
        "(555) 010-0199",
        "+1.202.555.0143",
        "(+44) 20 7946 0000",
        "601234567 ext. 12",
        "+44 20 7946 0000 x7",
    ],
)
def test_phone_like_input_is_accepted(marketer_client, custom_fields, phone):
    response = marketer_client.post(CREATE, form_data(phone=f"  {phone} ", custom_mobile=phone))
    assert response.status_code == 302, response.context["form"].errors
    contact = Contact.objects.get()
    assert contact.phone == phone and contact.custom["mobile"] == phone


def test_editing_keeps_a_stored_phone_saved_before_the_check(marketer_client):
    contact = ContactFactory(first_name="Ada", phone="+44 1")
    url = reverse("contacts:contact_update", args=[contact.pk])
    response = marketer_client.post(url, form_data(phone="+44 1", job_title="CTO"))
    assert response.status_code == 302
    contact.refresh_from_db()
    assert (contact.phone, contact.job_title) == ("+44 1", "CTO")
    response = marketer_client.post(url, form_data(phone="+44 12"))  # a changed phone must be a phone
    assert response.context["form"].errors["phone"] == ["Enter a phone number, e.g. +420 601 234 567."]


BLANK = form_data(first_name="", last_name="", email="", phone="", job_title="", country="", city="", lead_score="0")


def test_blank_new_contact_is_refused_with_a_form_error(marketer_client):
    response = marketer_client.post(CREATE, {**BLANK, "first_name": "   "})
    assert response.status_code == 200
    form = response.context["form"]
    assert form.non_field_errors() == ["Give the contact a name, an email or a phone number."]
    assert form.field_error_count == 0
    content = response.content.decode()
    assert "Give the contact a name, an email or a phone number." in content and "Nothing was saved" in content
    assert "highlighted" not in content  # no field is highlighted, so the page doesn't point at one
    assert not Contact.objects.exists()


@pytest.mark.parametrize(
    "given",
    [{"first_name": "Ada"}, {"last_name": "Lovelace"}, {"email": "ada@example.com"}, {"phone": "+420 601 234 567"}],
)
def test_any_one_of_name_email_or_phone_is_enough(marketer_client, given):
    response = marketer_client.post(CREATE, {**BLANK, **given})
    assert response.status_code == 302
    assert Contact.objects.count() == 1


def test_a_bad_email_alone_is_reported_on_the_email_not_as_blank(marketer_client):
    response = marketer_client.post(CREATE, {**BLANK, "email": "nope@"})
    form = response.context["form"]
    assert "email" in form.errors and not form.non_field_errors()


def test_edit_cannot_blank_out_a_contact_but_anonymous_ones_stay_editable(marketer_client):
    named = ContactFactory(first_name="Ada", last_name="", email=None, phone="")
    response = marketer_client.post(reverse("contacts:contact_update", args=[named.pk]), BLANK)
    assert response.context["form"].non_field_errors() == ["Give the contact a name, an email or a phone number."]
    named.refresh_from_db()
    assert named.first_name == "Ada"
    tracked = services.contact_create(first_name="", last_name="", email=None, phone="")  # services still allow it
    response = marketer_client.post(reverse("contacts:contact_update", args=[tracked.pk]), {**BLANK, "city": "Brno"})
    assert response.status_code == 302
    tracked.refresh_from_db()
    assert tracked.city == "Brno"


def test_required_custom_field(marketer_client):
    ContactFieldFactory(code="segment", type="text", required=True)
    response = marketer_client.post(CREATE, form_data())
    assert "custom_segment" in response.context["form"].errors
    assert not Contact.objects.exists()


def test_edit_contact_keeps_retired_field_values_and_clears_emptied_ones(marketer_client, custom_fields):
    ContactFieldFactory(code="legacy", type="text", is_active=False)
    contact = ContactFactory(email="a@example.com", custom={"legacy": "kept", "nickname": "Old", "budget": 5})
    url = reverse("contacts:contact_update", args=[contact.pk])
    form = marketer_client.get(url).context["form"]
    assert form["custom_nickname"].value() == "Old" and form["custom_budget"].value() == 5
    response = marketer_client.post(url, form_data(email="A@example.com", custom_nickname="New", custom_budget=""))
    assert response.status_code == 302
    contact.refresh_from_db()
    assert contact.email == "A@example.com"  # its own address in another case is not a duplicate
    assert contact.custom == {"legacy": "kept", "nickname": "New"}


def test_edit_shows_stored_boolean_and_choices_selected(marketer_client, custom_fields):
    contact = ContactFactory(custom={"vip": False, "plan": "pro", "topics": ["ai"]})
    content = marketer_client.get(reverse("contacts:contact_update", args=[contact.pk])).content.decode()
    assert '<option value="false" selected>No</option>' in content
    assert '<option value="pro" selected>Pro</option>' in content
    assert 'value="ai"' in content and "checked" in content


def test_edit_with_bad_input_changes_nothing(marketer_client, custom_fields):
    contact = ContactFactory(first_name="Ada", custom={"budget": 5})
    url = reverse("contacts:contact_update", args=[contact.pk])
    response = marketer_client.post(url, form_data(first_name="Changed", custom_budget="lots"))
    assert response.status_code == 200
    assert "Edit Ada" in response.content.decode()  # the page still names the stored contact
    contact.refresh_from_db()
    assert contact.first_name == "Ada" and contact.custom == {"budget": 5}


def test_edit_to_another_contacts_email_is_refused(marketer_client):
    ContactFactory(email="taken@example.com")
    contact = ContactFactory(email="mine@example.com")
    response = marketer_client.post(
        reverse("contacts:contact_update", args=[contact.pk]), form_data(email="TAKEN@example.com")
    )
    assert response.context["form"].errors["email"]
    contact.refresh_from_db()
    assert contact.email == "mine@example.com"


def test_account_picker_renders_only_the_selected_account(marketer_client):
    others = AccountFactory.create_batch(5)
    chosen = AccountFactory(name="Chosen Ltd", domain="chosen.example")
    contact = ContactFactory(account=chosen)
    content = marketer_client.get(reverse("contacts:contact_update", args=[contact.pk])).content.decode()
    assert not any(other.name in content for other in others)  # loaded by search as the user types
    assert f'<option value="{chosen.pk}" selected>Chosen Ltd (chosen.example)</option>' in content


def test_save_and_add_another(marketer_client):
    response = marketer_client.post(CREATE, {**form_data(), "_addanother": "1"})
    assert response.status_code == 302 and response.url == CREATE


def test_delete_page_and_delete(marketer_client):
    contact = ContactFactory()
    ActivityFactory.create_batch(3, contact=contact)
    merged = ContactFactory(merged_into=contact)
    url = reverse("contacts:contact_delete", args=[contact.pk])
    content = marketer_client.get(url).content.decode()
    assert "3 activities" in content and "1 contact merged into it" in content
    response = marketer_client.post(url)
    assert response.status_code == 302 and response.url == reverse("contacts:contact_list")
    assert not Contact.objects.filter(pk__in=[contact.pk, merged.pk]).exists()
    assert not Activity.objects.exists()


# --- services directly ---------------------------------------------------------------------------


def test_services_validate_like_the_form(custom_fields):
    with pytest.raises(ValidationError) as exc:
        services.contact_create(email="x@example.com", custom={"budget": "many"})
    assert "budget" in exc.value.message_dict
    with pytest.raises(ValidationError):
        services.contact_create(email="bad email")
    with pytest.raises(ValidationError) as exc:
        services.contact_create(custom={"nope": 1})
    assert "nope" in exc.value.message_dict
    assert not Contact.objects.exists()
    contact = services.contact_create(email=" a@example.com ", custom={"budget": "7"})
    assert contact.email == "a@example.com" and contact.custom == {"budget": 7}
    with pytest.raises(ValidationError):
        services.contact_create(email="A@EXAMPLE.COM")
    updated = services.contact_update(contact=contact, lead_score=3, custom={"plan": "PRO"})
    assert updated.lead_score == 3 and updated.custom == {"budget": 7, "plan": "pro"}


def test_lost_race_on_unique_email_is_a_validation_error(monkeypatch):
    """Two requests creating the same email at once: the database constraint decides, as a ValidationError."""
    ContactFactory(email="race@example.com")
    monkeypatch.setattr("contacts.services.contacts._check_email_free", lambda **kwargs: None)
    with pytest.raises(ValidationError) as exc:
        services.contact_create(email="RACE@example.com")
    assert exc.value.message_dict == {"email": [services.DUPLICATE_EMAIL_MESSAGE]}
    assert Contact.objects.count() == 1
