"""Private keys: generation and PEM files.

Every key is stored unencrypted as PKCS#8 PEM with mode 0600, written atomically so a crash
never leaves a truncated key that would later be mistaken for a real one.
"""

from __future__ import annotations

from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes, PublicKeyTypes

from kubeprov.errors import KubeprovError
from kubeprov.state.atomic import atomic_write

PRIVATE_MODE = 0o600
PUBLIC_MODE = 0o644

# Keys this package signs with or issues certificates for.
PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey


def new_ec_key() -> ec.EllipticCurvePrivateKey:
    """ECDSA P-256: fast to generate and verify, accepted by every TLS stack we talk to."""
    return ec.generate_private_key(ec.SECP256R1())


def new_rsa_key(bits: int = 2048) -> rsa.RSAPrivateKey:
    """RSA for the service-account signing key, the algorithm every token verifier supports."""
    return rsa.generate_private_key(public_exponent=65537, key_size=bits)


def private_key_pem(key: PrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def public_key_pem(key: PublicKeyTypes) -> bytes:
    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def public_key_der(key: PublicKeyTypes) -> bytes:
    """Canonical bytes to compare two public keys (e.g. a key against its certificate)."""
    return key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def parse_private_key(data: bytes, origin: str) -> PrivateKey:
    """Parse a PEM private key; ``origin`` names the file or kubeconfig in the error message."""
    try:
        key: PrivateKeyTypes = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as exc:
        raise KubeprovError(
            f"{origin} is not a readable unencrypted PEM private key",
            "restore it from a backup, or delete it and the certificate next to it to issue new ones",
        ) from exc
    if not isinstance(key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey):
        raise KubeprovError(f"{origin} holds a {type(key).__name__}; only ECDSA and RSA keys are supported")
    return key


def read_private_key(path: Path) -> PrivateKey:
    return parse_private_key(path.read_bytes(), str(path))


def write_private_key(path: Path, key: PrivateKey) -> None:
    atomic_write(path, private_key_pem(key), PRIVATE_MODE)


def write_public_key(path: Path, key: PublicKeyTypes) -> None:
    atomic_write(path, public_key_pem(key), PUBLIC_MODE)


def same_public_key(a: PublicKeyTypes, b: PublicKeyTypes) -> bool:
    return public_key_der(a) == public_key_der(b)
