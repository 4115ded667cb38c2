"""A bench server that answers what the fake OpenObserve answered, at almost no CPU.

Why: the bench machine has two cores, and the fake OpenObserve runs on them beside o2kit. For
an apply that creates 1,000 dashboards, the fake spends ~11 s of CPU. It parses each dashboard as
the server's typed structs, hashes it, and parses each alert's SQL. That time is a real server's,
on another machine, not o2kit's. The replay keeps the answers and drops their cost:

1. ``Recorder`` wraps ``FakeOpenObserve.dispatch`` while the bench's phases run against the
   real fake, and keeps each answer under its request: method, path, sorted query and the
   SHA-256 of the body.
2. ``ReplayServer`` serves those answers from an asyncio loop on loopback, after the same added
   latency, in the order they were given. A key answered more than once gets its answers in
   the recorded order, and the last one after that. A request the recording never saw gets a
   ``599`` and is counted as a miss; the bench refuses a phase with misses.

o2kit's requests are deterministic for one project (the same bodies, in the same order per key;
ids come from the recorded answers), so a second run of the same phases finds every request.
The replay is a bench tool: it stores answers in memory and trusts its own recording.
"""

from __future__ import annotations

import asyncio
import hashlib
import socket
import threading
from collections import deque
from collections.abc import Callable
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qsl

Key = tuple[str, str, tuple[tuple[str, str], ...], str]


def request_key(method: str, path: str, query: Any, body: bytes) -> Key:
    pairs = query.items() if hasattr(query, "items") else query
    return (method.upper(), path, tuple(sorted(pairs)), hashlib.sha256(body).hexdigest())


def _wire(method: str, status: int, headers: dict[str, str], body: bytes) -> bytes:
    """The whole HTTP/1.1 response, ready to write."""
    try:
        reason = HTTPStatus(status).phrase
    except ValueError:
        reason = "Unknown"
    lines = [f"HTTP/1.1 {status} {reason}"]
    lines += [f"{name}: {value}" for name, value in headers.items()
              if name.lower() not in ("content-length", "connection")]
    lines.append(f"Content-Length: {len(body)}")
    head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    return head if method == "HEAD" else head + body


class Recorder:
    """Wraps ``fake.dispatch``; ``answers`` maps each request key to its answers in order
    (consecutive equal answers are kept once, with a count)."""

    def __init__(self, fake: Any) -> None:
        self.answers: dict[Key, list[list[Any]]] = {}
        self._lock = threading.Lock()
        original: Callable[..., Any] = fake.dispatch

        def recording(method: str, path: str, query: Any, headers: Any, body: bytes,
                      faults: Any = None) -> Any:
            delivery = original(method, path, query, headers, body, faults)
            response = delivery.response
            if response is not None:
                self._keep(request_key(method, path, query, body),
                           _wire(method.upper(), response.status, dict(response.headers),
                                 response.body))
            return delivery

        fake.dispatch = recording

    def _keep(self, key: Key, wire: bytes) -> None:
        with self._lock:
            answers = self.answers.setdefault(key, [])
            if answers and answers[-1][0] == wire:
                answers[-1][1] += 1
            else:
                answers.append([wire, 1])


class ReplayServer:
    """Serves a ``Recorder``'s answers on a loopback port, in a thread of its own."""

    def __init__(self, answers: dict[Key, list[list[Any]]], latency: float) -> None:
        self._answers = answers
        self._queues: dict[Key, deque[bytes]] = {}
        self.reset()
        self._latency = latency
        self.requests = 0
        self.misses = 0
        self._loop = asyncio.new_event_loop()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        self._server = self._loop.run_until_complete(
            asyncio.start_server(self._serve, sock=sock, limit=1 << 20))
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True,
                                        name="replay")
        self._thread.start()

    def reset(self) -> None:
        """Serve the recording again from its start (to time the same phases once more)."""
        self._queues = {key: deque(wire for wire, count in runs for _ in range(count))
                        for key, runs in self._answers.items()}

    def _answer(self, method: str, target: str, body: bytes) -> bytes:
        path, _, raw_query = target.partition("?")
        key = request_key(method, path, parse_qsl(raw_query, keep_blank_values=True), body)
        queue = self._queues.get(key)
        if not queue:
            self.misses += 1
            return _wire(method, 599, {"Content-Type": "text/plain"},
                         f"replay: no recorded answer for {method} {target}".encode())
        return queue.popleft() if len(queue) > 1 else queue[0]

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                request_line, *header_lines = head.decode("latin-1").split("\r\n")
                method, target, _ = request_line.split(" ", 2)
                length = 0
                for line in header_lines:
                    name, _, value = line.partition(":")
                    if name.lower() == "content-length":
                        length = int(value)
                    elif name.lower() == "transfer-encoding":
                        raise ValueError("the replay takes no chunked request bodies")
                body = await reader.readexactly(length) if length else b""
                self.requests += 1
                await asyncio.sleep(self._latency)
                writer.write(self._answer(method, target, body))
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    def stop(self) -> None:
        self._loop.call_soon_threadsafe(self._server.close)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)
