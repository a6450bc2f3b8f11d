"""A bare WebSocket client for load generation: thousands per process, cheap per frame.

The benchmark's clients are its measuring instruments, so they must cost the machine (which the
server shares) as little as possible: blocking handshake and calls while setting up, then one epoll
loop per process that reads every socket, splits frames, answers pings, and records each text frame
with its arrival time. JSON is parsed only after the run.
"""

from __future__ import annotations

import base64
import json
import os
import select
import socket
import struct
import time
from collections.abc import Callable, Iterable
from typing import Any

__all__ = ["RawClient", "receive_loop"]

_OP_TEXT, _OP_CLOSE, _OP_PING, _OP_PONG = 0x1, 0x8, 0x9, 0xA


def _masked(opcode: int, payload: bytes) -> bytes:
    """A client-to-server frame (clients must mask)."""
    n = len(payload)
    if n < 126:
        header = struct.pack("!BB", 0x80 | opcode, 0x80 | n)
    elif n < 65536:
        header = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, n)
    else:
        header = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, n)
    mask = os.urandom(4)
    if n:
        key = int.from_bytes((mask * (n // 4 + 1))[:n], "big")
        payload = (int.from_bytes(payload, "big") ^ key).to_bytes(n, "big")
    return header + mask + payload


class RawClient:
    """One connection. `frames` and `times` grow with every text frame received (payload bytes)."""

    __slots__ = ("sock", "buf", "frames", "times", "chunks", "closed", "tag", "_ids")

    def __init__(self, sock: socket.socket, tag: Any = None) -> None:
        self.sock = sock
        self.buf = bytearray()
        self.frames: list[bytes] = []
        self.times: list[float] = []
        self.chunks: list[tuple[float, bytes]] = []  # raw reads kept by `receive_loop(raw=True)`
        self.closed = False
        self.tag = tag
        self._ids = 0

    @classmethod
    def connect(cls, host: str, port: int, path: str = "/ws", tag: Any = None, timeout: float = 60.0) -> "RawClient":
        sock = socket.create_connection((host, port), timeout=timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        key = base64.b64encode(os.urandom(16)).decode()
        sock.sendall((f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                      f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode())
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = sock.recv(4096)
            if not chunk:
                raise ConnectionError("closed during the handshake")
            head += chunk
        status_line = head.split(b"\r\n", 1)[0]
        if b" 101 " not in status_line:
            raise ConnectionError(f"handshake refused: {status_line.decode(errors='replace')}")
        client = cls(sock, tag)
        client.buf += head.split(b"\r\n\r\n", 1)[1]
        return client

    def send_text(self, text: str) -> None:
        self.sock.sendall(_masked(_OP_TEXT, text.encode()))

    def call(self, method: str, **params: Any) -> Any:
        """A blocking JSON-RPC call (setup only); frames arriving before the reply are kept."""
        self._ids += 1
        rid = self._ids
        self.send_text(json.dumps({"jsonrpc": "2.0", "id": rid, "method": method, "params": params}))
        seen = len(self.frames)
        while True:
            for i in range(seen, len(self.frames)):
                msg = json.loads(self.frames[i])
                if isinstance(msg, dict) and msg.get("id") == rid:
                    del self.frames[i], self.times[i]
                    if "error" in msg:
                        raise RuntimeError(f"{method}: {msg['error']}")
                    return msg["result"]
            seen = len(self.frames)
            data = self.sock.recv(1 << 20)
            if not data:
                raise ConnectionError(f"closed while waiting for {method}")
            self.feed(data, time.time())

    def feed(self, data: bytes, now: float) -> None:
        """Split whatever arrived into frames; keep text frames, answer pings, note a close."""
        buf = self.buf
        buf += data
        pos, end = 0, len(buf)
        frames, times = self.frames, self.times
        while end - pos >= 2:
            b0, b1 = buf[pos], buf[pos + 1]
            n, head = b1 & 0x7F, 2
            if n == 126:
                if end - pos < 4:
                    break
                n, head = (buf[pos + 2] << 8) | buf[pos + 3], 4
            elif n == 127:
                if end - pos < 10:
                    break
                n, head = int.from_bytes(buf[pos + 2:pos + 10], "big"), 10
            if end - pos < head + n:
                break
            payload = bytes(buf[pos + head:pos + head + n])
            pos += head + n
            opcode = b0 & 0x0F
            if opcode == _OP_TEXT:
                frames.append(payload)
                times.append(now)
            elif opcode == _OP_PING:
                try:
                    self.sock.sendall(_masked(_OP_PONG, payload))
                except OSError:
                    self.closed = True
            elif opcode == _OP_CLOSE:
                self.closed = True
        if pos:
            del buf[:pos]

    def feed_chunks(self) -> None:
        """Split the raw reads kept during a measurement, each frame timed by the read that completed it."""
        for now, data in self.chunks:
            self.feed(data, now)
        self.chunks.clear()

    def close(self) -> None:
        try:
            self.sock.setblocking(True)
            self.sock.settimeout(2)
            self.sock.sendall(_masked(_OP_CLOSE, struct.pack("!H", 1000)))
        except OSError:
            pass
        self.sock.close()


def receive_loop(clients: Iterable[RawClient], should_stop: Callable[[], bool], raw: bool = False) -> None:
    """Read every client's socket until `should_stop()`; one epoll, no per-client tasks.

    With `raw`, reads are only timed and kept (`feed_chunks` splits them later): the cheapest way to
    listen while measuring, for a server that sends no pings to answer.
    """
    ep = select.epoll()
    by_fd: dict[int, RawClient] = {}
    for c in clients:
        if c.closed:
            continue
        c.sock.setblocking(False)
        fd = c.sock.fileno()
        by_fd[fd] = c
        ep.register(fd, select.EPOLLIN)
    clock = time.time
    try:
        while by_fd and not should_stop():
            for fd, _ in ep.poll(0.05):
                c = by_fd[fd]
                try:
                    data = c.sock.recv(1 << 18)
                except (BlockingIOError, InterruptedError):
                    continue
                except OSError:
                    data = b""
                if not data:
                    c.closed = True
                    ep.unregister(fd)
                    del by_fd[fd]
                    continue
                if raw:
                    c.chunks.append((clock(), data))
                else:
                    c.feed(data, clock())
    finally:
        ep.close()
