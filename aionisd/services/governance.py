"""Repairs never change a playbook silently: proposed -> shadow-validated -> reviewed by a person
(a signed statement) -> a new version, active only when promoted (or auto_promote_on_pass)."""

from __future__ import annotations

import logging
import secrets as pyrandom
import time
from typing import Any

import trio

from aionisd import errors
from aionisd.canonical import canonical_bytes
from aionisd.errors import AionisError
from aionisd.events import outcome_line
from aionisd.model import now
from aionisd.repair import Failure, Proposal, RepairRequest
from aionisd.repair.patch import InvalidPatch, apply, replacement_steps, step_diff
from aionisd.repair.view import review_diff
from aionisd.replay.engine import RepairDecision
from aionisd.replay.runner import CommandResult
from aionisd.replay.snapshot import Base
from aionisd.service import Service
from aionisd.services.catalog import CatalogService, Signer
from aionisd.services.shadow import ShadowService
from aionisd.signing import PAYLOAD_TYPE_REVIEW, payload_digest, sign
from aionisd.store import audit
from aionisd.store import events as event_log
from aionisd.store import playbooks as pb_store
from aionisd.store import repairs as repair_store
from aionisd.store import replays as replay_store
from aionisd.store import reviews as review_store

log = logging.getLogger("aionisd.governance")

REVIEW_SCHEMA = "aionis.review/v1"
# A repair's status as the reviewer reads it ("promoted" when its approved version is active).
STATES = {
    "pending_review": "pending",
    "shadow_failed": "shadow failed",
    "approved": "approved",
    "rejected": "rejected",
    "invalid": "invalid",
}


def new_id() -> str:
    return "rq-" + time.strftime("%Y%m%d%H%M%S") + "-" + pyrandom.token_hex(3)


class GovernanceService:
    """Records proposed repairs, has them shadow-validated in the background (in `nursery`, the
    daemon's; none outside a daemon) and turns a person's decision into a signed review."""

    def __init__(
        self,
        ctx: Service,
        catalog: CatalogService,
        shadow: ShadowService,
        nursery: trio.Nursery | None = None,
    ) -> None:
        self.ctx = ctx
        self.catalog = catalog
        self.shadow_service = shadow
        self.nursery = nursery

    async def on_failed_step(
        self,
        replay_id: str,
        row: dict[str, Any],
        doc: dict[str, Any],
        index: int,
        step: dict[str, Any],
        res: CommandResult,
        env: dict[str, str],
        params: dict[str, str] | None = None,
    ) -> RepairDecision | None:
        """Guided replay's hook: ask the repair sources, record what they propose, decide for this
        replay only. The playbook itself is never changed here."""
        from aionisd.repair.sources import RepairConfig, propose

        failure = Failure(res.exit_code, res.stdout[-8192:], (res.stderr or res.error or "")[-8192:])
        req = RepairRequest(doc, index, step, failure)
        proposal, outcomes = await propose(req, RepairConfig.from_section(self.ctx.config.repair), env)
        sources = [o.as_dict() for o in outcomes]
        notes = [outcome_line(o) for o in sources]
        log.info("replay %s step %d: %s", replay_id, index, "; ".join(notes))
        if proposal is None:
            return RepairDecision("none", sources=sources)
        repair = self.record(
            row,
            proposal,
            failure=failure,
            replay_id=replay_id,
            step_index=index,
            context={
                "workdir": replay_store.workdir(self.ctx.db, replay_id),
                "params": params or {},
                "notes": notes,
            },
            env=env,
        )
        patched = apply(doc, proposal.patch)
        record_d = {
            "repair_id": repair["id"],
            "source": proposal.source,
            "rationale": proposal.rationale,
        }
        if repair.get("repeated"):
            # The proposing source's turn names the earlier decision; a rejected patch is not run.
            sources[-1] = {**sources[-1], "outcome": "repeated", "reason": repair["repeated"]}
            if repair["status"] == "rejected":
                return RepairDecision("stop", record=record_d, sources=sources)
        if proposal.action == "continue":
            return RepairDecision("continue", record=record_d, sources=sources)
        if proposal.action == "stop":
            return RepairDecision("stop", record=record_d, sources=sources)
        steps = replacement_steps(doc, patched, index)
        return RepairDecision("retry_with", steps=steps, record=record_d, sources=sources)

    def record(
        self,
        row: dict[str, Any],
        proposal: Proposal,
        *,
        failure: Failure | None,
        replay_id: str | None,
        step_index: int | None,
        context: dict[str, Any],
        env: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        """Store a proposed repair: pending_review when its patch applies, invalid (with why) when not.
        A patch identical to one pending or decided for the same version and step is not stored
        again: that repair comes back, with `repeated` naming the earlier decision."""
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
        with self.ctx.write() as db:
            earlier = (
                None
                if step_index is None  # a person's proposal answers no failing step: theirs to repeat
                else repair_store.identical(db, row["id"], row["version"], step_index, proposal.patch)
            )
            if earlier is not None:
                return {**self.get(earlier["id"]), "repeated": _earlier_decision(earlier)}
            repair_store.insert(
                db,
                rid,
                playbook_id=row["id"],
                version=row["version"],
                replay_id=replay_id,
                step_index=step_index,
                source=proposal.source,
                rationale=proposal.rationale,
                patch=proposal.patch,
                failure={**fail_d, "context": context},
                status=status,
                invalid_reason=invalid,
                usage=proposal.usage,
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
        if status == "pending_review" and self.ctx.config.governance.auto_shadow_validate:
            if self.ctx.config.replay.allow_local_exec:
                self.start_shadow(rid, env or {})
            else:
                with self.ctx.write() as db:
                    skipped = {"status": "skipped", "sandbox": "none",
                               "reason": "not run: [replay] allow_local_exec = false"}  # fmt: skip
                    repair_store.set_shadow(db, rid, skipped)
        return self.get(rid)

    def start_shadow(self, repair_id: str, env: dict[str, str]) -> None:
        """Hold the proposing replay's start snapshot now, before the replay can end and drop it."""
        if self.nursery is not None:
            self.nursery.start_soon(self.shadow, repair_id, env, self.shadow_service.hold(repair_id))

    async def shadow(
        self, repair_id: str, env: dict[str, str], base: Base | None = None
    ) -> dict[str, Any] | None:
        """Shadow-validate, then apply a passing repair at once where review_required = false.
        Run in the daemon's nursery: whatever goes wrong is logged, never the daemon's end."""
        try:
            result = await self.shadow_service.validate(repair_id, env, base)
            if (
                result["status"] == "passed"
                and not self.ctx.config.governance.review_required
                and repair_store.status(self.ctx.db, repair_id)
                == "pending_review"  # a person may have decided meanwhile
            ):
                self.decide(
                    repair_id,
                    "approve",
                    note="review_required = false: applied after a passing shadow run",
                    actor="aionisd (review_required = false)",
                )
            return result
        except Exception:
            log.exception("shadow validation of %s failed", repair_id)
            return None

    def propose(
        self,
        ref: str,
        version: int | None,
        patch: list[dict[str, Any]],
        rationale: str,
        workdir: str | None,
        params: dict[str, str] | None,
        env: dict[str, str] | None,
    ) -> dict[str, Any]:
        """A repair proposed by a person or an agent, validated like any other."""
        row = pb_store.resolve(self.ctx.db, ref, version)
        if row is None:
            raise AionisError(errors.NOT_FOUND, f"no playbook {ref}")
        proposal = Proposal("human", patch, rationale or "proposed by a person")  # type: ignore[arg-type]
        rep = self.record(
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
        self,
        repair_id: str,
        decision: str,
        note: str | None = None,
        actor: str | None = None,
    ) -> dict[str, Any]:
        """Approve (new signed version, status shadow; active if auto_promote_on_pass and the shadow
        run passed) or reject; either way a signed review statement is stored and audited."""
        if decision not in ("approve", "reject"):
            raise AionisError(
                errors.INVALID_PARAMS, "decision must be approve or reject", {"field": "decision"}
            )
        rep = self._row(repair_id)
        if rep["status"] not in ("pending_review", "shadow_failed"):
            raise AionisError(errors.CONFLICT, f"repair {repair_id} is {rep['status']}, not awaiting review")
        row = pb_store.resolve(self.ctx.db, rep["playbook_id"], rep["version"])
        assert row is not None
        # Signing a patched copy would launder an untrusted or tampered playbook into a trusted one.
        self.catalog.check_trusted(row["envelope"], required=decision == "approve")
        reviewer = self.catalog.signer()
        shadow_result = rep["shadow"]
        out_pb: dict[str, Any] = {
            "id": row["id"],
            "version": row["version"],
            "status": row["status"],
            "digest": row["digest"],
        }
        # One transaction: the new version, the signed review, the repair's status and any
        # promotion land together or not at all (a daemon killed mid-review leaves nothing half-done).
        with self.ctx.write():
            if decision == "approve":
                out_pb = self._new_version(row, rep["patch"], reviewer)
            payload = _statement(row, out_pb, decision, reviewer, note, repair_id, shadow_result)
            envelope = sign(payload, PAYLOAD_TYPE_REVIEW, reviewer.key)
            new_version = out_pb["version"] if decision == "approve" else None
            with self.ctx.write() as db:
                review_store.insert(
                    db,
                    "rv-" + payload_digest(payload).split(":", 1)[1][:16],
                    repair_id=repair_id,
                    decision=decision,
                    reviewer=reviewer.principal,
                    note=note,
                    envelope=envelope,
                    new_version=new_version,
                )
                repair_store.decided(db, repair_id, "approved" if decision == "approve" else "rejected")
                audit.append(
                    db,
                    "review.decided",
                    repair_id,
                    {
                        "decision": decision,
                        "reviewer": reviewer.principal,
                        "note": note,
                        "new_version": new_version,
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
            if decision == "approve" and self.ctx.config.governance.auto_promote_on_pass and passed:
                promoted = self.catalog.promote(row["id"], out_pb["version"], "active", actor=actor)
                out_pb = {**out_pb, **promoted}
        return {
            "repair_id": repair_id,
            "decision": decision,
            "playbook": out_pb,
            "summary": decision_summary(decision, out_pb),
            "review": {"envelope": envelope},
        }

    def _new_version(
        self, row: dict[str, Any], patch: list[dict[str, Any]], reviewer: Signer
    ) -> dict[str, Any]:
        """The patched playbook, signed by the reviewer, as the lineage's next version (status shadow)."""
        try:
            patched = apply(pb_store.document(row), patch)
        except InvalidPatch as e:
            raise AionisError(errors.INVALID_PATCH, f"invalid patch: {e.reason}") from None
        patched["status"] = "shadow"
        info = self.catalog.store_signed(
            patched,
            playbook_id=row["id"],
            run_id=row["run_id"],
            repaired_from=row["digest"],
            signed_by=reviewer,
            audit_action="playbook.repaired",
        )
        return {"id": info["id"], "version": info["version"], "status": "shadow", "digest": info["digest"]}

    def _row(self, repair_id: str) -> dict[str, Any]:
        r = repair_store.get(self.ctx.db, repair_id)
        if r is None:
            raise AionisError(errors.NOT_FOUND, f"no repair {repair_id}")
        return r

    def get(self, repair_id: str) -> dict[str, Any]:
        """A repair as a reviewer decides on it: its state in words, the decision's note and who
        made it, the step diff its patch makes, and that diff with neighbours (`review_diff`)."""
        r = self._row(repair_id)
        row = pb_store.resolve(self.ctx.db, r["playbook_id"], r["version"])
        diff: list[dict[str, Any]] = []
        shown: list[dict[str, Any]] = []
        if row is not None and r["status"] != "invalid":
            try:
                doc = pb_store.document(row)
                patched = apply(doc, r["patch"])
                diff, shown = step_diff(doc, patched), review_diff(doc, patched)
            except InvalidPatch:
                pass
        r["diff"] = diff
        r["review_diff"] = shown
        r["playbook_name"] = row["name"] if row else None
        review = review_store.latest(self.ctx.db, repair_id)
        r["note"] = review["note"] if review else None
        r["reviewer"] = review["reviewer"] if review else None
        r["new_version"] = review["new_version"] if review else None
        active = False
        if review and review["new_version"] is not None:
            made = pb_store.by_version(self.ctx.db, r["playbook_id"], review["new_version"])
            active = made is not None and made["status"] == "active"
        r["state"] = (
            "promoted" if r["status"] == "approved" and active else STATES.get(r["status"], r["status"])
        )
        return r

    def repairs(self, status: str | None, limit: int = 100) -> list[dict[str, Any]]:
        return [self.get(i) for i in repair_store.ids(self.ctx.db, status, limit)]


def _earlier_decision(rep: dict[str, Any]) -> str:
    """How a replay result names the decision already taken on an identical patch."""
    note = rep.get("decision_note") or "no note"
    if rep["status"] == "rejected":
        return f"rejected before: {note} ({rep['id']})"
    if rep["status"] == "approved":
        return f"approved before: {note} ({rep['id']})"
    if rep["status"] == "shadow_failed":
        return f"already pending as {rep['id']} (its shadow run failed)"
    return f"already pending as {rep['id']}"


def decision_summary(decision: str, pb: dict[str, Any]) -> str:
    """What a decision did, in words: the reviewer must not have to infer whether it is live."""
    if decision == "reject":
        return "rejected: the playbook is unchanged"
    if pb.get("status") == "active":
        return f"approved: v{pb['version']} is now active"
    return f"approved: v{pb['version']} saved as {pb.get('status')}, not active yet"


def _statement(
    row: dict[str, Any],
    out_pb: dict[str, Any],
    decision: str,
    reviewer: Signer,
    note: str | None,
    repair_id: str,
    shadow: dict[str, Any] | None,
) -> bytes:
    """The review statement (an in-toto style subject + predicate) as the bytes that get signed."""
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
            "shadow": shadow,
            "decided_at": now(),
        },
    }
    return canonical_bytes(statement)
