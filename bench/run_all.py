"""`make bench`: run every benchmark, write bench/results.json and the README's table."""

from __future__ import annotations

import importlib
import json
import platform
import sys
import time
import traceback
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
MODULES = ["api_rtt", "ingest", "compile", "replay", "search", "rss", "tui", "headline"]
START, END = "<!-- bench:start -->", "<!-- bench:end -->"


def run(names: list[str]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for name in names:
        t = time.perf_counter()
        print(f"bench {name} ...", file=sys.stderr, flush=True)
        try:
            mod = importlib.import_module(f"bench.{name}")
            figs = mod.figures()
        except Exception:
            traceback.print_exc()
            figs = [
                {
                    "name": f"{name}_failed",
                    "value": None,
                    "unit": "",
                    "floor": None,
                    "ratio": None,
                    "goal": "runs",
                    "ok": False,
                }
            ]
        for f in figs:
            f.setdefault("bench", name)
        out.extend(figs)
        print(f"  {len(figs)} figures in {time.perf_counter() - t:.1f}s", file=sys.stderr)
    return out


def _num(v: float, unit: str) -> str:
    text = f"{int(v):,}" if float(v).is_integer() and abs(v) >= 1e4 else f"{v:g}"
    return f"{text} {unit}".rstrip()


def table(figs: list[dict[str, Any]]) -> str:
    rows = [
        "| figure | value | floor (same run) | ratio | goal | ok |",
        "|---|---|---|---|---|---|",
    ]
    for f in figs:
        v = "-" if f["value"] is None else _num(f["value"], f["unit"])
        fl = "-" if f.get("floor") is None else _num(f["floor"], f["unit"])
        r = "-" if f.get("ratio") is None else f"{f['ratio']:g}x"
        rows.append(f"| {f['name']} | {v} | {fl} | {r} | {f['goal']} | {'yes' if f['ok'] else 'NO'} |")
    return "\n".join(rows)


def main() -> int:
    if sys.argv[1:] == ["--from-results"]:
        saved = json.loads((ROOT / "bench" / "results.json").read_text())
        write_readme(saved["figures"], saved["meta"])
        return 0
    names = sys.argv[1:] or MODULES
    figs = run([n for n in names if (ROOT / "bench" / f"{n}.py").exists()])
    meta = {
        "python": platform.python_version(),
        "machine": platform.machine(),
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    (ROOT / "bench" / "results.json").write_text(json.dumps({"meta": meta, "figures": figs}, indent=2) + "\n")
    write_readme(figs, meta)
    print(table(figs))
    missed = [f["name"] for f in figs if not f["ok"]]
    print(
        f"\n{len(figs) - len(missed)} of {len(figs)} goals met"
        + (f"; missed: {', '.join(missed)}" if missed else "")
    )
    return 0


def write_readme(figs: list[dict[str, Any]], meta: dict[str, Any]) -> None:
    readme = ROOT / "README.md"
    text = readme.read_text()
    if START in text and END in text:
        head, rest = text.split(START, 1)
        _, tail = rest.split(END, 1)
        readme.write_text(
            f"{head}{START}\n{table(figs)}\n\n_Measured {meta['when']} on a "
            f"2-core machine by `make bench`._\n{END}{tail}"
        )


if __name__ == "__main__":
    sys.exit(main())
