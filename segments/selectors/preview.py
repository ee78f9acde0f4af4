"""The builder's live preview, shared for a moment: one count per tree, however many ask for it.

Invariant: a preview is served from the shared cache while it is at most PREVIEW_CACHE_SECONDS old (30; 0 turns
the sharing off) — or, while a worker counts the tree again, at most twice that — and its age goes with it
(`Counted.age`), so the builder says "counted 40 s ago" rather than passing an old count off as new. The key is
the tree's canonical form (`Rule.to_json()`: two trees that differ only in spelling share it) with the
reachability consents and the rule catalog's version (fields and groups as they are now), so nothing but the
data's own changes of the last seconds can differ from a fresh count — the lag the issue allows for live
previews, counts and list pages (the replica's own lag is of the same kind).

One process counts, the others wait for its result or are served the previous one (single flight): a preview
of "country is CZ" at 1M costs ~0.5 s of database time, and a dozen marketers opening the same group's builder,
or one marketer undoing an edit, would otherwise count it a dozen times at once. The cache is Django's (Redis
with REDIS_URL, else the database cache), shared by every web process and the workers.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.cache import cache

from segments.rules import Preview, parse, preview
from segments.rules.limits import check_cost

PREVIEW_CACHE_SECONDS = 30  # settings.PREVIEW_CACHE_SECONDS overrides it; 0: every preview counted afresh
_KEY_VERSION = 1  # raise when Preview's shape changes: a cached value of the old shape is then never read
_WAIT_STEP = 0.05  # seconds between two looks at the cache while another process counts
_QUEUE_GRACE = 30  # seconds a queued recount may wait for a free worker before another request asks again
logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Counted:
    """A preview and how old it is (seconds since it was counted; 0 when counted for this request)."""

    preview: Preview
    age: float


def _key(canonical: dict[str, Any]) -> str:
    """The tree's cache key: its canonical form, the reachability consents and the rule catalog's version (a custom
    field's type decides how a condition compiles; any change of a field or a group gives a new version)."""
    from segments.rechecks import rule_catalog_version

    reach = [
        getattr(settings, "REACHABILITY_EMAIL_CONSENT", "newsletter"),
        getattr(settings, "REACHABILITY_SMS_CONSENT", "sms"),
    ]
    text = json.dumps([canonical, reach, rule_catalog_version()], sort_keys=True, separators=(",", ":"))
    return f"preview:{_KEY_VERSION}:{hashlib.sha256(text.encode()).hexdigest()}"


def _flag(key: str) -> str:
    """The key under which "this tree is being counted" is raised (by `cache.add`: one process wins)."""
    return f"{key}:counting"


def _window() -> float:
    return float(getattr(settings, "PREVIEW_CACHE_SECONDS", PREVIEW_CACHE_SECONDS))


def preview_shared(tree: Any, *, group: Any = None, timeout: float | None = None) -> Counted:
    """`segments.rules.preview(tree, group=, timeout=)`, or the same tree's preview counted in the last seconds.

    Within PREVIEW_CACHE_SECONDS of its count a preview is served as it is. After that the first request to see
    it asks a worker to count the tree again (`preview_recount`) and, like everyone until that count is in, is
    served the previous one with its age: no request waits for a recount. A count is kept for two windows; past
    that (nobody asked meanwhile) the first to ask counts while the others wait for it. Without a worker queue
    (the broker does not answer) the request counts itself.

    Raises what `preview` raises (RuleError before any cache is read; EvaluationTimeout — never cached).
    """
    rule = parse(tree, group=group)
    check_cost(rule.root)
    seconds = _window()
    if seconds <= 0:
        return Counted(preview(rule, timeout=timeout), 0.0)
    canonical = rule.to_json()
    key = _key(canonical)
    flag = _flag(key)
    limit = timeout if timeout is not None else seconds
    waited_until = time.monotonic() + limit
    while True:
        hit = cache.get(key)
        if hit is not None:
            age = max(0.0, time.time() - hit[1])
            # Older than the window: the first to see it asks a worker for a new count (no worker: counts it).
            stale = age > seconds and cache.add(flag, 1, timeout=int(limit) + _QUEUE_GRACE)
            if stale and not _recount_queued(canonical, limit, key):
                return Counted(_count(rule, key, timeout=timeout, seconds=seconds), 0.0)
            return Counted(hit[0], age)
        # Nobody has it: the first to ask counts (the flag expires with the count's time limit, should it die).
        if cache.add(flag, 1, timeout=int(limit) + 1):
            return Counted(_count(rule, key, timeout=timeout, seconds=seconds), 0.0)
        if time.monotonic() >= waited_until:  # the other count is slow or failed: count here
            return Counted(preview(rule, timeout=timeout), 0.0)
        time.sleep(_WAIT_STEP)


def preview_recount(canonical: dict[str, Any], timeout: float, key: str) -> None:
    """The worker's half of `preview_shared`: count the tree again (as a lagging read) and share the count under
    the key the request saw (and lower that key's flag)."""
    from config.replica import lagging_read

    with lagging_read():
        _count(parse(canonical), key, timeout=timeout, seconds=_window())


def _count(rule: Any, key: str, *, timeout: float | None, seconds: float) -> Preview:
    """Count, share the count for two windows, and lower the key's flag whatever happened."""
    try:
        started = time.time()
        result = preview(rule, timeout=timeout)
        cache.set(key, (result, started), timeout=2 * seconds)
        return result
    finally:
        cache.delete(_flag(key))


def _recount_queued(canonical: dict[str, Any], timeout: float, key: str) -> bool:
    """Ask a worker to recount the tree; False when the broker does not answer (not kept for later: by then the
    count would be old anyway)."""
    from django_q.tasks import async_task

    try:
        async_task("segments.tasks.preview_recount", canonical, timeout, key)
        return True
    except Exception as error:  # redis' ConnectionError / TimeoutError, or the ORM broker's database error
        logger.warning("the task queue did not answer (%s: %s); the preview is counted in the request",
                       type(error).__name__, error)  # fmt: skip
        return False
