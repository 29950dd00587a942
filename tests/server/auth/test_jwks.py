"""``auth.jwks_url``: the issuer's keys fetched with PyJWT's ``PyJWKClient`` from a JWKS this test
serves over loopback (a real HTTP server counting its requests): cached, fetched again when a
token names an unknown ``kid`` (key rotation) at most once per interval, kept when the issuer
fails, never trusted when none was ever fetched, and fetched off the event loop."""

from __future__ import annotations

import asyncio
import json
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from nestor_catalog_core import AuthenticationError, ConfigError, ServiceUnavailable
from nestor_catalog_server.auth import TokenVerifier
from nestor_catalog_server.config import AuthConfig, settings_from_mapping


class Issuer:
    """A JWKS endpoint on loopback whose keys, availability and latency the test controls."""

    def __init__(self) -> None:
        self.keys: dict[str, Any] = {}
        self.requests = 0
        self.failing = False
        self.delay = 0.0
        self.body: bytes | None = None
        issuer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                issuer.requests += 1
                time.sleep(issuer.delay)
                if issuer.failing:
                    self.send_response(503)
                    self.end_headers()
                    return
                body = issuer.body or json.dumps({"keys": [jwk for _key, jwk in issuer.keys.values()]}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/.well-known/jwks.json"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def add_rsa(self, kid: str) -> rsa.RSAPrivateKey:
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        jwk = {**RSAAlgorithm.to_jwk(key.public_key(), as_dict=True), "kid": kid, "use": "sig", "alg": "RS256"}
        self.keys[kid] = (key, jwk)
        return key

    def add_ec(self, kid: str) -> ec.EllipticCurvePrivateKey:
        key = ec.generate_private_key(ec.SECP256R1())
        jwk = {**ECAlgorithm.to_jwk(key.public_key(), as_dict=True), "kid": kid, "alg": "ES256"}
        self.keys[kid] = (key, jwk)
        return key

    def token(self, kid: str, *, algorithm: str = "RS256", **claims: Any) -> str:
        key = self.keys[kid][0]
        now = int(time.time())
        payload = {"sub": "svc-composer", "iat": now, "exp": now + 600, "iss": "https://issuer.test/", **claims}
        return jwt.encode(payload, key, algorithm=algorithm, headers={"kid": kid})


@pytest.fixture
def issuer() -> Iterator[Issuer]:
    served = Issuer()
    served.thread.start()
    yield served
    served.server.shutdown()
    served.server.server_close()


def auth(issuer: Issuer, **fields: Any) -> AuthConfig:
    data = {
        "enabled": True,
        "algorithms": ["RS256", "ES256"],
        "jwks_url": issuer.url,
        "issuer": "https://issuer.test/",
        "jwks_min_refresh_interval": "200ms",
        **fields,
    }
    return settings_from_mapping({"auth": data}, environ={}).auth


def bearer(token: str) -> str:
    return f"Bearer {token}"


async def started(settings: AuthConfig) -> TokenVerifier:
    verifier = TokenVerifier(settings)
    await verifier.start()
    return verifier


async def test_keys_are_fetched_at_start_and_cached(issuer: Issuer) -> None:
    issuer.add_rsa("k1")
    verifier = await started(auth(issuer))
    assert issuer.requests == 1
    for _ in range(3):
        principal = await verifier.authenticate_async(bearer(issuer.token("k1", sub=f"svc-{uuid.uuid4().hex}")))
        assert principal.subject.startswith("svc-")
    assert issuer.requests == 1, "served from the cache"


async def test_an_unknown_kid_refetches_once_so_a_rotated_key_works(issuer: Issuer) -> None:
    issuer.add_rsa("k1")
    verifier = await started(auth(issuer))
    issuer.add_ec("k2")  # the issuer rotates: a new key, and tokens signed with it
    await asyncio.sleep(0.25)  # past jwks_min_refresh_interval since the start's fetch
    principal = await verifier.authenticate_async(bearer(issuer.token("k2", algorithm="ES256")))
    assert principal.subject == "svc-composer"
    assert issuer.requests == 2
    assert verifier.jwks is not None
    assert {key.kid for key in verifier.jwks.keys} == {"k1", "k2"}


async def test_made_up_kids_cannot_make_it_hammer_the_issuer(issuer: Issuer) -> None:
    issuer.add_rsa("k1")
    verifier = await started(auth(issuer, jwks_min_refresh_interval="1h"))
    forged = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    for _ in range(20):
        token = jwt.encode(
            {"sub": "x", "exp": int(time.time()) + 60}, forged, algorithm="RS256", headers={"kid": uuid.uuid4().hex}
        )
        with pytest.raises(AuthenticationError) as failure:
            await verifier.authenticate_async(bearer(token))
        assert failure.value.details["reason"] == "bad_signature"
    assert issuer.requests == 1, "one fetch at start, none for the forged kids"


async def test_the_set_is_fetched_again_when_its_ttl_ends(issuer: Issuer) -> None:
    issuer.add_rsa("k1")
    verifier = await started(auth(issuer, jwks_cache_ttl="300ms", jwks_min_refresh_interval="100ms"))
    await verifier.authenticate_async(bearer(issuer.token("k1")))
    assert issuer.requests == 1
    await asyncio.sleep(0.4)
    await verifier.authenticate_async(bearer(issuer.token("k1", sub="another")))
    assert issuer.requests == 2


async def test_a_failing_issuer_keeps_the_last_keys(issuer: Issuer) -> None:
    issuer.add_rsa("k1")
    verifier = await started(auth(issuer, jwks_cache_ttl="100ms", jwks_min_refresh_interval="100ms"))
    issuer.failing = True
    await asyncio.sleep(0.15)
    principal = await verifier.authenticate_async(bearer(issuer.token("k1")))
    assert principal.subject == "svc-composer"
    assert issuer.requests == 2
    assert verifier.jwks is not None
    assert verifier.jwks.last_error is not None


async def test_without_any_key_a_token_is_refused_as_unavailable_until_the_issuer_answers(issuer: Issuer) -> None:
    issuer.add_rsa("k1")
    issuer.failing = True
    verifier = await started(auth(issuer, jwks_min_refresh_interval="100ms"))  # the start does not fail
    with pytest.raises(ServiceUnavailable) as failure:
        await verifier.authenticate_async(bearer(issuer.token("k1")))
    assert failure.value.details["reason"] == "jwks_unavailable"
    issuer.failing = False
    await asyncio.sleep(0.15)
    assert (await verifier.authenticate_async(bearer(issuer.token("k1")))).subject == "svc-composer"


async def test_unusable_entries_are_skipped_not_fatal(issuer: Issuer) -> None:
    issuer.add_rsa("k1")
    good = issuer.keys["k1"][1]
    issuer.body = json.dumps({"keys": [{"kty": "oct", "k": "c2VjcmV0", "kid": "sym"}, good]}).encode()
    verifier = await started(auth(issuer))
    assert verifier.jwks is not None
    assert [key.kid for key in verifier.jwks.keys] == ["k1"]
    assert (await verifier.authenticate_async(bearer(issuer.token("k1")))).subject == "svc-composer"


async def test_the_fetch_runs_off_the_event_loop(issuer: Issuer) -> None:
    issuer.add_rsa("k1")
    verifier = TokenVerifier(auth(issuer))  # not started: the first token fetches
    issuer.delay = 0.5
    ticks = 0

    async def tick() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0.01)

    ticker = asyncio.create_task(tick())
    try:
        await verifier.authenticate_async(bearer(issuer.token("k1")))
    finally:
        ticker.cancel()
    assert ticks >= 10, "the loop kept running while the keys were fetched"


def test_the_sync_path_fetches_inline(issuer: Issuer) -> None:
    issuer.add_rsa("k1")
    verifier = TokenVerifier(auth(issuer))
    assert verifier.verify(issuer.token("k1")).subject == "svc-composer"
    assert issuer.requests == 1


def test_a_jwks_url_is_an_asymmetric_key_source(issuer: Issuer, tmp_path: Path) -> None:
    settings = auth(issuer, algorithms=["RS256"])
    assert settings.has_asymmetric_keys
    assert settings.effective_algorithms == ("RS256",)
    with pytest.raises(ConfigError, match="jwks_url"):
        settings_from_mapping({"auth": {"enabled": True, "jwks_url": "ftp://issuer/keys"}}, environ={})
