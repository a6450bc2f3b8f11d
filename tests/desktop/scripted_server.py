"""A small, real WebSocket peer speaking the sync protocol, steered by the test.

Used only for what the real server cannot be made to do on cue: close with 4001 or 4002, fall
silent without closing, or refuse a refresh token. Everything else is tested against the real
server (tests/conftest.py `server`).
"""

from __future__ import annotations

import asyncio
import json
from datetime import datetime, timezone
from typing import Any

from websockets.asyncio.server import Server, ServerConnection, serve

from desktop_factories import appointment, make_snapshot


_MESSAGES = {"slot_unavailable": "That time has just been taken. Please pick another slot."}


class ScriptedServer:
    """Accepts alice/demo; keeps a change log so `since` replays exactly what a client missed."""

    def __init__(self, appointments: int = 3) -> None:
        self.snapshot = make_snapshot(appointments)
        self.log: list[dict[str, Any]] = []  # events, seq = 100 + index
        self.epoch = "epoch-1"  # the feed epoch; a test replaces it (and the log) to play a restore
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.connections: list[ServerConnection] = []
        self.silent = False  # stop sending anything (heartbeats included), keep the socket open
        self.refresh_tokens = {"r1"}
        self._token_counter = 1
        self._server: Server | None = None
        self.port = 0
        self.user = self.USERS["alice"]
        self.slots: list[dict[str, Any]] = []  # what slots.find and the assistant offer
        self.fail: dict[str, str | dict[str, Any]] = {}  # method -> error reason (or whole data) to answer with
        self.hold = asyncio.Event()  # cleared: requests for methods in `held` wait until it is set
        self.hold.set()
        self.held: set[str] = set()

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws"

    async def start(self) -> None:
        self._server = await serve(self._handle, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    def methods(self) -> list[str]:
        return [method for method, _params in self.calls]

    async def push(self, entity: str, data: dict[str, Any], op: str = "upsert") -> dict[str, Any]:
        event = {"seq": 100 + len(self.log), "entity": entity, "op": op, "id": data["id"], "data": data,
                 "committed_at": datetime.now(timezone.utc).isoformat()}
        self.log.append(event)
        for ws in list(self.connections):
            if getattr(ws, "subscribed", False):
                await ws.send(json.dumps({"jsonrpc": "2.0", "method": "sync.event", "params": event}))
        return event

    async def close_all(self, code: int) -> None:
        for ws in list(self.connections):
            await ws.close(code, "scripted")

    async def _handle(self, ws: ServerConnection) -> None:
        self.connections.append(ws)
        heartbeat = asyncio.ensure_future(self._heartbeat(ws))
        try:
            async for frame in ws:
                message = json.loads(frame)
                method, params, rid = message["method"], message.get("params") or {}, message["id"]
                self.calls.append((method, params))
                if method in self.held:
                    await self.hold.wait()
                if method in self.fail:
                    failure = self.fail[method]
                    data = dict(failure) if isinstance(failure, dict) else {"reason": failure}
                    # The real server's sentence for the reason (the app shows the server's precise words).
                    message = data.pop("message", _MESSAGES.get(data["reason"], "refused"))
                    error = {"code": -32000, "message": message, "data": data}
                    await ws.send(json.dumps({"jsonrpc": "2.0", "id": rid, "error": error}))
                    continue
                try:
                    result, after = self._answer(ws, method, params)
                except PermissionError:
                    error = {"code": -32000, "message": "unauthenticated", "data": {"reason": "unauthenticated"}}
                    await ws.send(json.dumps({"jsonrpc": "2.0", "id": rid, "error": error}))
                    continue
                await ws.send(json.dumps({"jsonrpc": "2.0", "id": rid, "result": result}))
                for event in after:
                    await ws.send(json.dumps({"jsonrpc": "2.0", "method": "sync.event", "params": event}))
                if method == "sync.subscribe":
                    ws.subscribed = True  # type: ignore[attr-defined]
        except Exception:  # noqa: BLE001 - a dropped peer ends its handler
            pass
        finally:
            heartbeat.cancel()
            self.connections.remove(ws)

    USERS = {
        "alice": {"id": 4, "role": "patient", "name": "Alice Archer", "dentist_id": None, "patient_id": 1},
        "frontdesk": {"id": 1, "role": "admin", "name": "Front Desk", "dentist_id": None, "patient_id": None},
        "drsmith": {"id": 2, "role": "dentist", "name": "Dr Sarah Smith", "dentist_id": 1, "patient_id": None},
    }

    def _tokens(self, username: str | None = None) -> dict[str, Any]:
        self._token_counter += 1
        token = f"r{self._token_counter}"
        self.refresh_tokens = {token}
        if username is not None:
            self.user = self.USERS[username]
        return {"access_token": f"a{self._token_counter}", "refresh_token": token, "expires_in": 900,
                "user": self.user}

    def _answer(self, ws: ServerConnection, method: str, params: dict[str, Any]) -> tuple[Any, list[dict[str, Any]]]:
        if method == "auth.login":
            if params.get("username") not in self.USERS or params.get("password") != "demo":
                raise PermissionError
            return self._tokens(params["username"]), []
        if method == "auth.refresh":
            if params.get("refresh_token") not in self.refresh_tokens:
                raise PermissionError
            return self._tokens(), []
        if method == "auth.resume":
            if not str(params.get("access_token", "")).startswith("a"):
                raise PermissionError
            return {"user": self._tokens()["user"]}, []
        if method == "sync.subscribe":
            since = params.get("since")
            head = 99 + len(self.log)
            if since is None or params.get("epoch") not in (None, self.epoch):
                rows = {kind: list(rows) for kind, rows in self.snapshot.items()}
                for event in self.log:  # fold the log into the snapshot
                    table = rows.setdefault(event["entity"], [])
                    table[:] = [r for r in table if r["id"] != event["id"]]
                    if event["op"] == "upsert":
                        table.append(event["data"])
                return {"seq": head, "epoch": self.epoch, "snapshot": rows}, []
            missed = [event for event in self.log if event["seq"] > since]
            return {"seq": head, "epoch": self.epoch, "replayed": len(missed)}, missed
        if method == "patients.search":
            query = str(params.get("query", "")).lower()
            return [p for p in self._patients() if query in p["name"].lower()], []
        if method == "patients.create":
            patient = {"id": 100 + len(self.calls), "version": 1, "name": params["name"],
                       "phone": params.get("phone"), "email": None, "date_of_birth": None, "user_id": None}
            self.snapshot["patient"].append(patient)
            return patient, []
        if method == "appointments.create":
            return self._create(params), []
        if method == "appointments.update":
            row = dict(appointment(params["id"]), **{k: v for k, v in params.items() if k != "version"})
            row["version"] = params["version"] + 1
            return row, []
        if method == "slots.find":
            return list(self.slots), []
        if method == "assistant.message":
            if "book option" in params.get("text", ""):
                return {"conversation_id": "c1", "reply": "Done! You are booked.", "appointment": None}, []
            return {"conversation_id": "c1", "reply": "I found these times:", "slots": list(self.slots[:3])}, []
        return {"ok": True}, []

    def _patients(self) -> list[dict[str, Any]]:
        return list(self.snapshot["patient"])

    def _create(self, params: dict[str, Any]) -> dict[str, Any]:
        """Book as the server would: the row comes back, and its event follows shortly on every link."""
        slot = next(s for s in self.slots if s["start"] == params["start"] and s["dentist_id"] == params["dentist_id"])
        patient_id = params.get("patient_id") or self.user["patient_id"]
        name = next((p["name"] for p in self._patients() if p["id"] == patient_id), "")
        row = {"id": 500 + len(self.log), "version": 1, "patient_id": patient_id, "patient_name": name,
               "dentist_id": params["dentist_id"], "chair_id": None, "type_id": params["type_id"],
               "start": slot["start"], "end": slot["end"], "status": "scheduled", "source": "front_desk",
               "notes": params.get("notes") or "", "cancel_reason": None, "created_at": slot["start"],
               "updated_at": slot["start"]}
        self.slots.remove(slot)
        asyncio.get_running_loop().call_later(0.05, lambda: asyncio.ensure_future(self.push("appointment", row)))
        return row

    async def _heartbeat(self, ws: ServerConnection) -> None:
        while True:
            await asyncio.sleep(0.2)
            if not self.silent:
                await ws.send(json.dumps({"jsonrpc": "2.0", "method": "sync.heartbeat",
                                          "params": {"seq": 99 + len(self.log), "server_time": "now"}}))
