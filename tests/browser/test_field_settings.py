"""Field settings in a real browser: reorder by drag and drop and by keyboard, the add form's script, screenshots."""

import re

import pytest
from django.apps import apps
from django.urls import reverse
from playwright.sync_api import expect

from contacts.models import ContactField
from contacts.roles import CONTACTS_PERMISSIONS, Role, grant_permissions
from tests.conftest import make_user
from tests.factories import ContactFactory, ContactFieldFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

TIERS = [
    {"code": "enterprise", "label": "Enterprise"},
    {"code": "mid_market", "label": "Mid-market"},
    {"code": "smb", "label": "Small business"},
    {"code": "startup", "label": "Start-up"},
    {"code": "public", "label": "Public sector"},
    {"code": "nonprofit", "label": "Non-profit"},
]


def db_order():
    return list(ContactField.objects.filter(is_active=True).order_by("order", "id").values_list("code", flat=True))


def page_order(page):
    return page.locator("tbody[data-field-order] tr").evaluate_all("rows => rows.map(r => r.id.replace('field-', ''))")


@pytest.fixture
def fields():
    specs = [
        ("tier", "Customer tier", "choice", TIERS, True, "Commercial segment used for pricing."),
        ("seats", "Seats", "number", [], False, ""),
        ("renewal", "Renewal date", "date", [], False, "When the current contract ends."),
        ("newsletter_topics", "Newsletter topics", "multi_choice", TIERS[:3], False, ""),
        ("linkedin", "LinkedIn profile", "url", [], False, ""),
    ]
    created = {
        code: ContactFieldFactory(
            code=code, label=label, type=type_, choices=choices, required=req, help_text=help_, order=i
        )
        for i, (code, label, type_, choices, req, help_) in enumerate(specs, start=1)
    }
    ContactFieldFactory(code="fax", label="Fax number", type="phone", is_active=False, order=9)
    for i in range(14):
        ContactFactory(
            custom={
                "tier": ["enterprise", "smb", "mid_market"][i % 3],
                "seats": 5 * i,
                **({"renewal": "2026-06-30"} if i % 2 else {}),
                **({"fax": "+420 222 333 444"} if i < 3 else {}),
            }
        )
    return created


@pytest.fixture
def admin_page(page, live_server):
    grant_permissions(apps, "contacts", CONTACTS_PERMISSIONS)  # a transactional test may have flushed the roles
    make_user(Role.ADMIN, username="ada", first_name="Ada", last_name="Admin")
    page.goto(live_server.url + reverse("login"))
    page.fill("input[name=username]", "ada")
    page.fill("input[name=password]", "secret-pass-123")
    page.locator("form").get_by_role("button").click()
    page.wait_for_url(re.compile(r".*/contacts/.*"))
    return page


def test_reorder_by_drag_and_keyboard_with_screenshots(admin_page, live_server, fields, artifacts_dir):
    page = admin_page
    page.goto(live_server.url + reverse("fields:field_list"))
    expect(page.get_by_role("heading", name="Field settings")).to_be_visible()
    expect(page.locator("#retired-fields")).to_contain_text("Fax number")
    page.screenshot(path=str(artifacts_dir / "field-settings-list.png"), full_page=True)
    assert page_order(page) == ["tier", "seats", "renewal", "newsletter_topics", "linkedin"]

    # Drag "Renewal date" by its handle above "Customer tier".
    status = page.locator("[data-order-status]")
    page.locator("#field-renewal .drag-handle").drag_to(page.locator("#field-tier"), target_position={"x": 40, "y": 3})
    expect(status).to_have_text(re.compile("Order saved"))
    assert page_order(page) == ["renewal", "tier", "seats", "newsletter_topics", "linkedin"]
    assert db_order() == ["renewal", "tier", "seats", "newsletter_topics", "linkedin"]
    expect(page.locator("#field-renewal [data-position]")).to_have_text("1")
    expect(page.locator('#field-renewal [data-move="up"]')).to_be_disabled()

    # Keyboard: focus "Move LinkedIn profile up" and press Enter twice; focus stays on the button.
    up = page.get_by_role("button", name="Move “LinkedIn profile” up")
    up.focus()
    page.keyboard.press("Enter")
    expect(status).to_have_text(re.compile("Order saved"))
    page.keyboard.press("Enter")
    expect(page.locator("#field-linkedin [data-position]")).to_have_text("3")
    expect(status).to_have_text(re.compile("Order saved"))
    expect(up).to_be_focused()
    assert db_order() == ["renewal", "tier", "linkedin", "seats", "newsletter_topics"]

    page.reload()
    assert page_order(page) == ["renewal", "tier", "linkedin", "seats", "newsletter_topics"]

    # A refused save puts the rows back and says so.
    page.route(
        "**/settings/fields/reorder/",
        lambda route: route.fulfill(status=400, content_type="application/json", body='{"error": "stale page"}'),
    )
    page.get_by_role("button", name="Move “Seats” up").click()
    expect(status).to_have_text(re.compile("Couldn't save the new order \\(stale page\\)"))
    assert page_order(page) == ["renewal", "tier", "linkedin", "seats", "newsletter_topics"]
    assert db_order() == ["renewal", "tier", "linkedin", "seats", "newsletter_topics"]


def test_edit_and_add_pages(admin_page, live_server, fields, artifacts_dir):
    page = admin_page
    page.goto(live_server.url + reverse("fields:field_update", args=["tier"]))
    expect(page.locator("#field-code")).to_have_text("tier")
    expect(page.locator("textarea[name=choices]")).to_be_visible()
    page.screenshot(path=str(artifacts_dir / "field-settings-edit.png"), full_page=True)

    # Removing a choice that contacts hold is refused, with the count, and nothing changes.
    choices = page.locator("textarea[name=choices]")
    choices.fill(choices.input_value().replace("enterprise | Enterprise\n", ""))
    page.get_by_role("button", name="Save").click()
    expect(page.locator(".invalid-feedback, .alert-danger").first).to_contain_text(
        "5 contacts hold “enterprise”, which the new list no longer has"
    )
    page.screenshot(path=str(artifacts_dir / "field-settings-edit-refused.png"), full_page=True)
    assert ContactField.objects.get(code="tier").choices == TIERS

    # The type-change note appears when the type changes.
    note = page.locator("[data-type-change-note]")
    expect(note).to_be_hidden()
    page.select_option("select[name=type]", "text")
    expect(note).to_be_visible()
    expect(page.locator("textarea[name=choices]")).to_be_hidden()

    # Add: the code follows the label until edited; choices show only for choice types.
    page.goto(live_server.url + reverse("fields:field_create"))
    expect(page.locator("textarea[name=choices]")).to_be_hidden()
    page.fill("input[name=label]", "Preferred café")
    expect(page.locator("input[name=code]")).to_have_value("preferred_cafe")
    page.select_option("select[name=type]", "choice")
    expect(page.locator("textarea[name=choices]")).to_be_visible()
    page.fill("textarea[name=choices]", "Espresso bar\nroastery | Roastery")
    page.screenshot(path=str(artifacts_dir / "field-settings-add.png"), full_page=True)
    page.get_by_role("button", name="Add field", exact=True).click()
    expect(page.locator(".alert-success")).to_contain_text("Added the field “Preferred café”")
    field = ContactField.objects.get(code="preferred_cafe")
    assert field.choices == [
        {"code": "espresso_bar", "label": "Espresso bar"},
        {"code": "roastery", "label": "Roastery"},
    ]
    assert db_order()[-1] == "preferred_cafe"


def test_empty_state(admin_page, live_server, artifacts_dir):
    page = admin_page
    page.goto(live_server.url + reverse("fields:field_list"))
    expect(page.get_by_text("No custom fields yet")).to_be_visible()
    page.screenshot(path=str(artifacts_dir / "field-settings-empty.png"), full_page=True)
    page.get_by_role("link", name="Add field").click()
    expect(page.get_by_role("heading", name="Add a custom field")).to_be_visible()


def test_retire_and_restore_with_confirmation(admin_page, live_server, fields, artifacts_dir):
    page = admin_page
    page.goto(live_server.url + reverse("fields:field_list"))
    page.get_by_role("button", name="More actions for “Seats”").click()
    page.get_by_role("link", name="Retire Seats").click()
    expect(page.get_by_role("heading", name="Retire “Seats”?")).to_be_visible()
    expect(page.locator("main")).to_contain_text("The stored values of 14 contacts are kept")
    page.screenshot(path=str(artifacts_dir / "field-settings-retire.png"), full_page=True)
    page.get_by_role("button", name="Retire field").click()
    expect(page.locator(".alert-success")).to_contain_text("Retired “Seats”")
    expect(page.locator("#field-seats")).to_have_count(0)
    expect(page.locator("#retired-seats")).to_contain_text("14")
    assert not ContactField.objects.get(code="seats").is_active

    page.get_by_role("link", name="Restore Seats").click()
    page.get_by_role("button", name="Restore field").click()
    expect(page.locator(".alert-success")).to_contain_text("Restored “Seats”")
    assert page_order(page)[-1] == "seats"
    assert ContactField.objects.get(code="seats").is_active
