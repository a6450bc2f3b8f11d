"""The real server as a subprocess, for tests: start, stop, kill, restart on the same port and database."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ServerProcess:
    """A real `python -m server serve` subprocess; blocking start/stop/kill keep the port and database."""

    START_TIMEOUT = 30.0

    def __init__(self, database_url: str, data_dir: Path, log_path: Path, port: int | None = None,
                 extra_env: dict[str, str] | None = None) -> None:
        self.database_url = database_url
        self.data_dir = Path(data_dir)
        self.log_path = Path(log_path)
        self.port = port or free_port()
        self.host = "127.0.0.1"
        self.http_url = f"http://{self.host}:{self.port}"
        self.ws_url = f"ws://{self.host}:{self.port}/ws"
        self.extra_env = dict(extra_env or {})
        self.proc: subprocess.Popen[bytes] | None = None
        self._log_file: Any = None

    def command(self) -> list[str]:
        return [
            sys.executable, "-m", "server", "serve", "--workers", "1",
            "--database-url", self.database_url,
            "--host", self.host,
            "--port", str(self.port),
            "--data-dir", str(self.data_dir),
        ]

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def healthy(self) -> bool:
        try:
            with urllib.request.urlopen(self.http_url + "/healthz", timeout=2) as resp:
                return resp.status == 200
        except (urllib.error.URLError, OSError, ValueError):
            return False

    def start(self) -> None:
        """Start (or restart) the server on the same port and database; wait until /healthz says 200."""
        if self.running:
            raise RuntimeError("the server is already running")
        self.data_dir.mkdir(parents=True, exist_ok=True)
        env = dict(os.environ)
        env["CLINIC_LOG_LEVEL"] = "WARNING"
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
        env.pop("CLINIC_DATABASE_URL", None)
        env.update(self.extra_env)
        self._close_log()
        self._log_file = open(self.log_path, "ab")
        self._log_file.write(f"\n===== start {time.strftime('%H:%M:%S')}: {' '.join(self.command())}\n".encode())
        self._log_file.flush()
        self.proc = subprocess.Popen(
            self.command(), stdout=self._log_file, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            cwd=str(REPO_ROOT), env=env,
        )
        deadline = time.monotonic() + self.START_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                code = self.proc.returncode
                self.proc = None
                raise RuntimeError(f"the server exited with code {code} while starting:\n{self.log_text()}")
            if self.healthy():
                return
            time.sleep(0.1)
        self.kill()
        raise TimeoutError(f"the server did not answer /healthz within {self.START_TIMEOUT:.0f} s:\n{self.log_text()}")

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM and wait (SIGKILL if it will not go)."""
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.send_signal(signal.SIGTERM)
                try:
                    self.proc.wait(timeout)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait()
            self.proc = None
        self._close_log()

    def kill(self) -> None:
        """SIGKILL and wait: a crash, no clean shutdown."""
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
            self.proc = None
        self._close_log()

    def _close_log(self) -> None:
        if self._log_file is not None:
            try:
                self._log_file.close()
            finally:
                self._log_file = None

    def __repr__(self) -> str:
        return f"ServerProcess({self.ws_url}, running={self.running})"
