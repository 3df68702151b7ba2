"""Signing: DSSE v1 envelopes, Ed25519 keys in OpenSSH formats, allowed_signers trust.

Callers verify with `verify(...)` first and only then parse `Verification.payload`.
"""

from aionisd.signing.dsse import (
    PAYLOAD_TYPE_PLAYBOOK,
    PAYLOAD_TYPE_REVIEW,
    Envelope,
    EnvelopeError,
    dumps,
    pae,
    parse_envelope,
    payload_digest,
    sign,
)
from aionisd.signing.keys import (
    KeyFormatError,
    PublicKey,
    SigningError,
    SigningKey,
    default_key_path,
    generate,
    load_private,
    load_public_line,
    save_private,
)
from aionisd.signing.trust import (
    AllowedSigner,
    Code,
    TrustFileError,
    TrustStore,
    Verification,
    verify,
)

__all__ = [
    "PAYLOAD_TYPE_PLAYBOOK",
    "PAYLOAD_TYPE_REVIEW",
    "AllowedSigner",
    "Code",
    "Envelope",
    "EnvelopeError",
    "KeyFormatError",
    "PublicKey",
    "SigningError",
    "SigningKey",
    "TrustFileError",
    "TrustStore",
    "Verification",
    "default_key_path",
    "dumps",
    "generate",
    "load_private",
    "load_public_line",
    "pae",
    "parse_envelope",
    "payload_digest",
    "save_private",
    "sign",
    "verify",
]
