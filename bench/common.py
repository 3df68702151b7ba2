"""What every benchmark shares: a figure record, a throwaway XDG tree, the real daemon."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT.parent / "shared" / "samples"


def figure(name: str, value: float, unit: str, *, floor: float | None, goal: str, ok: bool) -> dict[str, Any]:
    """One row of bench/results.json; ratio is value/floor measured in the same run."""
    ratio = round(value / floor, 3) if floor else None
    return {
        "name": name,
        "value": round(value, 4),
        "unit": unit,
        "floor": None if floor is None else round(floor, 4),
        "ratio": ratio,
        "goal": goal,
        "ok": bool(ok),
    }


def median(xs: list[float]) -> float:
    s = sorted(xs)
    n = len(s)
    return s[n // 2] if n % 2 else (s[n // 2 - 1] + s[n // 2]) / 2


def pct(xs: list[float], q: float) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, round(q * (len(s) - 1)))]


@contextlib.contextmanager
def xdg_tree(config: str = "") -> Iterator[dict[str, str]]:
    with tempfile.TemporaryDirectory(prefix="aionis-bench-") as d:
        root = Path(d)
        (root / "run").mkdir(mode=0o700)
        (root / "home").mkdir()
        env = {
            "XDG_CONFIG_HOME": str(root / "config"),
            "XDG_DATA_HOME": str(root / "data"),
            "XDG_RUNTIME_DIR": str(root / "run"),
            "HOME": str(root / "home"),
        }
        if config:
            (root / "config" / "aionis").mkdir(parents=True)
            (root / "config" / "aionis" / "config.toml").write_text(config)
        yield env


@contextlib.contextmanager
def daemon(env: dict[str, str], *args: str) -> Iterator[subprocess.Popen[bytes]]:
    from aionisd.launch import start_daemon

    proc = start_daemon(args or ("--no-watch",), env={**os.environ, **env}, timeout=60)
    try:
        yield proc
    finally:
        proc.terminate()
        proc.wait(20)


def socket_path(env: dict[str, str]) -> Path:
    return Path(env["XDG_RUNTIME_DIR"]) / "aionis" / "aionisd.sock"


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main(figures: Any) -> None:
    print(json.dumps(figures(), indent=2))
