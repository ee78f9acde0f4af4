"""A short lane for the tracking endpoints: the open pixel and the click redirect skip the middleware of pages.

They are anonymous GETs answered with a GIF or a redirect, from mail clients, thousands a second after a
send (campaigns.views.tracking). Everything outside this middleware still applies to them: the request id,
SecurityMiddleware (HTTPS redirect, HSTS, nosniff, referrer policy), the Content-Security-Policy, WhiteNoise,
and Django's error pages (a bad token is the usual 404 page). What they skip reads or writes nothing they use:
sessions, CSRF (GET only: nothing to protect), authentication and the sign-in requirement (both views are
login_not_required, checked here), messages, htmx, the session guard, the audit context (they write no audit
entry), the replica router (they read nothing) and django-axes (no sign-in). What they keep of the skipped
ones is done here: the host is checked against ALLOWED_HOSTS (CommonMiddleware), X-Frame-Options is set.
Any other path, including one under /t/ that does not resolve to these two views, takes the full chain.
"""

from __future__ import annotations

from collections.abc import Callable

from django.core.handlers.exception import response_for_exception
from django.http import Http404, HttpRequest, HttpResponseBase
from django.middleware.clickjacking import XFrameOptionsMiddleware
from django.urls import Resolver404, resolve

PREFIXES = ("/t/o/", "/t/c/")  # config/urls.py: track_open, track_click
VIEWS = frozenset({"track_open", "track_click"})


class TrackingMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response
        self.frame_options = XFrameOptionsMiddleware(get_response)

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        if not request.path_info.startswith(PREFIXES):
            return self.get_response(request)
        try:
            match = resolve(request.path_info)
        except Resolver404:
            return self.get_response(request)
        if match.url_name not in VIEWS or getattr(match.func, "login_required", True):
            return self.get_response(request)
        request.get_host()  # DisallowedHost (a 400) for a host not in ALLOWED_HOSTS, as CommonMiddleware does
        request.resolver_match = match
        try:
            response = match.func(request, *match.args, **match.kwargs)
        except Http404 as exc:  # a bad token: the 404 page, as Django's handler makes it (and logs it)
            response = response_for_exception(request, exc)
        return self.frame_options.process_response(request, response)
