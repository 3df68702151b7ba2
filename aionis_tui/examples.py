"""Where the example session lives, installed or in a source checkout."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

EXAMPLE = "setup-python-project.jsonl"


def example_session(name: str = EXAMPLE) -> Path | None:
    """The absolute path of the example trace, or None when neither copy exists."""
    candidates = [Path(__file__).resolve().parents[1] / "share" / "examples" / name]
    try:
        packaged = resources.files("aionisd") / "data" / "examples" / name
        candidates.append(Path(str(packaged)))
    except (ModuleNotFoundError, TypeError):
        pass
    for path in candidates:
        if path.is_file():
            return path.resolve()
    return None
