"""A small real workflow, recorded as a native trace while it runs: the agent that tests replay."""

from __future__ import annotations

from pathlib import Path

from tests import conftest
from tests.support.trace_writer import TraceWriter

DEMO = conftest.DATA / "demo"
FILES = ["pyproject.toml", "_build/backend.py", "src/demo/__init__.py", "tests/test_demo.py"]
GOAL = "set up a python project with a venv, install it editable and run its tests"


def record_python_project(workdir: Path, trace: Path, run_id: str = "demo-1") -> Path:
    """Create the demo project in `workdir` for real, writing the trace as it goes."""
    workdir.mkdir(parents=True, exist_ok=True)
    w = TraceWriter(trace, run_id, agent="test-agent", goal=GOAL, cwd=workdir)
    w.bash("ls -la")
    w.bash("python3 -m venv .venv")
    for rel in FILES:
        w.write_file(rel, (DEMO / rel).read_text())
    w.bash("cat pyproject.toml")
    w.bash(".venv/bin/pip install -q --no-index -e .")
    w.bash(".venv/bin/python -m unittest discover -s tests")
    w.end()
    return trace


def tree(root: Path, skip: tuple[str, ...] = (".venv",)) -> dict[str, bytes]:
    """Relative path -> content of every file outside `skip` (for comparing two workdirs)."""
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file()
        and not any(part in skip for part in p.relative_to(root).parts)
        and "__pycache__" not in p.parts
    }
