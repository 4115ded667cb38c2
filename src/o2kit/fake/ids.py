"""Server-assigned identifiers, made the way OpenObserve makes them (but reproducibly).

* Folder and dashboard ids: ``config::ider::generate()`` — a snowflake number, ``(milliseconds
  since the Unix epoch << 22) | (machine id << 12) | sequence``, printed in decimal
  (``/work/oo/src/config/src/ider.rs``). Time-ordered, 19 digits today.
* Alert ids: ``svix_ksuid::Ksuid::new`` (``src/infra/src/table/alerts/mod.rs``, ``create``): 20
  bytes — a 4-byte big-endian count of seconds since 2014-05-13T16:53:20Z followed by 16 random
  bytes — printed as 27 base62 characters. A path id that does not parse as a KSUID is answered
  ``404 invalid alert id X`` (``src/api/management/src/request/alerts/mod.rs``).

The clock and the random generator are injected so that a seeded fake hands out the same ids
every run.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable

BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
KSUID_EPOCH = 1_400_000_000
KSUID_LENGTH = 27
_KSUID_MAX = (1 << 160) - 1


class SnowflakeIds:
    """Decimal snowflake ids: strictly increasing even when the clock stands still."""

    def __init__(self, clock: Callable[[], float], rng: random.Random) -> None:
        self._clock = clock
        self._machine = rng.randrange(1 << 10)
        self._last_ms = -1
        self._sequence = 0
        self._lock = threading.Lock()

    def next(self) -> str:
        with self._lock:
            now_ms = max(int(self._clock() * 1000), self._last_ms)
            if now_ms == self._last_ms:
                self._sequence += 1
                if self._sequence >= 1 << 12:  # sequence exhausted: borrow the next millisecond
                    now_ms += 1
                    self._sequence = 0
            else:
                self._sequence = 0
            self._last_ms = now_ms
            return str((now_ms << 22) | (self._machine << 12) | self._sequence)


def new_ksuid(clock: Callable[[], float], rng: random.Random) -> str:
    seconds = max(0, int(clock()) - KSUID_EPOCH) & 0xFFFFFFFF
    number = (seconds << 128) | rng.getrandbits(128)
    chars = []
    for _ in range(KSUID_LENGTH):
        number, digit = divmod(number, 62)
        chars.append(BASE62[digit])
    return "".join(reversed(chars))


def is_ksuid(text: str) -> bool:
    """Whether ``Ksuid::from_str`` accepts ``text``: 27 base62 characters within 160 bits."""
    if len(text) != KSUID_LENGTH or any(c not in BASE62 for c in text):
        return False
    number = 0
    for c in text:
        number = number * 62 + BASE62.index(c)
    return number <= _KSUID_MAX
