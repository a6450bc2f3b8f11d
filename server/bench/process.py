"""Start a bench-side server process (ours or the peer) on a free loopback port and wait for /healthz."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

__all__ = ["REPO_ROOT", "free_port", "start_command_until_healthy", "start_until_healthy"]

REPO_ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def start_until_healthy(module_args: list[str], log_path: Path, what: str, timeout: float,
                        env_extra: dict[str, str] | None = None) -> tuple[subprocess.Popen, int]:
    """`python -m <module_args…> --port P` from the repository; returns (process, P) once /healthz answers 200.

    Raises with the log's tail if the process exits or stays unhealthy for `timeout` seconds.
    """
    env = {"PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")]))}
    return start_command_until_healthy([sys.executable, "-m", *module_args], log_path, what, timeout,
                                       {**env, **(env_extra or {})}, cwd=REPO_ROOT)


def start_command_until_healthy(command: list[str], log_path: Path, what: str, timeout: float,
                                env_extra: dict[str, str] | None = None,
                                cwd: Path = REPO_ROOT) -> tuple[subprocess.Popen, int]:
    """`<command…> --port P` (any program serving GET /healthz); returns (process, P) once it answers 200."""
    port = free_port()
    env = dict(os.environ)
    env.pop("CLINIC_DATABASE_URL", None)
    env.update(env_extra or {})
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log:
        proc = subprocess.Popen([*command, "--port", str(port)], stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, env=env, cwd=str(cwd))
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the {what} exited with {proc.returncode}:\n{_tail(log_path)}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as response:
                if response.status == 200:
                    return proc, port
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.1)
    proc.kill()
    proc.wait()
    raise RuntimeError(f"the {what} did not answer /healthz within {timeout:.0f} s:\n{_tail(log_path)}")
