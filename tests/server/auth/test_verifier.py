from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import NameOID

import nestor_catalog_server.auth as auth
from nestor_catalog_core import AuthenticationError, ConfigError, PermissionDenied
from nestor_catalog_server.auth import ANONYMOUS, Principal, TokenVerifier, bearer_token, www_authenticate
from nestor_catalog_server.config import AuthConfig

SECRET = "a-very-long-hmac-secret-of-more-than-32-bytes"
AUDIENCE = "nestor-catalog"
ISSUER = "https://issuer.example.com/"


@dataclass(frozen=True)
class Keys:
    rsa: rsa.RSAPrivateKey
    rsa_other: rsa.RSAPrivateKey
    ec: ec.EllipticCurvePrivateKey
    ed: ed25519.Ed25519PrivateKey
    folder: Path

    def pem(self, name: str, key: Any) -> Path:
        path = self.folder / f"{name}.pem"
        path.write_bytes(
            key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        )
        return path

    def jwks(self, name: str, entries: list[tuple[str, Any, str | None]]) -> Path:
        keys = []
        for kid, key, alg in entries:
            jwk = json.loads(jwt.algorithms.get_default_algorithms()[alg or "RS256"].to_jwk(key.public_key()))
            jwk["kid"] = kid
            if alg:
                jwk["alg"] = alg
            keys.append(jwk)
        path = self.folder / f"{name}.json"
        path.write_text(json.dumps({"keys": keys}))
        return path


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> Keys:
    return Keys(
        rsa=rsa.generate_private_key(public_exponent=65537, key_size=2048),
        rsa_other=rsa.generate_private_key(public_exponent=65537, key_size=2048),
        ec=ec.generate_private_key(ec.SECP256R1()),
        ed=ed25519.Ed25519PrivateKey.generate(),
        folder=tmp_path_factory.mktemp("keys"),
    )


def _verifier(**overrides: Any) -> TokenVerifier:
    data: dict[str, Any] = {"enabled": True, "audience": AUDIENCE, "issuer": ISSUER, **overrides}
    return TokenVerifier(AuthConfig.model_validate(data))


def _claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    claims: dict[str, Any] = {
        "sub": "orchestrator",
        "aud": AUDIENCE,
        "iss": ISSUER,
        "iat": now,
        "exp": now + 300,
        "groups": ["readers"],
    }
    claims.update(overrides)
    return {key: value for key, value in claims.items() if value is not None}


def _reason(verifier: TokenVerifier, token: str, reason: str) -> AuthenticationError:
    with pytest.raises(AuthenticationError) as info:
        verifier.verify(token)
    assert info.value.details == {"reason": reason}, info.value.message
    assert token not in info.value.message
    return info.value


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _hand_made(header: dict[str, Any], claims: dict[str, Any], sign: bytes | None = None) -> str:
    signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"
    signature = hmac.new(sign, signing_input.encode(), hashlib.sha256).digest() if sign is not None else b""
    return f"{signing_input}.{_b64(signature)}"


# --------------------------------------------------------------------------------------------- accepted


def test_public_names() -> None:
    assert sorted(auth.__all__) == sorted(
        ["ANONYMOUS", "REASONS", "Principal", "TokenVerifier", "bearer_token", "www_authenticate"]
    )


def test_hs256_token_is_accepted() -> None:
    verifier = _verifier(hs256_secret=SECRET)
    principal = verifier.verify(jwt.encode(_claims(), SECRET, algorithm="HS256"))
    assert principal == Principal(subject="orchestrator", can_write=False)
    assert principal.claims["groups"] == ["readers"]
    assert verifier.algorithms == ("HS256",)


def test_rs256_token_is_accepted(keys: Keys) -> None:
    verifier = _verifier(public_keys=[str(keys.pem("rsa", keys.rsa))])
    assert verifier.verify(jwt.encode(_claims(), keys.rsa, algorithm="RS256")).subject == "orchestrator"
    assert verifier.algorithms == ("RS256",)


def test_es256_token_is_accepted(keys: Keys) -> None:
    verifier = _verifier(public_keys=[str(keys.pem("ec", keys.ec))])
    assert verifier.verify(jwt.encode(_claims(), keys.ec, algorithm="ES256")).subject == "orchestrator"


def test_eddsa_when_configured(keys: Keys) -> None:
    verifier = _verifier(public_keys=[str(keys.pem("ed", keys.ed))], algorithms=["EdDSA"])
    assert verifier.verify(jwt.encode(_claims(), keys.ed, algorithm="EdDSA")).subject == "orchestrator"


def test_a_pem_bundle_and_a_certificate_are_read(keys: Keys, tmp_path: Path) -> None:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "issuer")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(keys.ec.public_key())
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now + timedelta(days=1))
        .sign(keys.ec, hashes.SHA256())
    )
    bundle = tmp_path / "bundle.pem"
    bundle.write_bytes(keys.pem("rsa", keys.rsa).read_bytes() + cert.public_bytes(serialization.Encoding.PEM))
    verifier = _verifier(public_keys=[str(bundle)])
    assert verifier.verify(jwt.encode(_claims(), keys.rsa, algorithm="RS256")).subject == "orchestrator"
    assert verifier.verify(jwt.encode(_claims(), keys.ec, algorithm="ES256")).subject == "orchestrator"


def test_jwks_with_two_kids_selects_the_key_by_kid(keys: Keys) -> None:
    jwks = keys.jwks("two", [("key-1", keys.rsa, "RS256"), ("key-2", keys.rsa_other, None)])
    verifier = _verifier(jwks_file=str(jwks))
    one = jwt.encode(_claims(sub="one"), keys.rsa, algorithm="RS256", headers={"kid": "key-1"})
    two = jwt.encode(_claims(sub="two"), keys.rsa_other, algorithm="RS256", headers={"kid": "key-2"})
    assert verifier.verify(one).subject == "one"
    assert verifier.verify(two).subject == "two"
    swapped = jwt.encode(_claims(), keys.rsa_other, algorithm="RS256", headers={"kid": "key-1"})
    _reason(verifier, swapped, "bad_signature")
    unknown = jwt.encode(_claims(), keys.rsa, algorithm="RS256", headers={"kid": "key-3"})
    _reason(verifier, unknown, "bad_signature")


def test_jwks_alg_restricts_the_key(keys: Keys) -> None:
    verifier = _verifier(jwks_file=str(keys.jwks("ps", [("k", keys.rsa, "RS256")])), algorithms=["RS256", "PS256"])
    token = jwt.encode(_claims(), keys.rsa, algorithm="PS256", headers={"kid": "k"})
    _reason(verifier, token, "bad_signature")


def test_leeway_accepts_a_just_expired_token() -> None:
    verifier = _verifier(hs256_secret=SECRET, leeway="60s")
    assert verifier.verify(jwt.encode(_claims(exp=int(time.time()) - 10), SECRET, algorithm="HS256"))


# --------------------------------------------------------------------------------------------- rejected


def test_expired() -> None:
    verifier = _verifier(hs256_secret=SECRET, leeway=0)
    error = _reason(
        verifier, jwt.encode(_claims(exp=int(time.time()) - 10), SECRET, algorithm="HS256"), "token_expired"
    )
    assert error.message == "token expired"


def test_not_before_in_the_future() -> None:
    verifier = _verifier(hs256_secret=SECRET)
    token = jwt.encode(_claims(nbf=int(time.time()) + 3600), SECRET, algorithm="HS256")
    _reason(verifier, token, "token_not_yet_valid")


def test_wrong_audience() -> None:
    verifier = _verifier(hs256_secret=SECRET)
    _reason(verifier, jwt.encode(_claims(aud="another-service"), SECRET, algorithm="HS256"), "bad_audience")
    _reason(verifier, jwt.encode(_claims(aud=None), SECRET, algorithm="HS256"), "bad_audience")


def test_audience_list_accepts_any_of_them() -> None:
    verifier = _verifier(hs256_secret=SECRET, audience=["a", AUDIENCE])
    assert verifier.verify(jwt.encode(_claims(aud=["x", AUDIENCE]), SECRET, algorithm="HS256"))


def test_wrong_issuer() -> None:
    verifier = _verifier(hs256_secret=SECRET)
    _reason(verifier, jwt.encode(_claims(iss="https://evil.example.com/"), SECRET, algorithm="HS256"), "bad_issuer")
    _reason(verifier, jwt.encode(_claims(iss=None), SECRET, algorithm="HS256"), "bad_issuer")


def test_wrong_key(keys: Keys) -> None:
    verifier = _verifier(public_keys=[str(keys.pem("rsa", keys.rsa))])
    _reason(verifier, jwt.encode(_claims(), keys.rsa_other, algorithm="RS256"), "bad_signature")
    hmac_verifier = _verifier(hs256_secret=SECRET)
    _reason(hmac_verifier, jwt.encode(_claims(), SECRET + "-other", algorithm="HS256"), "bad_signature")


def test_tampered_payload(keys: Keys) -> None:
    verifier = _verifier(public_keys=[str(keys.pem("rsa", keys.rsa))])
    token = jwt.encode(_claims(), keys.rsa, algorithm="RS256")
    header, _, signature = token.split(".")
    forged = _b64(json.dumps(_claims(groups=["platform-team"])).encode())
    _reason(verifier, f"{header}.{forged}.{signature}", "bad_signature")


def test_alg_none_is_refused() -> None:
    verifier = _verifier(hs256_secret=SECRET)
    for alg in ("none", "None", "NONE"):
        _reason(verifier, _hand_made({"alg": alg, "typ": "JWT"}, _claims()), "algorithm_not_allowed")


def test_key_confusion_hs256_signed_with_the_rsa_public_key_fails(keys: Keys) -> None:
    pem_path = keys.pem("rsa", keys.rsa)
    forged = _hand_made({"alg": "HS256", "typ": "JWT"}, _claims(groups=["platform-team"]), sign=pem_path.read_bytes())
    _reason(_verifier(public_keys=[str(pem_path)]), forged, "algorithm_not_allowed")
    _reason(_verifier(public_keys=[str(pem_path)], hs256_secret=SECRET), forged, "bad_signature")


def test_unknown_and_unconfigured_algorithms(keys: Keys) -> None:
    verifier = _verifier(public_keys=[str(keys.pem("rsa", keys.rsa))], algorithms=["RS256"])
    _reason(verifier, _hand_made({"alg": "HS999"}, _claims(), sign=b"x"), "algorithm_not_allowed")
    _reason(verifier, jwt.encode(_claims(), keys.ec, algorithm="ES256"), "algorithm_not_allowed")
    _reason(verifier, jwt.encode(_claims(), keys.rsa, algorithm="RS512"), "algorithm_not_allowed")
    _reason(verifier, _hand_made({"typ": "JWT"}, _claims(), sign=b"x"), "algorithm_not_allowed")


def test_es256_token_against_a_p384_key_is_refused(keys: Keys) -> None:
    p384 = ec.generate_private_key(ec.SECP384R1())
    verifier = _verifier(public_keys=[str(keys.pem("p384", p384))], algorithms=["ES256", "ES384"])
    assert verifier.verify(jwt.encode(_claims(), p384, algorithm="ES384"))
    _reason(verifier, jwt.encode(_claims(), keys.ec, algorithm="ES256"), "bad_signature")


@pytest.mark.parametrize("token", ["abc", "a.b.c", "bm90anNvbg.e30.x", "...", "x" * 20000])
def test_malformed(token: str) -> None:
    _reason(_verifier(hs256_secret=SECRET), token, "token_malformed")


def test_required_claims() -> None:
    verifier = _verifier(hs256_secret=SECRET)
    error = _reason(verifier, jwt.encode(_claims(exp=None), SECRET, algorithm="HS256"), "claim_missing")
    assert "'exp'" in error.message
    error = _reason(verifier, jwt.encode(_claims(sub=None), SECRET, algorithm="HS256"), "claim_missing")
    assert "'sub'" in error.message


def test_non_numeric_exp_is_malformed() -> None:
    _reason(
        _verifier(hs256_secret=SECRET), jwt.encode(_claims(exp="soon"), SECRET, algorithm="HS256"), "token_malformed"
    )


def test_email_as_subject() -> None:
    verifier = _verifier(hs256_secret=SECRET, subject_claim="email")
    token = jwt.encode(_claims(email="dev@company.com"), SECRET, algorithm="HS256")
    assert verifier.verify(token).subject == "dev@company.com"


# --------------------------------------------------------------------------------------------- write permission


@pytest.mark.parametrize(
    ("write_claim", "claims", "can_write"),
    [
        ("groups", {"groups": ["readers"]}, False),
        ("groups", {"groups": ["readers", "platform-team"]}, True),
        ("groups", {"groups": "platform-team"}, True),
        ("groups", {}, False),
        ("groups", {"groups": {"platform-team": True}}, False),
        ("scope", {"scope": "catalog:read platform-team"}, True),
        ("scope", {"scope": "catalog:read"}, False),
        ("realm_access.roles", {"realm_access": {"roles": ["platform-team"]}}, True),
        ("realm_access.roles", {"realm_access": {"roles": ["viewer"]}}, False),
    ],
)
def test_read_only_versus_platform_team(write_claim: str, claims: dict[str, Any], can_write: bool) -> None:
    verifier = _verifier(hs256_secret=SECRET, write_claim=write_claim)
    principal = verifier.verify(jwt.encode(_claims(**{"groups": None, **claims}), SECRET, algorithm="HS256"))
    assert principal.can_write is can_write
    if can_write:
        verifier.authorize_write(principal)
    else:
        with pytest.raises(PermissionDenied, match="writing needs the platform-team claim") as info:
            verifier.authorize_write(principal)
        assert info.value.details["subject"] == "orchestrator"
        assert info.value.details["claim"] == write_claim


def test_authenticate_reads_the_header() -> None:
    verifier = _verifier(hs256_secret=SECRET)
    token = jwt.encode(_claims(), SECRET, algorithm="HS256")
    assert verifier.authenticate(f"Bearer {token}").subject == "orchestrator"
    with pytest.raises(AuthenticationError, match="missing bearer token"):
        verifier.authenticate(None)


def test_disabled_auth_lets_everyone_in_as_a_writer() -> None:
    verifier = TokenVerifier(AuthConfig())
    assert not verifier.enabled
    assert verifier.authenticate(None) is ANONYMOUS
    verifier.authorize_write(ANONYMOUS)


# --------------------------------------------------------------------------------------------- headers


@pytest.mark.parametrize(
    "header", ["Bearer abc.def.ghi", "bearer abc.def.ghi", "BEARER  abc.def.ghi ", " Bearer abc.def.ghi"]
)
def test_bearer_token(header: str) -> None:
    assert bearer_token(header) == "abc.def.ghi"


@pytest.mark.parametrize(
    ("header", "reason"),
    [
        (None, "token_missing"),
        ("", "token_missing"),
        ("   ", "token_missing"),
        ("Basic dXNlcjpwYXNz", "token_malformed"),
        ("Bearer", "token_malformed"),
        ("Bearer a b", "token_malformed"),
        ("abc.def.ghi", "token_malformed"),
    ],
)
def test_bearer_token_errors(header: str | None, reason: str) -> None:
    with pytest.raises(AuthenticationError) as info:
        bearer_token(header)
    assert info.value.details == {"reason": reason}


def test_www_authenticate() -> None:
    assert www_authenticate() == 'Bearer realm="nestor-catalog"'
    missing = AuthenticationError("missing", details={"reason": "token_missing"})
    assert www_authenticate(missing, realm="catalog") == 'Bearer realm="catalog"'
    expired = AuthenticationError('token "expired"', details={"reason": "token_expired"})
    assert www_authenticate(expired) == (
        'Bearer realm="nestor-catalog", error="invalid_token", error_description="token \'expired\'"'
    )


# --------------------------------------------------------------------------------------------- key configuration


def test_private_key_in_public_keys_is_a_config_error(keys: Keys, tmp_path: Path) -> None:
    path = tmp_path / "private.pem"
    path.write_bytes(
        keys.rsa.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    with pytest.raises(ConfigError, match=r"auth.public_keys\[0\] .*holds a private key"):
        _verifier(public_keys=[str(path)])


def test_file_without_pem_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "garbage.pem"
    path.write_text("not a key")
    with pytest.raises(ConfigError, match=r"auth.public_keys\[0\]: .* holds no PEM public key"):
        _verifier(public_keys=[str(path)])


def test_short_rsa_key_is_a_config_error(keys: Keys) -> None:
    small = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    with pytest.raises(ConfigError, match="RSA key of 1024 bits"):
        _verifier(public_keys=[str(keys.pem("small", small))])


def test_jwks_problems_are_config_errors(keys: Keys, tmp_path: Path) -> None:
    path = tmp_path / "jwks.json"
    cases = [
        ({"keys": [{"kty": "oct", "k": "c2VjcmV0"}]}, "symmetric"),
        ({"nokeys": []}, "not a JWK set"),
        ({"keys": [{"kty": "RSA", "n": "x"}]}, "invalid JWK"),
        ({"keys": [{"kty": "RSA", "alg": "none"}]}, "unsupported alg 'none'"),
    ]
    for document, message in cases:
        path.write_text(json.dumps(document))
        with pytest.raises(ConfigError, match=message):
            _verifier(jwks_file=str(path))
    path.write_text("{")
    with pytest.raises(ConfigError, match="not valid JSON"):
        _verifier(jwks_file=str(path))
    duplicate = keys.jwks("dup", [("same", keys.rsa, "RS256"), ("same", keys.rsa_other, "RS256")])
    with pytest.raises(ConfigError, match="duplicate kid 'same'"):
        _verifier(jwks_file=str(duplicate))


def test_jwks_encryption_keys_are_skipped(keys: Keys, tmp_path: Path) -> None:
    path = keys.jwks("enc", [("sig", keys.rsa, "RS256")])
    document = json.loads(path.read_text())
    document["keys"].append({**document["keys"][0], "kid": "enc", "use": "enc"})
    path.write_text(json.dumps(document))
    verifier = _verifier(jwks_file=str(path))
    _reason(verifier, jwt.encode(_claims(), keys.rsa, algorithm="RS256", headers={"kid": "enc"}), "bad_signature")


# --------------------------------------------------------------------------------------------- cache


class FakeClock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


def test_a_remembered_token_still_expires() -> None:
    clock = FakeClock()
    settings = AuthConfig.model_validate({"enabled": True, "hs256_secret": SECRET, "leeway": "30s"})
    verifier = TokenVerifier(settings, clock=clock)
    exp = int(clock.now) + 60
    token = jwt.encode(_claims(aud=None, iss=None, exp=exp), SECRET, algorithm="HS256")
    assert verifier.verify(token).subject == "orchestrator"
    clock.now = exp + 29
    assert verifier.verify(token).subject == "orchestrator"
    clock.now = exp + 31
    _reason(verifier, token, "token_expired")


def test_the_cache_is_bounded_and_evicts_the_oldest() -> None:
    clock = FakeClock()
    settings = AuthConfig.model_validate({"enabled": True, "hs256_secret": SECRET, "leeway": 0})
    verifier = TokenVerifier(settings, cache_size=1, clock=clock)
    first = jwt.encode(_claims(aud=None, iss=None, sub="first"), SECRET, algorithm="HS256")
    second = jwt.encode(_claims(aud=None, iss=None, sub="second"), SECRET, algorithm="HS256")
    verifier.verify(first)
    verifier.verify(second)
    clock.now += 10_000
    # ``first`` was evicted: verified again by PyJWT against the real time, so still valid.
    assert verifier.verify(first).subject == "first"
    # ``first`` replaced ``second`` in the cache; the fake clock says it has expired.
    _reason(verifier, first, "token_expired")
    assert verifier.verify(second).subject == "second"


def test_claims_are_read_only() -> None:
    verifier = _verifier(hs256_secret=SECRET)
    principal = verifier.verify(jwt.encode(_claims(), SECRET, algorithm="HS256"))
    with pytest.raises(TypeError, match="does not support item assignment"):
        principal.claims["groups"] = ["platform-team"]  # type: ignore[index]
