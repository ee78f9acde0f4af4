"""Signing in through the sign-in page, as a person does (the browser tests' one way in)."""

from __future__ import annotations

from playwright.sync_api import Page

PASSWORD = "secret-pass-123"  # tests.factories' make_user default


def sign_in(page: Page, base_url: str, username: str, password: str = PASSWORD, *, wait: bool = True) -> None:
    """Fill and send the sign-in form; with `wait`, until the browser has left the sign-in page."""
    page.goto(f"{base_url}/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    if wait:
        page.wait_for_url(lambda url: "/login/" not in url)
