"""A tiny real HTTP server on loopback that answers fixed JSON, for the server shapes that cannot
be run here (LM Studio, Ollama): the app talks to it over real sockets, with real httpx.

Only what a test gives it is served; any other path is a 404 like the real servers send.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Stub:
    base_url: str  # ".../v1", as a user would type it
    requests: list[tuple[str, str, object, str | None]] = field(default_factory=list)  # method, path, body, auth


@contextmanager
def serve_json(routes: Mapping[tuple[str, str], object]) -> Iterator[Stub]:
    """Serve ``{("GET", "/v1/models"): body, ...}`` on a free loopback port until the block ends."""
    stub = Stub("")

    class Handler(BaseHTTPRequestHandler):
        def _answer(self, method: str) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            body = json.loads(raw) if raw else None
            stub.requests.append((method, self.path, body, self.headers.get("Authorization")))
            found = (method, self.path) in routes
            payload = routes[(method, self.path)] if found else {"error": {"message": "File Not Found"}}
            data = json.dumps(payload).encode()
            self.send_response(200 if found else 404)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            self._answer("GET")

        def do_POST(self) -> None:
            self._answer("POST")

        def log_message(self, *args: object) -> None:  # quiet
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, name="stub-server", daemon=True)
    thread.start()
    stub.base_url = f"http://127.0.0.1:{server.server_address[1]}/v1"
    try:
        yield stub
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
