"""Keys from the token issuer's JWK set (``auth.jwks_url``), fetched with PyJWT's ``PyJWKClient``.

The set is fetched when the app starts, used for ``auth.jwks_cache_ttl``, then fetched again;
a token naming a ``kid`` the set lacks (the issuer rotated its keys) triggers an early fetch,
at most one per ``auth.jwks_min_refresh_interval`` so tokens with made-up ``kid``s cannot make
the server hammer the issuer. When a fetch fails the last good keys stay in use; with none at
all, a token is answered 503 (retry later), never accepted. Each entry is checked as a JWKS
file's are (no private or symmetric keys, RSA of at least 2048 bits); an unusable entry is
skipped with a warning rather than making every other key unusable.

Fetching blocks: the request path runs it in a worker thread (``TokenVerifier.authenticate_async``),
and concurrent requests needing it wait for one fetch.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Final

import jwt

from nestor_catalog_core import ConfigError, ServiceUnavailable, __version__
from nestor_catalog_server.auth._keys import VerificationKey, jwk_key

__all__ = ["JwksKeys"]

log = logging.getLogger("nestor_catalog_server.auth")

_USER_AGENT: Final = f"nestor-catalog/{__version__}"


class JwksKeys:
    """The verification keys of one JWKS URL, cached and refreshed (see the module docstring)."""

    def __init__(
        self,
        url: str,
        *,
        ttl: float,
        min_refresh_interval: float,
        timeout: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.url = url
        self._client = jwt.PyJWKClient(
            url,
            cache_keys=False,
            cache_jwk_set=False,
            timeout=int(max(1, round(timeout))),
            headers={"User-Agent": _USER_AGENT},
        )
        self._ttl = ttl
        self._min_refresh = min_refresh_interval
        self._clock = clock
        self._keys: list[VerificationKey] = []
        self._fetched_at: float | None = None
        self._attempted_at: float | None = None
        self._lock = threading.Lock()
        self.fetches = 0
        self.last_error: str | None = None

    @property
    def keys(self) -> list[VerificationKey]:
        return self._keys

    def has_kid(self, kid: object) -> bool:
        return isinstance(kid, str) and any(key.kid == kid for key in self._keys)

    def due(self, kid: object) -> bool:
        """Whether verifying a token with ``kid`` should fetch the set first: never fetched, too
        old, or ``kid`` unknown, and the last attempt older than the minimum interval."""
        now = self._clock()
        if self._attempted_at is not None and now - self._attempted_at < self._min_refresh:
            return False
        if self._fetched_at is None or now - self._fetched_at >= self._ttl:
            return True
        return isinstance(kid, str) and not self.has_kid(kid)

    def refresh(self, kid: object = None) -> None:
        """Fetch the set if it is still ``due`` once this thread holds the lock (concurrent
        callers share one fetch). Raises ``ServiceUnavailable`` when the fetch failed and no key
        is known at all; otherwise a failure only logs and keeps the last keys."""
        with self._lock:
            if not self.due(kid):
                return
            self._attempted_at = self._clock()
            try:
                document = self._client.fetch_data()
                keys = self._parse(document)
            except (jwt.PyJWKClientError, ValueError, TypeError) as exc:
                self.last_error = str(exc)
                log.warning(
                    "fetching the JWKS %s failed: %s%s",
                    self.url,
                    exc,
                    "; keeping the last keys" if self._keys else "",
                    extra={"operation": "jwks", "jwks_url": self.url},
                )
                if not self._keys:
                    raise self.unavailable() from None
                return
            self.fetches += 1
            self.last_error = None
            self._keys = keys
            self._fetched_at = self._attempted_at
            log.info(
                "fetched %d key(s) from the JWKS %s",
                len(keys),
                self.url,
                extra={"operation": "jwks", "jwks_url": self.url, "kids": [key.kid for key in keys]},
            )

    def unavailable(self) -> ServiceUnavailable:
        """What a token gets while no key was ever fetched: retry later (503), never a verdict."""
        return ServiceUnavailable(
            "the token issuer's keys cannot be fetched right now; retry later",
            details={"reason": "jwks_unavailable", "retry_after": max(1, round(self._min_refresh))},
        )

    def _parse(self, document: object) -> list[VerificationKey]:
        entries = document.get("keys") if isinstance(document, dict) else None
        if not isinstance(entries, list):
            raise ValueError('not a JWK set (expected {"keys": [...]})')
        keys: list[VerificationKey] = []
        for index, entry in enumerate(entries):
            where = f"auth.jwks_url ({self.url}) keys[{index}]"
            try:
                key = jwk_key(entry, where)
            except ConfigError as exc:
                log.warning("skipping a JWKS key: %s", exc.message, extra={"operation": "jwks"})
                continue
            if key is not None:
                keys.append(key)
        return keys
