"""``RedisLink``: one replica's connections to Redis, and what it knows of their health.

Redis is a cache and a fan-out bus, never the source of truth, so nothing may wait on it for
long or fail because of it. Two clients share the URL:

- ``commands``: a blocking pool of ``cache.redis.pool_size`` connections for short commands
  (cache reads and writes, ``XADD``, ``PUBLISH``). Every socket operation is bounded by
  ``command_timeout`` and redis-py's own retries are off: a dead Redis costs one failed call,
  and ``call`` then skips Redis for ``cooldown`` seconds, so an outage adds no latency to reads;
- ``blocking``: a separate pool for the long-lived connections (``XREAD BLOCK``, pub/sub),
  whose reads may take ``block_timeout`` before they time out, so they never hold a slot the
  short commands need.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Final, TypeVar
from urllib.parse import urlsplit, urlunsplit

from nestor_catalog_core import ConfigError
from nestor_catalog_server.config import RedisConfig

if TYPE_CHECKING:
    from redis.asyncio import Redis

__all__ = ["BLOCK_TIMEOUT", "COMMAND_TIMEOUT", "COOLDOWN", "RedisLink", "redacted_url"]

log = logging.getLogger("nestor_catalog_server.scaleout.redis")

#: Seconds a short command may take before it counts as failed.
COMMAND_TIMEOUT: Final = 0.5
#: Seconds after a failed command during which ``call`` does not try Redis again.
COOLDOWN: Final = 1.0
#: Seconds a blocking read (``XREAD BLOCK``, pub/sub) waits for data before it returns empty.
BLOCK_TIMEOUT: Final = 5.0
T = TypeVar("T")


def redacted_url(url: str) -> str:
    """``url`` without its password (for logs and the status page)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    user = f"{parts.username}:***@" if parts.username else ":***@"
    return urlunsplit(parts._replace(netloc=user + host))


def _describe(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class RedisLink:
    """The two Redis clients of a replica (see the module docstring) and its health record.

    ``last_error`` is the latest failure anyone saw (for the status page); ``available`` is
    false during the cooldown after a failed command; ``errors`` is what an outage raises
    (redis-py's errors, socket errors, timeouts). Raises ``ConfigError`` when the ``redis``
    package (the ``redis`` extra) is not installed.
    """

    def __init__(
        self,
        config: RedisConfig,
        *,
        command_timeout: float = COMMAND_TIMEOUT,
        block_timeout: float = BLOCK_TIMEOUT,
        cooldown: float = COOLDOWN,
    ) -> None:
        self.config = config
        self.url = redacted_url(config.url)
        self.command_timeout = command_timeout
        self.block_timeout = block_timeout
        self.cooldown = cooldown
        self.last_error: str | None = None
        self._skip_until = 0.0
        self._healthy = True
        try:
            from redis.asyncio import BlockingConnectionPool, ConnectionPool, Redis
            from redis.asyncio.retry import Retry
            from redis.backoff import NoBackoff
            from redis.exceptions import ConnectionError as RedisConnectionError
            from redis.exceptions import RedisError
        except ImportError as exc:
            raise ConfigError(
                "cache.type is redis but the redis package is missing: install nestor-catalog[redis]",
                details={"key": "cache.type"},
            ) from exc
        self.errors: tuple[type[BaseException], ...] = (RedisError, OSError, TimeoutError)
        self._connection_error: type[BaseException] = RedisConnectionError
        no_retries = Retry(NoBackoff(), 0)
        self.commands: Redis = Redis(
            connection_pool=BlockingConnectionPool.from_url(
                config.url,
                max_connections=config.pool_size,
                timeout=command_timeout,
                socket_timeout=command_timeout,
                socket_connect_timeout=command_timeout,
                retry=no_retries,
            )
        )
        self.blocking: Redis = Redis(
            connection_pool=ConnectionPool.from_url(
                config.url,
                max_connections=4,
                socket_timeout=block_timeout + command_timeout + 1.0,
                socket_connect_timeout=command_timeout,
                retry=no_retries,
            )
        )

    def key(self, *parts: str) -> str:
        """A key under ``cache.redis.key_prefix``: ``<prefix>:<part>:<part>...``."""
        return ":".join((self.config.key_prefix, *parts))

    @property
    def available(self) -> bool:
        return time.monotonic() >= self._skip_until

    def failed(self, exc: BaseException, operation: str) -> None:
        """Record a failure: the status page shows it and ``call`` rests for the cooldown. Only
        the first failure of an outage is logged as a warning."""
        message = _describe(exc)
        level = logging.WARNING if self._healthy else logging.DEBUG
        log.log(
            level,
            "redis %s failed: %s; going on without redis",
            operation,
            message,
            extra={"operation": f"redis_{operation}", "redis": self.url},
        )
        self._healthy = False
        self.last_error = message
        self._skip_until = time.monotonic() + self.cooldown

    def recovered(self) -> None:
        """Redis answered again: end the cooldown at once."""
        self._skip_until = 0.0
        if not self._healthy:
            self._healthy = True
            log.info("redis answers again", extra={"operation": "redis", "redis": self.url})

    async def call(self, operation: str, command: Callable[[Redis], Awaitable[T]], default: T) -> T:
        """``await command(self.commands)``, or ``default`` when Redis fails, is too slow or is
        resting after a failure. Never raises for an outage. A broken connection is retried
        once at once: after Redis restarts, every pooled connection fails on its first use."""
        if not self.available:
            return default
        try:
            async with asyncio.timeout(self.command_timeout * 2):
                try:
                    result = await command(self.commands)
                except self._connection_error:
                    result = await command(self.commands)
        except self.errors as exc:
            self.failed(exc, operation)
            return default
        if not self._healthy:
            self.recovered()
        return result

    async def aclose(self) -> None:
        await self.commands.aclose()
        await self.blocking.aclose()
        await self.commands.connection_pool.disconnect()
        await self.blocking.connection_pool.disconnect()
