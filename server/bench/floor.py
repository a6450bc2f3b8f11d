"""The floor: what this machine can do at all, a minimal sender of one pre-encoded frame to every socket.

`python -m server.bench.floor --port P` accepts the bench's WebSocket clients (a bare handshake, nothing
else) and answers `GET /healthz`. `GET /run?per_minute=R&seconds=S&payload_bytes=B` then fans out at R a
minute for S seconds: each fan-out encodes one `sync.event`-shaped text frame (seq 1, 2, …; committed_at =
the fan-out's start; padded to B bytes like a real change) and writes those same bytes to every socket,
one `send` each, timing every send and the whole fan-out. The answer is a JSON summary; the bench's
clients count and time the frames as they do for the relays, so "latency" here is send-start to receipt.

No database, no JSON-RPC, no per-client work, no event loop: any relay's fan-out costs at least this.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import selectors
import socket
import struct
import time
from datetime import datetime, timezone
from urllib.parse import parse_qs, urlsplit

__all__ = ["encode_frame", "event_payload", "fan_out", "serve"]

_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
_MAX_US = 100_000  # per-send histogram: 1 µs bins to 100 ms, then one overflow bin


def encode_frame(payload: bytes) -> bytes:
    """An unmasked (server-to-client) final text frame."""
    n = len(payload)
    if n < 126:
        return struct.pack("!BB", 0x81, n) + payload
    if n < 65536:
        return struct.pack("!BBH", 0x81, 126, n) + payload
    return struct.pack("!BBQ", 0x81, 127, n) + payload


def event_payload(seq: int, committed_at: float, size: int) -> bytes:
    """A sync.event for change `seq` at `committed_at` (epoch s), its notes padded so the JSON is ~`size` bytes."""
    at = datetime.fromtimestamp(committed_at, timezone.utc).isoformat()
    params = {"seq": seq, "entity": "appointment", "op": "upsert", "id": 1,
              "data": {"id": 1, "notes": ""}, "committed_at": at}
    bare = len(json.dumps({"jsonrpc": "2.0", "method": "sync.event", "params": params}))
    params["data"]["notes"] = "x" * max(0, size - bare)
    return json.dumps({"jsonrpc": "2.0", "method": "sync.event", "params": params}).encode()


def _percentile(counts: list[int], q: float) -> float:
    total = sum(counts)
    rank, seen = q * (total - 1), 0
    for us, n in enumerate(counts):
        seen += n
        if seen > rank:
            return float(us)
    return float(len(counts) - 1)


def fan_out(sockets: list[socket.socket], per_minute: int, seconds: float, payload_bytes: int) -> dict:
    """Send one frame to every socket `per_minute` times a minute for `seconds`; the send and fan-out times."""
    interval = 60.0 / per_minute
    per_send = [0] * (_MAX_US + 1)
    fanouts_ms: list[float] = []
    clock = time.perf_counter
    start = clock()
    seq = 0
    while clock() - start < seconds:
        due = start + seq * interval
        wait = due - clock()
        if wait > 0:
            time.sleep(wait)
        seq += 1
        frame = encode_frame(event_payload(seq, time.time(), payload_bytes))
        began = clock()
        for sock in sockets:
            t = clock()
            sock.sendall(frame)
            per_send[min(_MAX_US, int((clock() - t) * 1e6))] += 1
        fanouts_ms.append((clock() - began) * 1000)
    fanouts_ms.sort()
    pick = (lambda q: fanouts_ms[min(len(fanouts_ms) - 1, int(q * (len(fanouts_ms) - 1)))] if fanouts_ms else 0.0)
    return {"system": "floor", "clients": len(sockets), "fan_outs": seq, "frame_bytes": len(frame) if seq else 0,
            "seconds": clock() - start, "offered_per_min": per_minute,
            "send_p50_us": _percentile(per_send, 0.5), "send_p99_us": _percentile(per_send, 0.99),
            "send_mean_us": sum(fanouts_ms) * 1000 / max(1, seq * len(sockets)),
            "fanout_p50_ms": pick(0.5), "fanout_p99_ms": pick(0.99), "fanout_max_ms": fanouts_ms[-1] if fanouts_ms else 0.0}


def _read_head(conn: socket.socket) -> bytes:
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = conn.recv(4096)
        if not chunk:
            raise ConnectionError("closed before the request ended")
        head += chunk
    return head


def _respond(conn: socket.socket, status: str, body: bytes) -> None:
    conn.sendall(f"HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n"
                 f"Connection: close\r\n\r\n".encode() + body)
    conn.close()


def serve(host: str, port: int) -> None:
    """Accept WebSocket clients and answer /healthz and /run until terminated."""
    listener = socket.create_server((host, port), backlog=4096)
    clients: list[socket.socket] = []
    selector = selectors.DefaultSelector()
    selector.register(listener, selectors.EVENT_READ)
    while True:
        selector.select()
        conn, _ = listener.accept()
        conn.settimeout(30)
        try:
            head = _read_head(conn)
        except OSError:
            conn.close()
            continue
        target = head.split(b" ", 2)[1].decode()
        headers = {k.strip().lower(): v.strip() for k, _, v in
                   (line.decode().partition(":") for line in head.split(b"\r\n")[1:] if b":" in line)}
        path = urlsplit(target).path
        if path == "/ws" and "sec-websocket-key" in headers:
            accept = base64.b64encode(hashlib.sha1(headers["sec-websocket-key"].encode() + _GUID).digest())
            conn.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                         b"Sec-WebSocket-Accept: " + accept + b"\r\n\r\n")
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            conn.settimeout(None)
            clients.append(conn)
        elif path == "/healthz":
            _respond(conn, "200 OK", json.dumps({"status": "ok", "clients": len(clients)}).encode())
        elif path == "/run":
            query = {k: v[0] for k, v in parse_qs(urlsplit(target).query).items()}
            result = fan_out(clients, int(query.get("per_minute", 10_000)), float(query.get("seconds", 10)),
                             int(query.get("payload_bytes", 300)))
            _respond(conn, "200 OK", json.dumps(result).encode())
        else:
            _respond(conn, "404 Not Found", b"{}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m server.bench.floor", description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8766)
    args = parser.parse_args(argv)
    serve(args.host, args.port)


if __name__ == "__main__":
    main()
