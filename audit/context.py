"""Who is acting, and from which address, for the audit entries a service writes.

Invariant: services never take the request; `AuditContextMiddleware` keeps the current request in a context
variable for its duration and `audit.services.audit_record` reads the actor (`request.user`, read when the
entry is written, so a DRF token's user counts too) and the client's address from it. Outside a request
(the worker, a management command) the actor is "system", "background task" or the command's name, unless
a block says otherwise with `acting_as(...)`.

The client's address is REMOTE_ADDR. Behind a reverse proxy every request comes from the proxy: set
`TRUSTED_PROXY_COUNT` (settings, env var) to the number of proxies in front of the app, and the address is
read from X-Forwarded-For: the entry the outermost trusted proxy added (the N-th from the right). Entries
further left were sent by the client and could be anything, so they are never used.
"""

from __future__ import annotations

import ipaddress
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

from django.conf import settings
from django.http import HttpRequest, HttpResponseBase


@dataclass(frozen=True)
class Acting:
    request: HttpRequest | None = None
    name: str = ""  # who acts outside a request, e.g. "manage.py rebuild_groups"


_acting: ContextVar[Acting | None] = ContextVar("audit_acting", default=None)


def current() -> Acting | None:
    return _acting.get()


@contextmanager
def acting_as(name: str = "", *, request: HttpRequest | None = None) -> Iterator[None]:
    """Within the block, audit entries name `name` (outside a request) or read `request`."""
    token = _acting.set(Acting(request=request, name=name))
    try:
        yield
    finally:
        _acting.reset(token)


def _valid_ip(text: str) -> str | None:
    text = text.strip()
    if text.startswith("[") and "]" in text:  # "[2001:db8::1]:443"
        text = text[1 : text.index("]")]
    elif text.count(":") == 1:  # "203.0.113.5:443"
        text = text.partition(":")[0]
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        return None


def client_ip(request: HttpRequest) -> str | None:
    """The client's address: REMOTE_ADDR, or with TRUSTED_PROXY_COUNT = N > 0 the N-th X-Forwarded-For entry
    from the right (the one the outermost trusted proxy wrote); None when it is missing or not an address."""
    proxies = getattr(settings, "TRUSTED_PROXY_COUNT", 0)
    if proxies > 0:
        hops = [hop for hop in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if hop.strip()]
        if len(hops) >= proxies:
            return _valid_ip(hops[-proxies])
    return _valid_ip(request.META.get("REMOTE_ADDR", ""))


def process_name() -> str:
    """Who acts when no request does: the management command's name, the worker, or "system"."""
    argv = sys.argv
    if len(argv) > 1 and argv[0].endswith("manage.py"):
        return "background task" if argv[1] == "qcluster" else f"manage.py {argv[1]}"
    return "system"


class AuditContextMiddleware:
    """Keeps the request in the audit context while the view runs (after authentication)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        with acting_as(request=request):
            return self.get_response(request)
