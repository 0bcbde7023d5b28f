"""Compact JWS for service-account tokens: RS256 (and ES256/384/512) signing and verification.

Only what service-account tokens need: a JSON header with ``alg`` and ``kid``, a JSON claims
object, one signature. Keys are identified as Kubernetes does, by the unpadded base64url SHA-256
of the DER public key, so tokens and JWKS documents line up with other Kubernetes tooling.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature

PublicKey = rsa.RSAPublicKey | ec.EllipticCurvePublicKey
SigningKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey

_HASHES: dict[str, hashes.HashAlgorithm] = {
    "RS256": hashes.SHA256(),
    "RS384": hashes.SHA384(),
    "RS512": hashes.SHA512(),
    "ES256": hashes.SHA256(),
    "ES384": hashes.SHA384(),
    "ES512": hashes.SHA512(),
}
_EC_SIZES = {"ES256": 32, "ES384": 48, "ES512": 66}
_B64URL = re.compile(r"^[A-Za-z0-9_-]*$")
_PEM_BLOCK = re.compile(rb"-----BEGIN ([A-Z ]+)-----.+?-----END \1-----", re.DOTALL)


class JwtError(ValueError):
    """A token that is not a well-formed, correctly signed JWS."""


def b64url_encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    if not _B64URL.match(text):
        raise JwtError("invalid base64url")
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError) as exc:
        raise JwtError("invalid base64url") from exc


def key_id(public_key: PublicKey) -> str:
    """Kubernetes' key id: base64url (no padding) of SHA-256 over the DER SubjectPublicKeyInfo."""
    der = public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return b64url_encode(hashlib.sha256(der).digest())


def algorithm_for(key: SigningKey | PublicKey) -> str:
    if isinstance(key, rsa.RSAPrivateKey | rsa.RSAPublicKey):
        return "RS256"
    return {256: "ES256", 384: "ES384", 521: "ES512"}[key.curve.key_size]


def load_public_keys(path: Path) -> list[PublicKey]:
    """Every public key in a PEM file: public keys, certificates, or private keys (their public half),
    as ``--service-account-key-file`` accepts."""
    keys: list[PublicKey] = []
    for block in _PEM_BLOCK.finditer(Path(path).read_bytes()):
        kind, pem = block.group(1).decode(), block.group(0)
        try:
            if kind == "CERTIFICATE":
                key: Any = x509.load_pem_x509_certificate(pem).public_key()
            elif kind.endswith("PRIVATE KEY"):
                key = serialization.load_pem_private_key(pem, password=None).public_key()
            elif kind.endswith("PUBLIC KEY"):
                key = serialization.load_pem_public_key(pem)
            else:
                continue
        except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
            raise ValueError(f"{path}: unreadable {kind} block") from exc
        if isinstance(key, rsa.RSAPublicKey | ec.EllipticCurvePublicKey):
            keys.append(key)
    if not keys:
        raise ValueError(f"{path} holds no RSA or ECDSA key")
    return keys


def load_signing_key(path: Path) -> SigningKey:
    key = serialization.load_pem_private_key(Path(path).read_bytes(), password=None)
    if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        raise ValueError(f"{path} is not an RSA or ECDSA private key")
    return key


def _json(data: Mapping[str, Any]) -> bytes:
    return json.dumps(data, separators=(",", ":"), sort_keys=True).encode("utf-8")


def encode(claims: Mapping[str, Any], key: SigningKey, kid: str = "") -> str:
    """Sign ``claims`` as a compact JWS."""
    alg = algorithm_for(key)
    header: dict[str, str] = {"alg": alg}
    if kid:
        header["kid"] = kid
    signing_input = f"{b64url_encode(_json(header))}.{b64url_encode(_json(claims))}".encode("ascii")
    if isinstance(key, rsa.RSAPrivateKey):
        signature = key.sign(signing_input, padding.PKCS1v15(), _HASHES[alg])
    else:
        r, s = decode_dss_signature(key.sign(signing_input, ec.ECDSA(_HASHES[alg])))
        size = _EC_SIZES[alg]
        signature = r.to_bytes(size, "big") + s.to_bytes(size, "big")
    return f"{signing_input.decode('ascii')}.{b64url_encode(signature)}"


def unverified_claims(token: str) -> dict[str, Any] | None:
    """The claims of a compact JWS without checking anything; None if it is not one."""
    if token.lstrip().startswith("{"):
        return None
    parts = token.split(".")
    if len(parts) != 3:
        return None
    try:
        claims = json.loads(b64url_decode(parts[1]))
    except (JwtError, ValueError):
        return None
    return claims if isinstance(claims, dict) else None


def _verify_one(key: PublicKey, alg: str, signing_input: bytes, signature: bytes) -> bool:
    try:
        if isinstance(key, rsa.RSAPublicKey):
            if not alg.startswith("RS"):
                return False
            key.verify(signature, signing_input, padding.PKCS1v15(), _HASHES[alg])
        else:
            size = _EC_SIZES.get(alg)
            if size is None or algorithm_for(key) != alg or len(signature) != 2 * size:
                return False
            r, s = int.from_bytes(signature[:size], "big"), int.from_bytes(signature[size:], "big")
            key.verify(encode_dss_signature(r, s), signing_input, ec.ECDSA(_HASHES[alg]))
    except InvalidSignature:
        return False
    return True


def verify(token: str, keys: Iterable[PublicKey]) -> dict[str, Any]:
    """The claims of ``token`` if one of ``keys`` signed it; :class:`JwtError` otherwise."""
    parts = token.split(".")
    if len(parts) != 3:
        raise JwtError("compact JWS format must have three parts")
    try:
        header = json.loads(b64url_decode(parts[0]))
        claims = json.loads(b64url_decode(parts[1]))
    except ValueError as exc:
        raise JwtError("malformed JWS header or payload") from exc
    if not isinstance(header, dict) or not isinstance(claims, dict):
        raise JwtError("malformed JWS header or payload")
    alg = header.get("alg")
    if alg not in _HASHES:
        raise JwtError(f"unexpected signature algorithm {alg!r}")
    signing_input = f"{parts[0]}.{parts[1]}".encode("ascii")
    signature = b64url_decode(parts[2])
    if not any(_verify_one(key, alg, signing_input, signature) for key in keys):
        raise JwtError("error in cryptographic primitive")
    return claims


def jwks(keys: Iterable[PublicKey]) -> dict[str, Any]:
    """The JSON Web Key Set served at ``/openid/v1/jwks``."""
    out: list[dict[str, str]] = []
    for key in keys:
        entry = {"use": "sig", "kid": key_id(key), "alg": algorithm_for(key)}
        if isinstance(key, rsa.RSAPublicKey):
            numbers = key.public_numbers()
            entry |= {"kty": "RSA", "n": _uint(numbers.n), "e": _uint(numbers.e)}
        else:
            numbers_ec = key.public_numbers()
            size = (key.curve.key_size + 7) // 8
            entry |= {
                "kty": "EC",
                "crv": {256: "P-256", 384: "P-384", 521: "P-521"}[key.curve.key_size],
                "x": b64url_encode(numbers_ec.x.to_bytes(size, "big")),
                "y": b64url_encode(numbers_ec.y.to_bytes(size, "big")),
            }
        out.append(entry)
    return {"keys": out}


def _uint(value: int) -> str:
    return b64url_encode(value.to_bytes((value.bit_length() + 7) // 8 or 1, "big"))
