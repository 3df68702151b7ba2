from __future__ import annotations

from pathlib import Path

import pytest

from aionisd.config import ConfigError, load
from tests.conftest import Xdg


def test_missing_file_gives_the_documented_defaults(xdg: Xdg) -> None:
    c = load()
    assert c.replay.allow_local_exec is False
    assert c.replay.step_timeout_s == 600
    assert c.governance.review_required is True
    assert c.governance.auto_shadow_validate is True
    assert c.governance.auto_promote_on_pass is False
    dirs = c.watch_dirs()
    assert dirs["claude_code"] == Path(xdg.env["HOME"]) / ".claude/projects"
    assert dirs["native"] == Path(xdg.env["XDG_DATA_HOME"]) / "aionis/traces"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[replay]\nallow_local_exec = 1\n", "'replay.allow_local_exec' must be true or false"),
        ("[replay]\nstep_timeout_s = 'x'\n", "'replay.step_timeout_s' must be an integer"),
        ("[replay]\nstep_timeout_s = -1\n", "'replay.step_timeout_s' must not be negative"),
        ("[governance]\nreview_requried = true\n", "unknown key 'governance.review_requried'"),
        ("[nope]\n", "unknown section 'nope'"),
        ("[repair]\nsources = ['magic']\n", "'repair.sources' must be a list drawn from"),
        ("[repair.llm]\nmodel = 3\n", "'repair.llm.model' must be a string"),
        ("this is = = not toml", "not valid TOML"),
    ],
)
def test_bad_file_is_one_line_naming_file_and_key(xdg: Xdg, text: str, message: str) -> None:
    xdg.write_config(text)
    with pytest.raises(ConfigError) as e:
        load()
    msg = str(e.value)
    assert msg.startswith(str(xdg.config_file)) and message in msg and "\n" not in msg


def test_values_are_read(xdg: Xdg) -> None:
    xdg.write_config(
        "[replay]\nallow_local_exec = true\n[governance]\nauto_promote_on_pass = true\n"
        "[repair]\nsources = ['http']\nhttp_url = 'http://127.0.0.1:1/'\n"
    )
    c = load()
    assert c.replay.allow_local_exec and c.governance.auto_promote_on_pass
    assert c.repair.sources == ("http",)
