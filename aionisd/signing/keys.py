"""Ed25519 signing keys in OpenSSH formats, so `~/.ssh/id_ed25519` and `ssh-keygen` keys just work.

Private keys use the unencrypted `openssh-key-v1` container; public keys are `ssh-ed25519 AAAA...`
lines; a key's id is its OpenSSH fingerprint (`SHA256:` + unpadded base64 of the key blob's hash).
"""

from __future__ import annotations

import base64
import binascii
import errno
import hashlib
import os
import re
import secrets
import struct
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

KEY_TYPE = "ssh-ed25519"
DEFAULT_KEY_NAME = "id_ed25519"

_MAGIC = b"openssh-key-v1\x00"
_ARMOR_BEGIN = "-----BEGIN OPENSSH PRIVATE KEY-----"
_ARMOR_END = "-----END OPENSSH PRIVATE KEY-----"
_FINGERPRINT_RE = re.compile(r"^SHA256:[A-Za-z0-9+/]{43}$")


class SigningError(ValueError):
    """Base of every signing-package error; its message is one readable line for the user."""


class KeyFormatError(SigningError):
    """A key file or public key line that cannot be used, and why."""


def fingerprint(blob: bytes) -> str:
    """OpenSSH's SHA256 fingerprint of a public key blob, as `ssh-keygen -l` prints it."""
    digest = base64.b64encode(hashlib.sha256(blob).digest()).rstrip(b"=")
    return "SHA256:" + digest.decode("ascii")


def is_fingerprint(text: str) -> bool:
    """True for a well-formed `SHA256:<43 base64 chars>` key id."""
    return _FINGERPRINT_RE.match(text) is not None


def _sshstr(data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + data


class _Reader:
    """Reads the SSH wire encoding (RFC 4251 uint32 and string) with bounds checks."""

    def __init__(self, data: bytes, what: str) -> None:
        self.data = data
        self.pos = 0
        self.what = what

    def uint32(self) -> int:
        if self.pos + 4 > len(self.data):
            raise KeyFormatError(f"{self.what} is truncated")
        (value,) = struct.unpack_from(">I", self.data, self.pos)
        self.pos += 4
        return int(value)

    def string(self) -> bytes:
        size = self.uint32()
        if self.pos + size > len(self.data):
            raise KeyFormatError(f"{self.what} is truncated")
        value = self.data[self.pos : self.pos + size]
        self.pos += size
        return value

    def rest(self) -> bytes:
        return self.data[self.pos :]


@dataclass(frozen=True)
class PublicKey:
    """An Ed25519 public key with its OpenSSH comment; `keyid` is its fingerprint."""

    raw: bytes
    comment: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        if len(self.raw) != 32:
            raise KeyFormatError(f"an Ed25519 public key is 32 bytes, not {len(self.raw)}")

    @property
    def blob(self) -> bytes:
        return _sshstr(KEY_TYPE.encode()) + _sshstr(self.raw)

    @property
    def keyid(self) -> str:
        return fingerprint(self.blob)

    def to_line(self, *, comment: bool = True) -> str:
        """The `ssh-ed25519 AAAA... comment` line, as in a `.pub` file."""
        text = f"{KEY_TYPE} {base64.b64encode(self.blob).decode('ascii')}"
        return f"{text} {self.comment}" if comment and self.comment else text

    def verify(self, signature: bytes, data: bytes) -> bool:
        try:
            Ed25519PublicKey.from_public_bytes(self.raw).verify(signature, data)
        except InvalidSignature:
            return False
        return True

    def __str__(self) -> str:
        return self.to_line()


@dataclass(frozen=True)
class SigningKey:
    """A private Ed25519 key; its comment is the default principal (e.g. `me@host`)."""

    private: Ed25519PrivateKey
    comment: str = ""

    @property
    def public(self) -> PublicKey:
        raw = self.private.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        return PublicKey(raw, self.comment)

    @property
    def keyid(self) -> str:
        return self.public.keyid

    def sign(self, data: bytes) -> bytes:
        return self.private.sign(data)

    def __repr__(self) -> str:
        return f"SigningKey({self.keyid}, comment={self.comment!r})"


def generate(comment: str = "") -> SigningKey:
    """A fresh Ed25519 key."""
    _check_comment(comment)
    return SigningKey(Ed25519PrivateKey.generate(), comment)


def _check_comment(comment: str) -> None:
    if "\n" in comment or "\r" in comment:
        raise KeyFormatError("a key comment cannot contain a line break")


def split_key_fields(key_type: str, b64: str) -> bytes:
    """Decode a key's base64 blob and check it names `key_type`; any SSH key type is accepted."""
    try:
        blob = base64.b64decode(b64, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise KeyFormatError(f"{key_type} key is not valid base64") from exc
    inner = _Reader(blob, f"{key_type} key").string()
    if inner != key_type.encode():
        raise KeyFormatError(f"key blob says {inner.decode(errors='replace')!r}, not {key_type!r}")
    return blob


def public_key_from_blob(blob: bytes, comment: str = "") -> PublicKey:
    """An Ed25519 public key from its wire blob; other key types are refused by name."""
    reader = _Reader(blob, "public key")
    key_type = reader.string().decode(errors="replace")
    if key_type != KEY_TYPE:
        raise KeyFormatError(f"{key_type} keys are not supported; aionis signs with {KEY_TYPE}")
    raw = reader.string()
    if reader.rest():
        raise KeyFormatError("public key blob has trailing bytes")
    return PublicKey(raw, comment)


def load_public_line(line: str) -> PublicKey:
    """Parse `ssh-ed25519 AAAA... [comment]` (a `.pub` file's line)."""
    parts = line.strip().split(None, 2)
    if len(parts) < 2:
        raise KeyFormatError("expected 'ssh-ed25519 <base64> [comment]'")
    key_type, b64 = parts[0], parts[1]
    if key_type != KEY_TYPE:
        raise KeyFormatError(f"{key_type} keys are not supported; aionis signs with {KEY_TYPE}")
    blob = split_key_fields(key_type, b64)
    return public_key_from_blob(blob, parts[2].strip() if len(parts) == 3 else "")


def default_key_path(config_dir: Path) -> Path:
    """Where `aionis keys init` puts the signing key: `<config_dir>/keys/id_ed25519`."""
    return Path(config_dir) / "keys" / DEFAULT_KEY_NAME


def encode_private(key: SigningKey) -> bytes:
    """The key in the unencrypted OpenSSH private-key format that `ssh-keygen` writes."""
    pub = key.public
    seed = key.private.private_bytes(
        serialization.Encoding.Raw,
        serialization.PrivateFormat.Raw,
        serialization.NoEncryption(),
    )
    check = secrets.token_bytes(4)
    inner = (
        check
        + check
        + _sshstr(KEY_TYPE.encode())
        + _sshstr(pub.raw)
        + _sshstr(seed + pub.raw)
        + _sshstr(key.comment.encode("utf-8"))
    )
    inner += bytes(range(1, 1 + (-len(inner) % 8)))
    body = (
        _MAGIC
        + _sshstr(b"none")
        + _sshstr(b"none")
        + _sshstr(b"")
        + struct.pack(">I", 1)
        + _sshstr(pub.blob)
        + _sshstr(inner)
    )
    b64 = base64.b64encode(body).decode("ascii")
    lines = [b64[i : i + 70] for i in range(0, len(b64), 70)]
    return "\n".join([_ARMOR_BEGIN, *lines, _ARMOR_END, ""]).encode("ascii")


def save_private(key: SigningKey, path: Path) -> Path:
    """Write the private key (created 0600, never overwriting) and `<path>.pub`; return path.

    O_EXCL with the mode given at creation leaves no moment where the key is readable by others.
    """
    path = Path(path)
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    data = encode_private(key)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    except FileExistsError:
        raise FileExistsError(
            errno.EEXIST, "refusing to overwrite an existing private key", str(path)
        ) from None
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    pub_path = path.with_name(path.name + ".pub")
    pub_path.write_text(key.public.to_line() + "\n", encoding="utf-8")
    return path


def load_private(path: Path) -> SigningKey:
    """Load an unencrypted Ed25519 private key (OpenSSH format, or PKCS#8 PEM).

    Like ssh, it refuses a key file that group or others can read.
    """
    path = Path(path)
    mode = path.stat().st_mode
    if mode & 0o077:
        raise KeyFormatError(f"{path}: permissions {mode & 0o777:04o} are too open; run chmod 600 {path}")
    try:
        text = path.read_bytes().decode("ascii").strip()
    except UnicodeDecodeError:
        raise KeyFormatError(f"{path}: not a PEM/OpenSSH private key file") from None
    if text.startswith(_ARMOR_BEGIN):
        return _decode_openssh(text, path)
    if text.startswith("-----BEGIN ") and "PRIVATE KEY-----" in text.splitlines()[0]:
        return _decode_pem(text.encode("ascii"), path)
    raise KeyFormatError(f"{path}: not a PEM/OpenSSH private key file")


def _decode_pem(data: bytes, path: Path) -> SigningKey:
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except TypeError:
        raise KeyFormatError(
            f"{path}: key is passphrase-protected; aionis needs an unencrypted key "
            "(make one with `aionis keys init`)"
        ) from None
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise KeyFormatError(f"{path}: unreadable private key ({exc})") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise KeyFormatError(f"{path}: {type(key).__name__} keys are not supported; use Ed25519")
    return SigningKey(key, "")


def _decode_openssh(text: str, path: Path) -> SigningKey:
    lines = text.splitlines()
    if lines[-1].strip() != _ARMOR_END:
        raise KeyFormatError(f"{path}: OpenSSH private key has no END line")
    try:
        body = base64.b64decode("".join(line.strip() for line in lines[1:-1]), validate=True)
    except (binascii.Error, ValueError):
        raise KeyFormatError(f"{path}: OpenSSH private key is not valid base64") from None
    if not body.startswith(_MAGIC):
        raise KeyFormatError(f"{path}: not an openssh-key-v1 private key")
    outer = _Reader(body[len(_MAGIC) :], f"{path}")
    cipher, kdf, _kdf_options = outer.string(), outer.string(), outer.string()
    if outer.uint32() != 1:
        raise KeyFormatError(f"{path}: files holding several keys are not supported")
    key_type = _Reader(outer.string(), f"{path}").string().decode(errors="replace")
    if key_type != KEY_TYPE:
        raise KeyFormatError(f"{path}: {key_type} keys are not supported; use Ed25519")
    if cipher != b"none" or kdf != b"none":
        raise KeyFormatError(
            f"{path}: key is passphrase-protected; aionis needs an unencrypted key "
            "(make one with `aionis keys init`)"
        )
    inner = _Reader(outer.string(), f"{path}")
    if inner.uint32() != inner.uint32():
        raise KeyFormatError(f"{path}: private key check bytes differ (corrupt file)")
    if inner.string() != KEY_TYPE.encode():
        raise KeyFormatError(f"{path}: private section is not {KEY_TYPE}")
    pub, secret = inner.string(), inner.string()
    comment = inner.string()
    padding = inner.rest()
    if padding != bytes(range(1, 1 + len(padding))):
        raise KeyFormatError(f"{path}: private key padding is wrong (corrupt file)")
    if len(pub) != 32 or len(secret) != 64 or secret[32:] != pub:
        raise KeyFormatError(f"{path}: Ed25519 key material is malformed")
    private = Ed25519PrivateKey.from_private_bytes(secret[:32])
    key = SigningKey(private, comment.decode("utf-8", errors="replace"))
    if key.public.raw != pub:
        raise KeyFormatError(f"{path}: private key does not match its public key")
    return key
