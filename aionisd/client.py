"""One client for the daemon socket: `Client` (blocking, for the CLI and hooks: imports only the
stdlib so it starts fast) and `AsyncClient` (anyio: asyncio under Textual, trio in tests)."""

from __future__ import annotations

import itertools
import json
import os
import socket
import struct
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aionisd import errors
from aionisd.api import protocol as p

if TYPE_CHECKING:
    import anyio.abc

CLIENT_INFO = {"name": "aionis", "version": "0.1.0"}


class DaemonNotRunning(Exception):
    """Nothing answers on the socket."""


class ApiError(Exception):
    """An error answered by the daemon."""

    def __init__(self, code: int, message: str, data: Any = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.data = data


def check_peer(sock: socket.socket, path: Path) -> None:
    """Refuse a socket served by another user: it would receive our environment and prompts
    (e.g. one planted in a shared /tmp before the daemon started)."""
    creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    uid = struct.unpack("3i", creds)[1]
    if uid != os.getuid():
        raise DaemonNotRunning(f"refusing {path}: it is served by uid {uid}, not by you (uid {os.getuid()})")


def socket_path(path: str | Path | None = None) -> Path:
    if path:
        return Path(path)
    from aionisd.paths import default_socket

    return default_socket()


def _result(msg: dict[str, Any]) -> Any:
    if "error" in msg:
        err = msg["error"]
        raise ApiError(err.get("code", errors.INTERNAL_ERROR), err.get("message", ""), err.get("data"))
    return msg.get("result")


class Client:
    """Blocking JSON-RPC client; notifications that arrive between responses go to `on_notify`."""

    def __init__(
        self,
        path: str | Path | None = None,
        *,
        timeout: float | None = 30.0,
        on_notify: Callable[[str, dict[str, Any]], None] | None = None,
    ) -> None:
        self.path = socket_path(path)
        self.on_notify = on_notify
        self._ids = itertools.count(1)
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._sock.settimeout(timeout)
        try:
            self._sock.connect(str(self.path))
        except (FileNotFoundError, ConnectionRefusedError) as e:
            self._sock.close()
            raise DaemonNotRunning(f"aionisd is not running (no daemon on {self.path})") from e
        except OSError as e:
            self._sock.close()
            raise DaemonNotRunning(f"cannot reach aionisd on {self.path}: {e.strerror}") from e
        try:
            check_peer(self._sock, self.path)
        except BaseException:
            self._sock.close()
            raise
        self._file = self._sock.makefile("rb")
        self.server_info = self.call("initialize", protocolVersion=p.PROTOCOL_VERSION, clientInfo=CLIENT_INFO)

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._file.close()
        self._sock.close()

    def call(self, method: str, /, **params: Any) -> Any:
        id_ = next(self._ids)
        self._sock.sendall(p.encode({"jsonrpc": "2.0", "id": id_, "method": method, "params": params}))
        while True:
            msg = self.read()
            if msg.get("id") == id_ or ("id" in msg and msg["id"] is None and "error" in msg):
                return _result(msg)

    def read(self) -> dict[str, Any]:
        """The next message; notifications are handed to on_notify and also returned."""
        line = self._file.readline()
        if not line:
            raise DaemonNotRunning("aionisd closed the connection")
        msg: dict[str, Any] = json.loads(line)
        if "method" in msg and "id" not in msg and self.on_notify:
            self.on_notify(msg["method"], msg.get("params") or {})
        return msg


class AsyncClient:
    """anyio client: concurrent calls matched by id; notifications to a callback."""

    def __init__(
        self,
        path: str | Path | None = None,
        on_notify: Callable[[str, dict[str, Any]], Any] | None = None,
    ) -> None:
        self.path = socket_path(path)
        self.on_notify = on_notify
        self._ids = itertools.count(1)
        self._pending: dict[int, Any] = {}
        self._results: dict[int, dict[str, Any]] = {}
        self._stream: anyio.abc.ByteStream | None = None
        self._closed = False
        self.server_info: dict[str, Any] = {}

    async def connect(self, tg: anyio.abc.TaskGroup) -> None:
        import anyio
        import anyio.abc

        try:
            self._stream = await anyio.connect_unix(str(self.path))
        except OSError as e:
            raise DaemonNotRunning(f"aionisd is not running (no daemon on {self.path})") from e
        raw = self._stream.extra(anyio.abc.SocketAttribute.raw_socket)
        try:
            check_peer(raw, self.path)
        except DaemonNotRunning:
            await self._stream.aclose()
            raise
        tg.start_soon(self._reader)
        self.server_info = await self.call(
            "initialize", protocolVersion=p.PROTOCOL_VERSION, clientInfo=CLIENT_INFO
        )

    async def aclose(self) -> None:
        self._closed = True
        if self._stream is not None:
            await self._stream.aclose()

    async def call(self, method: str, /, **params: Any) -> Any:
        import anyio

        if self._stream is None or self._closed:
            raise DaemonNotRunning("not connected to aionisd")
        id_ = next(self._ids)
        done = anyio.Event()
        self._pending[id_] = done
        try:
            await self._stream.send(
                p.encode({"jsonrpc": "2.0", "id": id_, "method": method, "params": params})
            )
            await done.wait()
        except (anyio.BrokenResourceError, anyio.ClosedResourceError, OSError) as e:
            raise DaemonNotRunning("aionisd closed the connection") from e
        finally:
            self._pending.pop(id_, None)
        msg = self._results.pop(id_, None)
        if msg is None:
            raise DaemonNotRunning("aionisd closed the connection")
        return _result(msg)

    async def _reader(self) -> None:
        import anyio

        assert self._stream is not None
        buf = b""
        try:
            while True:
                chunk = await self._stream.receive(65536)
                buf += chunk
                while b"\n" in buf:
                    line, buf = buf.split(b"\n", 1)
                    msg = json.loads(line)
                    if "id" in msg and msg["id"] in self._pending:
                        self._results[msg["id"]] = msg
                        self._pending[msg["id"]].set()
                    elif "method" in msg and self.on_notify is not None:
                        r = self.on_notify(msg["method"], msg.get("params") or {})
                        if hasattr(r, "__await__"):
                            await r
        except (anyio.EndOfStream, anyio.BrokenResourceError, anyio.ClosedResourceError, OSError):
            pass
        finally:
            lost = not self._closed
            self._closed = True
            for ev in list(self._pending.values()):
                ev.set()
            if lost and self.on_notify is not None:
                r = self.on_notify("connection.lost", {})
                if hasattr(r, "__await__"):
                    await r
