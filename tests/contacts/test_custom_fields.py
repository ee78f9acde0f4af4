"""contacts.custom_fields: the one place custom values are validated, converted and rendered."""

import datetime as dt
from decimal import Decimal

import pytest
from django import forms
from django.core.exceptions import ValidationError
from hypothesis import given, settings
from hypothesis import strategies as st

from contacts.custom_fields import clean_custom, coerce_value, display_value, field_value, form_field, is_empty
from contacts.models import ContactField, FieldType

CODES = ["enterprise", "smb", "mid_market"]

# (type, raw value, canonical stored value)
GOOD = [
    ("text", "  Hello  ", "Hello"),
    ("text", "Příliš žluťoučký", "Příliš žluťoučký"),
    ("text", 42, "42"),
    ("text", 1.5, "1.5"),
    ("text", True, "Yes"),
    ("text", ["a", "b"], "a, b"),
    ("number", "42", 42),
    ("number", " -7 ", -7),
    ("number", "3.25", 3.25),
    ("number", "3,25", 3.25),
    ("number", "1e3", 1000),
    ("number", "2.0", 2),
    ("number", 5, 5),
    ("number", 2.0, 2),
    ("number", 0.5, 0.5),
    ("number", Decimal("12.50"), 12.5),
    ("number", 10**15, 10**15),
    ("date", "2024-02-29", "2024-02-29"),
    ("date", " 2024-01-05 ", "2024-01-05"),
    ("date", dt.date(2024, 3, 1), "2024-03-01"),
    ("date", dt.datetime(2024, 3, 1, 23, 30), "2024-03-01"),
    ("boolean", True, True),
    ("boolean", False, False),
    ("boolean", "yes", True),
    ("boolean", "No", False),
    ("boolean", "1", True),
    ("boolean", 0, False),
    ("choice", "enterprise", "enterprise"),
    ("choice", "ENTERPRISE", "enterprise"),
    ("choice", " smb ", "smb"),
    ("choice", ["smb"], "smb"),
    ("multi_choice", ["smb", "enterprise"], ["enterprise", "smb"]),
    ("multi_choice", ["smb", "smb"], ["smb"]),
    ("multi_choice", "smb, enterprise", ["enterprise", "smb"]),
    ("multi_choice", "mid_market", ["mid_market"]),
    ("multi_choice", ["", "smb"], ["smb"]),
    ("email", " ann@example.com ", "ann@example.com"),
    ("url", "https://example.com/a?b=1", "https://example.com/a?b=1"),
    ("phone", "+420 601 123 456", "+420 601 123 456"),
    ("phone", "(555) 010-0199", "(555) 010-0199"),
    ("phone", " +1.202.555.0143 ", "+1.202.555.0143"),
    ("phone", "601234567 ext. 12", "601234567 ext. 12"),
    ("phone", "+44 20 7946 0000 x7", "+44 20 7946 0000 x7"),
    ("phone", 601234567, "601234567"),
]

# (type, raw value) that must be refused with a ValidationError (never another exception)
BAD = [
    ("text", {"a": 1}),
    ("text", [{"a": 1}]),
    ("number", "twelve"),
    ("number", "1,000"),  # one thousand or one? refused rather than guessed
    ("number", "1.000,5"),
    ("number", "1_000"),
    ("number", "0x10"),
    ("number", "NaN"),
    ("number", "Infinity"),
    ("number", float("nan")),
    ("number", float("inf")),
    ("number", True),
    ("number", "1e400"),
    ("number", 10**15 + 1),
    ("number", ["1"]),
    ("date", "2024-02-30"),
    ("date", "15/01/2024"),
    ("date", "20240115"),
    ("date", "2024-W03-1"),
    ("date", "2024-01-15T10:00"),
    ("date", 20240115),
    ("date", True),
    ("boolean", "maybe"),
    ("boolean", 2),
    ("boolean", ["yes"]),
    ("choice", "gold"),
    ("choice", ["smb", "enterprise"]),
    ("choice", {"code": "smb"}),
    ("multi_choice", ["smb", "gold"]),
    ("multi_choice", "Smb"),  # multi-choice codes compare exactly
    ("multi_choice", 5),
    ("multi_choice", {"smb": True}),
    ("email", "not-an-email"),
    ("email", "ann@"),
    ("url", "example com"),
    ("url", "javascript:alert(1)"),
    ("phone", "call me"),
    ("phone", "12"),
    ("phone", "abc"),
    ("phone", "12345"),  # fewer than 6 digits
    ("phone", "123 ext 4567"),  # the extension's digits don't count
    ("phone", "+420 601 234 567 call after 5"),
    ("phone", "601/234/567"),
    ("phone", "1" * 41),
    ("unknown_type", "x"),
]

ALL_TYPES = [t.value for t in FieldType]


@pytest.mark.parametrize(("field_type", "raw", "expected"), GOOD)
def test_coerce_good_values(field_type, raw, expected):
    result = coerce_value(field_type=field_type, value=raw, choices=CODES)
    assert result == expected
    assert type(result) is type(expected)


@pytest.mark.parametrize(("field_type", "raw"), BAD)
def test_coerce_bad_values_raise_validation_error(field_type, raw):
    with pytest.raises(ValidationError) as excinfo:
        coerce_value(field_type=field_type, value=raw, choices=CODES)
    assert excinfo.value.messages and all(excinfo.value.messages)


@pytest.mark.parametrize("field_type", ALL_TYPES)
@pytest.mark.parametrize("empty", [None, "", "   ", []])
def test_empty_values_are_none_for_every_type(field_type, empty):
    assert coerce_value(field_type=field_type, value=empty, choices=CODES) is None


@pytest.mark.parametrize(
    ("value", "expected"), [(None, True), ("", True), (" ", True), ([], True), (0, False), (False, False), ("x", False)]
)
def test_is_empty(value, expected):
    assert is_empty(value) is expected


def test_choice_error_lists_the_choices():
    with pytest.raises(ValidationError, match="“gold” is not one of the choices \\(enterprise, smb, mid_market\\)"):
        coerce_value(field_type="choice", value="gold", choices=CODES)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("1e400", "Enter a number between -1,000,000,000,000,000 and 1,000,000,000,000,000."),
        ("-1E400", "Enter a number between -1,000,000,000,000,000 and 1,000,000,000,000,000."),
        (Decimal("1e400"), "Enter a number between -1,000,000,000,000,000 and 1,000,000,000,000,000."),
        (1e300, "Enter a number between -1,000,000,000,000,000 and 1,000,000,000,000,000."),
        (10**400, "Enter a number between -1,000,000,000,000,000 and 1,000,000,000,000,000."),
        ("inf", "Enter a finite number."),
        ("-Infinity", "Enter a finite number."),
        ("nan", "Enter a finite number."),
        (float("inf"), "Enter a finite number."),
        (float("-inf"), "Enter a finite number."),
        (float("nan"), "Enter a finite number."),
        (Decimal("Infinity"), "Enter a finite number."),
        (Decimal("NaN"), "Enter a finite number."),
    ],
)
def test_numbers_must_be_finite_and_in_range(raw, message):
    """Bulk paths (imports, type changes) coerce here too: nothing that JSON can't store faithfully gets through."""
    with pytest.raises(ValidationError) as excinfo:
        coerce_value(field_type="number", value=raw)
    assert excinfo.value.messages == [message]


def test_phone_message_gives_an_example():
    with pytest.raises(ValidationError) as excinfo:
        coerce_value(field_type="phone", value="abc")
    assert excinfo.value.messages == ["Enter a phone number, e.g. +420 601 234 567."]


def test_ambiguous_number_message_explains():
    with pytest.raises(ValidationError, match="ambiguous"):
        coerce_value(field_type="number", value="1,000")


@pytest.mark.parametrize(("field_type", "raw", "expected"), GOOD)
def test_canonical_values_are_fixed_points(field_type, raw, expected):
    """Coercing a stored value again changes nothing: the conversion on a type change relies on it."""
    assert coerce_value(field_type=field_type, value=expected, choices=CODES) == expected


@settings(max_examples=60, deadline=None)
@given(st.integers(min_value=-(10**15), max_value=10**15))
def test_integers_round_trip_through_text(n):
    assert coerce_value(field_type="number", value=str(n)) == n
    assert coerce_value(field_type="number", value=coerce_value(field_type="text", value=n)) == n


@settings(max_examples=60, deadline=None)
@given(st.floats(allow_nan=False, allow_infinity=False, min_value=-1e12, max_value=1e12))
def test_floats_round_trip_through_text(x):
    assert coerce_value(field_type="number", value=repr(x)) == x


@settings(max_examples=60, deadline=None)
@given(st.lists(st.sampled_from(CODES)))
def test_multi_choice_is_ordered_unique_and_idempotent(items):
    result = coerce_value(field_type="multi_choice", value=items, choices=CODES)
    if not items:
        assert result is None
    else:
        assert result == [c for c in CODES if c in items]
        assert coerce_value(field_type="multi_choice", value=result, choices=CODES) == result


def make_field(code="tier", type="choice", **kwargs):
    choices = kwargs.pop("choices", [{"code": c, "label": c.replace("_", " ").title()} for c in CODES])
    return ContactField(code=code, label=code.title(), type=type, choices=choices, **kwargs)


def test_field_value_uses_the_field_definition():
    assert field_value(field=make_field(), value="SMB") == "smb"
    with pytest.raises(ValidationError):
        field_value(field=make_field(choices=[{"code": "gold", "label": "Gold"}]), value="smb")


def test_clean_custom_merges_validates_and_keeps_other_keys():
    fields = [make_field(), make_field(code="seats", type="number", choices=[])]
    existing = {"tier": "smb", "seats": 3, "old_retired": "kept", "stray": 1}
    result = clean_custom(values={"tier": "Enterprise", "seats": ""}, fields=fields, existing=existing)
    assert result == {"tier": "enterprise", "old_retired": "kept", "stray": 1}
    assert existing["seats"] == 3  # the input dict is not modified


def test_clean_custom_collects_errors_by_code():
    fields = [make_field(), make_field(code="seats", type="number", choices=[], required=True)]
    with pytest.raises(ValidationError) as excinfo:
        clean_custom(values={"tier": "gold", "seats": None}, fields=fields)
    assert set(excinfo.value.message_dict) == {"tier", "seats"}
    assert excinfo.value.message_dict["seats"] == ["This field is required."]


def test_clean_custom_does_not_require_a_retired_field():
    field = make_field(code="seats", type="number", choices=[], required=True, is_active=False)
    assert clean_custom(values={"seats": ""}, fields=[field], existing={"seats": 4}) == {}


def test_clean_custom_skips_fields_not_given():
    field = make_field(code="seats", type="number", choices=[], required=True)
    assert clean_custom(values={}, fields=[field], existing={"x": 1}) == {"x": 1}


@pytest.mark.parametrize(
    ("field", "value", "shown"),
    [
        (make_field(), "smb", "Smb"),
        (make_field(), "gone", "gone"),
        (make_field(type="multi_choice"), ["enterprise", "mid_market"], "Enterprise, Mid Market"),
        (make_field(code="vip", type="boolean", choices=[]), True, "Yes"),
        (make_field(code="vip", type="boolean", choices=[]), False, "No"),
        (make_field(code="seats", type="number", choices=[]), 12, "12"),
        (make_field(code="seats", type="number", choices=[]), None, ""),
        (make_field(code="tags", type="multi_choice"), [], ""),
    ],
)
def test_display_value(field, value, shown):
    assert display_value(field=field, value=value) == shown


@pytest.mark.parametrize(
    ("field_type", "form_class"),
    [
        ("text", forms.CharField),
        ("number", forms.DecimalField),
        ("date", forms.DateField),
        ("boolean", forms.NullBooleanField),
        ("choice", forms.ChoiceField),
        ("multi_choice", forms.MultipleChoiceField),
        ("email", forms.EmailField),
        ("url", forms.URLField),
        ("phone", forms.CharField),
    ],
)
def test_form_field_class_per_type(field_type, form_class):
    field = make_field(type=field_type, required=True, help_text="Help!")
    form_field_ = form_field(field=field)
    assert isinstance(form_field_, form_class)
    assert form_field_.label == field.label
    assert form_field_.help_text == "Help!"


@pytest.mark.parametrize(("stored", "selected"), [(True, "true"), (False, "false"), (None, "unknown")])
def test_boolean_form_field_shows_the_stored_value(stored, selected):
    """A plain Select would show True as "—", and saving the form would silently clear the value."""
    field = make_field(code="vip", type="boolean", choices=[])
    html = form_field(field=field).widget.render("vip", stored)
    assert f'<option value="{selected}" selected>' in html


@pytest.mark.parametrize(("submitted", "stored"), [("true", True), ("false", False), ("unknown", None)])
def test_boolean_form_field_round_trip(submitted, stored):
    field = make_field(code="vip", type="boolean", choices=[])

    class F(forms.Form):
        vip = form_field(field=field)

    form = F(data={"vip": submitted})
    assert form.is_valid()
    assert field_value(field=field, value=form.cleaned_data["vip"]) == stored


def test_form_cleaned_values_become_canonical():
    fields = {
        "seats": make_field(code="seats", type="number", choices=[]),
        "renewal": make_field(code="renewal", type="date", choices=[]),
        "tier": make_field(),
        "topics": make_field(code="topics", type="multi_choice"),
        "site": make_field(code="site", type="url", choices=[]),
    }

    form_class = type("F", (forms.Form,), {code: form_field(field=f) for code, f in fields.items()})
    form = form_class(
        data={"seats": "12.0", "renewal": "2025-06-30", "tier": "smb", "topics": ["smb", "enterprise"], "site": "a.cz"}
    )
    assert form.is_valid(), form.errors
    stored = clean_custom(values=form.cleaned_data, fields=fields.values())
    assert stored == {
        "seats": 12,
        "renewal": "2025-06-30",
        "tier": "smb",
        "topics": ["enterprise", "smb"],
        "site": "https://a.cz",
    }


# --- pages (issue 11, items 15 and 19) -------------------------------------------------------------------

SCRIPT = '<script>alert("help")</script><b>bold</b>'


@pytest.mark.parametrize("form", ["create", "edit"])
def test_help_text_is_escaped_on_the_contact_forms(staff_client, form):
    from django.urls import reverse

    from tests.factories import ContactFactory, ContactFieldFactory

    ContactFieldFactory(code="note", label="Note", type="text", help_text=SCRIPT)
    contact = ContactFactory()
    url = reverse("contacts:contact_create")
    if form == "edit":
        url = reverse("contacts:contact_update", args=[contact.pk])
    html = staff_client.get(url).content.decode()
    assert "<script>alert" not in html
    assert "<b>bold</b>" not in html
    assert "&lt;script&gt;alert(&quot;help&quot;)&lt;/script&gt;&lt;b&gt;bold&lt;/b&gt;" in html


@pytest.mark.parametrize(
    ("code", "type", "stored", "params"),
    [
        ("tag__isnull", "text", "red", {"cf_tag__isnull": "red"}),
        ("n__gt", "number", 5, {"cf_n__gt_min": "4", "cf_n__gt_max": "6"}),
        ("a__b", "boolean", True, {"cf_a__b": "yes"}),
    ],
)
def test_old_codes_with_a_double_underscore_still_filter_the_contact_list(marketer_client, code, type, stored, params):
    """Codes made before "__" was refused keep working: the list's lookups never parse a code."""
    from django.urls import reverse

    from tests.factories import ContactFactory, ContactFieldFactory

    ContactFieldFactory(code=code, label=code, type=type)
    holder = ContactFactory(custom={code: stored})
    ContactFactory(custom={})
    response = marketer_client.get(reverse("contacts:contact_list"), params)
    assert response.status_code == 200
    assert [c.pk for c in response.context["object_list"]] == [holder.pk]
