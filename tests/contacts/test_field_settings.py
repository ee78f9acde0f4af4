"""Field settings: services and selectors (contacts.field_settings) and the Admin-only pages."""

import pytest
from django.contrib.auth.models import AnonymousUser
from django.urls import reverse

from contacts import field_settings
from contacts.field_forms import choices_text, parse_choices
from contacts.models import Contact, ContactField
from contacts.roles import Role
from contacts.signals import contacts_changed
from tests.conftest import make_user
from tests.factories import ContactFactory, ContactFieldFactory

pytestmark = pytest.mark.django_db

TIERS = [
    {"code": "enterprise", "label": "Enterprise"},
    {"code": "mid_market", "label": "Mid-market"},
    {"code": "smb", "label": "Small business"},
]


def customs(code):
    """The stored values under `code`, by contact id (absent keys left out)."""
    return {c.pk: c.custom[code] for c in Contact.objects.order_by("pk") if code in c.custom}


@pytest.fixture
def tier():
    return ContactFieldFactory(code="tier", label="Tier", type="choice", choices=TIERS, order=1)


@pytest.fixture
def changed_ids():
    """Contact ids sent with contacts_changed (on commit) during the test."""
    received: list[int] = []

    def receiver(sender, contact_ids, reason, **kwargs):
        received.extend(contact_ids)

    contacts_changed.connect(receiver, weak=False)
    yield received
    contacts_changed.disconnect(receiver)


# --- choices textarea ----------------------------------------------------------------------------------


def test_parse_choices_accepts_codes_and_bare_labels():
    text = "enterprise | Enterprise\n\n  Mid-market  \nsmb|\n | Café owners\n10-50 people"
    assert parse_choices(text) == [
        {"code": "enterprise", "label": "Enterprise"},
        {"code": "mid_market", "label": "Mid-market"},
        {"code": "smb", "label": "smb"},
        {"code": "cafe_owners", "label": "Café owners"},
        {"code": "10_50_people", "label": "10-50 people"},
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("Small\nsmall", "Lines 1 and 2 both have the code “small”"),
        ("a | A\nA | Other", "Lines 1 and 2 both have the code “A”"),
        ("bad code | Label", "the code “bad code” may use only"),
        ("!!!", "give “!!!” a code"),
        ("x | " + "y" * 101, "at most 100 characters"),
    ],
)
def test_parse_choices_refuses_bad_lines(text, message):
    with pytest.raises(Exception) as excinfo:
        parse_choices(text)
    assert message in " ".join(excinfo.value.messages)


def test_choices_text_round_trips():
    assert parse_choices(choices_text(TIERS)) == TIERS


# --- field_create ----------------------------------------------------------------------------------------


def test_field_create_appends_to_the_order():
    ContactFieldFactory(code="first", order=7)
    ContactFieldFactory(code="gone", order=50, is_active=False)
    field = field_settings.field_create(
        label=" Customer tier ", code="customer_tier", type="choice", choices=TIERS, required=True, help_text=" Hi "
    )
    field.refresh_from_db()
    assert (field.label, field.code, field.type, field.required, field.help_text) == (
        "Customer tier",
        "customer_tier",
        "choice",
        True,
        "Hi",
    )
    assert field.choices == TIERS
    assert field.order == 8 and field.is_active


def test_field_create_drops_choices_for_other_types():
    field = field_settings.field_create(label="Seats", code="seats", type="number", choices=TIERS)
    assert field.choices == []


@pytest.mark.parametrize(
    ("code", "message"),
    [
        ("Tier", "Use lower-case letters"),
        ("1st", "Use lower-case letters"),
        ("my-field", "Use lower-case letters"),
        ("", "Enter a code"),
        ("email", "built-in contact field"),
        ("country", "built-in contact field"),
        ("lead_score", "built-in contact field"),
        ("account", "built-in contact field"),
        ("account_id", "built-in contact field"),
        ("custom", "built-in contact field"),
        ("activities", "built-in contact field"),
        ("merged_into", "built-in contact field"),
        ("page", "built-in contact field"),
        ("contains", "built-in contact field"),  # a JSON lookup: custom__contains would not be a key lookup
        ("in", "built-in contact field"),
        ("has_key", "built-in contact field"),
        ("tier", "The field “Tier” already uses the code “tier”"),
        ("old", "The retired field “Old” uses the code “old”; restore it instead"),
    ],
)
def test_field_create_refuses_bad_codes(tier, code, message):
    ContactFieldFactory(code="old", label="Old", is_active=False)
    before = ContactField.objects.count()
    with pytest.raises(Exception) as excinfo:
        field_settings.field_create(label="Anything", code=code, type="text")
    assert message in " ".join(excinfo.value.message_dict["code"])
    assert ContactField.objects.count() == before


@pytest.mark.parametrize(
    ("kwargs", "error_key", "message"),
    [
        ({"type": "choice", "choices": []}, "choices", "Add at least one choice"),
        ({"type": "multi_choice"}, "choices", "Add at least one choice"),
        ({"type": "choice", "choices": [{"code": "a"}, {"code": "A"}]}, "choices", "repeats the code"),
        ({"type": "choice", "choices": [{"code": "a b"}]}, "choices", "may use only letters"),
        ({"type": "choice", "choices": "a,b"}, "choices", "must be a list"),
        ({"type": "colour"}, "type", "is not a field type"),
        ({"type": "text", "label": "  "}, "label", "Enter a label"),
        ({"type": "text", "help_text": "x" * 201}, "help_text", "at most 200"),
    ],
)
def test_field_create_refuses_bad_definitions(kwargs, error_key, message):
    kwargs = {"label": "Thing", "code": "thing", **kwargs}
    with pytest.raises(Exception) as excinfo:
        field_settings.field_create(**kwargs)
    assert message in " ".join(excinfo.value.message_dict[error_key])
    assert not ContactField.objects.exists()


def test_field_create_converts_values_already_stored_under_its_code(changed_ids, django_capture_on_commit_callbacks):
    a = ContactFactory(custom={"seats": "12"})
    b = ContactFactory(custom={"seats": 3})
    with django_capture_on_commit_callbacks(execute=True):
        field_settings.field_create(label="Seats", code="seats", type="number")
    assert customs("seats") == {a.pk: 12, b.pk: 3}
    assert changed_ids == [a.pk]


def test_field_create_refuses_when_stored_values_do_not_fit():
    ContactFactory.create_batch(2, custom={"seats": "lots"})
    with pytest.raises(field_settings.FieldChangeRefused) as excinfo:
        field_settings.field_create(label="Seats", code="seats", type="number")
    assert excinfo.value.message_dict["code"] == [
        "2 contacts already hold “lots”, which can't be converted to a number; "
        "choose another code or clear those values first."
    ]
    assert not ContactField.objects.exists()
    assert set(customs("seats").values()) == {"lots"}


# --- field_update: definitions, code immutability ----------------------------------------------------------


def test_field_update_changes_label_help_and_choice_labels_without_touching_values(tier):
    contact = ContactFactory(custom={"tier": "smb", "other": "x"})
    relabelled = [{**c, "label": c["label"].upper()} for c in TIERS]
    change = field_settings.field_update(field=tier, label="Segment", help_text="Which plan", choices=relabelled)
    assert change.changed == {"label", "help_text", "choices"}
    assert change.converted == 0
    tier.refresh_from_db()
    assert (tier.label, tier.help_text, tier.choices, tier.code) == ("Segment", "Which plan", relabelled, "tier")
    contact.refresh_from_db()
    assert contact.custom == {"tier": "smb", "other": "x"}


def test_field_update_has_no_way_to_change_the_code(tier):
    with pytest.raises(TypeError):
        field_settings.field_update(field=tier, code="other")  # type: ignore[call-arg]
    assert ContactField.objects.get(pk=tier.pk).code == "tier"


def test_field_update_refuses_retired_fields(tier):
    field_settings.field_retire(field=tier)
    with pytest.raises(Exception, match="restore it before editing"):
        field_settings.field_update(field=tier, label="New")
    assert ContactField.objects.get(pk=tier.pk).label == "Tier"


def test_making_a_field_required_changes_no_data_and_counts_contacts_without_a_value(tier):
    ContactFactory.create_batch(2, custom={"tier": "smb"})
    ContactFactory.create_batch(3, custom={})
    ContactFactory(custom={"tier": ""})
    change = field_settings.field_update(field=tier, required=True)
    assert change.changed == {"required"}
    assert change.without_value == 4
    assert sorted(customs("tier").values()) == ["", "smb", "smb"]
    assert field_settings.field_update(field=tier, required=True).without_value is None  # unchanged


# --- field_update: choice lists ----------------------------------------------------------------------------


def test_removing_a_held_choice_is_refused_with_the_count(tier):
    ContactFactory.create_batch(12, custom={"tier": "enterprise"})
    ContactFactory.create_batch(2, custom={"tier": "smb"})
    with pytest.raises(field_settings.FieldChangeRefused) as excinfo:
        field_settings.field_update(field=tier, choices=TIERS[1:])
    assert excinfo.value.message_dict["choices"] == [
        "12 contacts hold “enterprise”, which the new list no longer has; change or clear those values first."
    ]
    assert excinfo.value.census.misfits == 12
    assert ContactField.objects.get(pk=tier.pk).choices == TIERS
    assert sorted(set(customs("tier").values())) == ["enterprise", "smb"]


def test_removing_several_held_choices_names_each_with_its_count(tier):
    ContactFactory.create_batch(3, custom={"tier": "enterprise"})
    ContactFactory(custom={"tier": "smb"})
    ContactFactory(custom={"tier": "mid_market"})
    with pytest.raises(field_settings.FieldChangeRefused) as excinfo:
        field_settings.field_update(field=tier, choices=[TIERS[1]])
    assert excinfo.value.message_dict["choices"] == [
        "4 contacts hold values the new list no longer has: “enterprise” (3), “smb” (1); "
        "change or clear those values first."
    ]


def test_renaming_a_held_choice_code_is_refused(tier):
    ContactFactory(custom={"tier": "smb"})
    renamed = [*TIERS[:2], {"code": "small", "label": "Small business"}]
    with pytest.raises(field_settings.FieldChangeRefused, match="1 contact holds “smb”"):
        field_settings.field_update(field=tier, choices=renamed)


def test_removing_an_unused_choice_and_adding_one_is_fine(tier):
    ContactFactory(custom={"tier": "smb"})
    new = [TIERS[2], {"code": "startup", "label": "Start-up"}]
    field_settings.field_update(field=tier, choices=new)
    assert ContactField.objects.get(pk=tier.pk).choices == new


def test_choice_values_stored_in_another_case_are_normalised(tier, changed_ids, django_capture_on_commit_callbacks):
    odd = ContactFactory(custom={"tier": "SMB"})
    fine = ContactFactory(custom={"tier": "smb"})
    with django_capture_on_commit_callbacks(execute=True):
        change = field_settings.field_update(field=tier, choices=[*TIERS, {"code": "startup", "label": "Start-up"}])
    assert change.converted == 1
    assert customs("tier") == {odd.pk: "smb", fine.pk: "smb"}
    assert changed_ids == [odd.pk]


def test_multi_choice_removal_counts_contacts_and_names_codes():
    topics = ContactFieldFactory(code="topics", type="multi_choice", choices=TIERS)
    ContactFactory.create_batch(2, custom={"topics": ["enterprise", "smb"]})
    ContactFactory(custom={"topics": ["smb"]})
    ContactFactory(custom={"topics": ["mid_market"]})
    ContactFactory(custom={"topics": []})
    with pytest.raises(field_settings.FieldChangeRefused) as excinfo:
        field_settings.field_update(field=topics, choices=TIERS[:2])
    assert excinfo.value.message_dict["choices"] == [
        "3 contacts hold “smb”, which the new list no longer has; change or clear those values first."
    ]


def test_offending_values_past_the_kept_limit_are_still_counted(monkeypatch):
    monkeypatch.setattr(field_settings, "OFFENDERS_KEPT", 2)
    text = ContactFieldFactory(code="size", type="text")
    for value in ["a", "b", "c", "d", "a"]:
        ContactFactory(custom={"size": value})
    with pytest.raises(field_settings.FieldChangeRefused) as excinfo:
        field_settings.field_update(field=text, type="number")
    census = excinfo.value.census
    assert (census.misfits, len(census.offenders), census.other_offenders) == (5, 2, 2)
    assert excinfo.value.message_dict["type"][0].startswith("5 contacts hold values that can't be converted")
    assert "and 2 other values" in excinfo.value.message_dict["type"][0]


def test_many_offending_values_are_summarised():
    text = ContactFieldFactory(code="size", type="text")
    for i in range(8):
        ContactFactory.create_batch(1 + (i == 0), custom={"size": f"v{i}"})
    with pytest.raises(field_settings.FieldChangeRefused) as excinfo:
        field_settings.field_update(field=text, type="number")
    message = excinfo.value.message_dict["type"][0]
    assert message.startswith("9 contacts hold values that can't be converted to a number: “v0” (2), ")
    assert message.endswith(" and 3 other values; change or clear those values first.")


# --- field_update: type changes ------------------------------------------------------------------------------


def test_text_to_number_is_refused_while_some_values_are_not_numbers():
    size = ContactFieldFactory(code="size", type="text")
    ContactFactory.create_batch(5, custom={"size": "n/a"})
    ContactFactory.create_batch(2, custom={"size": "twelve"})
    ContactFactory.create_batch(3, custom={"size": "12"})
    ContactFactory(custom={"size": ""})
    with pytest.raises(field_settings.FieldChangeRefused) as excinfo:
        field_settings.field_update(field=size, type="number")
    assert excinfo.value.message_dict["type"] == [
        "7 contacts hold values that can't be converted to a number: “n/a” (5), “twelve” (2); "
        "change or clear those values first."
    ]
    size.refresh_from_db()
    assert size.type == "text"
    assert sorted(customs("size").values()) == ["", *["12"] * 3, *["n/a"] * 5, "twelve", "twelve"]


def test_text_to_number_converts_every_value_and_leaves_the_rest_alone(changed_ids, django_capture_on_commit_callbacks):
    size = ContactFieldFactory(code="size", type="text")
    a = ContactFactory(custom={"size": "12", "tier": "smb", "retired_thing": [1, 2]})
    b = ContactFactory(custom={"size": " 3,5 "})
    c = ContactFactory(custom={"size": "1e3"})
    d = ContactFactory(custom={"other": "x"})
    e = ContactFactory(custom={"size": ""})
    with django_capture_on_commit_callbacks(execute=True):
        change = field_settings.field_update(field=size, type="number")
    assert change.converted == 3 and change.changed == {"type"}
    by_pk = {x.pk: x.custom for x in Contact.objects.all()}
    assert by_pk[a.pk] == {"size": 12, "tier": "smb", "retired_thing": [1, 2]}
    assert by_pk[b.pk] == {"size": 3.5}
    assert by_pk[c.pk] == {"size": 1000}
    assert by_pk[d.pk] == {"other": "x"}
    assert by_pk[e.pk] == {"size": ""}
    assert sorted(changed_ids) == [a.pk, b.pk, c.pk]
    assert ContactField.objects.get(pk=size.pk).type == "number"


@pytest.mark.parametrize(
    ("old_type", "old_choices", "new_type", "new_choices", "stored", "converted"),
    [
        ("number", [], "text", [], [12, 2.5], ["12", "2.5"]),
        ("choice", TIERS, "multi_choice", None, ["smb", "enterprise"], [["smb"], ["enterprise"]]),
        ("multi_choice", TIERS, "choice", None, [["smb"], ["enterprise"]], ["smb", "enterprise"]),
        ("multi_choice", TIERS, "text", [], [["enterprise", "smb"]], ["enterprise, smb"]),
        ("text", [], "boolean", [], ["yes", "No"], [True, False]),
        ("boolean", [], "text", [], [True, False], ["Yes", "No"]),
        ("text", [], "date", [], ["2024-01-31"], ["2024-01-31"]),
        ("text", [], "choice", TIERS, ["Enterprise", "smb"], ["enterprise", "smb"]),
        ("date", [], "text", [], ["2024-01-31"], ["2024-01-31"]),
        ("text", [], "phone", [], ["+420 601 123 456"], ["+420 601 123 456"]),
    ],
)
def test_type_changes_convert_values_that_fit(old_type, old_choices, new_type, new_choices, stored, converted):
    field = ContactFieldFactory(code="thing", type=old_type, choices=old_choices)
    contacts = [ContactFactory(custom={"thing": value}) for value in stored]
    field_settings.field_update(field=field, type=new_type, choices=new_choices)
    assert [Contact.objects.get(pk=c.pk).custom["thing"] for c in contacts] == converted


@pytest.mark.parametrize(
    ("old_type", "new_type", "new_choices", "stored", "message"),
    [
        ("text", "date", [], ["15/01/2024"], "1 contact holds “15/01/2024”, which can't be converted to a date"),
        ("boolean", "number", [], [True], "1 contact holds “true”, which can't be converted to a number"),
        ("text", "email", [], ["nope", "nope"], "2 contacts hold “nope”, which can't be converted to an email address"),
        ("text", "choice", TIERS, ["gold"], "1 contact holds “gold”, which doesn't fit the new choices"),
    ],
)
def test_type_changes_refuse_values_that_do_not_fit(old_type, new_type, new_choices, stored, message):
    field = ContactFieldFactory(code="thing", type=old_type)
    for value in stored:
        ContactFactory(custom={"thing": value})
    with pytest.raises(field_settings.FieldChangeRefused) as excinfo:
        field_settings.field_update(field=field, type=new_type, choices=new_choices)
    assert excinfo.value.message_dict["type"][0].startswith(message)
    assert ContactField.objects.get(pk=field.pk).type == old_type
    assert list(customs("thing").values()) == stored


def test_multi_to_single_choice_refuses_contacts_holding_several():
    topics = ContactFieldFactory(code="topics", type="multi_choice", choices=TIERS)
    ContactFactory(custom={"topics": ["enterprise", "smb"]})
    ContactFactory(custom={"topics": ["smb"]})
    with pytest.raises(field_settings.FieldChangeRefused, match='1 contact holds “\\["enterprise", "smb"\\]”'):
        field_settings.field_update(field=topics, type="choice")


def test_conversion_in_small_batches_over_many_distinct_values(monkeypatch):
    """Past the targeted limit the conversion walks every row, batch by batch; the result is the same."""
    monkeypatch.setattr(field_settings, "CONVERT_BATCH", 3)
    monkeypatch.setattr(field_settings, "CONVERT_TARGETED_LIMIT", 2)
    size = ContactFieldFactory(code="size", type="text")
    contacts = [ContactFactory(custom={"size": str(i)} if i % 4 else {"size": i}) for i in range(11)]
    ContactFactory(custom={})
    change = field_settings.field_update(field=size, type="number")
    assert change.converted == 8
    assert [Contact.objects.get(pk=c.pk).custom["size"] for c in contacts] == list(range(11))


def test_census_reports_what_would_change():
    ContactFactory.create_batch(2, custom={"size": "12"})
    ContactFactory(custom={"size": 7})
    ContactFactory(custom={"size": "x"})
    ContactFactory(custom={"size": None})
    census = field_settings.field_value_census(code="size", type="number", choices=[])
    assert (census.holding, census.misfits, census.to_convert) == (4, 1, 2)
    assert census.examples() == [("x", 1)]
    assert census.convert_texts == {'"12"'}


# --- selectors -----------------------------------------------------------------------------------------------


def test_field_value_counts_count_non_empty_values_per_field(tier):
    topics = ContactFieldFactory(code="topics", type="multi_choice", choices=TIERS)
    ContactFactory(custom={"tier": "smb", "topics": ["smb"]})
    ContactFactory(custom={"tier": "smb", "topics": []})
    ContactFactory(custom={"tier": None, "topics": ["smb", "enterprise"]})
    ContactFactory(custom={"tier": ""})
    ContactFactory(custom={"tier": False})
    assert field_settings.field_value_counts(fields=[tier, topics]) == {"tier": 3, "topics": 2}
    assert field_settings.field_value_counts(fields=[]) == {}


def test_field_choice_counts(tier):
    topics = ContactFieldFactory(code="topics", type="multi_choice", choices=TIERS)
    ContactFactory.create_batch(2, custom={"tier": "smb", "topics": ["enterprise", "smb"]})
    ContactFactory(custom={"tier": "enterprise", "topics": ["smb"]})
    assert field_settings.field_choice_counts(field=tier) == {"enterprise": 1, "mid_market": 0, "smb": 2}
    assert field_settings.field_choice_counts(field=topics) == {"enterprise": 2, "mid_market": 0, "smb": 3}


# --- reorder, retire, restore ----------------------------------------------------------------------------------


@pytest.fixture
def four():
    return [ContactFieldFactory(code=code, order=i) for i, code in enumerate(["a", "b", "c", "d"], start=1)]


def active_codes():
    return list(field_settings.field_list(active=True).values_list("code", flat=True))


def test_field_reorder(four):
    a, b, c, d = four
    field_settings.field_reorder(field_ids=[d.pk, str(b.pk), a.pk, c.pk])
    assert active_codes() == ["d", "b", "a", "c"]


def test_field_reorder_puts_unlisted_fields_after_in_their_order(four):
    a, b, c, d = four
    field_settings.field_reorder(field_ids=[c.pk])
    assert active_codes() == ["c", "a", "b", "d"]


@pytest.mark.parametrize("bad", ["not_a_number", "dup", "retired", "unknown"])
def test_field_reorder_refuses_bad_input(four, bad):
    a, b, c, d = four
    retired = ContactFieldFactory(code="old", is_active=False)
    ids = {"not_a_number": ["x"], "dup": [a.pk, a.pk], "retired": [retired.pk, a.pk], "unknown": [999999]}[bad]
    with pytest.raises(Exception) as excinfo:
        field_settings.field_reorder(field_ids=ids)
    assert excinfo.value.messages
    assert active_codes() == ["a", "b", "c", "d"]


def test_field_move(four):
    a, b, c, d = four
    field_settings.field_move(field=c, offset=-1)
    assert active_codes() == ["a", "c", "b", "d"]
    field_settings.field_move(field=a, offset=-1)  # already first: stays
    assert active_codes() == ["a", "c", "b", "d"]
    field_settings.field_move(field=d, offset=1)
    assert active_codes() == ["a", "c", "b", "d"]


def test_retire_keeps_values_and_restore_brings_the_field_back_last(four):
    a, b, c, d = four
    contact = ContactFactory(custom={"b": "kept"})
    field_settings.field_retire(field=b)
    assert active_codes() == ["a", "c", "d"]
    assert list(field_settings.field_list(active=False)) == [b]
    assert not b.is_active
    contact.refresh_from_db()
    assert contact.custom == {"b": "kept"}
    field_settings.field_retire(field=b)  # idempotent
    field_settings.field_restore(field=b)
    assert active_codes() == ["a", "c", "d", "b"]
    assert b.is_active
    contact.refresh_from_db()
    assert contact.custom == {"b": "kept"}


# --- pages: permissions ------------------------------------------------------------------------------------


def page_urls(field, retired):
    return [
        ("get", reverse("fields:field_list"), 200),
        ("get", reverse("fields:field_create"), 200),
        ("get", reverse("fields:field_update", args=[field.code]), 200),
        ("get", reverse("fields:field_retire", args=[field.code]), 200),
        ("get", reverse("fields:field_restore", args=[retired.code]), 200),
        ("post", reverse("fields:field_reorder"), 200),
        ("post", reverse("fields:field_create"), 200),  # an empty form: errors, nothing stored
        ("post", reverse("fields:field_update", args=[field.code]), 200),
        ("post", reverse("fields:field_retire", args=[field.code]), 302),
        ("post", reverse("fields:field_restore", args=[retired.code]), 302),
    ]


@pytest.mark.parametrize("role", [None, Role.MARKETER, Role.STAFF, Role.ADMIN, "superuser"], ids=str)
def test_only_admins_may_open_field_settings(client, tier, role):
    retired = ContactFieldFactory(code="old", label="Old", is_active=False)
    if role == "superuser":
        user = make_user(None, username="root", is_superuser=True, is_staff=True)
    elif role is None:
        user = AnonymousUser()
    else:
        user = make_user(role)
    if user.is_authenticated:
        client.force_login(user)
    for method, url, ok_status in page_urls(tier, retired):
        response = getattr(client, method)(url)
        if role is None:
            assert response.status_code == 302 and response.url.startswith(reverse("login")), url
        elif role in (Role.MARKETER, Role.STAFF):
            assert response.status_code == 403, (method, url)
        else:
            assert response.status_code == ok_status, (method, url, response.status_code)
    tier.refresh_from_db()
    retired.refresh_from_db()
    if role in (Role.ADMIN, "superuser"):
        assert (tier.is_active, retired.is_active) == (False, True)
    else:
        assert (tier.is_active, retired.is_active, tier.label) == (True, False, "Tier")
        assert ContactField.objects.count() == 2


# --- pages: behaviour ---------------------------------------------------------------------------------------


def test_list_page_shows_active_fields_in_order_with_counts_and_retired_fields(admin_client_role, four):
    a, b, c, d = four
    field_settings.field_reorder(field_ids=[c.pk, a.pk, b.pk, d.pk])
    field_settings.field_retire(field=d)
    ContactFactory.create_batch(3, custom={"a": "x", "d": "kept"})
    response = admin_client_role.get(reverse("fields:field_list"))
    assert [row.field.code for row in response.context["rows"]] == ["c", "a", "b"]
    assert [row.value_count for row in response.context["rows"]] == [0, 3, 0]
    assert [(row.field.code, row.value_count) for row in response.context["retired_rows"]] == [("d", 3)]
    html = response.content.decode()
    assert reverse("fields:field_restore", args=["d"]) in html
    assert 'data-reorder-url="/settings/fields/reorder/"' in html


def test_list_page_empty_state(admin_client_role):
    response = admin_client_role.get(reverse("fields:field_list"))
    html = response.content.decode()
    assert "No custom fields yet" in html
    assert reverse("fields:field_create") in html
    assert response.context["rows"] == []


def test_list_page_shows_type_choices_and_required(admin_client_role, tier):
    tier.required = True
    tier.save()
    html = admin_client_role.get(reverse("fields:field_list")).content.decode()
    assert "Choice (one of a list)" in html
    assert "Mid-market" in html and "Required" in html and "<code>tier</code>" in html


def test_create_page_adds_a_field_with_parsed_choices(admin_client_role):
    response = admin_client_role.post(
        reverse("fields:field_create"),
        {"label": "Customer tier", "code": "customer_tier", "type": "choice", "choices": "Gold\nsilver | Silver"},
    )
    assert response.status_code == 302
    assert response.url == reverse("fields:field_list") + "#field-customer_tier"
    field = ContactField.objects.get(code="customer_tier")
    assert field.choices == [{"code": "gold", "label": "Gold"}, {"code": "silver", "label": "Silver"}]
    messages = [str(m) for m in admin_client_role.get(response.url).context["messages"]]
    assert messages == ["Added the field “Customer tier”: it now appears on contact forms and filters."]


def test_create_page_add_another(admin_client_role):
    response = admin_client_role.post(
        reverse("fields:field_create"), {"label": "Seats", "code": "seats", "type": "number", "add_another": "1"}
    )
    assert response.status_code == 302 and response.url == reverse("fields:field_create")


@pytest.mark.parametrize(
    ("data", "field_name", "message"),
    [
        ({"code": "email"}, "code", "built-in contact field"),
        ({"code": "Bad Code"}, "code", "Use lower-case letters"),
        ({"code": "tier"}, "code", "already uses the code"),
        ({"type": "choice", "choices": ""}, "choices", "Add at least one choice"),
        ({"type": "multi_choice", "choices": "a\nA"}, "choices", "both have the code"),
        ({"type": "nonsense"}, "type", "Select a valid choice"),
        ({"label": ""}, "label", "This field is required"),
    ],
)
def test_create_page_bad_input_stores_nothing(admin_client_role, tier, data, field_name, message):
    response = admin_client_role.post(
        reverse("fields:field_create"), {"label": "Thing", "code": "thing", "type": "text", **data}
    )
    assert response.status_code == 200
    assert message in " ".join(response.context["form"].errors[field_name])
    assert list(ContactField.objects.values_list("code", flat=True)) == ["tier"]


def test_create_page_refuses_stray_values_that_do_not_fit(admin_client_role):
    ContactFactory(custom={"seats": "many"})
    data = {"label": "Seats", "code": "seats", "type": "number"}
    response = admin_client_role.post(reverse("fields:field_create"), data)
    assert response.status_code == 200
    assert "1 contact already holds “many”" in response.context["form"].errors["code"][0]
    assert not ContactField.objects.exists()


def edit_data(field, **changes):
    data = {
        "label": field.label,
        "type": field.type,
        "choices": choices_text(field.choices),
        "help_text": field.help_text,
    }
    if field.required:
        data["required"] = "on"
    data.update(changes)
    return data


def test_edit_page_shows_code_read_only_and_value_counts(admin_client_role, tier):
    ContactFactory.create_batch(2, custom={"tier": "smb"})
    ContactFactory()
    response = admin_client_role.get(reverse("fields:field_update", args=["tier"]))
    html = response.content.decode()
    assert '<code class="fs-6" id="field-code">tier</code>' in html
    assert 'name="code"' not in html
    assert "smb | Small business" in html
    assert response.context["holding"] == 2 and response.context["without_value"] == 1
    assert [c["count"] for c in response.context["choice_counts"]] == [0, 0, 2]


def test_edit_page_ignores_a_posted_code(admin_client_role, tier):
    response = admin_client_role.post(
        reverse("fields:field_update", args=["tier"]), edit_data(tier, code="hacked", label="Plan")
    )
    assert response.status_code == 302
    assert list(ContactField.objects.values_list("code", "label")) == [("tier", "Plan")]


def test_edit_page_refuses_removing_a_held_choice(admin_client_role, tier):
    ContactFactory.create_batch(12, custom={"tier": "enterprise"})
    response = admin_client_role.post(
        reverse("fields:field_update", args=["tier"]),
        edit_data(tier, choices="mid_market | Mid-market\nsmb | Small business", label="Renamed"),
    )
    assert response.status_code == 200
    assert response.context["form"].errors["choices"] == [
        "12 contacts hold “enterprise”, which the new list no longer has; change or clear those values first."
    ]
    assert "12 contacts hold “enterprise”" in response.content.decode()
    tier.refresh_from_db()
    assert (tier.label, tier.choices) == ("Tier", TIERS)
    assert set(customs("tier").values()) == {"enterprise"}


def test_edit_page_converts_on_type_change_and_says_so(admin_client_role):
    size = ContactFieldFactory(code="size", label="Size", type="text")
    ContactFactory.create_batch(3, custom={"size": "12"})
    ContactFactory()
    response = admin_client_role.post(
        reverse("fields:field_update", args=["size"]), edit_data(size, type="number", required="on"), follow=True
    )
    messages = [str(m) for m in response.context["messages"]]
    assert messages == [
        "Saved “Size”. Converted the stored values of 3 contacts to the new definition. "
        "1 contact has no value yet; it will need one the next time it is edited."
    ]
    assert set(customs("size").values()) == {12}


def test_edit_page_refuses_type_change_with_misfits(admin_client_role):
    size = ContactFieldFactory(code="size", label="Size", type="text")
    ContactFactory.create_batch(2, custom={"size": "big"})
    response = admin_client_role.post(reverse("fields:field_update", args=["size"]), edit_data(size, type="number"))
    assert response.status_code == 200
    assert response.context["form"].errors["type"] == [
        "2 contacts hold “big”, which can't be converted to a number; change or clear those values first."
    ]
    assert ContactField.objects.get(pk=size.pk).type == "text"


def test_edit_page_of_a_retired_field_redirects(admin_client_role, tier):
    field_settings.field_retire(field=tier)
    response = admin_client_role.get(reverse("fields:field_update", args=["tier"]))
    assert response.status_code == 302 and response.url == reverse("fields:field_list")
    response = admin_client_role.post(reverse("fields:field_update", args=["tier"]), edit_data(tier, label="X"))
    assert ContactField.objects.get(pk=tier.pk).label == "Tier"


def test_edit_page_unknown_code_is_404(admin_client_role):
    assert admin_client_role.get(reverse("fields:field_update", args=["nope"])).status_code == 404


def test_reorder_endpoint(admin_client_role, four):
    a, b, c, d = four
    response = admin_client_role.post(reverse("fields:field_reorder"), {"order": [b.pk, a.pk, d.pk, c.pk]})
    assert response.status_code == 200
    assert response.json() == {"order": [b.pk, a.pk, d.pk, c.pk]}
    assert active_codes() == ["b", "a", "d", "c"]


def test_reorder_endpoint_bad_input_is_400_and_changes_nothing(admin_client_role, four):
    a, b, c, d = four
    response = admin_client_role.post(reverse("fields:field_reorder"), {"order": [b.pk, b.pk]})
    assert response.status_code == 400
    assert response.json() == {"error": "A field appears twice in the new order."}
    assert active_codes() == ["a", "b", "c", "d"]


def test_reorder_endpoint_without_javascript_moves_one_place(admin_client_role, four):
    a, b, c, d = four
    response = admin_client_role.post(reverse("fields:field_reorder"), {"move": f"{c.pk}:up"})
    assert response.status_code == 302 and response.url.endswith("#field-c")
    assert active_codes() == ["a", "c", "b", "d"]
    admin_client_role.post(reverse("fields:field_reorder"), {"move": f"{a.pk}:down"})
    assert active_codes() == ["c", "a", "b", "d"]
    response = admin_client_role.post(reverse("fields:field_reorder"), {"move": "garbage"})
    assert response.status_code == 302
    assert active_codes() == ["c", "a", "b", "d"]


def test_reorder_endpoint_needs_post(admin_client_role):
    assert admin_client_role.get(reverse("fields:field_reorder")).status_code == 405


def test_retire_and_restore_pages(admin_client_role, tier):
    ContactFactory.create_batch(2, custom={"tier": "smb"})
    confirm = admin_client_role.get(reverse("fields:field_retire", args=["tier"]))
    assert "The stored values of 2 contacts are <strong>kept</strong>" in confirm.content.decode()
    assert ContactField.objects.get(pk=tier.pk).is_active  # GET changes nothing
    response = admin_client_role.post(reverse("fields:field_retire", args=["tier"]))
    assert response.status_code == 302
    assert not ContactField.objects.get(pk=tier.pk).is_active
    assert set(customs("tier").values()) == {"smb"}
    # The retire page of a retired field, and the restore page of an active one, send you back.
    assert admin_client_role.get(reverse("fields:field_retire", args=["tier"])).status_code == 302
    assert admin_client_role.get(reverse("fields:field_restore", args=["tier"])).status_code == 200
    response = admin_client_role.post(reverse("fields:field_restore", args=["tier"]))
    assert response.status_code == 302 and response.url.endswith("#field-tier")
    assert ContactField.objects.get(pk=tier.pk).is_active
    assert admin_client_role.get(reverse("fields:field_restore", args=["tier"])).status_code == 302


# --- look-alike labels and "__" codes (issue 11, items 2 and 19) -------------------------------------------


@pytest.mark.parametrize(
    "label", ["Favourite product", "favourite  PRODUCT", "Favourité product", " Favourite product "]
)
def test_a_look_alike_label_is_refused_naming_the_existing_field(label):
    ContactFieldFactory(code="favourite_product", label="Favourite product")
    with pytest.raises(Exception) as excinfo:
        field_settings.field_create(label=label, code="other_product", type="text")
    message = " ".join(excinfo.value.message_dict["label"])
    assert "“Favourite product” (favourite_product)" in message
    assert ContactField.objects.count() == 1


def test_a_retired_field_s_label_is_refused_too():
    ContactFieldFactory(code="old_source", label="Lead source", is_active=False)
    with pytest.raises(Exception) as excinfo:
        field_settings.field_create(label="lead source", code="lead_source", type="text")
    assert "(old_source, retired)" in " ".join(excinfo.value.message_dict["label"])


def test_renaming_a_field_to_a_look_alike_label_is_refused_but_its_own_label_may_change_case(tier):
    ContactFieldFactory(code="plan", label="Plan")
    with pytest.raises(Exception) as excinfo:
        field_settings.field_update(field=tier, label="PLAN")
    assert "“Plan” (plan)" in " ".join(excinfo.value.message_dict["label"])
    field_settings.field_update(field=tier, label="TIER")
    assert ContactField.objects.get(pk=tier.pk).label == "TIER"


def test_the_database_refuses_a_look_alike_label_written_past_the_services():
    from django.db import IntegrityError, transaction

    ContactFieldFactory(code="a", label="Inactivé  contacts")
    with pytest.raises(IntegrityError), transaction.atomic():
        ContactField.objects.create(code="b", label="inactive contacts", type="text")


def test_the_add_field_page_shows_the_look_alike_error_on_the_label(admin_client_role):
    ContactFieldFactory(code="favourite_product", label="Favourite product")
    response = admin_client_role.post(
        reverse("fields:field_create"), {"label": "favourite product", "code": "fav", "type": "text"}
    )
    assert response.status_code in (200, 400)
    assert "“Favourite product” (favourite_product)" in str(response.context["form"].errors["label"])
    assert not ContactField.objects.filter(code="fav").exists()
    # Shown together with a bad code, not one round after it.
    response = admin_client_role.post(
        reverse("fields:field_create"), {"label": "favourite product", "code": "a__b", "type": "text"}
    )
    assert "label" in response.context["form"].errors and "code" in response.context["form"].errors


@pytest.mark.parametrize("code", ["a__b", "tag__isnull", "n__gt", "x___y"])
def test_codes_with_a_double_underscore_are_refused(code):
    with pytest.raises(Exception) as excinfo:
        field_settings.field_create(label="Anything", code=code, type="text")
    assert "two underscores in a row" in " ".join(excinfo.value.message_dict["code"])
    with pytest.raises(Exception) as excinfo:
        ContactField(code=code, label="Anything", type="text").full_clean()
    assert "two underscores in a row" in " ".join(excinfo.value.message_dict["code"])
    assert not ContactField.objects.exists()
