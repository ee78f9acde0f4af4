"""config.csp.CSPMiddleware sets exactly the headers django-csp's own middleware sets, building the unchanged
policy once: compared response by response — plain, changed by each kind of view decorator, with a nonce,
report-only, an excluded prefix — and built again when the settings change."""

from __future__ import annotations

import pytest
from csp.constants import HEADER, HEADER_REPORT_ONLY, NONE, SELF
from csp.decorators import csp, csp_exempt, csp_replace, csp_update
from csp.middleware import CSPMiddleware as DjangoCSPMiddleware
from django.http import HttpResponse
from django.test import RequestFactory

from config.csp import CSPMiddleware

REPORT_ONLY = {"DIRECTIVES": {"default-src": [SELF], "report-uri": ["https://csp.example.com/r"]}}


def plain(request):
    return HttpResponse("<p>hi</p>")


def with_nonce(request):
    return HttpResponse(f"<script nonce='{request.csp_nonce}'></script>")


VIEWS = {
    "plain": plain,
    "nonce": with_nonce,
    "update": csp_update({"img-src": ["https://img.example.com"]})(plain),
    "replace": csp_replace({"frame-src": [NONE]})(plain),
    "own policy": csp({"default-src": [NONE]})(plain),
    "exempt": csp_exempt()(plain),
    "exempt, report-only": csp_exempt(REPORT_ONLY=True)(plain),
    "update, report-only": csp_update({"img-src": ["data:"]}, REPORT_ONLY=True)(plain),
}


def headers(middleware_class, view, path="/page/"):
    request = RequestFactory().get(path)
    middleware = middleware_class(view)
    middleware.process_request(request)
    response = middleware.process_response(request, view(request))
    return response.get(HEADER), response.get(HEADER_REPORT_ONLY)


@pytest.mark.parametrize("settings_case", ["enforced", "report-only too", "excluded prefix", "report-only only"])
@pytest.mark.parametrize("name", list(VIEWS))
def test_the_same_headers_as_django_csp(settings, name, settings_case):
    if settings_case == "report-only too":
        settings.CONTENT_SECURITY_POLICY_REPORT_ONLY = REPORT_ONLY
    elif settings_case == "excluded prefix":
        settings.CONTENT_SECURITY_POLICY = {**settings.CONTENT_SECURITY_POLICY, "EXCLUDE_URL_PREFIXES": ["/page/"]}
    elif settings_case == "report-only only":
        settings.CONTENT_SECURITY_POLICY, settings.CONTENT_SECURITY_POLICY_REPORT_ONLY = {}, REPORT_ONLY
    ours, theirs = headers(CSPMiddleware, VIEWS[name]), headers(DjangoCSPMiddleware, VIEWS[name])
    assert ours == theirs
    if name == "plain" and settings_case == "enforced":
        assert "default-src 'self'" in ours[0]


def test_the_policy_is_built_once_and_again_when_the_settings_change(settings, monkeypatch):
    from config import csp as module

    built = []
    real = module.build_policy
    monkeypatch.setattr(module, "build_policy", lambda **kw: built.append(kw) or real(**kw))
    middleware = CSPMiddleware(plain)
    for _ in range(3):
        request = RequestFactory().get("/")
        middleware.process_request(request)
        middleware.process_response(request, plain(request))
    assert len(built) == 2  # the enforced header and the report-only one, once
    settings.CONTENT_SECURITY_POLICY = {"DIRECTIVES": {"default-src": [NONE]}}
    request = RequestFactory().get("/")
    middleware.process_request(request)
    assert middleware.process_response(request, plain(request))[HEADER] == "default-src 'none'"
    assert len(built) == 4


def test_a_nonce_asked_for_after_the_header_was_written_is_an_error():
    from csp.exceptions import CSPNonceError

    request = RequestFactory().get("/")
    middleware = CSPMiddleware(plain)
    middleware.process_request(request)
    middleware.process_response(request, plain(request))
    with pytest.raises(CSPNonceError):
        str(request.csp_nonce)
