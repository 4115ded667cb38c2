"""A content-addressed cache on disk, so unchanged objects are not rendered or validated again.

Modelled on ruff's and mypy's caches: every entry is addressed by a SHA-256 of everything that can
change its value — o2kit's version *and its own source code*, the configuration, the column
catalogue, the price table, the templates and the object's own input — so an entry is either
exactly right or never looked up; nothing is ever invalidated by time. Entries live under one
folder the user may delete at any moment (``.o2kit/cache/`` in the project; ``O2KIT_CACHE_DIR``
overrides it, ``--no-cache`` turns it off). The folder carries a ``.gitignore`` and a
``CACHEDIR.TAG`` so git and backup tools leave it alone.

The cache is untrusted input: entries are JSON only (never pickle), each names the key it was
written for, a file larger than ``MAX_ENTRY_BYTES`` or one that does not parse or does not carry
its own key is ignored (a miss), and writes are atomic (a temporary file renamed into place), so
a crash leaves no half-written entry that could be read. Any I/O error is a miss, never a failure:
the cache can only make o2kit faster, never change what it reports.

Large values (a rendered dashboard is ~200 KB of JSON) are *blobs*: bytes stored once under
their own SHA-256 (``<directory>/blobs/<sha[:2]>/<sha>``) and named by that address from the
small entries, so an entry decodes in microseconds and a value nobody reads is never read
(``read_blob`` checks the size and the SHA-256 before handing the bytes out).

Nothing grows without bound (the way Go's build cache does it, ``cmd/go/internal/cache/cache.go``
``used`` and ``Trim``): the mtime of a file says when it was last used. A hit on an entry, a blob
an entry names (``stored_blob``: checked when the entry is replayed, so a plan in sync that never
reads a body still keeps it), a blob read or found already stored: each refreshes the file's
mtime when it is older than ``MARK_INTERVAL`` (an hour), so a warm run writes no inode. At the
end of a command (``finish``), at most once per ``TRIM_INTERVAL`` per folder (``trim.txt`` holds
the time of the last trim), the folder is walked once and what was not used for ``TRIM_DAYS``
(``O2KIT_CACHE_TRIM_DAYS``) is deleted — entries, and blobs no surviving entry names (a sweep
over the entries that stay: a fresh entry's blobs are never deleted, whatever their mtime), and
temporary files of crashed writes older than an hour. Only files of the cache's own layout are
ever deleted, and only in a folder carrying o2kit's ``CACHEDIR.TAG``.

Runs sharing a folder (two CI jobs on one machine) coordinate with a file lock (``lock``,
``flock``): a run holds it shared from its first use of the folder to its end, a trim or clean
holds it exclusively, so a trim never deletes what a running command has hit and will read. The
automatic trim does not wait: when another run holds the folder it is left for a later command.
A run that finds a trim or clean in progress waits up to ``LOCK_WAIT`` seconds, then goes on
without the cache (misses). Like Go's, the lock does not work across machines (a network file
system): there, something deleted under a running command is a miss when its entry is read, and
a body deleted between its entry's hit and its read stops the command with a message saying so
(``o2kit.project.loader.CacheDamaged``), never a wrong result.
"""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import json
import logging
import math
import os
import re
import shutil
import tempfile
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import o2kit
from o2kit.errors import UserError

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX: no lock, so no automatic trim
    fcntl = None  # type: ignore[assignment]

log = logging.getLogger(__name__)

CACHE_ENV = "O2KIT_CACHE_DIR"
DEFAULT_DIR = Path(".o2kit") / "cache"
FORMAT = 3  # bump when the layout of entries changes (2: bodies as JSON text; 3: as blobs)
MAX_ENTRY_BYTES = 32 * 1024 * 1024
# Use marks and trimming, as Go's build cache (cmd/go/internal/cache/cache.go: mtimeInterval,
# trimInterval, trimLimit).
MARK_INTERVAL = 3600.0  # a use refreshes a file's mtime only when it is older than this
TRIM_INTERVAL = 24 * 3600.0  # the automatic trim runs at most this often per folder
TRIM_DAYS = 5.0  # ... and deletes what was not used for this many days
TRIM_DAYS_ENV = "O2KIT_CACHE_TRIM_DAYS"
TRIM_DAYS_MAX = 3650.0
LOCK_WAIT = 10.0  # seconds a run waits for another run's trim or clean before going on without
LOCK = "lock"
TRIM_FILE = "trim.txt"
_CACHEDIR_TAG = (
    "Signature: 8a477f597d28d172789f06886806bc55\n"
    "# This file is a cache directory tag created by o2kit.\n"
    "# For information about cache directory tags see https://bford.info/cachedir/\n"
)


def canonical(value: Any) -> str:
    """Deterministic JSON text of ``value``; raises TypeError/ValueError for anything that is not
    plain JSON data (so nothing unexpected is ever keyed by its ``repr``)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False)


def digest(*parts: Any) -> str:
    """SHA-256 over the canonical JSON of ``parts`` (bytes are hashed as they are)."""
    h = hashlib.sha256()
    for part in parts:
        data = part if isinstance(part, bytes) else canonical(part).encode("utf-8")
        h.update(len(data).to_bytes(8, "big"))
        h.update(data)
    return h.hexdigest()


def files_digest(root: Path, paths: Iterable[Path]) -> str:
    """Digest of the relative names and contents of ``paths`` (missing files count as absent)."""
    h = hashlib.sha256()
    for path in sorted(paths):
        try:
            data = path.read_bytes()
        except OSError:
            data = b"\0absent"
        name = path.relative_to(root).as_posix() if path.is_relative_to(root) else str(path)
        h.update(digest(name, data).encode())
    return h.hexdigest()


def tree_digest(directory: Path) -> str:
    """Digest of every file under ``directory`` (names and contents)."""
    if not directory.is_dir():
        return digest("no directory")
    return files_digest(directory, (p for p in directory.rglob("*") if p.is_file()))


@lru_cache(maxsize=1)
def tool_digest() -> str:
    """o2kit's version and a digest of its own source: a development checkout whose rules changed
    without a version bump must not reuse results of the old rules."""
    package = Path(o2kit.__file__).resolve().parent
    sources = [p for p in package.rglob("*.py") if "fake" not in p.relative_to(package).parts]
    return digest(o2kit.__version__, FORMAT, files_digest(package, sources))


BLOBS = "blobs"
_ADDRESS = frozenset("0123456789abcdef")


class BlobDamaged(Exception):
    """A blob is missing, of another size, or its bytes do not hash to its address."""


class BlobMissing(BlobDamaged):
    """The blob is not there (deleted since its entry was read: by hand, or by a trim the lock
    could not keep out)."""


_UTIME_FD = os.utime in os.supports_fd


def _mark(path: Path, mtime: float, fd: int | None = None) -> None:
    """Note that the file at ``path`` (open as ``fd``, if given) was just used: refresh its
    mtime, but only when it is older than ``MARK_INTERVAL`` (Go's ``used``), so a warm run writes
    no inode. Best effort: a file we may not write keeps its time."""
    if time.time() - mtime < MARK_INTERVAL:
        return
    try:
        os.utime(fd if fd is not None and _UTIME_FD else path)
    except OSError as exc:
        log.debug("cannot mark %s as used: %s", path, exc)


def read_blob(path: Path, address: str, size: int) -> bytes:
    """The bytes stored at ``path`` (``Cache.blob_path``), checked against the ``size`` and the
    SHA-256 ``address`` they were stored with (and marked used). Raises ``BlobDamaged``
    (``BlobMissing`` when the file is not there)."""
    try:
        with path.open("rb") as fh:
            st = os.fstat(fh.fileno())
            if st.st_size != size:
                raise BlobDamaged(f"{path} is not {size} bytes long")
            data = fh.read(size + 1)
            if len(data) != size or hashlib.sha256(data).hexdigest() != address:
                raise BlobDamaged(f"{path} does not hold the bytes stored there")
            _mark(path, st.st_mtime, fh.fileno())
    except FileNotFoundError:
        raise BlobMissing(f"{path} is not there") from None
    except OSError as exc:
        raise BlobDamaged(f"cannot read {path}: {exc.strerror or exc}") from None
    return data


# --- sharing a folder between runs: a file lock ----------------------------------------------


@dataclass
class _Hold:
    """This process's use of one cache folder: the descriptor holding its lock shared (None: no
    lock could be taken — not POSIX, a folder we may not write, a file system without
    ``flock``), and whether the folder may be used at all (False: another run's trim or clean
    held it longer than ``LOCK_WAIT``)."""

    fd: int | None
    usable: bool = True


_HELD: dict[str, _Hold] = {}  # by absolute folder path; released by ``finish``
_HELD_GUARD = threading.Lock()


def _held_key(directory: Path) -> str:
    return os.path.abspath(directory)


def _share(directory: Path) -> bool:
    """Hold ``directory`` shared for the rest of the command (``finish`` releases it); False
    when it must not be used (a trim or clean of another run outlasted ``LOCK_WAIT``). A folder
    that does not exist yet is not held (nothing in it to read; the first write makes it)."""
    key = _held_key(directory)
    with _HELD_GUARD:
        hold = _HELD.get(key)
        if hold is not None:
            return hold.usable
        if fcntl is None:
            _HELD[key] = _Hold(None)
            return True
        try:
            fd = os.open(os.path.join(key, LOCK), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o666)
        except FileNotFoundError:
            return True
        except OSError as exc:  # a read-only folder: used without the lock
            log.debug("cache %s used without its lock: %s", directory, exc)
            _HELD[key] = _Hold(None)
            return True
        deadline = time.monotonic() + LOCK_WAIT
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except BlockingIOError:
                if time.monotonic() < deadline:
                    time.sleep(0.05)
                    continue
                os.close(fd)
                log.warning("the cache %s is being trimmed or cleaned by another o2kit run; "
                            "this command does without it", directory)
                _HELD[key] = _Hold(None, usable=False)
                return False
            except OSError as exc:  # no flock on this file system
                log.debug("cache %s used without its lock: %s", directory, exc)
                os.close(fd)
                _HELD[key] = _Hold(None)
                return True
            _HELD[key] = _Hold(fd)
            return True


class CacheBusy(UserError):
    """Another o2kit run is using the cache folder (``trim`` and ``clean`` need it alone)."""


class NotACache(UserError):
    """The folder does not carry o2kit's ``CACHEDIR.TAG``: nothing in it is ours to delete."""


class Cache:
    """Entries ``<directory>/<namespace>/<key[:2]>/<key>.json`` and blobs
    ``<directory>/blobs/<sha[:2]>/<sha>``; ``Cache(None)`` is off."""

    def __init__(self, directory: Path | None) -> None:
        self.directory = directory
        self.hits = 0
        self.misses = 0
        self._prepared = False
        self._held = _held_key(directory) if directory is not None else ""

    @property
    def enabled(self) -> bool:
        return self.directory is not None

    def _path(self, namespace: str, key: str) -> Path:
        assert self.directory is not None
        return self.directory / namespace / key[:2] / f"{key}.json"

    def _use(self) -> bool:
        """Hold the folder shared before anything in it is read or written (``_share``; once
        per process and folder, until ``finish``)."""
        hold = _HELD.get(self._held)
        if hold is not None:
            return hold.usable
        assert self.directory is not None
        return _share(self.directory)

    def get(self, namespace: str, key: str) -> Any | None:
        """The value stored under ``key``, or None (absent, unreadable, too large, corrupt). A
        hit marks the entry used (``_mark``)."""
        if self.directory is None:
            return None
        if not self._use():
            self.misses += 1
            return None
        path = self._path(namespace, key)
        try:
            with path.open("rb") as fh:
                st = os.fstat(fh.fileno())
                if st.st_size > MAX_ENTRY_BYTES:
                    raise ValueError("entry too large")
                entry = json.loads(fh.read())
                if (not isinstance(entry, dict) or entry.get("key") != key
                        or "value" not in entry):
                    raise ValueError("entry is not for this key")
                _mark(path, st.st_mtime, fh.fileno())
        except FileNotFoundError:
            self.misses += 1
            return None
        except (OSError, ValueError, RecursionError) as exc:  # corrupt: a miss, never trusted
            log.debug("ignoring cache entry %s: %s", path, exc)
            self.misses += 1
            return None
        self.hits += 1
        return entry["value"]

    def refused(self) -> None:
        """The value ``get`` just returned was not usable after all (it names a blob that is
        gone, …): count it as the miss it is."""
        self.hits -= 1
        self.misses += 1

    def put(self, namespace: str, key: str, value: Any, *, verify: bool = False) -> None:
        """Store ``value`` (plain JSON data) under ``key``; failures are logged, never raised.
        With ``verify``, store it only if it reads back equal (JSON would turn a tuple into a
        list or an integer mapping key into a string: such a value is not cached at all)."""
        if self.directory is None:
            return
        try:
            text = json.dumps({"key": key, "value": value}, ensure_ascii=False, allow_nan=False,
                              separators=(",", ":"))
            if verify and json.loads(text)["value"] != value:
                raise ValueError("the value does not survive a round trip through JSON")
        except (TypeError, ValueError) as exc:
            log.debug("not caching %s/%s: %s", namespace, key, exc)
            return
        data = text.encode("utf-8")
        if len(data) > MAX_ENTRY_BYTES:
            return
        path = self._path(namespace, key)
        try:
            self._write(path, data)
        except OSError as exc:
            log.debug("cannot write cache entry %s: %s", path, exc)

    def blob_path(self, address: str) -> Path | None:
        """Where the blob ``address`` is (None when the cache is off or ``address`` is not a
        SHA-256 in hex: an address read from an entry is untrusted text, never a path)."""
        if self.directory is None or len(address) != 64 or not _ADDRESS.issuperset(address):
            return None
        return self.directory / BLOBS / address[:2] / address

    def stored_blob(self, address: str, size: int) -> Path | None:
        """Where the blob ``address`` is, when it is stored there with ``size`` bytes (else
        None). An entry naming it was just hit: the blob is marked used with it, so a trim never
        deletes the body of an entry in use, even one a plan in sync never reads."""
        path = self.blob_path(address)
        if path is None:
            return None
        try:
            st = path.stat()
        except OSError:
            return None
        if st.st_size != size:
            return None
        _mark(path, st.st_mtime)
        return path

    def put_blob(self, data: bytes) -> str | None:
        """Store ``data`` under its SHA-256 and return that address; None when the cache is off,
        the data is over ``MAX_ENTRY_BYTES`` or it cannot be written (logged, never raised).
        Bytes already stored at their address are not written again (only marked used)."""
        if self.directory is None or len(data) > MAX_ENTRY_BYTES or not self._use():
            return None
        address = hashlib.sha256(data).hexdigest()
        path = self.blob_path(address)
        assert path is not None
        try:
            st = path.stat()
            if st.st_size == len(data):
                _mark(path, st.st_mtime)
                return address
        except OSError:
            pass
        try:
            self._write(path, data)
        except OSError as exc:
            log.debug("cannot write cache blob %s: %s", path, exc)
            return None
        return address

    def _write(self, path: Path, data: bytes) -> None:
        """Write ``data`` to ``path`` atomically (a temporary file renamed into place)."""
        self._prepare()
        if not self._use():
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def _prepare(self) -> None:
        if self._prepared or self.directory is None:
            return
        try:
            self.directory.mkdir(parents=True)
        except FileExistsError:
            pass
        else:  # a new folder: nothing to trim for a day
            _write_trim_time(self.directory, time.time())
        for name, text in ((".gitignore", "# Created by o2kit; delete freely.\n*\n"),
                           ("CACHEDIR.TAG", _CACHEDIR_TAG)):
            target = self.directory / name
            if not target.exists():
                target.write_text(text, encoding="utf-8")
        self._prepared = True


def cache_dir(root: Path, env: Mapping[str, str]) -> Path:
    """Where the cache of the project at ``root`` lives: ``$O2KIT_CACHE_DIR`` or
    ``<root>/.o2kit/cache``."""
    configured = env.get(CACHE_ENV)
    if configured:
        return Path(configured)
    return root / DEFAULT_DIR


def open_cache(root: Path, env: Mapping[str, str], *, enabled: bool = True) -> Cache:
    return Cache(cache_dir(root, env) if enabled else None)


_SCRATCH: list[Path] = []
_SCRATCH_AT_EXIT = False


def scratch_cache() -> Cache:
    """A cache of this command alone, in a new temporary folder that ``finish`` (or the exit of
    the process) removes: ``--no-cache`` reads and writes no cache a run may share, but the
    bodies a load renders still go to disk rather than all to memory (the loader keeps a
    reference to a cached body and reads it when used: at 1,000 dashboards, ~340 MB less)."""
    try:
        directory = Path(tempfile.mkdtemp(prefix="o2kit-scratch-"))
    except OSError as exc:  # no usable temporary directory: the bodies stay in memory
        log.debug("no scratch cache: %s", exc)
        return Cache(None)
    global _SCRATCH_AT_EXIT
    if not _SCRATCH_AT_EXIT:
        atexit.register(_remove_scratch)
        _SCRATCH_AT_EXIT = True
    _SCRATCH.append(directory)
    return Cache(directory)


def _remove_scratch() -> None:
    while _SCRATCH:
        shutil.rmtree(_SCRATCH.pop(), ignore_errors=True)


# --- what the folder holds, and trimming it --------------------------------------------------

_NAMESPACE = re.compile(r"[a-z][a-z0-9_-]{0,63}")
_HEX64 = re.compile(rb"[0-9a-f]{64}")
_TEMP = ".tmp-"


@dataclass
class _File:
    kind: str  # "entry", "blob" or "temp" (a write that did not finish)
    path: Path
    size: int
    mtime: float
    namespace: str = ""


def _scan(directory: str) -> list[os.DirEntry[str]]:
    try:
        with os.scandir(directory) as found:
            return list(found)
    except OSError:
        return []


def _walk(directory: Path) -> Iterator[_File]:
    """Every file of the cache's own layout under ``directory``, walked once: entries
    ``<namespace>/<key[:2]>/<key>.json``, blobs ``blobs/<sha[:2]>/<sha>`` and temporary files
    ``.tmp-*`` beside them. Anything else — other names, links, files elsewhere — is not ours
    and never reported (so never deleted)."""
    for top in _scan(str(directory)):
        if top.name.startswith(_TEMP) and top.is_file(follow_symlinks=False):
            yield from _stat(top, "temp", "")
            continue
        if not _NAMESPACE.fullmatch(top.name) or not top.is_dir(follow_symlinks=False):
            continue
        namespace = top.name
        for sub in _scan(top.path):
            if len(sub.name) != 2 or not sub.is_dir(follow_symlinks=False):
                continue
            for item in _scan(sub.path):
                name = item.name
                if name.startswith(_TEMP):
                    kind = "temp"
                elif namespace == BLOBS:
                    if len(name) != 64 or not _ADDRESS.issuperset(name):
                        continue
                    kind = "blob"
                elif name.endswith(".json"):
                    kind = "entry"
                else:
                    continue
                if name[:2] != sub.name and kind != "temp":
                    continue
                if item.is_file(follow_symlinks=False):
                    yield from _stat(item, kind, namespace)


def _stat(item: os.DirEntry[str], kind: str, namespace: str) -> Iterator[_File]:
    try:
        st = item.stat(follow_symlinks=False)
    except OSError:  # deleted meanwhile
        return
    yield _File(kind, Path(item.path), st.st_size, st.st_mtime, namespace)


def is_ours(directory: Path) -> bool:
    """Whether ``directory`` carries the ``CACHEDIR.TAG`` o2kit writes: only then is anything
    in it deleted (``O2KIT_CACHE_DIR`` pointed at a home folder deletes nothing)."""
    try:
        with (directory / "CACHEDIR.TAG").open("rb") as fh:
            tag = fh.read(4096)
    except OSError:
        return False
    return tag.startswith(_CACHEDIR_TAG.split("\n", 1)[0].encode()) and b"by o2kit" in tag


def last_trim(directory: Path) -> float | None:
    """When the folder was last trimmed (``trim.txt``, seconds since the epoch), if known."""
    try:
        text = (directory / TRIM_FILE).read_text(encoding="ascii").strip()
        value = float(int(text)) if len(text) <= 20 else None
    except (OSError, ValueError, UnicodeDecodeError):
        return None
    return value


def _write_trim_time(directory: Path, now: float) -> None:
    try:
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=_TEMP)
        try:
            with os.fdopen(fd, "w", encoding="ascii") as fh:
                fh.write(f"{int(now)}\n")
            os.replace(tmp, directory / TRIM_FILE)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    except OSError as exc:  # then it is trimmed again next time: harmless
        log.debug("cannot write %s: %s", directory / TRIM_FILE, exc)


def trim_due(directory: Path, now: float) -> bool:
    """Whether the automatic trim should run: never trimmed, or more than ``TRIM_INTERVAL``
    ago, or ``trim.txt`` is in the future by more than ``MARK_INTERVAL`` (a clock set back; as
    Go's ``Trim``)."""
    last = last_trim(directory)
    return last is None or not (-MARK_INTERVAL < now - last < TRIM_INTERVAL)


def trim_days(env: Mapping[str, str]) -> float:
    """The age, in days, past which the automatic trim deletes an unused file:
    ``$O2KIT_CACHE_TRIM_DAYS`` or ``TRIM_DAYS``. Raises ValueError naming the variable when it
    is not a number from 0 to ``TRIM_DAYS_MAX``."""
    text = env.get(TRIM_DAYS_ENV)
    if text is None or not text.strip():
        return TRIM_DAYS
    try:
        days = float(text)
    except ValueError:
        days = math.nan
    if not (0 <= days <= TRIM_DAYS_MAX):  # NaN and inf too
        raise ValueError(f"{TRIM_DAYS_ENV}={text[:40]!r} is not a number of days from 0 to "
                         f"{TRIM_DAYS_MAX:g}")
    return days


@dataclass
class Usage:
    """What a cache folder holds (``usage``), or what a trim removed and kept."""

    entries: int = 0
    entry_bytes: int = 0
    blobs: int = 0
    blob_bytes: int = 0
    temp_files: int = 0
    namespaces: dict[str, int] = field(default_factory=dict)

    @property
    def bytes(self) -> int:
        return self.entry_bytes + self.blob_bytes

    def add(self, item: _File) -> None:
        if item.kind == "entry":
            self.entries += 1
            self.entry_bytes += item.size
            self.namespaces[item.namespace] = self.namespaces.get(item.namespace, 0) + 1
        elif item.kind == "blob":
            self.blobs += 1
            self.blob_bytes += item.size
        else:
            self.temp_files += 1

    def as_json(self) -> dict[str, Any]:
        return {"entries": self.entries, "entry_bytes": self.entry_bytes, "blobs": self.blobs,
                "blob_bytes": self.blob_bytes, "bytes": self.bytes,
                "temp_files": self.temp_files, "namespaces": dict(sorted(self.namespaces.items()))}


def usage(directory: Path) -> Usage:
    """Count what ``directory`` holds (reads nothing but the folder listing; marks nothing)."""
    found = Usage()
    for item in _walk(directory):
        found.add(item)
    return found


@dataclass
class Trimmed:
    removed: Usage
    kept: Usage


def _cutoff(now: float, days: float) -> float:
    """Files last used before this are unused for ``days``: one ``MARK_INTERVAL`` earlier,
    since marks are refreshed at most that often (as Go's ``Trim``)."""
    return now - days * 86400 - MARK_INTERVAL


def _sweep(directory: Path, cutoff: float, now: float) -> Trimmed:
    """Delete, in one walk of ``directory``, the entries last used before ``cutoff``, the blobs
    last used before it that no remaining entry names, and temporary files older than an hour.
    The caller holds the folder's lock exclusively."""
    files = list(_walk(directory))
    removed, kept = Usage(), Usage()
    named: set[bytes] = set()

    def remove(item: _File) -> None:
        try:
            item.path.unlink()
        except FileNotFoundError:
            pass
        except OSError as exc:
            log.debug("cannot remove %s: %s", item.path, exc)
            kept.add(item)
            return
        removed.add(item)

    for item in files:
        if item.kind == "entry":
            if item.mtime < cutoff:
                remove(item)
                continue
            kept.add(item)
            if item.size <= MAX_ENTRY_BYTES:  # a larger one is never read: it names nothing
                with contextlib.suppress(OSError):
                    named.update(_HEX64.findall(item.path.read_bytes()))
        elif item.kind == "temp" and item.mtime < now - MARK_INTERVAL:
            remove(item)
    for item in files:
        if item.kind == "blob":
            if item.mtime < cutoff and item.path.name.encode() not in named:
                remove(item)
            else:
                kept.add(item)
    return Trimmed(removed, kept)


def _lock_alone(directory: Path, wait: float) -> int | None:
    """A descriptor holding ``directory``'s lock exclusively (no run uses the folder now), or
    None when there is no lock to take (not POSIX, or the file system has none). Raises
    ``CacheBusy`` when other runs still hold it after ``wait`` seconds."""
    if fcntl is None:
        return None
    with _HELD_GUARD:  # this process's own use of the folder ends here (its marks stay)
        own = _HELD.pop(_held_key(directory), None)
    if own is not None and own.fd is not None:
        fd = own.fd
    else:
        fd = os.open(directory / LOCK, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o666)
    deadline = time.monotonic() + wait
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return fd
        except BlockingIOError:
            if time.monotonic() < deadline:
                time.sleep(0.05)
                continue
            os.close(fd)
            raise CacheBusy(f"the cache {directory} is in use by another o2kit run",
                            remedy="run this again when that run has finished") from None
        except OSError:
            os.close(fd)
            return None


def _owned(directory: Path) -> bool:
    """False when there is no folder (nothing to do); raises ``NotACache`` for a folder that
    is not o2kit's."""
    if not directory.is_dir():
        return False
    if not is_ours(directory):
        raise NotACache(f"{directory} is not an o2kit cache (no CACHEDIR.TAG written by o2kit); "
                        "nothing was removed",
                        remedy=f"check {CACHE_ENV} and -C; delete the folder yourself if "
                               "it is one")
    return True


def trim(directory: Path, days: float, *, now: float | None = None,
         wait: float | None = None) -> Trimmed:
    """Delete what was not used for ``days`` days (``o2kit cache trim``): entries, blobs no
    remaining entry names, temporary files older than an hour. The cutoff is one
    ``MARK_INTERVAL`` earlier than ``days`` (marks are refreshed at most hourly; as Go's
    ``Trim``). Waits up to ``wait`` seconds (``LOCK_WAIT``) for runs using the folder, then raises
    ``CacheBusy``; ``NotACache`` for a folder without o2kit's ``CACHEDIR.TAG``."""
    now = time.time() if now is None else now
    if not _owned(directory):
        return Trimmed(Usage(), Usage())
    fd = _lock_alone(directory, LOCK_WAIT if wait is None else wait)
    try:
        done = _sweep(directory, _cutoff(now, days), now)
        _write_trim_time(directory, now)
        return done
    finally:
        if fd is not None:
            os.close(fd)


def clean(directory: Path, *, now: float | None = None, wait: float | None = None) -> Trimmed:
    """Delete every entry and blob (``o2kit cache clean``), and the sub-folders they leave
    empty; the folder keeps its ``.gitignore``, ``CACHEDIR.TAG`` and lock."""
    now = time.time() if now is None else now
    if not _owned(directory):
        return Trimmed(Usage(), Usage())
    fd = _lock_alone(directory, LOCK_WAIT if wait is None else wait)
    try:
        done = _sweep(directory, math.inf, now)
        for top in _scan(str(directory)):
            if _NAMESPACE.fullmatch(top.name) and top.is_dir(follow_symlinks=False):
                for sub in _scan(top.path):
                    if len(sub.name) == 2 and sub.is_dir(follow_symlinks=False):
                        _rmdir(sub.path)
                _rmdir(top.path)
        _write_trim_time(directory, now)
        return done
    finally:
        if fd is not None:
            os.close(fd)


def _rmdir(path: str) -> None:
    with contextlib.suppress(OSError):
        os.rmdir(path)  # only when empty: anything not ours stays, with its folders


def finish(env: Mapping[str, str], *, now: float | None = None,
           trim: bool = True) -> list[tuple[Path, Trimmed]]:
    """At the end of a command: trim each cache folder this process used when it is due
    (``trim_due``: at most once per ``TRIM_INTERVAL``) and no other run is using it (no wait:
    otherwise a later command does it), then release the folders (only that, without
    ``trim``). What was trimmed is returned (and logged). Never raises for the cache's sake: a
    trim that fails is logged."""
    now = time.time() if now is None else now
    with _HELD_GUARD:
        holds = list(_HELD.items())
        _HELD.clear()
    done: list[tuple[Path, Trimmed]] = []
    days: float | None = None
    try:
        days = trim_days(env) if trim else None
    except ValueError as exc:
        if holds:
            log.warning("%s; the cache was not trimmed", exc)
    for key, hold in holds:
        directory = Path(key)
        try:
            if (days is None or hold.fd is None or fcntl is None
                    or not trim_due(directory, now) or not is_ours(directory)):
                continue
            try:  # from shared to exclusive: only when no other run holds the folder
                fcntl.flock(hold.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                log.debug("cache %s is in use by another run: not trimmed now", directory)
                continue
            if not trim_due(directory, now):  # another run trimmed it a moment ago
                continue
            result = _sweep(directory, _cutoff(now, days), now)
            _write_trim_time(directory, now)
            log.info("cache %s trimmed: %d entries and %d blobs (%d bytes) unused for %g days "
                     "removed", directory, result.removed.entries, result.removed.blobs,
                     result.removed.bytes, days)
            done.append((directory, result))
        except OSError as exc:
            log.debug("cannot trim cache %s: %s", directory, exc)
        finally:
            if hold.fd is not None:
                os.close(hold.fd)
    _remove_scratch()
    return done
