"""The Save path's condition messages: too deep JSON, and the summary at the top of the form (issue 11)."""

from __future__ import annotations

import json

import pytest
from django.urls import reverse

from segments.models import ContactGroup
from tests.factories import ContactGroupFactory

pytestmark = pytest.mark.django_db

CZ = {"type": "field", "field": "country", "operator": "equals", "value": "CZ"}


def test_a_condition_nested_a_thousand_deep_is_a_clear_form_error(marketer_client):
    group = '{"type": "group", "combinator": "and", "children": ['
    condition = '{"version": 1, "root": ' + group * 1000 + json.dumps(CZ) + "]}" * 1000 + "}"
    response = marketer_client.post(
        reverse("segments:group_create"),
        {"name": "Deep", "code": "deep", "is_condition_based": "on", "condition": condition},
    )
    assert response.status_code == 200
    assert response.context["form"].errors["condition"] == ["The conditions are nested too deeply (at most 10 levels)."]
    assert not ContactGroup.objects.filter(code="deep").exists()


def test_a_cycle_is_refused_in_names_with_a_summary_on_top(marketer_client):
    germans = ContactGroupFactory(
        code="germans", name="Germans", is_condition_based=True, condition={"version": 1, "root": CZ}
    )
    ContactGroupFactory(
        code="inactive_germans", name="Inactive Germans", is_condition_based=True,
        condition={"version": 1, "root": {"type": "membership", "group": "germans", "operator": "is_member"}},
    )  # fmt: skip
    condition = {"version": 1, "root": {"type": "membership", "group": "inactive_germans", "operator": "is_member"}}
    response = marketer_client.post(
        reverse("segments:group_update", args=[germans.pk]),
        {"name": "Germans", "is_condition_based": "on", "condition": json.dumps(condition)},
    )
    form = response.context["form"]
    assert form.errors["condition"] == [
        "root.group: “Inactive Germans” already uses this group, so it cannot use “Inactive Germans”"
    ]
    assert form.non_field_errors() == [
        "Not saved: it would make groups depend on each other in a loop; the rule is marked below."
    ]
    assert "Not saved: it would make groups" in response.content.decode()
    germans.refresh_from_db()
    assert germans.condition == {"version": 1, "root": CZ}
