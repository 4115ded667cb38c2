"""The fake OpenObserve: one in-memory server, reachable as an httpx transport or on loopback.

:class:`FakeOpenObserve` owns the state and answers requests through :meth:`handle` (no faults)
or :meth:`dispatch` (faults applied). Authentication follows
``/work/oo/src/api/http/src/handler/http/router/mod.rs`` (``auth_middleware``),
``src/core/src/auth.rs`` (``AuthExtractorRejection``: JSON 401 when no credentials at all) and
``src/api/common/src/auth/validator.rs`` (``AuthError``: plain-text 401 with
``WWW-Authenticate: Bearer realm="openobserve"`` for bad credentials, plain-text 404
``Organization not found``; the org is the first path segment after ``/api/``, or the second for
``/api/v2/{org}/alerts|folders|reports|synthetics|incidents``). ``GET /healthz`` and
``GET /config`` need no credentials (``src/api/management/src/request/status/mod.rs``).

Data: ``POST /aws/{org}/{stream}/_kinesis_firehose`` (outside ``/api``, authenticated by the
``X-Amz-Firehose-Access-Key`` header, not Basic — ``other_service_routes`` in the router)
decodes the body with :mod:`o2kit.fake.firehose` and writes the rows with
:mod:`o2kit.fake.ingest`; ``POST /api/{org}/_search`` runs SQL over them through the injected
query engine (:mod:`o2kit.fake.search`).
"""

from __future__ import annotations

import base64
import binascii
import copy
import logging
import random
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any, NamedTuple
from urllib.parse import unquote

from . import alerts, dashboard_api, firehose, folders, ingest, kv, notify, pipelines, streams
from .delivery import Delivery
from .faults import WRITE_METHODS, Decision, FaultDice, Faults, Outcome
from .http import (
    HttpError,
    Request,
    Response,
    Router,
    dump,
    empty,
    json_response,
    message,
    plain,
)
from .search import QueryEngineFactory, SearchService
from .state import DEFAULT_ORG, Store, Stream, User

logger = logging.getLogger(__name__)

DEFAULT_USER = "root@example.com"
DEFAULT_PASSWORD = "Complexpass#123"
WWW_AUTHENTICATE = {"www-authenticate": 'Bearer realm="openobserve"'}
V2_SCOPED = {"alerts", "folders", "reports", "synthetics", "incidents"}


class RequestRecord(NamedTuple):
    """One request the fake saw. ``status`` is None when no response reached the client;
    ``fault`` names an injected fault (``"error"``, ``"drop"``, ``"lost"``) or is None."""

    method: str
    path: str
    status: int | None
    fault: str | None

    @property
    def applied_write(self) -> bool:
        """A write that ran on the server (answered 2xx, or applied with the answer lost)."""
        return (self.method in WRITE_METHODS and self.fault in (None, "lost")
                and self.status is not None and 200 <= self.status < 300)


class FakeOpenObserve:
    """An in-memory OpenObserve (management API subset). Thread-safe.

    ``users``: root users as ``{email: password}`` (default ``root@example.com`` /
    ``Complexpass#123``); org-scoped users come from :meth:`add_user`. ``orgs``: the
    organisations that exist. ``clock``: epoch seconds, used for ids, ``created`` and cron
    rewrites. ``seed``: makes ids and faults reproducible. ``base_uri``: OpenObserve's
    ``ZO_BASE_URI`` path prefix. ``query_engine_factory``: makes the SQL engine ``_search``
    uses (o2kit passes ``o2kit.query.engine.QueryEngine``); without one ``_search`` answers 501.
    ``firehose_options``: keyword options of :func:`o2kit.fake.firehose.decode_firehose_body`
    (``allowed_upto_hours``, ``flatten_level``, ``arbitrary_precision``...).
    """

    def __init__(self, *, users: Mapping[str, str] | None = None,
                 orgs: Iterable[str] = (DEFAULT_ORG,), clock: Callable[[], float] = time.time,
                 seed: int | None = 0, faults: Faults | None = None, base_uri: str = "",
                 smtp_enabled: bool = False, ssrf_allow_loopback: bool = False,
                 sleep: Callable[[float], None] = time.sleep,
                 query_engine_factory: QueryEngineFactory | None = None,
                 firehose_options: Mapping[str, Any] | None = None) -> None:
        self._lock = threading.RLock()
        self._store = Store(clock=clock, rng=random.Random(seed), orgs=set(orgs),
                            smtp_enabled=smtp_enabled, ssrf_allow_loopback=ssrf_allow_loopback)
        for email, password in (users or {DEFAULT_USER: DEFAULT_PASSWORD}).items():
            self._store.users[email] = User(email, password, None)
        notify.seed_system_templates(self._store)
        self._dice = FaultDice(None if seed is None else seed + 1)
        self._sleep = sleep
        self.faults = faults or Faults()
        self.base_uri = base_uri.rstrip("/")
        self.request_log: list[RequestRecord] = []
        self._search = SearchService(self._store, query_engine_factory)
        self._firehose_options = dict(firehose_options or {})
        self._router = _routes(self._store, self._search)

    # --- set-up and inspection (for tests) ----------------------------------------------------
    def add_org(self, org: str) -> None:
        with self._lock:
            self._store.orgs.add(org)

    def add_user(self, email: str, password: str, *, orgs: Iterable[str]) -> None:
        """A non-root user who may only use ``orgs``."""
        with self._lock:
            self._store.users[email] = User(email, password, frozenset(orgs))

    def add_stream(self, org: str, name: str, stream_type: str = "logs",
                   fields: Mapping[str, str] | None = None, *, max_query_range: int = 0) -> None:
        """Make a stream exist (as if data had been ingested). ``fields``: name → Arrow type;
        default ``{"_timestamp": "Int64"}`` — a stream with no fields counts as missing."""
        settings = streams.default_settings()
        settings["max_query_range"] = max_query_range
        with self._lock:
            self._store.streams[(org, stream_type, name)] = Stream(
                org, name, stream_type, dict(fields or {"_timestamp": "Int64"}), settings,
                self._store.now_micros())

    def folders(self, org: str = DEFAULT_ORG, folder_type: str = "dashboards") -> list[dict]:
        with self._lock:
            return [f.to_json() for f in self._store.folder_map(org, folder_type).values()]

    def dashboards(self, org: str = DEFAULT_ORG) -> list[dict[str, Any]]:
        """Stored dashboards: id, folder, version, current hash, updatedAt and the object."""
        with self._lock:
            return [{"dashboard_id": d.dashboard_id, "folder_id": d.folder_id,
                     "version": d.version, "hash": d.hash,
                     "updated_at": d.updated_at, "data": copy.deepcopy(d.inner)}
                    for d in self._store.dashboards.values() if d.org == org]

    def alerts(self, org: str = DEFAULT_ORG) -> list[dict[str, Any]]:
        """Stored alerts as GET returns them, plus their ``folder_id``."""
        with self._lock:
            return [{**alerts.dto_alert(a), "folder_id": a.folder_id}
                    for a in self._store.alerts.values() if a.org == org]

    def destinations(self, org: str = DEFAULT_ORG) -> list[dict[str, Any]]:
        with self._lock:
            return [notify._destination_json(d.body, d.module)
                    for (o, _), d in self._store.destinations.items() if o == org]

    def templates(self, org: str = DEFAULT_ORG, *, include_system: bool = False) -> list[dict]:
        with self._lock:
            return [notify._template_json(t) for (o, _), t in self._store.templates.items()
                    if o == org and (include_system or not notify.is_reserved_name(t.name))]

    def rows(self, org: str, stream: str, stream_type: str = "logs") -> list[dict[str, Any]]:
        """Copies of the rows ingested into a stream (empty when it does not exist)."""
        with self._lock:
            found = self._store.stream(org, stream_type, stream)
            return [dict(r) for r in found.rows] if found is not None else []

    def write_count(self) -> int:
        """Writes that ran on the server (including those whose answer was lost)."""
        with self._lock:
            return sum(1 for r in self.request_log if r.applied_write)

    def clear_log(self) -> None:
        with self._lock:
            self.request_log.clear()

    # --- serving -------------------------------------------------------------------------------
    def transport(self, faults: Faults | None = None) -> Any:
        """An ``httpx.BaseTransport`` to mount in ``httpx.Client(transport=...)``. ``faults``
        overrides :attr:`faults` for requests through this transport."""
        from .transport import FakeTransport

        return FakeTransport(self, faults)

    def serve(self, host: str = "127.0.0.1", port: int = 0) -> Any:
        """Serve on a loopback port in a background thread; returns an object with ``.url``
        and ``.stop()`` (also a context manager)."""
        from .serve import FakeServer

        return FakeServer.start(self, host, port)

    def dispatch(self, method: str, path: str, query: list[tuple[str, str]] | Mapping[str, str],
                 headers: Mapping[str, str], body: bytes,
                 faults: Faults | None = None) -> Delivery:
        """Handle one request with faults applied (what both transports call)."""
        faults = faults or self.faults
        if faults.latency_s > 0:
            self._sleep(faults.latency_s)
        decision = self._dice.decide(faults, method)
        if decision.outcome is Outcome.DROP:
            self._log(method, path, None, "drop")
            return Delivery(Outcome.DROP, None)
        if decision.outcome is Outcome.ERROR:
            response = _injected_error(decision, faults)
            self._log(method, path, response.status, "error")
            return Delivery(Outcome.ERROR, response)
        response = self._handle(method, path, query, headers, body)
        if decision.outcome is Outcome.LOST:
            self._log(method, path, response.status, "lost")
            return Delivery(Outcome.LOST, response)
        self._log(method, path, response.status, None)
        return Delivery(Outcome.PASS, response)

    def handle(self, method: str, path: str, query: list[tuple[str, str]] | Mapping[str, str],
               headers: Mapping[str, str], body: bytes) -> tuple[int, dict[str, str], bytes]:
        """Answer one request, without faults: ``(status, headers, body)``."""
        response = self._handle(method, path, query, headers, body)
        self._log(method, path, response.status, None)
        return response.status, dict(response.headers), response.body

    # --- internals ------------------------------------------------------------------------------
    def _log(self, method: str, path: str, status: int | None, fault: str | None) -> None:
        with self._lock:
            self.request_log.append(RequestRecord(method.upper(), path, status, fault))

    def _handle(self, method: str, path: str,
                query: list[tuple[str, str]] | Mapping[str, str], headers: Mapping[str, str],
                body: bytes) -> Response:
        method = method.upper()
        pairs = list(query.items()) if isinstance(query, Mapping) else list(query)
        lowered = {k.lower(): v for k, v in headers.items()}
        raw_path = path.split("?", 1)[0]
        if self.base_uri:
            if not (raw_path == self.base_uri or raw_path.startswith(self.base_uri + "/")):
                return empty(404)
            raw_path = raw_path[len(self.base_uri):] or "/"
        try:
            with self._lock:
                return self._route(method, raw_path, pairs, lowered, body)
        except Exception:  # a bug in the fake must not look like a network failure
            logger.exception("fake OpenObserve failed on %s %s", method, path)
            return plain(500, "fake OpenObserve internal error")

    def _route(self, method: str, raw_path: str, query: list[tuple[str, str]],
               headers: dict[str, str], body: bytes) -> Response:
        if raw_path == "/healthz":
            if method == "HEAD":
                return empty(200)
            if method == "GET":
                return json_response({"status": "ok"})
            return empty(405)
        if raw_path == "/config":
            if method != "GET":
                return empty(405)
            return json_response(_config())
        if raw_path.startswith("/aws/"):
            return self._aws(method, raw_path, headers, body)
        if not (raw_path == "/api" or raw_path.startswith("/api/")):
            return empty(404)  # the web UI and other routers are not modelled

        segments = [unquote(s) for s in raw_path[len("/api/"):].split("/")] \
            if raw_path.startswith("/api/") else []
        user, failure = self._authenticate(headers, segments)
        if failure is not None:
            return failure
        handler, params, status = self._router.resolve(method, "/".join(
            s.replace("/", "\x00") for s in segments))
        if handler is None:
            return empty(status)
        params = {k: v.replace("\x00", "/") for k, v in params.items()}
        request = Request(method, raw_path, query, headers, body, user, params)
        try:
            return handler(request)
        except HttpError as err:
            return err.response

    def _aws(self, method: str, raw_path: str, headers: dict[str, str], body: bytes) -> Response:
        """``/aws/{org}/{stream}/_kinesis_firehose``: the one AWS route (router/mod.rs)."""
        segments = [unquote(s) for s in raw_path[len("/aws/"):].split("/")]
        if len(segments) != 3 or segments[2] != "_kinesis_firehose" or not all(segments[:2]):
            return empty(404)
        if method != "POST":
            return empty(405)
        org, stream = segments[0], segments[1]
        # The stream's enabled realtime pipeline runs on the unflattened items
        # (src/core/src/logs/ingest.rs); then only what it routes is written.
        pipeline = pipelines.realtime_pipeline(self._store, org, ingest.format_stream_name(stream))
        route = None
        if pipeline is not None:
            def route(values: list[Any]) -> dict[tuple[str, str], list[Any]]:
                routed, errors = pipelines.run_pipeline(self._store, org, pipeline, values,
                                                        stream)
                if errors:
                    logger.debug("pipeline %s: %d node errors", pipeline.get("name"), errors)
                return routed
        result = firehose.handle_request(
            body, headers, now_us=self._store.now_micros(), users=self._ingest_users(org),
            route=route, **self._firehose_options)
        if result.status == 200 and result.routed is not None:
            for (stream_type, name), rows in sorted(result.routed.items()):
                written = ingest.write_rows(self._store, org, name, rows, stream_type)
                logger.debug("firehose %s/%s via pipeline: %d rows written, %d failed", org,
                             written.stream, written.written, written.failed)
        elif result.status == 200:
            written = ingest.write_rows(self._store, org, stream, result.rows)
            logger.debug("firehose %s/%s: %d rows written, %d failed", org, written.stream,
                         written.written, written.failed)
        if isinstance(result.body, dict):
            response = json_response(result.body, result.status)
        else:
            response = plain(result.status, result.body) if result.body else empty(result.status)
        response.headers.update({k.lower(): v for k, v in result.headers.items()})
        return response

    def _ingest_users(self, org: str) -> dict[str, str]:
        """Who may ingest into ``org``: root users anywhere (validate_credentials looks them up
        in the default org), others in their own orgs; the secret is the login password."""
        return {u.email: u.password for u in self._store.users.values()
                if u.orgs is None or org in u.orgs}

    def _authenticate(self, headers: Mapping[str, str],
                      segments: list[str]) -> tuple[str, Response | None]:
        auth = headers.get("authorization", "")
        if not auth:
            return "", message(401, "Unauthorized Access")  # JSON: no credentials at all
        scheme, _, token = auth.partition(" ")
        if scheme == "Bearer":
            return "", plain(401, "Not Supported", WWW_AUTHENTICATE)
        if scheme != "Basic":
            return "", plain(401, "Unauthorized Access", WWW_AUTHENTICATE)
        try:
            decoded = base64.b64decode(token.strip(), validate=True).decode("utf-8")
        except (binascii.Error, ValueError, UnicodeDecodeError):
            return "", plain(401, "Unauthorized Access", WWW_AUTHENTICATE)
        email, _, password = decoded.partition(":")
        user = self._store.users.get(email)
        org = _org_of(segments)
        if user is None or user.password != password.strip() or (
                org is not None and user.orgs is not None and org not in user.orgs):
            return "", plain(401, "Unauthorized Access", WWW_AUTHENTICATE)
        if org is not None and org not in self._store.orgs:
            return "", plain(404, "Organization not found")
        return email, None


def _org_of(segments: list[str]) -> str | None:
    """``check_and_create_org``: which path segment names the org (None: no org check)."""
    if len(segments) < 2 or segments[0] in ("license", "node", "profile"):
        return None
    if len(segments) > 2 and segments[0] == "v2" and segments[2] in V2_SCOPED:
        return segments[1]
    return segments[0]


def _injected_error(decision: Decision, faults: Faults) -> Response:
    status = decision.status
    retry = {"retry-after": str(faults.retry_after_s)} if status in (429, 503) else {}
    if status == 429:
        return Response(429, dump({"code": 429, "message": "Too Many Requests"}),
                        {"content-type": "application/json", **retry})
    reason = {500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable",
              504: "Gateway Timeout"}.get(status, "Error")
    return plain(status, reason, retry)  # a proxy's answer, not OpenObserve's envelope


def _config() -> dict[str, Any]:
    """A minimal ``GET /config`` (the real one has many more keys)."""
    return {"version": "v0.0.0-fake", "instance": "fake", "commit_hash": "fake",
            "build_date": "", "build_type": "opensource", "default_fts_keys": [],
            "timestamp_column": "_timestamp", "service_account_enabled": True,
            "rbac_enabled": False, "sso_enabled": False, "dashboard_placeholder": "_o2_all_"}


def _routes(store: Store, search: SearchService) -> Router:
    """The route table (``src/api/http/src/handler/http/router/mod.rs``), relative to /api."""
    router = Router()

    def bind(fn: Callable[[Store, Request], Response]) -> Callable[[Request], Response]:
        return lambda req: fn(store, req)

    def not_modelled(req: Request) -> Response:
        return message(501, "not implemented by the fake OpenObserve")

    router.add("organizations", GET=lambda req: json_response({"data": [
        {"identifier": org, "name": org} for org in sorted(store.orgs)]}))
    # folders (v2)
    router.add("v2/{org}/folders/{folder_type}", GET=bind(folders.list_folders),
               POST=bind(folders.create_folder))
    router.add("v2/{org}/folders/{folder_type}/{folder_id}", GET=bind(folders.get_folder),
               PUT=bind(folders.update_folder), DELETE=bind(folders.delete_folder))
    router.add("v2/{org}/folders/{folder_type}/name/{name}",
               GET=bind(folders.get_folder_by_name))
    # dashboards
    router.add("{org}/dashboards", GET=bind(dashboard_api.list_dashboards),
               POST=bind(dashboard_api.create_dashboard))
    router.add("{org}/dashboards/{dashboard_id}", GET=bind(dashboard_api.get_dashboard),
               PUT=bind(dashboard_api.update_dashboard),
               DELETE=bind(dashboard_api.delete_dashboard))
    router.add("{org}/dashboards/bulk", DELETE=bind(dashboard_api.delete_dashboards_bulk))
    router.add("{org}/dashboards/move", PATCH=bind(dashboard_api.move_dashboards))
    router.add("{org}/folders/dashboards/{dashboard_id}", PUT=bind(dashboard_api.move_dashboard))
    router.add("{org}/dashboards/{dashboard_id}/panels", POST=not_modelled)
    router.add("{org}/dashboards/{dashboard_id}/panels/{panel_id}", PUT=not_modelled,
               DELETE=not_modelled)
    # alerts (v2)
    router.add("v2/{org}/alerts", GET=bind(alerts.list_alerts), POST=bind(alerts.create_alert))
    router.add("v2/{org}/alerts/{alert_id}", GET=bind(alerts.get_alert),
               PUT=bind(alerts.update_alert), DELETE=bind(alerts.delete_alert))
    router.add("v2/{org}/alerts/{alert_id}/enable", PATCH=bind(alerts.enable_alert))
    router.add("v2/{org}/alerts/move", PATCH=bind(alerts.move_alerts))
    router.add("v2/{org}/alerts/bulk", DELETE=not_modelled)
    router.add("v2/{org}/alerts/tags", GET=not_modelled)
    router.add("v2/{org}/alerts/history", GET=not_modelled)
    # destinations and templates
    router.add("{org}/alerts/destinations", GET=bind(notify.list_destinations),
               POST=bind(notify.create_destination))
    router.add("{org}/alerts/destinations/{name}", GET=bind(notify.get_destination),
               PUT=bind(notify.update_destination), DELETE=bind(notify.delete_destination))
    router.add("{org}/alerts/destinations/prebuilt", GET=not_modelled)
    router.add("{org}/alerts/destinations/test", POST=not_modelled)
    router.add("{org}/alerts/destinations/bulk", DELETE=not_modelled)
    router.add("{org}/alerts/templates", GET=bind(notify.list_templates),
               POST=bind(notify.create_template))
    router.add("{org}/alerts/templates/{name}", GET=bind(notify.get_template),
               PUT=bind(notify.update_template), DELETE=bind(notify.delete_template))
    router.add("{org}/alerts/templates/bulk", DELETE=not_modelled)
    router.add("{org}/alerts/templates/preview", POST=not_modelled)
    # streams (read-only)
    router.add("{org}/streams", GET=bind(streams.list_streams))
    router.add("{org}/streams/{stream}/schema", GET=bind(streams.stream_schema))
    router.add("{org}/streams/{stream}", POST=bind(streams.create_stream))
    # search (src/api/search/src/search/mod.rs)
    router.add("{org}/_search", POST=search.search)
    # key-value store (router/mod.rs: /{org_id}/kv/{key}, /{org_id}/kv)
    router.add("{org}/kv", GET=bind(kv.list_keys))
    router.add("{org}/kv/{key}", GET=bind(kv.get_value), POST=bind(kv.set_value),
               DELETE=bind(kv.delete_value))
    # Every other module of this package that defines ``ROUTES`` — ``[(pattern, {method:
    # handler(store, request)})]`` — serves those routes: a new kind's API is one module here.
    for pattern, handlers in _discovered_routes():
        router.add(pattern, **{method: bind(fn) for method, fn in handlers.items()})
    return router


def _discovered_routes() -> list[tuple[str, dict[str, Callable[[Store, Request], Response]]]]:
    import importlib
    import pkgutil

    package = __name__.rpartition(".")[0]
    found: list[tuple[str, dict[str, Callable[[Store, Request], Response]]]] = []
    for info in pkgutil.iter_modules(importlib.import_module(package).__path__):
        module = importlib.import_module(f"{package}.{info.name}")
        found.extend(getattr(module, "ROUTES", ()))
    return found
