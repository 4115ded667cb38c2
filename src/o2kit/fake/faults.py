"""Injected faults: what a flaky network or an overloaded OpenObserve does to a request.

Every request that a :class:`Faults` setting may affect draws the same number of random values
from the fake's seeded fault generator, whatever the outcome, so a run with a given seed and a
given sequence of requests always meets the same faults.
"""

from __future__ import annotations

import enum
import random
import threading
from dataclasses import dataclass

WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


@dataclass
class Faults:
    """Fault knobs; change them at any time (``fake.faults = Faults(...)``).

    ``latency_s``: added to every request (slept outside the fake's lock).
    ``error_rate``: share of requests answered with one of ``error_statuses`` *before* the
    handler runs (429 and 503 carry ``Retry-After: retry_after_s``).
    ``drop_rate``: share of requests whose connection is dropped before the handler runs. The
    transport raises ``httpx.ConnectError`` (``drop_as="connect"``, the request never left) or
    ``httpx.RemoteProtocolError`` (``drop_as="disconnect"``); the loopback server closes the
    socket without answering.
    ``lost_response_rate``: share of *write* requests (POST/PUT/PATCH/DELETE) that are applied
    but whose response is lost: the transport raises ``httpx.ReadTimeout`` (``lost_as=
    "timeout"``) or ``httpx.RemoteProtocolError`` (``"disconnect"``); the server closes the
    socket after applying.
    ``only_methods``: when set, only requests with these methods are affected (latency still
    applies to all).
    """

    latency_s: float = 0.0
    error_rate: float = 0.0
    drop_rate: float = 0.0
    lost_response_rate: float = 0.0
    error_statuses: tuple[int, ...] = (429, 502, 503, 504)
    retry_after_s: int = 0
    only_methods: frozenset[str] | None = None
    drop_as: str = "connect"
    lost_as: str = "timeout"

    def __post_init__(self) -> None:
        for name in ("error_rate", "drop_rate", "lost_response_rate"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be within [0, 1], got {value}")
        if self.drop_as not in ("connect", "disconnect"):
            raise ValueError("drop_as must be 'connect' or 'disconnect'")
        if self.lost_as not in ("timeout", "disconnect"):
            raise ValueError("lost_as must be 'timeout' or 'disconnect'")


class Outcome(enum.Enum):
    PASS = "pass"  # handled normally
    ERROR = "error"  # answered with an injected status, not applied
    DROP = "drop"  # connection dropped, not applied
    LOST = "lost"  # applied, response lost


@dataclass(frozen=True)
class Decision:
    outcome: Outcome
    status: int = 0


class FaultDice:
    """The seeded generator behind the faults (separate from the one that makes ids)."""

    def __init__(self, seed: int | None) -> None:
        self._rng = random.Random(seed)
        self._lock = threading.Lock()

    def decide(self, faults: Faults, method: str) -> Decision:
        if faults.only_methods is not None and method.upper() not in faults.only_methods:
            return Decision(Outcome.PASS)
        if not (faults.drop_rate or faults.error_rate or faults.lost_response_rate):
            return Decision(Outcome.PASS)
        with self._lock:
            drop, fail, pick, lose = (self._rng.random() for _ in range(4))
        if drop < faults.drop_rate:
            return Decision(Outcome.DROP)
        if fail < faults.error_rate and faults.error_statuses:
            statuses = faults.error_statuses
            return Decision(Outcome.ERROR, statuses[int(pick * len(statuses)) % len(statuses)])
        if method.upper() in WRITE_METHODS and lose < faults.lost_response_rate:
            return Decision(Outcome.LOST)
        return Decision(Outcome.PASS)
