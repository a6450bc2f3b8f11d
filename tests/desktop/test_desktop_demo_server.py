"""--demo's child server: started on a free port, awaited until /healthz answers 200, stopped on quit."""

from __future__ import annotations

import sys

import pytest

from clinic_desktop.demo_server import DemoServer, DemoServerError

# A stand-in for `python -m server serve --demo`: a real HTTP server that answers /healthz
# after a short start-up delay (the real one seeds a database first).
HEALTHY = """
import http.server, sys, time
time.sleep(0.5)
class Health(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200 if self.path == "/healthz" else 404)
        self.end_headers()
        self.wfile.write(b'{"ok": true}')
    def log_message(self, *args):
        pass
http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), Health).serve_forever()
"""


def test_waits_for_health_then_stops_the_child(qt_async) -> None:
    """start() returns the ws:// address once /healthz says 200; stop() ends the process."""

    async def scenario() -> None:
        demo = DemoServer(command=[sys.executable, "-c", HEALTHY, "{port}"], startup_timeout=30)
        url = await demo.start()
        assert url == f"ws://127.0.0.1:{demo.port}/ws"
        process = demo.process
        assert process is not None and process.returncode is None
        await demo.stop()
        assert process.returncode is not None and demo.process is None

    qt_async.run(scenario())


def test_a_child_that_exits_is_reported_with_its_last_words(qt_async) -> None:
    """If the server exits during start-up, the error carries the last line it printed."""

    async def scenario() -> None:
        crash = "import sys; sys.stderr.write('database is locked\\n'); sys.exit(3)"
        demo = DemoServer(command=[sys.executable, "-c", crash], startup_timeout=30)
        with pytest.raises(DemoServerError, match="database is locked"):
            await demo.start()

    qt_async.run(scenario())
