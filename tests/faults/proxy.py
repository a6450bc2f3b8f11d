"""A real TCP proxy on loopback: counts connection attempts, and can stall or cut the traffic.

Put one in front of the server for each client under test: `attempts` then counts that client's
connection attempts (also the refused ones while the server is down), and `stall()` freezes
both directions without closing anything, like a dead Wi-Fi link or a hung router.
"""

from __future__ import annotations

import asyncio
import time

__all__ = ["TcpProxy"]


class TcpProxy:
    """Forwards 127.0.0.1:<port> to an upstream host:port, byte for byte."""

    def __init__(self, upstream_host: str, upstream_port: int) -> None:
        self.upstream = (upstream_host, upstream_port)
        self.port = 0
        self.attempts: list[float] = []  # monotonic time of every accepted client connection
        self.refused = 0  # attempts the upstream refused (server down)
        self._flowing = asyncio.Event()
        self._flowing.set()
        self._server: asyncio.AbstractServer | None = None
        self._links: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task] = set()

    async def start(self) -> "TcpProxy":
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    def url(self, path: str = "/ws", scheme: str = "ws") -> str:
        return f"{scheme}://127.0.0.1:{self.port}{path}"

    def attempts_between(self, start: float, end: float) -> int:
        return sum(1 for t in self.attempts if start <= t <= end)

    def stall(self) -> None:
        """Stop moving bytes in both directions; connections stay open."""
        self._flowing.clear()

    def resume(self) -> None:
        self._flowing.set()

    def cut(self) -> None:
        """Drop every open connection abruptly (no close handshake)."""
        for writer in tuple(self._links):
            writer.transport.abort()
        self._links.clear()

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        self.cut()
        for task in tuple(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.attempts.append(time.monotonic())
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.upstream)
        except OSError:
            self.refused += 1
            writer.transport.abort()
            return
        self._links.update((writer, up_writer))
        a = asyncio.ensure_future(self._pump(reader, up_writer))
        b = asyncio.ensure_future(self._pump(up_reader, writer))
        self._tasks.update((a, b))
        try:
            await asyncio.wait({a, b}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (a, b):
                task.cancel()
            for w in (writer, up_writer):
                w.transport.abort()
                self._links.discard(w)
            self._tasks.difference_update((a, b))

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            data = await reader.read(65536)
            if not data:
                return
            await self._flowing.wait()
            writer.write(data)
            await writer.drain()
