"""The API's rate limit counts in the shared cache: it holds across processes (Redis) and concurrent connections
(the database cache's atomic increment), per clock window, with Retry-After the seconds left in it."""

from __future__ import annotations

import multiprocessing
import time
import uuid

import pytest
from django.core.cache import caches
from django.core.cache.backends.redis import RedisCache
from django.db import connection
from django.test import override_settings

from api.models import ApiToken
from api.throttling import rate_take
from config.cache import DatabaseCache
from contacts.roles import Role
from tests.threads import together

pytestmark = pytest.mark.django_db
REDIS = "redis://127.0.0.1:6379/15"


def redis_cache() -> RedisCache:
    """A Redis cache of its own (a fresh key prefix); the test is skipped when no Redis answers locally."""
    cache = RedisCache(REDIS, {"KEY_PREFIX": f"test-{uuid.uuid4().hex}"})
    try:
        cache.get("ping")
    except Exception:
        pytest.skip("no Redis answers on 127.0.0.1:6379 (CI has one)")
    return cache


def test_a_window_allows_the_limit_then_says_how_long_to_wait():
    cache = caches["default"]
    cache.clear()
    key = uuid.uuid4().hex
    assert [rate_take(key=key, limit=2, duration=60, now=600.0 + t) for t in (0, 1)] == [0.0, 0.0]
    assert rate_take(key=key, limit=2, duration=60, now=602.5) == pytest.approx(57.5)
    assert rate_take(key=key, limit=2, duration=60, now=659.0) == pytest.approx(1.0)
    assert rate_take(key=key, limit=2, duration=60, now=660.0) == 0.0  # the next minute of the clock
    assert rate_take(key="other", limit=2, duration=60, now=602.5) == 0.0


def test_the_default_cache_is_the_database_with_an_atomic_increment():
    cache = caches["default"]
    assert isinstance(cache, DatabaseCache)
    with pytest.raises(ValueError):
        cache.incr("missing")
    cache.set("n", 5, timeout=60)
    assert cache.incr("n") == 6 and cache.incr("n", 4) == 10 and cache.decr("n") == 9
    assert cache.get("n") == 9
    cache.set("gone", 1, timeout=-1)
    with pytest.raises(ValueError):
        cache.incr("gone")


def _take_many(key: str, prefix: str, count: int) -> int:
    """In a process of its own: how many of `count` requests the shared Redis limit let through."""
    cache = RedisCache(REDIS, {"KEY_PREFIX": prefix})
    return sum(1 for _ in range(count) if not rate_take(key=key, limit=25, duration=3600, cache=cache))


def test_the_limit_holds_across_processes_with_redis():
    cache = redis_cache()
    key = uuid.uuid4().hex
    with multiprocessing.get_context("fork").Pool(4) as pool:
        allowed = pool.starmap(_take_many, [(key, cache.key_prefix, 20)] * 4)
    assert sum(allowed) == 25  # 80 requests from 4 processes at once: exactly the limit got through
    assert rate_take(key=key, limit=25, duration=3600, cache=cache) > 0


def test_the_api_counts_in_redis_when_it_is_the_cache(api_factory):
    prefix = redis_cache().key_prefix
    redis = {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS, "KEY_PREFIX": prefix}
    api = api_factory(Role.MARKETER)
    token = ApiToken.objects.get(user__username="api_marketer_write")
    with override_settings(CACHES={"default": redis}, API_RATE="2/hour"):
        response = [api.get("/api/v1/contacts/") for _ in range(3)][-1]
        assert response.status_code == 429 and 0 < int(response["Retry-After"]) <= 3600
        window = int(time.time() // 3600)
        assert caches["default"].get(f"rate:api_token_{token.pk}:3600:{window}") == 3
    with connection.cursor() as cursor:  # nothing of it went to the database cache
        cursor.execute("SELECT COUNT(*) FROM django_cache WHERE cache_key LIKE %s", ["%rate:%"])
        assert cursor.fetchone()[0] == 0


@pytest.mark.django_db(transaction=True)
def test_the_database_counter_holds_across_concurrent_connections():
    if connection.vendor != "postgresql":
        pytest.skip("SQLite has one writer at a time (every transaction is IMMEDIATE): nothing to race")
    key = uuid.uuid4().hex
    allowed, errors = together(
        lambda: sum(1 for _ in range(15) if not rate_take(key=key, limit=80, duration=3600)), threads=6
    )
    assert not errors and sum(allowed) == 80  # 90 requests on 6 connections at once: exactly the limit
