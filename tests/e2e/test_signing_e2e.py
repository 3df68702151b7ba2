"""Issue 4's round trip with two real daemons: compile and export on one machine, verify and
import on a second, clean XDG tree that trusts the signer; and each way an envelope can be bad,
refused with its own reason."""

from __future__ import annotations

import base64
import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from aionisd.signing import PAYLOAD_TYPE_PLAYBOOK, TrustStore, generate, sign
from tests.conftest import Daemon, Xdg, aionis
from tests.support.e2e import compiled, synthetic_trace

pytestmark = pytest.mark.slow


@pytest.fixture
def second(tmp_path: Path) -> Any:
    """A second, clean XDG tree with its own daemon."""
    root = tmp_path / "second"
    (root / "run").mkdir(parents=True, mode=0o700)
    (root / "home").mkdir()
    x = Xdg(root, {"XDG_CONFIG_HOME": str(root / "config"), "XDG_DATA_HOME": str(root / "data"),
                   "XDG_RUNTIME_DIR": str(root / "run"), "HOME": str(root / "home")})  # fmt: skip
    d = Daemon(x, ["--no-watch"]).start()
    yield x
    d.kill()


def verify(xdg: Xdg, path: Path) -> tuple[int, dict[str, Any]]:
    r = aionis(xdg, "verify", str(path), "--json")
    return r.returncode, json.loads(r.stdout)


def test_export_verify_import_on_a_second_machine(
    daemon: Daemon, xdg: Xdg, second: Xdg, tmp_path: Path
) -> None:
    pb = compiled(daemon.socket, synthetic_trace(tmp_path / "t.jsonl", tmp_path / "rec", ["touch built"]))
    exported = tmp_path / "pb.json"
    assert aionis(xdg, "playbook", "export", pb["id"], "-o", str(exported)).returncode == 0
    keys = json.loads(aionis(xdg, "keys", "list", "--json").stdout)["key"]

    code, out = verify(second, exported)
    assert code == 1 and out["ok"] is False and "allowed_signers" in out["reason"]
    r = aionis(second, "playbook", "import", str(exported))
    assert r.returncode == 1 and "allowed_signers" in r.stderr

    pub = tmp_path / "signer.pub"
    pub.write_text(keys["public_key"] + "\n")
    assert aionis(second, "keys", "trust", str(pub), "--principal", keys["principal"]).returncode == 0
    code, out = verify(second, exported)
    assert (code, out) == (0, {"ok": True, "signer": keys["principal"], "reason": None})
    r = aionis(second, "playbook", "import", str(exported), "--json")
    assert r.returncode == 0 and json.loads(r.stdout)["digest"] == pb["digest"]

    envelope = json.loads(exported.read_text())
    payload = base64.b64decode(envelope["payload"])

    def variant(name: str, env: dict[str, Any]) -> Path:
        p = tmp_path / f"{name}.json"
        p.write_text(json.dumps(env))
        return p

    flipped = bytearray(payload)
    flipped[len(flipped) // 2] ^= 0x01
    cases = {
        "byte": {**envelope, "payload": base64.b64encode(bytes(flipped)).decode()},
        "type": {**envelope, "payloadType": "application/json"},
    }
    reasons = {}
    for name, env in cases.items():
        code, out = verify(second, variant(name, env))
        assert code == 1 and out["ok"] is False
        reasons[name] = out["reason"]

    stranger = generate("mallory@elsewhere")
    code, out = verify(second, variant("stranger", sign(payload, PAYLOAD_TYPE_PLAYBOOK, stranger)))
    assert code == 1
    reasons["untrusted"] = out["reason"]

    trust = TrustStore.load(second.config_dir / "allowed_signers", second.config_dir / "revoked_keys")
    late = generate("late@elsewhere")
    trust.add("late@elsewhere", late.public, valid_after=None, valid_before=None)
    old = generate("old@elsewhere")
    from datetime import UTC, datetime, timedelta

    now = datetime.now(UTC)
    trust.add(
        "old@elsewhere",
        old.public,
        valid_after=now - timedelta(days=30),
        valid_before=now - timedelta(days=1),
    )
    code, out = verify(second, variant("expired", sign(payload, PAYLOAD_TYPE_PLAYBOOK, old)))
    assert code == 1
    reasons["window"] = out["reason"]
    assert aionis(second, "keys", "revoke", late.keyid).returncode == 0
    code, out = verify(second, variant("revoked", sign(payload, PAYLOAD_TYPE_PLAYBOOK, late)))
    assert code == 1
    reasons["revoked"] = out["reason"]

    assert len(set(reasons.values())) == len(reasons), reasons  # each refused with its own reason
    assert "revoked" in reasons["revoked"].lower()
    assert "type" in reasons["type"].lower()


def test_an_existing_ssh_key_can_sign(xdg: Xdg, start_daemon: Any, tmp_path: Path) -> None:
    ssh = Path(xdg.env["HOME"]) / ".ssh"
    ssh.mkdir(mode=0o700)
    key = ssh / "id_ed25519"
    r = subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "me@laptop", "-f", str(key)])
    if r.returncode != 0:
        pytest.skip("ssh-keygen is not available")
    d = start_daemon()
    r = aionis(xdg, "keys", "init", "--use", str(key), "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["principal"] == "me@laptop"
    assert (xdg.config_dir / "keys" / "id_ed25519").resolve() == key, "linked, not copied"
    pb = compiled(d.socket, synthetic_trace(tmp_path / "t.jsonl", tmp_path / "rec", ["touch x"]))
    v = json.loads(aionis(xdg, "verify", pb["id"], "--json").stdout)
    assert v == {"ok": True, "signer": "me@laptop", "reason": None}
    again = aionis(xdg, "keys", "init")
    assert again.returncode == 1 and "already exists" in again.stderr


def test_revoking_the_signer_is_honoured_at_once(daemon: Daemon, xdg: Xdg, tmp_path: Path) -> None:
    pb = compiled(daemon.socket, synthetic_trace(tmp_path / "t.jsonl", tmp_path / "rec", ["touch x"]))
    assert json.loads(aionis(xdg, "verify", pb["id"], "--json").stdout)["ok"] is True  # now cached
    keyid = json.loads(aionis(xdg, "keys", "list", "--json").stdout)["key"]["keyid"]
    assert aionis(xdg, "keys", "revoke", keyid).returncode == 0
    out = json.loads(aionis(xdg, "verify", pb["id"], "--json").stdout)
    assert out["ok"] is False and "revoked" in out["reason"].lower()
