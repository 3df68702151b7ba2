"""Import contracts: the daemon never needs Textual; the CLI's status path stays light."""

from __future__ import annotations

import subprocess
import sys


def _modules_after(code: str) -> set[str]:
    out = subprocess.run(
        [sys.executable, "-c", f"{code}\nimport sys; print('\\n'.join(sys.modules))"],
        capture_output=True,
        text=True,
        check=True,
    )
    return set(out.stdout.split())


def test_aionisd_imports_without_textual() -> None:
    mods = _modules_after(
        "import aionisd.daemon, aionisd.api.methods, aionisd.service, aionisd.watch, "
        "aionisd.cli, aionisd.client"
    )
    assert not any(m == "textual" or m.startswith("textual.") for m in mods)


def test_cli_status_path_imports_no_event_loop() -> None:
    mods = _modules_after("import aionisd.cli as c; c.build_parser()")
    heavy = {"trio", "asyncio", "anyio", "textual", "apsw", "cryptography"}
    assert not heavy & {m.split(".")[0] for m in mods}


def test_the_cli_parser_does_not_load_the_agent_registry() -> None:
    """Every `aionis` call builds the parser, `aionis hook` on every prompt: the registry (every
    agent's adapters) loads only when `agents install` checks or lists its names."""
    mods = _modules_after("import aionisd.cli as c; c.build_parser()")
    assert "aionisd.agents" not in mods
