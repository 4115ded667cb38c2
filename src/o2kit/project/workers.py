"""Both cores for the cold path: ``fork_map`` runs a function over many items in forked copies
of this process and returns the results in the items' order, as a plain loop would. ``Ahead``
(results made by a forked process ahead of their use: apply's dashboard payloads) and ``Helper``
(a forked process answering jobs sent later: a first plan's dashboard lists) move work off this
process's interpreter lock while its threads wait on the network; with them as with
``fork_map``, what a child could not do is done here, so no result depends on a child.

Forked, not spawned: a child starts with everything the parent has loaded (templates, the
configuration, the resources to check) without re-importing or pickling it, and sends back only
its results (pickled through a pipe). Items are taken one at a time by whichever process is
free (the parent too), so the work stays even when one core is busy with something else. A
child that fails in any way — an exception, a crash, output that does not unpickle — costs
nothing but time: the parent computes what it took itself, so the result never depends on the
children.

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
    effects stay in the process that ran it; results must pickle.

    Process ``k`` starts with item ``k``; every other item goes to whichever process asks first
    (a pipe of item numbers they all read), so a process slowed down by other work on the
    machine takes fewer items instead of holding the others up. Put the costliest items first."""
    count = worker_count() if workers is None else workers
    count = min(count, len(items))
    least = MIN_ITEMS if min_items is None else min_items
    if count <= 1 or len(items) < least or not _can_fork():
        return [func(item) for item in items]
    queue_read, queue_write = os.pipe()
    try:
        step = _deal(queue_write, count, len(items))
    except OSError:
        os.close(queue_read)
        os.close(queue_write)
        raise
    sys.stdout.flush()
    sys.stderr.flush()
    children: list[tuple[int, int]] = []  # (pid, read end of its answer)
    results: list[Any] = [None] * len(items)
    done = [False] * len(items)
    try:
        for k in range(1, count):
            read_end, write_end = os.pipe()
            pid = os.fork()
            if pid == 0:  # the child: never returns
                os.close(read_end)
                os.close(queue_write)
                _child(func, items, k, queue_read, step, write_end)
            os.close(write_end)
            children.append((pid, read_end))
        os.close(queue_write)
        queue_write = -1
        for i in _taken(0, queue_read, step, len(items)):
            results[i] = func(items[i])
            done[i] = True
        for pid, read_end in children:
            for i, result in _collect(pid, read_end, len(items)):
                results[i] = result
                done[i] = True
        children.clear()
        for i in range(len(items)):  # what a failed child took: done here
            if not done[i]:
                results[i] = func(items[i])
        return results
    finally:
        for pid, read_end in children:  # only when the parent itself failed
            _stop(pid, read_end)
        os.close(queue_read)
        if queue_write >= 0:
            os.close(queue_write)


def _deal(queue: int, count: int, total: int) -> int:
    """Write the numbers of items ``count``… into the pipe ``queue`` (4 bytes each, all at once,
    before any process reads), ``step`` items a number so that they all fit in the pipe; returns
    ``step``."""
    capacity = 4096  # what Linux guarantees a pipe; usually 64 KiB
    with contextlib.suppress(AttributeError, OSError):
        import fcntl

        capacity = fcntl.fcntl(queue, fcntl.F_GETPIPE_SZ)
    rest = total - count
    step = max(1, -(-rest // (capacity // 4)))
    data = b"".join(i.to_bytes(4, "big") for i in range(count, total, step))
    written = 0
    while written < len(data):
        written += os.write(queue, data[written:])
    return step


def _taken(first: int, queue: int, step: int, total: int) -> Iterator[int]:
    """The items one process does: its own first one, then the ones it takes from the pipe until
    it is empty (a read of 4 bytes from a pipe that holds whole numbers returns a whole one)."""
    if first < total:
        yield first
    while True:
        token = os.read(queue, 4)
        if len(token) < 4:
            return
        start = int.from_bytes(token, "big")
        yield from range(start, min(start + step, total))


def _child(func: Callable[[T], R], items: Sequence[T], first: int, queue: int, step: int,
           write_end: int) -> None:
    code = 0
    try:
        done: list[tuple[int, Any]] = []
        try:
            for i in _taken(first, queue, step, len(items)):
                done.append((i, func(items[i])))
            payload = pickle.dumps(("ok", done), protocol=pickle.HIGHEST_PROTOCOL)
        except BaseException as exc:  # noqa: BLE001 - reported to the parent, which redoes it
            payload = pickle.dumps(("error", f"{type(exc).__name__}: {exc}"))
            code = 1
        with os.fdopen(write_end, "wb") as pipe:
            pipe.write(payload)
    except BaseException:  # noqa: BLE001 - the parent sees no answer and redoes what it took
        code = 1
    finally:
        os._exit(code)


def _collect(pid: int, read_end: int, total: int) -> list[tuple[int, Any]]:
    """What the child ``pid`` did, as (item number, result); nothing when it failed (the parent
    then does what it took)."""
    with os.fdopen(read_end, "rb") as pipe:
        data = pipe.read()
    os.waitpid(pid, 0)
    try:
        status, value = pickle.loads(data)
    except Exception as exc:  # noqa: BLE001 - a crashed child: redo what it took
        log.debug("worker %d sent no usable answer (%s); redoing its items", pid, exc)
        return []
    if (status != "ok" or not isinstance(value, list)
            or not all(isinstance(p, tuple) and len(p) == 2 and isinstance(p[0], int)
                       and 0 <= p[0] < total for p in value)):
        log.debug("worker %d failed (%s); redoing its items", pid, value)
        return []
    return value


def _stop(pid: int, read_end: int) -> None:
    with contextlib.suppress(OSError):
        os.kill(pid, 9)
    with contextlib.suppress(OSError):
        os.close(read_end)
    with contextlib.suppress(OSError):
        os.waitpid(pid, 0)


class Ahead:
    """``func(item)`` (bytes) for each of ``items``, made ahead by one forked process while this
    one goes on, and taken with ``get(i)`` when needed. Meant for work that this process would
    otherwise do under its interpreter lock while its threads wait on the network (apply's
    dashboard payloads: ~0.65 ms of decoding and encoding each, on the other core instead).

    The child writes each result to a file of its own in a private folder (so no result is held
    in memory, or pickled) and then its number into a pipe, which a thread of this process
    reads. ``get(i)`` returns the file's bytes once the child has written it, and computes
    ``func(items[i])`` itself when the child could not (an exception for that item, a crash, no
    fork on this platform or with other threads running): the result never depends on the child.
    Only with ``MIN_ITEMS`` or more items, more than one CPU, and Linux (``_can_fork``). Use it
    as a context manager: leaving it stops the child and removes the folder. The child makes at
    most ``LEAD`` results past the furthest one taken (a pipe of credits it reads one of per
    result), so the folder holds about that many (64 dashboard payloads are ~8 MB, and the
    system's temporary folder may be memory) plus those of items never taken."""

    _FAILED = 1 << 31  # marks an item number the child could not do
    LEAD = 64

    def __init__(self, func: Callable[[T], bytes], items: Sequence[T]) -> None:
        self._func: Callable[[Any], bytes] = func
        self._items: Sequence[Any] = items
        self._state: dict[int, bool] = {}  # item number → written by the child (False: failed)
        self._over = True  # the child has ended (or never started)
        self._cond = threading.Condition()
        self._pid = 0
        self._folder: str | None = None
        self._reader: threading.Thread | None = None
        self._credits = -1
        self._given = 0
        if worker_count() <= 1 or len(items) < MIN_ITEMS or not _can_fork():
            return
        import tempfile

        self._folder = tempfile.mkdtemp(prefix="o2kit-ahead-")
        read_end, write_end = os.pipe()
        credits_read, self._credits = os.pipe()
        self._given = min(self.LEAD, len(items))
        os.write(self._credits, b"." * self._given)
        os.set_blocking(self._credits, False)  # a full pipe holds credits enough
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:  # the child: never returns
            os.close(read_end)
            os.close(self._credits)
            self._produce(write_end, credits_read)
        os.close(write_end)
        os.close(credits_read)
        self._pid, self._over = pid, False
        self._reader = threading.Thread(target=self._read, args=(read_end,),
                                        name="o2kit-ahead", daemon=True)
        self._reader.start()

    def _produce(self, write_end: int, credits: int) -> None:
        code = 0
        try:
            assert self._folder is not None
            with os.fdopen(write_end, "wb", buffering=0) as pipe:
                for i, item in enumerate(self._items):
                    if not os.read(credits, 1):  # none left, and none to come
                        break
                    try:
                        data = self._func(item)
                        path = os.path.join(self._folder, str(i))
                        with open(path + ".tmp", "wb") as fh:
                            fh.write(data)
                        os.replace(path + ".tmp", path)
                        token = i
                    except Exception:  # noqa: BLE001 - the parent does this item itself
                        token = i | self._FAILED
                    pipe.write(token.to_bytes(4, "big"))
        except BaseException:  # noqa: BLE001 - the parent does what is left itself
            code = 1
        finally:
            os._exit(code)

    def _read(self, read_end: int) -> None:
        with os.fdopen(read_end, "rb") as pipe:
            while len(token := pipe.read(4)) == 4:
                number = int.from_bytes(token, "big")
                with self._cond:
                    self._state[number & ~self._FAILED] = not number & self._FAILED
                    self._cond.notify_all()
        with contextlib.suppress(OSError):
            os.waitpid(self._pid, 0)
        with self._cond:
            self._over = True
            self._cond.notify_all()

    def get(self, i: int) -> bytes:
        """``func(items[i])``: the child's, or made here."""
        with self._cond:
            # Up to LEAD past this one: the child makes item i (or stops) before waiting.
            want = min(len(self._items), i + 1 + self.LEAD)
            if want > self._given and self._credits >= 0 and not self._over:
                with contextlib.suppress(OSError):  # full (BlockingIOError) or the child gone
                    self._given += os.write(self._credits, b"." * (want - self._given))
            while i not in self._state and not self._over:
                self._cond.wait()
            written = self._state.pop(i, False)
        if written and self._folder is not None:
            path = os.path.join(self._folder, str(i))
            try:
                with open(path, "rb") as fh:
                    data = fh.read()
                os.unlink(path)
                return data
            except OSError as exc:  # removed meanwhile: made here instead
                log.debug("ahead: result %d unreadable (%s); made here", i, exc)
        return self._func(self._items[i])

    def __enter__(self) -> Ahead:
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._pid and not self._over:
            with contextlib.suppress(OSError):
                os.kill(self._pid, 9)
        if self._reader is not None:
            self._reader.join()
        if self._credits >= 0:
            with contextlib.suppress(OSError):
                os.close(self._credits)
            self._credits = -1
        if self._folder is not None:
            import shutil

            shutil.rmtree(self._folder, ignore_errors=True)


class Helper:
    """A forked process that answers ``func(job)`` for jobs sent while this one goes on (from
    any of its threads), one after the other: work this process would do under its interpreter
    lock while its threads wait on the network (a first plan's decoding and normalising of each
    dashboard list). Forked when made, so it starts with all this process holds (what the jobs
    are compared with) and the jobs carry only what is new.

    ``call(job)`` returns the helper's answer, or None when there is none to be had — no helper
    (one CPU, not Linux, other threads running: ``_can_fork``), it failed on that job, it
    crashed, or its answer does not unpickle — and the caller then does the work itself: the
    result never depends on the helper. A context manager: leaving it stops the helper."""

    def __init__(self, func: Callable[[Any], Any] | None) -> None:
        self._lock = threading.Lock()
        self._pid = 0
        self._to: Any = None
        self._from: Any = None
        if func is None or worker_count() <= 1 or not _can_fork():
            return
        jobs_read, jobs_write = os.pipe()
        answers_read, answers_write = os.pipe()
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:  # the helper: never returns
            os.close(jobs_write)
            os.close(answers_read)
            _serve(func, jobs_read, answers_write)
        os.close(jobs_read)
        os.close(answers_write)
        self._pid = pid
        self._to = os.fdopen(jobs_write, "wb")
        self._from = os.fdopen(answers_read, "rb")

    @classmethod
    def none(cls) -> Helper:
        """No helper: every ``call`` answers None."""
        return cls(None)

    @property
    def running(self) -> bool:
        return self._to is not None

    def call(self, job: Any) -> Any | None:
        with self._lock:  # one job at a time: the helper answers them in turn
            if self._to is None:
                return None
            try:
                _send_frame(self._to, pickle.dumps(job, protocol=pickle.HIGHEST_PROTOCOL))
                status, value = pickle.loads(_read_frame(self._from))
            except Exception as exc:  # noqa: BLE001 - a helper gone wrong: do without it
                log.debug("helper %d failed (%s); working without it", self._pid, exc)
                self._stop()
                return None
        if status != "ok":
            log.debug("helper %d: %s", self._pid, value)
            return None
        return value

    def _stop(self) -> None:
        for pipe in (self._to, self._from):
            if pipe is not None:
                with contextlib.suppress(OSError):
                    pipe.close()
        self._to = self._from = None
        if self._pid:
            with contextlib.suppress(OSError):
                os.kill(self._pid, 9)
            with contextlib.suppress(OSError):
                os.waitpid(self._pid, 0)
            self._pid = 0

    def __enter__(self) -> Helper:
        return self

    def __exit__(self, *exc_info: object) -> None:
        with self._lock:
            self._stop()


def _send_frame(pipe: Any, data: bytes) -> None:
    pipe.write(len(data).to_bytes(8, "big"))
    pipe.write(data)
    pipe.flush()


def _read_frame(pipe: Any) -> bytes:
    head = pipe.read(8)
    if len(head) != 8:
        raise EOFError("the other end closed")
    size = int.from_bytes(head, "big")
    data: bytes = pipe.read(size)
    if len(data) != size:
        raise EOFError("the other end closed mid-answer")
    return data


def _serve(func: Callable[[Any], Any], jobs_read: int, answers_write: int) -> None:
    code = 0
    try:
        with os.fdopen(jobs_read, "rb") as jobs, os.fdopen(answers_write, "wb") as answers:
            while True:
                try:
                    job = pickle.loads(_read_frame(jobs))
                except EOFError:
                    break
                try:
                    answer: tuple[str, Any] = ("ok", func(job))
                    data = pickle.dumps(answer, protocol=pickle.HIGHEST_PROTOCOL)
                except Exception as exc:  # noqa: BLE001 - the caller does this job itself
                    data = pickle.dumps(("error", f"{type(exc).__name__}: {exc}"))
                _send_frame(answers, data)
    except BaseException:  # noqa: BLE001 - the caller sees no answer and works without us
        code = 1
    finally:
        os._exit(code)
