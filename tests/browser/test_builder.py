"""The visual condition builder in a real browser (Playwright + Debian Chromium), on demo data.

Builds the issue's trees with mouse and keyboard, checks the live preview against the rule engine,
saves, rebuilds and finds the members; reopens and edits; shows inline errors and JSON mode; uses the
contact list's advanced filter and "Save as group". Screenshots go to tests/browser/artifacts/.
"""

from __future__ import annotations

import importlib
import json
import re

import pytest
from django.apps import apps
from django.core.management import call_command, get_commands
from django.urls import reverse
from playwright.sync_api import Page, expect

from contacts.roles import CONTACTS_PERMISSIONS, Role, grant_permissions
from segments import rebuilds
from segments.models import ContactGroup, Membership
from segments.rules import matching_contacts
from tests.conftest import make_user

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

CZ = {"type": "field", "field": "country", "operator": "equals", "value": "CZ"}
PRICING = {
    "type": "activity",
    "activity": "page_visit",
    "where": [{"field": "url", "operator": "contains", "value": "/pricing"}],
    "count": {"operator": "gte", "value": 3},
    "window": {"last_days": 30},
}
SCORE_50 = {"type": "field", "field": "lead_score", "operator": "gte", "value": 50}
ISSUE_TREE = {
    "version": 1,
    "root": {
        "type": "group",
        "combinator": "and",
        "children": [CZ, {"type": "group", "combinator": "or", "children": [PRICING, SCORE_50]}],
    },
}
KENTICO = {"type": "activity", "activity": "any", "count": {"operator": "eq", "value": 0}, "window": {"last_days": 365}}


UNLABELLED_CONTROLS = """root => {
    const controls = [...root.querySelectorAll('input:not([type=hidden]), select, textarea, button')]
        .filter(el => el.offsetParent !== null || el.tomselect);
    const unlabelled = controls
        .filter(el => !(el.getAttribute('aria-label') || el.labels?.length || el.getAttribute('aria-labelledby')
                        || (el.tagName === 'BUTTON' && el.textContent.trim())))
        .map(el => el.outerHTML.slice(0, 120));
    return {count: controls.length, unlabelled};
}"""
SLOW_PREVIEW_FETCH = """() => {
    window.previewAborted = 0;
    const fetch = window.fetch;
    window.fetch = (url, options) => {
        if (!String(url).includes("/preview/")) return fetch(url, options);
        options.signal.addEventListener("abort", () => { window.previewAborted += 1; });
        return new Promise((resolve) => setTimeout(resolve, 800)).then(() => fetch(url, options));
    };
}"""


@pytest.fixture
def demo(transactional_db):
    # A transactional test flushes the tables, roles' permissions included: grant them again.
    grant_permissions(apps, "contacts", CONTACTS_PERMISSIONS)
    grant_permissions(apps, "segments", importlib.import_module("segments.migrations.0002_roles").SEGMENTS_PERMISSIONS)
    call_command("seed_demo", contacts=300, verbosity=0)


@pytest.fixture
def marketer_page(page: Page, live_server, demo) -> Page:
    make_user(Role.MARKETER, username="mia", first_name="Mia", last_name="Marketer")
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(live_server.url + reverse("login"))
    page.fill("input[name=username]", "mia")
    page.fill("input[name=password]", "secret-pass-123")
    page.locator("form").get_by_role("button", name="Sign in").click()
    page.wait_for_url(live_server.url + "/")  # the home page
    yield page
    assert not errors, errors  # no JavaScript error on any page


def open_builder(page: Page, url: str) -> None:
    page.goto(url)
    expect(page.locator("[data-rule-builder]")).to_have_attribute("data-ready", "true")


def tree_of(page: Page, scope: str = "") -> dict | None:
    value = page.locator(f"{scope} [data-builder-input]".strip()).input_value()
    return json.loads(value) if value else None


def pick(page: Page, text: str) -> None:
    """Type into the open, focused picker and take the first match."""
    page.keyboard.type(text)
    page.keyboard.press("Enter")


def preview_count(page: Page) -> int:
    preview = page.locator("[data-builder-preview]")
    expect(preview).to_have_attribute("data-state", "ready")
    return int(page.locator("[data-preview-count]").get_attribute("data-count"))


def expect_count(page: Page, expected: int) -> None:
    expect(page.locator("[data-builder-preview]")).to_have_attribute("data-state", "ready")
    expect(page.locator("[data-preview-count]")).to_have_attribute("data-count", str(expected))


def rule(page: Page, n: int):
    return page.locator(".rb-rule").nth(n)


def nested(page: Page, n: int = 0):
    return page.locator(".rb-group:not(.rb-root)").nth(n)


def add_condition(group) -> None:
    group.locator(":scope > .rb-group-foot").get_by_role("button", name="Add condition").click()


def build_issue_tree(page: Page) -> None:
    """Country is CZ and (visited a page containing /pricing ≥ 3 times in 30 days or lead score ≥ 50)."""
    root = page.locator(".rb-root")
    add_condition(root)  # the field picker opens, focused: type and press Enter
    pick(page, "Country")
    expect(rule(page, 0).locator(".rb-subject-wrap")).to_contain_text("Country")
    expect(rule(page, 0).locator("[data-role=operator]")).to_have_value("equals")
    page.keyboard.type("Czech")  # the value picker has the focus now
    page.keyboard.press("Enter")

    root.locator(":scope > .rb-group-foot").get_by_role("button", name="Add group").click()
    pick(page, "Page visit")
    visit = rule(page, 1)
    visit.get_by_label("Number of times").fill("3")
    visit.get_by_label("When").select_option("last_days")
    expect(visit.get_by_label("Number of days")).to_have_value("30")
    visit.get_by_role("button", name=re.compile("Add a filter")).click()
    visit.get_by_label("Filter 1: value").fill("/pricing")

    group = nested(page)
    expect(group.locator(":scope > .rb-group-head input[value=or]")).to_be_checked()
    add_condition(group)
    pick(page, "Lead score")
    score = rule(page, 2)
    score.get_by_label("Lead score: comparison").select_option("gte")
    score.get_by_label("Lead score: value").fill("50")


def test_build_preview_save_rebuild_members_and_reopen(marketer_page: Page, live_server, artifacts_dir):
    page = marketer_page
    open_builder(page, live_server.url + reverse("segments:group_create"))
    page.fill("#id_name", "Czech pricing leads")
    expect(page.locator("#id_code")).to_have_value("czech_pricing_leads")  # suggested from the name
    page.fill("#id_code", "cz_pricing_leads")
    page.fill("#id_name", "Czech pricing leads (hot)")
    expect(page.locator("#id_code")).to_have_value("cz_pricing_leads")  # edited by hand: kept
    page.fill("#id_name", "Czech pricing leads")
    page.check("#id_is_condition_based")
    expect(page.locator(".rb-template")).to_have_count(6)
    page.screenshot(path=str(artifacts_dir / "builder-empty.png"), full_page=True)

    build_issue_tree(page)
    assert tree_of(page) == ISSUE_TREE
    # Every control of the builder has an accessible name (a label or aria-label).
    controls = page.locator("[data-rule-builder]").evaluate(UNLABELLED_CONTROLS)
    assert controls["count"] > 25 and controls["unlabelled"] == []
    expected = matching_contacts(ISSUE_TREE).count()
    assert expected > 0
    expect_count(page, expected)
    if "evaluate_rule" in get_commands():  # the DESIGN command, when present, agrees too
        path = artifacts_dir / "issue-tree.json"
        path.write_text(json.dumps(ISSUE_TREE))
        from io import StringIO

        out = StringIO()
        call_command("evaluate_rule", str(path), stdout=out)
        assert out.getvalue().strip().splitlines()[-1].strip() == str(expected)
    description = page.locator("[data-preview-description]")
    expect(description).to_contain_text('visited a page containing "/pricing" at least 3 times in the last 30 days')
    first = page.locator("[data-preview-contacts] a").first
    expect(first).to_have_attribute("href", re.compile(r"/contacts/\d+/$"))
    # Nightly rebuild is off but the rule uses a rolling window: the warning says so.
    warning = page.locator("[data-builder-relative-warning]")
    expect(warning).to_be_visible()
    page.check("#id_scheduled_rebuild")
    expect(warning).to_be_hidden()

    page.get_by_role("button", name="Save and view contacts").click()
    page.wait_for_url(re.compile(r".*/groups/\d+/$"))
    group = ContactGroup.objects.get(code="cz_pricing_leads")
    assert page.url.endswith(f"/groups/{group.pk}/")
    assert group.condition == ISSUE_TREE and group.is_condition_based and group.scheduled_rebuild
    rebuilds.group_rebuild(group=group)  # the worker does this in production
    page.reload()
    members = set(Membership.objects.filter(group=group).values_list("contact_id", flat=True))
    assert members == set(matching_contacts(ISSUE_TREE).values_list("pk", flat=True))
    links = page.locator(".members-table tbody a[href*='/contacts/']")
    expect(links).to_have_count(min(len(members), 50))
    shown = {int(re.search(r"/contacts/(\d+)/", h).group(1)) for h in links.evaluate_all("as => as.map(a => a.href)")}
    assert shown <= members and len(shown) == min(len(members), 50)

    # Reopen: the tree opens exactly as saved; switch the inner group to AND, add a third level.
    open_builder(page, live_server.url + reverse("segments:group_update", args=[group.pk]))
    assert tree_of(page) == ISSUE_TREE
    expect(rule(page, 0).locator(".rb-subject-wrap")).to_contain_text("Country")
    expect(rule(page, 0).locator(".ts-wrapper.rb-list")).to_contain_text("Czechia")
    expect_count(page, expected)
    inner = nested(page)
    inner.locator(":scope > .rb-group-head").get_by_text("AND", exact=True).click()
    changed = json.loads(json.dumps(ISSUE_TREE))
    changed["root"]["children"][1]["combinator"] = "and"
    assert tree_of(page) == changed
    expect_count(page, matching_contacts(changed).count())

    inner.locator(":scope > .rb-group-foot").get_by_role("button", name="Add group").click()
    pick(page, "Newsletter")
    third = nested(page, 1)
    expect(third.locator(".rb-rule")).to_contain_text("Newsletter")
    add_condition(third)
    pick(page, "Job title")
    job = third.locator(".rb-rule").nth(1)
    job.get_by_label("Job title: value").fill("Manager")
    third.locator(":scope > .rb-group-head").get_by_text("Exclude").click()  # none of the following
    expect(third.locator(":scope > .rb-group-head .rb-group-title")).to_have_text("None of the following")
    page.locator("[data-builder-preview]").scroll_into_view_if_needed()
    expect(page.locator("[data-builder-preview]")).to_have_attribute("data-state", "ready")
    page.screenshot(path=str(artifacts_dir / "builder-three-level.png"), full_page=True)
    deep = tree_of(page)
    assert deep["root"]["children"][1]["children"][2] == {
        "type": "group",
        "combinator": "or",
        "negate": True,
        "children": [
            {"type": "consent", "consent": "newsletter", "operator": "agreed"},
            {"type": "field", "field": "job_title", "operator": "contains", "value": "Manager"},
        ],
    }
    expect_count(page, matching_contacts(deep).count())
    page.get_by_role("button", name="Save and view contacts").click()
    page.wait_for_url(re.compile(rf".*/groups/{group.pk}/$"))
    group.refresh_from_db()
    assert group.condition == deep


def test_kentico_inactive_errors_json_mode_and_templates(marketer_page: Page, live_server, artifacts_dir):
    page = marketer_page
    open_builder(page, live_server.url + reverse("segments:group_create"))
    page.fill("#id_name", "Sleeping contacts")
    page.fill("#id_code", "sleeping")
    page.check("#id_is_condition_based")

    # Kentico's "Inactive contacts": has not done any activity in the last 365 days.
    add_condition(page.locator(".rb-root"))
    pick(page, "Any activity")
    activity = rule(page, 0)
    activity.get_by_label("How many times").select_option("never")
    expect(activity.get_by_label("Number of times")).to_have_count(0)
    activity.get_by_label("When").select_option("last_days")
    # A newer edit aborts the preview request in flight (the network is slowed down to show it).
    page.evaluate(SLOW_PREVIEW_FETCH)
    activity.get_by_label("Number of days").fill("200")
    page.wait_for_timeout(500)  # past the debounce: the request for 200 days is in flight
    activity.get_by_label("Number of days").fill("365")
    expect(page.locator("[data-preview-description]")).to_contain_text("365 days")
    assert page.evaluate("window.previewAborted") >= 1
    tree = tree_of(page)
    assert tree == {"version": 1, "root": {"type": "group", "combinator": "and", "children": [KENTICO]}}
    expect_count(page, matching_contacts(tree).count())
    expect(page.locator("[data-preview-description]")).to_have_text("Has not done any activity in the last 365 days")

    # A bad value: the inline error sits on its row; the rest of the work stays.
    add_condition(page.locator(".rb-root"))
    pick(page, "Lead score")
    score = rule(page, 1)
    score.get_by_label("Lead score: comparison").select_option("between")
    score.get_by_label("Lead score: value: from").fill("80")
    score.get_by_label("Lead score: value: to").fill("20")
    error = score.locator(".rb-error")
    expect(error).to_have_text("the first value must not be greater than the second")
    expect(score).to_have_class(re.compile("rb-invalid"))
    expect(activity).not_to_have_class(re.compile("rb-invalid"))
    expect(page.locator("[data-builder-preview]")).to_have_attribute("data-state", "error")
    score.scroll_into_view_if_needed()
    page.screenshot(path=str(artifacts_dir / "builder-error.png"), full_page=True)

    # Saving anyway: the server refuses, the page comes back with the same tree and the error inline.
    with page.expect_navigation():
        page.get_by_role("button", name="Save and view contacts").click()
    expect(page.locator("[data-rule-builder]")).to_have_attribute("data-ready", "true")
    assert not ContactGroup.objects.filter(code="sleeping").exists()
    expect(rule(page, 1).locator(".rb-error")).to_have_text("the first value must not be greater than the second")
    expect(rule(page, 1).get_by_label("Lead score: value: from")).to_have_value("80")
    assert tree_of(page)["root"]["children"][1] == {
        "type": "field",
        "field": "lead_score",
        "operator": "between",
        "value": [80, 20],
    }
    rule(page, 1).get_by_label("Lead score: value: from").fill("10")
    expect(page.locator("[data-builder-preview]")).to_have_attribute("data-state", "ready")
    expect(rule(page, 1).locator(".rb-error")).to_be_hidden()
    rule(page, 1).get_by_role("button", name="Remove this condition").click()
    expect(page.locator(".rb-rule")).to_have_count(1)

    # JSON mode: the same tree as text; edits there show visually when switching back.
    page.get_by_label("Edit as JSON").check()
    text = page.get_by_label("Rule tree (JSON, version 1)")
    assert json.loads(text.input_value()) == {
        "version": 1,
        "root": {"type": "group", "combinator": "and", "children": [KENTICO]},
    }
    text.fill(text.input_value().replace("365", "180"))
    expect_count(page, matching_contacts({"version": 1, "root": {**KENTICO, "window": {"last_days": 180}}}).count())
    text.fill('{"version": 1, "root": {"type": "field", "field": "lead_score", "operator": "gte", "value": "x"}}')
    expect(page.locator("[data-builder-json-error]")).to_have_text("root.value: expected a number")
    text.fill("{not json")
    expect(page.locator("[data-builder-json-error]")).to_contain_text("not valid JSON")
    page.get_by_label("Edit as JSON").click()  # refused: the text stays for fixing
    expect(page.get_by_label("Edit as JSON")).to_be_checked()
    text.fill(json.dumps({"version": 1, "root": {**KENTICO, "window": {"last_days": 180}}}))
    page.get_by_label("Edit as JSON").uncheck()
    expect(rule(page, 0).get_by_label("Number of days")).to_have_value("180")
    assert tree_of(page) == {"version": 1, "root": {**KENTICO, "window": {"last_days": 180}}}

    page.get_by_role("button", name="Save and view contacts").click()
    page.wait_for_url(re.compile(r".*/groups/\d+/$"))
    group = ContactGroup.objects.get(code="sleeping")
    assert page.url.endswith(f"/groups/{group.pk}/")
    assert group.condition == {"version": 1, "root": {**KENTICO, "window": {"last_days": 180}}}

    # A template on the new-group page: Kentico's tree, name and code filled in.
    open_builder(page, live_server.url + reverse("segments:group_create"))
    page.check("#id_is_condition_based")
    page.locator(".rb-template[data-template=inactive_365]").click()
    assert tree_of(page) == {"version": 1, "root": {"type": "group", "combinator": "and", "children": [KENTICO]}}
    expect(page.locator("#id_name")).to_have_value("Inactive contacts")
    expect(page.locator("#id_code")).to_have_value("inactive_contacts")

    # A stored tree whose root is not a group opens, and saves, exactly as it was.
    seeded = ContactGroup.objects.get(code="inactive_365")
    open_builder(page, live_server.url + reverse("segments:group_update", args=[seeded.pk]))
    assert tree_of(page) == seeded.condition
    expect(rule(page, 0).locator(".rb-subject-wrap")).to_contain_text("Any activity")

    page.set_viewport_size({"width": 420, "height": 900})
    page.screenshot(path=str(artifacts_dir / "builder-narrow.png"), full_page=True)

    # Without the field catalog (a network failure), the condition is still there, as JSON.
    page.route("**/builder/catalog/", lambda route: route.fulfill(status=500, body="down"))
    open_builder(page, live_server.url + reverse("segments:group_update", args=[seeded.pk]))
    expect(page.locator("[data-builder-alert]")).to_contain_text("could not be loaded")
    assert json.loads(page.get_by_label("Rule tree (JSON, version 1)").input_value()) == seeded.condition
    assert tree_of(page) == seeded.condition


def test_contact_list_advanced_filter_and_save_as_group(marketer_page: Page, live_server, artifacts_dir):
    page = marketer_page
    page.goto(live_server.url + reverse("contacts:contact_list"))
    panel = page.locator("#advanced-filter")
    expect(panel).to_be_hidden()
    page.get_by_role("button", name="Advanced filter").click()
    expect(panel.locator("[data-rule-builder]")).to_have_attribute("data-ready", "true")

    # Germans with a lead score of at least 30 who agreed to the newsletter.
    add_condition(panel.locator(".rb-root"))
    pick(page, "Country")
    page.keyboard.type("Germany")
    page.keyboard.press("Enter")
    add_condition(panel.locator(".rb-root"))
    pick(page, "Lead score")
    rule(page, 1).get_by_label("Lead score: value").fill("30")
    page.keyboard.press("Enter")  # Enter in a value box does not submit half-built conditions
    assert page.url.endswith(reverse("contacts:contact_list"))
    add_condition(panel.locator(".rb-root"))
    pick(page, "Newsletter")
    tree = {
        "version": 1,
        "root": {
            "type": "group",
            "combinator": "and",
            "children": [
                {"type": "field", "field": "country", "operator": "equals", "value": "DE"},
                {"type": "field", "field": "lead_score", "operator": "gte", "value": 30},
                {"type": "consent", "consent": "newsletter", "operator": "agreed"},
            ],
        },
    }
    built = tree_of(page, "#advanced-filter")
    assert built == tree, json.dumps(built)
    matching = set(matching_contacts(tree).values_list("pk", flat=True))
    assert matching
    expect_count(page, len(matching))

    # Every match, on a page of its own (the builder comes along, open, with the same tree).
    panel.get_by_role("button", name="Show matching contacts").click()
    page.wait_for_url(re.compile(r".*/groups/filter/\?condition=.*"))
    expect(page.locator("[data-rule-builder]")).to_have_attribute("data-ready", "true")
    assert tree_of(page, "#advanced-filter") == tree
    rows = page.locator(".filter-results tbody a[href*='/contacts/']")
    expect(rows).to_have_count(min(len(matching), 50))
    expect_count(page, len(matching))
    page.screenshot(path=str(artifacts_dir / "builder-advanced-filter.png"), full_page=True)

    # Save as group: the code follows the name; the marketer lands on the new group's members.
    page.get_by_role("button", name="Save as group…").click()
    page.get_by_label("Group name").fill("German newsletter readers")
    expect(page.get_by_label("Code")).to_have_value("german_newsletter_readers")
    page.locator("#save-as-group").get_by_role("button", name="Save as group").click()
    # TRICKY: once in CI (PostgreSQL, session 5) this navigation passed 30 s; it passes in seconds alone and
    # in its file. A longer wait while the cause is looked for (see the session 5 note).
    page.wait_for_url(re.compile(r".*/groups/\d+/$"), timeout=90_000)
    group = ContactGroup.objects.get(code="german_newsletter_readers")
    assert page.url.endswith(f"/groups/{group.pk}/")
    assert group.is_condition_based and group.condition == tree and group.scheduled_rebuild
    rebuilds.group_rebuild(group=group)
    page.reload()
    assert set(Membership.objects.filter(group=group).values_list("contact_id", flat=True)) == matching
    expect(page.locator(".members-table tbody a[href*='/contacts/']")).to_have_count(min(len(matching), 50))


def test_a_save_refused_for_a_cycle_keeps_its_message_while_the_preview_loads(marketer_page: Page, live_server):
    def tree(root: dict) -> dict:
        return {"version": 1, "root": root}

    CZ_RULE = {"type": "field", "field": "country", "operator": "equals", "value": "CZ"}  # noqa: N806
    page = marketer_page
    czechs = ContactGroup.objects.create(
        code="cz_all", name="All Czechs", is_condition_based=True, condition=tree(CZ_RULE), condition_version=1
    )
    ContactGroup.objects.create(
        code="cz_vips", name="Czech VIPs", is_condition_based=True, condition_version=1,
        condition=tree({"type": "membership", "group": "cz_all", "operator": "is_member"}),
    )  # fmt: skip
    open_builder(page, live_server.url + reverse("segments:group_update", args=[czechs.pk]))
    page.get_by_label("Edit as JSON").check()
    page.get_by_label("Rule tree (JSON, version 1)").fill(
        json.dumps(tree({"type": "membership", "group": "cz_vips", "operator": "is_member"}))
    )
    with page.expect_navigation():
        page.get_by_role("button", name="Save and view contacts").click()
    expect(page.locator("[data-rule-builder]")).to_have_attribute("data-ready", "true")
    # The live preview sees the cycle too (it knows the group): it agrees, in names, instead of counting.
    expect(page.locator("[data-builder-preview]")).to_have_attribute("data-state", "error")
    expect(
        page.get_by_text("“Czech VIPs” already uses this group, so it cannot use “Czech VIPs”").first
    ).to_be_visible()
    expect(
        page.get_by_text("Not saved: it would make groups depend on each other in a loop", exact=False)
    ).to_be_visible()
    czechs.refresh_from_db()
    assert czechs.condition == tree(CZ_RULE)


def _console_errors(page: Page) -> list[str]:
    messages: list[str] = []
    page.on("console", lambda msg: msg.type == "error" and messages.append(msg.text))
    return messages


def test_a_cycle_shows_at_once_on_the_membership_rule_in_names(marketer_page: Page, live_server, artifacts_dir):
    page = marketer_page
    console = _console_errors(page)
    germans = ContactGroup.objects.create(
        code="germans", name="Germans", is_condition_based=True, condition_version=1,
        condition={"version": 1, "root": {**CZ, "value": "DE"}},
    )  # fmt: skip
    ContactGroup.objects.create(
        code="inactive_germans", name="Inactive Germans", is_condition_based=True, condition_version=1,
        condition={"version": 1, "root": {"type": "group", "combinator": "and", "children": [
            {"type": "membership", "group": "germans", "operator": "is_member"}, KENTICO]}},
    )  # fmt: skip
    open_builder(page, live_server.url + reverse("segments:group_update", args=[germans.pk]))
    # The valid condition's count shows first: the cycle's error must not leave it standing.
    expect(page.locator("[data-builder-preview]")).to_have_attribute("data-state", "ready")
    add_condition(page.locator(".rb-root"))
    pick(page, "Inactive Germans")  # the subject picker lists each group: "is a member of" it
    membership = rule(page, 1)
    message = "“Inactive Germans” already uses this group, so it cannot use “Inactive Germans”"
    expect(membership.locator(".rb-error")).to_have_text(message)  # in the live preview, before any Save
    expect(membership).to_have_class(re.compile("rb-invalid"))
    expect(page.locator("[data-builder-preview]")).to_have_attribute("data-state", "error")
    expect(page.locator("[data-preview-count]")).to_have_text("—")  # no count for a condition that cannot be saved
    membership.scroll_into_view_if_needed()
    page.screenshot(path=artifacts_dir / "preview-cycle.png", full_page=False)

    # Saving anyway: refused, in names, with a summary at the top of the form.
    with page.expect_navigation():
        page.get_by_role("button", name="Save and view contacts").click()
    expect(page.locator("[data-rule-builder]")).to_have_attribute("data-ready", "true")
    expect(page.locator("form .alert-danger").first).to_contain_text(
        "Not saved: it would make groups depend on each other in a loop"
    )
    expect(rule(page, 1).locator(".rb-error")).to_have_text(message)
    germans.refresh_from_db()
    assert "inactive_germans" not in json.dumps(germans.condition)
    assert not [m for m in console if "400" in m], console


def test_an_unfinished_rule_logs_no_failed_request(marketer_page: Page, live_server):
    page = marketer_page
    console = _console_errors(page)
    open_builder(page, live_server.url + reverse("segments:group_create"))
    page.check("#id_is_condition_based")
    add_condition(page.locator(".rb-root"))
    pick(page, "Lead score")
    score = rule(page, 0)
    score.get_by_label("Lead score: comparison").select_option("between")
    score.get_by_label("Lead score: value: from").fill("80")
    score.get_by_label("Lead score: value: to").fill("20")  # an invalid rule, as one is while typing
    expect(score.locator(".rb-error")).to_have_text("the first value must not be greater than the second")
    score.get_by_label("Lead score: value: to").fill("")  # and an unfinished one
    expect(page.locator("[data-builder-preview]")).to_have_attribute("data-state", "error")
    page.wait_for_timeout(800)
    assert not [m for m in console if "400" in m or "Failed to load" in m], console


def test_a_shared_count_says_how_old_it_is(marketer_page: Page, live_server, settings, monkeypatch):
    """The builder's count of a condition counted a moment ago is that count, with its age (segments.selectors.preview;
    the live server runs in this process, so its clock is moved here)."""
    from django.core.cache import cache

    from segments.selectors import preview as shared

    settings.PREVIEW_CACHE_SECONDS = 30
    cache.clear()
    now = [1_800_000_000.0]
    monkeypatch.setattr(shared.time, "time", lambda: now[0])
    page = marketer_page
    czechs = ContactGroup.objects.create(
        code="cz_shared",
        name="Czechs",
        is_condition_based=True,
        condition={"version": 1, "root": CZ},
        condition_version=1,
    )
    expected = matching_contacts({"version": 1, "root": CZ}).count()
    url = live_server.url + reverse("segments:group_update", args=[czechs.pk])
    open_builder(page, url)
    expect_count(page, expected)
    expect(page.locator("[data-preview-status]")).to_have_text("")
    now[0] += 12
    open_builder(page, url)
    expect_count(page, expected)
    expect(page.locator("[data-preview-status]")).to_have_text("Counted 12 s ago.")
    cache.clear()
