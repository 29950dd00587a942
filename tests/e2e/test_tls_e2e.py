"""HTTPS and client certificates (mTLS) served by granian itself, with a CA, a server
certificate and client certificates generated for the test."""

from __future__ import annotations

import datetime
import ipaddress
import re
import ssl
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from tests.support.server import ServerHandle, run_server

pytestmark = pytest.mark.e2e


@dataclass(frozen=True)
class Authority:
    cert: x509.Certificate
    key: ec.EllipticCurvePrivateKey
    path: Path


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _write_key(key: ec.EllipticCurvePrivateKey, path: Path) -> Path:
    path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return path


def make_authority(folder: Path, name: str) -> Authority:
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(name))
        .issuer_name(_name(name))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True, key_cert_sign=True, crl_sign=True, content_commitment=False,
                key_encipherment=False, data_encipherment=False, key_agreement=False, encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    path = folder / f"{name}.pem"
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return Authority(cert, key, path)


def issue(authority: Authority, folder: Path, name: str, *, server: bool) -> tuple[Path, Path]:
    """A certificate for ``name`` signed by ``authority``: (certificate file, key file)."""
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    usage = ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(name))
        .issuer_name(authority.cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(authority.key.public_key()), critical=False)
    )
    if server:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
    cert = builder.sign(authority.key, hashes.SHA256())
    cert_path = folder / f"{name}.crt"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return cert_path, _write_key(key, folder / f"{name}.key")


@dataclass(frozen=True)
class Pki:
    ca: Authority
    server: tuple[Path, Path]
    client: tuple[Path, Path]
    stranger: tuple[Path, Path]


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    folder = tmp_path_factory.mktemp("pki")
    ca = make_authority(folder, "catalog-ca")
    other = make_authority(folder, "other-ca")
    return Pki(
        ca=ca,
        server=issue(ca, folder, "catalog-server", server=True),
        client=issue(ca, folder, "orchestrator", server=False),
        stranger=issue(other, folder, "stranger", server=False),
    )


def tls_config(pki: Pki, **tls: object) -> dict[str, object]:
    return {
        "storage": {"type": "memory"},
        "service": {"tls": {"certfile": str(pki.server[0]), "keyfile": str(pki.server[1]), **tls}},
    }


@pytest.fixture(scope="module")
def https_server(pki: Pki) -> Iterator[ServerHandle]:
    with run_server(tls_config(pki), verify=str(pki.ca.path)) as server:
        yield server


@pytest.fixture(scope="module")
def mtls_server(pki: Pki) -> Iterator[ServerHandle]:
    config = tls_config(pki, ca_certs=str(pki.ca.path), client_cert_required=True)
    with run_server(config, verify=str(pki.ca.path), cert=(str(pki.client[0]), str(pki.client[1]))) as server:
        yield server


def test_https_with_the_servers_certificate(https_server: ServerHandle, pki: Pki) -> None:
    assert https_server.url.startswith("https://127.0.0.1:")
    with https_server.client() as client:
        response = client.get("/api/v1/status")
        assert response.status_code == 200
        assert response.json()["service"] == "catalog"
    with httpx.Client(verify=True) as strict, pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
        strict.get(f"{https_server.url}/health")


def test_plain_http_on_the_tls_port_gets_no_answer(https_server: ServerHandle) -> None:
    plain = https_server.url.replace("https://", "http://")
    with httpx.Client() as client:
        try:
            response = client.get(f"{plain}/health")
        except httpx.TransportError:
            return
        assert response.status_code != 200


def test_mtls_accepts_a_client_certificate_from_the_ca(mtls_server: ServerHandle) -> None:
    with mtls_server.client() as client:
        assert client.get("/api/v1/resources").status_code == 200


def test_mtls_refuses_a_client_without_a_certificate(mtls_server: ServerHandle, pki: Pki) -> None:
    with (
        httpx.Client(verify=ssl.create_default_context(cafile=str(pki.ca.path))) as anonymous,
        pytest.raises(httpx.TransportError),
    ):
        anonymous.get(f"{mtls_server.url}/health")


def test_mtls_refuses_a_certificate_from_another_ca(mtls_server: ServerHandle, pki: Pki) -> None:
    context = ssl.create_default_context(cafile=str(pki.ca.path))
    context.load_cert_chain(str(pki.stranger[0]), str(pki.stranger[1]))
    with httpx.Client(verify=context) as stranger, pytest.raises(httpx.TransportError):
        stranger.get(f"{mtls_server.url}/health")


# --------------------------------------------------------------------------------------------- sidecar -> upstream


def sidecar_config(upstream: ServerHandle, tmp_path: Path, **tls: object) -> dict[str, object]:
    return {
        "storage": {"type": "memory"},
        "logging": {"format": "json"},
        "service": {"upstream": upstream.url, "data_dir": str(tmp_path / "sidecar"), "upstream_tls": tls},
    }


def _publish(upstream: ServerHandle, name: str) -> None:
    body = (
        "apiVersion: catalog.nestor.io/v1\nkind: ResourceDefinition\n"
        f"metadata:\n  name: {name}\n  version: 1.0.0\n  provider: aws\n  category: messaging\n"
        "  resource_type: queue\n  description: A queue\n  maintainers: [platform@example.com]\n"
        "spec:\n  supported_engines: [terraform]\n  required_inputs: []\n  optional_inputs: []\n  outputs: []\n"
        "  engine_configs:\n    terraform: {module_source: x/queue/aws, module_version: '~> 1.0'}\n"
    )
    with upstream.client() as client:
        created = client.post("/api/v1/resources", content=body, headers={"Content-Type": "text/yaml"})
        assert created.status_code in {200, 201}, created.text


def test_a_sidecar_presents_its_client_certificate_to_an_mtls_upstream(
    mtls_server: ServerHandle, pki: Pki, tmp_path: Path
) -> None:
    _publish(mtls_server, "mtls-queue")
    tls = {"ca_certs": str(pki.ca.path), "certfile": str(pki.client[0]), "keyfile": str(pki.client[1])}
    with run_server(sidecar_config(mtls_server, tmp_path, **tls), workdir=tmp_path) as sidecar:
        ready = sidecar.wait_ready()
        assert ready["status"] == "ready"
        with sidecar.client() as client:
            assert client.get("/api/v1/resources/mtls-queue/1.0.0").status_code == 200
            upstream = client.get("/api/v1/status").json()["upstream"]
        assert upstream["connected"] is True
        assert upstream["url"] == mtls_server.url


@pytest.mark.parametrize("who", ["no certificate", "another CA's certificate"])
def test_an_mtls_upstream_refuses_a_sidecar_without_a_valid_certificate(
    mtls_server: ServerHandle, pki: Pki, tmp_path: Path, who: str
) -> None:
    tls: dict[str, object] = {"ca_certs": str(pki.ca.path)}
    if who != "no certificate":
        tls |= {"certfile": str(pki.stranger[0]), "keyfile": str(pki.stranger[1])}
    with run_server(sidecar_config(mtls_server, tmp_path, **tls), workdir=tmp_path) as sidecar:
        with sidecar.client() as client:
            deadline = time.monotonic() + 10
            upstream: dict[str, object] = {}
            while not upstream.get("last_error") and time.monotonic() < deadline:
                upstream = client.get("/api/v1/status").json()["upstream"] or {}
                time.sleep(0.1)
            assert client.get("/ready").status_code == 503, "no copy: not ready"
        assert upstream["connected"] is False
        assert upstream["last_error"]


def test_the_sidecar_verifies_the_upstreams_certificate(https_server: ServerHandle, tmp_path: Path) -> None:
    """Without the upstream's CA (system CAs only), the sidecar refuses to talk to it."""
    with run_server(sidecar_config(https_server, tmp_path), workdir=tmp_path) as sidecar, sidecar.client() as client:
        deadline = time.monotonic() + 10
        upstream: dict[str, object] = {}
        while not upstream.get("last_error") and time.monotonic() < deadline:
            upstream = client.get("/api/v1/status").json()["upstream"] or {}
            time.sleep(0.1)
        assert "CERTIFICATE_VERIFY_FAILED" in str(upstream["last_error"])


def test_upstream_tls_settings_are_checked_at_start(pki: Pki, tmp_path: Path) -> None:
    from tests.support.server import ServerStartError

    mismatched = {"certfile": str(pki.client[0]), "keyfile": str(pki.stranger[1])}
    config = {
        "storage": {"type": "memory"},
        "service": {"upstream": "https://127.0.0.1:1", "upstream_tls": mismatched},
    }
    expected = re.escape("service.upstream_tls.certfile: cannot load the client certificate")
    with pytest.raises(ServerStartError, match=expected), run_server(config, workdir=tmp_path / "a"):
        pass
    plain = {
        "storage": {"type": "memory"},
        "service": {"upstream": "http://127.0.0.1:1", "upstream_tls": {"ca_certs": str(pki.ca.path)}},
    }
    expected = re.escape("service.upstream_tls: applies to an https:// upstream")
    with pytest.raises(ServerStartError, match=expected), run_server(plain, workdir=tmp_path / "b"):
        pass
