"""Harm 7 of issue 11: `--timeout` did not bound a server that sends one byte a second (httpx's
timeouts are per read), so a CI job hung until it was killed. The deadline now covers the whole
request — status line, headers and body. The server here is a tiny threaded socket server on
loopback that drips at most DRIP_BYTES bytes, one a second, and then stops by itself."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from bounds_helpers import copy_project, run

from o2kit.cli import base as cli_base
from o2kit.errors import TransportError
from o2kit.project.config import ServerSettings
from o2kit.sync.client import OpenObserveClient

DRIP_BYTES = 15  # the server gives up after this many seconds per connection
TIMEOUT = 1.0
SLACK = 3.0  # the server notices a closed socket on its next one-byte write


class DripServer:
    """Answers every request by dripping bytes; records how long each connection stayed open."""

    def __init__(self, where: str) -> None:
        self.where = where  # "headers" or "body"
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.held: list[float] = []
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def _answer(self, conn: socket.socket) -> None:
        started = time.monotonic()
        conn.settimeout(5)
        try:
            conn.recv(65536)  # the request (small)
            if self.where == "headers":
                head, drip = b"HTTP/1.1 200 OK\r\n", b"X-Slow: " + b"a" * DRIP_BYTES
            else:
                head = (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                        b"Content-Length: 100000\r\n\r\n")
                drip = b" " * DRIP_BYTES
            conn.sendall(head)
            for i in range(len(drip)):
                if self._stop.wait(1.0):
                    break
                conn.sendall(drip[i:i + 1])
        except OSError:
            pass  # the client hung up: what we hope for
        finally:
            self.held.append(time.monotonic() - started)
            conn.close()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            thread = threading.Thread(target=self._answer, args=(conn,), daemon=True)
            thread.start()
            self._threads.append(thread)

    def __enter__(self) -> DripServer:
        self._main = threading.Thread(target=self._serve, daemon=True)
        self._main.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._main.join(timeout=5)
        for thread in self._threads:
            thread.join(timeout=DRIP_BYTES + 5)
        self.sock.close()


@pytest.fixture(params=["headers", "body"])
def server(request: pytest.FixtureRequest) -> Iterator[DripServer]:
    with DripServer(request.param) as drip:
        yield drip


def test_the_client_cuts_a_dripping_server_at_its_timeout(server: DripServer) -> None:
    settings = ServerSettings(url=f"http://127.0.0.1:{server.port}", org="default", user="u",
                              password="p", timeout=TIMEOUT, retries=1)
    with OpenObserveClient(settings, sleep=lambda _s: None) as client:
        started = time.monotonic()
        with pytest.raises(TransportError) as caught:
            client.list_folders("dashboards")
        elapsed = time.monotonic() - started
    assert f"no answer within {TIMEOUT:g} s" in caught.value.message
    assert caught.value.attempts == 2  # type: ignore[attr-defined]
    assert elapsed < 2 * (TIMEOUT + SLACK), elapsed
    time.sleep(SLACK)  # let the server notice the hang-ups
    assert len(server.held) == 2 and all(h < TIMEOUT + SLACK for h in server.held), server.held


def test_plan_against_a_dripping_server_fails_in_bounded_time(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, server: DripServer) -> None:
    project = copy_project(tmp_path / "repo")
    monkeypatch.setattr(cli_base, "_TRANSPORT", None)  # real sockets
    monkeypatch.setattr(time, "sleep", lambda _s: None)  # no back-off pauses between attempts
    monkeypatch.setenv("OPENOBSERVE_USER", "u")
    monkeypatch.setenv("OPENOBSERVE_PASSWORD", "p")
    monkeypatch.setenv("SLACK_WEBHOOK_URL", "https://hooks.example.com/x")
    result = run(project, "plan", "--url", f"http://127.0.0.1:{server.port}",
                 "--timeout", str(TIMEOUT))
    assert result.exit_code == 1, result.output
    assert f"no answer within {TIMEOUT:g} s" in result.output, result.output
    assert "Traceback" not in result.output
    assert all(h < TIMEOUT + SLACK for h in server.held), server.held
