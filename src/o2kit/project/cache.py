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
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from collections.abc import Iterable, Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

import o2kit

log = logging.getLogger(__name__)

CACHE_ENV = "O2KIT_CACHE_DIR"
DEFAULT_DIR = Path(".o2kit") / "cache"
FORMAT = 3  # bump when the layout of entries changes (2: bodies as JSON text; 3: as blobs)
MAX_ENTRY_BYTES = 32 * 1024 * 1024
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


def read_blob(path: Path, address: str, size: int) -> bytes:
    """The bytes stored at ``path`` (``Cache.blob_path``), checked against the ``size`` and the
    SHA-256 ``address`` they were stored with. Raises ``BlobDamaged``."""
    try:
        with path.open("rb") as fh:
            if os.fstat(fh.fileno()).st_size != size:
                raise BlobDamaged(f"{path} is not {size} bytes long")
            data = fh.read(size + 1)
    except OSError as exc:
        raise BlobDamaged(f"cannot read {path}: {exc.strerror or exc}") from None
    if len(data) != size or hashlib.sha256(data).hexdigest() != address:
        raise BlobDamaged(f"{path} does not hold the bytes stored there")
    return data


class Cache:
    """Entries ``<directory>/<namespace>/<key[:2]>/<key>.json`` and blobs
    ``<directory>/blobs/<sha[:2]>/<sha>``; ``Cache(None)`` is off."""

    def __init__(self, directory: Path | None) -> None:
        self.directory = directory
        self.hits = 0
        self.misses = 0
        self._prepared = False

    @property
    def enabled(self) -> bool:
        return self.directory is not None

    def _path(self, namespace: str, key: str) -> Path:
        assert self.directory is not None
        return self.directory / namespace / key[:2] / f"{key}.json"

    def get(self, namespace: str, key: str) -> Any | None:
        """The value stored under ``key``, or None (absent, unreadable, too large, corrupt)."""
        if self.directory is None:
            return None
        path = self._path(namespace, key)
        try:
            with path.open("rb") as fh:
                if os.fstat(fh.fileno()).st_size > MAX_ENTRY_BYTES:
                    raise ValueError("entry too large")
                entry = json.loads(fh.read())
            if not isinstance(entry, dict) or entry.get("key") != key or "value" not in entry:
                raise ValueError("entry is not for this key")
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

    def put_blob(self, data: bytes) -> str | None:
        """Store ``data`` under its SHA-256 and return that address; None when the cache is off,
        the data is over ``MAX_ENTRY_BYTES`` or it cannot be written (logged, never raised).
        Bytes already stored at their address are not written again."""
        if self.directory is None or len(data) > MAX_ENTRY_BYTES:
            return None
        address = hashlib.sha256(data).hexdigest()
        path = self.blob_path(address)
        assert path is not None
        try:
            if path.stat().st_size == len(data):
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
        self.directory.mkdir(parents=True, exist_ok=True)
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
