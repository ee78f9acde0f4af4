"""The builder's catalog endpoint and "Save as group": what the builder may offer, and who may use it."""

import json

import pytest
from django.urls import reverse

from contacts.roles import Role
from segments.builder import catalog, value_input
from segments.models import ContactGroup
from segments.rules import RuleError, validate
from segments.rules.nodes import OPERATORS_BY_TYPE, Op, ValueType
from tests.conftest import make_user
from tests.factories import (
    CampaignFactory,
    ConsentFactory,
    ContactFieldFactory,
    ContactGroupFactory,
)

pytestmark = pytest.mark.django_db

PLANS = [{"code": "free", "label": "Free"}, {"code": "pro", "label": "Professional"}]


@pytest.fixture
def settings_data():
    ContactFieldFactory(code="plan", label="Plan", type="choice", choices=PLANS, order=2)
    ContactFieldFactory(code="topics", label="Topics", type="multi_choice", choices=PLANS, order=3)
    ContactFieldFactory(code="seats", label="Seats", type="number", order=1, help_text="Paid seats.")
    ContactFieldFactory(code="renewal", label="Renewal", type="date", order=4)
    ContactFieldFactory(code="is_customer", label="Customer", type="boolean", order=5)
    ContactFieldFactory(code="fax", label="Fax", type="phone", order=0, is_active=False)
    ConsentFactory(code="newsletter", name="Newsletter")
    ConsentFactory(code="sms", name="SMS marketing")
    ContactGroupFactory(code="vip", name="VIP customers")
    return CampaignFactory(name="Spring sale")


def section(data, key):
    return next(s for s in data["sections"] if s["key"] == key)


def test_catalog_follows_field_settings(settings_data):
    data = catalog()
    assert [s["key"] for s in data["sections"]] == ["contact", "custom", "account", "activity", "consent", "membership"]
    custom = section(data, "custom")["items"]
    # Active custom fields only, in the field settings' order, with their choices.
    assert [i["field"] for i in custom] == [
        "custom.seats",
        "custom.plan",
        "custom.topics",
        "custom.renewal",
        "custom.is_customer",
    ]
    plan = custom[1]
    assert plan["label"] == "Plan (plan)" and plan["type"] == "choice"
    assert plan["choices"] == [["free", "Free"], ["pro", "Professional"]]
    assert custom[0]["help"] == "Paid seats."
    assert "custom.fax" not in json.dumps(data)


def test_catalog_lists_builtins_activities_consents_groups_campaigns(settings_data):
    data = catalog()
    contact = {i["field"]: i for i in section(data, "contact")["items"]}
    assert set(contact) == {
        "email",
        "first_name",
        "last_name",
        "phone",
        "country",
        "city",
        "job_title",
        "lead_score",
        "created_at",
        "updated_at",
    }
    assert contact["lead_score"]["type"] == "number" and contact["lead_score"]["label"] == "Lead score"
    assert ["CZ", "Czechia"] in contact["country"]["choices"]
    account = {i["field"]: i["label"] for i in section(data, "account")["items"]}
    assert account == {
        "account.name": "Name",
        "account.domain": "Domain",
        "account.industry": "Industry",
        "account.country": "Country",
        "account.employees": "Employees",
    }
    activities = [i["activity"] for i in section(data, "activity")["items"]]
    assert activities[0] == "any" and "page_visit" in activities and "email_click" in activities
    assert [i["consent"] for i in section(data, "consent")["items"]] == ["newsletter", "sms"]
    assert section(data, "membership")["items"] == [
        {"kind": "membership", "group": "vip", "label": "VIP customers (vip)"}
    ]
    assert data["campaigns"] == [{"value": settings_data.pk, "label": "Spring sale"}]
    where = [w["field"] for w in data["activity"]["where_fields"]]
    assert where == ["url", "title", "campaign", "value", "data."]
    assert [c["value"] for c in data["activity"]["count_operators"]] == ["gte", "gt", "eq", "lte", "lt"]
    assert set(data["relative_operators"]) == {"in_last_days", "more_than_days_ago", "in_next_days"}


def test_operators_follow_the_engine(settings_data):
    data = catalog()
    for type_, ops in OPERATORS_BY_TYPE.items():
        offered = data["operators"][str(type_)]
        assert [o["value"] for o in offered] == [str(op) for op in ops]
        assert all(o["label"] for o in offered)
    number = {o["value"]: o for o in data["operators"]["number"]}
    assert number["gte"]["label"] == "is at least" and number["between"]["input"] == "number_pair"
    date = {o["value"]: o for o in data["operators"]["date"]}
    assert date["in_last_days"]["input"] == "days" and date["in_last_days"]["suffix"] == "days"
    assert date["more_than_days_ago"]["suffix"] == "days ago"
    assert {o["value"]: o["input"] for o in data["operators"]["choice"]}["in"] == "choice_list"
    assert {o["value"]: o["input"] for o in data["operators"]["boolean"]} == {
        "is_true": "none",
        "is_false": "none",
        "is_empty": "none",
    }


SAMPLES = {
    "none": None,
    "text": "abc",
    "text_list": ["abc", "def"],
    "number": 5,
    "number_pair": [1, 5.5],
    "date": "2026-01-31",
    "date_pair": ["2026-01-01", "2026-03-31"],
    "days": 30,
}


def sample(item, input_, campaign_id):
    if input_ == "choice":
        return item["choices"][-1][0]
    if input_ == "choice_list":
        return [item["choices"][0][0]]
    if input_ == "campaign":
        return campaign_id
    if input_ == "campaign_list":
        return [campaign_id]
    return SAMPLES[input_]


def test_every_offered_operator_and_value_shape_validates(settings_data):
    """The builder's value control for each (field, operator) produces a value `validate` accepts."""
    data = catalog()
    checked = 0
    for sec in ("contact", "custom", "account"):
        for item in section(data, sec)["items"]:
            for op in data["operators"][item["type"]]:
                node = {"type": "field", "field": item["field"], "operator": op["value"]}
                value = sample(item, op["input"], settings_data.pk)
                if value is not None:
                    node["value"] = value
                validate({"version": 1, "root": node})
                checked += 1
    for where in data["activity"]["where_fields"]:
        field = where["field"] + ("plan" if where.get("keyed") else "")
        for op in data["operators"][where["type"]]:
            cond = {"field": field, "operator": op["value"]}
            value = sample(where, op["input"], settings_data.pk)
            if value is not None:
                cond["value"] = value
            validate({"version": 1, "root": {"type": "activity", "activity": "page_visit", "where": [cond]}})
            checked += 1
    for activity in data["activity"]["types"]:
        for count in data["activity"]["count_operators"]:
            validate(
                {
                    "version": 1,
                    "root": {
                        "type": "activity",
                        "activity": activity["value"],
                        "count": {"operator": count["value"], "value": 2},
                        "window": {"last_days": 30},
                    },
                }
            )
    for op in data["consent_operators"]:
        validate({"version": 1, "root": {"type": "consent", "consent": "sms", "operator": op["value"]}})
    for op in data["membership_operators"]:
        validate({"version": 1, "root": {"type": "membership", "group": "vip", "operator": op["value"]}})
    assert checked > 150


def test_a_wrong_value_shape_is_refused():
    """The sample table above is not vacuous: the engine refuses a list where one value is expected."""
    assert value_input(ValueType.NUMBER, Op.GTE) == "number"
    with pytest.raises(RuleError):
        validate({"version": 1, "root": {"type": "field", "field": "lead_score", "operator": "gte", "value": [1]}})


def test_templates_are_valid_trees(settings_data):
    ContactGroupFactory(code="customers", name="Customers", member_count=10)
    data = catalog()
    keys = [t["key"] for t in data["templates"]]
    assert keys == [
        "inactive_365",
        "engaged_30",
        "new_this_week",
        "high_lead_score",
        "opened_not_clicked",
        "members_of_groups",
    ]
    for template in data["templates"]:
        assert validate(template["tree"]) == template["tree"], template["key"]
        assert template["label"] and template["description"] and template["name"]
    inactive = data["templates"][0]["tree"]["root"]["children"][0]
    assert inactive == {
        "type": "activity",
        "activity": "any",
        "count": {"operator": "eq", "value": 0},
        "window": {"last_days": 365},
    }
    groups = data["templates"][-1]["tree"]["root"]["children"]
    assert [g["group"] for g in groups] == ["customers", "vip"]


def test_no_group_template_without_groups():
    assert "members_of_groups" not in [t["key"] for t in catalog()["templates"]]


def test_catalog_endpoint_permissions(client, settings_data):
    url = reverse("segments:builder_catalog")
    response = client.get(url)
    assert response.status_code == 302 and response.url.startswith(reverse("login"))
    client.force_login(make_user(Role.STAFF))
    assert client.get(url).status_code == 403
    client.force_login(make_user(Role.MARKETER))
    response = client.get(url)
    assert response.status_code == 200 and response["Content-Type"] == "application/json"
    assert response.json()["sections"][1]["items"][0]["field"] == "custom.seats"
    assert client.post(url).status_code == 405


def test_group_form_holds_the_tree_in_a_hidden_condition_input(marketer_client):
    tree = {
        "version": 1,
        "root": {
            "type": "group",
            "combinator": "or",
            "children": [{"type": "field", "field": "lead_score", "operator": "gte", "value": 50}],
        },
    }
    group = ContactGroupFactory(code="hot", is_condition_based=True, condition=tree)
    response = marketer_client.get(reverse("segments:group_update", args=[group.pk]))
    html = response.content.decode()
    assert "data-rule-builder" in html and reverse("segments:builder_catalog") in html
    field = response.context["form"]["condition"]
    assert field.field.widget.input_type == "hidden"
    assert json.loads(field.value()) == tree


# -- Save as group ---------------------------------------------------------------------------------

CZ = {"version": 1, "root": {"type": "field", "field": "country", "operator": "equals", "value": "CZ"}}


def test_save_as_group_creates_a_condition_group_and_shows_members(marketer_client, monkeypatch):
    monkeypatch.setattr("django_q.tasks.async_task", lambda *args, **kwargs: None)
    response = marketer_client.post(
        reverse("segments:builder_save_group"), {"name": "Czechs", "code": "czechs", "condition": json.dumps(CZ)}
    )
    group = ContactGroup.objects.get(code="czechs")
    assert response.status_code == 302 and response.url == reverse("segments:group_detail", args=[group.pk])
    assert group.is_condition_based and group.condition == CZ and group.name == "Czechs"


def test_save_as_group_with_errors_reopens_the_form_with_the_tree(marketer_client):
    ContactGroupFactory(code="czechs")
    bad = {"version": 1, "root": {"type": "field", "field": "lead_score", "operator": "gte", "value": "lots"}}
    response = marketer_client.post(
        reverse("segments:builder_save_group"), {"name": "Hot", "code": "czechs", "condition": json.dumps(bad)}
    )
    assert response.status_code == 400
    form = response.context["form"]
    assert "already exists" in str(form.errors["code"])
    assert json.loads(form["condition"].value()) == bad  # the marketer's work is kept
    assert ContactGroup.objects.count() == 1
    response = marketer_client.post(
        reverse("segments:builder_save_group"), {"name": "Hot", "code": "hot", "condition": json.dumps(bad)}
    )
    assert "root.value: expected a number" in str(response.context["form"].errors["condition"])
    assert not ContactGroup.objects.filter(code="hot").exists()


def test_save_as_group_permissions(client):
    url = reverse("segments:builder_save_group")
    client.force_login(make_user(Role.STAFF))
    assert client.post(url, {"name": "X", "code": "x", "condition": json.dumps(CZ)}).status_code == 403
    assert not ContactGroup.objects.exists()
    client.force_login(make_user(Role.MARKETER))
    assert client.get(url).status_code == 405


# -- The contact list's advanced filter ------------------------------------------------------------


def test_advanced_filter_lists_matching_contacts(marketer_client):
    from tests.factories import ContactFactory

    czechs = {ContactFactory(country="CZ", last_name=f"Novák {i}").pk for i in range(3)}
    ContactFactory(country="DE")
    ContactFactory(country="CZ", merged_into=ContactFactory(country="SK"))  # merged: never matches
    url = reverse("segments:contact_filter")
    response = marketer_client.get(url)
    assert response.status_code == 200 and response.context["page_obj"] is None
    assert "data-rule-builder" in response.content.decode()
    response = marketer_client.get(url, {"condition": json.dumps(CZ)})
    assert response.status_code == 200
    assert {c.pk for c in response.context["page_obj"].object_list} == czechs
    assert response.context["page_obj"].paginator.count == 3


def test_advanced_filter_with_a_bad_tree_shows_the_error_and_keeps_it(marketer_client):
    bad = {"version": 1, "root": {"type": "field", "field": "lead_score", "operator": "gte", "value": "x"}}
    response = marketer_client.get(reverse("segments:contact_filter"), {"condition": json.dumps(bad)})
    assert response.status_code == 400 and response.context["page_obj"] is None
    html = response.content.decode()
    assert 'data-error="root.value: expected a number"' in html
    assert json.loads(response.context["filter_form"]["condition"].value()) == bad
    response = marketer_client.get(reverse("segments:contact_filter"), {"condition": "{oops"})
    assert response.status_code == 400 and "not valid JSON" in response.content.decode()


def test_advanced_filter_permissions(client):
    url = reverse("segments:contact_filter")
    client.force_login(make_user(Role.STAFF))  # may see contacts, may not build conditions
    assert client.get(url).status_code == 403
    client.logout()
    assert client.get(url).status_code == 302
