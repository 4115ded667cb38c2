"""Both cores for the cold path: ``fork_map`` runs a function over many items in forked copies
of this process and returns the results in the items' order, as a plain loop would.

Forked, not spawned: a child starts with everything the parent has loaded (templates, the
configuration, the resources to check) without re-importing or pickling it, and sends back only
its results (pickled through a pipe). The parent works on its own share meanwhile. A child that
fails in any way — an exception, a crash, output that does not unpickle — costs nothing but
time: the parent computes that share itself, so the result never depends on the children.

Used only where it pays (``MIN_ITEMS`` or more items, more than one CPU, Linux, no other thread
running, since forking a threaded process can deadlock the child). ``O2KIT_WORKERS`` sets the
number of processes (``1`` turns this off).
"""

from __future__ import annotations

import contextlib
import gc
import logging
import os
import pickle
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")
R = TypeVar("R")

WORKERS_ENV = "O2KIT_WORKERS"
MIN_ITEMS = 50  # below this, forking costs more than it saves
MAX_WORKERS = 8


# Allocations between two young-generation collections while loading and validating (Python's
# default is 700; mypy and others raise it the same way). Rendering and parsing SQL allocate
# millions of small objects that nearly all live on (documents, syntax trees), so the default
# spends seconds scanning them; measured on 1,000 + 1,000 objects, a cold validate spends ~15 %
# less CPU with this and peaks at the same memory (the objects live on anyway).
GC_THRESHOLD = (50_000, 20, 20)


@contextlib.contextmanager
def fewer_collections() -> Iterator[None]:
    """Collect garbage less often inside the block (``GC_THRESHOLD``), as before after it."""
    before = gc.get_threshold()
    gc.set_threshold(*GC_THRESHOLD)
    try:
        yield
    finally:
        gc.set_threshold(*before)


def worker_count() -> int:
    """Processes to use: ``$O2KIT_WORKERS`` or the CPUs this process may run on (at most 8)."""
    configured = os.environ.get(WORKERS_ENV, "").strip()
    if configured:
        try:
            return max(1, min(MAX_WORKERS, int(configured)))
        except ValueError:
            log.warning("ignoring %s=%r (not a number)", WORKERS_ENV, configured)
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cpus = os.cpu_count() or 1
    return max(1, min(MAX_WORKERS, cpus))


def _can_fork() -> bool:
    return (sys.platform.startswith("linux") and hasattr(os, "fork")
            and threading.active_count() == 1)


def fork_map(func: Callable[[T], R], items: Sequence[T], *, min_items: int | None = None,
             workers: int | None = None) -> list[R]:
    """``[func(item) for item in items]``, shared among forked processes when there are many
    items (``MIN_ITEMS``). ``func`` may write files (each item its own) but its other side
    effects stay in the process that ran it; results must pickle."""
    count = worker_count() if workers is None else workers
    count = min(count, len(items))
    least = MIN_ITEMS if min_items is None else min_items
    if count <= 1 or len(items) < least or not _can_fork():
        return [func(item) for item in items]
    shares = [list(range(k, len(items), count)) for k in range(count)]
    sys.stdout.flush()
    sys.stderr.flush()
    children: list[tuple[int, int, list[int]]] = []  # (pid, read end, item indexes)
    try:
        for share in shares[1:]:
            read_end, write_end = os.pipe()
            pid = os.fork()
            if pid == 0:  # the child: never returns
                os.close(read_end)
                _child(func, [items[i] for i in share], write_end)
            os.close(write_end)
            children.append((pid, read_end, share))
        results: list[Any] = [None] * len(items)
        for i in shares[0]:
            results[i] = func(items[i])
        for pid, read_end, share in children:
            answer = _collect(pid, read_end, len(share))
            if answer is None:  # the child failed: do its share here
                answer = [func(items[i]) for i in share]
            for i, result in zip(share, answer, strict=True):
                results[i] = result
        children.clear()
        return results
    finally:
        for pid, read_end, _ in children:  # only when the parent itself failed
            _stop(pid, read_end)


def _child(func: Callable[[T], R], items: list[T], write_end: int) -> None:
    code = 0
    try:
        try:
            payload = pickle.dumps(("ok", [func(item) for item in items]),
                                   protocol=pickle.HIGHEST_PROTOCOL)
        except BaseException as exc:  # noqa: BLE001 - reported to the parent, which redoes it
            payload = pickle.dumps(("error", f"{type(exc).__name__}: {exc}"))
            code = 1
        with os.fdopen(write_end, "wb") as pipe:
            pipe.write(payload)
    except BaseException:  # noqa: BLE001 - the parent sees no answer and redoes the share
        code = 1
    finally:
        os._exit(code)


def _collect(pid: int, read_end: int, expected: int) -> list[Any] | None:
    with os.fdopen(read_end, "rb") as pipe:
        data = pipe.read()
    os.waitpid(pid, 0)
    try:
        status, value = pickle.loads(data)
    except Exception as exc:  # noqa: BLE001 - a crashed child: redo its share
        log.debug("worker %d sent no usable answer (%s); redoing its share", pid, exc)
        return None
    if status != "ok" or not isinstance(value, list) or len(value) != expected:
        log.debug("worker %d failed (%s); redoing its share", pid, value)
        return None
    return value


def _stop(pid: int, read_end: int) -> None:
    with contextlib.suppress(OSError):
        os.kill(pid, 9)
    with contextlib.suppress(OSError):
        os.close(read_end)
    with contextlib.suppress(OSError):
        os.waitpid(pid, 0)
