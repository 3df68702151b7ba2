"""Who may sign: OpenSSH `allowed_signers` and `revoked_keys`, and the one `verify` entry point.

The files keep OpenSSH's syntax so people can manage them with the tools they know. Every
caller (CLI verify, strict replay, import) uses `verify`, so a decision never differs by path.
"""

from __future__ import annotations

import builtins
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

from aionisd.signing.dsse import (
    PAYLOAD_TYPE_PLAYBOOK,
    PAYLOAD_TYPE_REVIEW,
    Envelope,
    EnvelopeError,
    Signature,
    pae,
    parse_envelope,
)
from aionisd.signing.keys import (
    KeyFormatError,
    PublicKey,
    SigningError,
    fingerprint,
    is_fingerprint,
    load_public_line,
    public_key_from_blob,
    split_key_fields,
)

ALLOWED_SIGNERS = "allowed_signers"
REVOKED_KEYS = "revoked_keys"

_NAMESPACES = {PAYLOAD_TYPE_PLAYBOOK: "aionis-playbook", PAYLOAD_TYPE_REVIEW: "aionis-review"}
_TIME_RE = re.compile(r"^(\d{4})(\d{2})(\d{2})(?:(\d{2})(\d{2})(\d{2})?)?(Z?)$")
_OPTION_RE = re.compile(r"([A-Za-z-]+)")


class TrustFileError(SigningError):
    """A trust file line that cannot be used; the message names `file:line`."""


class Code(StrEnum):
    """Stable verification failure codes (API error mapping keys on these)."""

    MALFORMED = "malformed"
    UNSIGNED = "unsigned"
    WRONG_TYPE = "wrong_type"
    BAD_SIGNATURE = "bad_signature"
    UNTRUSTED = "untrusted"
    REVOKED = "revoked"
    EXPIRED = "expired"
    NOT_YET_VALID = "not_yet_valid"


@dataclass(frozen=True)
class Verification:
    """The outcome of `verify`. `payload` is set whenever the envelope parsed: use it only if ok."""

    ok: bool
    signer: str | None = None
    keyid: str | None = None
    reason: str | None = None
    code: str | None = None
    payload: bytes | None = None


def namespace_for(payload_type: str) -> str:
    """The allowed_signers `namespaces=` name a payload type is checked against."""
    return _NAMESPACES.get(payload_type, "aionis")


def parse_time(text: str) -> datetime:
    """OpenSSH `YYYYMMDD[HHMM[SS]][Z]`: UTC with a trailing Z, else the system's local time."""
    m = _TIME_RE.match(text)
    if m is None:
        raise ValueError(f"bad timestamp {text!r} (want YYYYMMDD[HHMM[SS]][Z])")
    year, month, day, hour, minute, second, zulu = m.groups()
    try:
        naive = datetime(int(year), int(month), int(day), int(hour or 0), int(minute or 0), int(second or 0))
    except ValueError as exc:
        raise ValueError(f"bad timestamp {text!r} ({exc})") from None
    return naive.replace(tzinfo=UTC) if zulu else naive.astimezone()


def format_time(when: datetime) -> str:
    """A timestamp OpenSSH reads back exactly: UTC, to the second, with Z."""
    return _utc(when).strftime("%Y%m%d%H%M%SZ")


def _utc(when: datetime) -> datetime:
    """Naive datetimes are taken as UTC, so comparisons never mix naive and aware."""
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


def _pattern_matches(pattern: str, text: str) -> bool:
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, text) is not None


def match_pattern_list(patterns: str, text: str) -> bool:
    """OpenSSH pattern-list semantics: `*`/`?` wildcards, any `!pattern` match vetoes."""
    matched = False
    for raw in patterns.split(","):
        negated = raw.startswith("!")
        pattern = raw[1:] if negated else raw
        if _pattern_matches(pattern, text):
            if negated:
                return False
            matched = True
    return matched


@dataclass(frozen=True)
class AllowedSigner:
    """One allowed_signers line. `public_key` is None for key types aionis cannot verify."""

    principals: str
    key_type: str
    keyid: str
    public_key: PublicKey | None
    namespaces: str | None = None
    valid_after: datetime | None = None
    valid_before: datetime | None = None
    cert_authority: bool = False
    line_no: int = 0

    def allows_namespace(self, namespace: str) -> bool:
        return self.namespaces is None or match_pattern_list(self.namespaces, namespace)

    def window_problem(self, now: datetime) -> Code | None:
        """Like ssh-keygen: valid at or after valid-after, and at or before valid-before."""
        if self.valid_after is not None and now < self.valid_after:
            return Code.NOT_YET_VALID
        if self.valid_before is not None and now > self.valid_before:
            return Code.EXPIRED
        return None

    def to_dict(self) -> dict[str, Any]:
        return {
            "principals": self.principals,
            "key_type": self.key_type,
            "keyid": self.keyid,
            "public_key": self.public_key.to_line() if self.public_key else None,
            "namespaces": self.namespaces,
            "valid_after": self.valid_after.isoformat() if self.valid_after else None,
            "valid_before": self.valid_before.isoformat() if self.valid_before else None,
            "cert_authority": self.cert_authority,
        }


def _next_token(text: str) -> tuple[str, str]:
    """First whitespace-delimited token (a leading double quote runs to the closing one)."""
    if text.startswith('"'):
        end = text.find('"', 1)
        if end < 0:
            raise ValueError("unterminated quote in principals")
        rest = text[end + 1 :]
        if rest and not rest[0].isspace():
            raise ValueError("text after closing quote of principals")
        return text[1:end], rest.lstrip()
    parts = text.split(None, 1)
    return parts[0], parts[1] if len(parts) == 2 else ""


def _try_key(text: str) -> tuple[str, bytes, str] | None:
    """`keytype base64 [comment]` if text starts with a self-consistent key, else None."""
    parts = text.split(None, 2)
    if len(parts) < 2:
        return None
    try:
        blob = split_key_fields(parts[0], parts[1])
    except KeyFormatError:
        return None
    return parts[0], blob, parts[2] if len(parts) == 3 else ""


def _split_options(text: str) -> tuple[str, str]:
    """Split off the options field: it ends at the first unquoted blank."""
    quoted = False
    i = 0
    while i < len(text):
        c = text[i]
        if c == "\\" and text[i + 1 : i + 2] == '"':
            i += 2
            continue
        if c == '"':
            quoted = not quoted
        elif c in " \t" and not quoted:
            return text[:i], text[i:].lstrip()
        i += 1
    if quoted:
        raise ValueError("unterminated quote in options")
    return text, ""


def _parse_options(text: str) -> dict[str, Any]:
    """`cert-authority`, `namespaces="..."`, `valid-after="..."`, `valid-before="..."`."""
    out: dict[str, Any] = {}
    i = 0
    while i < len(text):
        start = i
        m = _OPTION_RE.match(text, i)
        name = m.group(1).lower() if m else ""
        i = m.end() if m else i
        if name == "cert-authority":
            out["cert_authority"] = True
        elif name in ("namespaces", "valid-after", "valid-before"):
            if name in out:
                raise ValueError(f'multiple "{name}" options')
            if text[i : i + 2] != '="':
                raise ValueError(f'option {name} needs a double-quoted value ({name}="...")')
            value, i = _dequote(text, i + 1)
            out[name] = value
        else:
            bad = re.split(r"[,=]", text[start:], maxsplit=1)[0]
            raise ValueError(f"unsupported option {bad!r}")
        if i == len(text):
            break
        if text[i] != ",":
            raise ValueError(f"expected ',' between options at {text[i:]!r}")
        i += 1
        if i == len(text):
            raise ValueError("options end with ','")
    return out


def _dequote(text: str, i: int) -> tuple[str, int]:
    """Read a double-quoted value starting at text[i] == '"'; `\\"` is a literal quote."""
    out: list[str] = []
    i += 1
    while i < len(text):
        c = text[i]
        if c == "\\" and text[i + 1 : i + 2] == '"':
            out.append('"')
            i += 2
            continue
        if c == '"':
            return "".join(out), i + 1
        out.append(c)
        i += 1
    raise ValueError("missing closing quote")


def parse_allowed_signers_line(line: str, line_no: int = 0) -> AllowedSigner | None:
    """One line of allowed_signers; None for blanks and comments, ValueError when unusable."""
    text = line.strip()
    if not text or text.startswith("#"):
        return None
    principals, rest = _next_token(text)
    if not principals:
        raise ValueError("empty principals")
    if not rest:
        raise ValueError("missing key")
    options: dict[str, Any] = {}
    key = _try_key(rest)
    if key is None:
        opts_text, rest = _split_options(rest)
        if not rest:
            raise ValueError("missing key")
        key = _try_key(rest)
        if key is None:
            raise ValueError(f"invalid key {rest.split()[0][:40]!r}")
        options = _parse_options(opts_text)
    key_type, blob, comment = key
    public_key = None
    if key_type == "ssh-ed25519":
        try:
            public_key = public_key_from_blob(blob, comment)
        except KeyFormatError as exc:
            raise ValueError(str(exc)) from None
    valid_after = options.get("valid-after")
    valid_before = options.get("valid-before")
    return AllowedSigner(
        principals=principals,
        key_type=key_type,
        keyid=fingerprint(blob),
        public_key=public_key,
        namespaces=options.get("namespaces"),
        valid_after=parse_time(valid_after) if valid_after is not None else None,
        valid_before=parse_time(valid_before) if valid_before is not None else None,
        cert_authority=bool(options.get("cert_authority")),
        line_no=line_no,
    )


def parse_allowed_signers(text: str, source: str = ALLOWED_SIGNERS) -> tuple[list[AllowedSigner], list[str]]:
    """All usable entries, and one `source:line: problem` string per unusable line."""
    entries: list[AllowedSigner] = []
    problems: list[str] = []
    for no, line in enumerate(text.splitlines(), 1):
        try:
            entry = parse_allowed_signers_line(line, no)
        except ValueError as exc:
            problems.append(f"{source}:{no}: {exc}")
            continue
        if entry is not None:
            entries.append(entry)
    return entries, problems


def parse_revoked_line(line: str) -> str | None:
    """The fingerprint a revoked_keys line names (a key line or `SHA256:...`); None if blank."""
    text = line.strip()
    if not text or text.startswith("#"):
        return None
    first = text.split(None, 1)[0]
    if first.startswith("SHA256:"):
        if not is_fingerprint(first):
            raise ValueError(f"bad fingerprint {first!r}")
        return first
    key = _try_key(text)
    if key is None:
        raise ValueError("expected a public key line or a SHA256: fingerprint")
    return fingerprint(key[1])


def parse_revoked_keys(text: str, source: str = REVOKED_KEYS) -> set[str]:
    """Revoked fingerprints. Unlike allowed_signers, a bad line is an error: skipping it would
    silently trust a key someone meant to revoke."""
    revoked: set[str] = set()
    for no, line in enumerate(text.splitlines(), 1):
        try:
            keyid = parse_revoked_line(line)
        except ValueError as exc:
            raise TrustFileError(f"{source}:{no}: {exc}") from None
        if keyid is not None:
            revoked.add(keyid)
    return revoked


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return ""
    except UnicodeDecodeError:
        raise TrustFileError(f"{path}: not UTF-8 text") from None


def _append_line(path: Path, line: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a+", encoding="utf-8") as fh:
        fh.seek(0, 2)
        if fh.tell() > 0:
            fh.seek(fh.tell() - 1)
            needs_newline = fh.read(1) != "\n"
            fh.seek(0, 2)
            if needs_newline:
                fh.write("\n")
        fh.write(line + "\n")


def _as_public_key(key: PublicKey | str) -> PublicKey:
    return key if isinstance(key, PublicKey) else load_public_line(key)


@dataclass
class TrustStore:
    """The trust list as loaded from its two files; `add`/`revoke` append to them."""

    allowed_signers_path: Path
    revoked_keys_path: Path
    entries: list[AllowedSigner] = field(default_factory=list)
    revoked: set[str] = field(default_factory=set)
    problems: list[str] = field(default_factory=list)

    @classmethod
    def load(cls, allowed_signers: Path, revoked_keys: Path) -> TrustStore:
        """Read both files (a missing file is empty). Bad allowed_signers lines are skipped and
        listed in `problems`; a bad revoked_keys line raises TrustFileError."""
        allowed_signers, revoked_keys = Path(allowed_signers), Path(revoked_keys)
        entries, problems = parse_allowed_signers(_read(allowed_signers), str(allowed_signers))
        revoked = parse_revoked_keys(_read(revoked_keys), str(revoked_keys))
        return cls(allowed_signers, revoked_keys, entries, revoked, problems)

    @classmethod
    def in_dir(cls, config_dir: Path) -> TrustStore:
        """The store at `<config_dir>/allowed_signers` and `<config_dir>/revoked_keys`."""
        return cls.load(Path(config_dir) / ALLOWED_SIGNERS, Path(config_dir) / REVOKED_KEYS)

    def list(self) -> builtins.list[AllowedSigner]:
        return list(self.entries)

    def is_revoked(self, keyid: str) -> bool:
        return keyid in self.revoked

    def find(self, keyid: str) -> builtins.list[AllowedSigner]:
        return [e for e in self.entries if e.keyid == keyid]

    def add(
        self,
        principal: str,
        public_key: PublicKey | str,
        valid_after: datetime | None = None,
        valid_before: datetime | None = None,
        *,
        namespaces: str | None = None,
    ) -> AllowedSigner:
        """Trust `public_key` as `principal`, appending one line to allowed_signers."""
        key = _as_public_key(public_key)
        if not principal or principal.startswith("#") or re.search(r'[\s"]', principal):
            raise SigningError(f"principal {principal!r} must be one word like me@example.com")
        if self.is_revoked(key.keyid):
            raise SigningError(f"key {key.keyid} is revoked; it cannot be trusted again")
        if valid_after and valid_before and _utc(valid_after) >= _utc(valid_before):
            raise SigningError("valid_after must be earlier than valid_before")
        if namespaces is not None and re.search(r'[\s"]', namespaces):
            raise SigningError(f"namespaces {namespaces!r} cannot contain blanks or quotes")
        options = []
        if namespaces is not None:
            options.append(f'namespaces="{namespaces}"')
        if valid_after is not None:
            options.append(f'valid-after="{format_time(valid_after)}"')
        if valid_before is not None:
            options.append(f'valid-before="{format_time(valid_before)}"')
        fields = [principal, ",".join(options), key.to_line()]
        line = " ".join(f for f in fields if f)
        entry = parse_allowed_signers_line(line)
        assert entry is not None
        for existing in self.entries:
            if replace(existing, line_no=0) == entry:
                return existing
        _append_line(self.allowed_signers_path, line)
        entry = replace(entry, line_no=_count_lines(self.allowed_signers_path))
        self.entries.append(entry)
        return entry

    def revoke(self, keyid_or_pubkey: PublicKey | str) -> str:
        """Revoke a key (given as a key or key line, or a `SHA256:` id); returns its keyid."""
        if isinstance(keyid_or_pubkey, PublicKey):
            keyid, line = keyid_or_pubkey.keyid, keyid_or_pubkey.to_line()
        else:
            line = keyid_or_pubkey.strip()
            try:
                parsed = parse_revoked_line(line)
            except ValueError as exc:
                raise SigningError(f"cannot revoke {line!r}: {exc}") from None
            if parsed is None:
                raise SigningError("nothing to revoke: give a public key line or a SHA256: id")
            keyid = parsed
        if keyid not in self.revoked:
            _append_line(self.revoked_keys_path, line)
            self.revoked.add(keyid)
        return keyid


def _count_lines(path: Path) -> int:
    return len(path.read_text(encoding="utf-8").splitlines())


_SEVERITY = {
    Code.BAD_SIGNATURE: 1,
    Code.UNTRUSTED: 2,
    Code.NOT_YET_VALID: 3,
    Code.EXPIRED: 3,
    Code.REVOKED: 4,
}


def verify(
    envelope: Mapping[str, Any] | bytes | str | Envelope,
    trust: TrustStore,
    *,
    expected_type: str,
    now: datetime | None = None,
) -> Verification:
    """Check an envelope against the trust store before anyone parses its payload.

    Any one trusted, valid signature suffices; otherwise the most telling failure is reported.
    """
    try:
        env = parse_envelope(envelope)
    except EnvelopeError as exc:
        return Verification(False, reason=f"not a DSSE envelope: {exc}", code=Code.MALFORMED)
    if not env.signatures:
        return _fail(env, Code.UNSIGNED, "envelope has no signatures")
    if env.payload_type != expected_type:
        return _fail(
            env,
            Code.WRONG_TYPE,
            f"payload type {env.payload_type!r} is not the expected {expected_type!r}",
        )
    when = _utc(now) if now is not None else datetime.now(UTC)
    namespace = namespace_for(expected_type)
    message = pae(env.payload_type, env.payload)
    results = [_check(sig, message, trust, namespace, when, env) for sig in env.signatures]
    for result in results:
        if result.ok:
            return result
    return max(results, key=lambda r: _SEVERITY[Code(r.code or Code.BAD_SIGNATURE)])


def _fail(
    env: Envelope, code: Code, reason: str, keyid: str | None = None, signer: str | None = None
) -> Verification:
    return Verification(False, signer, keyid, reason, code, env.payload)


def _check(
    sig: Signature, message: bytes, trust: TrustStore, namespace: str, now: datetime, env: Envelope
) -> Verification:
    keyid = sig.public_key.keyid if sig.public_key else sig.keyid
    if sig.public_key is not None and sig.keyid and sig.keyid != keyid:
        reason = f"keyid {sig.keyid} does not match the signer key {keyid}"
        return _fail(env, Code.BAD_SIGNATURE, reason, keyid)
    key = sig.public_key
    if key is None:
        key = next((e.public_key for e in trust.find(keyid) if e.public_key is not None), None)
        if key is None:
            who = keyid or "(no keyid)"
            return _fail(env, Code.UNTRUSTED, f"signer {who} is not in allowed_signers", keyid)
    if not key.verify(sig.sig, message):
        return _fail(
            env,
            Code.BAD_SIGNATURE,
            f"signature by {keyid} does not verify: the payload or signature was changed",
            keyid,
        )
    if trust.is_revoked(keyid):
        return _fail(env, Code.REVOKED, f"signer {keyid} is revoked (revoked_keys)", keyid)
    entries = [e for e in trust.find(keyid) if not e.cert_authority and e.public_key is not None]
    if not entries:
        return _fail(env, Code.UNTRUSTED, f"signer {keyid} is not in allowed_signers", keyid)
    entries = [e for e in entries if e.allows_namespace(namespace)]
    if not entries:
        return _fail(
            env,
            Code.UNTRUSTED,
            f"signer {keyid} is in allowed_signers but not for namespace {namespace}",
            keyid,
        )
    for entry in entries:
        if entry.window_problem(now) is None:
            return Verification(True, entry.principals, keyid, None, None, env.payload)
    entry = entries[0]
    if entry.window_problem(now) is Code.NOT_YET_VALID:
        assert entry.valid_after is not None
        return _fail(
            env,
            Code.NOT_YET_VALID,
            f"signer {keyid} ({entry.principals}) is not valid until {entry.valid_after.isoformat()}",
            keyid,
            entry.principals,
        )
    assert entry.valid_before is not None
    return _fail(
        env,
        Code.EXPIRED,
        f"signer {keyid} ({entry.principals}) expired at {entry.valid_before.isoformat()}",
        keyid,
        entry.principals,
    )
