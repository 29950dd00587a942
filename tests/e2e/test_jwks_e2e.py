"""A real server process verifying tokens with keys from an issuer's JWKS URL (served over
loopback by the test): accepted tokens, refused ones, a key rotation picked up, and 503 with
``Retry-After`` while the issuer has never answered."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.server.auth.test_jwks import Issuer
from tests.support.server import run_server


@pytest.fixture
def issuer() -> Iterator[Issuer]:
    served = Issuer()
    served.thread.start()
    yield served
    served.server.shutdown()
    served.server.server_close()


def config(issuer: Issuer) -> dict[str, object]:
    return {
        "storage": {"type": "memory"},
        "logging": {"format": "json"},
        "auth": {
            "enabled": True,
            "algorithms": ["RS256", "ES256"],
            "jwks_url": issuer.url,
            "issuer": "https://issuer.test/",
            "jwks_min_refresh_interval": "1s",
        },
    }


def test_tokens_are_checked_against_the_issuers_jwks(issuer: Issuer, tmp_path: Path) -> None:
    issuer.add_rsa("k1")
    with run_server(config(issuer), workdir=tmp_path) as server, server.client() as client:
        assert issuer.requests == 1, "fetched at start"
        ok = client.get("/api/v1/resources", headers={"Authorization": f"Bearer {issuer.token('k1')}"})
        assert ok.status_code == 200
        assert client.get("/api/v1/resources").status_code == 401
        issuer.add_ec("k2")
        time.sleep(1.1)
        rotated = client.get(
            "/api/v1/resources", headers={"Authorization": f"Bearer {issuer.token('k2', algorithm='ES256')}"}
        )
        assert rotated.status_code == 200, rotated.text
        assert issuer.requests == 2


def test_an_unreachable_issuer_answers_503_not_401(issuer: Issuer, tmp_path: Path) -> None:
    issuer.add_rsa("k1")
    issuer.failing = True
    with run_server(config(issuer), workdir=tmp_path) as server, server.client() as client:
        response = client.get("/api/v1/resources", headers={"Authorization": f"Bearer {issuer.token('k1')}"})
        assert response.status_code == 503
        assert response.headers["retry-after"] == "1"
        assert response.json()["error"]["details"]["reason"] == "jwks_unavailable"
        issuer.failing = False
        time.sleep(1.1)
        assert (
            client.get("/api/v1/resources", headers={"Authorization": f"Bearer {issuer.token('k1')}"}).status_code
            == 200
        )
