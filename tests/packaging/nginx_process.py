"""A real nginx on loopback, running the shipped `packaging/nginx/clinic-lb.conf` with test ports.

The shipped file is used as is, except for what must change on a test machine: the `upstream`
server lines become the test's instances and `listen` becomes a free loopback port. nginx runs in
the foreground (`daemon off`) with every path under a scratch folder, and is stopped at the end.
"""

from __future__ import annotations

import re
import shutil
import signal
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

from tests.server_process import REPO_ROOT, free_port

SHIPPED_CONFIG = REPO_ROOT / "packaging" / "nginx" / "clinic-lb.conf"
UPSTREAM_HEADER = "X-Clinic-Upstream"


def nginx_binary() -> str | None:
    return shutil.which("nginx") or next((p for p in ("/usr/sbin/nginx",) if Path(p).exists()), None)


def site_config(backends: list[int], listen_port: int) -> str:
    """The shipped site config pointed at `backends` (loopback ports) and listening on `listen_port`."""
    text = SHIPPED_CONFIG.read_text()
    servers = "\n".join(f"    server 127.0.0.1:{port} max_fails=1 fail_timeout=10s;" for port in backends)
    text, upstreams = re.subn(r"(?m)^\s*server\s+[\w.\-]+:\d+[^;\n]*;\s*\n(?:\s*server\s+[\w.\-]+:\d+[^;\n]*;\s*\n)*",
                              servers + "\n", text, count=1)
    text, listens = re.subn(r"(?m)^(\s*)listen\s+8765\s*;", rf"\g<1>listen 127.0.0.1:{listen_port};", text)
    if upstreams != 1 or listens != 1:
        raise AssertionError(f"{SHIPPED_CONFIG} no longer has the upstream server lines / `listen 8765;` the test rewrites")
    return text


class NginxProcess:
    """nginx in the foreground with a generated main config that includes the shipped site config."""

    def __init__(self, backends: list[int], folder: Path) -> None:
        self.folder = Path(folder)
        self.port = free_port()
        self.backends = backends
        self.http_url = f"http://127.0.0.1:{self.port}"
        self.ws_url = f"ws://127.0.0.1:{self.port}/ws"
        self.proc: subprocess.Popen[bytes] | None = None

    def write_config(self) -> Path:
        self.folder.mkdir(parents=True, exist_ok=True)
        (self.folder / "clinic-lb.conf").write_text(site_config(self.backends, self.port))
        temp_paths = "\n".join(f"    {kind}_temp_path {self.folder / kind};"
                               for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
        main = self.folder / "nginx.conf"
        main.write_text(f"""daemon off;
worker_processes 1;
pid {self.folder / 'nginx.pid'};
error_log {self.folder / 'error.log'} info;
events {{ worker_connections 256; }}
http {{
    access_log {self.folder / 'access.log'};
{temp_paths}
    include {self.folder / 'clinic-lb.conf'};
}}
""")
        return main

    def start(self) -> None:
        binary = nginx_binary()
        if binary is None:
            raise RuntimeError("nginx is not installed (apt-get install nginx-light)")
        main = self.write_config()
        test = subprocess.run([binary, "-t", "-p", str(self.folder), "-e", str(self.folder / "error.log"),
                               "-c", str(main)], capture_output=True, text=True)
        if test.returncode != 0:
            raise RuntimeError(f"nginx rejects the config: {test.stderr}")
        self.proc = subprocess.Popen([binary, "-p", str(self.folder), "-e", str(self.folder / "error.log"),
                                      "-c", str(main)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"nginx exited: {self.proc.stderr.read().decode() if self.proc.stderr else ''}")
            if self.get("/healthz")[0] == 200:
                return
            time.sleep(0.1)
        self.stop()
        raise TimeoutError("nginx did not pass /healthz through within 30 s")

    def get(self, path: str) -> tuple[int | None, str | None]:
        """GET through the balancer: (status, the instance that answered) or (None, None)."""
        try:
            with urllib.request.urlopen(self.http_url + path, timeout=5) as resp:
                return resp.status, resp.headers.get(UPSTREAM_HEADER)
        except urllib.error.HTTPError as exc:
            return exc.code, exc.headers.get(UPSTREAM_HEADER)
        except (urllib.error.URLError, OSError):
            return None, None

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)  # fast shutdown: open WebSockets would hold up a graceful one
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def error_log(self) -> str:
        try:
            return (self.folder / "error.log").read_text(errors="replace")
        except OSError:
            return ""
