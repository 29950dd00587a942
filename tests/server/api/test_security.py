"""The auth matrix in process: no token, expired, wrong key, ``alg: none``, a read-only caller,
a platform-team caller, and the routes that stay public."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from nestor_catalog_server.config import Settings
from nestor_catalog_server.observability import Metrics
from tests.server.api.builders import as_yaml, definition
from tests.server.api.conftest import HS_SECRET, Client, bearer, make_settings, token

YAML = {"Content-Type": "application/yaml"}
PLATFORM = {"groups": ["platform-team"]}


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture
def auth_settings(tmp_path: Path, rsa_key: rsa.RSAPrivateKey) -> Settings:
    public = tmp_path / "signer.pem"
    public.write_bytes(
        rsa_key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    return make_settings(
        tmp_path, auth={"enabled": True, "hs256_secret": HS_SECRET, "public_keys": [str(public)], "leeway": "5s"}
    )


@pytest.fixture
async def secured(auth_settings: Settings, app_client: Callable[[Settings], Client]) -> AsyncIterator[Client]:
    async with app_client(auth_settings) as client:
        yield client


async def test_no_token_is_401_with_a_bearer_challenge(secured: Client, metrics: Metrics) -> None:
    response = await secured.get("/api/v1/resources")
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == 'Bearer realm="nestor-catalog"'
    error = response.json()["error"]
    assert error["code"] == "UNAUTHORIZED"
    assert error["details"]["reason"] == "token_missing"
    assert metrics.sample("catalog_auth_failures_total", reason="token_missing") == 1


@pytest.mark.parametrize(
    ("build", "reason"),
    [
        (lambda key: token({"exp": int(time.time()) - 60}), "token_expired"),
        (lambda key: token(key="another-secret-that-is-long-enough-0123456789"), "bad_signature"),
        (
            lambda key: jwt.encode({"sub": "x", "exp": int(time.time()) + 60}, None, algorithm="none"),
            "algorithm_not_allowed",
        ),
        (lambda key: "not-a-jwt", "token_malformed"),
        (
            lambda key: token(key=rsa.generate_private_key(public_exponent=65537, key_size=2048), algorithm="RS256"),
            "bad_signature",
        ),
        (lambda key: token({"aud": "x"}, key=key, algorithm="RS512"), "algorithm_not_allowed"),
    ],
    ids=["expired", "wrong-hmac-key", "alg-none", "garbage", "unknown-rsa-key", "alg-not-configured"],
)
async def test_bad_tokens_are_401(
    secured: Client, rsa_key: rsa.RSAPrivateKey, build: Callable[[rsa.RSAPrivateKey], str], reason: str
) -> None:
    response = await secured.get("/api/v1/resources", headers=bearer(build(rsa_key)))
    assert response.status_code == 401
    assert response.json()["error"]["details"]["reason"] == reason
    assert 'error="invalid' in response.headers["www-authenticate"]


async def test_any_valid_token_reads(secured: Client, rsa_key: rsa.RSAPrivateKey) -> None:
    for credential in (token(), token(key=rsa_key, algorithm="RS256")):
        for path in ("/api/v1/resources", "/api/v1/resources/aws-vpc", "/api/v1/search?q=vpc", "/api/v1/status"):
            response = await secured.get(path, headers=bearer(credential))
            assert response.status_code == 200, path
    dry_run = await secured.post("/api/v1/validate", content=as_yaml(definition()), headers={**YAML, **bearer(token())})
    assert dry_run.status_code == 200


async def test_a_reader_cannot_write(secured: Client, metrics: Metrics) -> None:
    response = await secured.post(
        "/api/v1/resources", content=as_yaml(definition()), headers={**YAML, **bearer(token())}
    )
    assert response.status_code == 403
    error = response.json()["error"]
    assert error["code"] == "FORBIDDEN"
    assert error["details"]["reason"] == "write_not_allowed"
    assert error["details"]["subject"] == "svc-orchestrator"
    assert metrics.sample("catalog_auth_failures_total", reason="write_not_allowed") == 1
    trigger = await secured.post("/api/v1/sync/examples", headers=bearer(token()))
    assert trigger.status_code == 403


async def test_the_platform_team_writes_as_itself(secured: Client) -> None:
    credential = token({"sub": "alice@company.com", **PLATFORM})
    response = await secured.post(
        "/api/v1/resources", content=as_yaml(definition()), headers={**YAML, **bearer(credential)}
    )
    assert response.status_code == 201
    assert response.json()["results"][0]["resource"]["status"]["source"] == {"kind": "api", "user": "alice@company.com"}
    withdraw = await secured.delete("/api/v1/resources/team-queue/1.0.0", headers=bearer(credential))
    assert withdraw.status_code == 200
    audit = await secured.get("/api/v1/audit", params={"resource": "team-queue"}, headers=bearer(credential))
    assert [item["user"] for item in audit.json()["items"]] == ["alice@company.com", "alice@company.com"]


@pytest.mark.parametrize(
    "path",
    [
        "/health",
        "/ready",
        "/metrics",
        "/docs",
        "/api/v1/openapi.json",
        "/api/v1/schema",
        "/catalog.nestor.io/v1/resource-definition.schema.json",
    ],
)
async def test_operations_and_docs_stay_public(secured: Client, path: str) -> None:
    response = await secured.get(path)
    assert response.status_code == 200, response.text


async def test_webhooks_skip_bearer_auth(secured: Client) -> None:
    response = await secured.post("/api/v1/webhooks/github/unknown-repo", content=b"{}")
    # Not the bearer challenge: the webhook's own (an unknown repository is a bad signature).
    assert response.status_code == 401
    assert response.json()["error"]["details"]["reason"] == "signature_missing"
    assert response.headers["www-authenticate"].startswith("HMAC-SHA256")
