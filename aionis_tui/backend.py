"""The TUI's side of the socket: one connection that reconnects by itself and never misses an event.

It wraps `aionisd.client.AsyncClient`: connect with backoff, subscribe from the last seen `seq`,
resubscribe on `events.overflow` and after a reconnect, and turn -32601 into `NotAvailable` so
screens can say "not available yet" while the daemon grows its methods.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import anyio.abc
from anyio.streams.memory import MemoryObjectSendStream

from aionisd import errors
from aionisd.client import ApiError, AsyncClient, DaemonNotRunning, socket_path

__all__ = ["ApiError", "Backend", "ConnState", "DaemonNotRunning", "NotAvailable"]


def _first(eg: ExceptionGroup[Exception]) -> Exception:
    """The task group's real error: a connection has one reader, so one failure matters."""
    first = eg.exceptions[0]
    return _first(first) if isinstance(first, ExceptionGroup) else first


class NotAvailable(ApiError):
    """The daemon does not know this method (yet)."""


@dataclass(frozen=True, slots=True)
class ConnState:
    connected: bool
    message: str
    attempt: int = 0


EventSink = Callable[[dict[str, Any]], None]
StateSink = Callable[[ConnState], None]


class Backend:
    """A self-healing connection to aionisd; `run()` is the long-lived task that owns it."""

    def __init__(
        self,
        socket: str | Path | None = None,
        *,
        backoff: tuple[float, float] = (0.1, 2.0),
    ) -> None:
        self.socket = socket_path(socket)
        self.backoff = backoff
        self.on_event: EventSink = lambda ev: None
        self.on_state: StateSink = lambda st: None
        self.state = ConnState(False, f"connecting to aionisd on {self.socket}")
        self.last_seq: int | None = None
        self.methods: frozenset[str] = frozenset()
        self.events_received = 0
        self.resubscribes = 0
        self.connects = 0
        self._client: AsyncClient | None = None

    def available(self, method: str) -> bool:
        """False only when the daemon told us its method list and `method` is not in it."""
        return not self.methods or method in self.methods

    async def call(self, method: str, /, **params: Any) -> Any:
        client = self._client
        if client is None:
            raise DaemonNotRunning(self.state.message)
        try:
            return await client.call(method, **params)
        except ApiError as e:
            if e.code == errors.METHOD_NOT_FOUND:
                raise NotAvailable(e.code, f"{method} is not available yet", e.data) from e
            raise

    def _set_state(self, state: ConnState) -> None:
        self.state = state
        self.on_state(state)

    def _notify(
        self, control: MemoryObjectSendStream[tuple[str, dict[str, Any]]]
    ) -> Callable[[str, dict[str, Any]], None]:
        """Notifications arrive inside the client's reader: this must never wait on a call."""

        def on_notify(method: str, params: dict[str, Any]) -> None:
            if method == "events.notify":
                seq = params.get("seq")
                if isinstance(seq, int):
                    if self.last_seq is not None and seq <= self.last_seq:
                        return
                    self.last_seq = seq
                self.events_received += 1
                self.on_event(params)
            elif method in ("events.overflow", "connection.lost"):
                try:
                    control.send_nowait((method, params))
                except (anyio.WouldBlock, anyio.ClosedResourceError, anyio.BrokenResourceError):
                    pass

        return on_notify

    async def _subscribe(self, client: AsyncClient) -> None:
        params: dict[str, Any] = {}
        if self.last_seq is not None:
            params["since_seq"] = self.last_seq
        res = await client.call("events.subscribe", **params)
        if self.last_seq is None:
            self.last_seq = int(res.get("last_seq") or 0)

    async def _session(self) -> None:
        """One connection's life: returns when the daemon goes away."""
        send, receive = anyio.create_memory_object_stream[tuple[str, dict[str, Any]]](16)
        client = AsyncClient(self.socket, on_notify=self._notify(send))
        try:
            await self._connected(client, receive)
        except ExceptionGroup as eg:
            raise _first(eg) from None
        finally:
            self._client = None
            send.close()
            with anyio.CancelScope(shield=True):
                await client.aclose()

    async def _connected(
        self,
        client: AsyncClient,
        receive: anyio.abc.ObjectReceiveStream[tuple[str, dict[str, Any]]],
    ) -> None:
        async with anyio.create_task_group() as tg:
            await client.connect(tg)
            self.methods = frozenset(client.server_info.get("methods") or ())
            status = await client.call("status")
            known = int(status.get("last_seq") or 0)
            if self.last_seq is not None and known < self.last_seq:
                self.last_seq = known  # a fresh database: its seqs start again
            await self._subscribe(client)
            self._client = client
            self.connects += 1
            self._set_state(ConnState(True, f"connected to aionisd on {self.socket}"))
            async with receive:
                async for method, _params in receive:
                    if method == "connection.lost":
                        break
                    self.resubscribes += 1
                    await self._subscribe(client)
            tg.cancel_scope.cancel()

    async def run(self) -> None:
        """Connect, and after any loss reconnect with exponential backoff, forever."""
        delay, attempt = self.backoff[0], 0
        while True:
            connects = self.connects
            try:
                await self._session()
                reason = "aionisd stopped"
            except DaemonNotRunning:
                reason = "aionisd is not running"
            except ApiError as e:
                reason = f"aionisd refused the connection ({e.message})"
            except (OSError, anyio.BrokenResourceError, anyio.ClosedResourceError) as e:
                reason = f"lost aionisd ({e})"
            except Exception as e:  # a garbled line or a client bug must not end reconnecting
                reason = f"dropped the connection after {type(e).__name__}: {e}"
            if self.connects > connects:
                delay, attempt = self.backoff[0], 0
            attempt += 1
            self._set_state(
                ConnState(False, f"{reason} on {self.socket}: reconnecting (try {attempt})", attempt)
            )
            await anyio.sleep(delay)
            delay = min(delay * 2, self.backoff[1])
