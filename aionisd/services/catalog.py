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
from aionisd.canonical import canonical_bytes
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
    load_public_line,
    parse_envelope,
    payload_digest,
    save_private,
    sign,
    verify,
)
from aionisd.signing.trust import parse_time
from aionisd.store import audit
from aionisd.store import events as event_log
from aionisd.store import playbooks as store
from aionisd.store import replays as replay_store
from aionisd.store import runs as run_store
from aionisd.store.db import Database


@dataclass(frozen=True, slots=True)
class Signer:
    key: SigningKey
    principal: str


def _stamp(path: Path) -> tuple[int, int] | None:
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    return (st.st_mtime_ns, st.st_size)


def default_principal() -> str:
    return f"{getpass.getuser()}@{socket.gethostname()}"


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


class CatalogService:
    """Compile, sign, store, verify, promote, import and export playbooks; the signing key and the
    trust list live here too, since every one of those operations needs them."""

    def __init__(self, ctx: Service) -> None:
        self.ctx = ctx
        self._trust_cache: dict[tuple[Any, ...], TrustStore] = {}
        self._verify_cache: dict[tuple[Any, ...], Verification] = {}

    def _trust_key(self) -> tuple[Any, ...]:
        a, r = self.ctx.paths.allowed_signers, self.ctx.paths.revoked_keys
        return (str(a), _stamp(a), str(r), _stamp(r))

    def trust_store(self) -> TrustStore:
        """The trust list, re-read only when one of its files changed."""
        key = self._trust_key()
        a, r = self.ctx.paths.allowed_signers, self.ctx.paths.revoked_keys
        ts = self._trust_cache.get(key)
        if ts is None:
            self._trust_cache.clear()
            ts = self._trust_cache[key] = TrustStore.load(a, r)
        return ts

    def key_path(self) -> Path:
        return self.ctx.paths.keys_dir / "id_ed25519"

    def signer(self, *, create: bool = True) -> Signer:
        """The user's key; made (0600) and trusted on first use, so compile works out of the box."""
        path = self.key_path()
        if not path.exists():
            if not create:
                raise AionisError(errors.NO_KEY, "no signing key: run `aionis keys init`")
            self.init_key(default_principal())
        try:
            key = load_private(path)
        except (SigningError, OSError) as e:
            raise AionisError(errors.NO_KEY, f"cannot load signing key {path}: {e}") from None
        if self.trust_store().is_revoked(key.keyid):
            raise AionisError(
                errors.NO_KEY,
                f"your signing key {key.keyid} is revoked: run `aionis keys init` to make a new one",
                {"keyid": key.keyid},
            )
        trusted = self.trust_store().find(key.keyid)
        principal = (
            (trusted[0].principals.split(",")[0] if trusted else "") or key.comment or default_principal()
        )
        return Signer(key, principal)

    def init_key(self, principal: str | None, use: str | None = None) -> dict[str, Any]:
        """Create the signing key, or adopt an existing OpenSSH Ed25519 key (e.g. ~/.ssh/id_ed25519)
        by linking to it, so the secret is never copied; either way, trust it (as `principal`, by
        default the adopted key's comment, else user@host). A revoked key in the way is set aside
        (it can sign nothing trusted), so `keys init` is the one way to a new key."""
        if not principal and use:
            try:
                principal = load_private(Path(use)).comment or None
            except (SigningError, OSError):
                principal = None
        principal = principal or default_principal()
        path = self.key_path()
        if path.exists() or path.is_symlink():
            self._set_aside_revoked(path)
        if use:
            source = Path(use).expanduser().resolve()
            try:
                key = load_private(source)
            except (SigningError, OSError) as e:
                raise AionisError(
                    errors.INVALID_PARAMS, f"cannot use {source}: {e}", {"field": "use"}
                ) from None
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            path.symlink_to(source)
        else:
            key = generate(principal)
            save_private(key, path)
        self.trust_store().add(principal, key.public)
        with self.ctx.write() as db:
            audit.append(db, "key.created", key.keyid, {"principal": principal, "path": str(path)})
            audit.append(db, "key.trusted", key.keyid, {"principal": principal})
        return {
            "keyid": key.keyid,
            "principal": principal,
            "path": str(path),
            "public_key": key.public.to_line(),
        }

    def keys(self) -> dict[str, Any]:
        """The user's key (None before `keys init`) and the trusted and revoked keys."""
        path = self.key_path()
        own = None
        if path.exists():
            k = load_private(path)
            own = {
                "keyid": k.keyid,
                "principal": k.comment,
                "path": str(path),
                "public_key": k.public.to_line(),
            }
        ts = self.trust_store()
        return {"key": own, "trusted": [s.to_dict() for s in ts.list()], "revoked": sorted(ts.revoked)}

    def trust_key(
        self, line: str, principal: str | None, valid_after: str | None, valid_before: str | None
    ) -> dict[str, Any]:
        """Add a public key line to allowed_signers (within the validity window, if given)."""
        try:
            key = load_public_line(line)
            after = parse_time(valid_after) if valid_after else None
            before = parse_time(valid_before) if valid_before else None
            principal = principal or key.comment or "unnamed"
            signer = self.trust_store().add(principal, key, after, before)
        except (SigningError, ValueError) as e:
            raise AionisError(errors.INVALID_PARAMS, str(e), {"field": "public_key"}) from None
        with self.ctx.write() as db:
            audit.append(db, "key.trusted", key.keyid, {"principal": principal})
        return signer.to_dict()

    def revoke_key(self, key: str) -> dict[str, Any]:
        """Add a key (fingerprint or key line) to revoked_keys: its signatures stop being trusted."""
        try:
            keyid = self.trust_store().revoke(key)
        except (SigningError, ValueError) as e:
            raise AionisError(errors.INVALID_PARAMS, str(e), {"field": "keyid"}) from None
        with self.ctx.write() as db:
            audit.append(db, "key.revoked", keyid, {})
        return {"keyid": keyid, "revoked": True}

    def _set_aside_revoked(self, path: Path) -> None:
        """Move a revoked key (and its .pub) to `<name>.revoked-<n>`; an adopted key's link is only
        removed, never its target. Any other key is a conflict."""
        try:
            keyid = load_private(path).keyid
        except (SigningError, OSError):
            keyid = None
        if keyid is None or not self.trust_store().is_revoked(keyid):
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
        with self.ctx.write() as db:
            audit.append(db, "key.set_aside", keyid, {"path": str(path), "suffix": f"revoked-{n}"})

    def check(self, envelope: Any) -> Verification:
        """Verify against the trust list. Listing and search verify every row they show, so results
        are memoised per (envelope, trust files' stamps); a signer with a validity window is always
        re-checked, since time alone can end it."""
        ts = self.trust_store()
        if not isinstance(envelope, dict):
            return verify(envelope, ts, expected_type=PAYLOAD_TYPE_PLAYBOOK)
        sigs = tuple(
            (s.get("keyid"), s.get("sig")) for s in envelope.get("signatures") or [] if isinstance(s, dict)
        )
        key = (envelope.get("payloadType"), envelope.get("payload"), sigs, self._trust_key())
        if not all(isinstance(x, str | None) for x in (*key[:2], *(y for s in sigs for y in s))):
            return verify(envelope, ts, expected_type=PAYLOAD_TYPE_PLAYBOOK)  # malformed: nothing to cache
        v = self._verify_cache.get(key)
        if (
            v is not None
            and v.ok
            and any(e.valid_after is not None or e.valid_before is not None for e in ts.find(v.keyid or ""))
        ):
            v = None
        if v is None:
            if len(self._verify_cache) > 20_000:
                self._verify_cache.clear()
            v = self._verify_cache[key] = verify(envelope, ts, expected_type=PAYLOAD_TYPE_PLAYBOOK)
        return v

    def check_trusted(self, envelope: Any, *, required: bool) -> Verification:
        """`check`, raising its refusal when a trusted signature is `required` and missing."""
        v = self.check(envelope)
        if required and not v.ok:
            raise refusal(v)
        return v

    def verification(self, envelope: Any) -> dict[str, Any]:
        """What `check` says about an envelope, as the API shows it."""
        return verification_dict(self.check(envelope))

    def store_signed(
        self,
        doc: dict[str, Any],
        *,
        playbook_id: str | None,
        run_id: str | None,
        repaired_from: str | None = None,
        signed_by: Signer | None = None,
        audit_action: str = "playbook.compiled",
    ) -> dict[str, Any]:
        """Sign `doc` and store it as the next version of its lineage (a new lineage when None)."""
        s = signed_by or self.signer()
        with self.ctx.write() as db:
            if playbook_id is not None:
                doc["version"] = store.next_version(db, playbook_id)

            payload = canonical_bytes(doc)
            digest = payload_digest(payload)
            if playbook_id is None:
                # The same run compiled again within the second is the same document: that version.
                same = store.by_digest(db, digest)
                if same:
                    return {
                        "id": same[0],
                        "name": doc["name"],
                        "version": same[1],
                        "digest": digest,
                        "new": False,
                    }
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
        self,
        run_id: str,
        *,
        name: str | None,
        params: dict[str, str] | None,
        keep_probes: bool,
        new: bool = False,
    ) -> dict[str, Any]:
        """One playbook per run: a run compiled before gives back its playbook's latest version
        (`new: false`); `new` makes the next version of that playbook instead, recording the run."""
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
        run = run_store.get_run(self.ctx.db, run_id)
        if run is None:
            raise AionisError(errors.NOT_FOUND, f"no run {run_id}")
        try:
            compiled = compile_doc(run, name=name, params=literals or None, keep_probes=keep_probes)
        except NothingToReplay as e:
            raise AionisError(errors.NOTHING_TO_REPLAY, str(e)) from None
        doc = compiled.doc
        lineage = store.lineage_of_run(self.ctx.db, run.id)
        latest = None if lineage is None or new else store.resolve(self.ctx.db, lineage)
        if latest is not None:
            doc = store.document(latest)
            info = {k: latest[k] for k in ("id", "name", "version", "digest")} | {"new": False}
        else:
            info = self.store_signed(doc, playbook_id=lineage, run_id=run.id)
        return {
            **info,
            "steps": len(doc.get("steps", [])),
            "checks": len(doc.get("success", [])),
            "report": compiled.report.to_dict(),
        }

    def describe(self, row: dict[str, Any], *, with_doc: bool = False) -> dict[str, Any]:
        v = self.check(row["envelope"])
        doc = store.document(row)
        replays, ok = replay_store.stats(self.ctx.db, row["id"])
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
            out["versions"] = store.versions(self.ctx.db, row["id"])
            out["repaired_from"] = row["repaired_from"]
        return out

    def latest(self, status: str | None, limit: int) -> list[dict[str, Any]]:
        """The newest version of each playbook (with `status`, if given), described."""
        return [self.describe(r) for r in store.latest(self.ctx.db, status, limit)]

    def get(self, ref: str, version: int | None = None) -> dict[str, Any]:
        row = store.resolve(self.ctx.db, ref, version)
        if row is None:
            what = f"{ref} version {version}" if version else ref
            raise AionisError(errors.NOT_FOUND, f"no playbook {what}")
        return row

    def export(self, ref: str, version: int | None) -> dict[str, Any]:
        row = self.get(ref, version)
        return {
            "id": row["id"],
            "version": row["version"],
            "digest": row["digest"],
            "envelope": row["envelope"],
        }

    def import_envelope(self, envelope: Any) -> dict[str, Any]:
        """Verify first (refuse untrusted with the reason), then parse the same bytes and store."""
        v = self.check(envelope)
        if not v.ok or v.payload is None:
            raise refusal(v)
        doc = json.loads(v.payload)
        from aionisd.playbook import validate

        problems = validate(doc)
        if problems:
            raise AionisError(errors.INVALID_PARAMS, f"not a valid playbook: {problems[0]}")
        digest = payload_digest(v.payload)
        with self.ctx.write() as db:
            existing = store.by_digest(db, digest)
            if existing:
                return {"id": existing[0], "version": doc["version"], "digest": digest, "new": False}
            pid = _lineage_for(db, doc, digest)
            ver = doc["version"]
            if store.has_version(db, pid, ver):
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

    def promote(self, ref: str, version: int, status: str, actor: str | None = None) -> dict[str, Any]:
        """Set a version's status, audited under `actor` (the person who asked; else the daemon)."""
        if status not in store.STATUSES:
            raise AionisError(
                errors.INVALID_PARAMS,
                f"status must be one of {', '.join(store.STATUSES)}",
                {"field": "status"},
            )
        row = self.get(ref, version)
        with self.ctx.write() as db:
            store.set_status(db, row["id"], version, status)
            audit.append(
                db,
                "playbook.status_changed",
                f"{row['id']}@{version}",
                {"from": row["status"], "to": status},
                actor=actor or audit.DAEMON,
            )
            event_log.append(
                db, "playbook.status_changed", {"id": row["id"], "version": version, "status": status}
            )
        return {"id": row["id"], "version": version, "status": status}

    def search(self, text: str, *, cwd: str | None, all_statuses: bool, limit: int) -> list[dict[str, Any]]:
        """BM25 over name, goal, commands and files with the task's words expanded to their concepts;
        scaled by the share of the task's concepts a playbook covers, then boosted by same repository
        and past replay success."""
        from aionisd.matching import covered, labelled

        statuses = None if all_statuses else ("active", "shadow")
        label = labelled(text)
        groups = list(label)
        hits = store.search(self.ctx.db, text, statuses=statuses, limit=limit * 3)
        out: list[tuple[float, list[str], dict[str, Any]]] = []
        for pid, ver, rank in hits:
            row = store.by_version(self.ctx.db, pid, ver)
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
                src_cwd = run_store.cwd(self.ctx.db, row["run_id"])
            if cwd and src_cwd and _same_repo(cwd, src_cwd):
                score *= 1.5
                why.append("same repository")
            replays, ok = replay_store.stats(self.ctx.db, pid)
            if replays:
                score *= 1 + 0.3 * ok / replays
                why.append(f"{ok}/{replays} replays succeeded")
            out.append((score, why, row))
        out.sort(key=lambda x: -x[0])
        ranked = []
        for score, why, row in out[:limit]:
            d = self.describe(row)
            d.update(score=round(score, 4), why=why)
            ranked.append(d)
        return ranked


def _lineage_for(db: Database, doc: dict[str, Any], digest: str) -> str:
    """An imported version joins the lineage of the same name and source; else starts one."""
    src = (doc.get("source") or {}).get("digest")
    for pid in store.ids_named(db, doc["name"]):
        first = store.resolve(db, pid, 1)
        if first and (store.document(first).get("source") or {}).get("digest") == src:
            return pid
    return "pb-" + digest.split(":", 1)[1][:12]


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
