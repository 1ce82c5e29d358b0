"""A Redis cache that degrades instead of failing: with Redis down, reads miss and writes are dropped.

The cache holds only what can be rebuilt or forgone (rate-limit counters, login-failure counters), so a
Redis outage must not turn every API call into a 500: ingest keeps storing data (issue: faults). The cost,
stated: while Redis is down, rate limits and the login throttle do not count.
"""

from __future__ import annotations

import functools
import logging

from django.core.cache.backends.redis import RedisCache, RedisCacheClient
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

logger = logging.getLogger(__name__)
OUTAGE = (RedisConnectionError, RedisTimeoutError)


def _degrade(fallback):
    def decorator(method):
        @functools.wraps(method)
        def wrapper(self, *args, **kwargs):
            try:
                return method(self, *args, **kwargs)
            except OUTAGE as error:
                logger.warning("Cache unavailable (%s): %s answers without it.", error, method.__name__)
                return fallback(*args, **kwargs) if callable(fallback) else fallback
        return wrapper
    return decorator


class ResilientRedisCacheClient(RedisCacheClient):
    get = _degrade(lambda key, default: default)(RedisCacheClient.get)
    get_many = _degrade({})(RedisCacheClient.get_many)
    has_key = _degrade(False)(RedisCacheClient.has_key)
    add = _degrade(False)(RedisCacheClient.add)
    set = _degrade(None)(RedisCacheClient.set)
    set_many = _degrade([])(RedisCacheClient.set_many)
    touch = _degrade(False)(RedisCacheClient.touch)
    delete = _degrade(False)(RedisCacheClient.delete)
    delete_many = _degrade(None)(RedisCacheClient.delete_many)
    incr = _degrade(lambda key, delta: delta)(RedisCacheClient.incr)


class ResilientRedisCache(RedisCache):
    def __init__(self, server: str, params: dict) -> None:
        super().__init__(server, params)
        self._class = ResilientRedisCacheClient
