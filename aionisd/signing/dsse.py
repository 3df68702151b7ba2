"""DSSE v1 envelopes: the signature covers PAE(type, exact payload bytes), never a re-serialisation.

Each signature entry also carries the signer's `publicKey` line (besides `keyid`), so a good
signature by an unknown key is reported as untrusted rather than as a bad signature.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from aionisd.canonical import canonical_bytes
from aionisd.signing.keys import PublicKey, SigningError, SigningKey, load_public_line

PAYLOAD_TYPE_PLAYBOOK = "application/vnd.aionis.playbook.v1+json"
PAYLOAD_TYPE_REVIEW = "application/vnd.aionis.review.v1+json"


class EnvelopeError(SigningError):
    """The input is not a well-formed DSSE envelope."""


def pae(payload_type: str, payload: bytes) -> bytes:
    """DSSE v1 pre-authentication encoding: lengths are byte counts in ASCII decimal."""
    type_bytes = payload_type.encode("utf-8")
    return b"DSSEv1 %d %b %d %b" % (len(type_bytes), type_bytes, len(payload), payload)


def payload_digest(payload: bytes) -> str:
    """`sha256:<hex>` of the exact payload bytes: a playbook's id."""
    return "sha256:" + hashlib.sha256(payload).hexdigest()


@dataclass(frozen=True)
class Signature:
    keyid: str
    sig: bytes
    public_key: PublicKey | None = None


@dataclass(frozen=True)
class Envelope:
    payload_type: str
    payload: bytes
    signatures: tuple[Signature, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        sigs: list[dict[str, str]] = []
        for s in self.signatures:
            entry = {"keyid": s.keyid, "sig": _b64(s.sig)}
            if s.public_key is not None:
                entry["publicKey"] = s.public_key.to_line(comment=False)
            sigs.append(entry)
        return {"payloadType": self.payload_type, "payload": _b64(self.payload), "signatures": sigs}


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _b64decode(text: object, what: str) -> bytes:
    """Standard or URL-safe base64, padding optional (DSSE accepts both on input)."""
    if not isinstance(text, str):
        raise EnvelopeError(f"{what} must be a base64 string")
    normal = text.replace("-", "+").replace("_", "/")
    normal += "=" * (-len(normal) % 4)
    try:
        return base64.b64decode(normal, validate=True)
    except (binascii.Error, ValueError):
        raise EnvelopeError(f"{what} is not valid base64") from None


def sign(payload: bytes, payload_type: str, key: SigningKey) -> dict[str, Any]:
    """A DSSE envelope (as a JSON-ready dict) over `payload`, signed by `key`."""
    pub = key.public
    sig = Signature(pub.keyid, key.sign(pae(payload_type, payload)), pub)
    return Envelope(payload_type, payload, (sig,)).to_dict()


def dumps(envelope: Mapping[str, Any] | Envelope) -> bytes:
    """Stable JSON bytes for writing an envelope to a file or the wire."""
    obj = envelope.to_dict() if isinstance(envelope, Envelope) else dict(envelope)
    return canonical_bytes(obj)


def parse_envelope(obj: Mapping[str, Any] | bytes | str | Envelope) -> Envelope:
    """Check the envelope's shape and decode it; raises EnvelopeError naming what is wrong.

    An absent or empty `signatures` list parses (verification reports it as unsigned).
    """
    if isinstance(obj, Envelope):
        return obj
    if isinstance(obj, bytes | str):
        try:
            obj = json.loads(obj)
        except (UnicodeDecodeError, ValueError) as exc:
            raise EnvelopeError(f"envelope is not JSON ({exc})") from None
    if not isinstance(obj, Mapping):
        raise EnvelopeError("envelope must be a JSON object")
    payload_type = obj.get("payloadType")
    if not isinstance(payload_type, str) or not payload_type:
        raise EnvelopeError("envelope has no payloadType")
    if "payload" not in obj:
        raise EnvelopeError("envelope has no payload")
    payload = _b64decode(obj["payload"], "payload")
    raw_sigs = obj.get("signatures")
    if raw_sigs is None:
        raw_sigs = []
    if not isinstance(raw_sigs, list):
        raise EnvelopeError("signatures must be a list")
    return Envelope(payload_type, payload, tuple(_parse_sig(s, i) for i, s in enumerate(raw_sigs)))


def _parse_sig(entry: object, index: int) -> Signature:
    where = f"signatures[{index}]"
    if not isinstance(entry, Mapping):
        raise EnvelopeError(f"{where} must be an object")
    if "sig" not in entry:
        raise EnvelopeError(f"{where} has no sig")
    sig = _b64decode(entry["sig"], f"{where}.sig")
    keyid = entry.get("keyid", "")
    if not isinstance(keyid, str):
        raise EnvelopeError(f"{where}.keyid must be a string")
    line = entry.get("publicKey")
    public_key = None
    if line is not None:
        if not isinstance(line, str):
            raise EnvelopeError(f"{where}.publicKey must be a string")
        try:
            public_key = load_public_line(line)
        except SigningError as exc:
            raise EnvelopeError(f"{where}.publicKey: {exc}") from None
    return Signature(keyid, sig, public_key)
