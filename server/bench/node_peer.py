"""The Node.js peer: `node_relay/relay.js` (npm's `ws` and `pg`), installed from its lockfile and started.

It relays the same trigger-fed `clinic_peer` notifications as the broadcaster peer (`peer.py` installs
the trigger), so both peers and our server face the same clients, writer and load in one run.

    folder = install(cache_dir)           # None (and why) when node or npm is missing
    proc, port = start(folder, dsn, log)  # clients connect to ws://127.0.0.1:{port}/ws
    stop(proc)

`install` copies package.json and package-lock.json into a folder of its own (named after the
lockfile's hash, so an edited lockfile gets a fresh install) and runs `npm ci` there once.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from pathlib import Path

from .process import start_command_until_healthy

__all__ = ["SOURCE", "default_cache", "install", "missing_tools", "start", "stop", "versions"]

SOURCE = Path(__file__).resolve().parent / "node_relay"
_FILES = ("package.json", "package-lock.json", "relay.js")


def default_cache() -> Path:
    """Where installs live between runs: `$XDG_CACHE_HOME/clinic-bench` (or ~/.cache/clinic-bench)."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "clinic-bench"


def missing_tools() -> list[str]:
    """The programs the Node peer needs that are not on PATH."""
    return [tool for tool in ("node", "npm") if shutil.which(tool) is None]


def install(cache: Path, timeout: float = 300.0) -> Path:
    """The folder holding relay.js and its node_modules, running `npm ci` the first time.

    Raises RuntimeError with npm's output if the install fails.
    """
    digest = hashlib.sha256(b"".join((SOURCE / f).read_bytes() for f in _FILES)).hexdigest()[:12]
    folder = cache / f"node_peer-{digest}"
    if (folder / "node_modules" / ".package-lock.json").exists():
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    for f in _FILES:
        shutil.copyfile(SOURCE / f, folder / f)
    npm = shutil.which("npm") or "npm"
    proc = subprocess.run([npm, "ci", "--omit=dev", "--no-audit", "--no-fund", "--loglevel=error"], cwd=folder,
                          capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise RuntimeError(f"npm ci failed in {folder}:\n{proc.stdout[-2000:]}{proc.stderr[-2000:]}")
    return folder


def versions(folder: Path) -> dict[str, str]:
    """node's version and the installed ws and pg versions, for the bench's machine section."""
    out = {"node": subprocess.run([shutil.which("node") or "node", "--version"], capture_output=True,
                                  text=True).stdout.strip()}
    for package in ("ws", "pg"):
        manifest = folder / "node_modules" / package / "package.json"
        out[package] = json.loads(manifest.read_text())["version"] if manifest.exists() else "?"
    return out


def start(folder: Path, database_url: str, log_path: Path, *, channel: str = "clinic_peer",
          timeout: float = 30.0) -> tuple[subprocess.Popen, int]:
    """Start `node relay.js` on a free loopback port; returns (process, port) once it LISTENs and /healthz answers.

    The database URL goes in the environment (DATABASE_URL), not on the command line, where `ps` would show
    the embedded cluster's password.
    """
    node = shutil.which("node") or "node"
    return start_command_until_healthy([node, "relay.js", "--host", "127.0.0.1", "--channel", channel], log_path,
                                       "Node.js peer", timeout, {"DATABASE_URL": database_url}, cwd=folder)


def stop(proc: subprocess.Popen, timeout: float = 10.0) -> None:
    """SIGTERM (relay.js closes its sockets and its database connection), SIGKILL if it lingers."""
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout)
