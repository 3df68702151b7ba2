"""Socket round trip of `status` vs a raw trio Unix-socket echo, and the daemon's idle RSS."""

from __future__ import annotations

import socket
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import trio

from bench.common import daemon, figure, main, median, rss_mb, socket_path, xdg_tree

N = 2000


def _client_rtts(path: Path, line: bytes, n: int, init: bytes | None = None) -> list[float]:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(str(path))
    f = s.makefile("rb")
    if init:
        s.sendall(init)
        f.readline()
    out = []
    for _ in range(n):
        t = time.perf_counter()
        s.sendall(line)
        f.readline()
        out.append(time.perf_counter() - t)
    f.close()
    s.close()
    return out


def raw_echo_rtt() -> float:
    """The floor: a trio server that echoes each line, same client, same machine, same run."""
    d = Path(tempfile.mkdtemp(prefix="aionis-echo-"))
    path = d / "echo.sock"
    ready = threading.Event()
    stop = threading.Event()

    async def serve() -> None:
        sock = trio.socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        await sock.bind(str(path))
        sock.listen()
        listener = trio.SocketListener(sock)

        async def handle(stream: trio.SocketStream) -> None:
            buf = b""
            async for chunk in stream:
                buf += chunk
                while b"\n" in buf:
                    line, buf = buf.split(b"\n", 1)
                    await stream.send_all(line + b"\n")

        async with trio.open_nursery() as n:
            n.start_soon(trio.serve_listeners, handle, [listener])
            ready.set()
            while not stop.is_set():
                await trio.sleep(0.05)
            n.cancel_scope.cancel()

    t = threading.Thread(target=trio.run, args=(serve,), daemon=True)
    t.start()
    ready.wait()
    line = b'{"jsonrpc":"2.0","id":1,"method":"status","params":{}}\n'
    _client_rtts(path, line, 200)
    rtts = _client_rtts(path, line, N)
    stop.set()
    t.join()
    return median(rtts)


def figures() -> list[dict[str, Any]]:
    floor = raw_echo_rtt()
    with xdg_tree() as env, daemon(env) as proc:
        path = socket_path(env)
        init = b'{"jsonrpc":"2.0","id":0,"method":"initialize","params":{}}\n'
        line = b'{"jsonrpc":"2.0","id":1,"method":"status","params":{}}\n'
        _client_rtts(path, line, 200, init)
        rtt = median(_client_rtts(path, line, N, init))
        idle = rss_mb(proc.pid)
    return [
        figure(
            "api_rtt_status",
            rtt * 1e6,
            "us",
            floor=floor * 1e6,
            goal="ratio <= 3",
            ok=rtt / floor <= 3,
        ),
        figure("daemon_rss_idle", idle, "MB", floor=None, goal="<= 60 MB", ok=idle <= 60),
    ]


if __name__ == "__main__":
    main(figures)
