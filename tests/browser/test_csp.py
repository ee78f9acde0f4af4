"""Every page works under the Content-Security-Policy: the walk of tests/test_permissions.py (every product URL
with real objects) opened in Chromium as a superuser, plus the home, sign-in, error, Django admin and API docs pages.

The autouse fixture `no_csp_violations` (conftest.py) fails the test on any violation; this test adds that the
pages drew what they should (the API docs rendered by their scripts, the avatars in their colour).
"""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse
from playwright.sync_api import Page, expect

from campaigns import services
from campaigns.models import Channel
from segments.models import Membership
from tests.browser.signin import sign_in
from tests.factories import ContactFactory, ContactGroupFactory, UserFactory
from tests.test_permissions import make_objects, product_patterns, url_for

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def admin_page(page: Page, live_server, transactional_db):
    UserFactory(username="ada", is_superuser=True, is_staff=True)  # every permission, whatever the roles' rows
    sign_in(page, live_server.url, "ada")
    return page


def html_pages(urls: list[str], user) -> list[str]:
    """The URLs that answer a GET with an HTML page (not the POST-only actions' 405, not a redirect)."""
    client = Client()
    client.force_login(user)
    pages = []
    for url in urls:
        response = client.get(url)
        if response.status_code in (200, 403, 404) and response["Content-Type"].startswith("text/html"):
            pages.append(url)
    return pages


def test_every_page_works_under_the_policy(admin_page, live_server, no_csp_violations, artifacts_dir):
    page = admin_page
    objects = make_objects()
    admin = ["/admin/", "/admin/auth/user/", "/admin/auth/user/add/", "/admin/django_q/schedule/"]  # Django's
    urls = ["/", "/no-such-page/", *admin, *(url_for(name, pattern, objects) for name, pattern in product_patterns())]
    pages = html_pages(urls, User.objects.get(username="ada"))
    assert len(pages) > 50  # the walk reaches the product's pages, not just a few
    email = reverse("campaigns:campaign_preview_message", args=[objects["campaign"].pk, objects["contact"].pk])
    for url in pages:
        response = page.goto(live_server.url + url)
        assert response is not None and response.status < 500, url
        if url != email:  # an email, opened on its own: its policy allows its inline styles (and no script)
            assert "'unsafe-inline'" not in response.headers["content-security-policy"], url
    assert not no_csp_violations

    # The avatars keep their per-record colour (a class now, not a style attribute).
    page.goto(live_server.url + reverse("contacts:contact_detail", args=[objects["contact"].pk]))
    colour = page.locator(".avatar").first.evaluate("el => getComputedStyle(el).backgroundColor")
    assert colour not in ("rgb(108, 117, 125)", "rgba(0, 0, 0, 0)")  # not the grey fallback


def test_the_api_docs_render_under_the_policy(admin_page, live_server, no_csp_violations, artifacts_dir):
    page = admin_page
    page.goto(live_server.url + reverse("api:docs"))
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("Contact segmentation API")
    expect(page.locator(".opblock").first).to_be_visible()
    page.screenshot(path=artifacts_dir / "csp-swagger.png")
    no_csp_violations.clear()
    response = page.goto(live_server.url + reverse("api:redoc"))
    assert response is not None
    policy = response.headers["content-security-policy"]
    # django-csp writes the directives in no fixed order: read them as a mapping.
    directives = dict(part.strip().split(" ", 1) for part in policy.split(";") if part.strip())
    assert directives["style-src"] == "'self' 'unsafe-inline'"  # relaxed for styles only
    assert directives["script-src"] == "'self'"
    expect(page.locator("h1").first).to_contain_text("Contact segmentation API")
    expect(page.locator("[role=search] input")).to_be_visible()  # the search (a blob: worker) is there
    page.screenshot(path=artifacts_dir / "csp-redoc.png")
    # Redoc's footer logo comes from its CDN: the policy blocks it (nothing leaves the site), Redoc hides it.
    cdn = [v for v in no_csp_violations if "cdn.redoc.ly" in v]
    assert cdn and len(cdn) == len(no_csp_violations), no_csp_violations
    no_csp_violations.clear()


def test_the_sign_in_page_works_under_the_policy(page: Page, live_server, transactional_db):
    response = page.goto(f"{live_server.url}/login/")
    assert response is not None and "'unsafe-inline'" not in response.headers["content-security-policy"]
    expect(page.get_by_role("button", name="Sign in")).to_be_visible()


def test_a_violation_is_caught(page: Page, live_server, transactional_db, no_csp_violations):
    """The fixture that guards every browser test sees what the policy blocks (then this test clears it)."""
    page.goto(f"{live_server.url}/login/")
    page.evaluate(
        """() => {
        document.body.insertAdjacentHTML("beforeend", '<p id="styled" style="color: rgb(255, 0, 0)">x</p>');
        const script = document.createElement("script");
        script.textContent = "window.inlineRan = true";
        document.body.append(script);
    }"""
    )
    page.wait_for_timeout(100)
    assert page.evaluate("() => window.inlineRan") is None  # the inline script did not run...
    assert page.locator("#styled").evaluate("el => getComputedStyle(el).color") != "rgb(255, 0, 0)"  # ...nor the style
    assert any("style-src" in v for v in no_csp_violations), no_csp_violations
    assert any("script-src" in v for v in no_csp_violations), no_csp_violations
    no_csp_violations.clear()


def test_an_email_preview_shows_its_inline_styles_and_images(admin_page, live_server, no_csp_violations):
    """The email is framed from its own URL with a policy that lets its styles and images through."""
    group = ContactGroupFactory(name="Readers")
    reader = ContactFactory(first_name="Rita", email="rita@example.com")
    Membership.objects.create(group=group, contact=reader, via_manual=True)
    pixel = "data:image/gif;base64,R0lGODlhAQABAIAAAP///wAAACH5BAEAAAAALAAAAAABAAEAAAICRAEAOw=="
    campaign = services.campaign_create(
        name="Styled",
        channel=Channel.EMAIL,
        include=[group],
        sender="Shop <shop@example.com>",
        subject="Hi",
        body=f'<p style="color: rgb(200, 0, 0)">Hello {{{{ first_name }}}}</p><img alt="logo" src="{pixel}">',
    )
    admin_page.goto(live_server.url + reverse("campaigns:campaign_preview", args=[campaign.pk]))
    email = admin_page.frame_locator("iframe").first
    expect(email.locator("p")).to_have_text("Hello Rita")
    expect(email.locator("p")).to_have_css("color", "rgb(200, 0, 0)")
    assert email.locator("img").evaluate("img => img.complete && img.naturalWidth") == 1
    admin_page.wait_for_timeout(100)
    assert not no_csp_violations


def test_go_back_on_an_error_page_works_without_inline_script(admin_page, live_server):
    """The 404 page's "Go back" was a javascript: link, which the policy blocks; now a listener (history-back.js)."""
    page = admin_page
    page.goto(live_server.url + reverse("contacts:contact_list"))
    page.goto(live_server.url + "/no-such-page/")
    page.get_by_role("link", name="Go back").click()
    page.wait_for_url(live_server.url + reverse("contacts:contact_list"))
