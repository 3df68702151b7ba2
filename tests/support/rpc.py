"""A raw line-level client for protocol tests: sends bytes, reads JSON lines."""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any


class Raw:
    def __init__(self, path: Path, timeout: float = 10) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect(str(path))
        self.file = self.sock.makefile("rb")
        self.ids = 0

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def read(self) -> dict[str, Any]:
        msg: dict[str, Any] = self.read_any()
        return msg

    def read_any(self) -> Any:
        """The next line's JSON: an object, or a batch's array of responses."""
        line = self.file.readline()
        if not line:
            raise EOFError("connection closed")
        return json.loads(line)

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        self.ids += 1
        req = {"jsonrpc": "2.0", "id": self.ids, "method": method, "params": params}
        self.send(json.dumps(req).encode() + b"\n")
        while True:
            msg = self.read()
            if msg.get("id") == self.ids:
                return msg

    def init(self) -> Raw:
        assert "result" in self.call("initialize", protocolVersion="x", clientInfo={"name": "t"})
        return self

    def close(self) -> None:
        self.file.close()
        self.sock.close()
