"""Compile speed: a synthetic 10,000-step run, mostly exploration like real sessions.

Times `compile_run` with every parse/classify cache cleared before each run (a cold daemon
compiling a run it has never seen), takes the median of a few, and reports it against a floor
measured in the same process: `json.dumps` of the same steps, the least any compiler must do
to read them. Run `python bench/compile.py` for the JSON figures.
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from typing import Any

from aionisd import secrets, shell
from aionisd.compile import compile_run
from aionisd.model import Run, Step, StepStatus, to_dict

STEPS = 10_000
GOAL_S = 1.0
REPEATS = 5
WORKDIR = "/home/dev/proj"


def _command(i: int) -> tuple[str, StepStatus, int | None]:
    """(command, status, exit_code) in a realistic mix: ~55% reads, 15% changes, 10% checks."""
    k = i % 20
    probes = [
        f"sed -n '1,{i % 300 + 20}p' src/mod{i}/file.py",
        f'rg -n "symbol_{i}" src',
        f"git log --oneline -n {i % 50 + 1} -- src/mod{i}",
        f"ls -la {WORKDIR}/src/mod{i}",
        f"cat src/mod{i}/README.md 2>/dev/null | head -40",
        f"git diff --stat HEAD~{i % 9 + 1}",
        f"find src/mod{i} -name '*.py' | xargs grep -l TODO",
        f"cd src/mod{i} && git status --short",
        f'for f in src/mod{i}/*.py; do wc -l "$f"; done',
        f"python3 -c \"import json,sys; print(json.load(open('cfg{i}.json')))\"",
        f"jq '.deps | keys' pkg{i}.json",
    ]
    if k < len(probes):
        return probes[k], "succeeded", 0
    if k == 11:
        return f"mkdir -p build/out{i} && cp src/mod{i}/file.py build/out{i}/", "succeeded", 0
    if k == 12:
        return (
            f"npm install left-pad@1.{i % 9}.0",
            ("failed" if i % 40 == 12 else "succeeded"),
            (1 if i % 40 == 12 else 0),
        )
    if k == 13:
        return f'tmp=$(mktemp -d) && git -C "$tmp" init -q && echo {i} > "$tmp/id"', "succeeded", 0
    if k == 14:
        return (
            f"git add src/mod{i} && git commit -m \"$(cat <<'EOF'\nchange {i}\nEOF\n)\"",
            "succeeded",
            0,
        )
    if k == 15:
        return f"pytest tests/test_mod{i % 97}.py -q", "succeeded", 0
    if k == 16:
        return f"go test ./pkg{i % 53}/... 2>&1 | tail -20", "succeeded", 0
    return f"export API_TOKEN=tok{i:08d}abcdef && ./deploy.sh stage{i % 7}", "not_run", None


def synthetic_run(n: int = STEPS) -> Run:
    steps: list[Step] = []
    for i in range(n):
        key = f"k{i}"
        if i % 10 == 7:
            steps.append(
                Step(
                    seq=i + 1,
                    key=key,
                    kind="file_write",
                    tool="Write",
                    cwd=WORKDIR,
                    status="succeeded",
                    input={
                        "path": f"{WORKDIR}/src/mod{i}/gen.py",
                        "content": f"# generated in {WORKDIR}\nVALUE = {i}\n" * 5,
                    },
                )
            )
        elif i % 10 == 8:
            steps.append(
                Step(
                    seq=i + 1,
                    key=key,
                    kind="file_edit",
                    tool="Edit",
                    cwd=WORKDIR,
                    status="succeeded",
                    input={"path": f"{WORKDIR}/src/mod{i}/file.py", "old": f"x = {i}", "new": f"x = {i + 1}"},
                )
            )
        elif i % 50 == 9:
            steps.append(
                Step(
                    seq=i + 1,
                    key=key,
                    kind="tool",
                    tool="Read",
                    cwd=WORKDIR,
                    status="succeeded",
                    input={"file_path": f"{WORKDIR}/f{i}"},
                )
            )
        else:
            cmd, status, code = _command(i)
            steps.append(
                Step(
                    seq=i + 1,
                    key=key,
                    kind="command",
                    tool="Bash",
                    command=cmd,
                    cwd=WORKDIR,
                    status=status,
                    exit_code=code,
                    duration_ms=150 + i % 900,
                    stdout="ok\n" * (i % 5),
                )
            )
    return Run(
        id="bench:run",
        agent="claude-code",
        session_id="bench",
        cwd=WORKDIR,
        goal="synthetic bench run",
        steps=steps,
    )


def _clear_caches() -> None:
    for fn in (
        shell.parse,
        shell.classify,
        shell.classify_words,
        shell.risk,
        shell.idempotence,
        shell.intent_key,
        shell.lookup,
        secrets._find,
    ):
        fn.cache_clear()


def _median(fn: Any, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        _clear_caches()
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def figures() -> list[dict[str, Any]]:
    run = synthetic_run()
    value = _median(lambda: compile_run(run, now="2026-01-01T00:00:00Z"), REPEATS)
    floor = _median(lambda: json.dumps([to_dict(s) for s in run.steps]), REPEATS)
    report = compile_run(run, now="2026-01-01T00:00:00Z").report.to_dict()
    print(  # the human line goes to stderr: stdout is the JSON figures
        f"compile {STEPS} steps: {value:.3f} s (goal < {GOAL_S} s), floor json.dumps "
        f"{floor:.3f} s, ratio {value / floor:.1f}x; report {report}",
        file=sys.stderr,
    )
    return [
        {
            "name": "compile_10k_steps",
            "value": round(value, 4),
            "unit": "s",
            "floor": round(floor, 4),
            "ratio": round(value / floor, 2),
            "goal": GOAL_S,
            "ok": value < GOAL_S,
        }
    ]


if __name__ == "__main__":
    print(json.dumps(figures()))
