"""An MCP client session on `aionis mcp` against the real daemon."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from mcp import ClientSession, StdioServerParameters, stdio_client

from tests.conftest import Xdg


@asynccontextmanager
async def session(xdg: Xdg, sock: Path, log: Path) -> AsyncIterator[ClientSession]:
    server = StdioServerParameters(
        command=sys.executable, args=["-m", "aionisd.cli", "mcp", "--socket", str(sock)], env=xdg.env
    )
    with log.open("a") as err:
        async with stdio_client(server, errlog=err) as (r, w), ClientSession(r, w) as s:
            await s.initialize()
            yield s


async def call(s: ClientSession, name: str, /, **args: Any) -> dict[str, Any]:
    res = await s.call_tool(name, args)
    assert not res.is_error, res.content
    assert res.structured_content is not None
    return dict(res.structured_content)
