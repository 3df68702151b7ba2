"""Replay a playbook in one of three modes over any `Runner`; a library the daemon drives.

The daemon does the gates first (allow_local_exec, signature, trust), supplies the env, the event
sink and, in guided mode, the repair hook, and records what comes back. The engine never mutates
the playbook: guided repairs apply to the replay in progress only.

Cancellation: cancel the caller's trio scope. The running step's process group is killed by the
runner, `replay.step.finished` with status "cancelled" is emitted (shielded, at most 1 s), and
`trio.Cancelled` propagates; `replay.result` keeps the partial result:

    replay = Replay(doc, mode="strict", ...)
    with trio.CancelScope() as scope:
        await replay.run()
    record(replay.result)  # status "cancelled" when scope.cancelled_caught

Events (`on_event(kind, payload)`); every payload has index, id, kind and phase ("step",
"success" for success checks, "repair" for steps a guided repair ran in place of step `index`):
- replay.step.started: attempt, action (what runs, secrets masked);
- replay.output: stream, text (secrets masked; at most `output_event_limit` characters per stream
  and attempt, the last one flagged `truncated`);
- replay.step.finished: attempt, status, exit_code, duration_ms, stdout_size, stderr_size, reason.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import trio

from aionisd.model import OUTPUT_HEAD, to_dict
from aionisd.replay.bind import UnsafeValue, bind_command
from aionisd.replay.checks import (
    BUILTIN_PARAMS,
    PathEscape,
    SimulationReport,
    confine,
    confinement_roots,
    evaluate_preconditions,
    resolve_params,
    simulate,
    step_env,
    substitute,
)
from aionisd.replay.runner import CommandResult, Runner, sha256_hex

Mode = Literal["simulate", "strict", "guided"]
ReplayStatus = Literal["running", "succeeded", "failed", "refused", "partial", "cancelled"]
OutcomeStatus = Literal["running", "succeeded", "failed", "skipped", "not_run", "cancelled"]
Phase = Literal["step", "success", "repair"]
EventSink = Callable[[str, dict[str, Any]], Awaitable[None]]

MASK = "***"
TAIL_CHARS = 2048


@dataclass(slots=True)
class Divergence:
    """Where a replay stopped matching its playbook, and how."""

    step_index: int
    step_id: str
    expected: dict[str, Any]
    got: dict[str, Any]
    output_tail: str
    reason: str
    phase: Phase = "step"


@dataclass(slots=True)
class StepOutcome:
    index: int
    id: str
    status: OutcomeStatus
    exit_code: int | None = None
    duration_ms: int = 0
    stdout: str = ""
    stderr: str = ""
    attempts: int = 0
    kind: str = "command"
    phase: Phase = "step"
    reason: str | None = None
    stdout_size: int = 0
    stderr_size: int = 0


@dataclass(slots=True)
class RepairDecision:
    """What the repair sources say about a failing step, for this replay only.

    `steps` (for "retry_with") run in place of the failing one; `record` is what the daemon stores
    as the proposed repair (e.g. a JSON Patch with its source and rationale); "none" means no
    source proposed anything. `sources` is each asked source's outcome (`{source, outcome,
    reason, tokens}`), kept in the result so a person sees why a repair was rejected or missing.
    """

    action: Literal["retry_with", "continue", "stop", "none"]
    steps: list[dict[str, Any]] | None = None
    record: dict[str, Any] = field(default_factory=dict)
    sources: list[dict[str, Any]] = field(default_factory=list)


RepairHook = Callable[[dict[str, Any], int, dict[str, Any], CommandResult], Awaitable[RepairDecision | None]]


@dataclass(slots=True)
class ReplayResult:
    """`repairs` has one entry per failing step handed to the repair hook: what was decided, the
    steps run in its place, and each source's outcome (`sources`), also when none proposed."""

    status: ReplayStatus
    reason: str = ""
    steps: list[StepOutcome] = field(default_factory=list)
    divergence: Divergence | None = None
    repairs: list[dict[str, Any]] = field(default_factory=list)
    checks: list[StepOutcome] = field(default_factory=list)
    simulation: SimulationReport | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = to_dict(self)
        return out


class Masker:
    """Replaces secret values by `***`, also across chunk boundaries of streamed output.

    `feed` holds back the last len(longest secret)-1 characters (and any secret cut by the chunk
    end) until more text or `flush` shows whether they complete a secret.
    """

    def __init__(self, secrets: Iterable[str]) -> None:
        self.secrets = sorted({s for s in secrets if s}, key=len, reverse=True)
        self.keep = max((len(s) for s in self.secrets), default=1) - 1
        self.carry = ""

    def mask(self, text: str) -> str:
        for s in self.secrets:
            if s in text:
                text = text.replace(s, MASK)
        return text

    def feed(self, text: str) -> str:
        if not self.secrets:
            return text
        buf = self.carry + text
        cut = len(buf) - self.keep
        moved = True
        while moved and cut > 0:
            moved = False
            for s in self.secrets:
                start = buf.find(s, max(0, cut - len(s) + 1))
                if 0 <= start < cut:
                    cut, moved = start, True
        if cut <= 0:
            self.carry = buf
            return ""
        self.carry = buf[cut:]
        return self.mask(buf[:cut])

    def flush(self) -> str:
        out, self.carry = self.mask(self.carry), ""
        return out


class _OutputStream:
    """Output sink of one attempt: masks secrets, caps event volume, finds `stdout_contains`."""

    def __init__(self, replay: Replay, head: dict[str, Any], needle: str | None) -> None:
        self.replay = replay
        self.head = head
        self.needle = needle
        self.found = False
        self.carry = ""
        self.maskers = {n: Masker(replay.secrets) for n in ("stdout", "stderr")}
        self.sent = {"stdout": 0, "stderr": 0}

    async def __call__(self, stream: str, text: str) -> None:
        if self.needle and not self.found and stream == "stdout":
            buf = self.carry + text
            if self.needle in buf:
                self.found = True
            else:
                self.carry = buf[len(buf) - len(self.needle) + 1 :] if len(self.needle) > 1 else ""
        await self._emit(stream, self.maskers[stream].feed(text))

    async def _emit(self, stream: str, text: str) -> None:
        limit, sent = self.replay.output_event_limit, self.sent.get(stream, 0)
        if not text or sent >= limit:
            return
        payload = {**self.head, "stream": stream, "text": text[: limit - sent]}
        if sent + len(text) > limit:
            payload["truncated"] = True
        self.sent[stream] = sent + len(payload["text"])
        await self.replay.on_event("replay.output", payload)

    async def close(self) -> None:
        for stream, masker in self.maskers.items():
            await self._emit(stream, masker.flush())


def _int(v: Any, default: int) -> int:
    try:
        return int(v)
    except (TypeError, ValueError):
        return default


def _float(v: Any, default: float) -> float:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return default
    return f if f > 0 else default


def _steps(obj: Any) -> list[Mapping[str, Any]]:
    return [s for s in obj or () if isinstance(s, Mapping)]


def _skippable(step: Mapping[str, Any]) -> bool:
    """Only a step the compiler marked idempotent may be skipped, and only by its `creates`; an
    older playbook without the mark never skips (its `creates` may sit on a write or an append)."""
    return step.get("idempotent") is True and bool((step.get("expect") or {}).get("creates"))


def _file_sha(path: Path) -> str | None:
    """sha256 of a file's bytes, None when it is missing or unreadable."""
    try:
        with path.open("rb") as f:
            return hashlib.file_digest(f, "sha256").hexdigest()
    except OSError:
        return None


def _sid(step: Mapping[str, Any], index: int, phase: Phase) -> str:
    return str(step.get("id") or f"{'check' if phase == 'success' else 'step'}-{index + 1}")


class Replay:
    """One replay of one playbook; `result` stays current so a cancelled caller can record it."""

    def __init__(
        self,
        doc: Mapping[str, Any],
        *,
        mode: Mode,
        runner: Runner,
        workdir: Path,
        env: Mapping[str, str],
        params: Mapping[str, str],
        on_event: EventSink,
        repair: RepairHook | None = None,
        default_timeout_s: float = 600.0,
        output_event_limit: int = OUTPUT_HEAD,
        run_every_step: bool = False,
    ) -> None:
        """`run_every_step` (shadow runs) skips nothing as already done: a run that is to show a
        patch works must have run each of its steps."""
        self.doc = doc
        self.mode = mode
        self.runner = runner
        self.workdir = Path(workdir)
        self.env = dict(env)
        self.params = dict(params)
        self.on_event = on_event
        self.repair = repair
        self.default_timeout_s = default_timeout_s
        self.output_event_limit = output_event_limit
        self.run_every_step = run_every_step
        self.result = ReplayResult(status="running")
        self.values: dict[str, str] = {}
        self.secrets: list[str] = []
        self._secret_env: dict[str, str] = {}
        self._masker = Masker(())
        self._home: Path | None = None
        self._roots: tuple[str, ...] = ()
        self._current: StepOutcome | None = None
        self._existed: frozenset[Path] = frozenset()  # `creates` paths there before the first step
        self._left: dict[Path, tuple[int, str, str | None]] = {}  # last_write path -> step, sha

    async def run(self) -> ReplayResult:
        try:
            if self.mode == "simulate":
                self._simulate()
            elif self.mode in ("strict", "guided"):
                await self._replay()
            else:
                self._finish("refused", f"unknown replay mode {self.mode!r}")
        except trio.Cancelled:
            await self._cancelled()
            raise
        return self.result

    # ---- modes ----

    def _simulate(self) -> None:
        report = simulate(self.doc, workdir=self.workdir, env=self.env, given_params=self.params)
        r = self.result
        r.simulation = report
        groups: tuple[tuple[list[Any], list[StepOutcome], Phase], ...] = (
            (report.steps, r.steps, "step"),
            (report.checks, r.checks, "success"),
        )
        for plans, dest, phase in groups:
            for p in plans:
                status: OutcomeStatus = "skipped" if p.status == "would_skip" else "not_run"
                reason = "; ".join(p.reasons) if p.reasons else p.status.replace("_", " ")
                dest.append(StepOutcome(p.index, p.id, status, kind=p.kind, reason=reason, phase=phase))
        if report.ok:
            runs = sum(p.status == "would_run" for p in report.steps)
            self._finish("succeeded", f"simulation: {runs} step(s) would run, nothing blocked")
        elif (
            report.problems
            or report.missing_params
            or report.invalid_params
            or not all(c.ok for c in report.preconditions)
        ):
            self._finish("refused", report.summary())
        else:
            self._finish("failed", report.summary())

    async def _replay(self) -> None:
        doc = self.doc
        if not self.workdir.is_dir():
            return self._finish("refused", f"workdir does not exist: {self.workdir}")
        res = resolve_params(doc, self.params, env=self.env, workdir=self.workdir)
        self.values = res.values
        self.secrets = res.secret_values()
        self._secret_env = {n: res.values[n] for n in res.secrets if n in res.values}
        self._masker = Masker(self.secrets)
        self._home = Path(res.values["home"]) if res.values.get("home") else None
        self._roots = confinement_roots(self.workdir, self._home)
        if res.invalid:
            return self._finish("refused", "; ".join(res.invalid))
        if res.missing:
            secret = [n for n in res.missing if n in res.secrets]
            plain = [n for n in res.missing if n not in res.secrets]
            reason = "; ".join(
                [*(["missing parameter(s): " + ", ".join(plain)] if plain else []),
                 *(["missing secret(s) in the replay env: " + ", ".join(secret)] if secret else [])]
            )  # fmt: skip
            return self._finish("refused", reason)
        bad = [c for c in evaluate_preconditions(doc, self.values, self.env, self.workdir) if not c.ok]
        if bad:
            more = f" (and {len(bad) - 1} more)" if len(bad) > 1 else ""
            return self._finish("refused", f"precondition failed: {bad[0].reason}{more}")

        steps, checks = _steps(doc.get("steps")), _steps(doc.get("success"))
        r = self.result
        r.steps = [
            StepOutcome(i, _sid(s, i, "step"), "not_run", kind=str(s.get("kind") or "command"))
            for i, s in enumerate(steps)
        ]
        r.checks = [StepOutcome(j, _sid(c, j, "success"), "not_run") for j, c in enumerate(checks)]
        repaired = False
        skippable = () if self.run_every_step else (s for s in steps if _skippable(s))
        self._existed = frozenset(
            p for p in (self._abs(s["expect"]["creates"]) for s in skippable) if p.exists()
        )
        for i, step in enumerate(steps):
            _, failure = await self._run_step(i, step, "step")
            if failure is None and step.get("last_write") and step.get("path"):
                path = self._confine(step["path"])
                self._left[path] = (i, _sid(step, i, "step"), await trio.to_thread.run_sync(_file_sha, path))
            if failure is None or step.get("optional"):
                continue
            div: Divergence | None = failure[0]
            if self.mode == "guided" and self.repair is not None:
                div = await self._ask_repair(i, step, *failure)
                if div is None:
                    repaired = True
                    continue
            assert div is not None
            return self._fail(div)
        changed = await self._end_state()
        if changed is not None:
            return self._fail(changed)
        first: Divergence | None = None
        for j, check in enumerate(checks):
            _, failure = await self._run_step(j, check, "success")
            if failure is not None and first is None:
                first = failure[0]
        if first is not None:
            return self._fail(first)
        done = f"{len(steps)} step(s) and {len(checks)} success check(s) passed"
        if repaired:
            return self._finish("partial", f"{done} after {len(r.repairs)} repair(s)")
        return self._finish("succeeded", done)

    async def _ask_repair(
        self, index: int, step: Mapping[str, Any], div: Divergence, res: CommandResult
    ) -> Divergence | None:
        """Hand a failing step to the repair hook; None means the replay may go on."""
        assert self.repair is not None
        shown = dataclasses.replace(
            res,
            stdout=self._masker.mask(res.stdout),
            stderr=self._masker.mask(res.stderr),
            error=self._masker.mask(res.error) if res.error else None,
        )
        decision = await self.repair(copy.deepcopy(dict(self.doc)), index, copy.deepcopy(dict(step)), shown)
        if decision is None:
            return div
        entry: dict[str, Any] = {
            "step_index": index,
            "step_id": div.step_id,
            "reason": div.reason,
            "action": decision.action,
            "record": decision.record,
            "sources": decision.sources,
            "steps": [],
            "ok": False,
        }
        self.result.repairs.append(entry)
        if decision.action == "continue":
            entry["ok"] = True
            return None
        if decision.action != "retry_with":
            return div
        for k, replacement in enumerate(_steps(decision.steps)):
            sub = {**replacement, "id": replacement.get("id") or f"{div.step_id}-repair-{k + 1}"}
            outcome, failure = await self._run_step(index, sub, "repair")
            entry["steps"].append(to_dict(outcome))
            if failure is not None and not sub.get("optional"):
                return failure[0]
        entry["ok"] = True
        return None

    # ---- steps ----

    async def _run_step(
        self, index: int, step: Mapping[str, Any], phase: Phase
    ) -> tuple[StepOutcome, tuple[Divergence, CommandResult] | None]:
        kind = "command" if phase == "success" else str(step.get("kind") or "command")
        outcome = StepOutcome(index, _sid(step, index, phase), "running", kind=kind, phase=phase)
        self._current = outcome
        slots = {"step": self.result.steps, "success": self.result.checks}.get(phase)
        if slots is not None and index < len(slots):
            slots[index] = outcome
        head = {"index": index, "id": outcome.id, "kind": kind, "phase": phase}
        expect = step.get("expect") or {}
        retry = step.get("retry") or {}
        attempts = max(1, _int(retry.get("attempts"), 1))
        backoff = max(0.0, _float(retry.get("backoff_s"), 0.0))
        failure: tuple[Divergence, CommandResult] | None = None
        for attempt in range(1, attempts + 1):
            outcome.attempts = attempt
            outcome.status = "running"
            await self.on_event(
                "replay.step.started",
                {**head, "attempt": attempt, "action": self._describe(step, kind)},
            )
            made = self._abs(expect["creates"]) if phase != "success" and _skippable(step) else None
            if made is not None and made in self._existed:
                outcome.status, outcome.reason = "skipped", f"{made} was there before the replay"
                await self._finished(head, outcome)
                return outcome, None
            res, div = await self._attempt(index, outcome.id, kind, step, expect, head, phase)
            outcome.exit_code = res.exit_code
            outcome.duration_ms += res.duration_ms
            outcome.stdout, outcome.stderr = (
                self._masker.mask(res.stdout),
                self._masker.mask(res.stderr),
            )
            outcome.stdout_size, outcome.stderr_size = res.stdout_size, res.stderr_size
            outcome.status = "succeeded" if div is None else "failed"
            outcome.reason = None if div is None else div.reason
            await self._finished(head, outcome)
            if div is None:
                return outcome, None
            failure = (div, res)
            if attempt < attempts and backoff:
                await trio.sleep(backoff)
        return outcome, failure

    async def _finished(self, head: dict[str, Any], o: StepOutcome) -> None:
        await self.on_event(
            "replay.step.finished",
            {
                **head,
                "attempt": o.attempts,
                "status": o.status,
                "exit_code": o.exit_code,
                "duration_ms": o.duration_ms,
                "stdout_size": o.stdout_size,
                "stderr_size": o.stderr_size,
                "reason": o.reason,
            },
        )

    async def _attempt(
        self,
        index: int,
        sid: str,
        kind: str,
        step: Mapping[str, Any],
        expect: Mapping[str, Any],
        head: dict[str, Any],
        phase: Phase,
    ) -> tuple[CommandResult, Divergence | None]:
        started = time.perf_counter()
        expected: dict[str, Any] = {}
        got: dict[str, Any] = {}
        needle = self._sub(expect["stdout_contains"]) if expect.get("stdout_contains") else None
        found = False
        code: int | None = None
        try:
            if kind == "command":
                res, found = await self._command(step, head, needle)
                code = expect.get("exit_code", 0)
                expected["exit_code"], got["exit_code"] = code, res.exit_code
            elif kind == "file_write":
                res = await self._file_write(step)
            elif kind == "file_edit":
                res = await self._file_edit(step)
            elif kind == "tool":
                res = CommandResult(None, error="tool step is not replayable")
            else:
                res = CommandResult(None, error=f"unknown step kind {kind!r}")
        except PathEscape as e:
            res = CommandResult(None, error=str(e))
        if kind != "command":
            res.duration_ms = int((time.perf_counter() - started) * 1000)
        reason: str | None = None
        if res.error:
            got["error"] = reason = self._masker.mask(res.error)
        elif res.timed_out:
            got["timed_out"] = True
            reason = f"timed out after {self._timeout(step):g}s"
        elif "exit_code" in expected and code is not None and res.exit_code != code:
            reason = f"exit code {res.exit_code}, expected {code}"
        if needle is not None:
            found = found or needle in res.stdout
            expected["stdout_contains"], got["stdout_contains"] = self._masker.mask(needle), found
            if not found and reason is None:
                reason = f"stdout does not contain {self._masker.mask(needle)!r}"
        creates = expect.get("creates") if phase != "success" else None
        if creates:
            p = self._abs(creates)
            expected["creates"], got["creates"] = str(p), p.exists()
            if not got["creates"] and reason is None:
                reason = f"did not create {p}"
        if reason is None:
            return res, None
        return res, Divergence(index, sid, expected, got, self._tail(res), reason, phase)

    async def _command(
        self, step: Mapping[str, Any], head: dict[str, Any], needle: str | None
    ) -> tuple[CommandResult, bool]:
        run = step.get("run")
        if not run:
            return CommandResult(None, error="command step has no run"), False
        raw_cwd = step.get("cwd")
        cwd = self._confine(raw_cwd) if raw_cwd and raw_cwd != "${workdir}" else Path(self._roots[0])
        try:
            bound = bind_command(str(run), self.values, roots=self._roots, builtins=BUILTIN_PARAMS)
        except UnsafeValue as e:
            return CommandResult(None, error=str(e)), False
        env = {**self.env, **step_env(step, self.values, self.env), **self._secret_env, **bound.env}
        sink = _OutputStream(self, head, needle)
        res = await self.runner.run_command(
            bound.script,
            shell=str(step.get("shell") or "bash -c"),
            cwd=cwd,
            env=env,
            timeout_s=self._timeout(step),
            on_output=sink,
        )
        await sink.close()
        return res, sink.found

    async def _file_write(self, step: Mapping[str, Any]) -> CommandResult:
        if not step.get("path"):
            return CommandResult(None, error="file_write step has no path")
        path = self._confine(step["path"])
        raw = str(step.get("content") or "")
        content = self._sub(raw)
        sha = step.get("sha256")
        if sha and content != raw and sha256_hex(raw) == str(sha).lower().removeprefix("sha256:"):
            sha = None  # the hash covers the parameterised text, which is intact
        fr = await self.runner.write_file(path, content, str(sha) if sha else None)
        return CommandResult(0 if fr.ok else None, error=None if fr.ok else fr.error)

    async def _file_edit(self, step: Mapping[str, Any]) -> CommandResult:
        if not step.get("path"):
            return CommandResult(None, error="file_edit step has no path")
        path = self._confine(step["path"])
        edits = _steps(step.get("edits")) or [{"old": step.get("old"), "new": step.get("new")}]
        for k, e in enumerate(edits):
            fr = await self.runner.edit_file(
                path, self._sub(e.get("old") or ""), self._sub(e.get("new") or "")
            )
            if not fr.ok:
                where = f"edit {k + 1} of {len(edits)}: " if len(edits) > 1 else ""
                return CommandResult(None, error=f"{where}{fr.error}")
        return CommandResult(0)

    async def _end_state(self) -> Divergence | None:
        """The first file a `last_write` step left that no longer holds what that step left: the
        recording changed it no more, so the replay must end with it as the recording did."""
        for path, (index, sid, sha) in self._left.items():
            now = await trio.to_thread.run_sync(_file_sha, path)
            if now != sha:
                what = "is gone" if now is None else "was changed by a later step"
                return Divergence(
                    index, sid, {"path": str(path), "sha256": sha}, {"path": str(path), "sha256": now},
                    "", f"end state differs from the recording: {path} {what}",
                )  # fmt: skip
        return None

    # ---- helpers ----

    def _sub(self, text: Any) -> str:
        return substitute(str(text), self.values)

    def _confine(self, raw: Any) -> Path:
        return confine(self._sub(raw), self.workdir, self._home, roots=self._roots)

    def _abs(self, raw: Any) -> Path:
        return self.workdir / self._sub(raw)

    def _timeout(self, step: Mapping[str, Any]) -> float:
        return _float(step.get("timeout_s"), self.default_timeout_s)

    def _describe(self, step: Mapping[str, Any], kind: str) -> str:
        """What the step does, for people watching events; secrets masked."""
        if kind == "command":
            return self._masker.mask(self._sub(step.get("run") or ""))
        if kind in ("file_write", "file_edit"):
            verb = "write" if kind == "file_write" else "edit"
            return f"{verb} {self._masker.mask(self._sub(step.get('path') or ''))}"
        return f"{kind} {step.get('tool') or ''}".strip()

    def _tail(self, res: CommandResult) -> str:
        parts = [self._masker.mask(t)[-TAIL_CHARS:] for t in (res.stdout, res.stderr) if t]
        if res.error:
            parts.append(self._masker.mask(res.error))
        return "\n".join(parts)

    def _fail(self, div: Divergence) -> None:
        where = "success check" if div.phase == "success" else "step"
        self.result.divergence = div
        self._finish("failed", f"{where} {div.step_index + 1} ({div.step_id}): {div.reason}")

    def _finish(self, status: ReplayStatus, reason: str) -> None:
        self.result.status = status
        self.result.reason = reason
        self._current = None

    async def _cancelled(self) -> None:
        o = self._current
        self._finish("cancelled", "cancelled")
        if o is None or o.status != "running":
            return
        o.status, o.reason = "cancelled", "cancelled"
        with trio.move_on_after(1) as scope:
            scope.shield = True
            await self.on_event(
                "replay.step.finished",
                {"index": o.index, "id": o.id, "kind": o.kind, "phase": o.phase,
                 "attempt": o.attempts, "status": "cancelled", "exit_code": None,
                 "duration_ms": o.duration_ms, "stdout_size": 0, "stderr_size": 0,
                 "reason": "cancelled"},
            )  # fmt: skip
