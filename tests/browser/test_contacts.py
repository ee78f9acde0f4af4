"""Browser test: sign in, filter contacts by a custom field, open a contact, edit it; screenshots of both pages."""

import datetime as dt
import re

import pytest
from django.contrib.auth.models import Group, Permission
from django.utils import timezone
from playwright.sync_api import expect

from contacts.roles import CONTACTS_PERMISSIONS, Role
from tests.browser.signin import sign_in
from tests.factories import (
    AccountFactory,
    ActivityFactory,
    ConsentFactory,
    ContactConsentFactory,
    ContactFactory,
    ContactFieldFactory,
    ContactGroupFactory,
    MembershipFactory,
    UserFactory,
)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PEOPLE = [
    ("Ada", "Lovelace", "GB", "Head of Analytics", 82, "enterprise", 120000, ["ai", "cloud"]),
    ("Grace", "Hopper", "US", "VP Engineering", 64, "pro", 48000, ["cloud"]),
    ("Tomáš", "Novák", "CZ", "Marketing Manager", 35, "pro", 9500, ["security"]),
    ("Léa", "Dubois", "FR", "Growth Lead", 18, "basic", 1200, []),
    ("Jonas", "Schmidt", "DE", "CTO", 71, "enterprise", 250000, ["ai", "security"]),
    ("Sofia", "Rossi", "IT", "Product Owner", 27, "basic", 3000, ["ai"]),
    ("Mateo", "García", "ES", "Sales Director", 44, "pro", 22000, []),
    ("Emma", "Jansen", "NL", "Data Engineer", 9, "", None, []),
]


@pytest.fixture
def demo(db):
    # Transactional tests flush the database (and the roles' permissions with it): grant them again.
    group, _ = Group.objects.get_or_create(name=Role.MARKETER.value)
    codenames = [f"{action}_{model}" for model, roles in CONTACTS_PERMISSIONS.items() for action in roles["Marketer"]]
    group.permissions.add(*Permission.objects.filter(content_type__app_label="contacts", codename__in=codenames))
    user = UserFactory(username="maria", first_name="Maria", last_name="Marketer")
    user.groups.add(group)
    ContactFieldFactory(
        code="plan",
        label="Plan",
        type="choice",
        order=1,
        choices=[
            {"code": "basic", "label": "Basic"},
            {"code": "pro", "label": "Pro"},
            {"code": "enterprise", "label": "Enterprise"},
        ],
    )
    ContactFieldFactory(code="budget", label="Annual budget", type="number", order=2)
    ContactFieldFactory(
        code="topics",
        label="Interests",
        type="multi_choice",
        order=3,
        choices=[
            {"code": "ai", "label": "AI"},
            {"code": "cloud", "label": "Cloud"},
            {"code": "security", "label": "Security"},
        ],
    )
    ContactFieldFactory(code="newsletter_since", label="Subscriber since", type="date", order=4)
    accounts = [
        AccountFactory(name="Analytical Engines", domain="engines.example", country="GB", industry="Software"),
        AccountFactory(name="Navy Labs", domain="navylabs.example", country="US", industry="Research"),
        AccountFactory(name="Brno Motors", domain="brnomotors.example", country="CZ", industry="Manufacturing"),
    ]
    now = timezone.now()
    contacts = []
    for i, (first, last, country, title, score, plan, budget, topics) in enumerate(PEOPLE):
        custom = {k: v for k, v in {"plan": plan, "budget": budget, "topics": topics}.items() if v}
        if i % 2 == 0:
            custom["newsletter_since"] = f"2025-0{i % 9 + 1}-15"
        contacts.append(
            ContactFactory(
                first_name=first,
                last_name=last,
                email=f"{first.lower()}.{last.lower()}@example.com".replace("á", "a").replace("é", "e"),
                country=country,
                city="",
                job_title=title,
                lead_score=score,
                account=accounts[i % 3] if i < 6 else None,
                custom=custom,
                created_at=now - dt.timedelta(days=30 * i + 3),
            )
        )
    ContactFactory(email=None, first_name="", last_name="", country="", job_title="", lead_score=3)
    ada = contacts[0]
    kinds = [
        ("page_visit", "Pricing", "https://example.com/pricing", {}),
        ("email_open", "March newsletter", "", {}),
        ("email_click", "March newsletter", "https://example.com/blog/segments", {}),
        ("form_submission", "Demo request", "https://example.com/demo", {"company": "Engines", "seats": "25"}),
        ("purchase", "Enterprise plan", "", {}),
        ("page_visit", "Docs: rules", "https://example.com/docs/rules", {}),
    ]
    for i, (kind, title, url, data) in enumerate(kinds):
        ActivityFactory(
            contact=ada,
            type=kind,
            title=title,
            url=url,
            data=data,
            value="1990.00" if kind == "purchase" else None,
            occurred_at=now - dt.timedelta(days=9 * i + 1, hours=i),
        )
    ContactConsentFactory(contact=ada, consent=ConsentFactory(code="newsletter", name="Newsletter"))
    ConsentFactory(code="phone_calls", name="Phone calls")
    ContactConsentFactory(
        contact=ada,
        consent=ConsentFactory(code="events", name="Event invitations"),
        revoked_at=now - dt.timedelta(days=2),
    )
    MembershipFactory(group=ContactGroupFactory(code="vip", name="VIP customers"), contact=ada, via_manual=True)
    return {"user": user, "contacts": contacts, "ada": ada}


def test_filter_open_edit_contact(page, live_server, demo, artifacts_dir):
    sign_in(page, live_server.url, "maria", wait=False)
    expect(page.get_by_role("heading", name=re.compile("^Contacts"))).to_be_visible()
    expect(page.locator("tbody tr")).to_have_count(len(PEOPLE) + 1)
    page.screenshot(path=artifacts_dir / "contacts-list.png")  # what a 1280×800 window shows

    # Filter by a custom field (Plan = Pro) in the filter panel.
    page.get_by_label("Plan").select_option("pro")
    page.get_by_role("button", name="Apply filters").click()
    expect(page).to_have_url(re.compile(r"cf_plan=pro"))
    rows = page.locator("tbody tr")
    expect(rows).to_have_count(3)
    expect(page.get_by_role("link", name="Grace Hopper")).to_be_visible()
    expect(page.get_by_role("link", name="Ada Lovelace")).to_have_count(0)
    expect(page.locator(".filter-chips")).to_contain_text("Plan: Pro")
    page.screenshot(path=artifacts_dir / "contacts-list-filtered.png")

    # Open a contact and edit it.
    page.get_by_role("link", name="Grace Hopper").click()
    expect(page.get_by_role("heading", name="Grace Hopper")).to_be_visible()
    page.get_by_role("link", name="Edit").click()
    page.get_by_label("Job title").fill("Rear Admiral of Engineering")
    page.get_by_label("Annual budget").fill("50000")
    page.get_by_role("button", name="Save changes").click()
    expect(page.locator(".alert-success")).to_contain_text("saved")
    expect(page.get_by_text("Rear Admiral of Engineering").first).to_be_visible()
    expect(page.locator("dl.properties").nth(1)).to_contain_text("50,000")

    # A bad value is refused with a form error.
    page.get_by_role("link", name="Edit").click()
    page.get_by_label("Email").fill("not-an-email")
    page.get_by_role("button", name="Save changes").click()
    expect(page.locator(".invalid-feedback").first).to_be_visible()
    expect(page.get_by_text("Nothing was saved")).to_be_visible()

    # The richer detail page (activities, consents, groups) for the screenshot.
    page.goto(f"{live_server.url}{demo['ada'].get_absolute_url()}")
    expect(page.get_by_role("heading", name="Ada Lovelace")).to_be_visible()
    expect(page.locator(".timeline-item")).to_have_count(6)
    page.screenshot(path=artifacts_dir / "contact-detail.png", full_page=True)

    # Consents toggle in place (htmx).
    page.locator('[data-consent="phone_calls"]').get_by_role("button", name="Agree").click()
    expect(page.locator('[data-consent="phone_calls"]')).to_contain_text("Agreed")


def test_narrow_window_list_and_detail(page, live_server, demo, artifacts_dir):
    page.set_viewport_size({"width": 390, "height": 844})
    sign_in(page, live_server.url, "maria", wait=False)
    expect(page.locator("tbody tr")).to_have_count(len(PEOPLE) + 1)
    page.screenshot(path=artifacts_dir / "contacts-list-narrow.png", full_page=True)
    page.get_by_role("button", name=re.compile("Filters")).click()
    expect(page.locator("#contact-filters.show")).to_be_visible()
    page.wait_for_timeout(400)  # let the slide-in finish before the screenshot
    expect(page.get_by_role("button", name="Apply filters")).to_be_visible()
    page.screenshot(path=artifacts_dir / "contacts-filters-narrow.png")
    page.goto(f"{live_server.url}{demo['ada'].get_absolute_url()}")
    page.screenshot(path=artifacts_dir / "contact-detail-narrow.png", full_page=True)


def sign_in_as_maria(page, live_server):
    sign_in(page, live_server.url, "maria", wait=False)
    expect(page.get_by_role("heading", name=re.compile("^Contacts"))).to_be_visible()


def pick(page, container, query, option):
    """Type into a Tom Select picker inside `container` and choose the option loaded from the JSON search."""
    container.locator(".ts-control input").fill(query)
    page.locator(".ts-dropdown .option", has_text=option).first.click()


def test_pickers_bulk_assign_accounts_and_merge(page, live_server, demo, artifacts_dir):
    sign_in_as_maria(page, live_server)

    # Bulk: select two contacts, assign them to an account chosen in a picker on the confirm page.
    page.get_by_label("Select Emma Jansen").check()
    page.get_by_label("Select Mateo García").check()
    expect(page.locator("[data-bulk-count]")).to_have_text("2")
    page.get_by_role("button", name="Assign to account").click()
    expect(page.get_by_role("heading", name="Assign to account: 2 contacts")).to_be_visible()
    pick(page, page.locator("form"), "navy", "Navy Labs")
    page.screenshot(path=artifacts_dir / "contacts-bulk-assign.png")
    page.get_by_role("button", name="Assign 2 contacts").click()
    expect(page.locator(".alert-success")).to_contain_text("2 contacts assigned to Navy Labs")

    # Accounts: list, detail, add a contact through the multi-select picker.
    page.get_by_role("link", name="Accounts").click()
    expect(page.locator("tbody tr")).to_have_count(3)
    page.screenshot(path=artifacts_dir / "accounts-list.png")
    page.get_by_role("link", name="Brno Motors").click()
    pick(page, page.locator(".add-contacts-form"), "ada", "Ada Lovelace")
    # The typed text goes once a contact is picked: the next name is typed into an empty box.
    expect(page.locator(".add-contacts-form .ts-control input")).to_have_value("")
    page.get_by_role("button", name="Add", exact=True).click()
    expect(page.locator(".alert-success")).to_contain_text("1 contact added to Brno Motors")
    expect(page.locator("#contacts tbody")).to_contain_text("Ada Lovelace")
    page.screenshot(path=artifacts_dir / "account-detail.png", full_page=True)

    # Merge: pick the duplicate, review side by side, confirm.
    page.goto(f"{live_server.url}{demo['ada'].get_absolute_url()}")
    page.get_by_role("link", name="Merge another contact into this one").click()
    pick(page, page.locator("form"), "sofia", "Sofia Rossi")
    page.get_by_role("button", name="Review merge").click()
    expect(page.get_by_role("heading", name="Merge Sofia Rossi into Ada Lovelace?")).to_be_visible()
    page.screenshot(path=artifacts_dir / "contact-merge-review.png", full_page=True)
    page.get_by_role("button", name="Merge contacts").click()
    expect(page.locator(".alert-success")).to_contain_text("Sofia Rossi was merged into Ada Lovelace")
    expect(page.get_by_text("Merged into this contact")).to_be_visible()

    # The edit form, for a look.
    page.get_by_role("link", name="Edit").click()
    expect(page.get_by_role("heading", name="Edit Ada Lovelace")).to_be_visible()
    page.screenshot(path=artifacts_dir / "contact-edit.png")


def test_select_all_matching_contacts_across_pages(page, live_server, demo):
    ContactFactory.create_batch(50, country="DE", job_title="Buyer")
    sign_in_as_maria(page, live_server)
    page.goto(f"{live_server.url}/contacts/?country=DE")
    expect(page.locator("tbody tr")).to_have_count(50)
    banner = page.locator("[data-bulk-all-matching]")
    expect(banner).to_be_hidden()
    page.get_by_label("Select all contacts on this page").check()
    expect(banner).to_be_visible()
    page.get_by_role("button", name="Select all 51 matching contacts").click()
    expect(banner).to_contain_text("All 51 matching contacts are selected")
    page.get_by_role("button", name="Delete").click()
    expect(page.get_by_role("heading", name="Delete: 51 contacts")).to_be_visible()
    page.get_by_role("button", name="Delete 51 contacts").click()
    expect(page.locator(".alert-success")).to_contain_text("51 contacts deleted")
    expect(page.get_by_text("No contacts match these filters")).to_be_visible()
    page.goto(f"{live_server.url}/contacts/")
    expect(page.locator("tbody tr")).to_have_count(len(PEOPLE))  # the German demo contact went too
