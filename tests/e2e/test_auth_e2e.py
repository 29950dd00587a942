"""The auth matrix against a real server: no token, expired, wrong key, ``alg: none``, a
read-only service, a platform-team member; public routes and webhooks without a JWT."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from tests.support.server import ServerHandle, run_server

pytestmark = pytest.mark.e2e

SECRET = "e2e-hs256-secret-long-enough-0123456789"
QUEUE = b"""apiVersion: catalog.nestor.io/v1
kind: ResourceDefinition
metadata:
  name: e2e-queue
  version: "1.0.0"
  provider: aws
  category: queue
  resource_type: sqs-queue
  description: "Published over HTTP by the platform team"
  maintainers: [platform-team@company.com]
spec:
  supported_engines: [terraform]
  required_inputs:
    - name: queue_name
      type: string
      description: "Name"
  outputs:
    - name: queue_url
      type: string
      description: "URL"
  engine_configs:
    terraform:
      module_source: "terraform-aws-modules/sqs/aws"
      module_version: "~> 4.0"
"""


@pytest.fixture(scope="module")
def signer() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


@pytest.fixture(scope="module")
def secured(signer: ec.EllipticCurvePrivateKey, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerHandle]:
    folder = tmp_path_factory.mktemp("auth")
    public = folder / "issuer.pem"
    public.write_bytes(
        signer.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    config = {
        "storage": {"type": "memory"},
        "auth": {
            "enabled": True,
            "algorithms": ["ES256", "HS256"],
            "hs256_secret": SECRET,
            "public_keys": [str(public)],
            "audience": "nestor-catalog",
            "issuer": "https://idp.example.com",
            "leeway": "5s",
        },
    }
    with run_server(config, workdir=folder) as server:
        yield server


def claims(**extra: Any) -> dict[str, Any]:
    now = int(time.time())
    return {
        "sub": "svc",
        "aud": "nestor-catalog",
        "iss": "https://idp.example.com",
        "iat": now,
        "exp": now + 300,
        **extra,
    }


def call(server: ServerHandle, method: str, path: str, credential: str | None, **kwargs: Any) -> httpx.Response:
    headers = dict(kwargs.pop("headers", {}))
    if credential is not None:
        headers["Authorization"] = f"Bearer {credential}"
    with server.client() as client:
        return client.request(method, path, headers=headers, **kwargs)


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("missing", "token_missing"),
        ("expired", "token_expired"),
        ("wrong-key", "bad_signature"),
        ("alg-none", "algorithm_not_allowed"),
        ("wrong-audience", "bad_audience"),
    ],
)
def test_refused_tokens(secured: ServerHandle, signer: ec.EllipticCurvePrivateKey, name: str, reason: str) -> None:
    tokens: dict[str, str | None] = {
        "missing": None,
        "expired": jwt.encode(claims(exp=int(time.time()) - 60), signer, algorithm="ES256"),
        "wrong-key": jwt.encode(claims(), ec.generate_private_key(ec.SECP256R1()), algorithm="ES256"),
        "alg-none": jwt.encode(claims(), None, algorithm="none"),
        "wrong-audience": jwt.encode(claims(aud="another-service"), SECRET, algorithm="HS256"),
    }
    response = call(secured, "GET", "/api/v1/resources", tokens[name])
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith('Bearer realm="nestor-catalog"')
    assert response.json()["error"]["code"] == "UNAUTHORIZED"
    assert response.json()["error"]["details"]["reason"] == reason


def test_a_read_only_service_reads_but_cannot_write(secured: ServerHandle, signer: ec.EllipticCurvePrivateKey) -> None:
    reader = jwt.encode(claims(sub="svc-composer", groups=["composers"]), signer, algorithm="ES256")
    assert call(secured, "GET", "/api/v1/resources", reader).status_code == 200
    assert call(secured, "GET", "/api/v1/status", reader).status_code == 200
    refused = call(secured, "POST", "/api/v1/resources", reader, content=QUEUE, headers={"Content-Type": "text/yaml"})
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "FORBIDDEN"


def test_a_platform_team_member_writes(secured: ServerHandle, signer: ec.EllipticCurvePrivateKey) -> None:
    writer = jwt.encode(claims(sub="alice@company.com", groups=["platform-team"]), signer, algorithm="ES256")
    created = call(secured, "POST", "/api/v1/resources", writer, content=QUEUE, headers={"Content-Type": "text/yaml"})
    assert created.status_code == 201
    deprecated = call(
        secured, "PUT", "/api/v1/resources/e2e-queue/1.0.0/deprecation", writer, json={"message": "use 2.x"}
    )
    assert deprecated.status_code == 200
    audit = call(secured, "GET", "/api/v1/audit", writer, params={"resource": "e2e-queue"}).json()
    assert {item["user"] for item in audit["items"]} == {"alice@company.com"}


def test_public_routes_need_no_token(secured: ServerHandle) -> None:
    for path in ("/health", "/ready", "/metrics", "/api/v1/openapi.json", "/docs"):
        assert call(secured, "GET", path, None).status_code == 200, path
    webhook = call(secured, "POST", "/api/v1/webhooks/github/none", None, content=b"{}")
    # The webhook's own answer (no signature header), not the bearer challenge.
    assert webhook.status_code == 401
    assert webhook.headers["www-authenticate"].startswith("HMAC-SHA256")
    assert "catalog_auth_failures_total" in call(secured, "GET", "/metrics", None).text


def test_auth_config_errors_stop_the_start(tmp_path: Path) -> None:
    from tests.support.server import ServerStartError

    config = {"storage": {"type": "memory"}, "auth": {"enabled": True}}
    with pytest.raises(ServerStartError, match="no key is configured"), run_server(config, workdir=tmp_path):
        pass
