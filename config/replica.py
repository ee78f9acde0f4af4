"""Reads that may lag a moment go to a PostgreSQL streaming replica; everything else goes to the primary.

Invariant: a query goes to the `replica` database only while a *lagging read* runs — a request whose URL
name is in LAGGING_READS (lists, counts, live previews, exports, reports: pages that may show data a
second old) — and only when DATABASE_REPLICA_URL is set, the replica answered its last probe with a lag
under REPLICA_MAX_LAG seconds, and the browser did not write in the last REPLICA_PIN_SECONDS (a write
sets a short-lived cookie: a marketer who saves and is redirected to a list sees what they saved).
Writes, the worker, management commands, sessions, sign-in and anything not listed read the primary.

A replica that fails in the middle of a lagging read is marked down and the request runs again once on
the primary (the listed requests only read, so running one twice is safe); a replica that is down or
lagging is probed again after REPLICA_PROBE_SECONDS.

Own code rather than a library: django-multidb-router sends every read to the replica unless told
otherwise and has no notion of a replica that went away; here the opposite default is the safe one.
Raw SQL that is part of a lagging read takes its connection from `read_connection()`.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any, cast

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse

logger = logging.getLogger(__name__)

REPLICA = "replica"
PIN_COOKIE = "primary_pin"

# URL names whose requests only read and may show data a moment old. POST is listed where the request
# is a read with a body (the builder's live preview, the API's preview).
LAGGING_READS: dict[str, frozenset[str]] = {
    name: frozenset(methods)
    for name, methods in {
        "home": {"GET"},
        "contacts:contact_list": {"GET"},
        "contacts:contact_search": {"GET"},
        "contacts:account_list": {"GET"},
        "contacts:account_search": {"GET"},
        "segments:group_list": {"GET"},
        "segments:group_detail": {"GET"},  # the members tab
        "segments:group_accounts": {"GET"},
        "segments:group_members_count": {"GET"},
        "segments:contact_filter": {"GET"},
        "segments:rule_preview": {"GET", "POST"},
        "segments:group_history": {"GET"},
        "campaigns:campaign_list": {"GET"},
        "campaigns:audience_panel": {"GET", "POST"},
        "transfers:export_contacts": {"GET"},
        "transfers:export_group": {"GET"},
        "api:contact_list": {"GET"},
        "api:account_list": {"GET"},
        "api:group_list": {"GET"},
        "api:group_members": {"GET"},
        "api:preview": {"POST"},
    }.items()
}

# Never from the replica, even inside a lagging read: who is signed in and may do what must be current.
PRIMARY_ONLY_APPS = frozenset({"sessions", "auth", "axes", "users", "contenttypes", "django_q", "api"})

_lagging: contextvars.ContextVar[bool] = contextvars.ContextVar("lagging_read", default=False)


def replica_configured() -> bool:
    return REPLICA in settings.DATABASES


class _Probe:
    """Whether the replica may serve reads now: asked at most once per REPLICA_PROBE_SECONDS per process."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._checked_at = float("-inf")
        self._ready = False
        self.lag: float | None = None

    def ready(self) -> bool:
        now = time.monotonic()
        if now - self._checked_at < settings.REPLICA_PROBE_SECONDS:
            return self._ready
        with self._lock:
            if now - self._checked_at >= settings.REPLICA_PROBE_SECONDS:
                self._ready, self.lag = _replica_state()
                self._checked_at = time.monotonic()
        return self._ready

    def recheck(self) -> bool:
        """Ask the replica now (after an error): whether it may serve reads."""
        with self._lock:
            self._ready, self.lag = _replica_state()
            self._checked_at = time.monotonic()
            return self._ready

    def mark_down(self) -> None:
        with self._lock:
            self._ready, self._checked_at = False, time.monotonic()


def replica_lag() -> float | None:
    """Seconds the replica is behind (0 when it has replayed all it received), None when it cannot say."""
    with connections[REPLICA].cursor() as cursor:
        cursor.execute(
            "SELECT CASE WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0 "
            "ELSE EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp()) END"
        )
        row = cursor.fetchone()
    return None if row is None or row[0] is None else float(row[0])


def _replica_state() -> tuple[bool, float | None]:
    try:
        lag = replica_lag()
    except DatabaseError as error:
        logger.warning("replica unavailable, reading from the primary: %s", error)
        connections[REPLICA].close()
        return False, None
    ready = lag is not None and lag <= settings.REPLICA_MAX_LAG
    if not ready:
        logger.warning("replica lags %s s, reading from the primary", lag)
    return ready, lag


probe = _Probe()


def read_alias() -> str:
    """The database a read should use now: the replica inside a lagging read when it may serve, else the primary."""
    if _lagging.get() and replica_configured() and probe.ready():
        return REPLICA
    return DEFAULT_DB_ALIAS


@contextlib.contextmanager
def lagging_read() -> Iterator[None]:
    """Reads inside the block are lagging reads (the replica when it may serve), as in a LAGGING_READS view;
    for background work that reads what such a view shows (the builder's preview recounted by a worker)."""
    token = _lagging.set(True)
    try:
        yield
    finally:
        _lagging.reset(token)


def read_connection() -> Any:
    """The connection for raw SQL of a read (see read_alias)."""
    return connections[read_alias()]


class ReplicaRouter:
    """Django database router: lagging reads to the replica (see the module's invariant), the rest to the primary."""

    def db_for_read(self, model: type, **hints: Any) -> str | None:
        if model._meta.app_label in PRIMARY_ONLY_APPS:  # type: ignore[attr-defined]
            return DEFAULT_DB_ALIAS
        return read_alias()

    def db_for_write(self, model: type, **hints: Any) -> str:
        return DEFAULT_DB_ALIAS

    def allow_relation(self, obj1: Any, obj2: Any, **hints: Any) -> bool:
        return True  # the replica is a copy of the primary: the same rows

    def allow_migrate(self, db: str, app_label: str, **hints: Any) -> bool:
        return db == DEFAULT_DB_ALIAS


def _is_lagging_read(request: HttpRequest) -> bool:
    match = request.resolver_match
    if match is None:
        return False
    methods = LAGGING_READS.get(match.view_name)
    return methods is not None and request.method in methods and not _pinned(request)


def _pinned(request: HttpRequest) -> bool:
    try:
        return float(request.COOKIES.get(PIN_COOKIE, "0")) > time.time()
    except ValueError:
        return False


def _streamed_as_lagging_read(content: Iterable[bytes]) -> Iterator[bytes]:
    """A streamed response's body is made after the view returned: its reads stay lagging reads too."""
    iterator = iter(content)
    while True:
        token = _lagging.set(True)
        try:
            chunk = next(iterator)
        except StopIteration:
            return
        finally:
            _lagging.reset(token)
        yield chunk


def _as_lagging_read(view: Callable[..., HttpResponse], request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
    token = _lagging.set(True)
    try:
        response = view(request, *args, **kwargs)
        if hasattr(response, "render") and callable(response.render):
            response = response.render()  # a TemplateResponse's queries run here, inside the lagging read
        return response
    finally:
        _lagging.reset(token)


def pin_to_primary(response: HttpResponse) -> None:
    """The browser that gets `response` reads the primary for REPLICA_PIN_SECONDS: after its own write, or when a
    page is told to reload because the worker just wrote what it shows (a rebuild ended)."""
    response.set_cookie(
        PIN_COOKIE,
        f"{time.time() + settings.REPLICA_PIN_SECONDS:.3f}",
        max_age=int(settings.REPLICA_PIN_SECONDS) + 1,
        secure=settings.SESSION_COOKIE_SECURE,
        httponly=True,
        samesite="Lax",
    )


class ReplicaMiddleware:
    """Marks lagging reads (see LAGGING_READS), retries one on the primary if the replica fails, pins writers."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if request.method not in ("GET", "HEAD", "OPTIONS") and not getattr(request, "_lagging_read", False):
            pin_to_primary(response)  # a write (or what may be one): this browser sees it
        return response

    def process_view(self, request: HttpRequest, view: Callable[..., HttpResponse], args: Any, kwargs: Any) -> Any:
        if not replica_configured() or not _is_lagging_read(request):
            return None
        request._lagging_read = True  # type: ignore[attr-defined]
        try:
            response = _as_lagging_read(view, request, *args, **kwargs)
        except DatabaseError:
            if probe.recheck():  # the replica answers: the error is the read's own, not the replica's
                raise
            logger.warning("a lagging read failed on the replica; running it again on the primary", exc_info=True)
            return view(request, *args, **kwargs)
        if isinstance(response, StreamingHttpResponse) and not response.is_async:
            response.streaming_content = _streamed_as_lagging_read(cast(Iterable[bytes], response.streaming_content))
        return response
