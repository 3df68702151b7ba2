"""config.toml: defaults without a file; a bad file is one clear line naming the key, never a crash."""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from aionisd.agents import AGENTS


class ConfigError(Exception):
    """One line: the file, the key, what was expected."""


@dataclass(frozen=True, slots=True)
class ReplayConfig:
    allow_local_exec: bool = False
    step_timeout_s: int = 600


@dataclass(frozen=True, slots=True)
class GovernanceConfig:
    review_required: bool = True
    auto_shadow_validate: bool = True
    auto_promote_on_pass: bool = False


def _default_dirs() -> dict[str, str]:
    return {a.watch_key: a.log_dir for a in AGENTS.values()}


@dataclass(frozen=True, slots=True)
class WatchConfig:
    """`[watch]`: a log folder per agent of the registry (keyed and defaulted there; "" turns
    one off) and the longest line read."""

    dirs: dict[str, str] = field(default_factory=_default_dirs)
    max_line_bytes: int = 16 * 1024 * 1024


MIN_LINE_BYTES = 1024  # below this, ordinary records would be skipped as too long


@dataclass(frozen=True, slots=True)
class LlmConfig:
    base_url: str = ""
    model: str = ""
    api_key_env: str = "OPENAI_API_KEY"
    timeout_s: float = 60.0


@dataclass(frozen=True, slots=True)
class RepairSection:
    sources: tuple[str, ...] = ("heuristic", "http", "llm")
    http_url: str = ""
    http_token_env: str = ""
    http_timeout_s: float = 30.0
    llm: LlmConfig = field(default_factory=LlmConfig)


@dataclass(frozen=True, slots=True)
class Config:
    replay: ReplayConfig = field(default_factory=ReplayConfig)
    governance: GovernanceConfig = field(default_factory=GovernanceConfig)
    watch: WatchConfig = field(default_factory=WatchConfig)
    repair: RepairSection = field(default_factory=RepairSection)
    path: Path | None = None

    def summary(self) -> dict[str, Any]:
        """The effective settings, for the audit log (a change between starts is audited)."""
        from dataclasses import asdict

        d = asdict(self)
        d.pop("path")
        d["watch"] = {**d["watch"].pop("dirs"), **d["watch"]}  # flat, as config.toml writes it
        return d

    def watch_dirs(self) -> dict[str, Path]:
        """Each adapter's directory with ~ and $VARS expanded ($XDG_DATA_HOME defaults as XDG says)."""
        from aionisd.paths import data_dir

        data_home = str(data_dir().parent)
        out = {}
        for name, raw in self.watch.dirs.items():
            if raw:
                raw = raw.replace("${XDG_DATA_HOME}", data_home).replace("$XDG_DATA_HOME", data_home)
                out[name] = Path(os.path.expanduser(os.path.expandvars(raw)))
        return out


_PY: dict[str, tuple[type, ...]] = {
    "bool": (bool,),
    "int": (int,),
    "float": (int, float),
    "str": (str,),
}
_EXPECT = {"bool": "true or false", "int": "an integer", "float": "a number", "str": "a string"}
_KNOWN_SOURCES = ("heuristic", "http", "llm")


def _section(cls: type, data: Any, where: str, file: Path) -> Any:
    if not isinstance(data, dict):
        raise ConfigError(f"{file}: [{where}] must be a table")
    kw: dict[str, Any] = {}
    known: dict[str, Any] = {f.name: f.type for f in fields(cls)}
    if cls is WatchConfig:
        del known["dirs"]  # its keys are the agents' own
        kw["dirs"] = _default_dirs()
        known.update(dict.fromkeys(kw["dirs"], "str"))
    for key, value in data.items():
        dotted = f"{where}.{key}"
        if key not in known:
            raise ConfigError(f"{file}: unknown key '{dotted}' (expected one of: {', '.join(sorted(known))})")
        typ = known[key]
        if key == "llm" and cls is RepairSection:
            kw[key] = _section(LlmConfig, value, dotted, file)
            continue
        if key == "sources" and cls is RepairSection:
            if not isinstance(value, list) or any(v not in _KNOWN_SOURCES for v in value):
                raise ConfigError(
                    f"{file}: '{dotted}' must be a list drawn from {list(_KNOWN_SOURCES)}, got {value!r}"
                )
            kw[key] = tuple(value)
            continue
        name = typ if isinstance(typ, str) else typ.__name__
        ok = isinstance(value, _PY[name]) and not (name != "bool" and isinstance(value, bool))
        if not ok:
            raise ConfigError(f"{file}: '{dotted}' must be {_EXPECT[name]}, got {value!r}")
        if name in ("int", "float") and value < 0:
            raise ConfigError(f"{file}: '{dotted}' must not be negative, got {value!r}")
        if cls is WatchConfig and key == "max_line_bytes" and value < MIN_LINE_BYTES:
            raise ConfigError(f"{file}: '{dotted}' must be at least {MIN_LINE_BYTES}, got {value!r}")
        if cls is WatchConfig and key in kw["dirs"]:
            kw["dirs"][key] = value
        else:
            kw[key] = value
    return cls(**kw)


def load(path: Path | None = None) -> Config:
    """Read config.toml; a missing file means defaults."""
    from aionisd.paths import Paths

    file = path or Paths.default().config_file
    try:
        raw = file.read_bytes()
    except FileNotFoundError:
        if path is not None:
            raise ConfigError(f"{file}: no such file") from None
        return Config(path=None)
    except OSError as e:
        raise ConfigError(f"{file}: cannot read: {e.strerror}") from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise ConfigError(f"{file}: not valid TOML: {e}") from None
    sections = {"replay": ReplayConfig, "governance": GovernanceConfig, "watch": WatchConfig}
    kw: dict[str, Any] = {}
    for key, value in data.items():
        if key in sections:
            kw[key] = _section(sections[key], value, key, file)
        elif key == "repair":
            kw[key] = _section(RepairSection, value, key, file)
        else:
            raise ConfigError(
                f"{file}: unknown section '{key}' (expected one of: governance, repair, replay, watch)"
            )
    return Config(path=file, **kw)
