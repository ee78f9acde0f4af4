"""A custom field used by a contact group's condition cannot be retired (the condition would break)."""

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from contacts import field_settings
from contacts.models import ContactField
from tests.factories import ContactFieldFactory, ContactGroupFactory

pytestmark = pytest.mark.django_db


def plan_rule(value: str) -> dict:
    return {"version": 1, "root": {"type": "field", "field": "custom.plan", "operator": "equals", "value": value}}


def test_retiring_a_field_a_condition_uses_is_refused_and_names_the_group(admin_client_role):
    plan = ContactFieldFactory(code="plan", type="text", label="Plan")
    ContactFieldFactory(code="tier", type="text", label="Tier")
    group = ContactGroupFactory(name="Pro customers", is_condition_based=True, condition=plan_rule("pro"))
    ContactGroupFactory(name="Static", is_condition_based=False, condition=None)

    with pytest.raises(ValidationError, match="used by the condition of group “Pro customers”"):
        field_settings.field_retire(field=plan)
    assert ContactField.objects.get(code="plan").is_active

    page = admin_client_role.get(reverse("fields:field_retire", args=["plan"])).content.decode()
    assert "can't be retired while it is used by" in page and group.get_absolute_url() in page
    assert "Retire field</button>" not in page
    refused = admin_client_role.post(reverse("fields:field_retire", args=["plan"]), follow=True).content.decode()
    assert "change those first" in refused
    assert ContactField.objects.get(code="plan").is_active

    field_settings.field_retire(field=ContactField.objects.get(code="tier"))  # used by nothing
    assert not ContactField.objects.get(code="tier").is_active
    group.is_condition_based = False
    group.save()
    field_settings.field_retire(field=plan)  # no condition uses it any more
    assert not ContactField.objects.get(code="plan").is_active
