"""The headline, on real logs: for each sample session that compiles to a replayable playbook, the
agent's recorded tokens and wall time against a replay's (0 tokens).

Most kept commands need the network or the original machine (`go get`, `gh`, `git push`), so a
replay cannot run them here: a replay's time is taken as the sum of the recorded durations of
the commands the playbook kept (its steps and success checks); file steps cost ~0. The agent's
wall time is its session's first-to-last timestamp, human pauses included: that is what reasoning
again costs a person waiting on it."""

from __future__ import annotations

import sys
from typing import Any

from bench.common import SAMPLES, figure, main, median

DIRS = ["claude-code", "codex", "gemini-cli", "procedural/claude-code", "procedural/codex"]


def sample_rows() -> list[dict[str, Any]]:
    from aionisd.agents import parse_file
    from aionisd.agents.base import UnknownFormatError
    from aionisd.compile import NothingToReplay, compile_run
    from aionisd.model import fold
    from aionisd.params import infer_home

    rows = []
    for d in DIRS:
        for path in sorted((SAMPLES / d).glob("*.json*")):
            try:
                runs = fold(parse_file(path))
            except UnknownFormatError:
                continue
            for run in runs:
                try:
                    doc = compile_run(run).doc
                except NothingToReplay:
                    rows.append({"sample": f"{d}/{path.name}", "replayable": False})
                    continue
                rows.append({"sample": f"{d}/{path.name}", "replayable": True, **cost(run, doc, infer_home)})
    return rows


def cost(run: Any, doc: dict[str, Any], infer_home: Any) -> dict[str, Any]:
    home = infer_home(run.cwd or "") or ""
    unused = [s for s in run.steps if s.kind == "command" and s.command]
    replay_ms, matched, unmatched = 0, 0, 0
    for step in [*doc["steps"], *doc.get("success", [])]:
        if not step.get("run"):
            continue
        text = step["run"].replace("${workdir}", run.cwd or "").replace("${home}", home)
        hit = next((s for s in reversed(unused) if s.command and s.command.strip() == text.strip()), None)
        if hit is None:
            unmatched += 1
            continue
        unused.remove(hit)
        matched += 1
        replay_ms += hit.duration_ms or 0
    agent_ms = doc["source"].get("duration_ms") or 0
    tokens = doc["source"]["tokens"]["total"] if isinstance(doc["source"].get("tokens"), dict) else 0
    return {
        "steps": len(doc["steps"]),
        "checks": len(doc.get("success", [])),
        "agent_ms": agent_ms,
        "agent_tokens": tokens,
        "replay_ms": replay_ms,
        "commands_costed": matched,
        "commands_uncosted": unmatched,
        "speedup": round(agent_ms / replay_ms, 1) if replay_ms else None,
    }


def figures() -> list[dict[str, Any]]:
    rows = sample_rows()
    ok = [r for r in rows if r["replayable"] and r.get("speedup")]
    for r in rows:
        if r["replayable"]:
            print(
                f"{r['sample']}: {r['steps']} steps + {r['checks']} checks; "
                f"agent {r['agent_ms'] / 1000:.0f}s "
                f"{r['agent_tokens']:,} tokens; replay ~{r['replay_ms'] / 1000:.1f}s 0 tokens "
                f"({r['commands_uncosted']} commands without a recorded duration)",
                file=sys.stderr,
            )
        else:
            print(f"{r['sample']}: nothing to replay", file=sys.stderr)
    speedups = [r["speedup"] for r in ok]
    saved = sum(r["agent_tokens"] for r in ok)
    return [
        figure(
            "headline_median_speedup",
            median(speedups) if speedups else 0,
            "x",
            floor=None,
            goal="replay faster than reasoning again",
            ok=bool(speedups) and median(speedups) > 1,
        )
        | {"samples": len(ok), "method": "recorded durations of kept commands"},
        figure(
            "headline_tokens_saved",
            saved,
            "tokens",
            floor=None,
            goal="per replay of each sample once",
            ok=saved > 0,
        )
        | {"samples": len(ok)},
    ]


if __name__ == "__main__":
    main(figures)
