"""What the fake GitHub REST APIs of the pipeline tests share: a JSON request handler with bearer
authentication, and a loopback server that stops with the test.

``test_gitops.py`` (pull-request comments) and ``test_delivery.py`` (the drift issue) subclass
``GitHubApiHandler`` with their own routes."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class GitHubApiHandler(BaseHTTPRequestHandler):
    """JSON in, JSON out; every request needs ``Authorization: Bearer <token>``."""

    token = ""  # the subclass sets the token its fake accepts

    def _reply(self, status: int, doc: Any) -> None:
        data = json.dumps(doc).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _body(self) -> dict[str, Any]:
        return json.loads(self.rfile.read(int(self.headers["Content-Length"])))

    def _authorised(self) -> bool:
        if self.headers.get("Authorization") != f"Bearer {self.token}":
            self._reply(401, {"message": "Bad credentials"})
            return False
        return True

    def log_message(self, *args: object) -> None:
        pass


@contextmanager
def serve(handler: type[BaseHTTPRequestHandler]) -> Iterator[str]:
    """Serve ``handler`` on a loopback port; yields the base URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
