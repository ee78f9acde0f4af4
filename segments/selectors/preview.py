"""The builder's live preview, shared for a moment: one count per tree, however many ask for it.

Invariant: a preview is served from the shared cache while it is at most PREVIEW_CACHE_SECONDS old (30; 0 turns
the sharing off) — or, while another request is counting the tree again, at most twice that — and its age goes
with it (`Counted.age`), so the builder says "counted 40 s ago" rather than passing an old count off as new. The
key is the tree's canonical form (`Rule.to_json()`: two trees that differ only in spelling share it) with the
reachability consents, so nothing but the data's own changes of the last seconds can differ from a fresh count —
the lag the issue allows for live previews, counts and list pages (the replica's own lag is of the same kind).

One process counts, the others wait for its result (single flight): a preview of "country is CZ" at 1M costs
~0.5 s of database time, and a dozen marketers opening the same group's builder, or one marketer undoing an
edit, would otherwise count it a dozen times at once. The cache is Django's (Redis with REDIS_URL, else the
database cache), shared by every web process.
"""

from __future__ import annotations

import hashlib
import json
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


@dataclass(frozen=True)
class Counted:
    """A preview and how old it is (seconds since it was counted; 0 when counted for this request)."""

    preview: Preview
    age: float


def _key(canonical: dict[str, Any]) -> str:
    reach = [
        getattr(settings, "REACHABILITY_EMAIL_CONSENT", "newsletter"),
        getattr(settings, "REACHABILITY_SMS_CONSENT", "sms"),
    ]
    text = json.dumps([canonical, reach], sort_keys=True, separators=(",", ":"))
    return f"preview:{_KEY_VERSION}:{hashlib.sha256(text.encode()).hexdigest()}"


def preview_shared(tree: Any, *, group: Any = None, timeout: float | None = None) -> Counted:
    """`segments.rules.preview(tree, group=, timeout=)`, or the same tree's preview counted in the last seconds.

    Within PREVIEW_CACHE_SECONDS of its count a preview is served as it is. After that the next request
    counts the tree again, and while it does, the others are served the previous count (with its age) rather
    than waiting: a count that takes seconds under load stalls one request, not every one. A count is kept
    for two windows at most; past that it is gone and the first to ask counts while the others wait for it.

    Raises what `preview` raises (RuleError before any cache is read; EvaluationTimeout — never cached).
    """
    rule = parse(tree, group=group)
    check_cost(rule.root)
    seconds = float(getattr(settings, "PREVIEW_CACHE_SECONDS", PREVIEW_CACHE_SECONDS))
    if seconds <= 0:
        return Counted(preview(rule, timeout=timeout), 0.0)
    key = _key(rule.to_json())
    flag = f"{key}:counting"
    waited_until = time.monotonic() + (timeout if timeout is not None else seconds)
    while True:
        hit = cache.get(key)
        age = time.time() - hit[1] if hit is not None else None
        if hit is not None and age is not None and age <= seconds:
            return Counted(hit[0], max(0.0, age))
        # The first to ask counts (the flag expires with the count's own time limit, should its process die).
        if cache.add(flag, 1, timeout=int(timeout or seconds) + 1):
            try:
                started = time.time()
                result = preview(rule, timeout=timeout)
                cache.set(key, (result, started), timeout=2 * seconds)
                return Counted(result, 0.0)
            finally:
                cache.delete(flag)
        if hit is not None and age is not None:  # being counted again elsewhere: the previous count meanwhile
            return Counted(hit[0], age)
        if time.monotonic() >= waited_until:  # the other count is slow or failed: count here
            return Counted(preview(rule, timeout=timeout), 0.0)
        time.sleep(_WAIT_STEP)
