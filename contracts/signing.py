"""Where model-signing keys live and how a public key is read.

Training signs a model directory with an Ed25519 private key; every model server
verifies it with the tenant's public key. In the cluster the platform writes the PEM
into the tenant's ServingRuntime as :data:`VERIFY_KEY_PEM_ENV` (an object no tenant
role can modify; a ConfigMap in the tenant namespace could be patched by the tenant's
admins); a server run by hand reads a key file (``--public_key`` or
:data:`VERIFY_KEY_ENV`). Stack settings check the configured key with
:func:`ed25519_public_pem` before anything is deployed.
"""

from __future__ import annotations

SIGNING_KEY_ENV = "MLPLATFORM_SIGNING_KEY"
"""Environment variable naming the private key file training signs with."""
SIGNING_KEY_DIR = "/etc/mlplatform/signing"
"""Where training runs mount the tenant's private signing key (from an operator Secret)."""
SIGNING_KEY_FILE = "signing.key.pem"
"""Key of the signing-key Secret and file name under :data:`SIGNING_KEY_DIR`."""
SIGNING_KEY_PATH = f"{SIGNING_KEY_DIR}/{SIGNING_KEY_FILE}"
"""The mounted private key's full path (the value of :data:`SIGNING_KEY_ENV` in runs)."""
VERIFY_KEY_PEM_ENV = "MLPLATFORM_VERIFY_KEY_PEM"
"""Environment variable holding the public key's PEM text (what the cluster's runtime sets)."""
VERIFY_KEY_ENV = "MLPLATFORM_VERIFY_KEY"
"""Environment variable naming the public key file a model server verifies with."""
VERIFY_KEY_DIR = "/etc/mlplatform/keys"
"""Where a server image looks for a mounted public key file (``$MLPLATFORM_VERIFY_KEY``)."""
VERIFY_KEY_FILE = "verify.pub.pem"
"""File name of the public key under :data:`VERIFY_KEY_DIR`."""
VERIFY_KEY_PATH = f"{VERIFY_KEY_DIR}/{VERIFY_KEY_FILE}"
"""A mounted public key's full path (the serving image's default :data:`VERIFY_KEY_ENV`)."""


def ed25519_public_pem(value: str) -> str:
    """Check that ``value`` is the PEM text of an Ed25519 public key; return it unchanged.

    The model server refuses any model whose Ed25519 signature it cannot verify with
    this key, so a wrong key must fail here, not as a crash-looping predictor.
    """
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
    from cryptography.hazmat.primitives.serialization import load_pem_public_key

    if "PRIVATE KEY" in value:
        raise ValueError(
            "is a private key; give only the Ed25519 public key PEM (the private key that "
            "signs models stays in the secret store)"
        )
    try:
        key = load_pem_public_key(value.strip().encode())
    except (ValueError, TypeError, UnsupportedAlgorithm):
        raise ValueError(
            "is not a PEM public key; allowed: the PEM text of an Ed25519 public key "
            "('-----BEGIN PUBLIC KEY-----' ... '-----END PUBLIC KEY-----')"
        ) from None
    if not isinstance(key, Ed25519PublicKey):
        kind = type(key).__name__.removeprefix("_").removesuffix("PublicKey")
        raise ValueError(
            f"is a public key of type {kind}, not Ed25519; the model server verifies "
            "Ed25519 signatures only: give an Ed25519 public key PEM"
        )
    return value
