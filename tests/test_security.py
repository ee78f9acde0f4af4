"""Production settings pass `manage.py check --deploy` with no warning, HTTPS is enforced (behind a proxy too),
and every page carries the Content-Security-Policy, without 'unsafe-inline' or 'unsafe-eval'."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from django.urls import reverse

from campaigns.views.preview import EMAIL_PREVIEW_POLICY
from tests.factories import UserFactory
from tests.test_permissions import make_objects, product_patterns, url_for

ROOT = Path(__file__).resolve().parent.parent
PRODUCTION = {
    "DEBUG": "0",
    "SECRET_KEY": "a-long-production-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz",
    "ALLOWED_HOSTS": "segments.example.com",
}
SECURITY_VARIABLES = (
    "DEBUG",
    "SECRET_KEY",
    "ALLOWED_HOSTS",
    "SECURE_SSL_REDIRECT",
    "SECURE_PROXY_SSL_HEADER",
    "SECURE_HSTS_SECONDS",
    "SECURE_HSTS_INCLUDE_SUBDOMAINS",
    "SECURE_HSTS_PRELOAD",
    "SECURE_COOKIES",
    "SESSION_COOKIE_SECURE",
    "CSRF_COOKIE_SECURE",
    "CSP_REPORT_ONLY",
    "CSP_REPORT_URI",
    "DJANGO_ALLOW_ASYNC_UNSAFE",  # set for the browser tests (tests/conftest.py); never in deployment
)


def run(args: list[str], **env: str) -> subprocess.CompletedProcess:
    environ = {k: v for k, v in os.environ.items() if k not in SECURITY_VARIABLES}
    environ.update(env, DJANGO_SETTINGS_MODULE="config.settings")
    return subprocess.run([sys.executable, *args], cwd=ROOT, env=environ, capture_output=True, text=True, timeout=300)


def production_settings(**env: str) -> dict:
    names = [
        "SECURE_SSL_REDIRECT",
        "SECURE_PROXY_SSL_HEADER",
        "SECURE_HSTS_SECONDS",
        "SECURE_HSTS_INCLUDE_SUBDOMAINS",
        "SECURE_HSTS_PRELOAD",
        "SESSION_COOKIE_SECURE",
        "CSRF_COOKIE_SECURE",
        "SECURE_CONTENT_TYPE_NOSNIFF",
        "SECURE_REFERRER_POLICY",
        "X_FRAME_OPTIONS",
    ]
    code = (
        "import django, json; django.setup(); from django.conf import settings; "
        f"print(json.dumps({{n: getattr(settings, n, None) for n in {names!r}}}))"
    )
    result = run(["-c", code], **{**PRODUCTION, **env})
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_check_deploy_is_clean_with_production_settings():
    result = run(["manage.py", "check", "--deploy", "--fail-level", "WARNING"], **PRODUCTION)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues (0 silenced)." in result.stdout


def test_check_deploy_warns_when_a_protection_is_turned_off():
    """The check is not clean by accident: switching HSTS off by the environment is reported."""
    result = run(["manage.py", "check", "--deploy", "--fail-level", "WARNING"], SECURE_HSTS_SECONDS="0", **PRODUCTION)
    assert result.returncode != 0 and "security.W004" in result.stderr


def test_production_turns_every_protection_on_and_each_can_be_overridden():
    on = production_settings()
    assert on == {
        "SECURE_SSL_REDIRECT": True,
        "SECURE_PROXY_SSL_HEADER": None,
        "SECURE_HSTS_SECONDS": 31536000,
        "SECURE_HSTS_INCLUDE_SUBDOMAINS": True,
        "SECURE_HSTS_PRELOAD": True,
        "SESSION_COOKIE_SECURE": True,
        "CSRF_COOKIE_SECURE": True,
        "SECURE_CONTENT_TYPE_NOSNIFF": True,
        "SECURE_REFERRER_POLICY": "same-origin",
        "X_FRAME_OPTIONS": "DENY",
    }
    changed = production_settings(
        SECURE_SSL_REDIRECT="0",
        SECURE_PROXY_SSL_HEADER="X-Forwarded-Proto",
        SECURE_HSTS_SECONDS="600",
        SECURE_HSTS_PRELOAD="off",
        SECURE_COOKIES="no",
    )
    assert changed["SECURE_SSL_REDIRECT"] is False
    assert changed["SECURE_PROXY_SSL_HEADER"] == ["HTTP_X_FORWARDED_PROTO", "https"]
    assert (changed["SECURE_HSTS_SECONDS"], changed["SECURE_HSTS_PRELOAD"]) == (600, False)
    assert changed["SESSION_COOKIE_SECURE"] is False and changed["CSRF_COOKIE_SECURE"] is False


def test_a_typo_in_a_boolean_variable_refuses_to_start():
    result = run(["-c", "import django; django.setup()"], SECURE_SSL_REDIRECT="flase", **PRODUCTION)
    assert result.returncode != 0 and "SECURE_SSL_REDIRECT='flase': expected 1/true/yes/on" in result.stderr


HTTPS = (
    "import django; django.setup()\n"
    "from django.test import Client\n"
    "c = Client(HTTP_HOST='segments.example.com')\n"
    "plain = c.get('/contacts/')\n"
    "proxied = c.get('/healthz', HTTP_X_FORWARDED_PROTO='https')\n"
    "probe = c.get('/healthz')\n"
    "print(plain.status_code, plain['Location'])\n"
    "print(proxied.status_code, proxied['Strict-Transport-Security'])\n"
    "print(probe.status_code, probe.has_header('Strict-Transport-Security'))\n"
)


def test_plain_http_is_redirected_and_https_behind_the_proxy_gets_hsts():
    result = run(["-c", HTTPS], SECURE_PROXY_SSL_HEADER="HTTP_X_FORWARDED_PROTO", **PRODUCTION)
    assert result.returncode == 0, result.stderr
    plain, proxied, probe = result.stdout.splitlines()
    assert plain == "301 https://segments.example.com/contacts/"
    assert proxied == "200 max-age=31536000; includeSubDomains; preload"
    assert probe == "200 False"  # a load balancer's plain-HTTP probe is answered, not redirected


# --- The Content-Security-Policy on every page -------------------------------------------------------------

FORBIDDEN = ("'unsafe-inline'", "'unsafe-eval'", "*")
# Pages whose third-party content needs more, each relaxed on that page only (and why); the campaign's email
# preview (campaigns.views.preview) has a policy of its own, tested in tests/campaigns/test_preview_message.py.
RELAXED = {
    "/api/redoc/": "style-src 'self' 'unsafe-inline'",  # Redoc injects <style> elements
}


def policy_of(response) -> dict[str, list[str]]:
    return {
        part.split()[0]: part.split()[1:] for part in response["Content-Security-Policy"].split("; ") if part.strip()
    }


@pytest.mark.django_db
def test_every_page_has_the_policy(client):
    objects = make_objects()
    client.force_login(UserFactory(username="root", is_superuser=True, is_staff=True))
    urls = [
        "/",
        "/no-such-page/",
        reverse("api:docs"),
        reverse("api:redoc"),
        *(url_for(name, pattern, objects) for name, pattern in product_patterns()),
    ]
    email_preview = reverse("campaigns:campaign_preview_message", args=[objects["campaign"].pk, objects["contact"].pk])
    assert email_preview in urls
    pages = 0
    for url in urls:
        response = client.get(url)
        if not response.get("Content-Type", "").startswith("text/html"):
            continue
        pages += 1
        if url == email_preview:  # an email, framed: a policy of its own
            assert response["Content-Security-Policy"] == EMAIL_PREVIEW_POLICY
            continue
        policy = policy_of(response)
        assert policy["default-src"] == ["'self'"], url
        assert policy["script-src"] == ["'self'"], url
        assert policy["object-src"] == ["'none'"] and policy["frame-ancestors"] == ["'none'"], url
        if url in RELAXED:
            assert RELAXED[url] in response["Content-Security-Policy"], url
            continue
        for directive, sources in policy.items():
            assert not set(sources) & set(FORBIDDEN), f"{url}: {directive} {sources}"
    assert pages > 50


@pytest.mark.django_db
def test_signed_out_pages_and_errors_have_the_policy(client, staff_user):
    responses = [client.get("/login/"), client.get("/no-such-page/")]
    client.force_login(staff_user)
    responses.append(client.get("/settings/fields/"))  # Admins only
    assert [r.status_code for r in responses] == [200, 404, 403]
    for response in responses:
        assert policy_of(response)["style-src"] == ["'self'"]


@pytest.mark.django_db
def test_the_policy_can_report_only_while_a_change_is_tried():
    code = (
        "import django; django.setup()\n"
        "from django.test import Client\n"
        "r = Client().get('/login/')\n"
        "print(r.has_header('Content-Security-Policy'), r['Content-Security-Policy-Report-Only'])\n"
    )
    result = run(["-c", code], CSP_REPORT_ONLY="1", CSP_REPORT_URI="https://csp.example.com/report")
    assert result.returncode == 0, result.stderr
    enforced, report_only = result.stdout.strip().split(" ", 1)
    assert enforced == "False" and "report-uri https://csp.example.com/report" in report_only


def test_every_environment_variable_is_in_the_readme():
    """Each variable config/settings.py reads has a row in README.md's Configuration table."""
    source = (ROOT / "config" / "settings.py").read_text()
    names = set(
        re.findall(r'(?:os\.environ\.get\(|os\.environ\[|env_bool\(|env_list\(|env_memory\()"([A-Z0-9_]+)"', source)
    )
    readme = (ROOT / "README.md").read_text()
    table = readme[readme.index("## Configuration") : readme.index("## Security")]
    assert len(names) > 60
    assert not sorted(name for name in names if f"`{name}`" not in table)


INLINE = re.compile(
    r"""\sstyle\s*=|<style[\s>]|<script(?![^>]*\ssrc=)[^>]*>|\son[a-z]+\s*=\s*["']|javascript:""", re.IGNORECASE
)


def test_no_template_has_inline_code_or_styles():
    """What the policy would block, caught before a browser: style="…", <style>, <script> code, onclick=…,
    javascript: links. (Data for scripts goes in data-* attributes or json_script; styles in static/css.)"""
    offenders = [
        f"{path.relative_to(ROOT)}:{text[: match.start()].count(chr(10)) + 1}: {match.group(0).strip()}"
        for folder in (ROOT / "templates", *ROOT.glob("*/templates"))
        for path in sorted(folder.rglob("*.html"))
        for text in [path.read_text()]
        for match in INLINE.finditer(text)
    ]
    assert offenders == []
