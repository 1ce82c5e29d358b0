"""The cache degrades to misses when Redis is unreachable, so an outage never fails a request."""

from config.cache import ResilientRedisCache
from tests.faults.lab import free_port


def test_a_cache_whose_redis_is_down_misses_and_drops_writes_without_raising():
    cache = ResilientRedisCache(f"redis://127.0.0.1:{free_port()}/0",
                                {"OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5}})

    assert cache.get("throttle:key:1", []) == []
    cache.set("throttle:key:1", [1.0], 60)
    assert cache.add("login-failures", 0, 60) is False
    assert cache.get_many(["a", "b"]) == {}
    assert cache.delete("a") is False


def test_a_live_cache_still_works():
    from django.core.cache import cache

    cache.set("resilience-check", 41, 5)
    assert cache.incr("resilience-check") == 42
    cache.delete("resilience-check")
