"""`--demo`: the bundled sync server as a child process on a free port, with the demo data."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import time

from .build_info import server_command

__all__ = ["DemoServer", "DemoServerError"]

log = logging.getLogger(__name__)


class DemoServerError(RuntimeError):
    """The demo server exited or never became healthy; the message says what it printed."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class DemoServer:
    """Runs `clinic-server serve --demo --port N` and waits for `GET /healthz` to answer 200.

    From source that is `python -m server`; in a PyInstaller bundle, where `sys.executable` is the
    bundle itself, it is `clinic-desktop --run-server` (see build_info.server_command).
    """

    def __init__(self, port: int | None = None, *, startup_timeout: float = 180.0,
                 command: list[str] | None = None) -> None:
        self.port = port or free_port()
        self.startup_timeout = startup_timeout  # the first run initialises an embedded PostgreSQL
        # "{port}" in any argument is replaced; the default is the bundled server in demo mode.
        self.command = command or server_command("serve", "--demo", "--port", "{port}")
        self.process: asyncio.subprocess.Process | None = None

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws"

    async def start(self) -> str:
        """Start the server and return its WebSocket address once healthy."""
        self.process = await asyncio.create_subprocess_exec(
            *(part.replace("{port}", str(self.port)) for part in self.command),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self.process.returncode is not None:
                raise DemoServerError(f"the demo server exited ({self.process.returncode}): {await self._stderr_tail()}")
            if await self._healthy():
                return self.ws_url
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self.process.wait(), 0.25)
        await self.stop()
        raise DemoServerError("the demo server did not become ready in time")

    async def _healthy(self) -> bool:
        try:
            reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", self.port), 2)
        except (OSError, asyncio.TimeoutError):
            return False
        try:
            writer.write(f"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:{self.port}\r\nConnection: close\r\n\r\n".encode())
            await writer.drain()
            status_line = await asyncio.wait_for(reader.readline(), 2)
            return status_line.split(b" ")[1:2] == [b"200"]
        except (OSError, asyncio.TimeoutError, IndexError):
            return False
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()

    async def _stderr_tail(self) -> str:
        if self.process is None or self.process.stderr is None:
            return ""
        with contextlib.suppress(asyncio.TimeoutError):
            data = await asyncio.wait_for(self.process.stderr.read(), 2)
            return data.decode(errors="replace").strip().splitlines()[-1] if data.strip() else ""
        return ""

    async def stop(self) -> None:
        """Ask the server to stop (it stops its embedded database), then kill it if it lingers."""
        process, self.process = self.process, None
        if process is None or process.returncode is not None:
            return
        process.terminate()
        try:
            await asyncio.wait_for(process.wait(), 15)
        except asyncio.TimeoutError:
            log.warning("demo server did not stop in time; killing it")
            process.kill()
            await process.wait()
