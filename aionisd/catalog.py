"""The playbook catalogue: compile a run, sign it, store it, verify it, move it between stores.

Every operation here writes its audit entry in the same transaction as the change it records.
"""

from __future__ import annotations

import getpass
import json
import os
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aionisd import errors
from aionisd.errors import AionisError
from aionisd.service import Service
from aionisd.signing import (
    PAYLOAD_TYPE_PLAYBOOK,
    Code,
    SigningError,
    SigningKey,
    TrustStore,
    Verification,
    generate,
    load_private,
    parse_envelope,
    payload_digest,
    save_private,
    sign,
    verify,
)
from aionisd.store import audit
from aionisd.store import events as event_log
from aionisd.store import playbooks as store
from aionisd.store import runs as run_store


@dataclass(frozen=True, slots=True)
class Signer:
    key: SigningKey
    principal: str


_TRUST_CACHE: dict[tuple[Any, ...], TrustStore] = {}
_VERIFY_CACHE: dict[tuple[Any, ...], Verification] = {}


def _stamp(path: Any) -> tuple[int, int] | None:
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    return (st.st_mtime_ns, st.st_size)


def _trust_key(service: Service) -> tuple[Any, ...]:
    a, r = service.paths.allowed_signers, service.paths.revoked_keys
    return (str(a), _stamp(a), str(r), _stamp(r))


def trust_store(service: Service) -> TrustStore:
    """The trust list, re-read only when one of its files changed."""
    key = _trust_key(service)
    a, r = service.paths.allowed_signers, service.paths.revoked_keys
    ts = _TRUST_CACHE.get(key)
    if ts is None:
        _TRUST_CACHE.clear()
        ts = _TRUST_CACHE[key] = TrustStore.load(a, r)
    return ts


def key_path(service: Service) -> Any:
    return service.paths.keys_dir / "id_ed25519"


def default_principal() -> str:
    return f"{getpass.getuser()}@{socket.gethostname()}"


def signer(service: Service, *, create: bool = True) -> Signer:
    """The user's key; made (0600) and trusted on first use, so compile works out of the box."""
    path = key_path(service)
    if not path.exists():
        if not create:
            raise AionisError(errors.NO_KEY, "no signing key: run `aionis keys init`")
        init_key(service, default_principal())
    try:
        key = load_private(path)
    except (SigningError, OSError) as e:
        raise AionisError(errors.NO_KEY, f"cannot load signing key {path}: {e}") from None
    if trust_store(service).is_revoked(key.keyid):
        raise AionisError(
            errors.NO_KEY,
            f"your signing key {key.keyid} is revoked: run `aionis keys init` to make a new one",
            {"keyid": key.keyid},
        )
    trusted = trust_store(service).find(key.keyid)
    principal = (trusted[0].principals.split(",")[0] if trusted else "") or key.comment or default_principal()
    return Signer(key, principal)


def init_key(service: Service, principal: str, use: str | None = None) -> dict[str, Any]:
    """Create the signing key, or adopt an existing OpenSSH Ed25519 key (e.g. ~/.ssh/id_ed25519)
    by linking to it, so the secret is never copied; either way, trust it. A revoked key in the
    way is set aside (it can sign nothing trusted), so `keys init` is the one way to a new key."""
    path = key_path(service)
    if path.exists() or path.is_symlink():
        _set_aside_revoked(service, path)
    if use:
        source = Path(use).expanduser().resolve()
        try:
            key = load_private(source)
        except (SigningError, OSError) as e:
            raise AionisError(errors.INVALID_PARAMS, f"cannot use {source}: {e}", {"field": "use"}) from None
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        path.symlink_to(source)
    else:
        key = generate(principal)
        save_private(key, path)
    trust_store(service).add(principal, key.public)
    with service.write() as db:
        audit.append(db, "key.created", key.keyid, {"principal": principal, "path": str(path)})
        audit.append(db, "key.trusted", key.keyid, {"principal": principal})
    return {
        "keyid": key.keyid,
        "principal": principal,
        "path": str(path),
        "public_key": key.public.to_line(),
    }


def _set_aside_revoked(service: Service, path: Path) -> None:
    """Move a revoked key (and its .pub) to `<name>.revoked-<n>`; an adopted key's link is only
    removed, never its target. Any other key is a conflict."""
    try:
        keyid = load_private(path).keyid
    except (SigningError, OSError):
        keyid = None
    if keyid is None or not trust_store(service).is_revoked(keyid):
        raise AionisError(errors.CONFLICT, f"a key already exists at {path}")
    if path.is_symlink():
        path.unlink()
        return
    n = 1
    while path.with_name(f"{path.name}.revoked-{n}").exists():
        n += 1
    for f in (path, path.with_name(path.name + ".pub")):
        if f.exists():
            f.rename(f.with_name(f"{f.name}.revoked-{n}"))
    with service.write() as db:
        audit.append(db, "key.set_aside", keyid, {"path": str(path), "suffix": f"revoked-{n}"})


def check(service: Service, envelope: Any) -> Verification:
    """Verify against the trust list. Listing and search verify every row they show, so results
    are memoised per (envelope, trust files' stamps); a signer with a validity window is always
    re-checked, since time alone can end it."""
    ts = trust_store(service)
    if not isinstance(envelope, dict):
        return verify(envelope, ts, expected_type=PAYLOAD_TYPE_PLAYBOOK)
    sigs = tuple(
        (s.get("keyid"), s.get("sig")) for s in envelope.get("signatures") or [] if isinstance(s, dict)
    )
    key = (envelope.get("payloadType"), envelope.get("payload"), sigs, _trust_key(service))
    if not all(isinstance(x, str | None) for x in (*key[:2], *(y for s in sigs for y in s))):
        return verify(envelope, ts, expected_type=PAYLOAD_TYPE_PLAYBOOK)  # malformed: nothing to cache
    v = _VERIFY_CACHE.get(key)
    if (
        v is not None
        and v.ok
        and any(e.valid_after is not None or e.valid_before is not None for e in ts.find(v.keyid or ""))
    ):
        v = None
    if v is None:
        if len(_VERIFY_CACHE) > 20_000:
            _VERIFY_CACHE.clear()
        v = _VERIFY_CACHE[key] = verify(envelope, ts, expected_type=PAYLOAD_TYPE_PLAYBOOK)
    return v


def signature_state(v: Verification) -> str:
    if v.ok:
        return "trusted"
    if v.code == Code.UNSIGNED:
        return "unsigned"
    if v.code in (Code.UNTRUSTED, Code.REVOKED, Code.EXPIRED, Code.NOT_YET_VALID):
        return "untrusted"
    return "tampered"


def verification_dict(v: Verification) -> dict[str, Any]:
    return {
        "ok": v.ok,
        "signer": v.signer,
        "keyid": v.keyid,
        "reason": v.reason,
        "code": None if v.code is None else str(v.code),
    }


def refusal(v: Verification) -> AionisError:
    code = errors.UNTRUSTED_SIGNER if signature_state(v) == "untrusted" else errors.SIGNATURE_INVALID
    return AionisError(code, v.reason or "signature check failed", verification_dict(v))


def canonical(doc: dict[str, Any]) -> bytes:
    from aionisd.playbook import canonical_bytes

    return canonical_bytes(doc)


def store_signed(
    service: Service,
    doc: dict[str, Any],
    *,
    playbook_id: str | None,
    run_id: str | None,
    repaired_from: str | None = None,
    signed_by: Signer | None = None,
    audit_action: str = "playbook.compiled",
) -> dict[str, Any]:
    """Sign `doc` and store it as the next version of its lineage (a new lineage when None)."""
    s = signed_by or signer(service)
    with service.write() as db:
        if playbook_id is not None:
            doc["version"] = store.next_version(db, playbook_id)
        payload = canonical(doc)
        digest = payload_digest(payload)
        if playbook_id is None:
            # The same run compiled again within the second is the same document: that version.
            same = db.rows("SELECT playbook_id, version FROM playbook_versions WHERE digest = ?", (digest,))
            if same:
                return {"id": same[0]["playbook_id"], "name": doc["name"], "version": same[0]["version"],
                        "digest": digest, "new": False}  # fmt: skip
        pid = playbook_id or "pb-" + digest.split(":", 1)[1][:12]
        envelope = sign(payload, PAYLOAD_TYPE_PLAYBOOK, s.key)
        store.insert(
            db,
            playbook_id=pid,
            name=doc["name"],
            version=doc["version"],
            digest=digest,
            status=doc.get("status", "draft"),
            signer=s.principal,
            keyid=s.key.keyid,
            envelope=envelope,
            doc=doc,
            run_id=run_id,
            repaired_from=repaired_from,
        )
        info = {"id": pid, "name": doc["name"], "version": doc["version"], "digest": digest}
        audit.append(
            db,
            audit_action,
            f"{pid}@{doc['version']}",
            {**info, "run_id": run_id, "signer": s.principal, "keyid": s.key.keyid},
        )
        event_log.append(db, "playbook.compiled", info)
    return {**info, "new": True}


def compile_run(
    service: Service,
    run_id: str,
    *,
    name: str | None,
    params: dict[str, str] | None,
    keep_probes: bool,
) -> dict[str, Any]:
    from aionisd.compile import NothingToReplay
    from aionisd.compile import compile_run as compile_doc
    from aionisd.params import Substituter

    if not run_id.strip():
        raise AionisError(
            errors.INVALID_PARAMS, "run_id is empty: name a run (see `aionis runs`)", {"field": "run_id"}
        )
    literals = params or {}
    try:
        for k, v in literals.items():
            if not isinstance(v, str):
                raise ValueError(
                    f"parameter {k!r} must be a string (the recorded literal), got {type(v).__name__}"
                )
        Substituter(None, None, literals)  # the compiler's own rules for names and literals
    except ValueError as e:
        raise AionisError(errors.INVALID_PARAMS, str(e), {"field": "params"}) from None
    run = run_store.get_run(service.db, run_id)
    if run is None:
        raise AionisError(errors.NOT_FOUND, f"no run {run_id}")
    try:
        compiled = compile_doc(run, name=name, params=literals or None, keep_probes=keep_probes)
    except NothingToReplay as e:
        raise AionisError(errors.NOTHING_TO_REPLAY, str(e)) from None
    doc = compiled.doc
    info = store_signed(service, doc, playbook_id=None, run_id=run.id)
    return {
        **info,
        "steps": len(doc.get("steps", [])),
        "checks": len(doc.get("success", [])),
        "report": compiled.report.to_dict(),
    }


def describe(service: Service, row: dict[str, Any], *, with_doc: bool = False) -> dict[str, Any]:
    v = check(service, row["envelope"])
    doc = store.document(row)
    replays, ok = store.replay_stats(service.db, row["id"])
    out = {
        "id": row["id"],
        "name": row["name"],
        "version": row["version"],
        "status": row["status"],
        "digest": row["digest"],
        "signer": v.signer or row["signer"],
        "keyid": row["keyid"],
        "signature": signature_state(v),
        "steps": len(doc.get("steps", [])),
        "checks": len(doc.get("success", [])),
        "goal": doc.get("goal"),
        "created_at": row["created_at"],
        "replays": replays,
        "replays_succeeded": ok,
        "run_id": row["run_id"],
    }
    if with_doc:
        out["document"] = doc
        out["verification"] = verification_dict(v)
        out["versions"] = store.versions(service.db, row["id"])
        out["repaired_from"] = row["repaired_from"]
    return out


def get(service: Service, ref: str, version: int | None = None) -> dict[str, Any]:
    row = store.resolve(service.db, ref, version)
    if row is None:
        what = f"{ref} version {version}" if version else ref
        raise AionisError(errors.NOT_FOUND, f"no playbook {what}")
    return row


def export(service: Service, ref: str, version: int | None) -> dict[str, Any]:
    row = get(service, ref, version)
    return {
        "id": row["id"],
        "version": row["version"],
        "digest": row["digest"],
        "envelope": row["envelope"],
    }


def import_envelope(service: Service, envelope: Any) -> dict[str, Any]:
    """Verify first (refuse untrusted with the reason), then parse the same bytes and store."""
    v = check(service, envelope)
    if not v.ok or v.payload is None:
        raise refusal(v)
    doc = json.loads(v.payload)
    from aionisd.playbook import validate

    problems = validate(doc)
    if problems:
        raise AionisError(errors.INVALID_PARAMS, f"not a valid playbook: {problems[0]}")
    digest = payload_digest(v.payload)
    with service.write() as db:
        existing = db.one("SELECT playbook_id FROM playbook_versions WHERE digest = ?", (digest,))
        if existing:
            return {"id": existing, "version": doc["version"], "digest": digest, "new": False}
        pid = _lineage_for(db, doc, digest)
        ver = doc["version"]
        if db.one("SELECT 1 FROM playbook_versions WHERE playbook_id = ? AND version = ?", (pid, ver)):
            raise AionisError(errors.CONFLICT, f"{pid} already has a different version {ver}")
        store.insert(
            db,
            playbook_id=pid,
            name=doc["name"],
            version=ver,
            digest=digest,
            status=doc.get("status") if doc.get("status") in store.STATUSES else "draft",
            signer=v.signer,
            keyid=v.keyid,
            envelope=parse_envelope(envelope).to_dict(),  # as verified, without stray fields
            doc=doc,
            run_id=None,
        )
        audit.append(
            db,
            "playbook.imported",
            f"{pid}@{ver}",
            {"digest": digest, "signer": v.signer, "keyid": v.keyid},
        )
        event_log.append(
            db,
            "playbook.compiled",
            {"id": pid, "name": doc["name"], "version": ver, "digest": digest},
        )
    return {"id": pid, "version": ver, "digest": digest, "new": True}


def _lineage_for(db: Any, doc: dict[str, Any], digest: str) -> str:
    """An imported version joins the lineage of the same name and source; else starts one."""
    src = (doc.get("source") or {}).get("digest")
    for (pid,) in db.conn.execute("SELECT id FROM playbooks WHERE name = ?", (doc["name"],)):
        first = store.resolve(db, pid, 1)
        if first and (store.document(first).get("source") or {}).get("digest") == src:
            return str(pid)
    return "pb-" + digest.split(":", 1)[1][:12]


def promote(service: Service, ref: str, version: int, status: str) -> dict[str, Any]:
    if status not in store.STATUSES:
        raise AionisError(
            errors.INVALID_PARAMS,
            f"status must be one of {', '.join(store.STATUSES)}",
            {"field": "status"},
        )
    row = get(service, ref, version)
    with service.write() as db:
        store.set_status(db, row["id"], version, status)
        audit.append(
            db,
            "playbook.status_changed",
            f"{row['id']}@{version}",
            {"from": row["status"], "to": status},
        )
        event_log.append(
            db, "playbook.status_changed", {"id": row["id"], "version": version, "status": status}
        )
    return {"id": row["id"], "version": version, "status": status}


def search(
    service: Service, text: str, *, cwd: str | None, all_statuses: bool, limit: int
) -> list[dict[str, Any]]:
    """BM25 over name, goal, commands and files with the task's words expanded to their concepts;
    scaled by the share of the task's concepts a playbook covers, then boosted by same repository
    and past replay success."""
    from aionisd.matching import covered, labelled

    statuses = None if all_statuses else ("active", "shadow")
    label = labelled(text)
    groups = list(label)
    hits = store.search(service.db, text, statuses=statuses, limit=limit * 3)
    out: list[tuple[float, list[str], dict[str, Any]]] = []
    for pid, ver, rank in hits:
        row = store.by_version(service.db, pid, ver)
        if row is None:
            continue
        doc = store.document(row)
        fields = {
            "name": row["name"],
            "goal": doc.get("goal") or "",
            "commands": " ".join(
                s.get("run") or "" for s in [*doc.get("steps", []), *doc.get("success", [])]
            ),
            "files": " ".join(s.get("path") or "" for s in doc.get("steps", [])),
        }
        got = covered(groups, " ".join(fields.values()))
        score = -rank * (len(got) / len(groups)) ** 2 if groups else 0.0
        why = []
        for fname, ftext in fields.items():
            found = [label[g] for g in covered(groups, ftext)]
            if found:
                why.append(f"{fname}: {', '.join(found)}")
        src_cwd = None
        if row["run_id"] and cwd:
            src_cwd = service.db.one("SELECT cwd FROM runs WHERE id = ?", (row["run_id"],))
        if cwd and src_cwd and _same_repo(cwd, src_cwd):
            score *= 1.5
            why.append("same repository")
        replays, ok = store.replay_stats(service.db, pid)
        if replays:
            score *= 1 + 0.3 * ok / replays
            why.append(f"{ok}/{replays} replays succeeded")
        out.append((score, why, row))
    out.sort(key=lambda x: -x[0])
    ranked = []
    for score, why, row in out[:limit]:
        d = describe(service, row)
        d.update(score=round(score, 4), why=why)
        ranked.append(d)
    return ranked


def _git_root(path: str) -> str:
    """The nearest ancestor holding .git (the path itself when there is none or it is gone)."""
    p = os.path.abspath(path)
    cur = p
    while True:
        if os.path.exists(os.path.join(cur, ".git")):
            return cur
        parent = os.path.dirname(cur)
        if parent == cur:
            return p
        cur = parent


def _same_repo(a: str, b: str) -> bool:
    """Same git repository (or the very same directory where there is none)."""
    return _git_root(a) == _git_root(b)
