"""Live state in, changes out: the I/O edge between the plan and OpenObserve.

``fetch_live`` reads what the server holds with as few requests as the API allows and turns it into
``Resource`` values keyed like the desired ones; ``apply_plan`` carries out a ``Plan`` through the
client, in dependency order, without ever creating a duplicate.

Requests made by ``fetch_live`` (reference openobserve-api.md):

- one list per folder type (``GET /api/v2/{org}/folders/{type}``);
- one dashboard list per dashboard folder: list items already carry the full body and the
  ``hash`` (``src/api/management/src/request/dashboards/mod.rs``), so no per-dashboard GET;
- one alert list (all folders) — items carry folder and tags but not the stream or the SQL
  (``src/api/management/src/models/alerts/``), so a GET per alert that o2kit manages or that
  shares a key with a desired one; unmanaged alerts o2kit has no business with are never read;
- one destination list and one template list (bare arrays of full objects);
- one stream list per stream type the desired alerts use, to warn before apply about alerts the
  server would refuse (``404 Stream X not found``, ``src/core/src/alerts/alert.rs``).

Apply never re-diffs: it sends ``kinds.SPECS[kind].payload(desired, live)`` for each change.
After an *ambiguous* failure of a create (timeout, reset, 5xx, lost response) it looks again
before creating, so a create that did happen is found, not repeated.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import json
import logging
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, MutableMapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from o2kit import kinds
from o2kit.errors import ApiError, AuthError, Conflict, NotFound, O2kitError, TransportError
from o2kit.model import Change, Plan, Resource
from o2kit.project import workers
from o2kit.sync.client import OpenObserveClient, encode_json
from o2kit.sync.plan import SETTLED, age_key, fingerprint, live_digest_key, settle_live

log = logging.getLogger("o2kit.sync.remote")


def _kv_owned(kind: str) -> bool:
    """Kinds whose objects may have no marker field: their ownership is in the KV store."""
    return kind in ("template", "destination") or kinds.SPECS[kind].api is not None

# Dashboard lists read at once (each answer is ~250 KB per dashboard in the folder: ~25 MB for a
# folder of 100, and as much again decoded in full; its outline is small). Two, beside the alert
# reads: at 1,000 + 1,000 a plan in sync took 4.5 s and 150–210 MB, 4.9 s and 150 MB with one.
DASHBOARD_LISTS_AT_ONCE = 2

# How many times apply tries one create (looking again between tries) before giving up.
CREATE_ATTEMPTS = 3


class OutlineMemo(Protocol):
    """Outlines of dashboard list answers (``OpenObserveClient.dashboard_outline``) an earlier
    plan read, by the SHA-256 of the answer's bytes (``OpenObserveClient.answer_digest``)."""

    def outline(self, answer_digest: str) -> list[dict[str, Any]] | None: ...

    def keep_outline(self, answer_digest: str, items: list[dict[str, Any]]) -> None: ...


class PreparedPayloads:
    """The encoded payloads of a plan's dashboard creates, made ahead by another process
    (``project.workers.Ahead``) while apply sends the rest: encoding a dashboard and decoding its
    cached body is ~0.65 ms under the interpreter lock, which the create requests beside it wait
    for (1,000 creates took 3.4 s for a 2.5 s floor). Create it before any thread is started (a
    progress bar's too): a process with threads is never forked, and then each payload is made
    when it is sent, as without it."""

    def __init__(self, plan: Plan) -> None:
        self._project = plan.project
        changes = [c for c in plan.changes if c.kind == "dashboard"
                   and c.action in ("create", "replace") and c.desired is not None]
        self._index = {id(change): i for i, change in enumerate(changes)}
        self._ahead = workers.Ahead(self._encoded, changes)

    def _encoded(self, change: Change) -> bytes:
        assert change.desired is not None
        spec = kinds.SPECS[change.kind]
        return encode_json(spec.payload(change.desired, None, self._project))

    def get(self, change: Change) -> bytes | None:
        """``change``'s payload as JSON, or None when it is not one made ahead."""
        i = self._index.get(id(change))
        return self._ahead.get(i) if i is not None else None

    def __enter__(self) -> PreparedPayloads:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._ahead.__exit__(*exc_info)


@dataclass
class LiveState:
    resources: list[Resource]
    existing_streams: set[tuple[str, str]] | None
    requests: int = 0


def _is_ambiguous(exc: BaseException) -> bool:
    """True when a write may or may not have been applied on the server."""
    if isinstance(exc, TransportError):
        return True
    if getattr(exc, "ambiguous", False):
        return True
    return isinstance(exc, ApiError) and exc.status is not None and exc.status >= 500


def _raise_first_error(results: Iterable[Any]) -> list[Any]:
    out = list(results)
    for r in out:
        if isinstance(r, BaseException):
            raise r
    return out


def fetch_live(
    client: OpenObserveClient,
    *,
    desired: Sequence[Resource] = (),
    stream_types: Iterable[str] = (),
    desired_digests: Mapping[tuple[str, tuple[str, ...]], str] | None = None,
    live_digests: MutableMapping[str, str] | None = None,
    outlines: OutlineMemo | None = None,
) -> LiveState:
    """Read live folders, templates, destinations, dashboards, alerts (and, if asked, streams).
    With ``desired_digests`` (``plan.desired_digest`` by ``(kind, key)``; pass the same to
    ``build_plan``), objects found in sync are reduced to what plan needs (``plan.settle_live``).
    ``live_digests`` (``plan.live_digest_key`` → digest, loaded and saved by the caller) spares
    normalising a dashboard whose server hash is one an earlier plan found in sync; on return it
    holds the entries of this plan's in-sync dashboards only, so it never grows past them.
    ``outlines`` (with ``live_digests``) spares decoding a dashboard list answer byte for byte
    equal to one an earlier plan decoded: the usual answer when nothing changed on the server.
    """
    remembered = dict(live_digests) if live_digests is not None else {}
    in_sync: dict[str, str] = {}
    start = client.request_count
    desired_alert_keys = {r.key for r in desired if r.kind == "alert"}
    types = sorted(set(stream_types))

    def settled(res: Resource, *, remembered_only: bool = False) -> Resource | None:
        """``res`` as plan keeps it (``plan.settle_live``), recording the digest of a dashboard
        found in sync for the next plan. ``remembered_only``: None unless an earlier plan found
        this very body in sync (an outline's ``res`` has no panels to compare)."""
        want = desired_digests.get(("dashboard", res.key)) if desired_digests else None
        if want is None:
            return None if remembered_only else res
        memo = live_digest_key(res) if live_digests is not None else None
        known = remembered.get(memo) if memo else None
        if remembered_only and known != want:
            return None
        res = settle_live(res, want, known=known)
        if memo and SETTLED in res.meta:
            in_sync[memo] = want
        return res

    def dashboards_in(folder: dict[str, Any]) -> list[Resource]:
        # Each list is reduced as it arrives: a dashboard in sync keeps its digest, not its tabs
        # (plan.settle_live), so the ~250 KB bodies of one list are freed before the next.
        folder_name, folder_id = str(folder.get("name", "")), str(folder["folderId"])
        resource = f'dashboards in folder "{folder_name}"'
        answer = client.list_dashboards_answer(folder_id, resource=resource)
        # An answer byte for byte equal to one an earlier plan read has its outline: decoding
        # even the outline of 25 MB holds the interpreter lock ~40 ms, and the alert reads beside
        # it wait (at 1,000 + 1,000 they went at a third of their pace while the lists were read:
        # 4.3 s for a plan in sync, 3.7 s with this). Hashing takes ~12 ms without the lock.
        digest = client.answer_digest(answer) if outlines is not None else None
        # Remembered dashboards are recognised from an outline of the answer (no panel is
        # decoded); the answer is decoded in full only when one is not, for its diff.
        known_outline = outlines.outline(digest) if outlines is not None and digest and \
            remembered else None
        outline = (known_outline or client.dashboard_outline(answer)) if remembered else None
        slots = [settled(_live_dashboard(item, folder_name, folder_id), remembered_only=True)
                 for item in outline or ()]
        if outline is not None and all(slot is not None for slot in slots):
            out = [slot for slot in slots if slot is not None]
        elif (settled_there := helper.call((folder_name, folder_id, answer.content))) is not None:
            out, added, outline = settled_there
            in_sync.update(added)
        else:
            items = client.dashboard_items(answer, resource=resource)
            if len(items) != len(slots):
                slots = [None] * len(items)
            out = []
            for item, slot in zip(items, slots, strict=True):
                res = slot or settled(_live_dashboard(item, folder_name, folder_id))
                assert res is not None  # (only ``remembered_only`` answers None)
                out.append(res)
            # Kept for the next plan only when every dashboard in it is in sync: only then can
            # that plan use it (with the digests ``settled`` remembers now by the server's hash).
            outline = client.outline_of_items(items) if outlines is not None and all(
                SETTLED in res.meta for res in out) else None
            del items  # freed before the next list (the outline shares none of its panels)
        # (Every outline here settled its whole list. One read from the cache is not written
        # back; one that did not settle it is replaced, when the answer does: the cache is a file.)
        if outlines is not None and digest and outline is not None and outline is not known_outline:
            outlines.keep_outline(digest, outline)
        return out

    def settle_folder(job: tuple[str, str, bytes]) -> Any:
        # In the helper process (``workers.Helper``): a dashboard list decoded in full and each
        # dashboard normalised and digested there, on the other core; the answer is small (every
        # dashboard in sync keeps its digest, not its tabs). None when one is not in sync, or
        # the answer is not a list of objects: this process then does it all, and says what.
        folder_name, folder_id, data = job
        items = OpenObserveClient.dashboard_items_of(data)
        if items is None:
            return None
        before = dict(in_sync)
        out = [settled(_live_dashboard(item, folder_name, folder_id)) for item in items]
        if not all(res is not None and SETTLED in res.meta for res in out):
            return None
        added = {k: v for k, v in in_sync.items() if before.get(k) != v}
        return out, added, OpenObserveClient.outline_of_items(items)

    def alerts_to_read(alert_items: list[dict[str, Any]]
                       ) -> tuple[list[dict[str, Any]], list[int | Resource]]:
        """The alert items to read in full, and every alert in list order: its place among
        them, or a resource made of its item."""
        wanted: list[dict[str, Any]] = []
        alerts: list[int | Resource] = []
        for item in alert_items:
            key = (str(item.get("folder_name", "")), str(item.get("name", "")))
            if kinds.is_managed_alert_item(item) or key in desired_alert_keys:
                alerts.append(len(wanted))
                wanted.append(item)
            else:
                # Unmanaged and unrelated to the code: kept as a list item only, so prune can
                # never reach it, and never fetched in full.
                alerts.append(
                    Resource(
                        kind="alert",
                        key=key,
                        body=_alert_item_as_body(item),
                        server_id=str(item.get("alert_id", "")),
                        meta={"folder_id": item.get("folder_id"), "partial": True},
                    )
                )
        return wanted, alerts

    def alert_bodies(wanted: list[dict[str, Any]]) -> list[Any]:
        return _raise_first_error(
            client.map(
                lambda it: client.get_alert(
                    str(it["alert_id"]),
                    resource=f'alert "{it.get("folder_name")}/{it.get("name")}"',
                ),
                wanted,
            )
        )

    def dashboard_lists(dashboard_folders: list[dict[str, Any]]) -> list[Any]:
        return _raise_first_error(
            client.map(dashboards_in, dashboard_folders, limit=DASHBOARD_LISTS_AT_ONCE)
        )

    # Every list that needs nothing else goes out at once (the client bounds how many are in
    # flight), and what needs one of them — the dashboards of each folder, each alert o2kit
    # reads in full — as soon as that one is in, not after the slowest of the others (at 100
    # dashboards + 100 alerts that was one more round trip in a 0.4 s fetch). The live state is
    # the same as one request after the other would give; only the waiting overlaps. Errors are
    # raised in that order too: the lists' first, then the dashboard lists', then the alerts'.
    def then(first: Callable[[], Any], second: Callable[[Any], Any]) -> Callable[[], Any]:
        def job() -> tuple[Any, Any]:
            try:
                listed = first()
            except Exception as exc:  # noqa: BLE001 (raised in order below)
                return exc, None
            try:
                return listed, second(listed)
            except Exception as exc:  # noqa: BLE001 (raised in order below)
                return listed, exc
        return job

    def alerts_read(alert_items: list[dict[str, Any]]) -> tuple[Any, Any, Any]:
        wanted, alerts = alerts_to_read(alert_items)
        return wanted, alerts, alert_bodies(wanted)

    jobs: list[Callable[[], Any]] = [
        then(lambda: client.list_folders("dashboards", resource="dashboards folders"),
             dashboard_lists),
        lambda: client.list_folders("alerts", resource="alerts folders"),
        lambda: _ownership_records(client),
        lambda: client.list_templates(resource="alert templates"),
        lambda: client.list_destinations(resource="alert destinations"),
        lambda: _list_rest_kinds(client, desired),
        then(lambda: client.list_alerts(include_dependencies=True, resource="alerts"),
             alerts_read),
        lambda: _list_streams(client, types) if types else None,
    ]
    # A first plan (dashboards the server's hash does not name as seen in sync before) decodes
    # and normalises ~250 KB per dashboard, holding the interpreter lock while the alert reads
    # wait: a forked helper does it on the other core (~2.4 s of 1,000 dashboards).
    desired_dashboards = sum(r.kind == "dashboard" for r in desired)
    live_digests_wanted = live_digests is not None and bool(desired_digests)
    with (workers.Helper(settle_folder)
          if live_digests_wanted and desired_dashboards >= workers.MIN_ITEMS
          and len(remembered) < desired_dashboards else workers.Helper.none()) as helper:
        done = client.map(lambda job: job(), jobs)
    # (A ``then`` job returns its errors; only an interrupt can come out of it.)
    (dashboard_folders, listed), (alert_items, alerts_read_out) = \
        _raise_first_error([done[0], done[6]])
    (_, alert_folders, records, templates, destinations, rest_lists, _, existing) = \
        _raise_first_error([dashboard_folders, *done[1:6], alert_items, done[7]])
    listed, (wanted, alerts, bodies) = _raise_first_error([listed, alerts_read_out])
    folders = {"dashboards": dashboard_folders, "alerts": alert_folders}

    resources: list[Resource] = []
    for folder_type, items in folders.items():
        for item in items:
            resources.append(
                Resource(
                    kind="folder",
                    key=(folder_type, str(item.get("name", ""))),
                    body=item,
                    server_id=str(item.get("folderId", "")),
                )
            )

    # System objects stay in the live state: plan leaves them alone (``kinds.is_system``) and
    # refuses desired objects whose names they take.
    for body in templates:
        name = (str(body.get("name", "")),)
        resources.append(
            Resource(
                kind="template",
                key=name,
                body=body,
                server_id=str(body.get("name", "")),
                meta=_owner_meta(records, "template", name),
            )
        )

    for body in destinations:
        name = (str(body.get("name", "")),)
        unmarkable = not kinds.SPECS["destination"].can_mark(body)
        resources.append(
            Resource(
                kind="destination",
                key=name,
                body=body,
                server_id=str(body.get("name", "")),
                meta=_owner_meta(records, "destination", name) if unmarkable else {},
            )
        )

    for spec, items in rest_lists:
        for body in items:
            key = spec.live_key(body)
            resources.append(
                Resource(
                    kind=spec.kind,
                    key=key,
                    body=body,
                    server_id=spec.server_id(body),
                    meta={} if spec.can_mark(body) else _owner_meta(records, spec.kind, key),
                )
            )

    for dashboards in listed:
        resources.extend(dashboards)
    for slot in alerts:
        if isinstance(slot, Resource):
            resources.append(slot)
            continue
        item = wanted[slot]
        resources.append(
            Resource(
                kind="alert",
                key=(str(item.get("folder_name", "")), str(item.get("name", ""))),
                body=bodies[slot],
                server_id=str(item.get("alert_id", "")),
                meta={"folder_id": item.get("folder_id")},
            )
        )

    if live_digests is not None:
        live_digests.clear()
        live_digests.update(in_sync)
    return LiveState(resources, existing, client.request_count - start)


def _list_rest_kinds(
    client: OpenObserveClient, desired: Sequence[Resource]
) -> list[tuple[kinds.KindSpec, list[dict[str, Any]]]]:
    """One list request per kind described by ``kinds.RestApi`` (functions, pipelines …). A
    server without that API (404: an older OpenObserve, or a feature switched off) holds none,
    which is only an error when the project declares objects of the kind."""
    specs = [s for s in kinds.SPECS.values() if s.api is not None]
    declared = {r.kind for r in desired}

    def listing(spec: kinds.KindSpec) -> list[dict[str, Any]]:
        assert spec.api is not None
        try:
            return client.list_objects(spec.api, resource=f"{spec.kind}s")
        except NotFound:
            if spec.kind in declared:
                raise
            log.info("the server has no %s API; it holds no %ss", spec.kind, spec.kind)
            return []

    return list(zip(specs, _raise_first_error(client.map(listing, specs)), strict=True))


def _list_streams(client: OpenObserveClient, types: Sequence[str]) -> set[tuple[str, str]]:
    """(type, name) of every stream of ``types``: one list per type."""
    existing: set[tuple[str, str]] = set()
    stream_lists = _raise_first_error(
        client.map(lambda t: client.list_streams(t, resource=f"{t} streams"), types)
    )
    for stream_type, items in zip(types, stream_lists, strict=True):
        for s in items:
            existing.add((str(s.get("stream_type") or stream_type), str(s.get("name", ""))))
    return existing


def _ownership_records(client: OpenObserveClient) -> dict[tuple[str, tuple[str, ...]], str]:
    """``(kind, key) -> project`` from the org's key-value store, where o2kit records which
    project owns each template and e-mail/SNS destination (they have no field for a marker).
    One request (``GET /api/{org}/kv?prefix=o2kit.``, src/api/management/src/request/kv/mod.rs
    ``list``). A server without the KV API (404) has no records: such objects count as not ours
    unless adopted."""
    try:
        keys = client.list_kv_keys(kinds.KV_PREFIX, resource="o2kit ownership records")
    except (NotFound, AuthError) as exc:
        if isinstance(exc, AuthError) and exc.status != 403:
            raise
        log.warning("o2kit cannot read the server's key-value store (%s): templates and "
                    "e-mail/SNS destinations count as not ours", exc.message)
        return {}
    records: dict[tuple[str, tuple[str, ...]], str] = {}
    for text in keys:
        parsed = kinds.parse_kv_key(text)
        if parsed is None:
            continue
        project, kind, key = parsed
        # Two projects claiming one object (a race): the first in key order is the owner shown;
        # neither is then the other's.
        records.setdefault((kind, key), project)
    return records


def _owner_meta(
    records: dict[tuple[str, tuple[str, ...]], str], kind: str, key: tuple[str, ...]
) -> dict[str, Any]:
    owner = records.get((kind, key))
    return {"o2kit_project": owner} if owner else {}


def _live_dashboard(item: dict[str, Any], folder_name: str, folder_id: str) -> Resource:
    version = item.get("version", 8)
    body = item.get(f"v{version}") or {}
    if type(version) is int and version != 8 and "version" not in body:
        # v1 bodies carry no version key; say which schema this is, so that kinds.normalize
        # upgrades it like the UI would (kinds._dashboard_prepare).
        body = {**body, "version": version}
    return Resource(
        kind="dashboard",
        key=(folder_name, str(body.get("title", item.get("title", "")))),
        body=body,
        server_id=str(item.get("dashboard_id") or body.get("dashboardId", "")),
        meta={"hash": str(item.get("hash", "")), "folder_id": folder_id, "version": version},
    )


def _alert_item_as_body(item: dict[str, Any]) -> dict[str, Any]:
    """What a list item tells of an alert we do not read in full: enough for ownership (tags) and
    for the templates/destinations it uses (which must never be taken as o2kit's alone)."""
    body: dict[str, Any] = {"name": item.get("name"), "tags": item.get("tags") or []}
    for key in ("destinations", "template"):
        if item.get(key) is not None:
            body[key] = item[key]
    # An SLO alert's list item carries its condition (models/alerts/responses.rs
    # ListAlertsResponseBodyItem.condition): the SLO it points at is in use while it stays.
    condition = item.get("condition")
    if isinstance(condition, dict) and isinstance(condition.get("slo_condition"), dict):
        body["query_condition"] = {"type": "slo", "slo_condition": condition["slo_condition"]}
    return body


# ---------------------------------------------------------------------------------------------
# apply


@dataclass
class Outcome:
    change: Change
    status: str  # "ok" | "failed" | "skipped"
    message: str = ""


@dataclass
class ApplyResult:
    outcomes: list[Outcome] = field(default_factory=list)
    requests: int = 0
    writes: int = 0

    @property
    def failed(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.status != "ok"]

    @property
    def ok(self) -> bool:
        return not self.failed


ProgressFn = Callable[[Outcome], None]


class _Applier:
    def __init__(
        self, client: OpenObserveClient, plan: Plan, *, force: bool, progress: ProgressFn | None,
        created_streams: set[tuple[str, str]] | None = None,
        prepared: PreparedPayloads | None = None,
    ) -> None:
        self.created_streams = created_streams or set()
        self.prepared = prepared
        self.client = client
        self.plan = plan
        self.project = plan.project
        self.force = force
        self.progress = progress
        # folder (type, name) -> folderId, filled from live state and from creates.
        self.folder_ids: dict[tuple[str, ...], str] = {}
        self.failed_keys: set[tuple[str, tuple[str, ...]]] = set()
        for change in plan.changes:
            live = change.live
            if change.kind == "folder" and live is not None and live.server_id:
                self.folder_ids[change.key] = live.server_id
        self.result = ApplyResult()

    # -- helpers -------------------------------------------------------------------------------
    def _done(self, outcome: Outcome) -> Outcome:
        if outcome.status != "ok":
            change = outcome.change
            self.failed_keys.add((change.kind, change.key))
            api = kinds.SPECS[change.kind].api
            if api is not None and change.desired is not None and change.desired.body.get(
                    api.id_field):
                # Also as a reference by id (("slo", ("@id", id)), see kinds.alert).
                self.failed_keys.add(
                    (change.kind, ("@id", str(change.desired.body[api.id_field]))))
        if self.progress is not None:
            self.progress(outcome)
        return outcome

    def _blocked_by(self, change: Change) -> str | None:
        """Name the failed dependency that makes this change pointless, if any."""
        for dep in self.dependencies(change):
            if dep in self.failed_keys:
                return f'{dep[0]} "{"/".join(dep[1])}" failed'
        return None

    def dependencies(self, change: Change) -> list[tuple[str, tuple[str, ...]]]:
        """The objects ``change`` needs to exist on the server, as ``(kind, key)``."""
        desired = change.desired
        deps: list[tuple[str, tuple[str, ...]]] = []
        if change.kind == "dashboard":
            deps.append(("folder", ("dashboards", change.key[0])))
        elif change.kind == "alert":
            deps.append(("folder", ("alerts", change.key[0])))
            if desired is not None:
                for name in desired.body.get("destinations") or []:
                    deps.append(("destination", (str(name),)))
                if desired.body.get("template"):
                    deps.append(("template", (str(desired.body["template"]),)))
                deps.extend(ref for ref in kinds.SPECS["alert"].references(change.key,
                                                                           desired.body)
                            if kinds.SPECS[ref[0]].api is not None)
        elif change.kind == "destination" and desired is not None and desired.body.get("template"):
            deps.append(("template", (str(desired.body["template"]),)))
        elif kinds.SPECS[change.kind].api is not None and desired is not None:
            deps.extend(kinds.SPECS[change.kind].references(change.key, desired.body))
        return deps

    def _folder_id(self, folder_type: str, name: str) -> str:
        if name == "default":
            # The server creates folder "default" lazily on first use of the id "default"
            # (src/db/src/folders.rs); a new org may not list it yet.
            return "default"
        try:
            return self.folder_ids[(folder_type, name)]
        except KeyError:
            # The folder exists but the plan did not list it (e.g. not managed): look it up.
            for item in self.client.list_folders(folder_type, resource=f"{folder_type} folders"):
                self.folder_ids[(folder_type, str(item.get("name")))] = str(item["folderId"])
            if (folder_type, name) not in self.folder_ids:
                raise NotFound(f'{folder_type} folder "{name}" not found', status=404) from None
            return self.folder_ids[(folder_type, name)]

    # -- one change ----------------------------------------------------------------------------
    def run(self, change: Change) -> Outcome:
        blocked = self._blocked_by(change)
        if blocked:
            return self._done(Outcome(change, "skipped", f"not attempted: {blocked}"))
        if change.missing_stream is not None and change.missing_stream not in self.created_streams:
            stream_type, stream = change.missing_stream
            return self._done(Outcome(
                change, "skipped",
                f"{stream_type} stream {stream!r} does not exist yet; OpenObserve would refuse "
                "the alert (ingest data first, then apply again)"))
        try:
            if change.action in ("update", "replace", "delete") and not self._unchanged(change):
                self._record_ownership(change)  # a delete found it gone: forget the record
                return self._done(Outcome(change, "ok", "already deleted on the server"))
            if change.action == "create":
                self._create(change)
            elif change.action == "update":
                self._update(change)
            elif change.action == "replace":
                self._delete(change)
                self._create(change)
            elif change.action == "delete":
                self._delete(change)
            else:
                return self._done(Outcome(change, "ok", "no change"))
            self._record_ownership(change)
        except O2kitError as exc:
            return self._done(Outcome(change, "failed", exc.message))
        return self._done(Outcome(change, "ok", change.action + "d"))

    # -- ownership -----------------------------------------------------------------------------
    def _is_ours(self, kind: str, key: tuple[str, ...], body: dict[str, Any]) -> bool:
        """The live body carries this project's marker for this key (any o2kit marker when the
        project has no identity)."""
        spec = kinds.SPECS[kind]
        if self.project is None:
            return spec.is_managed(body)
        marker = spec.marker_of(body)
        return (
            marker.state == "token"
            and marker.project == self.project
            and marker.digest == kinds.key_digest(kind, key)
        )

    def _record_ownership(self, change: Change) -> None:
        """Templates and e-mail/SNS destinations carry no marker: record in the server's
        key-value store that this project owns one it created or updated, and forget it when
        it is deleted (``POST``/``DELETE /api/{org}/kv/{key}``)."""
        if self.project is None or not _kv_owned(change.kind):
            return
        body = (change.desired or change.live or Resource(change.kind, change.key, {})).body
        if kinds.SPECS[change.kind].can_mark(body):
            return
        recorded = change.live is not None and change.live.meta.get("o2kit_project") == self.project
        if recorded and change.action != "delete":
            return  # plan read this project's record with the object: no second write
        key = kinds.kv_key(self.project, change.kind, change.key)
        if change.action == "delete":
            self.client.delete_kv(key, resource=change.address)
        else:
            value = json.dumps({"project": self.project, "kind": change.kind,
                                "key": list(change.key)})
            self.client.set_kv(key, value, resource=change.address)

    def _fresh_body(self, change: Change) -> dict[str, Any] | None:
        live, c, res = change.live, self.client, change.address
        assert live is not None
        try:
            if change.kind == "alert":
                return c.get_alert(str(live.server_id), resource=res)
            if change.kind == "template":
                return c.get_template(change.key[0], resource=res)
            if change.kind == "destination":
                return c.get_destination(change.key[0], resource=res)
            api = kinds.SPECS[change.kind].api
            if api is not None:
                return c.get_object(api, str(live.server_id), resource=res)
        except NotFound:
            return None
        raise AssertionError(change.kind)

    def _unchanged(self, change: Change) -> bool:
        """Re-read an alert, template or destination right before writing it; raise Conflict
        when it changed since plan (no server-side hash exists for these kinds, unlike
        dashboards). False when a delete finds it already gone."""
        if change.fingerprint is None or change.live is None:
            return True
        fresh = self._fresh_body(change)
        if fresh is None:
            if change.action == "delete":
                return False
            if self.force:
                return True
            raise Conflict(
                f"{change.address} was deleted on the server since plan; nothing was written",
                status=409, remedy="run `o2kit plan` again",
            )
        now = fingerprint(dataclasses.replace(change.live, body=fresh))
        if now != change.fingerprint and not self.force:
            raise Conflict(
                f"{change.address} changed on the server since plan; nothing was overwritten",
                status=409,
                remedy="run `o2kit plan` again to see the change, or apply with --force "
                "to overwrite it",
            )
        return True

    def _create(self, change: Change) -> None:
        assert change.desired is not None
        spec = kinds.SPECS[change.kind]
        made = self.prepared.get(change) if self.prepared is not None else None
        payload = made if made is not None else spec.payload(change.desired, None, self.project)
        last: BaseException | None = None
        for attempt in range(1, CREATE_ATTEMPTS + 1):
            if attempt > 1:
                found = self._find_created(change)
                if found is not None:
                    log.info(
                        "%s: found after an ambiguous failure; not creating again", change.address
                    )
                    self._remember(change, found)
                    return
            try:
                created = self._post(change, payload)
                self._remember(change, created)
                return
            except O2kitError as exc:
                if not _is_ambiguous(exc):
                    found = self._created_concurrently(change, exc)
                    if found is None:
                        raise
                    self._remember(change, found)
                    return
                last = exc
                log.warning(
                    "%s: create outcome unknown (%s); looking again", change.address, exc.message
                )
        found = self._find_created(change)
        if found is not None:
            self._remember(change, found)
            return
        assert last is not None
        raise last

    def _post(self, change: Change, payload: Any) -> str | None:
        # (``payload`` is a dashboard's JSON already encoded when ``PreparedPayloads`` made it.)
        c, key, res = self.client, change.key, change.address
        if change.kind == "folder":
            folder = c.create_folder(key[0], payload, resource=res)
            return str(folder.get("folderId"))
        if change.kind == "template":
            c.create_template(payload, resource=res)
            return key[0]
        if change.kind == "destination":
            c.create_destination(payload, resource=res)
            return key[0]
        if change.kind == "dashboard":
            envelope = c.create_dashboard(
                self._folder_id("dashboards", key[0]), payload, resource=res
            )
            inner = envelope.get(f"v{envelope.get('version', 8)}") or {}
            return str(inner.get("dashboardId", ""))
        if change.kind == "alert":
            return c.create_alert(self._folder_id("alerts", key[0]), payload, resource=res)
        spec = kinds.SPECS[change.kind]
        if spec.api is not None:
            answer = c.create_object(spec.api, payload, resource=res)
            id_key = spec.api.create_id_key or spec.api.id_field
            if isinstance(answer, dict) and answer.get(id_key):
                return str(answer[id_key])
            return spec.server_id(payload) or self._find_created(change)
        raise AssertionError(change.kind)

    def reconcile(self, batch: Sequence[Change]) -> None:
        """After a phase that created dashboards or alerts (kinds whose names the server does
        not keep unique), list them once and, for every key this phase created, delete every
        copy of ours but the oldest (``plan.age_key``) — another apply of this project may have
        created the same key meanwhile. The oldest is never deleted (nothing is older), and the
        apply that lists last sees every copy, so concurrent applies end with exactly one. A
        failure here is logged; the next plan shows any copy left as a delete."""
        if self.project is None:
            return
        created = [c for c in batch if c.action in ("create", "replace")
                   and (c.kind, c.key) not in self.failed_keys]
        if not created:
            return
        kind = created[0].kind
        wanted = {c.key for c in created}
        try:
            copies = self._copies_of_ours(kind, wanted)
        except O2kitError as exc:
            log.warning("could not look for copies made by a concurrent apply: %s", exc.message)
            return
        for key in sorted(copies):
            found = sorted(copies[key], key=age_key)
            for extra in found[1:]:
                change = Change("delete", kind, key, live=extra)
                log.warning("%s: another apply created it too; keeping id %s, deleting id %s",
                            change.address, found[0].server_id, extra.server_id)
                try:
                    self._delete(change)
                except O2kitError as exc:
                    log.warning("%s: %s (the next plan shows it)", change.address, exc.message)

    def _copies_of_ours(
        self, kind: str, keys: set[tuple[str, ...]]
    ) -> dict[tuple[str, ...], list[Resource]]:
        """Live copies of ours of ``keys``: one dashboard list per folder, or one alert list."""
        c = self.client
        out: dict[tuple[str, ...], list[Resource]] = defaultdict(list)
        if kind == "dashboard":
            bulky = kinds.SPECS["dashboard"].bulky

            def ours_in(folder: str) -> list[Resource]:
                # Only the id and the marker matter here: the list's outline is enough (no
                # panel decoded), and the bulky parts are not kept.
                folder_id = self._folder_id("dashboards", folder)
                resource = f'dashboards in "{folder}"'
                answer = c.list_dashboards_answer(folder_id, resource=resource)
                items = c.dashboard_outline(answer)
                if items is None:
                    items = c.dashboard_items(answer, resource=resource)
                return [
                    dataclasses.replace(
                        live, body={k: v for k, v in live.body.items() if k not in bulky}
                    )
                    for item in items
                    if (live := _live_dashboard(item, folder, folder_id)).key in keys
                    and self._is_ours("dashboard", live.key, live.body)
                ]

            # One list at a time: apply has nothing else to overlap them with, and at 1,000
            # creates two at once took its peak from 273 to 342 MB.
            for folder in sorted({k[0] for k in keys}):
                for live in ours_in(folder):
                    out[live.key].append(live)
        else:
            for item in c.list_alerts(resource="alerts"):
                k = (str(item.get("folder_name", "")), str(item.get("name", "")))
                body = _alert_item_as_body(item)
                if k in keys and self._is_ours("alert", k, body):
                    out[k].append(
                        Resource("alert", k, body, server_id=str(item.get("alert_id", "")))
                    )
        return out

    def _created_concurrently(self, change: Change, exc: O2kitError) -> str | None:
        """A create refused because the name is taken (folders, templates and destinations are
        unique by name: src/core/src/alerts/templates.rs ``AlreadyExists``, the folder name check
        in src/db/src/folders.rs): when what holds the name is exactly what this project would
        create — another apply of it just made it — that is success, not a failure."""
        status = getattr(exc, "status", None)
        spec = kinds.SPECS[change.kind]
        named = ("folder", "template", "destination")
        unique_by_name = spec.api is not None or change.kind in named
        if not unique_by_name or status not in (400, 409):
            return None
        assert change.desired is not None
        c, key, res = self.client, change.key, change.address
        try:
            if spec.api is not None:
                found = [i for i in c.list_objects(spec.api, resource=res)
                         if spec.live_key(i) == key]
                if not found:
                    return None
                body = found[0]
            elif change.kind == "folder":
                for item in c.list_folders(key[0], resource=res):
                    if item.get("name") == key[1] and self._is_ours("folder", key, item):
                        return str(item["folderId"])
                return None
            else:
                body = (c.get_template(key[0], resource=res) if change.kind == "template"
                        else c.get_destination(key[0], resource=res))
        except NotFound:
            return None
        if spec.can_mark(body) and not self._is_ours(change.kind, key, body):
            return None
        if spec.normalize(body) != spec.normalize(spec.complete(change.desired)):
            return None
        log.info("%s: created meanwhile by another apply, with the same content", res)
        return spec.server_id(body) if spec.api is not None else key[0]

    def _remember(self, change: Change, server_id: str | None) -> None:
        if change.kind == "folder" and server_id:
            self.folder_ids[change.key] = server_id

    def _find_created(self, change: Change) -> str | None:
        """Look on the server for the object a create may have made; its id, or None."""
        c, key, res = self.client, change.key, change.address
        if change.kind == "folder":
            for item in c.list_folders(key[0], resource=res):
                if item.get("name") == key[1]:
                    return str(item["folderId"])
            return None
        if change.kind in ("template", "destination"):
            items = (
                c.list_templates(resource=res)
                if change.kind == "template"
                else c.list_destinations(resource=res)
            )
            return key[0] if any(i.get("name") == key[0] for i in items) else None
        if change.kind == "dashboard":
            for item in c.list_dashboards(self._folder_id("dashboards", key[0]), resource=res):
                live = _live_dashboard(item, key[0], "")
                if live.key == key and self._is_ours("dashboard", key, live.body):
                    return live.server_id
            return None
        if change.kind == "alert":
            for item in c.list_alerts(resource=res):
                if (
                    item.get("folder_name"),
                    item.get("name"),
                ) == key and self._is_ours("alert", key, _alert_item_as_body(item)):
                    return str(item.get("alert_id"))
            return None
        spec = kinds.SPECS[change.kind]
        if spec.api is not None:
            for item in c.list_objects(spec.api, resource=res):
                if spec.live_key(item) == key and (
                    not spec.can_mark(item) or self._is_ours(change.kind, key, item)
                ):
                    return spec.server_id(item)
            return None
        raise AssertionError(change.kind)

    def _update(self, change: Change) -> None:
        assert change.desired is not None and change.live is not None
        spec = kinds.SPECS[change.kind]
        payload = spec.payload(change.desired, change.live, self.project)
        c, live, res = self.client, change.live, change.address
        if change.kind == "folder":
            c.update_folder(change.key[0], str(live.server_id), payload, resource=res)
        elif change.kind == "template":
            c.update_template(change.key[0], payload, resource=res)
        elif change.kind == "destination":
            c.update_destination(change.key[0], payload, resource=res)
        elif change.kind == "alert":
            c.update_alert(str(live.server_id), payload, resource=res)
        elif change.kind == "dashboard":
            self._update_dashboard(change, payload)
        elif spec.api is not None:
            c.update_object(spec.api, str(live.server_id), payload, resource=res)
        else:
            raise AssertionError(change.kind)

    def _update_dashboard(self, change: Change, payload: dict[str, Any]) -> None:
        assert change.live is not None and change.desired is not None
        c, live, res = self.client, change.live, change.address
        folder_id = str(live.meta.get("folder_id"))
        try:
            c.update_dashboard(
                str(live.server_id), folder_id, str(live.meta.get("hash")), payload, resource=res
            )
            return
        except Conflict as exc:
            # A 409 after a retried PUT may be our own first attempt having landed: if the server
            # now holds exactly what we wanted, that is success, not a conflict.
            current = c.get_dashboard(str(live.server_id), resource=res)
            inner = current.get(f"v{current.get('version', 8)}") or {}
            spec = kinds.SPECS["dashboard"]
            if spec.normalize(inner) == spec.normalize(change.desired.body):
                return
            if not self.force:
                raise Conflict(
                    f"{res} changed on the server since plan; nothing was overwritten",
                    status=409,
                    remedy="run `o2kit plan` again to see the change, or apply with --force "
                    "to overwrite it",
                ) from exc
            fresh = Resource(
                kind=live.kind,
                key=live.key,
                body=inner,
                server_id=live.server_id,
                meta={**live.meta, "hash": str(current.get("hash"))},
            )
            c.update_dashboard(
                str(live.server_id),
                folder_id,
                str(current.get("hash")),
                kinds.SPECS["dashboard"].payload(change.desired, fresh, self.project),
                resource=res,
            )

    def _delete(self, change: Change) -> None:
        live = change.live
        assert live is not None
        c, res = self.client, change.address
        try:
            if change.kind == "folder":
                c.delete_folder(change.key[0], str(live.server_id), resource=res)
            elif change.kind == "template":
                c.delete_template(change.key[0], resource=res)
            elif change.kind == "destination":
                c.delete_destination(change.key[0], resource=res)
            elif change.kind == "dashboard":
                c.delete_dashboard(str(live.server_id), resource=res)
            elif change.kind == "alert":
                c.delete_alert(str(live.server_id), resource=res)
            else:
                api = kinds.SPECS[change.kind].api
                if api is None:
                    raise AssertionError(change.kind)
                c.delete_object(api, str(live.server_id), resource=res)
        except NotFound:
            # Already gone (deleted by someone else, or our own retried delete): the goal holds.
            log.info("%s: already absent", res)


def _phases(plan: Plan) -> list[list[Change]]:
    """Creates/updates/replaces kind by kind in dependency order, then deletes in reverse."""
    order = {kind: i for i, kind in enumerate(kinds.APPLY_ORDER)}
    phases: list[list[Change]] = []
    for kind in kinds.APPLY_ORDER:
        batch = [
            c
            for c in plan.changes
            if c.kind == kind and c.action in ("create", "update", "replace")
        ]
        if batch:
            phases.append(batch)
    for kind in sorted(order, key=lambda k: -order[k]):
        batch = [c for c in plan.changes if c.kind == kind and c.action == "delete"]
        if batch:
            phases.append(batch)
    return phases


def create_missing_streams(
    client: OpenObserveClient, streams: dict[tuple[str, str], dict[str, str]]
) -> tuple[set[tuple[str, str]], list[str]]:
    """Create each ``(stream_type, name)`` with the given ``{column: arrow type}`` schema.
    Returns the streams that exist afterwards and one message per failure."""
    created: set[tuple[str, str]] = set()
    errors: list[str] = []
    for (stream_type, name), fields in sorted(streams.items()):
        resource = f'{stream_type} stream "{name}"'
        try:
            client.create_stream(name, fields, stream_type, resource=resource)
            created.add((stream_type, name))
        except O2kitError as exc:
            # Created meanwhile by ingestion (or by our own lost first attempt): fine.
            if client.stream_schema(name, stream_type, resource=resource) is not None:
                created.add((stream_type, name))
            else:
                errors.append(exc.message)
    return created, errors


def apply_plan(
    client: OpenObserveClient,
    plan: Plan,
    *,
    force: bool = False,
    progress: ProgressFn | None = None,
    create_streams: dict[tuple[str, str], dict[str, str]] | None = None,
    prepared: PreparedPayloads | None = None,
) -> ApplyResult:
    """Carry out ``plan``. One failed resource does not stop independent ones.

    ``create_streams`` maps each missing ``(stream_type, name)`` the plan announced to the schema
    to create it with; its alerts are then applied instead of skipped. ``prepared``: this plan's
    ``PreparedPayloads``.
    """
    start_requests, start_writes = client.request_count, client.write_count
    created: set[tuple[str, str]] = set()
    if create_streams:
        created, errors = create_missing_streams(client, create_streams)
        for message in errors:
            log.error("%s", message)
    applier = _Applier(client, plan, force=force, progress=progress, created_streams=created,
                       prepared=prepared)
    # A reconcile (the look for copies a concurrent apply made) lists every folder of its kind,
    # one list at a time: ~1 s after 1,000 dashboards. It runs beside the next phases, unless a
    # phase deletes, is of its kind or needs an object of its kind (which it may delete).
    reconciling: dict[str, concurrent.futures.Future[None]] = {}
    with concurrent.futures.ThreadPoolExecutor(2, thread_name_prefix="o2kit-reconcile") as pool:
        for batch in _phases(plan):
            kind, deleting = batch[0].kind, batch[0].action == "delete"
            for other in list(reconciling):
                if deleting or other == kind or any(
                    dep[0] == other for change in batch for dep in applier.dependencies(change)
                ):
                    reconciling.pop(other).result()
            results = client.map(applier.run, batch)
            for change, outcome in zip(batch, results, strict=True):
                if isinstance(outcome, BaseException):  # an internal error: report, keep going
                    outcome = applier._done(
                        Outcome(change, "failed", f"internal error: {outcome!r}"))
                applier.result.outcomes.append(outcome)
            if kind in ("dashboard", "alert"):
                reconciling[kind] = pool.submit(applier.reconcile, batch)
        for future in reconciling.values():
            future.result()
    applier.result.requests = client.request_count - start_requests
    applier.result.writes = client.write_count - start_writes
    return applier.result


def count_changes(plan: Plan) -> int:
    return sum(1 for c in plan.changes if c.action != "noop")
