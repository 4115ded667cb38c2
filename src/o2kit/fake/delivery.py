"""What the two ways of reaching the fake (``transport.py``: an httpx transport; ``serve.py``: a
loopback port) need of it: one ``dispatch`` that answers a request or says how it fails.

Kept apart from ``app.py`` so that the transports depend on this small interface and not on the
fake itself, which creates them (no import cycle).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

from .faults import Faults, Outcome
from .http import Response


@dataclass
class Delivery:
    """What a transport should do with a request: answer with ``response``, or fail the way
    ``outcome`` says (``DROP``: before the handler ran; ``LOST``: after)."""

    outcome: Outcome
    response: Response | None


class Dispatcher(Protocol):
    """The fake as its transports see it (``app.FakeOpenObserve``)."""

    faults: Faults

    def dispatch(self, method: str, path: str, query: list[tuple[str, str]] | Mapping[str, str],
                 headers: Mapping[str, str], body: bytes,
                 faults: Faults | None = None) -> Delivery: ...
