"""`aionis agents install`: merges into each agent's own files, shows a diff first, is idempotent,
and leaves a file it cannot parse alone."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from aionisd import agents
from aionisd.agents import codex
from aionisd.agents.install import BEGIN, plan_paragraph
from aionisd.config import Config, ConfigError, load
from tests.conftest import ROOT, Xdg

SHARE = ROOT / "share" / "agents"


def install(xdg: Xdg, *args: str, codex_home: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "CODEX_HOME"} | xdg.env
    if codex_home is not None:
        env["CODEX_HOME"] = str(codex_home)
    return subprocess.run([sys.executable, "-m", "aionisd.cli", "agents", "install", *args],
                          env=env, capture_output=True, text=True, timeout=60)  # fmt: skip


def snapshot(*roots: Path) -> dict[str, bytes]:
    return {str(p): p.read_bytes() for r in roots if r.exists() for p in sorted(r.rglob("*")) if p.is_file()}


@pytest.fixture
def project(tmp_path: Path) -> Path:
    p = tmp_path / "proj"
    p.mkdir()
    return p


def test_share_snippets_are_what_install_writes() -> None:
    for rel, text in agents.snippets().items():
        assert (SHARE / rel).read_text() == text, (
            f"share/agents/{rel} is stale: regenerate from agents.snippets()"
        )
        if rel.endswith(".json"):
            json.loads(text)
        elif rel.endswith(".toml"):
            assert tomllib.loads(text)["mcp_servers"]["aionis"]["args"] == ["mcp"]


def test_claude_code_merges_keeps_the_users_settings_and_runs_once(xdg: Xdg, project: Path) -> None:
    (project / ".mcp.json").write_text(json.dumps({"mcpServers": {"db": {"command": "db-mcp"}}}))
    (project / ".claude").mkdir()
    user_hook = {"matcher": "startup", "hooks": [{"type": "command", "command": "echo hi"}]}
    (project / ".claude" / "settings.json").write_text(json.dumps(
        {"permissions": {"allow": ["Bash(ls:*)"]}, "hooks": {"SessionStart": [user_hook]}}))  # fmt: skip
    (project / "CLAUDE.md").write_text("# My project\n\nUse tabs.")

    r = install(xdg, "claude-code", "--project", str(project))
    assert r.returncode == 0, r.stderr
    assert f"+++ {project / '.mcp.json'}" in r.stdout and f"--- {project / 'CLAUDE.md'}" in r.stdout
    assert '+    "aionis": {' in r.stdout
    mcp = json.loads((project / ".mcp.json").read_text())
    assert mcp["mcpServers"]["db"] == {"command": "db-mcp"}
    assert mcp["mcpServers"]["aionis"] == {"type": "stdio", "command": "aionis", "args": ["mcp"], "env": {}}
    settings = json.loads((project / ".claude" / "settings.json").read_text())
    assert settings["permissions"] == {"allow": ["Bash(ls:*)"]}
    start = settings["hooks"]["SessionStart"]
    assert start[0] == user_hook and start[1]["hooks"][0]["command"] == "aionis hook session-start"
    assert settings["hooks"]["UserPromptSubmit"][0]["hooks"][0]["command"] == "aionis hook prompt"
    md = (project / "CLAUDE.md").read_text()
    assert md.startswith("# My project\n\nUse tabs.\n\n" + BEGIN) and "find_playbooks" in md

    before = snapshot(project)
    again = install(xdg, "claude-code", "--project", str(project))
    assert again.returncode == 0, again.stderr
    assert "+++" not in again.stdout and again.stdout.count("already set up:") == 3
    assert snapshot(project) == before


def test_dry_run_shows_the_diff_and_writes_nothing(xdg: Xdg, project: Path) -> None:
    home = Path(xdg.env["HOME"])
    before = snapshot(project, home)
    for agent in agents.installable():
        r = install(xdg, agent, "--dry-run", "--project", str(project))
        assert r.returncode == 0, r.stderr
        assert (
            "--- /dev/null" in r.stdout
            and "would create" in r.stdout
            and "dry run: nothing written" in r.stdout
        )
    assert snapshot(project, home) == before


def test_a_file_that_is_not_json_is_reported_and_left_alone(xdg: Xdg, project: Path) -> None:
    bad = project / ".mcp.json"
    bad.write_text('{"mcpServers": {"db": ')
    r = install(xdg, "claude-code", "--project", str(project))
    assert r.returncode == 1
    assert str(bad) in r.stderr and "not valid JSON" in r.stderr
    assert bad.read_text() == '{"mcpServers": {"db": '
    assert (project / "CLAUDE.md").exists(), "the files it could merge are still written"
    (project / ".claude" / "settings.json").write_text('{"hooks": []}')
    r = install(xdg, "claude-code", "--project", str(project))
    assert r.returncode == 1 and "hooks is not an object" in r.stderr
    assert (project / ".claude" / "settings.json").read_text() == '{"hooks": []}'


def test_an_existing_aionis_server_entry_is_the_users_choice(xdg: Xdg, project: Path) -> None:
    mine = {
        "mcpServers": {"aionis": {"command": "/opt/aionis/bin/aionis", "args": ["mcp", "--socket", "/s"]}}
    }
    (project / ".mcp.json").write_text(json.dumps(mine, indent=2) + "\n")
    r = install(xdg, "claude-code", "--project", str(project))
    assert r.returncode == 0, r.stderr
    assert json.loads((project / ".mcp.json").read_text()) == mine
    assert f"already set up: {project / '.mcp.json'}" in r.stdout


def test_codex_appends_to_config_toml_once(xdg: Xdg, project: Path, tmp_path: Path) -> None:
    codex = tmp_path / "codex-home"
    codex.mkdir()
    (codex / "config.toml").write_text('model = "o4"\n\n[mcp_servers.docs]\ncommand = "docs-mcp"\n')
    r = install(xdg, "codex", "--project", str(project), codex_home=codex)
    assert r.returncode == 0, r.stderr
    assert f"+++ {codex / 'config.toml'}" in r.stdout
    cfg = tomllib.loads((codex / "config.toml").read_text())
    assert cfg["model"] == "o4" and cfg["mcp_servers"]["docs"] == {"command": "docs-mcp"}
    ours = cfg["mcp_servers"]["aionis"]
    assert ours["command"] == "aionis" and ours["args"] == ["mcp"]
    assert BEGIN in (project / "AGENTS.md").read_text()
    before = snapshot(codex, project)
    assert install(xdg, "codex", "--project", str(project), codex_home=codex).returncode == 0
    assert snapshot(codex, project) == before


def test_codex_defaults_to_home_and_refuses_bad_toml(xdg: Xdg, project: Path) -> None:
    home = Path(xdg.env["HOME"])
    assert install(xdg, "codex", "--project", str(project)).returncode == 0
    assert "[mcp_servers.aionis]" in (home / ".codex" / "config.toml").read_text()
    (home / ".codex" / "config.toml").write_text("mcp_servers = { x = 1 }\n")
    r = install(xdg, "codex", "--project", str(project))
    assert r.returncode == 1 and "cannot add [mcp_servers.aionis]" in r.stderr
    assert (home / ".codex" / "config.toml").read_text() == "mcp_servers = { x = 1 }\n"
    (home / ".codex" / "config.toml").write_text("model = \n")
    r = install(xdg, "codex", "--project", str(project))
    assert r.returncode == 1 and "not valid TOML" in r.stderr


def test_gemini_merges_user_settings(xdg: Xdg, project: Path) -> None:
    settings = Path(xdg.env["HOME"]) / ".gemini" / "settings.json"
    settings.parent.mkdir()
    settings.write_text(json.dumps({"theme": "Dracula", "mcpServers": {"gh": {"command": "gh-mcp"}}}))
    r = install(xdg, "gemini", "--project", str(project), "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert [f["status"] for f in out["files"]] == ["updated", "created"]
    data = json.loads(settings.read_text())
    assert data["theme"] == "Dracula" and data["mcpServers"]["gh"] == {"command": "gh-mcp"}
    assert data["mcpServers"]["aionis"]["args"] == ["mcp"]
    assert BEGIN in (project / "GEMINI.md").read_text()
    again = json.loads(install(xdg, "gemini", "--project", str(project), "--json").stdout)
    assert [f["status"] for f in again["files"]] == ["unchanged", "unchanged"]


def test_paragraph_is_added_once_even_after_the_user_edits_around_it(project: Path) -> None:
    md = project / "AGENTS.md"
    first = plan_paragraph(md, None, codex.PARAGRAPH)
    assert first.after == codex.PARAGRAPH
    edited = "# Notes\n" + (first.after or "") + "More notes\n"
    assert plan_paragraph(md, edited, codex.PARAGRAPH).changed is False


def test_the_registry_is_the_one_list_of_agents(tmp_path: Path) -> None:
    """Config keys, their defaults and the watched folders all come from the agents' records."""
    keys = [a.watch_key for a in agents.AGENTS.values()]
    assert len(set(keys)) == len(keys) == len({a.run_agent for a in agents.AGENTS.values()})
    assert Config().watch.dirs == {a.watch_key: a.log_dir for a in agents.AGENTS.values()}
    assert set(Config().watch_dirs()) == set(keys)
    toml = tmp_path / "config.toml"
    toml.write_text("[watch]\n" + "".join(f'{k} = ""\n' for k in keys))
    assert load(toml).watch_dirs() == {}
    toml.write_text('[watch]\ncursor = "~/.cursor"\n')
    with pytest.raises(ConfigError, match="unknown key 'watch.cursor'.*" + ".*".join(sorted(keys))):
        load(toml)
    assert {a.adapters[0] for a in agents.AGENTS.values()} <= set(agents.ALL_ADAPTERS)
