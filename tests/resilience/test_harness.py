"""The harness never tests the wrong server: ports are not handed out twice, and the
process answering on a port is identified by its session."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

from ._harness import LOOPBACK, AuthgateServer, free_port, listening_sessions, wait_until


def test_free_port_never_hands_out_the_same_port_twice() -> None:
    ports = [free_port() for _ in range(300)]
    assert len(set(ports)) == len(ports)


def test_listening_sessions_names_the_session_that_listens_and_only_it() -> None:
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        port = sock.getsockname()[1]
        assert listening_sessions(port) == set()  # bound, not listening
        sock.listen()
        assert listening_sessions(port) == {os.getsid(0)}
    assert listening_sessions(port) == set()


def test_server_whose_port_is_taken_by_an_impostor_moves_to_a_new_port(tmp_path: Path) -> None:
    # An impostor in another session answers /healthz with 200 on the server's port:
    # authgate then fails to bind, but the health check alone would have passed.
    server = AuthgateServer(tmp_path / "data")
    taken = server.port
    script = (
        "import http.server, sys\n"
        "class H(http.server.BaseHTTPRequestHandler):\n"
        "    def do_GET(self):\n"
        "        self.send_response(200); self.end_headers(); self.wfile.write(b'ok')\n"
        "    def log_message(self, *a): pass\n"
        f"http.server.HTTPServer(('{LOOPBACK}', {taken}), H).serve_forever()\n"
    )
    impostor = subprocess.Popen([sys.executable, "-c", script], start_new_session=True)
    try:
        assert wait_until(lambda: impostor.pid in listening_sessions(taken), timeout=10)
        server.start()
        try:
            assert server.port != taken
            assert server.proc is not None
            assert server.proc.pid in listening_sessions(server.port)
        finally:
            server.stop()
    finally:
        impostor.kill()
        impostor.wait(10)
