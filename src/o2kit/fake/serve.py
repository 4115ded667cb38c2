"""The fake on a loopback port (``fake.serve()``), for tools that need a real URL.

A stdlib ``ThreadingHTTPServer`` in a daemon thread. Only loopback addresses are accepted: the
fake has no authentication worth the name and must never be reachable from the network.
Injected drops and lost responses close the socket without an answer (for a drop, after the
request was read but before it is handled).
"""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl

from .faults import Outcome

if TYPE_CHECKING:
    from .delivery import Dispatcher

logger = logging.getLogger(__name__)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    fake: Dispatcher


class _Server6(_Server):
    address_family = socket.AF_INET6


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes; without TCP_NODELAY, Nagle plus delayed ACK stall
    # each keep-alive response by ~40 ms.
    disable_nagle_algorithm = True
    server: _Server

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        raw_path, _, raw_query = self.path.partition("?")
        query = parse_qsl(raw_query, keep_blank_values=True)
        headers = {k.lower(): v for k, v in self.headers.items()}
        delivery = self.server.fake.dispatch(self.command, raw_path, query, headers, body)
        if delivery.outcome in (Outcome.DROP, Outcome.LOST) or delivery.response is None:
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
            return
        response = delivery.response
        self.send_response(response.status)
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(response.body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(response.body)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _serve

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib name
        logger.debug("fake server: " + format, *args)


class FakeServer:
    """A running loopback server: ``.url``, ``.stop()``; usable as a context manager."""

    def __init__(self, server: _Server, thread: threading.Thread) -> None:
        self._server = server
        self._thread = thread
        host, port = str(server.server_address[0]), int(server.server_address[1])
        shown = f"[{host}]" if ":" in host else host
        self.url = f"http://{shown}:{port}"

    @classmethod
    def start(cls, fake: Dispatcher, host: str = "127.0.0.1", port: int = 0) -> FakeServer:
        try:
            loopback = ipaddress.ip_address(host).is_loopback
        except ValueError:
            loopback = host == "localhost"
        if not loopback:
            raise ValueError(f"the fake OpenObserve only serves on loopback, not {host!r}")
        server_class: type[_Server] = _Server6 if ":" in host else _Server
        server = server_class((host, port), _Handler)
        server.fake = fake
        thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                                  name="fake-openobserve",
                                  daemon=True)
        thread.start()
        return cls(server, thread)

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> FakeServer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
