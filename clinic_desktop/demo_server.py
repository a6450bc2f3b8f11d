"""`--demo`: the bundled sync server as a child process on a free port, with the demo data.

The child never outlives the app: it is started with `--parent-pid` (our pid), and a watchdog in the
server stops it, and its embedded PostgreSQL, once this process is gone, even after a SIGKILL. The
other way round, `on_exit` tells the app when its server died so it can start it again on the same
port (the sync client then reconnects by itself). A server killed hard leaves its PostgreSQL running
and a stale entry in the database's handles file; the next server adopts that PostgreSQL and the
stale entry is ignored (server/db/embedded.py keeps only live processes), so a later quit stops it.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import os
import socket
import time
from collections.abc import Callable

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
    """Runs `clinic-server serve --demo --port N --parent-pid P` and waits for `GET /healthz` to answer 200.

    From source that is `python -m server`; in a PyInstaller bundle, where `sys.executable` is the
    bundle itself, it is `clinic-desktop --run-server` (see build_info.server_command).
    """

    def __init__(self, port: int | None = None, *, startup_timeout: float = 180.0,
                 command: list[str] | None = None) -> None:
        self.port = port or free_port()
        self.startup_timeout = startup_timeout  # the first run initialises an embedded PostgreSQL
        # "{port}" in any argument is replaced; the default is the bundled server in demo mode.
        # One worker: a demo on one PC needs no more, and it keeps one server process to watch.
        self.command = command or server_command("serve", "--demo", "--port", "{port}", "--workers", "1",
                                                 "--parent-pid", str(os.getpid()))
        self.process: asyncio.subprocess.Process | None = None
        self._stderr_lines: collections.deque[str] = collections.deque(maxlen=20)  # the child's last words
        self._drain: asyncio.Task[None] | None = None  # reads stderr so a chatty child never blocks on a full pipe
        self._watch: asyncio.Task[None] | None = None  # awaits the child's exit
        self._exit_listeners: list[Callable[[int, str], None]] = []

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws"

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.returncode is None

    def on_exit(self, listener: Callable[[int, str], None]) -> None:
        """Called with (exit code, last line of stderr) when the server ends without `stop()` asking it to."""
        self._exit_listeners.append(listener)

    async def start(self) -> str:
        """Start the server (again, on the same port) and return its WebSocket address once healthy."""
        if self.running:
            raise RuntimeError("the demo server is already running")
        self._stderr_lines.clear()
        process = self.process = await asyncio.create_subprocess_exec(
            *(part.replace("{port}", str(self.port)) for part in self.command),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
        self._drain = asyncio.create_task(self._read_stderr(process), name="demo-server-stderr")
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if process.returncode is not None:
                await asyncio.gather(self._drain, return_exceptions=True)
                self.process = None
                raise DemoServerError(f"the demo server exited ({process.returncode}): {self.last_words()}")
            if await self._healthy():
                self._watch = asyncio.create_task(self._await_exit(process), name="demo-server-watch")
                return self.ws_url
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(process.wait(), 0.25)
        await self.stop()
        raise DemoServerError("the demo server did not become ready in time")

    def last_words(self) -> str:
        """The last line the server wrote to stderr (why it stopped, usually)."""
        return self._stderr_lines[-1] if self._stderr_lines else ""

    async def _read_stderr(self, process: asyncio.subprocess.Process) -> None:
        assert process.stderr is not None
        while line := await process.stderr.readline():
            text = line.decode(errors="replace").rstrip()
            if text:
                self._stderr_lines.append(text)

    async def _await_exit(self, process: asyncio.subprocess.Process) -> None:
        code = await process.wait()
        if self.process is not process:  # stop() asked for it
            return
        self.process = None
        if self._drain is not None:
            await asyncio.gather(self._drain, return_exceptions=True)
        log.warning("the demo server exited unexpectedly (%s): %s", code, self.last_words())
        for listener in list(self._exit_listeners):
            listener(code, self.last_words())

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

    async def stop(self) -> None:
        """Ask the server to stop (it stops its embedded database), then kill it if it lingers."""
        process, self.process = self.process, None
        watch, self._watch = self._watch, None
        if watch is not None:
            watch.cancel()
        if process is not None and process.returncode is None:
            process.terminate()
            try:
                await asyncio.wait_for(process.wait(), 15)
            except asyncio.TimeoutError:
                log.warning("demo server did not stop in time; killing it")
                process.kill()
                await process.wait()
        drain, self._drain = self._drain, None
        if drain is not None:
            await asyncio.gather(drain, return_exceptions=True)
        if watch is not None:
            await asyncio.gather(watch, return_exceptions=True)
