"""Repairs never change a playbook silently: proposed -> shadow-validated -> reviewed by a person
(a signed statement) -> a new version, active only when promoted (or auto_promote_on_pass)."""

from __future__ import annotations

import json
import logging
import secrets as pyrandom
import tempfile
import time
from pathlib import Path
from typing import Any

from aionisd import errors
from aionisd.errors import AionisError
from aionisd.events import outcome_line
from aionisd.repair import Failure, Proposal, RepairRequest
from aionisd.repair.patch import InvalidPatch, apply, step_diff
from aionisd.replay.engine import RepairDecision
from aionisd.service import Service
from aionisd.signing import PAYLOAD_TYPE_REVIEW, payload_digest, sign
from aionisd.store import audit
from aionisd.store import events as event_log
from aionisd.store import playbooks as pb_store
from aionisd.store.db import dumps, now

log = logging.getLogger("aionisd.governance")

REVIEW_SCHEMA = "aionis.review/v1"


def new_id() -> str:
    return "rq-" + time.strftime("%Y%m%d%H%M%S") + "-" + pyrandom.token_hex(3)


async def on_failed_step(
    service: Service,
    replay_id: str,
    row: dict[str, Any],
    doc: dict[str, Any],
    index: int,
    step: dict[str, Any],
    res: Any,
    env: dict[str, str],
    params: dict[str, str] | None = None,
) -> RepairDecision | None:
    """Guided replay's hook: ask the repair sources, record what they propose, decide for this
    replay only. The playbook itself is never changed here."""
    from aionisd.repair.sources import RepairConfig, propose

    failure = Failure(res.exit_code, res.stdout[-8192:], (res.stderr or res.error or "")[-8192:])
    req = RepairRequest(doc, index, step, failure)
    proposal, outcomes = await propose(req, RepairConfig.from_section(service.config.repair), env)
    sources = [o.as_dict() for o in outcomes]
    notes = [outcome_line(o) for o in sources]
    log.info("replay %s step %d: %s", replay_id, index, "; ".join(notes))
    if proposal is None:
        return RepairDecision("none", sources=sources)
    wd = service.db.one("SELECT workdir FROM replays WHERE id = ?", (replay_id,))
    repair = record(
        service,
        row,
        proposal,
        failure=failure,
        replay_id=replay_id,
        step_index=index,
        context={"workdir": wd, "params": params or {}, "notes": notes},
        env=env,
    )
    patched = apply(doc, proposal.patch)
    record_d = {
        "repair_id": repair["id"],
        "source": proposal.source,
        "rationale": proposal.rationale,
    }
    if proposal.action == "continue":
        return RepairDecision("continue", record=record_d, sources=sources)
    if proposal.action == "stop":
        return RepairDecision("stop", record=record_d, sources=sources)
    added = len(patched["steps"]) - len(doc["steps"])
    steps = patched["steps"][index : index + added + 1]
    return RepairDecision("retry_with", steps=steps, record=record_d, sources=sources)


def record(
    service: Service,
    row: dict[str, Any],
    proposal: Proposal,
    *,
    failure: Failure | None,
    replay_id: str | None,
    step_index: int | None,
    context: dict[str, Any],
    env: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Store a proposed repair: pending_review when its patch applies, invalid (with why) when not."""
    doc = pb_store.document(row)
    status, invalid = "pending_review", None
    try:
        apply(doc, proposal.patch)
    except InvalidPatch as e:
        status, invalid = "invalid", e.reason
    rid = new_id()
    fail_d = (
        {"exit_code": failure.exit_code, "stdout": failure.stdout, "stderr": failure.stderr}
        if failure
        else {}
    )
    with service.write() as db:
        db.conn.execute(
            "INSERT INTO repairs(id, playbook_id, version, replay_id, step_index, source, rationale, "
            "patch, failure, status, invalid_reason, usage, created_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (
                rid,
                row["id"],
                row["version"],
                replay_id,
                step_index,
                proposal.source,
                proposal.rationale,
                dumps(proposal.patch),
                dumps({**fail_d, "context": context}),
                status,
                invalid,
                dumps(proposal.usage) if proposal.usage else None,
                now(),
            ),
        )
        audit.append(
            db,
            "repair.proposed",
            rid,
            {
                "playbook": row["id"],
                "version": row["version"],
                "source": proposal.source,
                "status": status,
                "invalid_reason": invalid,
            },
        )
        event_log.append(
            db,
            "repair.proposed",
            {
                "id": rid,
                "playbook_id": row["id"],
                "version": row["version"],
                "source": proposal.source,
                "status": status,
            },
        )
    if status == "pending_review" and service.config.governance.auto_shadow_validate:
        if service.config.replay.allow_local_exec:
            start_shadow(service, rid, env or {})
        else:
            with service.write() as db:
                skipped = {"status": "skipped", "sandbox": "none",
                           "reason": "not run: [replay] allow_local_exec = false"}  # fmt: skip
                db.conn.execute("UPDATE repairs SET shadow = ? WHERE id = ?", (dumps(skipped), rid))
    return get(service, rid)


def start_shadow(service: Service, repair_id: str, env: dict[str, str]) -> None:
    nursery = service.nursery
    if nursery is None:
        return
    nursery.start_soon(shadow, service, repair_id, env)


async def shadow(service: Service, repair_id: str, env: dict[str, str]) -> dict[str, Any] | None:
    """Run in the daemon's nursery: whatever goes wrong is logged, never the daemon's end."""
    try:
        return await _shadow(service, repair_id, env)
    except Exception:
        log.exception("shadow validation of %s failed", repair_id)
        return None


async def _shadow(service: Service, repair_id: str, env: dict[str, str]) -> dict[str, Any]:
    """Run the patched playbook strict in a throwaway copy of the replay's workdir."""
    from aionisd.shadow import shadow_validate

    rep = _row(service, repair_id)
    row = pb_store.resolve(service.db, rep["playbook_id"], rep["version"])
    assert row is not None
    patched = apply(pb_store.document(row), rep["patch"])
    ctx = rep["failure"].get("context") or {}
    workdir = Path(ctx.get("workdir") or tempfile.mkdtemp(prefix="aionis-empty-"))
    try:
        result = (
            await shadow_validate(patched, workdir=workdir, params=ctx.get("params") or {}, env=env)
        ).to_dict()
    except Exception as e:
        log.exception("shadow validation of %s crashed", repair_id)
        result = {"status": "failed", "sandbox": "none", "reason": f"shadow run crashed: {e}"}
    with service.write() as db:
        cur = db.one("SELECT status FROM repairs WHERE id = ?", (repair_id,))
        new_status = cur
        if cur == "pending_review" and result["status"] != "passed":
            new_status = "shadow_failed"
        db.conn.execute(
            "UPDATE repairs SET shadow = ?, status = ? WHERE id = ?",
            (dumps(result), new_status, repair_id),
        )
        audit.append(
            db,
            "repair.shadow_finished",
            repair_id,
            {"status": result["status"], "sandbox": result.get("sandbox")},
        )
        event_log.append(
            db,
            "repair.shadow_finished",
            {"id": repair_id, "status": result["status"], "sandbox": result.get("sandbox")},
        )
    if (
        result["status"] == "passed"
        and not service.config.governance.review_required
        and (
            _row(service, repair_id)["status"] == "pending_review"  # a person may have decided meanwhile
        )
    ):
        decide(
            service,
            repair_id,
            "approve",
            note="review_required = false: applied after a passing shadow run",
            actor="aionisd (review_required = false)",
        )
    return result


def propose_human(
    service: Service,
    ref: str,
    version: int | None,
    patch: list[dict[str, Any]],
    rationale: str,
    workdir: str | None,
    params: dict[str, str] | None,
    env: dict[str, str] | None,
) -> dict[str, Any]:
    row = pb_store.resolve(service.db, ref, version)
    if row is None:
        raise AionisError(errors.NOT_FOUND, f"no playbook {ref}")
    proposal = Proposal("human", patch, rationale or "proposed by a person")  # type: ignore[arg-type]
    rep = record(
        service,
        row,
        proposal,
        failure=None,
        replay_id=None,
        step_index=None,
        context={"workdir": workdir, "params": params or {}},
        env=env,
    )
    if rep["status"] == "invalid":
        raise AionisError(
            errors.INVALID_PATCH, f"invalid patch: {rep['invalid_reason']}", {"repair_id": rep["id"]}
        )
    return rep


def decide(
    service: Service,
    repair_id: str,
    decision: str,
    note: str | None = None,
    actor: str | None = None,
) -> dict[str, Any]:
    """Approve (new signed version, status shadow; active if auto_promote_on_pass and the shadow
    run passed) or reject; either way a signed review statement is stored and audited."""
    from aionisd import catalog

    if decision not in ("approve", "reject"):
        raise AionisError(errors.INVALID_PARAMS, "decision must be approve or reject", {"field": "decision"})
    rep = _row(service, repair_id)
    if rep["status"] not in ("pending_review", "shadow_failed"):
        raise AionisError(errors.CONFLICT, f"repair {repair_id} is {rep['status']}, not awaiting review")
    row = pb_store.resolve(service.db, rep["playbook_id"], rep["version"])
    assert row is not None
    base = catalog.check(service, row["envelope"])
    if decision == "approve" and not base.ok:
        # Signing a patched copy would launder an untrusted or tampered playbook into a trusted one.
        raise catalog.refusal(base)
    reviewer = catalog.signer(service)
    shadow_result = rep["shadow"]
    out_pb: dict[str, Any] = {
        "id": row["id"],
        "version": row["version"],
        "status": row["status"],
        "digest": row["digest"],
    }
    # One transaction: the new version, the signed review, the repair's status and any
    # promotion land together or not at all (a daemon killed mid-review leaves nothing half-done).
    with service.write():
        if decision == "approve":
            try:
                patched = apply(pb_store.document(row), rep["patch"])
            except InvalidPatch as e:
                raise AionisError(errors.INVALID_PATCH, f"invalid patch: {e.reason}") from None
            patched["status"] = "shadow"
            info = catalog.store_signed(
                service,
                patched,
                playbook_id=row["id"],
                run_id=row["run_id"],
                repaired_from=row["digest"],
                signed_by=reviewer,
                audit_action="playbook.repaired",
            )
            out_pb = {
                "id": info["id"],
                "version": info["version"],
                "status": "shadow",
                "digest": info["digest"],
            }
        statement = {
            "_type": REVIEW_SCHEMA,
            "subject": [
                {
                    "name": f"{row['id']}@{out_pb['version']}",
                    "digest": {"sha256": out_pb["digest"].split(":", 1)[1]},
                }
            ],
            "predicateType": "https://aionis.dev/review/v1",
            "predicate": {
                "decision": decision,
                "reviewer": reviewer.principal,
                "keyid": reviewer.key.keyid,
                "note": note or "",
                "repair_id": repair_id,
                "repaired_from": row["digest"],
                "shadow": shadow_result,
                "decided_at": now(),
            },
        }
        payload = json.dumps(statement, sort_keys=True, separators=(",", ":")).encode()
        envelope = sign(payload, PAYLOAD_TYPE_REVIEW, reviewer.key)
        new_status = "approved" if decision == "approve" else "rejected"
        with service.write() as db:
            db.conn.execute(
                "INSERT INTO reviews(id, repair_id, decision, reviewer, note, envelope, new_version, "
                "created_at) VALUES (?,?,?,?,?,?,?,?)",
                (
                    "rv-" + payload_digest(payload).split(":", 1)[1][:16],
                    repair_id,
                    decision,
                    reviewer.principal,
                    note,
                    dumps(envelope),
                    out_pb["version"] if decision == "approve" else None,
                    now(),
                ),
            )
            db.conn.execute(
                "UPDATE repairs SET status = ?, decided_at = ? WHERE id = ?",
                (new_status, now(), repair_id),
            )
            audit.append(
                db,
                "review.decided",
                repair_id,
                {
                    "decision": decision,
                    "reviewer": reviewer.principal,
                    "note": note,
                    "new_version": out_pb["version"] if decision == "approve" else None,
                    "statement": payload_digest(payload),
                },
                actor=actor or reviewer.principal,
            )
            event_log.append(
                db,
                "review.decided",
                {
                    "repair_id": repair_id,
                    "decision": decision,
                    "playbook_id": row["id"],
                    "version": out_pb["version"],
                },
            )
            if decision == "approve":
                event_log.append(db, "playbook.status_changed", out_pb)
        passed = bool(shadow_result) and shadow_result.get("status") == "passed"
        if decision == "approve" and service.config.governance.auto_promote_on_pass and passed:
            out_pb = {**out_pb, **catalog.promote(service, row["id"], out_pb["version"], "active")}
    return {
        "repair_id": repair_id,
        "decision": decision,
        "playbook": out_pb,
        "review": {"envelope": envelope},
    }


def _row(service: Service, repair_id: str) -> dict[str, Any]:
    rows = service.db.rows("SELECT * FROM repairs WHERE id = ?", (repair_id,))
    if not rows:
        raise AionisError(errors.NOT_FOUND, f"no repair {repair_id}")
    r = rows[0]
    for k in ("patch", "failure", "shadow", "usage"):
        r[k] = json.loads(r[k]) if r[k] else ({} if k == "failure" else None)
    return r


def get(service: Service, repair_id: str) -> dict[str, Any]:
    r = _row(service, repair_id)
    row = pb_store.resolve(service.db, r["playbook_id"], r["version"])
    diff: list[dict[str, Any]] = []
    if row is not None and r["status"] != "invalid":
        try:
            doc = pb_store.document(row)
            diff = step_diff(doc, apply(doc, r["patch"]))
        except InvalidPatch:
            diff = []
    r["diff"] = diff
    r["playbook_name"] = row["name"] if row else None
    return r


def list_repairs(service: Service, status: str | None, limit: int = 100) -> list[dict[str, Any]]:
    where, params = ("WHERE status = ?", (status, limit)) if status else ("", (limit,))
    ids = [
        r[0]
        for r in service.db.conn.execute(
            f"SELECT id FROM repairs {where} ORDER BY created_at DESC LIMIT ?", params
        )
    ]
    return [get(service, i) for i in ids]
