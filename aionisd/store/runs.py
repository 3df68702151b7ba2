"""Runs and their steps: events from adapters merged by key, so re-reading never duplicates."""

from __future__ import annotations

import dataclasses
import json
from collections import OrderedDict
from collections.abc import Iterable
from typing import Any
from weakref import WeakKeyDictionary

from aionisd.model import (
    Event,
    IngestError,
    Run,
    RunEvent,
    Step,
    StepEvent,
    Tokens,
    UsageEvent,
    merge_run,
    merge_step,
    now,
    run_id_for,
)
from aionisd.params import walk_strings
from aionisd.secrets import Vault, find_secrets, install_key, redact
from aionisd.store import events as event_log
from aionisd.store.db import Database, dumps, like

_STEP_COLS = (
    "run_id, key, seq, kind, tool, command, input, cwd, status, exit_code, started_at, ended_at, "
    "duration_ms, stdout, stderr, stdout_size, stderr_size, subagent, shell"
)
_RUN_COLS = (
    "id, agent, session_id, cwd, git_branch, goal, model, status, started_at, ended_at, "
    "tokens_input, tokens_output, tokens_cache_creation, tokens_cache_read, playbook_id, "
    "playbook_version, step_count"
)


def _step_from_row(r: tuple[Any, ...]) -> Step:
    return Step(
        key=r[1],
        seq=r[2],
        kind=r[3],
        tool=r[4],
        command=r[5],
        input=json.loads(r[6]),
        cwd=r[7],
        status=r[8],
        exit_code=r[9],
        started_at=r[10],
        ended_at=r[11],
        duration_ms=r[12],
        stdout=r[13],
        stderr=r[14],
        stdout_size=r[15],
        stderr_size=r[16],
        subagent=bool(r[17]),
        shell=r[18],
    )


def _run_from_row(r: tuple[Any, ...]) -> Run:
    return Run(
        id=r[0],
        agent=r[1],
        session_id=r[2],
        cwd=r[3],
        git_branch=r[4],
        goal=r[5],
        model=r[6],
        status=r[7],
        started_at=r[8],
        ended_at=r[9],
        tokens=Tokens(input=r[10], output=r[11], cache_creation=r[12], cache_read=r[13]),
        playbook_id=r[14],
        playbook_version=r[15],
    )


RECENT_RUNS = 64  # runs whose secret values ingest keeps in memory (never on disk)
_recent: WeakKeyDictionary[Database, OrderedDict[str, Vault]] = WeakKeyDictionary()
_STEP_TEXTS = ("command", "cwd", "stdout", "stderr")
_OUTPUTS = frozenset({"stdout", "stderr"})


class _Redactor:
    """The one door recorded text takes into the store: each secret becomes `${NAME}`, named
    once per run. A value named in an earlier batch keeps its name (found by its keyed
    fingerprint in `run_secrets`); one still in memory is also removed where no pattern sees it."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.vaults = _recent.setdefault(db, OrderedDict())
        self.touched: set[str] = set()

    def _vault(self, run_id: str, text: str, output: bool) -> Vault | None:
        vault = self.vaults.get(run_id)
        if vault is not None:
            self.vaults.move_to_end(run_id)
            return vault
        if not find_secrets(text, output=output):
            return None
        vault = Vault(key=install_key(self.db.path.parent))
        for name, fp in self.db.conn.execute(
            "SELECT name, fingerprint FROM run_secrets WHERE run_id = ?", (run_id,)
        ):
            vault.remember(name, fp)
        self.vaults[run_id] = vault
        while len(self.vaults) > RECENT_RUNS:
            self.vaults.popitem(last=False)
        return vault

    def text(self, run_id: str, text: str, output: bool = False) -> str:
        vault = self._vault(run_id, text, output) if text else None
        if vault is None:
            return text
        self.touched.add(run_id)
        return vault.redact(text, output=output)

    def step(self, run_id: str, ev: StepEvent) -> StepEvent:
        changes: dict[str, Any] = {
            f: self.text(run_id, v, f in _OUTPUTS) for f in _STEP_TEXTS if (v := getattr(ev, f)) is not None
        }
        if ev.input is not None:
            changes["input"] = walk_strings(ev.input, lambda v: self.text(run_id, v))
        return dataclasses.replace(ev, **changes)

    def run(self, run_id: str, ev: RunEvent) -> RunEvent:
        return ev if ev.goal is None else dataclasses.replace(ev, goal=self.text(run_id, ev.goal))

    def flush(self) -> None:
        """Keep each name with its fingerprint (the values themselves are never written)."""
        self.db.conn.executemany(
            "INSERT OR IGNORE INTO run_secrets(run_id, name, fingerprint) VALUES (?,?,?)",
            [(rid, name, fp) for rid in self.touched for fp, name in self.vaults[rid].prints.items()],
        )


class _Batch:
    """Rows touched by one ingest batch, written once at the end (the hot path of ingest)."""

    def __init__(self, db: Database, source_path: str | None) -> None:
        self.db = db
        self.redactor = _Redactor(db)
        self.source_path = source_path
        self.runs: dict[str, Run] = {}
        self.new_runs: set[str] = set()
        self.changed_runs: set[str] = set()
        self.steps: dict[tuple[str, str], Step] = {}
        self.step_count: dict[str, int] = {}
        self.sessions: dict[str, str] = {}
        self.notes: list[tuple[str, dict[str, Any]]] = []

    def run_for(self, session_id: str, agent: str | None) -> Run:
        rid = self.sessions.get(session_id)
        if rid is None:
            if agent is not None:
                rid = run_id_for(agent, session_id)
            else:
                rid = self.db.one("SELECT id FROM runs WHERE session_id = ?", (session_id,))
                rid = rid or run_id_for("unknown", session_id)
            self.sessions[session_id] = rid
        run = self.runs.get(rid)
        if run is None:
            row = self.db.conn.execute(f"SELECT {_RUN_COLS} FROM runs WHERE id = ?", (rid,)).fetchone()
            if row is None:
                run = Run(id=rid, agent=agent or "unknown", session_id=session_id)
                self.new_runs.add(rid)
                self.step_count[rid] = 0
            else:
                run = _run_from_row(row)
                self.step_count[rid] = row[16]
            self.runs[rid] = run
        return run

    def step(self, run: Run, ev: StepEvent) -> None:
        ev = self.redactor.step(run.id, ev)
        k = (run.id, ev.key)
        st = self.steps.get(k)
        created = False
        if st is None:
            row = self.db.conn.execute(
                f"SELECT {_STEP_COLS} FROM steps WHERE run_id = ? AND key = ?", k
            ).fetchone()
            if row is None:
                self.step_count[run.id] += 1
                st = Step(seq=self.step_count[run.id], key=ev.key)
                created = True
            else:
                st = _step_from_row(row)
            self.steps[k] = st
        before = (st.status, st.exit_code)
        merge_step(st, ev)
        for ts in (ev.started_at, ev.ended_at):
            if ts:
                merge_run(run, RunEvent(run.session_id, run.agent, ts=ts))
        self.changed_runs.add(run.id)
        if created or (st.status, st.exit_code) != before:
            self.notes.append(("step.recorded", {"run_id": run.id, "step": _step_brief(st)}))

    def flush(self) -> None:
        conn = self.db.conn
        for rid, run in self.runs.items():
            if rid not in self.changed_runs and rid not in self.new_runs:
                continue
            conn.execute(
                f"INSERT OR REPLACE INTO runs({_RUN_COLS}, source_path) "
                "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (
                    run.id,
                    run.agent,
                    run.session_id,
                    run.cwd,
                    run.git_branch,
                    run.goal,
                    run.model,
                    run.status,
                    run.started_at,
                    run.ended_at,
                    run.tokens.input,
                    run.tokens.output,
                    run.tokens.cache_creation,
                    run.tokens.cache_read,
                    run.playbook_id,
                    run.playbook_version,
                    self.step_count[rid],
                    self.source_path,
                ),
            )
        conn.executemany(
            f"INSERT OR REPLACE INTO steps({_STEP_COLS}) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            [
                (
                    rid,
                    s.key,
                    s.seq,
                    s.kind,
                    s.tool,
                    s.command,
                    dumps(s.input),
                    s.cwd,
                    s.status,
                    s.exit_code,
                    s.started_at,
                    s.ended_at,
                    s.duration_ms,
                    s.stdout,
                    s.stderr,
                    s.stdout_size,
                    s.stderr_size,
                    int(s.subagent),
                    s.shell,
                )
                for (rid, _), s in self.steps.items()
            ],
        )
        self.redactor.flush()
        for rid in self.new_runs:
            self.notes.insert(0, ("run.started", run_brief(self.runs[rid], self.step_count[rid])))
        for rid in self.changed_runs - self.new_runs:
            self.notes.append(("run.updated", run_brief(self.runs[rid], self.step_count[rid])))


def apply_events(
    db: Database, evs: Iterable[Event], *, source_path: str | None = None
) -> list[tuple[str, dict[str, Any]]]:
    """Merge adapter events into the store (inside the caller's transaction); return notifications."""
    batch = _Batch(db, source_path)
    usage_runs: set[str] = set()
    for ev in evs:
        if isinstance(ev, StepEvent):
            batch.step(batch.run_for(ev.session_id, None), ev)
        elif isinstance(ev, RunEvent):
            run = batch.run_for(ev.session_id, ev.agent)
            merge_run(run, batch.redactor.run(run.id, ev))
            batch.changed_runs.add(run.id)
        elif isinstance(ev, UsageEvent):
            run = batch.run_for(ev.session_id, None)
            db.conn.execute(
                "INSERT INTO usage VALUES (?,?,?,?,?,?,?) ON CONFLICT DO "
                + (
                    "UPDATE SET input=excluded.input, output=excluded.output, "
                    "cache_creation=excluded.cache_creation, cache_read=excluded.cache_read"
                    if ev.cumulative
                    else "NOTHING"
                ),
                (
                    run.id,
                    ev.message_id,
                    ev.input_tokens,
                    ev.output_tokens,
                    ev.cache_creation_tokens,
                    ev.cache_read_tokens,
                    int(ev.cumulative),
                ),
            )
            usage_runs.add(run.id)
        elif isinstance(ev, IngestError):
            reason = redact(ev.reason)  # a parser's message may quote the record it could not read
            db.conn.execute(
                "INSERT INTO ingest_errors(path, offset, reason, ts) VALUES (?,?,?,?)",
                (ev.path or source_path or "", ev.offset, reason, now()),
            )
            batch.notes.append(
                ("ingest.error", {"path": ev.path or source_path, "offset": ev.offset, "reason": reason})
            )
    for rid in usage_runs:
        batch.runs[rid].tokens = _tokens(db, rid)
        batch.changed_runs.add(rid)
    batch.flush()
    return batch.notes


def _tokens(db: Database, run_id: str) -> Tokens:
    t = Tokens()
    for cumulative in (0, 1):
        order = "" if not cumulative else "ORDER BY input + output DESC LIMIT 1"
        sel = "SUM(input), SUM(output), SUM(cache_creation), SUM(cache_read)"
        if cumulative:
            sel = "input, output, cache_creation, cache_read"
        row = db.conn.execute(
            f"SELECT {sel} FROM usage WHERE run_id = ? AND cumulative = ? {order}",
            (run_id, cumulative),
        ).fetchone()
        if row and row[0] is not None:
            t.input += row[0]
            t.output += row[1]
            t.cache_creation += row[2]
            t.cache_read += row[3]
    return t


def record(db: Database, evs: Iterable[Event], *, source_path: str | None = None) -> list[int]:
    """Apply events and log their notifications in one transaction; return the new seqs."""
    with db.tx():
        notes = apply_events(db, evs, source_path=source_path)
        return [event_log.append(db, kind, data) for kind, data in notes]


def _step_brief(s: Step) -> dict[str, Any]:
    return {
        "seq": s.seq,
        "key": s.key,
        "kind": s.kind,
        "tool": s.tool,
        "command": s.command,
        "cwd": s.cwd,
        "status": s.status,
        "exit_code": s.exit_code,
        "duration_ms": s.duration_ms,
        "subagent": s.subagent,
    }


def run_brief(run: Run, steps: int) -> dict[str, Any]:
    return {
        "id": run.id,
        "agent": run.agent,
        "session_id": run.session_id,
        "cwd": run.cwd,
        "goal": run.goal,
        "status": run.status,
        "started_at": run.started_at,
        "ended_at": run.ended_at,
        "steps": steps,
        "tokens": {
            "input": run.tokens.input,
            "output": run.tokens.output,
            "cache_creation": run.tokens.cache_creation,
            "cache_read": run.tokens.cache_read,
            "total": run.tokens.total,
        },
        "playbook_id": run.playbook_id,
        "playbook_version": run.playbook_version,
    }


def list_runs(db: Database, limit: int = 200, agent: str | None = None) -> list[dict[str, Any]]:
    where, params = ("WHERE agent = ?", (agent, limit)) if agent else ("", (limit,))
    return [
        run_brief(_run_from_row(r), r[16])
        for r in db.conn.execute(
            f"SELECT {_RUN_COLS} FROM runs {where} ORDER BY COALESCE(started_at, '') DESC, id LIMIT ?",
            params,
        )
    ]


def get_run(db: Database, run_id: str) -> Run | None:
    row = db.conn.execute(f"SELECT {_RUN_COLS} FROM runs WHERE id = ?", (run_id,)).fetchone()
    if row is None:
        matches = db.conn.execute(
            f"SELECT {_RUN_COLS} FROM runs "
            "WHERE id LIKE ? ESCAPE '\\' OR session_id LIKE ? ESCAPE '\\' LIMIT 2",
            (like(run_id, before="%"), like(run_id)),
        ).fetchall()
        if len(matches) != 1:
            return None
        row = matches[0]
    run = _run_from_row(row)
    run.secrets = dict(
        db.conn.execute("SELECT name, fingerprint FROM run_secrets WHERE run_id = ? ORDER BY name", (run.id,))
    )
    run.steps = [
        _step_from_row(r)
        for r in db.conn.execute(f"SELECT {_STEP_COLS} FROM steps WHERE run_id = ? ORDER BY seq", (run.id,))
    ]
    return run


def run_detail(run: Run, *, output: bool = False) -> dict[str, Any]:
    """The `run show --json` shape."""
    steps = []
    for s in run.steps:
        d = _step_brief(s)
        d["started_at"], d["ended_at"] = s.started_at, s.ended_at
        if output:
            d.update(stdout=s.stdout, stderr=s.stderr, input=s.input)
        steps.append(d)
    out = run_brief(run, len(run.steps))
    out["steps"] = steps
    out["git_branch"] = run.git_branch
    out["secrets"] = run.secrets  # NAME -> keyed fingerprint: equal values, equal prints
    return out


def set_run_fields(db: Database, run_id: str, **fields: Any) -> None:
    cols = ", ".join(f"{k} = ?" for k in fields)
    db.conn.execute(f"UPDATE runs SET {cols} WHERE id = ?", (*fields.values(), run_id))


def set_ended(db: Database, run_id: str, status: str) -> None:
    db.conn.execute("UPDATE runs SET status = ?, ended_at = ? WHERE id = ?", (status, now(), run_id))


def cwd(db: Database, run_id: str) -> str | None:
    c = db.one("SELECT cwd FROM runs WHERE id = ?", (run_id,))
    return None if c is None else str(c)


def cost(db: Database, run_id: str) -> tuple[int, float | None] | None:
    """(tokens spent, duration in ms) of a run; None for an unknown run."""
    row = db.conn.execute(
        "SELECT tokens_input + tokens_output + tokens_cache_creation + tokens_cache_read, "
        "(julianday(ended_at) - julianday(started_at)) * 86400000 FROM runs WHERE id = ?",
        (run_id,),
    ).fetchone()
    return None if row is None else (row[0], row[1])


def ids_from_source(db: Database, source_path: str) -> list[str]:
    return [str(r[0]) for r in db.conn.execute("SELECT id FROM runs WHERE source_path = ?", (source_path,))]


def agent_and_steps(db: Database, run_id: str) -> tuple[str, int] | None:
    row = db.conn.execute("SELECT agent, step_count FROM runs WHERE id = ?", (run_id,)).fetchone()
    return None if row is None else (row[0], row[1])


def for_session(db: Database, session_id: str) -> tuple[str, int] | None:
    """(run id, step count) of the run recorded for an agent session, if any."""
    row = db.conn.execute("SELECT id, step_count FROM runs WHERE session_id = ?", (session_id,)).fetchone()
    return None if row is None else (row[0], row[1])


def counts(db: Database) -> dict[str, int]:
    return {
        "runs": int(db.one("SELECT COUNT(*) FROM runs")),
        "steps": int(db.one("SELECT COUNT(*) FROM steps")),
        "playbooks": int(db.one("SELECT COUNT(*) FROM playbooks")),
        "repairs_pending": int(db.one("SELECT COUNT(*) FROM repairs WHERE status = 'pending_review'")),
        "ingest_errors": int(db.one("SELECT COUNT(*) FROM ingest_errors")),
    }
