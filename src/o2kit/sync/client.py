"""The OpenObserve HTTP API client: the only module of o2kit that talks HTTP.

One method per endpoint o2kit uses (reference ``openobserve-api.md`` §1–§7; routes in the
OpenObserve source ``src/api/http/src/handler/http/router/mod.rs``). Methods return the decoded
JSON the server sends, unchanged: turning it into o2kit's values is the job of ``remote`` and
``kinds``. Every method takes a keyword ``resource`` (e.g. ``'dashboard "Bedrock/Overview"'``)
that names the object in error messages.

Connection
    HTTP Basic auth (a password, or a service account's token — OpenObserve's OSS build has no
    Bearer tokens). The base URL may carry a path prefix (OpenObserve's ``ZO_BASE_URI``, e.g.
    ``https://o2.example.com/observe``); every path, ``/healthz`` included, goes under it. Path
    segments are percent-encoded. TLS is verified against certifi's CA bundle (or
    ``SSL_CERT_FILE``/``SSL_CERT_DIR``), or against ``ca_bundle`` when given; ``insecure``
    turns verification off and logs a warning. Proxy variables (``HTTPS_PROXY``...) are honoured.

Concurrency
    At most ``settings.concurrency`` requests are in flight at once, however many threads call
    the client (a semaphore around each send; back-off sleeps do not hold a slot). ``map`` runs a
    function over items on that many threads and returns results — or the exceptions raised —
    in input order.

Retries — the rule is *never create a duplicate*
    =========================  ===================================  ==========================
    answer                     GET, HEAD, PUT, DELETE               POST (creates)
    =========================  ===================================  ==========================
    ConnectError, ConnectTim-  retry                                retry: the request never
    eout, PoolTimeout                                               left this machine
    read/write timeout, reset, retry                                no retry: raise
    protocol error                                                  ``TransportError``,
                                                                    ``ambiguous=True``
    429                        retry (Retry-After honoured)         retry: rate limiting happens
                                                                    before the handler runs
    502, 503, 504              retry (Retry-After honoured on 503)  no retry: raise ``ApiError``,
                                                                    ``ambiguous=True``
    500 and other 5xx          no retry, ``ambiguous=True``         no retry, ``ambiguous=True``
    3xx, 4xx                   no retry                             no retry
    =========================  ===================================  ==========================

    PUTs here are full replaces and DELETEs remove one named object, so repeating them is safe.
    A retry waits ``random() * min(BACKOFF_CAP, BACKOFF_BASE * 2**(n-1))`` seconds before retry
    ``n`` ("full jitter"), or exactly what ``Retry-After`` asks (seconds or an HTTP date, read
    against the response's ``Date``), capped at ``RETRY_AFTER_CAP``. At most ``settings.retries``
    retries follow the first attempt. A TLS set-up failure (untrusted certificate, https to a
    plain-http port) is never retried: it will not heal by waiting.

    When an earlier attempt may have reached the handler (it was sent but not answered, or a
    gateway answered 502/503/504) the outcome of the retry is read with that in mind:

    - a DELETE answered 404 counts as done — the lost first attempt deleted it;
    - a PUT is returned as the server answers; a 409 (stale dashboard hash) or 400 may be the
      echo of our own first attempt, so the error says ``ambiguous=True`` and ``attempts=N``.

Bounds (README "Limits")
    ``settings.timeout`` is a wall-clock deadline for each attempt — connecting, sending, the
    status line, headers and the whole body — not a per-read timeout: a server dripping a byte a
    second is cut at it (``_send_bounded``). An answer body over ``settings.max_response_bytes``
    (64 MiB, env ``O2KIT_MAX_RESPONSE_MB``; decoded size) is abandoned with an ``ApiError``, never
    retried. ``Retry-After`` is capped at ``RETRY_AFTER_CAP`` (30 s), and every wait of a second
    or more is logged as a warning the CLI prints ("waiting 30 s: server said 429 ..."). One
    client (one command) retries at most ``MAX_TOTAL_RETRIES`` times and sleeps at most
    ``MAX_TOTAL_RETRY_WAIT`` seconds in all; past that, failures are reported, not retried.

Errors (the tree is drawn in ``o2kit.errors``)
    401/403 → ``AuthError``, 404 → ``NotFound``, 409 → ``Conflict``, other statuses and
    unexpected bodies → ``ApiError``, no answer → ``TransportError``. The message reads
    ``<METHOD> <path> (<resource>): <status> <server message>``; the server message is the JSON
    envelope's ``message`` (plus ``error_detail``), else the plain-text or HTML body, trimmed and
    cut to ~300 characters, else the status phrase. Every error raised here carries
    ``attempts`` (HTTP attempts made; 1 for a 2xx answer whose body was unusable) and
    ``ambiguous`` (True when a write may have been applied even though the call failed — the
    caller must look before writing again; a 2xx write with an unusable body did happen, so it
    is ambiguous too). No message or log line ever contains the Authorization header or the
    password: every message is built, then passed through ``o2kit.redact.redact`` (which knows
    the password, its Basic form, every resolved ``${env:NAME}`` value, and masks URL passwords)
    — so a server that echoes the request (headers, a webhook URL in the body) in its error is
    masked too. The password and the Firehose access key are ``redact.Secret`` values; this
    module is the only place that asks for their raw text, to put it on the wire.
"""

from __future__ import annotations

import collections
import contextlib
import email.utils
import functools
import hashlib
import json
import logging
import random as _random
import re
import ssl
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote

import httpcore
import httpx
import pydantic_core

from o2kit import __version__
from o2kit.errors import ApiError, AuthError, ConfigError, Conflict, NotFound, TransportError
from o2kit.kinds import RestApi
from o2kit.project.config import ServerSettings
from o2kit.project.jsontext import decode_json
from o2kit.redact import Secret, redact, register, register_credentials, reveal

log = logging.getLogger("o2kit.sync.client")

T = TypeVar("T")
R = TypeVar("R")
E = TypeVar("E", bound=ApiError)

BACKOFF_BASE = 0.5  # seconds: the ceiling of the first retry's random delay
BACKOFF_CAP = 8.0  # seconds: the ceiling never grows past this
RETRY_AFTER_CAP = 30.0  # seconds: a longer Retry-After is shortened to this
# Over one client's life (one command): retries after the first attempts, and seconds spent
# waiting before them. Past either, a failure is reported instead of retried.
MAX_TOTAL_RETRIES = 50
MAX_TOTAL_RETRY_WAIT = 300.0
WAIT_SHOWN_FROM = 1.0  # seconds: a wait this long is a warning the CLI prints, not a debug line
CONNECT_TIMEOUT_CAP = 10.0  # seconds: a dead host should not cost the full read timeout per try
BODY_SNIPPET = 300  # characters of an error body kept in a message

RETRY_STATUSES = frozenset({429, 502, 503, 504})
RETRY_AFTER_STATUSES = frozenset({429, 503})
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "PUT", "DELETE"})
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# Failures raised before any byte of the request left this machine: safe to retry even a POST.
NEVER_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)

FOLDER_TYPES = frozenset({"dashboards", "alerts", "reports", "synthetics"})

_TLS_REMEDY = (
    "the server's TLS certificate is not trusted: set OPENOBSERVE_CA_BUNDLE (or --ca-bundle) to "
    "the CA file that signed it; --insecure turns verification off (for testing only)"
)
_PLAIN_HTTP_REMEDY = (
    "the server did not answer TLS: if it serves plain HTTP on that port, use an http:// URL"
)
_TRANSPORT_REMEDY = "check the URL and that OpenObserve is reachable from here, then run again"
_AMBIGUOUS_REMEDY = (
    "the change may or may not have been applied; run `o2kit plan` to see the server's state"
)
_PREFIX_REMEDY = (
    "OpenObserve does not know this path: if it is served under a path prefix (ZO_BASE_URI), "
    "include the prefix in the URL"
)


def tls_verify(settings: ServerSettings) -> ssl.SSLContext | bool:
    """What to pass as httpx's ``verify``: on by default, a CA bundle if given, off if insecure."""
    if settings.insecure:
        log.warning(
            "TLS certificate verification is OFF (--insecure)%s",
            f"; CA bundle {settings.ca_bundle} ignored" if settings.ca_bundle else "",
        )
        return False
    if not settings.ca_bundle:
        return True
    path = Path(settings.ca_bundle).expanduser()
    try:
        if path.is_dir():
            return ssl.create_default_context(capath=str(path))
        if not path.is_file():
            raise ConfigError(
                f"CA bundle {settings.ca_bundle} not found",
                remedy="point OPENOBSERVE_CA_BUNDLE (or --ca-bundle) at a PEM file or directory",
            )
        return ssl.create_default_context(cafile=str(path))
    except (ssl.SSLError, OSError) as exc:
        raise ConfigError(
            f"CA bundle {settings.ca_bundle} cannot be loaded: {exc}",
            remedy="the file must hold PEM certificates",
        ) from exc


def _base_url(raw: str) -> str:
    """Scheme, host, port and path prefix of the server URL, without a trailing slash."""
    try:
        url = httpx.URL(raw)
    except httpx.InvalidURL as exc:
        raise ConfigError(redact(f"server URL {raw!r} is not a URL: {exc}")) from exc
    if url.scheme not in ("http", "https") or not url.host:
        raise ConfigError(redact(f"server URL {raw!r} must look like https://host[:port][/prefix]"))
    if url.userinfo:
        # Refusing keeps credentials out of every URL we print or log.
        raise ConfigError(
            "the server URL must not contain credentials",
            remedy="export OPENOBSERVE_USER and OPENOBSERVE_PASSWORD instead",
        )
    if url.query or url.fragment:
        raise ConfigError(redact(f"server URL {raw!r} must not have a query string or fragment"))
    prefix = url.raw_path.decode("ascii").rstrip("/")
    return str(url.copy_with(raw_path=b"/")).rstrip("/") + prefix


def _segments(*parts: str) -> str:
    """``/a/b/c`` with each part percent-encoded (names may hold spaces, '/', '%', '?')."""
    return "".join("/" + quote(str(part), safe="") for part in parts)


def retry_after_seconds(response: httpx.Response) -> float | None:
    """The delay a ``Retry-After`` header asks for, or None if absent or unreadable.

    An HTTP date is measured from the response's own ``Date`` header when it has one, so a
    skewed local clock does not matter; otherwise from this machine's clock.
    """
    value = response.headers.get("retry-after", "").strip()
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        return None
    now: float | None = None
    if "date" in response.headers:
        try:
            now = email.utils.parsedate_to_datetime(response.headers["date"]).timestamp()
        except (TypeError, ValueError):
            now = None
    if now is None:
        now = time.time()
    return max(0.0, when.timestamp() - now)


class FairSlots:
    """At most ``n`` holders at once (``with slots:``), the waiting served in arrival order.

    ``threading.Semaphore`` lets a thread that has just released a slot take it again before a
    thread already waiting wakes up: with eight threads reading alerts back to back, the one
    reading a dashboard list waited for all 1,000 alerts (2.9 s of a 5.4 s plan). Here a
    release hands the slot to the first waiter."""

    def __init__(self, n: int) -> None:
        self._free = n
        self._lock = threading.Lock()
        self._waiting: collections.deque[threading.Lock] = collections.deque()

    def __enter__(self) -> FairSlots:
        with self._lock:
            if self._free and not self._waiting:
                self._free -= 1
                return self
            turn = threading.Lock()
            turn.acquire()
            self._waiting.append(turn)
        try:
            turn.acquire()  # released by the holder that hands its slot over
        except BaseException:  # interrupted (Ctrl-C) while waiting
            with self._lock:
                if turn in self._waiting:
                    self._waiting.remove(turn)
                    raise
            self.__exit__()  # the slot was handed over meanwhile: pass it on
            raise
        return self

    def __exit__(self, *exc_info: object) -> None:
        with self._lock:
            if self._waiting:
                self._waiting.popleft().release()
            else:
                self._free += 1


def _outline_envelope_schema() -> pydantic_core.core_schema.CoreSchema:
    """A dashboard envelope (or list item) whose ``vN`` body keeps every member as it is but
    ``tabs``, whose tabs keep every member but ``panels``, whose panels keep none."""
    cs = pydantic_core.core_schema
    panel = cs.typed_dict_schema({}, extra_behavior="ignore")
    tab = cs.typed_dict_schema(
        {"panels": cs.typed_dict_field(cs.list_schema(panel), required=False)},
        extra_behavior="allow")
    body = cs.typed_dict_schema(
        {"tabs": cs.typed_dict_field(cs.list_schema(tab), required=False)},
        extra_behavior="allow")
    return cs.typed_dict_schema(
        {f"v{n}": cs.typed_dict_field(cs.nullable_schema(body), required=False)
         for n in range(1, 9)},
        extra_behavior="allow")


@functools.cache
def _dashboard_outline_reader() -> pydantic_core.SchemaValidator:
    """``{"dashboards": [item]}`` with each item in outline (``_outline_envelope_schema``)."""
    cs = pydantic_core.core_schema
    return pydantic_core.SchemaValidator(cs.typed_dict_schema(
        {"dashboards": cs.typed_dict_field(cs.list_schema(_outline_envelope_schema()))},
        extra_behavior="allow"))


@functools.cache
def _envelope_outline_reader() -> pydantic_core.SchemaValidator:
    return pydantic_core.SchemaValidator(_outline_envelope_schema())


def _outline(reader: pydantic_core.SchemaValidator, answer: httpx.Response) -> Any:
    """``answer`` read in outline by ``reader``, or None when it has another shape (then a full
    decode decides what it is)."""
    try:
        return reader.validate_json(answer.content)
    except (pydantic_core.ValidationError, ValueError, RecursionError):
        return None


def encode_json(value: Any) -> bytes:
    """``json.dumps(value, ensure_ascii=False, allow_nan=False).encode()`` as a JSON value, ~2x
    faster on the dashboard bodies apply sends (1.08 → 0.47 ms for one; pydantic-core's
    encoder). What json.dumps would refuse — NaN or an infinity, a type that is not JSON such as
    a ``redact.Secret`` — is left to json.dumps, which raises exactly as before; a set or a
    tuple is sent as an array."""
    try:
        data = pydantic_core.to_json(value, inf_nan_mode="constants")
    except (pydantic_core.PydanticSerializationError, ValueError, TypeError, RecursionError):
        data = None
    # "NaN"/"Infinity" also match inside a string: that only costs the slow path.
    if data is None or b"NaN" in data or b"Infinity" in data:
        return json.dumps(value, ensure_ascii=False, allow_nan=False).encode("utf-8")
    return data


def _collapse(text: str) -> str:
    text = " ".join(text.split())
    if len(text) > BODY_SNIPPET:
        text = text[: BODY_SNIPPET - 1].rstrip() + "…"
    return text


_HTML_TITLE = re.compile(r"<title[^>]*>(.*?)</title>", re.IGNORECASE | re.DOTALL)
_HTML_TAG = re.compile(r"<[^>]+>")
_HTML_NOISE = re.compile(r"<(script|style)[^>]*>.*?</\1>", re.IGNORECASE | re.DOTALL)


def server_message(response: httpx.Response) -> str:
    """What the server said, in one line: envelope message, plain text, HTML title, or phrase.

    OpenObserve handlers answer ``{"code", "message", "error_detail"?}``
    (``src/common/src/meta/http.rs``); the web framework answers parse failures in plain text
    (reference §1.2); proxies in front of it answer HTML.
    """
    text = response.text.strip()
    if not text:
        return response.reason_phrase or ""
    try:
        data = json.loads(text)
    except ValueError:
        data = None
    if isinstance(data, dict):
        message = data.get("message") or data.get("error")
        if isinstance(message, str) and message.strip():
            detail = data.get("error_detail")
            if isinstance(detail, str) and detail.strip() and detail.strip() != message.strip():
                return _collapse(f"{message.strip()}: {detail.strip()}")
            return _collapse(message)
        return _collapse(json.dumps(data, separators=(",", ":"), ensure_ascii=False))
    if isinstance(data, str) and data.strip():
        return _collapse(data)
    if text.startswith("<") or "html" in response.headers.get("content-type", ""):
        title = _HTML_TITLE.search(text)
        if title and title.group(1).strip():
            return _collapse(title.group(1))
        return _collapse(_HTML_TAG.sub(" ", _HTML_NOISE.sub(" ", text))) or (
            response.reason_phrase or ""
        )
    return _collapse(text)


class ResponseTooLarge(Exception):
    """An answer body over ``ServerSettings.max_response_bytes`` (raised while reading it)."""

    def __init__(self, size: int, limit: int) -> None:
        super().__init__(f"{size} > {limit}")
        self.size = size
        self.limit = limit


# The wall-clock deadline of the request this thread is sending (``time.monotonic``), or None.
_deadline = threading.local()


def _left(timeout: float | None) -> float | None:
    """A socket timeout shortened so that no read or write waits past this thread's deadline."""
    until: float | None = getattr(_deadline, "until", None)
    if until is None:
        return timeout
    left = max(0.001, until - time.monotonic())
    return left if timeout is None else min(timeout, left)


class _DeadlineStream(httpcore.NetworkStream):
    """A socket stream whose every read and write waits at most until the thread's deadline."""

    def __init__(self, inner: httpcore.NetworkStream) -> None:
        self._inner = inner

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, _left(timeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, _left(timeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(self, ssl_context: ssl.SSLContext, server_hostname: str | None = None,
                  timeout: float | None = None) -> httpcore.NetworkStream:
        return _DeadlineStream(self._inner.start_tls(ssl_context, server_hostname, _left(timeout)))

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class _DeadlineBackend(httpcore.NetworkBackend):
    def __init__(self, inner: httpcore.NetworkBackend) -> None:
        self._inner = inner

    def connect_tcp(self, host: str, port: int, timeout: float | None = None,
                    local_address: str | None = None, socket_options: Any = None,
                    ) -> httpcore.NetworkStream:
        return _DeadlineStream(self._inner.connect_tcp(
            host, port, _left(timeout), local_address, socket_options))

    def connect_unix_socket(self, path: str, timeout: float | None = None,
                            socket_options: Any = None) -> httpcore.NetworkStream:
        return _DeadlineStream(self._inner.connect_unix_socket(path, _left(timeout),
                                                               socket_options))

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


def _bound_socket_reads(http: httpx.Client) -> None:
    """Put ``_DeadlineBackend`` under the connection pools httpx made for this client, so that a
    server dripping its status line and headers is cut at the deadline too (the body is checked
    in ``_send_bounded`` whatever the transport). httpx offers no public hook for the network
    backend; if its internals differ, only the body check remains, and the debug log says so.
    """
    transports = [getattr(http, "_transport", None),
                  *getattr(http, "_mounts", {}).values()]
    for transport in transports:
        pool = getattr(transport, "_pool", None)
        backend = getattr(pool, "_network_backend", None)
        if isinstance(backend, httpcore.NetworkBackend) and not isinstance(
                backend, _DeadlineBackend):
            pool._network_backend = _DeadlineBackend(backend)  # type: ignore[union-attr]
        elif transport is not None:
            log.debug("no network backend found under %r: the deadline covers the body only",
                      type(transport).__name__)


class OpenObserveClient:
    """Talks to one OpenObserve server for one org. Thread-safe; use as a context manager."""

    def __init__(
        self,
        settings: ServerSettings,
        *,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] | None = None,
        random: Callable[[], float] = _random.random,
    ) -> None:
        if settings.concurrency < 1:
            raise ConfigError("concurrency must be at least 1")
        if settings.retries < 0:
            raise ConfigError("retries cannot be negative")
        self.settings = settings
        self._base = _base_url(settings.url)
        self._org = settings.org
        # Looked up at each wait, so a test may stub ``time.sleep`` for a client the CLI makes.
        self._sleep = sleep if sleep is not None else (lambda seconds: time.sleep(seconds))
        self._random = random
        register_credentials(settings.user, settings.password)
        self._slots = FairSlots(settings.concurrency)
        self._lock = threading.Lock()
        self._requests = 0
        self._writes = 0
        self._retries_used = 0
        self._retry_wait = 0.0
        timeout = httpx.Timeout(
            settings.timeout, connect=min(settings.timeout, CONNECT_TIMEOUT_CAP)
        )
        self._http = httpx.Client(
            auth=httpx.BasicAuth(settings.user, reveal(settings.password)),
            headers={"Accept": "application/json", "User-Agent": f"o2kit/{__version__}"},
            timeout=timeout,
            # The semaphore bounds in-flight requests, so the pool never makes one wait.
            limits=httpx.Limits(
                max_connections=settings.concurrency,
                max_keepalive_connections=settings.concurrency,
            ),
            verify=tls_verify(settings),  # unused by an injected transport, still checked
            transport=transport,
            follow_redirects=False,
        )
        if transport is None:
            _bound_socket_reads(self._http)

    # -- lifecycle and counters ----------------------------------------------------------------
    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> OpenObserveClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @property
    def request_count(self) -> int:
        """HTTP requests handed to the network so far, retries included."""
        with self._lock:
            return self._requests

    @property
    def write_count(self) -> int:
        """Of those, the POST/PUT/PATCH/DELETE requests."""
        with self._lock:
            return self._writes

    # -- concurrency ---------------------------------------------------------------------------
    def map(
        self, fn: Callable[[T], R], items: Iterable[T], *, limit: int | None = None
    ) -> list[R | BaseException]:
        """``[fn(item) for item in items]`` on up to ``concurrency`` threads (and at most
        ``limit``), in input order.

        An exception raised by ``fn`` is returned in its item's place, not raised.
        """
        work = list(items)
        workers = min(self.settings.concurrency, len(work), limit or len(work))
        if workers <= 1:
            out: list[R | BaseException] = []
            for item in work:
                try:
                    out.append(fn(item))
                except Exception as exc:
                    out.append(exc)
            return out
        pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="o2kit")
        try:
            futures: list[Future[R]] = [pool.submit(fn, item) for item in work]
            results: list[R | BaseException] = []
            for future in futures:
                error = future.exception()
                results.append(error if error is not None else future.result())
            return results
        finally:
            # On Ctrl-C in the waiting thread, do not start the items not yet begun.
            pool.shutdown(wait=True, cancel_futures=True)

    # -- folders (reference §2; src/api/management/src/request/folders.rs) ---------------------
    def list_folders(self, folder_type: str, *, resource: str = "") -> list[dict[str, Any]]:
        path = self._v2("folders", _folder_type(folder_type))
        return self._items(self._get_json(path, resource=resource), "list", path, resource)

    def create_folder(
        self, folder_type: str, body: dict[str, Any], *, resource: str = ""
    ) -> dict[str, Any]:
        path = self._v2("folders", _folder_type(folder_type))
        data = self._json_of(self._call("POST", path, body=body, resource=resource), resource)
        if not isinstance(data, dict) or not data.get("folderId"):
            raise self._unexpected("POST", path, resource, "a folder with a folderId", data)
        return data

    def update_folder(
        self, folder_type: str, folder_id: str, body: dict[str, Any], *, resource: str = ""
    ) -> None:
        path = self._v2("folders", _folder_type(folder_type), folder_id)
        self._call("PUT", path, body=body, resource=resource)

    def delete_folder(self, folder_type: str, folder_id: str, *, resource: str = "") -> None:
        path = self._v2("folders", _folder_type(folder_type), folder_id)
        self._call("DELETE", path, resource=resource)

    # -- dashboards (reference §3; src/api/management/src/request/dashboards/mod.rs) -----------
    def list_dashboards(self, folder_id: str, *, resource: str = "") -> list[dict[str, Any]]:
        """List items of one folder; each carries ``hash`` and the full body under ``vN``."""
        return self.dashboard_items(self.list_dashboards_answer(folder_id, resource=resource),
                                    resource=resource)

    def list_dashboards_answer(self, folder_id: str, *, resource: str = "") -> httpx.Response:
        """The answer of ``list_dashboards``, not decoded yet (``dashboard_items``,
        ``dashboard_outline``)."""
        return self._call("GET", self._v1("dashboards"), params={"folder": folder_id},
                          resource=resource)

    def dashboard_items(
        self, answer: httpx.Response, *, resource: str = ""
    ) -> list[dict[str, Any]]:
        """The items of a ``list_dashboards_answer``, decoded in full."""
        items = self.dashboard_items_of(answer.content)
        if items is not None:
            return items
        data = self._json_of(answer, resource)  # not a list of objects: say what it is
        return self._items(data, "dashboards", self._v1("dashboards"), resource)

    @staticmethod
    def dashboard_outline(answer: httpx.Response) -> list[dict[str, Any]] | None:
        """The items of a ``list_dashboards_answer`` with every member but what is inside each
        panel: a tab keeps its other members and one empty object per panel. About 3x faster
        to decode than the whole answer, and a small fraction of its objects (a dashboard's
        panels are nearly all of its ~250 KB): enough to recognise a dashboard by its hash and
        shape (``plan.live_digest_key``). None when the answer does not have that shape; then
        ``dashboard_items`` decides what it is."""
        data = _outline(_dashboard_outline_reader(), answer)
        items = data.get("dashboards") if data is not None else None
        return items if isinstance(items, list) else None

    @staticmethod
    def dashboard_items_of(data: bytes) -> list[dict[str, Any]] | None:
        """The items of a ``list_dashboards_answer``'s bytes, decoded in full; None when they
        are not ``{"dashboards": [objects]}`` (``dashboard_items`` then says what they are)."""
        try:
            decoded = decode_json(data)
        except (ValueError, RecursionError):
            return None
        items = decoded.get("dashboards") if isinstance(decoded, dict) else None
        if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
            return None
        return items

    @staticmethod
    def outline_of_items(items: list[dict[str, Any]]) -> list[dict[str, Any]] | None:
        """``dashboard_outline`` of an answer, made by the same reader from its
        ``dashboard_items`` (already decoded) instead of from its bytes again."""
        try:
            data = _dashboard_outline_reader().validate_python({"dashboards": items})
        except (pydantic_core.ValidationError, RecursionError):
            return None
        outline: list[dict[str, Any]] = data["dashboards"]
        return outline

    @staticmethod
    def answer_digest(answer: httpx.Response) -> str:
        """The SHA-256 (hex) of an answer's bytes: hashlib lets go of the interpreter lock while
        it hashes a large buffer, so other requests go on meanwhile."""
        return hashlib.sha256(answer.content).hexdigest()

    def get_dashboard(self, dashboard_id: str, *, resource: str = "") -> dict[str, Any]:
        """The response envelope: ``{"v1".."v8", "version", "hash", "updatedAt"}``."""
        path = self._v1("dashboards", dashboard_id)
        return self._envelope("GET", path, resource, self._get_json(path, resource=resource))

    def create_dashboard(
        self, folder_id: str, body: dict[str, Any] | bytes, *, resource: str = ""
    ) -> dict[str, Any]:
        """The envelope of the new dashboard, in outline (``_written_envelope``). ``body`` may be
        its JSON already encoded (by ``encode_json``)."""
        path = self._v1("dashboards")
        raw = body if isinstance(body, bytes) else None
        response = self._call("POST", path, params={"folder": folder_id},
                              body=None if raw is not None else body, raw=raw, resource=resource)
        return self._written_envelope("POST", path, resource, response)

    def update_dashboard(
        self,
        dashboard_id: str,
        folder_id: str,
        hash: str,
        body: dict[str, Any],
        *,
        resource: str = "",
    ) -> dict[str, Any]:
        """Full replace; ``folder_id`` must be its current folder and ``hash`` the last one seen
        (a stale hash is a 409 ``Conflict``). Returns the envelope with the new hash, in
        outline (``_written_envelope``)."""
        path = self._v1("dashboards", dashboard_id)
        response = self._call(
            "PUT", path, params={"folder": folder_id, "hash": hash}, body=body, resource=resource
        )
        return self._written_envelope("PUT", path, resource, response)

    def delete_dashboard(self, dashboard_id: str, *, resource: str = "") -> None:
        self._call("DELETE", self._v1("dashboards", dashboard_id), resource=resource)

    # -- alerts v2 (reference §5; src/api/management/src/request/alerts/mod.rs) ----------------
    def list_alerts(
        self,
        folder_id: str | None = None,
        *,
        include_dependencies: bool = False,
        resource: str = "",
    ) -> list[dict[str, Any]]:
        """Alerts of one folder, or of all folders when ``folder_id`` is None (not paginated
        unless ``page_size`` is sent, which we never do). ``include_dependencies`` adds each
        item's ``destinations`` and ``template`` (reference openobserve-api.md §5.3)."""
        path = self._v2("alerts")
        params: dict[str, str] = {}
        if folder_id is not None:
            params["folder"] = folder_id
        if include_dependencies:
            params["include_dependencies"] = "true"
        data = self._get_json(path, params=params or None, resource=resource)
        return self._items(data, "list", path, resource)

    def get_alert(self, alert_id: str, *, resource: str = "") -> dict[str, Any]:
        path = self._v2("alerts", alert_id)
        data = self._get_json(path, resource=resource)
        if not isinstance(data, dict):
            raise self._unexpected("GET", path, resource, "an alert object", data)
        return data

    def create_alert(self, folder_id: str, body: dict[str, Any], *, resource: str = "") -> str:
        """Create and return the new alert's id (``{"message":"Alert saved","id":...}``)."""
        path = self._v2("alerts")
        response = self._call(
            "POST", path, params={"folder": folder_id}, body=body, resource=resource
        )
        data = self._json_of(response, resource)
        new_id = data.get("id") if isinstance(data, dict) else None
        if not isinstance(new_id, str) or not new_id:
            raise self._unexpected("POST", path, resource, "the new alert's id", data)
        return new_id

    def update_alert(self, alert_id: str, body: dict[str, Any], *, resource: str = "") -> None:
        self._call("PUT", self._v2("alerts", alert_id), body=body, resource=resource)

    def delete_alert(self, alert_id: str, *, resource: str = "") -> None:
        self._call("DELETE", self._v2("alerts", alert_id), resource=resource)

    # -- destinations and templates, keyed by name (reference §6, §7) --------------------------
    def list_destinations(self, *, resource: str = "") -> list[dict[str, Any]]:
        """Alert destinations only (``module=alert`` leaves out pipeline destinations)."""
        path = self._v1("alerts", "destinations")
        data = self._get_json(path, params={"module": "alert"}, resource=resource)
        return self._items(data, None, path, resource)

    def create_destination(self, body: dict[str, Any], *, resource: str = "") -> None:
        self._call("POST", self._v1("alerts", "destinations"), body=body, resource=resource)

    def update_destination(self, name: str, body: dict[str, Any], *, resource: str = "") -> None:
        self._call("PUT", self._v1("alerts", "destinations", name), body=body, resource=resource)

    def delete_destination(self, name: str, *, resource: str = "") -> None:
        self._call("DELETE", self._v1("alerts", "destinations", name), resource=resource)

    def list_templates(self, *, resource: str = "") -> list[dict[str, Any]]:
        """Every template the org sees, the system ``prebuilt_*`` ones of org default included."""
        path = self._v1("alerts", "templates")
        return self._items(self._get_json(path, resource=resource), None, path, resource)

    def create_template(self, body: dict[str, Any], *, resource: str = "") -> None:
        self._call("POST", self._v1("alerts", "templates"), body=body, resource=resource)

    def update_template(self, name: str, body: dict[str, Any], *, resource: str = "") -> None:
        self._call("PUT", self._v1("alerts", "templates", name), body=body, resource=resource)

    def get_template(self, name: str, *, resource: str = "") -> dict[str, Any]:
        path = self._v1("alerts", "templates", name)
        data = self._get_json(path, resource=resource)
        if not isinstance(data, dict):
            raise self._unexpected("GET", path, resource, "a template object", data)
        return data

    def get_destination(self, name: str, *, resource: str = "") -> dict[str, Any]:
        path = self._v1("alerts", "destinations", name)
        data = self._get_json(path, resource=resource)
        if not isinstance(data, dict):
            raise self._unexpected("GET", path, resource, "a destination object", data)
        return data

    def delete_template(self, name: str, *, resource: str = "") -> None:
        self._call("DELETE", self._v1("alerts", "templates", name), resource=resource)

    # -- kinds with a plain REST collection, described as data (``kinds.RestApi``) ---------------
    def _collection(self, api: RestApi, *parts: str) -> str:
        segments = api.collection.split("/")
        return (self._v2 if api.version == 2 else self._v1)(*segments, *parts)

    def list_objects(self, api: RestApi, *, resource: str = "") -> list[dict[str, Any]]:
        """Every object of a REST kind (``GET {collection}``)."""
        path = self._collection(api)
        data = self._get_json(path, params=dict(api.list_query) or None, resource=resource)
        return api.listed(self._items(data, api.items_key, path, resource))

    def get_object(self, api: RestApi, object_id: str, *, resource: str = "") -> dict[str, Any]:
        """One object (``GET {collection}/{id}``, or the list where the server has no such
        route); NotFound when absent."""
        if not api.get_one:
            for item in self.list_objects(api, resource=resource):
                if str(item.get(api.id_field, "")) == object_id:
                    return item
            raise NotFound(f"{resource or object_id} not found", status=404)
        path = self._collection(api, object_id)
        data = self._get_json(path, resource=resource)
        if not isinstance(data, dict):
            raise self._unexpected("GET", path, resource, "a JSON object", data)
        return data

    def create_object(self, api: RestApi, body: dict[str, Any], *, resource: str = "") -> Any:
        """``POST {collection}``; the parsed answer (some kinds answer with the new id)."""
        body = api.with_org(body, self.settings.org)
        response = self._call("POST", self._collection(api), body=body, resource=resource)
        try:
            answer = response.json() if response.content else None
        except ValueError:
            return None
        self._refused_in_200(answer, "POST", resource)
        return answer

    def _refused_in_200(self, answer: Any, method: str, resource: str) -> None:
        """OpenObserve sends an error whose code has no HTTP status of its own (e.g. an SLO's 413
        budget refusal) with HTTP 200 and the code in the envelope
        (``src/common/src/meta/http.rs`` ``HttpResponse::into_response``)."""
        code = answer.get("code") if isinstance(answer, dict) else None
        if isinstance(code, int) and not isinstance(code, bool) and code >= 400:
            text = answer.get("message") if isinstance(answer.get("message"), str) else ""
            raise ApiError(f"{resource or method}: the server refused it ({code}): "
                           f"{_collapse(text)}", status=code)

    def update_object(
        self, api: RestApi, object_id: str, body: dict[str, Any], *, resource: str = ""
    ) -> None:
        path = self._collection(api) if api.update_on_collection else self._collection(
            api, object_id)
        response = self._call("PUT", path, body=api.with_org(body, self.settings.org),
                              resource=resource)
        try:
            answer = response.json() if response.content else None
        except ValueError:
            return
        self._refused_in_200(answer, "PUT", resource)

    def delete_object(self, api: RestApi, object_id: str, *, resource: str = "") -> None:
        self._call("DELETE", self._collection(api, object_id), resource=resource)

    # -- the org key-value store (src/api/management/src/request/kv/mod.rs) -----------------------
    def list_kv_keys(self, prefix: str, *, resource: str = "") -> list[str]:
        """Keys starting with ``prefix`` (a JSON array of strings)."""
        path = self._v1("kv")
        data = self._get_json(path, params={"prefix": prefix}, resource=resource)
        if not isinstance(data, list):
            raise self._unexpected("GET", path, resource, "a JSON array of keys", data)
        return [str(k) for k in data if isinstance(k, str)]

    def set_kv(self, key: str, value: str, *, resource: str = "") -> None:
        """Create or replace ``key`` (an upsert; the server trims the key)."""
        self._call("POST", self._v1("kv", key), raw=value.encode("utf-8"),
                   extra_headers={"Content-Type": "text/plain; charset=utf-8"}, resource=resource)

    def delete_kv(self, key: str, *, resource: str = "") -> None:
        """Remove ``key``; one already absent is not an error."""
        with contextlib.suppress(NotFound):
            self._call("DELETE", self._v1("kv", key), resource=resource)

    # -- streams (src/api/management/src/request/stream/mod.rs: `list`, `schema`) --------------
    def list_streams(
        self, stream_type: str = "logs", *, resource: str = ""
    ) -> list[dict[str, Any]]:
        """All streams of a type (``{"list": [...], "total": n}``; unpaginated without limit)."""
        path = self._v1("streams")
        data = self._get_json(path, params={"type": stream_type}, resource=resource)
        return self._items(data, "list", path, resource)

    def create_stream(
        self,
        stream: str,
        fields: dict[str, str],
        stream_type: str = "logs",
        *,
        resource: str = "",
    ) -> None:
        """Create an empty stream with a schema: ``POST /api/{org}/streams/{stream}?type=``
        with ``{"fields": [{"name", "type"}], "settings": {}}`` (src/api/management/src/request/
        stream/mod.rs ``create``; every settings key has a default). 400 if it already exists."""
        path = self._v1("streams", stream)
        body = {"fields": [{"name": n, "type": t} for n, t in sorted(fields.items())],
                "settings": {}}
        self._call("POST", path, params={"type": stream_type}, body=body, resource=resource)

    def stream_schema(
        self, stream: str, stream_type: str = "logs", *, resource: str = ""
    ) -> dict[str, Any] | None:
        """The stream with its schema, or None when the server has no such stream (404)."""
        path = self._v1("streams", stream, "schema")
        try:
            data = self._get_json(path, params={"type": stream_type}, resource=resource)
        except NotFound:
            return None
        if not isinstance(data, dict):
            raise self._unexpected("GET", path, resource, "a stream object", data)
        return data

    # -- data: Firehose ingestion and search -----------------------------------------------------
    def post_firehose(
        self, stream: str, body: bytes, *, access_key: str | Secret, resource: str = ""
    ) -> dict[str, Any]:
        """Send one Kinesis Firehose HTTP-endpoint request body, as Firehose does:
        ``POST /aws/{org}/{stream}/_kinesis_firehose`` with ``X-Amz-Firehose-Access-Key``
        (``src/api/http/src/handler/http/router/mod.rs`` ``other_service_routes``; the key is
        base64 of ``user:secret``). Returns ``{"requestId", "timestamp"}``.

        Like any POST it is retried only when it surely was not processed (connect errors,
        429): OpenObserve does not deduplicate Firehose batches, so a blind retry could write
        the rows twice.
        """
        path = _segments("aws", self._org, stream, "_kinesis_firehose")
        register(access_key)
        response = self._call(
            "POST",
            path,
            raw=body,
            extra_headers={"X-Amz-Firehose-Access-Key": reveal(access_key)},
            resource=resource or f'stream "{stream}"',
        )
        data = self._json_of(response, resource)
        if not isinstance(data, dict):
            raise self._unexpected("POST", path, resource, "a Firehose answer object", data)
        return data

    def search(
        self,
        sql: str,
        start_time: int,
        end_time: int,
        *,
        from_: int = 0,
        size: int = 1000,
        stream_type: str = "logs",
        histogram_interval: int | None = None,
        resource: str = "",
    ) -> dict[str, Any]:
        """Run SQL over ``start_time <= _timestamp < end_time`` (µs): ``POST
        /api/{org}/_search?type=`` (reference §8; ``src/config/src/meta/search.rs``). ``size``
        1000 is the server's default (``ZO_QUERY_DEFAULT_LIMIT``); a LIMIT in the SQL wins over
        it. Returns the answer (``hits``, ``total``, ``took``...). A search is a read, but the
        server only accepts POST, so it is retried like one (connect errors, 429).
        """
        query: dict[str, Any] = {
            "sql": sql,
            "start_time": start_time,
            "end_time": end_time,
            "from": from_,
            "size": size,
        }
        if histogram_interval is not None:
            query["histogram_interval"] = histogram_interval
        path = self._v1("_search")
        response = self._call(
            "POST",
            path,
            params={"type": stream_type},
            body={"query": query},
            resource=resource or "search",
        )
        data = self._json_of(response, resource)
        if not isinstance(data, dict) or not isinstance(data.get("hits"), list):
            raise self._unexpected("POST", path, resource, 'a search answer with "hits"', data)
        return data

    def test_model_price(self, model_name: str, usage: Mapping[str, int], timestamp_us: int,
                         *, resource: str = "") -> dict[str, Any]:
        """How the server prices ``usage`` of ``model_name`` at ``timestamp_us``: ``POST
        /api/{org}/llm/models/test`` (src/api/management/src/request/model_pricing.rs
        ``test_model_match``: ``{matched, tier, costs, total_cost}``). Writes nothing."""
        path = self._v1("llm", "models", "test")
        response = self._call("POST", path, body={"model_name": model_name, "usage": dict(usage),
                                                  "timestamp": timestamp_us},
                              resource=resource or "model price test")
        data = self._json_of(response, resource)
        if not isinstance(data, dict) or "total_cost" not in data:
            raise self._unexpected("POST", path, resource, 'an answer with "total_cost"', data)
        return data

    def test_function(
        self, source: str, events: list[Any], *, resource: str = ""
    ) -> dict[str, Any]:
        """Run a VRL program on ``events`` on the server: ``POST /api/{org}/functions/test``
        (src/core/src/functions.rs ``test_run_function``). ``trans_type`` is always 0: without
        it the server guesses JavaScript for a program without ``!``, ``parse_`` or a leading
        ``.``. A program that does not compile is a 400 with the compiler's text; otherwise
        ``{"results": [{"message", "event"}]}``, one per event (``message`` non-empty: a runtime
        error, the event unchanged). Retried like any POST (connect errors, 429)."""
        path = self._v1("functions", "test")
        response = self._call("POST", path, body={"function": source, "events": events,
                                                  "trans_type": 0},
                              resource=resource or "function test")
        data = self._json_of(response, resource)
        if not isinstance(data, dict) or not isinstance(data.get("results"), list):
            raise self._unexpected("POST", path, resource, 'an answer with "results"', data)
        return data

    def healthz(self, *, resource: str = "") -> bool:
        """True when ``/healthz`` answers ``{"status": "ok"}``. One attempt, no retries.

        An unreachable or unhealthy server is False; a TLS set-up problem (untrusted certificate,
        https to a plain-http port) raises ``TransportError``: False would hide a configuration
        problem.
        """
        path = "/healthz"
        try:
            response = self._call("GET", path, resource=resource or "health check", retries=0)
            data = response.json()
        except TransportError as exc:
            if exc.__cause__ is not None and _tls_remedy(exc.__cause__) is not None:
                raise
            log.debug("health check failed: %s", exc.message)
            return False
        except (ApiError, ValueError) as exc:
            log.debug("health check failed: %s", exc)
            return False
        return isinstance(data, dict) and data.get("status") == "ok"

    # -- paths -----------------------------------------------------------------------------------
    def _v1(self, *parts: str) -> str:
        return _segments("api", self._org, *parts)

    def _v2(self, *parts: str) -> str:
        return _segments("api", "v2", self._org, *parts)

    # -- the one request loop --------------------------------------------------------------------
    def _get_json(
        self, path: str, *, params: Mapping[str, str] | None = None, resource: str = ""
    ) -> Any:
        response = self._call("GET", path, params=params, resource=resource)
        return self._json_of(response, resource)

    def _call(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        body: Any = None,
        resource: str = "",
        retries: int | None = None,
        raw: bytes | None = None,
        extra_headers: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        """Send one logical request, retrying per the module docstring; return a 2xx response.

        ``raw`` sends bytes as they are (a JSON body already encoded) instead of ``body``.
        """
        max_retries = self.settings.retries if retries is None else retries
        is_write = method in WRITE_METHODS
        idempotent = method in IDEMPOTENT_METHODS
        content = raw
        headers: dict[str, str] = dict(extra_headers or {})
        if raw is not None:
            headers.setdefault("Content-Type", "application/json")
        if body is not None:
            content = encode_json(body)
            headers["Content-Type"] = "application/json"
        url = self._base + path
        shown = self._shown_path(url)
        attempt = 0
        # True once an attempt may have reached the handler without us learning the outcome.
        maybe_applied = False
        while True:
            attempt += 1
            request = self._http.build_request(
                method, url, params=params, content=content, headers=headers
            )
            try:
                response = self._send_once(request, shown)
            except ResponseTooLarge as exc:
                raise self._mark(
                    ApiError(
                        f"{self._where(method, shown, resource)}: the answer is larger than "
                        f"{exc.limit // (1024 * 1024)} MiB (o2kit's limit); not read further",
                        method=method,
                        url=self._base + shown,
                        resource=resource,
                        remedy="raise O2KIT_MAX_RESPONSE_MB if this server's answers are "
                               "really that large",
                    ),
                    attempts=attempt,
                    ambiguous=is_write,
                ) from None
            except httpx.TransportError as exc:
                never_sent = isinstance(exc, NEVER_SENT)
                tls_remedy = _tls_remedy(exc)
                if tls_remedy is not None:
                    raise self._transport_error(
                        method,
                        shown,
                        resource,
                        exc,
                        attempt,
                        ambiguous=is_write and maybe_applied,
                        remedy=tls_remedy,
                    ) from exc
                if is_write and not never_sent:
                    maybe_applied = True
                if ((idempotent or never_sent) and attempt <= max_retries
                        and self._wait(method, shown, attempt, type(exc).__name__, None)):
                    continue
                raise self._transport_error(
                    method,
                    shown,
                    resource,
                    exc,
                    attempt,
                    ambiguous=is_write and maybe_applied,
                    remedy=_AMBIGUOUS_REMEDY if is_write and maybe_applied else _TRANSPORT_REMEDY,
                ) from exc

            status = response.status_code
            if status < 300:
                return response
            if status in RETRY_STATUSES:
                # 429 is decided before any handler runs; a gateway's 502/503/504 may hide a
                # request the handler did process.
                if is_write and status != 429:
                    maybe_applied = True
                asked = (
                    retry_after_seconds(response) if status in RETRY_AFTER_STATUSES else None
                )
                if ((idempotent or status == 429) and attempt <= max_retries
                        and self._wait(method, shown, attempt, str(status), asked)):
                    continue
            if status == 404 and method == "DELETE" and maybe_applied:
                log.info(
                    "%s %s: 404 after an unanswered attempt; the first attempt deleted it",
                    method,
                    shown,
                )
                return response
            raise self._status_error(
                method,
                shown,
                resource,
                response,
                attempt,
                ambiguous=is_write and (maybe_applied or status >= 500),
            )

    def _send_once(self, request: httpx.Request, shown: str) -> httpx.Response:
        with self._slots:
            with self._lock:
                self._requests += 1
                if request.method in WRITE_METHODS:
                    self._writes += 1
            started = time.monotonic()
            try:
                response = self._send_bounded(request, started + self.settings.timeout)
            except httpx.HTTPError as exc:
                log.debug(
                    "%s %s -> %s (%d ms)",
                    request.method,
                    shown,
                    type(exc).__name__,
                    (time.monotonic() - started) * 1000,
                )
                raise
        log.debug(
            "%s %s -> %d (%d ms)",
            request.method,
            shown,
            response.status_code,
            (time.monotonic() - started) * 1000,
        )
        return response

    def _send_bounded(self, request: httpx.Request, deadline: float) -> httpx.Response:
        """Send and read the whole answer by ``deadline`` (``time.monotonic``), at most
        ``settings.max_response_bytes`` of it.

        httpx's timeouts are per socket read: a server sending a byte a second never trips them.
        Here the deadline covers the whole exchange: every socket read of our own transport waits
        at most until it (``_bound_socket_reads``), and the body is read chunk by chunk with the
        clock checked after each, so an injected transport is held to it too. Past the deadline
        this raises ``httpx.ReadTimeout``; past the size, ``ResponseTooLarge``. The answer is
        returned fully read (a new ``httpx.Response`` over the decoded body).
        """
        _deadline.until = deadline
        try:
            response = self._http.send(request, stream=True)
            try:
                chunks: list[bytes] = []
                size = 0
                limit = self.settings.max_response_bytes
                declared = response.headers.get("content-length", "")
                if declared.isdigit() and int(declared) > limit:
                    raise ResponseTooLarge(int(declared), limit)
                for chunk in response.iter_bytes():  # decoded: a gzip bomb is counted inflated
                    size += len(chunk)
                    if size > limit:
                        raise ResponseTooLarge(size, limit)
                    chunks.append(chunk)
                    if time.monotonic() > deadline:
                        raise httpx.ReadTimeout("deadline passed reading the answer",
                                                request=request)
            finally:
                response.close()
                # httpx's stream refers back to its response (BoundSyncStream): left alone, the
                # pair and the request with the body it sent wait for the collector, which runs
                # seldom while o2kit applies (``fewer_collections``). At 1,000 creates that was
                # ~400 dashboard bodies held at once, 60 MB of apply's peak.
                response.stream = httpx.ByteStream(b"")
        finally:
            _deadline.until = None
        # Content-Encoding and lengths described the wire, not the decoded body kept here.
        headers = [(k, v) for k, v in response.headers.multi_items()
                   if k.lower() not in ("content-encoding", "content-length", "transfer-encoding")]
        return httpx.Response(response.status_code, headers=headers, content=b"".join(chunks),
                              request=request, extensions={"http_version": response.http_version
                                                           .encode("ascii")})

    def _wait(self, method: str, shown: str, attempt: int, why: str, asked: float | None) -> bool:
        """Sleep before retry ``attempt``; False (no sleep) when the client's retry budget is
        spent. A wait of a second or more is logged as a warning, which the CLI prints."""
        if asked is not None:
            delay = min(asked, RETRY_AFTER_CAP)
        else:
            delay = self._random() * min(BACKOFF_CAP, BACKOFF_BASE * 2 ** (attempt - 1))
        with self._lock:
            if (self._retries_used >= MAX_TOTAL_RETRIES
                    or self._retry_wait + delay > MAX_TOTAL_RETRY_WAIT):
                log.warning("%s %s: %s; not retried: this run already retried %d times and "
                            "waited %.0f s (o2kit's limits: %d retries, %.0f s)", method, shown,
                            why, self._retries_used, self._retry_wait, MAX_TOTAL_RETRIES,
                            MAX_TOTAL_RETRY_WAIT)
                return False
            self._retries_used += 1
            self._retry_wait += delay
        said = f"server said {why}" if why.isdigit() else why
        if asked is not None and asked > RETRY_AFTER_CAP:
            said += f", Retry-After {asked:.0f} s capped at {RETRY_AFTER_CAP:.0f} s"
        level = logging.WARNING if delay >= WAIT_SHOWN_FROM else logging.INFO
        shown_delay = f"{delay:.0f}" if delay >= 10 or delay == int(delay) else f"{delay:.1f}"
        log.log(level, "waiting %s s: %s (%s %s, retry %d of %d)", shown_delay, said, method,
                shown, attempt, self.settings.retries)
        self._sleep(delay)
        return True

    # -- decoding and errors -----------------------------------------------------------------------
    def _shown_path(self, url: str) -> str:
        """The request path as sent (prefix included), for messages; never the query or host."""
        return httpx.URL(url).raw_path.decode("ascii").split("?", 1)[0]

    def _json_of(self, response: httpx.Response, resource: str) -> Any:
        request = response.request
        shown = self._shown_path(str(request.url))
        try:
            return decode_json(response.content)
        except ValueError:
            kind = response.headers.get("content-type", "no content type")
            raise self._mark(
                ApiError(
                    self._redact(
                        f"{self._where(request.method, shown, resource)}"
                        f": {response.status_code} but the answer is not JSON ({kind}): "
                        f"{_collapse(response.text) or 'empty body'}"
                    ),
                    status=response.status_code,
                    method=request.method,
                    url=self._public_url(request),
                    resource=resource,
                    body=self._redact(response.text[:BODY_SNIPPET]),
                    remedy="check that the URL points at OpenObserve (with its path prefix)",
                ),
                attempts=1,
                ambiguous=request.method in WRITE_METHODS,
            ) from None

    def _items(self, data: Any, key: str | None, path: str, resource: str) -> list[dict[str, Any]]:
        """``data[key]`` (``data`` itself when key is None), checked to be a list of objects."""
        items = data.get(key) if key is not None and isinstance(data, dict) else None
        if key is None:
            items = data
        if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
            wanted = f'{{"{key}": [objects]}}' if key else "a list of objects"
            raise self._unexpected("GET", path, resource, wanted, data)
        return items

    def _written_envelope(
        self, method: str, path: str, resource: str, response: httpx.Response
    ) -> dict[str, Any]:
        """The envelope a dashboard write echoes, in outline: each panel of its body an empty
        object (the writer needs the id and the new hash, not the ~250 KB it just sent)."""
        data = _outline(_envelope_outline_reader(), response)
        if data is None:
            data = self._json_of(response, resource)  # not an envelope: say what it is
        return self._envelope(method, path, resource, data)

    def _envelope(self, method: str, path: str, resource: str, data: Any) -> dict[str, Any]:
        if not isinstance(data, dict) or "hash" not in data:
            raise self._unexpected(method, path, resource, "a dashboard envelope with a hash", data)
        return data

    def _unexpected(
        self, method: str, path: str, resource: str, wanted: str, data: Any
    ) -> ApiError:
        """A 2xx answer of the wrong shape. For a write it did happen, so it is ambiguous."""
        got = _collapse(json.dumps(data, ensure_ascii=False, default=str))
        return self._mark(
            ApiError(
                self._redact(
                    f"{self._where(method, self._shown_path(self._base + path), resource)}"
                    f": expected {wanted}, got {got}"
                ),
                method=method,
                url=self._base + path,
                resource=resource,
                remedy="this OpenObserve version may answer differently; please report it",
            ),
            attempts=1,
            ambiguous=method in WRITE_METHODS,
        )

    def _status_error(
        self,
        method: str,
        shown: str,
        resource: str,
        response: httpx.Response,
        attempts: int,
        *,
        ambiguous: bool,
    ) -> ApiError:
        status = response.status_code
        said = server_message(response)
        if 300 <= status < 400:
            where_to = response.headers.get("location", "")
            said = f"{said}, redirected to {where_to}" if where_to else said
        message = f"{self._where(method, shown, resource)}: {status} {said}"
        if attempts > 1:
            message += f" (after {attempts} attempts)"
        cls: type[ApiError] = {401: AuthError, 403: AuthError, 404: NotFound, 409: Conflict}.get(
            status, ApiError
        )
        remedy: str | None = None
        if ambiguous:
            remedy = _AMBIGUOUS_REMEDY
        elif status == 403:
            remedy = (
                f"the user is known but not allowed to do this in org {self._org!r} "
                "(role or RBAC permissions)"
            )
        elif status == 404 and said == "Organization not found":
            remedy = (
                f"org {self._org!r} does not exist on this server; check --org / OPENOBSERVE_ORG"
            )
        elif status == 404 and not response.content:
            remedy = _PREFIX_REMEDY
        elif 300 <= status < 400:
            remedy = "use the URL OpenObserve is served at (https? path prefix?)"
        error = cls(
            self._redact(message),
            status=status,
            method=method,
            url=self._public_url(response.request),
            resource=resource,
            body=self._redact(response.text[:BODY_SNIPPET]),
            remedy=remedy,
        )
        return self._mark(error, attempts=attempts, ambiguous=ambiguous)

    def _transport_error(
        self,
        method: str,
        shown: str,
        resource: str,
        exc: httpx.TransportError,
        attempts: int,
        *,
        ambiguous: bool,
        remedy: str,
    ) -> TransportError:
        timeout = self.settings.timeout
        if isinstance(exc, httpx.ConnectTimeout):
            what = f"timed out connecting after {min(timeout, CONNECT_TIMEOUT_CAP):g} s"
        elif isinstance(exc, httpx.ReadTimeout):
            what = f"no answer within {timeout:g} s"
        elif isinstance(exc, httpx.WriteTimeout):
            what = f"timed out sending the request after {timeout:g} s"
        elif isinstance(exc, httpx.PoolTimeout):
            what = "timed out waiting for a free connection"
        elif isinstance(exc, httpx.ConnectError):
            what = f"could not connect: {exc or type(exc).__name__}"
        else:
            what = f"connection lost ({type(exc).__name__}): {exc or 'no detail'}"
        message = f"{self._where(method, shown, resource)}: {what}"
        if attempts > 1:
            message += f" (after {attempts} attempts)"
        error = TransportError(
            self._redact(message),
            method=method,
            url=self._public_url(exc.request) if _has_request(exc) else self._base + shown,
            resource=resource,
            remedy=remedy,
        )
        return self._mark(error, attempts=attempts, ambiguous=ambiguous)

    @staticmethod
    def _mark(error: E, *, attempts: int, ambiguous: bool) -> E:
        # Set as attributes so every ApiError the client raises answers both questions.
        error.attempts = attempts
        error.ambiguous = ambiguous
        return error

    @staticmethod
    def _where(method: str, shown: str, resource: str) -> str:
        return f"{method} {shown} ({resource})" if resource else f"{method} {shown}"

    @staticmethod
    def _public_url(request: httpx.Request) -> str:
        return str(request.url.copy_with(username=None, password=None))

    @staticmethod
    def _redact(text: str) -> str:
        """Belt and braces: a server echoing a secret back must not put it on a screen (the CLI
        masks its whole output too; a library caller gets masked messages here)."""
        return redact(text)


def _folder_type(folder_type: str) -> str:
    if folder_type not in FOLDER_TYPES:
        raise ValueError(f"unknown folder type {folder_type!r}")
    return folder_type


def _tls_remedy(exc: BaseException) -> str | None:
    """The remedy when ``exc`` is a TLS set-up problem that waiting will not fix, else None.

    httpx raises ``ConnectError`` from httpcore's, raised from the ``ssl`` error; walk the chain.
    A handshake cut short (``SSLEOFError``, resets) stays retryable: load balancers do that.
    """
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, ssl.SSLCertVerificationError):
            return _TLS_REMEDY
        if isinstance(current, ssl.SSLError) and current.reason == "WRONG_VERSION_NUMBER":
            return _PLAIN_HTTP_REMEDY
        current = current.__cause__ or current.__context__
    if "CERTIFICATE_VERIFY_FAILED" in str(exc):
        return _TLS_REMEDY
    return None


def _has_request(exc: httpx.TransportError) -> bool:
    try:
        exc.request  # noqa: B018 - raises RuntimeError when the error carries no request
    except RuntimeError:
        return False
    return True
