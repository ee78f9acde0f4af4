"""No menu item, page or sentence points at a feature that does not exist yet (issue 11, items 11 and 13);
the Campaigns menu item is back since campaigns have pages (issue 13)."""

import pytest
from django.urls import reverse

from contacts import demo as contacts_demo
from contacts.models import ContactField
from contacts.roles import Role
from segments import demo as segments_demo
from segments.models import ContactGroup
from tests.conftest import make_user
from tests.factories import ContactFieldFactory, ContactGroupFactory

pytestmark = pytest.mark.django_db


def test_campaigns_menu_item_for_the_roles_that_may_open_campaigns(client):
    for role in (Role.MARKETER, Role.ADMIN):
        client.force_login(make_user(role))
        page = client.get(reverse("contacts:contact_list")).content.decode()
        assert f'href="{reverse("campaigns:campaign_list")}"' in page and "Campaigns</a>" in page
        assert client.get(reverse("campaigns:campaign_list")).status_code == 200
    client.force_login(make_user(Role.STAFF))
    staff_page = client.get(reverse("contacts:contact_list")).content.decode()
    assert "/campaigns/" not in staff_page  # Staff may not open campaigns: no menu item leading to a 403


def test_field_settings_promise_no_campaign_features(admin_client_role):
    # The field settings pages say nothing about campaigns (only the navigation bar links to them).
    for url in (reverse("fields:field_list"), reverse("fields:field_create")):
        main = admin_client_role.get(url).content.decode().lower().split("<main", 1)[1]
        assert "campaign" not in main, url


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
