"""Verification keys: the HMAC secret, PEM public keys or certificates, and JWKS files.

Keys are loaded once, when the verifier is built; anything unusable (a private key where a
public one belongs, a symmetric key in a JWKS file, an RSA key under 2048 bits, a duplicate
``kid``) is a ``ConfigError`` naming the configuration key, so a bad key stops the start
instead of rejecting every request later.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Literal

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa

from nestor_catalog_core import ConfigError

__all__ = ["ALGORITHM_FAMILIES", "Family", "VerificationKey", "jwk_key", "load_jwks", "load_pem_keys"]

Family = Literal["HMAC", "RSA", "EC", "OKP"]
PublicKey = rsa.RSAPublicKey | ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey | ed448.Ed448PublicKey

#: Which kind of key verifies each JWS algorithm.
ALGORITHM_FAMILIES: Final[Mapping[str, Family]] = {
    "HS256": "HMAC",
    "HS384": "HMAC",
    "HS512": "HMAC",
    "RS256": "RSA",
    "RS384": "RSA",
    "RS512": "RSA",
    "PS256": "RSA",
    "PS384": "RSA",
    "PS512": "RSA",
    "ES256": "EC",
    "ES384": "EC",
    "ES512": "EC",
    "EdDSA": "OKP",
}
_EC_CURVES: Final[Mapping[str, str]] = {"ES256": "secp256r1", "ES384": "secp384r1", "ES512": "secp521r1"}
_MIN_RSA_BITS: Final = 2048
_PEM_BLOCK = re.compile(rb"-----BEGIN ([A-Z0-9 ]+)-----.+?-----END \1-----", re.DOTALL)


@dataclass(frozen=True)
class VerificationKey:
    """One key a token may be verified with; ``kid``/``alg`` restrict which tokens it serves."""

    family: Family
    material: bytes | PublicKey = field(repr=False)
    source: str
    kid: str | None = None
    alg: str | None = None

    def accepts(self, alg: str) -> bool:
        """Whether this key can verify a token signed with ``alg`` (family, curve and JWK ``alg``)."""
        if ALGORITHM_FAMILIES.get(alg) != self.family or (self.alg is not None and self.alg != alg):
            return False
        if isinstance(self.material, ec.EllipticCurvePublicKey):
            return self.material.curve.name == _EC_CURVES.get(alg)
        return True


def _family_of(key: object, source: str) -> Family:
    if isinstance(key, rsa.RSAPublicKey):
        if key.key_size < _MIN_RSA_BITS:
            raise ConfigError(f"{source}: RSA key of {key.key_size} bits; at least {_MIN_RSA_BITS} are required")
        return "RSA"
    if isinstance(key, ec.EllipticCurvePublicKey):
        if key.curve.name not in _EC_CURVES.values():
            raise ConfigError(f"{source}: unsupported elliptic curve {key.curve.name} (use P-256, P-384 or P-521)")
        return "EC"
    if isinstance(key, ed25519.Ed25519PublicKey | ed448.Ed448PublicKey):
        return "OKP"
    raise ConfigError(f"{source}: unsupported key type {type(key).__name__} (use RSA, EC or Ed25519 keys)")


def load_pem_keys(path: Path, source: str) -> list[VerificationKey]:
    """Every public key or certificate in a PEM file (a bundle may hold several)."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{source}: cannot read {path}: {exc.strerror}") from None
    blocks = list(_PEM_BLOCK.finditer(data))
    if not blocks:
        raise ConfigError(f"{source}: {path} holds no PEM public key or certificate")
    return [_pem_key(block.group(0), block.group(1).decode(), f"{source} ({path})") for block in blocks]


def _pem_key(block: bytes, label: str, source: str) -> VerificationKey:
    if "PRIVATE KEY" in label:
        raise ConfigError(f"{source}: holds a private key; configure its public key instead (openssl pkey -pubout)")
    try:
        if label == "CERTIFICATE":
            key: object = x509.load_pem_x509_certificate(block).public_key()
        elif label in {"PUBLIC KEY", "RSA PUBLIC KEY"}:
            key = serialization.load_pem_public_key(block)
        else:
            raise ConfigError(f"{source}: unexpected PEM block {label!r} (expected PUBLIC KEY or CERTIFICATE)")
    except ValueError as exc:
        raise ConfigError(f"{source}: invalid {label}: {exc}") from None
    family = _family_of(key, source)
    material: PublicKey = key  # type: ignore[assignment]
    return VerificationKey(family=family, material=material, source=source)


def load_jwks(path: Path, source: str) -> list[VerificationKey]:
    """The signature keys of a JWKS file (``{"keys": [...]}``); encryption keys are skipped."""
    try:
        document = json.loads(path.read_bytes())
    except OSError as exc:
        raise ConfigError(f"{source}: cannot read {path}: {exc.strerror}") from None
    except ValueError as exc:
        raise ConfigError(f"{source}: {path} is not valid JSON: {exc}") from None
    entries = document.get("keys") if isinstance(document, dict) else None
    if not isinstance(entries, list):
        raise ConfigError(f'{source}: {path} is not a JWK set (expected {{"keys": [...]}})')
    keys: list[VerificationKey] = []
    kids: set[str] = set()
    for index, entry in enumerate(entries):
        where = f"{source} ({path}) keys[{index}]"
        key = jwk_key(entry, where)
        if key is None:
            continue
        if key.kid is not None:
            if key.kid in kids:
                raise ConfigError(f"{where}: duplicate kid {key.kid!r}")
            kids.add(key.kid)
        keys.append(key)
    return keys


def jwk_key(entry: Any, where: str) -> VerificationKey | None:
    """One JWK as a verification key; None for an encryption key; ``ConfigError`` when unusable."""
    if not isinstance(entry, dict):
        raise ConfigError(f"{where}: a JWK must be a JSON object")
    if entry.get("use") == "enc":
        return None
    if entry.get("kty") == "oct":
        raise ConfigError(f"{where}: symmetric (oct) keys do not belong in a JWKS file; use auth.hs256_secret")
    if any(name in entry for name in ("d", "p", "q")):
        raise ConfigError(f"{where}: holds private key material; publish only the public key")
    kid = entry.get("kid")
    alg = entry.get("alg")
    if (kid is not None and not isinstance(kid, str)) or (alg is not None and not isinstance(alg, str)):
        raise ConfigError(f"{where}: kid and alg must be strings")
    if alg is not None and alg not in ALGORITHM_FAMILIES:
        raise ConfigError(f"{where}: unsupported alg {alg!r}")
    try:
        parsed = jwt.PyJWK(entry)
    except jwt.PyJWTError as exc:
        raise ConfigError(f"{where}: invalid JWK: {exc}") from None
    family = _family_of(parsed.key, where)
    return VerificationKey(family=family, material=parsed.key, source=where, kid=kid, alg=alg)
