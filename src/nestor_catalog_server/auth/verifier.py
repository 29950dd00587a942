"""JWT bearer authentication and the write permission.

Every authenticated caller reads; only a caller whose ``auth.write_claim`` holds one of
``auth.write_values`` writes. Which algorithms a token may use is fixed by configuration and by
the keys actually configured, never by the token: ``alg: none`` and unknown algorithms are
refused before any key is touched, an HMAC token is only ever checked against the HMAC secret
and an RSA/EC/EdDSA token only against public keys of its own kind, which is what defeats the
classic key-confusion attack (an HS256 token "signed" with the RSA public key).

Failures raise ``AuthenticationError`` whose ``details["reason"]`` is one of ``REASONS``;
the message is safe to return to the caller (it never echoes the token).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Final

import jwt

from nestor_catalog_core import AuthenticationError, PermissionDenied, ServiceUnavailable
from nestor_catalog_server.auth._jwks import JwksKeys
from nestor_catalog_server.auth._keys import ALGORITHM_FAMILIES, VerificationKey, load_jwks, load_pem_keys
from nestor_catalog_server.config import AuthConfig

__all__ = ["ANONYMOUS", "REASONS", "Principal", "TokenVerifier", "bearer_token", "www_authenticate"]

#: The ``details["reason"]`` codes of ``AuthenticationError``.
REASONS: Final = (
    "token_missing",
    "token_malformed",
    "token_expired",
    "token_not_yet_valid",
    "bad_signature",
    "bad_audience",
    "bad_issuer",
    "algorithm_not_allowed",
    "claim_missing",
)
#: How ``_verify`` treats a JWKS fetch that is due: do it now (blocking), hand it to the caller
#: (``_KeysDue``, the async path) or skip it (the retry after the caller fetched).
_INLINE: Final = "inline"
_DEFER: Final = "defer"
_SKIP: Final = "skip"


#: Tokens longer than this are refused unparsed (real ones are a few KiB at most).
MAX_TOKEN_LENGTH: Final = 16 * 1024


@dataclass(frozen=True)
class Principal:
    """Who is calling: the subject claim, every verified claim (read-only: the principal of a
    reused token is shared between its requests), and whether they may write."""

    subject: str
    claims: Mapping[str, Any] = field(default_factory=dict, compare=False)
    can_write: bool = False


#: The caller when ``auth.enabled`` is false: a development setup where everyone may write.
ANONYMOUS: Final = Principal(subject="anonymous", claims={}, can_write=True)


def _failure(reason: str, message: str) -> AuthenticationError:
    return AuthenticationError(message, details={"reason": reason})


def bearer_token(authorization_header: str | None) -> str:
    """The token of an ``Authorization: Bearer <token>`` header (the scheme is case-insensitive)."""
    if authorization_header is None or not authorization_header.strip():
        raise _failure("token_missing", "missing bearer token: send 'Authorization: Bearer <token>'")
    scheme, _, token = authorization_header.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer":
        raise _failure("token_malformed", f"unsupported authorization scheme {scheme[:20]!r}: use 'Bearer <token>'")
    if not token or " " in token:
        raise _failure("token_malformed", "malformed bearer token: expected 'Bearer <token>'")
    return token


def www_authenticate(error: AuthenticationError | None = None, *, realm: str = "nestor-catalog") -> str:
    """The RFC 6750 ``WWW-Authenticate`` value to send with a 401 for ``error``."""
    if error is None or error.details.get("reason") == "token_missing":
        return f'Bearer realm="{realm}"'
    reason = str(error.details.get("reason", "invalid_token"))
    kind = "invalid_request" if reason == "token_malformed" else "invalid_token"
    description = error.message.replace("\\", "").replace('"', "'")
    return f'Bearer realm="{realm}", error="{kind}", error_description="{description}"'


_TRANSLATED: Final[tuple[tuple[type[jwt.PyJWTError], str, str], ...]] = (
    (jwt.ExpiredSignatureError, "token_expired", "token expired"),
    (jwt.ImmatureSignatureError, "token_not_yet_valid", "token is not valid yet"),
    (jwt.InvalidAudienceError, "bad_audience", "token is not meant for this service (audience)"),
    (jwt.InvalidIssuerError, "bad_issuer", "token issuer is not trusted"),
    (jwt.MissingRequiredClaimError, "claim_missing", "token lacks a required claim"),
    (jwt.InvalidAlgorithmError, "algorithm_not_allowed", "token algorithm is not allowed"),
    (jwt.InvalidSignatureError, "bad_signature", "token signature is invalid"),
    (jwt.InvalidKeyError, "bad_signature", "token signature is invalid"),
)


class TokenVerifier:
    """Verifies bearer tokens against the keys of ``AuthConfig``; build one per app, reuse it.

    Raises ``ConfigError`` at construction when a configured key cannot be used. Services reuse
    one token for many requests, so the principal of a verified token is remembered (at most
    ``cache_size`` tokens) until the token expires: the keys and the token are immutable, only
    the clock can change the answer, and ``exp`` is checked against ``clock`` on every hit.
    """

    def __init__(self, settings: AuthConfig, *, cache_size: int = 4096, clock: Callable[[], float] = time.time) -> None:
        self.settings = settings
        self._cache: dict[str, tuple[Principal, float]] = {}
        self._cache_size = cache_size
        self._clock = clock
        self._keys = self._load_keys(settings)
        self._jwks = (
            JwksKeys(
                settings.jwks_url,
                ttl=settings.jwks_cache_ttl.total_seconds(),
                min_refresh_interval=settings.jwks_min_refresh_interval.total_seconds(),
                timeout=settings.jwks_timeout.total_seconds(),
            )
            if settings.jwks_url is not None
            else None
        )
        families = {key.family for key in self._keys}
        if self._jwks is not None:  # the issuer's key types are known once fetched
            families |= {"RSA", "EC", "OKP"}
        self.algorithms: tuple[str, ...] = tuple(
            alg for alg in settings.algorithms if ALGORITHM_FAMILIES[alg] in families
        )
        self._audience: Sequence[str] | None = settings.audience or None
        self._leeway = settings.leeway.total_seconds()

    @staticmethod
    def _load_keys(settings: AuthConfig) -> list[VerificationKey]:
        keys: list[VerificationKey] = []
        if settings.hs256_secret is not None:
            secret = settings.hs256_secret.get_secret_value().encode()
            keys.append(VerificationKey(family="HMAC", material=secret, source="auth.hs256_secret"))
        for index, path in enumerate(settings.public_keys):
            keys.extend(load_pem_keys(path, f"auth.public_keys[{index}]"))
        if settings.jwks_file is not None:
            keys.extend(load_jwks(settings.jwks_file, "auth.jwks_file"))
        return keys

    @property
    def enabled(self) -> bool:
        return self.settings.enabled

    @property
    def jwks(self) -> JwksKeys | None:
        """The issuer's key set when ``auth.jwks_url`` is configured."""
        return self._jwks

    async def start(self) -> None:
        """Fetch the issuer's JWK set (``auth.jwks_url``) before the first request; a failure is
        logged and retried when a token arrives, so an issuer outage does not stop the start."""
        if self._jwks is None:
            return
        with contextlib.suppress(ServiceUnavailable):
            await asyncio.to_thread(self._jwks.refresh)

    async def close(self) -> None:
        """Nothing is held open (each JWKS fetch is one request); the pair of ``start``."""

    def authenticate(self, authorization_header: str | None) -> Principal:
        """The caller of a request: ``ANONYMOUS`` when auth is disabled, else the verified token's
        principal. A JWKS fetch this needs blocks; in a server use ``authenticate_async``."""
        if not self.enabled:
            return ANONYMOUS
        return self.verify(bearer_token(authorization_header))

    async def authenticate_async(self, authorization_header: str | None) -> Principal:
        """``authenticate`` for the event loop: a JWKS fetch (first use, expiry, unknown ``kid``)
        runs in a worker thread."""
        if not self.enabled:
            return ANONYMOUS
        token = bearer_token(authorization_header)
        try:
            return self._verify_cached(token, _DEFER)
        except _KeysDue as due:
            assert self._jwks is not None
            await asyncio.to_thread(self._jwks.refresh, due.kid)
            return self._verify_cached(token, _SKIP)

    def verify(self, token: str) -> Principal:
        """The principal of a valid token; ``AuthenticationError`` with a reason code otherwise."""
        return self._verify_cached(token, _INLINE)

    def _verify_cached(self, token: str, fetch: str) -> Principal:
        cached = self._cache.get(token)
        if cached is not None:
            principal, expires_at = cached
            if self._clock() < expires_at:
                return principal
            self._cache.pop(token, None)
            raise _failure("token_expired", "token expired")
        principal, expires_at = self._verify(token, fetch)
        self._remember(token, principal, expires_at)
        return principal

    def _remember(self, token: str, principal: Principal, expires_at: float) -> None:
        if self._cache_size <= 0:
            return
        while len(self._cache) >= self._cache_size:
            self._cache.pop(next(iter(self._cache)), None)
        self._cache[token] = (principal, expires_at)

    def _verify(self, token: str, fetch: str = _INLINE) -> tuple[Principal, float]:
        """The principal and the time (with leeway) after which the token is expired."""
        if not token:
            raise _failure("token_missing", "missing bearer token")
        if len(token) > MAX_TOKEN_LENGTH:
            raise _failure("token_malformed", "token is too long")
        header = _unverified_header(token)
        alg = header.get("alg")
        if not isinstance(alg, str) or alg not in self.algorithms:
            raise _failure("algorithm_not_allowed", f"token algorithm {str(alg)[:20]!r} is not allowed")
        kid = header.get("kid")
        if self._jwks is not None and fetch != _SKIP and self._jwks.due(kid):
            if fetch == _DEFER:
                raise _KeysDue(kid)
            self._jwks.refresh(kid)
        candidates = self._candidates(alg, kid)
        if not candidates:
            if self._jwks is not None and not self._jwks.keys:
                raise self._jwks.unavailable()
            raise _failure("bad_signature", "no configured key matches the token's key id")
        for key in candidates:
            claims = self._decode(token, key, alg)
            if claims is not None:
                return self._principal(claims), float(claims["exp"]) + self._leeway
        raise _failure("bad_signature", "token signature is invalid")

    def authorize_write(self, principal: Principal) -> None:
        """Raises ``PermissionDenied`` unless ``principal`` may write."""
        if not principal.can_write:
            raise PermissionDenied(
                "writing needs the platform-team claim",
                details={
                    "reason": "write_not_allowed",
                    "subject": principal.subject,
                    "claim": self.settings.write_claim,
                    "values": list(self.settings.write_values),
                },
            )

    def _candidates(self, alg: str, kid: object) -> list[VerificationKey]:
        """Keys of the token's family: the one its ``kid`` names, else those without a kid."""
        keys = self._keys if self._jwks is None else [*self._keys, *self._jwks.keys]
        usable = [key for key in keys if key.accepts(alg)]
        if isinstance(kid, str):
            named = [key for key in usable if key.kid == kid]
            if named:
                return named
        return [key for key in usable if key.kid is None]

    def _decode(self, token: str, key: VerificationKey, alg: str) -> dict[str, Any] | None:
        """The claims if ``key`` verifies the signature, ``None`` if it does not; raises for bad claims."""
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key.material,
                algorithms=[alg],
                audience=self._audience,
                issuer=self.settings.issuer,
                leeway=self._leeway,
                options={"require": ["exp"], "enforce_minimum_key_length": True},
            )
        except jwt.InvalidSignatureError:
            return None
        except jwt.PyJWTError as exc:
            raise self._translate(exc) from None
        return claims

    @staticmethod
    def _translate(exc: jwt.PyJWTError) -> AuthenticationError:
        for kind, reason, message in _TRANSLATED:
            if isinstance(exc, kind):
                if isinstance(exc, jwt.MissingRequiredClaimError):
                    return _missing_claim(exc.claim)
                return _failure(reason, message)
        return _failure("token_malformed", "malformed token claims")

    def _principal(self, claims: dict[str, Any]) -> Principal:
        subject = _claim(claims, self.settings.subject_claim)
        if not isinstance(subject, str) or not subject:
            raise _missing_claim(self.settings.subject_claim)
        return Principal(subject=subject, claims=MappingProxyType(claims), can_write=self._can_write(claims))

    def _can_write(self, claims: Mapping[str, Any]) -> bool:
        value = _claim(claims, self.settings.write_claim)
        if isinstance(value, str):
            granted = {value, *value.split()}
        elif isinstance(value, list | tuple):
            granted = {item for item in value if isinstance(item, str)}
        else:
            return False
        return not granted.isdisjoint(self.settings.write_values)


class _KeysDue(Exception):
    """The JWK set should be fetched before this token is verified (``kid`` is the token's)."""

    def __init__(self, kid: object) -> None:
        super().__init__("jwks fetch due")
        self.kid = kid


def _unverified_header(token: str) -> dict[str, Any]:
    """The JOSE header, read only to choose ``alg`` and ``kid``; ``jwt.decode`` re-reads it strictly."""
    head, dot, _ = token.partition(".")
    try:
        if not dot:
            raise ValueError("not a JWS")
        header = json.loads(base64.urlsafe_b64decode(head + "=" * (-len(head) % 4)))
    except (ValueError, binascii.Error):
        raise _failure("token_malformed", "malformed token: not a signed JWT") from None
    if not isinstance(header, dict):
        raise _failure("token_malformed", "malformed token: not a signed JWT")
    return header


def _missing_claim(claim: str) -> AuthenticationError:
    """A required claim is absent; a missing ``aud``/``iss`` is reported as the wrong audience/issuer."""
    if claim == "aud":
        return _failure("bad_audience", "token has no audience; this service requires one")
    if claim == "iss":
        return _failure("bad_issuer", "token has no issuer; this service requires one")
    return _failure("claim_missing", f"token lacks the {claim!r} claim")


def _claim(claims: Mapping[str, Any], name: str) -> Any:
    """``claims[name]``, or a nested value for a dotted name (``realm_access.roles``)."""
    if name in claims:
        return claims[name]
    value: Any = claims
    for part in name.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return None
        value = value[part]
    return value
