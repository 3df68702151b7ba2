"""DSSE envelopes and OpenSSH key files, including interop with the real ssh-keygen."""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import stat
import subprocess
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from aionisd.signing import (
    PAYLOAD_TYPE_PLAYBOOK,
    EnvelopeError,
    KeyFormatError,
    TrustStore,
    default_key_path,
    dumps,
    generate,
    load_private,
    load_public_line,
    pae,
    parse_envelope,
    payload_digest,
    save_private,
    sign,
    verify,
)

SSH_KEYGEN = shutil.which("ssh-keygen")
needs_ssh_keygen = pytest.mark.skipif(SSH_KEYGEN is None, reason="ssh-keygen is not installed")
PAYLOAD = b'{"schema":"aionis.playbook/v1","name":"setup","steps":[]}'


def ssh_keygen(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    assert SSH_KEYGEN is not None
    return subprocess.run(
        [SSH_KEYGEN, *args], cwd=cwd, capture_output=True, text=True, check=True, timeout=30
    )


def test_pae_matches_the_dsse_spec_example() -> None:
    assert pae("http://example.com/HelloWorld", b"hello world") == (
        b"DSSEv1 29 http://example.com/HelloWorld 11 hello world"
    )


def test_pae_counts_bytes_not_characters() -> None:
    assert pae("t\u00e9", "\u00e9".encode()) == b"DSSEv1 3 t\xc3\xa9 2 \xc3\xa9"


def test_payload_digest_is_sha256_of_exact_bytes() -> None:
    assert payload_digest(b"") == ("sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
    assert payload_digest(PAYLOAD) != payload_digest(PAYLOAD + b" ")


def test_sign_builds_a_dsse_envelope_with_the_signer_key() -> None:
    key = generate("me@host")
    env = sign(PAYLOAD, PAYLOAD_TYPE_PLAYBOOK, key)
    assert set(env) == {"payloadType", "payload", "signatures"}
    assert env["payloadType"] == PAYLOAD_TYPE_PLAYBOOK
    assert base64.b64decode(env["payload"]) == PAYLOAD
    [entry] = env["signatures"]
    assert entry["keyid"] == key.keyid
    assert load_public_line(entry["publicKey"]).keyid == key.keyid
    assert key.public.verify(base64.b64decode(entry["sig"]), pae(PAYLOAD_TYPE_PLAYBOOK, PAYLOAD))


def test_round_trip_through_json_bytes(tmp_path: Path) -> None:
    key = generate("me@host")
    trust = TrustStore.in_dir(tmp_path)
    trust.add("me@host", key.public)
    wire = dumps(sign(PAYLOAD, PAYLOAD_TYPE_PLAYBOOK, key))
    result = verify(wire, trust, expected_type=PAYLOAD_TYPE_PLAYBOOK)
    assert result.ok, result.reason
    assert (result.signer, result.keyid, result.code, result.reason) == (
        "me@host",
        key.keyid,
        None,
        None,
    )
    assert result.payload == PAYLOAD


def test_parse_accepts_url_safe_unpadded_base64() -> None:
    payload = b"\xfb\xff\xfe?"
    env = sign(payload, "t", generate())
    env["payload"] = base64.urlsafe_b64encode(payload).decode().rstrip("=")
    assert "_" in env["payload"] or "-" in env["payload"]
    assert parse_envelope(env).payload == payload


def _good() -> dict[str, Any]:
    return sign(PAYLOAD, PAYLOAD_TYPE_PLAYBOOK, generate())


MALFORMED: list[tuple[str, object, str]] = [
    ("not json", b"{nope", "not JSON"),
    ("not utf-8", b"\xff\xfe", "not JSON"),
    ("array", b"[]", "JSON object"),
    ("no payloadType", {**_good(), "payloadType": None}, "payloadType"),
    ("empty payloadType", {**_good(), "payloadType": ""}, "payloadType"),
    ("no payload", {k: v for k, v in _good().items() if k != "payload"}, "no payload"),
    ("payload not base64", {**_good(), "payload": "%%%"}, "payload is not valid base64"),
    ("payload not string", {**_good(), "payload": 12}, "payload must be a base64 string"),
    ("signatures not list", {**_good(), "signatures": {"sig": "AA=="}}, "must be a list"),
    ("signature not object", {**_good(), "signatures": ["AA=="]}, "signatures[0] must be"),
    ("signature without sig", {**_good(), "signatures": [{"keyid": "x"}]}, "has no sig"),
    ("sig not base64", {**_good(), "signatures": [{"sig": "*"}]}, "sig is not valid base64"),
    ("keyid not string", {**_good(), "signatures": [{"sig": "AA==", "keyid": 1}]}, "keyid"),
    (
        "publicKey garbage",
        {**_good(), "signatures": [{"sig": "AA==", "publicKey": "ssh-ed25519 !!"}]},
        "publicKey",
    ),
    (
        "publicKey of another type",
        {**_good(), "signatures": [{"sig": "AA==", "publicKey": "ssh-rsa AAAAB3NzaC1yc2E="}]},
        "ssh-rsa keys are not supported",
    ),
]


@pytest.mark.parametrize(("obj", "needle"), [m[1:] for m in MALFORMED], ids=[m[0] for m in MALFORMED])
def test_malformed_envelopes_are_refused_with_a_reason(obj: object, needle: str, tmp_path: Path) -> None:
    with pytest.raises(EnvelopeError, match=re.escape(needle)):
        parse_envelope(obj)  # type: ignore[arg-type]
    trust = TrustStore.in_dir(tmp_path)
    result = verify(obj, trust, expected_type=PAYLOAD_TYPE_PLAYBOOK)  # type: ignore[arg-type]
    assert (result.ok, result.code, result.payload) == (False, "malformed", None)
    assert result.reason is not None and needle in result.reason and "\n" not in result.reason


def test_key_file_is_created_0600_even_with_a_permissive_umask(tmp_path: Path) -> None:
    key = generate("me@host")
    path = default_key_path(tmp_path / "aionis")
    old = os.umask(0)
    try:
        save_private(key, path)
    finally:
        os.umask(old)
    assert path == tmp_path / "aionis" / "keys" / "id_ed25519"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    loaded = load_private(path)
    assert (loaded.keyid, loaded.comment) == (key.keyid, "me@host")
    pub = load_public_line(path.with_name("id_ed25519.pub").read_text())
    assert (pub.keyid, pub.comment) == (key.keyid, "me@host")


def test_save_never_overwrites_a_key(tmp_path: Path) -> None:
    path = tmp_path / "id"
    save_private(generate(), path)
    before = path.read_bytes()
    with pytest.raises(FileExistsError, match="refusing to overwrite"):
        save_private(generate(), path)
    assert path.read_bytes() == before


@needs_ssh_keygen
def test_our_key_file_is_read_by_ssh_keygen(tmp_path: Path) -> None:
    key = generate("me@host")
    save_private(key, tmp_path / "id")
    out = ssh_keygen("-y", "-f", "id", cwd=tmp_path).stdout.strip()
    assert out == key.public.to_line()
    listed = ssh_keygen("-l", "-f", "id.pub", cwd=tmp_path).stdout.split()
    assert listed[1] == key.keyid


@needs_ssh_keygen
def test_ssh_keygen_key_loads_and_its_hand_written_trust_line_verifies(tmp_path: Path) -> None:
    ssh_keygen("-q", "-t", "ed25519", "-N", "", "-C", "dev@laptop", "-f", "id_ed25519", cwd=tmp_path)
    key = load_private(tmp_path / "id_ed25519")
    assert key.comment == "dev@laptop"
    pub_line = (tmp_path / "id_ed25519.pub").read_text().strip()
    assert key.public.to_line() == pub_line
    fp = ssh_keygen("-l", "-f", "id_ed25519.pub", cwd=tmp_path).stdout.split()[1]
    assert key.keyid == fp
    (tmp_path / "allowed_signers").write_text(
        f'# team\ndev@laptop namespaces="aionis-*",valid-after="20200101" {pub_line}\n'
    )
    trust = TrustStore.in_dir(tmp_path)
    assert trust.problems == []
    [entry] = trust.list()
    assert (entry.principals, entry.keyid, entry.namespaces) == ("dev@laptop", fp, "aionis-*")
    result = verify(sign(PAYLOAD, PAYLOAD_TYPE_PLAYBOOK, key), trust, expected_type=PAYLOAD_TYPE_PLAYBOOK)
    assert (result.ok, result.signer) == (True, "dev@laptop")


@needs_ssh_keygen
def test_passphrase_protected_key_is_a_clear_error(tmp_path: Path) -> None:
    ssh_keygen("-q", "-t", "ed25519", "-N", "secret words", "-f", "id", cwd=tmp_path)
    with pytest.raises(KeyFormatError, match="passphrase-protected"):
        load_private(tmp_path / "id")


@needs_ssh_keygen
def test_non_ed25519_key_is_a_clear_error(tmp_path: Path) -> None:
    ssh_keygen("-q", "-t", "ecdsa", "-b", "256", "-N", "", "-f", "id", cwd=tmp_path)
    with pytest.raises(KeyFormatError, match="ecdsa-sha2-nistp256 keys are not supported"):
        load_private(tmp_path / "id")
    pub = (tmp_path / "id.pub").read_text()
    with pytest.raises(KeyFormatError, match="ecdsa-sha2-nistp256 keys are not supported"):
        load_public_line(pub)


def _write_0600(path: Path, data: bytes) -> Path:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    return path


def test_pkcs8_pem_keys_load_and_encrypted_ones_are_refused(tmp_path: Path) -> None:
    private = Ed25519PrivateKey.generate()
    plain = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    locked = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"pw"),
    )
    loaded = load_private(_write_0600(tmp_path / "plain.pem", plain))
    assert loaded.public.raw == private.public_key().public_bytes_raw()
    with pytest.raises(KeyFormatError, match="passphrase-protected"):
        load_private(_write_0600(tmp_path / "locked.pem", locked))


def test_readable_by_others_is_refused(tmp_path: Path) -> None:
    path = save_private(generate(), tmp_path / "id")
    path.chmod(0o644)
    with pytest.raises(KeyFormatError, match="too open"):
        load_private(path)


def _rewrap(text: str, keep: int) -> str:
    """The key file with its base64 body cut to `keep` characters (a multiple of 4)."""
    lines = text.splitlines()
    return "\n".join([lines[0], "".join(lines[1:-1])[:keep], lines[-1], ""])


@pytest.mark.parametrize(
    ("mangle", "needle"),
    [
        (lambda t: t.replace("-----END OPENSSH PRIVATE KEY-----", ""), "no END line"),
        (lambda t: t.replace("\n", "\n!", 1), "not valid base64"),
        (lambda t: "hello\n", "not a PEM/OpenSSH private key"),
        (lambda t: _rewrap(t, 100), "truncated"),
    ],
    ids=["no end", "bad base64", "not a key", "truncated"],
)
def test_damaged_key_files_are_clear_errors(tmp_path: Path, mangle: Any, needle: str) -> None:
    text = save_private(generate(), tmp_path / "id").read_text()
    damaged = _write_0600(tmp_path / "damaged", mangle(text).encode())
    with pytest.raises(KeyFormatError, match=needle):
        load_private(damaged)


def test_public_key_lines() -> None:
    key = generate("a b c")
    parsed = load_public_line("  " + key.public.to_line() + "  \n")
    assert (parsed.keyid, parsed.comment) == (key.keyid, "a b c")
    assert load_public_line(key.public.to_line(comment=False)).comment == ""
    blob_b64 = key.public.to_line().split()[1]
    with pytest.raises(KeyFormatError, match="expected"):
        load_public_line("ssh-ed25519")
    with pytest.raises(KeyFormatError, match="not valid base64"):
        load_public_line("ssh-ed25519 AAAA*")
    rsa_named = base64.b64encode(b"\x00\x00\x00\x07ssh-rsa").decode()
    with pytest.raises(KeyFormatError, match="blob says 'ssh-rsa'"):
        load_public_line(f"ssh-ed25519 {rsa_named}")
    truncated = base64.b64encode(base64.b64decode(blob_b64)[:-1]).decode()
    with pytest.raises(KeyFormatError, match="truncated"):
        load_public_line(f"ssh-ed25519 {truncated}")


def test_signing_key_repr_hides_the_secret() -> None:
    key = generate("me")
    seed = key.private.private_bytes_raw()
    assert key.keyid in repr(key)
    assert base64.b64encode(seed).decode() not in repr(key)
    assert seed.hex() not in repr(key)
    assert json.dumps(sign(b"x", "t", key)).find(seed.hex()) == -1
