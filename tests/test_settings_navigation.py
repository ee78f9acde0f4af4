"""No menu item, page or sentence points at a feature that does not exist yet (issue 11, items 11 and 13)."""

import pytest
from django.urls import NoReverseMatch, reverse

from contacts import demo as contacts_demo
from contacts.models import ContactField
from segments import demo as segments_demo
from segments.models import ContactGroup
from tests.factories import ContactFieldFactory, ContactGroupFactory

pytestmark = pytest.mark.django_db


def test_no_campaigns_menu_item_or_placeholder_page(marketer_client):
    page = marketer_client.get(reverse("contacts:contact_list")).content.decode()
    assert "Campaigns" not in page and "/campaigns/" not in page
    assert marketer_client.get("/campaigns/").status_code == 404
    with pytest.raises(NoReverseMatch):
        reverse("campaigns:campaign_list")


def test_field_settings_promise_no_campaigns(admin_client_role):
    # Imports and exports exist now (transfers); campaigns do not yet.
    for url in (reverse("fields:field_list"), reverse("fields:field_create")):
        page = admin_client_role.get(url).content.decode().lower()
        assert "campaign" not in page, url


def test_demo_names_leave_the_tutorial_s_names_free():
    assert "Favourite product" not in [d.label for d in contacts_demo.FIELD_DEFINITIONS]
    assert "Inactive contacts" not in [g["name"] for g in segments_demo.SAMPLE_GROUPS]


def test_an_earlier_demo_s_names_are_renamed_on_the_next_seed():
    ContactGroupFactory(code="inactive_365", name="Inactive contacts")
    ContactFieldFactory(code="favourite_product", label="Favourite product")
    assert segments_demo.demo_group_renames() == ["inactive_365"]
    contacts_demo.demo_fields_ensure()
    assert ContactGroup.objects.get(code="inactive_365").name == "Dormant for a year"
    assert ContactField.objects.get(code="favourite_product").label == "Most used product"
