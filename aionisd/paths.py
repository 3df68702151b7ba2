"""Where aionis keeps things (XDG), and the checks that make those places safe to use."""

from __future__ import annotations

import os
import socket
import stat
from dataclasses import dataclass
from pathlib import Path


class UnsafePath(Exception):
    """A directory aionis would trust is owned by someone else or open to others."""


def _xdg(var: str, default: str) -> Path:
    value = os.environ.get(var)
    return Path(value) if value and os.path.isabs(value) else Path.home() / default


def config_dir() -> Path:
    return _xdg("XDG_CONFIG_HOME", ".config") / "aionis"


def data_dir() -> Path:
    return _xdg("XDG_DATA_HOME", ".local/share") / "aionis"


def runtime_dir() -> Path:
    """$XDG_RUNTIME_DIR/aionis, else /tmp/aionis-$UID (checked for owner and mode before use)."""
    base = os.environ.get("XDG_RUNTIME_DIR")
    if base and os.path.isabs(base):
        return Path(base) / "aionis"
    return Path(f"/tmp/aionis-{os.getuid()}")


@dataclass(frozen=True, slots=True)
class Paths:
    config_file: Path
    db: Path
    socket: Path
    keys_dir: Path
    allowed_signers: Path
    revoked_keys: Path
    traces_dir: Path

    @classmethod
    def default(cls) -> Paths:
        cfg, data = config_dir(), data_dir()
        return cls(
            config_file=cfg / "config.toml",
            db=data / "aionis.db",
            socket=runtime_dir() / "aionisd.sock",
            keys_dir=cfg / "keys",
            allowed_signers=cfg / "allowed_signers",
            revoked_keys=cfg / "revoked_keys",
            traces_dir=data / "traces",
        )


def default_socket() -> Path:
    env = os.environ.get("AIONIS_SOCKET")
    return Path(env) if env else runtime_dir() / "aionisd.sock"


def ensure_private_dir(path: Path) -> Path:
    """Create `path` 0700 (under a umask, no chmod race) or check an existing one is ours and closed."""
    old = os.umask(0o077)
    try:
        path.mkdir(parents=True, exist_ok=True, mode=0o700)
    finally:
        os.umask(old)
    st = path.lstat()
    if not stat.S_ISDIR(st.st_mode):
        raise UnsafePath(f"{path} is not a directory")
    if st.st_uid != os.getuid():
        raise UnsafePath(f"{path} is owned by uid {st.st_uid}, not by you (uid {os.getuid()})")
    if st.st_mode & 0o077:
        raise UnsafePath(f"{path} is open to other users (mode {oct(st.st_mode & 0o777)}); want 0700")
    return path


def answers(path: str | Path, timeout: float = 1.0) -> bool:
    """Whether something accepts connections on the socket (a live daemon, not a stale file)."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        s.connect(str(path))
        return True
    except OSError:
        return False
    finally:
        s.close()
