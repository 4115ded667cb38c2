"""``o2kit export``: adopt what exists — dashboards and alerts on a server → files in the repo.

What an export writes (paths relative to the project root)::

    templates/exported/dashboards/<folder>/<title>.json   the dashboard, raw OpenObserve v8 JSON
    dashboards/<title>.yaml                               template: exported/dashboards/…json,
                                                          title and folder (the dashboard's key)
    templates/exported/alerts/<folder>/<name>.json        the alert, raw OpenObserve JSON
    alerts/<folder>.yaml                                  folder, alerts (template, destinations,
                                                          enabled), and the destinations and
                                                          alert templates they use

Raw OpenObserve JSON is a template (see ``o2kit.project.loader``): the file is the body, unrendered.
Everything is written so that ``o2kit plan`` right after the export shows no changes:

- server-owned fields (``dashboardId``, ``owner``, ``created``, ``hash``, alert ``id``,
  ``last_*``…) and o2kit's ownership marker are left out; folder + title (folder + name for an
  alert) stay the key, exactly as on the server;
- dashboards at schema v1–v7 are upgraded to v8 as the OpenObserve UI does
(``o2kit.kinds.dashboard_upgrade``);
  ``plan`` compares an older live dashboard through the same upgrade (``kinds``), so the
  unchanged original is in sync with its exported v8 file;
- alerts keep their stream, query, trigger, tags…; ``name``, ``destinations`` and ``enabled``
  go to the YAML file, which owns them;
- destinations and alert templates are exported *by reference*: an alert names them; those the
  project does not define yet are written into the alerts file, those it defines (or the server's
  prebuilt ones) are only referenced. **Secrets never reach a file**: every http destination URL
  and header value becomes ``${env:O2KIT_<DESTINATION>_URL}`` / ``…_HEADER_<NAME>``; the export
  lists the variables to set (with the value's host, never the value).
- **Server text is data, never a reference**: every ``${env:`` in a server string (a template
  body, a title, a query) is written ``$${env:`` (``envrefs.escape_env_refs``), which plan and
  apply send back as the literal text — never as the value of a variable of the CI job.

Objects already defined in the project (same key) are skipped, and existing files are never
overwritten unless ``force``. Nothing is written until every file is known to be writable.

A selected object whose key another object on the server shares (two dashboards with one title in
one folder) cannot be managed by o2kit, which pairs by key: it is not exported, and
``ExportResult.not_exported`` names it with its id and the fix (rename in the UI); so is a
dashboard the UI could not upgrade. Everything else is exported (the CLI then exits 1). Distinct
names that make one file name (``A/B``, ``A B``) get distinct files (``-2``, ``-3``…).
Folder ``default`` is exported like any other; plan references it, never creates it.

Split: ``read_server`` (I/O through the client) → ``build_export`` (pure) → ``write_export``.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import logging
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlsplit

import yaml

from o2kit import kinds
from o2kit.errors import NotFound, UserError
from o2kit.kinds import dashboard_upgrade as upgrade
from o2kit.project.envrefs import escape_env_refs
from o2kit.sync.client import OpenObserveClient

log = logging.getLogger(__name__)

__all__ = [
    "EXPORT_DIR",
    "ExportRequest",
    "ExportResult",
    "ExportedFile",
    "ProjectKeys",
    "ServerObjects",
    "build_export",
    "existing_keys",
    "exportable_kinds",
    "read_server",
    "write_export",
]

EXPORT_DIR = "exported"
"""Folder under ``templates/`` for raw exported JSON."""

# Keys a raw dashboard file must not carry: the server owns them (reference §3, §10).
_DASHBOARD_DROP = ("dashboardId", "owner", "created", "hash", "role", "updatedAt")
# Alert keys the server owns, plus the folder (the key says it) and the keys the YAML file owns.
_ALERT_DROP = (*kinds.ALERT_SERVER_OWNED, "folder", "folder_id", "folder_name", "alert_id")
_ALERT_FILE_KEYS = ("name", "destinations", "alert_destinations", "enabled")
# Destination keys the alerts-file format (project.DestinationSpec) can express.
_DESTINATION_KEYS = (
    "type",
    "url",
    "method",
    "skip_tls_verify",
    "headers",
    "template",
    "destination_type_name",
    "emails",
    "sns_topic_arn",
    "aws_region",
    "metadata",
)


# ---------------------------------------------------------------------------------------------
# What to export


@dataclass(frozen=True)
class ExportRequest:
    """Which objects to export. ``folders`` match a folder's name or id; ``titles`` a dashboard's
    title or an alert's name; ``ids`` a dashboard or alert id. Criteria of one sort are OR-ed,
    sorts are AND-ed (``--folder Payments --title Stripe``: Stripe in Payments). ``everything``
    exports all dashboards and alerts."""

    folders: tuple[str, ...] = ()
    titles: tuple[str, ...] = ()
    ids: tuple[str, ...] = ()
    everything: bool = False
    dashboards: bool = True
    alerts: bool = True
    # Kinds described as data (``kinds.RestApi`` with a ``KindSpec._export``: functions,
    # pipelines …) to export too; None: every such kind. They have no folders: ``--folder``
    # selects none of them; ``--title`` matches the last part of the key, ``--id`` the server id.
    rest_kinds: tuple[str, ...] | None = None

    def check(self) -> None:
        if not (self.folders or self.titles or self.ids or self.everything):
            raise UserError(
                "name what to export",
                remedy="pass --folder NAME, --title TITLE, --id ID (each may repeat) or --all",
            )
        if not (self.dashboards or self.alerts or self.selected_rest_kinds()):
            raise UserError("nothing to export: every kind is excluded")

    def selected_rest_kinds(self) -> tuple[str, ...]:
        """The exportable REST kinds this request reads, in apply order."""
        wanted = exportable_kinds() if self.rest_kinds is None else self.rest_kinds
        return tuple(k for k in exportable_kinds() if k in wanted)

    def selects(self, folder_name: str, folder_id: str, title: str, object_id: str) -> bool:
        if self.everything:
            return True
        if self.folders and folder_name not in self.folders and folder_id not in self.folders:
            return False
        if self.titles or self.ids:
            return title in self.titles or object_id in self.ids
        return True


@dataclass
class ServerObjects:
    """What ``read_server`` found: selected dashboards (list items) and alerts (full GET bodies,
    each with ``folder_name``), plus every destination and template."""

    dashboards: list[dict[str, Any]] = field(default_factory=list)
    alerts: list[dict[str, Any]] = field(default_factory=list)
    destinations: list[dict[str, Any]] = field(default_factory=list)
    templates: list[dict[str, Any]] = field(default_factory=list)
    org: str = "default"
    # Ids of *every* dashboard / alert listed (selected or not) per key (folder, title/name): a
    # selected object whose key another one shares cannot be managed, even when only one of the
    # two was asked for (``--id``). Empty: judge from the selected objects alone.
    dashboard_ids: dict[tuple[str, str], list[str]] = field(default_factory=dict)
    alert_ids: dict[tuple[str, str], list[str]] = field(default_factory=dict)
    # Kinds described as data: kind -> the selected live bodies (as listed).
    rest: dict[str, list[dict[str, Any]]] = field(default_factory=dict)


def exportable_kinds() -> tuple[str, ...]:
    """Kinds reached through ``kinds.RestApi`` whose spec says what ``export`` writes."""
    return tuple(k for k, spec in kinds.SPECS.items() if spec.api is not None
                 and (spec._export is not None or spec._export_all is not None))


def _read_rest_kinds(client: OpenObserveClient, request: ExportRequest, out: ServerObjects,
                     matched: set[str]) -> None:
    """One list request per selected REST kind; a server without the API (404) holds none."""
    for kind in request.selected_rest_kinds():
        spec = kinds.SPECS[kind]
        assert spec.api is not None
        try:
            items = client.list_objects(spec.api, resource=f"{kind}s")
        except NotFound:
            items = []
        chosen = out.rest.setdefault(kind, [])
        for body in items:
            key, object_id = spec.live_key(body), spec.server_id(body)
            name = key[-1] if key else ""
            if request.selects("", "", name, object_id):
                chosen.append(body)
                matched |= {name, object_id}


def read_server(client: OpenObserveClient, request: ExportRequest) -> ServerObjects:
    """Read the selected dashboards and alerts (one list per dashboard folder, one alert list and
    one GET per selected alert) and the destination and template lists."""
    request.check()
    out = ServerObjects(org=client.settings.org)
    matched: set[str] = set()
    if request.dashboards:
        folders = client.list_folders("dashboards", resource="dashboard folders")
        wanted = [
            f
            for f in folders
            if request.everything
            or not request.folders
            or {str(f.get("name")), str(f.get("folderId"))} & set(request.folders)
        ]
        lists = client.map(
            lambda f: client.list_dashboards(
                str(f["folderId"]), resource=f'dashboards in folder "{f.get("name")}"'
            ),
            wanted,
        )
        for folder, items in zip(wanted, lists, strict=True):
            if isinstance(items, BaseException):
                raise items
            folder_name, folder_id = str(folder.get("name", "")), str(folder["folderId"])
            matched |= {folder_name, folder_id}
            for item in items:
                body = _dashboard_body(item)
                title = str(body.get("title", item.get("title", "")))
                object_id = str(item.get("dashboard_id") or body.get("dashboardId", ""))
                out.dashboard_ids.setdefault((folder_name, title), []).append(object_id)
                if request.selects(folder_name, folder_id, title, object_id):
                    out.dashboards.append({**item, "folder_name": folder_name})
                    matched |= {title, object_id}
    if request.alerts:
        items = client.list_alerts(resource="alerts")
        chosen = []
        for item in items:
            folder_name = str(item.get("folder_name", ""))
            folder_id = str(item.get("folder_id", ""))
            name, object_id = str(item.get("name", "")), str(item.get("alert_id", ""))
            out.alert_ids.setdefault((folder_name, name), []).append(object_id)
            if request.folders and {folder_name, folder_id} & set(request.folders):
                matched |= {folder_name, folder_id}
            if request.selects(folder_name, folder_id, name, object_id):
                chosen.append(item)
                matched |= {name, object_id}
        bodies = client.map(
            lambda it: client.get_alert(
                str(it["alert_id"]), resource=f'alert "{it.get("folder_name")}/{it.get("name")}"'
            ),
            chosen,
        )
        for item, fetched in zip(chosen, bodies, strict=True):
            if isinstance(fetched, BaseException):
                raise fetched
            out.alerts.append({**fetched, "folder_name": str(item.get("folder_name", ""))})
        out.destinations = client.list_destinations(resource="alert destinations")
        out.templates = client.list_templates(resource="alert templates")
    _read_rest_kinds(client, request, out, matched)
    unmatched = [
        f"{flag} {value!r}"
        for flag, values in (("--folder", request.folders), ("--title", request.titles),
                             ("--id", request.ids))
        for value in values
        if value not in matched
    ]
    if unmatched:
        raise UserError(
            f"nothing on the server matches {', '.join(unmatched)}",
            remedy="folder names, titles and ids are matched exactly (case matters)",
        )
    return out


def _dashboard_body(item: Mapping[str, Any]) -> dict[str, Any]:
    version = item.get("version", 8)
    body = dict(item.get(f"v{version}") or {})
    if type(version) is int and "version" not in body:
        body["version"] = version  # v1 bodies have no version key
    return body


# ---------------------------------------------------------------------------------------------
# What the project already has


@dataclass(frozen=True)
class ProjectKeys:
    """Keys already defined in the project: exported objects with these keys are skipped, and
    destinations/templates defined here are only referenced."""

    dashboards: frozenset[tuple[str, str]] = frozenset()
    alerts: frozenset[tuple[str, str]] = frozenset()
    destinations: frozenset[str] = frozenset()
    templates: frozenset[str] = frozenset()
    # Kinds that read their own files (``KindSpec.files``): (kind, key) declared in the project.
    rest: frozenset[tuple[str, tuple[str, ...]]] = frozenset()


def _rest_keys(root: Path) -> frozenset[tuple[str, tuple[str, ...]]]:
    """Keys declared in the files of every exportable kind, read without rendering (a ``.j2``
    file is parsed as written; one that does not parse that way declares nothing here)."""
    found: set[tuple[str, tuple[str, ...]]] = set()
    for kind in exportable_kinds():
        files = kinds.SPECS[kind].files
        if files is None or not (root / files.directory).is_dir():
            continue
        for path in sorted((root / files.directory).iterdir()):
            if not path.is_file() or not path.name.endswith(files.suffixes):
                continue
            rel = f"{files.directory}/{path.name}"
            try:
                text = path.read_text(encoding="utf-8")
                content = yaml.safe_load(text) if files.yaml else text
                items = files.parse(rel, content, {})
            except Exception as exc:  # noqa: BLE001 — a file that does not parse declares nothing
                log.debug("%s: not read for export (%s)", rel, exc)
                continue
            found |= {(kind, tuple(i.key)) for i in items if isinstance(i, kinds.Parsed)}
    return frozenset(found)


def existing_keys(root: Path) -> ProjectKeys:
    """Read the keys of ``dashboards/*.yaml`` and ``alerts/*.yaml`` (no rendering: an export must
    work in a project that does not validate yet). Folders default as in ``o2kit.yaml``."""
    config: Any = {}
    config_file = root / "o2kit.yaml"
    if config_file.is_file():
        config = _safe_yaml(config_file)
    folders = config.get("folders") if isinstance(config, dict) else None
    folders = folders if isinstance(folders, dict) else {}
    default_dash = str(folders.get("dashboards") or "Bedrock")
    default_alert = str(folders.get("alerts") or "Bedrock")
    dashboards, alerts, destinations, templates = set(), set(), set(), set()
    for path in sorted((root / "dashboards").glob("*.yaml")):
        data = _safe_yaml(path)
        if isinstance(data, dict) and data.get("title"):
            dashboards.add((str(data.get("folder") or default_dash), str(data["title"])))
    for path in sorted((root / "alerts").glob("*.yaml")):
        data = _safe_yaml(path)
        if not isinstance(data, dict):
            continue
        folder = str(data.get("folder") or default_alert)
        alerts |= {(folder, str(name)) for name in _mapping(data.get("alerts"))}
        destinations |= {str(name) for name in _mapping(data.get("destinations"))}
        templates |= {str(name) for name in _mapping(data.get("templates"))}
    return ProjectKeys(
        frozenset(dashboards), frozenset(alerts), frozenset(destinations), frozenset(templates),
        _rest_keys(root),
    )


def _safe_yaml(path: Path) -> Any:
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        log.warning("%s: not read (%s)", path, exc)
        return None


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, dict) else {}


# ---------------------------------------------------------------------------------------------
# Building the files (pure)


@dataclass(frozen=True)
class ExportedFile:
    path: PurePosixPath
    text: str
    what: str


@dataclass
class ExportResult:
    files: list[ExportedFile] = field(default_factory=list)
    # Variables the exported destinations read: name → where it is used and what it holds.
    env_vars: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    # Selected but left out on purpose: already defined in the project (nothing to fix).
    skipped: list[str] = field(default_factory=list)
    # Selected but not exported because of a problem on the server the user must fix (two objects
    # with one key, a dashboard the UI cannot upgrade): each line names the object, says why and
    # how to fix it. The rest is exported; the command exits 1 when this is not empty.
    not_exported: list[str] = field(default_factory=list)


def slug(text: str) -> str:
    """A file-name part: lower case, ``[a-z0-9_.-]``, never empty."""
    out = re.sub(r"[^a-z0-9_.-]+", "-", text.lower()).strip("-.")
    return re.sub(r"-{2,}", "-", out) or "x"


def env_name(*parts: str) -> str:
    """``O2KIT_<PARTS>``: an environment variable name (letters, digits, ``_``)."""
    text = "_".join(re.sub(r"[^A-Za-z0-9]+", "_", p).strip("_").upper() for p in parts if p)
    return f"O2KIT_{text}" if text else "O2KIT_SECRET"


def clean_dashboard(item: Mapping[str, Any]) -> tuple[dict[str, Any], int | None]:
    """The raw JSON to write for a dashboard list item: its body upgraded to v8, without
    server-owned fields or the ownership marker. Also returns the version it had."""
    body = _dashboard_body(item)
    original = upgrade.dashboard_version(body)
    try:
        body = upgrade.upgrade_dashboard(body)
    except upgrade.UpgradeError as exc:
        raise UserError(
            f'dashboard "{body.get("title")}" cannot be upgraded to v8: {exc}',
            remedy="open it in the OpenObserve UI once (it upgrades and saves), then export again",
        ) from exc
    for key in _DASHBOARD_DROP:
        body.pop(key, None)
    kinds.SPECS["dashboard"]._strip_marker(body)
    body["version"] = upgrade.CURRENT_VERSION
    return body, original


def clean_alert(body: Mapping[str, Any]) -> dict[str, Any]:
    """The raw JSON to write for an alert: without server-owned fields, the keys the YAML file
    owns (name, destinations, enabled) or o2kit's marker tag."""
    out = copy.deepcopy(dict(body))
    for key in (*_ALERT_DROP, *_ALERT_FILE_KEYS):
        out.pop(key, None)
    kinds.SPECS["alert"]._strip_marker(out)
    if out.get("tags") == []:
        out.pop("tags")
    return out


def _alert_destinations(body: Mapping[str, Any]) -> list[str]:
    names = body.get("destinations") or body.get("alert_destinations") or []
    return [str(n) for n in names]


def build_export(objects: ServerObjects, existing: ProjectKeys) -> ExportResult:
    """The files for ``objects``, skipping what ``existing`` defines. Pure."""
    # Escape first, so no server string can become a reference in the files (module docstring).
    objects = dataclasses.replace(
        objects,
        dashboards=escape_env_refs(objects.dashboards),
        alerts=escape_env_refs(objects.alerts),
        destinations=escape_env_refs(objects.destinations),
        templates=escape_env_refs(objects.templates),
        dashboard_ids={escape_env_refs(k): v for k, v in objects.dashboard_ids.items()},
        alert_ids={escape_env_refs(k): v for k, v in objects.alert_ids.items()},
        rest={kind: escape_env_refs(items) for kind, items in objects.rest.items()},
    )
    result = ExportResult()
    _export_dashboards(objects, existing, result)
    _export_alerts(objects, existing, result)
    _export_rest_kinds(objects, existing, result)
    return result


def _export_rest_kinds(objects: ServerObjects, existing: ProjectKeys, result: ExportResult) -> None:
    """The files each kind's ``KindSpec._export`` writes for its selected objects; two live
    objects with one key cannot be managed (o2kit pairs by key) and are not exported."""
    for kind, items in objects.rest.items():
        spec = kinds.SPECS[kind]
        if spec._export_all is not None:
            kept = [b for b in items if (kind, spec.live_key(b)) not in existing.rest]
            files, reasons = spec._export_all(kept) if kept else ([], [])
            result.not_exported.extend(reasons)
            for rel, text in files:
                path = PurePosixPath(rel)
                if path.is_absolute() or ".." in path.parts:
                    result.not_exported.append(f"{kind}: unsafe file name {rel!r}")
                    continue
                result.files.append(ExportedFile(path, text, f"{kind}s"))
                result.notes.append(f"{rel} holds the {kind}s together: merge what you want of "
                                    "it into the project's own file by hand (plan reads only "
                                    "that one)")
            continue
        by_key: dict[tuple[str, ...], list[dict[str, Any]]] = {}
        for body in items:
            by_key.setdefault(spec.live_key(body), []).append(body)
        for key, bodies in sorted(by_key.items()):
            label = f'{kind} "{"/".join(key)}"'
            if (kind, key) in existing.rest:
                result.skipped.append(f"{label} (already in the project)")
                continue
            if len(bodies) > 1:
                ids = ", ".join(sorted(spec.server_id(b) for b in bodies))
                result.not_exported.append(
                    f"{label}: {len(bodies)} {kind}s on the server have this name (ids {ids}); "
                    f"o2kit tells {kind}s apart by name, so it can manage none of them. Fix: "
                    "rename all but one on the server, then export again")
                continue
            try:
                files = spec.export_files(bodies[0]) or []
            except ValueError as exc:  # the kind cannot write this object as a file
                result.not_exported.append(f"{label}: {exc}")
                continue
            for rel, text in files:
                path = PurePosixPath(rel)
                if path.is_absolute() or ".." in path.parts:
                    result.not_exported.append(f"{label}: unsafe file name {rel!r}")
                    continue
                result.files.append(ExportedFile(path, text, label))


def _key_clashes(
    kind: str,
    items: Sequence[tuple[tuple[str, str], str]],
    on_server: Mapping[tuple[str, str], Sequence[str]],
    result: ExportResult,
) -> set[tuple[str, str]]:
    """Keys (folder, title/name) of selected objects that another object on the server shares.
    o2kit pairs objects with the server by that key (``kinds``), so it could manage none of
    them (plan refuses a key two live objects have): each selected one is reported with the fix,
    and none is exported. ``on_server``: every listed object's id per key."""
    ids: dict[tuple[str, str], list[str]] = {}
    for key, object_id in items:
        ids.setdefault(key, []).append(object_id)
    for key, listed in on_server.items():
        if key in ids:
            ids[key] = sorted(set(ids[key]) | set(listed))
    clashing = {key for key, found in ids.items() if len(found) > 1}
    noun = "title" if kind == "dashboard" else "name"
    selected = {object_id for _, object_id in items}
    for key in sorted(clashing):
        found = sorted(ids[key])
        for object_id in found:
            if object_id not in selected:
                continue
            others = ", ".join(i for i in found if i != object_id)
            result.not_exported.append(
                f'{kind} "{key[0]}/{key[1]}" (id {object_id or "?"}): {len(found)} {kind}s in '
                f'folder "{key[0]}" have this {noun} (also id {others}); o2kit tells {kind}s '
                f"apart by folder + {noun}, so it can manage none of them. Fix: rename all but "
                f"one in the OpenObserve UI (or move them to other folders), then export again"
            )
    return clashing


def _unique_path(path: PurePosixPath, used: set[PurePosixPath]) -> PurePosixPath:
    """``path``, or ``<stem>-2<suffix>``, ``-3``…: distinct objects whose names give the same
    file name (``A/B`` and ``A B``; folders ``Ops`` and ``ops``) each get their own file."""
    candidate, n = path, 1
    while candidate in used:
        n += 1
        candidate = path.with_name(f"{path.stem}-{n}{path.suffix}")
    used.add(candidate)
    return candidate


def _export_dashboards(objects: ServerObjects, existing: ProjectKeys, result: ExportResult) -> None:
    chosen = []
    for item in objects.dashboards:
        try:
            body, version = clean_dashboard(item)
        except UserError as exc:
            # One dashboard the UI could not open either must not stop the others.
            result.not_exported.append(f"{exc.message}; fix: {exc.remedy}")
            continue
        key = (str(item.get("folder_name", "")), str(body.get("title", "")))
        if key in existing.dashboards:
            result.skipped.append(f'dashboard "{key[0]}/{key[1]}": already defined in dashboards/')
            continue
        dashboard_id = item.get("dashboard_id") or _dashboard_body(item).get("dashboardId")
        chosen.append((key, body, version, str(dashboard_id or "")))
    clashing = _key_clashes(
        "dashboard", [(key, i) for key, _, _, i in chosen], objects.dashboard_ids, result
    )
    chosen = sorted((c for c in chosen if c[0] not in clashing), key=lambda c: (c[0], c[3]))
    title_slugs = [slug(key[1]) for key, *_ in chosen]
    used: set[PurePosixPath] = set()
    for key, body, version, dashboard_id in chosen:
        folder, title = key
        base = slug(title)
        if title_slugs.count(base) > 1:
            base = f"{slug(folder)}-{base}"
        json_rel = _unique_path(
            PurePosixPath(EXPORT_DIR, "dashboards", slug(folder), f"{slug(title)}.json"), used
        )
        yaml_path = _unique_path(PurePosixPath("dashboards", f"{base}.yaml"), used)
        what = f'dashboard "{folder}/{title}"'
        result.files.append(
            ExportedFile(PurePosixPath("templates") / json_rel, _json_text(body), what)
        )
        origin = f"dashboard id {dashboard_id}" if dashboard_id else "dashboard"
        if version is not None and version != upgrade.CURRENT_VERSION:
            origin += f", schema v{version} upgraded to v{upgrade.CURRENT_VERSION} like the UI does"
        header = [
            f"Exported from OpenObserve by `o2kit export` ({origin}).",
            f"The dashboard is raw OpenObserve JSON in templates/{json_rel}: edit it there, or",
            "replace `template` with a Jinja template. Folder + title are its key in o2kit.",
        ]
        doc = {"template": str(json_rel), "title": title, "folder": folder}
        result.files.append(ExportedFile(yaml_path, _yaml_text(header, doc), what))


def _export_alerts(objects: ServerObjects, existing: ProjectKeys, result: ExportResult) -> None:
    by_folder: dict[str, list[dict[str, Any]]] = {}
    chosen = []
    for body in objects.alerts:
        key = (str(body.get("folder_name", "")), str(body.get("name", "")))
        if key in existing.alerts:
            result.skipped.append(f'alert "{key[0]}/{key[1]}": already defined in alerts/')
            continue
        chosen.append((key, body))
    # OpenObserve refuses a second alert only by id (src/core/src/alerts/alert.rs
    # ``prepare_alert``), so one folder can hold two alerts with one name.
    clashing = _key_clashes(
        "alert", [(k, str(b.get("id") or "")) for k, b in chosen], objects.alert_ids, result
    )
    for key, body in chosen:
        if key not in clashing:
            by_folder.setdefault(key[0], []).append(body)
    used: set[PurePosixPath] = set()
    destinations = {str(d.get("name")): d for d in objects.destinations}
    templates = {str(t.get("name")): t for t in objects.templates}
    written_destinations: set[str] = set()
    written_templates: set[str] = set()
    for folder in sorted(by_folder):
        alerts_doc: dict[str, Any] = {}
        dest_doc: dict[str, Any] = {}
        tpl_doc: dict[str, Any] = {}
        needed_templates: list[str] = []
        for body in sorted(by_folder[folder], key=lambda b: str(b.get("name"))):
            name = str(body.get("name", ""))
            json_rel = _unique_path(
                PurePosixPath(EXPORT_DIR, "alerts", slug(folder), f"{slug(name)}.json"), used
            )
            result.files.append(
                ExportedFile(
                    PurePosixPath("templates") / json_rel,
                    _json_text(clean_alert(body)),
                    f'alert "{folder}/{name}"',
                )
            )
            names = _alert_destinations(body)
            alerts_doc[name] = {
                "template": str(json_rel),
                "destinations": names,
                "enabled": bool(body.get("enabled", False)),
            }
            if body.get("template"):
                needed_templates.append(str(body["template"]))
            for dest_name in names:
                if dest_name in existing.destinations or dest_name in written_destinations:
                    continue
                live = destinations.get(dest_name)
                if live is None:
                    result.notes.append(
                        f'alert "{folder}/{name}": destination {dest_name!r} is not on the server'
                    )
                    continue
                dest_doc[dest_name] = _destination_entry(dest_name, live, result)
                written_destinations.add(dest_name)
                if live.get("template"):
                    needed_templates.append(str(live["template"]))
        for tpl_name in needed_templates:
            if (
                tpl_name in existing.templates
                or tpl_name in written_templates
                or tpl_name in kinds.SYSTEM_TEMPLATE_NAMES
            ):
                continue
            live_tpl = templates.get(tpl_name)
            if live_tpl is None or kinds.is_system("template", live_tpl, org=objects.org):
                continue
            tpl_doc[tpl_name] = _template_entry(tpl_name, live_tpl, result)
            written_templates.add(tpl_name)
        doc: dict[str, Any] = {"folder": folder}
        if tpl_doc:
            doc["templates"] = tpl_doc
        if dest_doc:
            doc["destinations"] = dest_doc
        doc["alerts"] = alerts_doc
        header = [
            "Exported from OpenObserve by `o2kit export`. Each alert is raw OpenObserve JSON",
            f"under templates/{EXPORT_DIR}/alerts/; name, destinations and enabled are set here.",
            "Destinations read their URL and headers from the environment (never from git).",
        ]
        result.files.append(
            ExportedFile(
                _unique_path(PurePosixPath("alerts", f"{slug(folder)}.yaml"), used),
                _yaml_text(header, doc),
                f'alerts of folder "{folder}"',
            )
        )


def _destination_entry(name: str, live: Mapping[str, Any], result: ExportResult) -> dict[str, Any]:
    body = copy.deepcopy(dict(live))
    kinds.SPECS["destination"]._strip_marker(body)
    dest_type = str(body.get("type") or "http")
    dropped = sorted(k for k in body if k not in _DESTINATION_KEYS and k not in ("name", "id"))
    dropped = [k for k in dropped if body.get(k) not in (None, "", [], {})]
    if dropped:
        result.notes.append(
            f"destination {name!r}: {', '.join(dropped)} cannot be written in an alerts file; "
            "plan will show the difference"
        )
    entry: dict[str, Any] = {"type": dest_type}
    if dest_type == "http":
        url = str(body.get("url") or "")
        if url:
            var = env_name(name, "URL")
            entry["url"] = f"${{env:{var}}}"
            host = urlsplit(url).hostname or "?"
            result.env_vars[var] = f"destination {name!r}: its URL (host {host})"
        entry["method"] = str(body.get("method") or "post")
        if body.get("skip_tls_verify"):
            entry["skip_tls_verify"] = True
        headers = body.get("headers")
        if isinstance(headers, dict) and headers:
            entry["headers"] = {}
            for header in sorted(headers):
                var = env_name(name, "HEADER", header)
                entry["headers"][header] = f"${{env:{var}}}"
                result.env_vars[var] = f"destination {name!r}: the value of header {header!r}"
        metadata = body.get("metadata")
        if isinstance(metadata, dict) and metadata:
            entry["metadata"] = {str(k): str(v) for k, v in sorted(metadata.items())}
    elif dest_type == "email":
        entry["emails"] = list(body.get("emails") or [])
    elif dest_type == "sns":
        entry["sns_topic_arn"] = body.get("sns_topic_arn")
        entry["aws_region"] = body.get("aws_region")
    for key in ("template", "destination_type_name"):
        if body.get(key):
            entry[key] = body[key]
    return entry


def _template_entry(name: str, live: Mapping[str, Any], result: ExportResult) -> dict[str, Any]:
    entry: dict[str, Any] = {"type": str(live.get("type") or "http")}
    if entry["type"] == "email" or live.get("title"):
        entry["title"] = str(live.get("title") or "")
    entry["body"] = str(live.get("body") or "")
    if live.get("kind") not in (None, "custom"):
        result.notes.append(
            f"alert template {name!r} is of kind {live.get('kind')!r}; alerts files write "
            "kind custom, so plan will show the difference"
        )
    return entry


def _json_text(body: Any) -> str:
    # One spelling per value, so exporting again gives the same file: ``null`` members dropped
    # (every OpenObserve field that can be null is an ``Option``, for which absent is the same),
    # integral floats as ints (the server returns ``f64`` fields as ``2.0``), keys sorted.
    return json.dumps(kinds.canonical(body), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


class _Dumper(yaml.SafeDumper):
    pass


def _str_presenter(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    # Multi-line strings (template bodies) as literal blocks, so they read like the message.
    if "\n" in value and not value.startswith((" ", "\t")) and not value.endswith((" ", "\t")):
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|")
    return dumper.represent_scalar("tag:yaml.org,2002:str", value)


_Dumper.add_representer(str, _str_presenter)


def _yaml_text(header: Sequence[str], doc: Mapping[str, Any]) -> str:
    text = yaml.dump(
        dict(doc), Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=100,
        default_flow_style=False,
    )
    return "".join(f"# {line}\n" for line in header) + text


# ---------------------------------------------------------------------------------------------
# Writing


def write_export(result: ExportResult, root: Path, *, force: bool = False) -> list[Path]:
    """Write every file of ``result`` under ``root``. Refuses (writing nothing) when a file exists
    and ``force`` is false, or when two exported objects would share a file."""
    seen: dict[PurePosixPath, str] = {}
    for f in result.files:
        if f.path in seen:
            raise UserError(
                f"{seen[f.path]} and {f.what} would both be written to {f.path}",
                remedy="export them one at a time (--title/--id) and rename the first file",
            )
        seen[f.path] = f.what
    existing = [f.path for f in result.files if (root / f.path).exists()]
    if existing and not force:
        shown = ", ".join(str(p) for p in existing[:5])
        more = f" and {len(existing) - 5} more" if len(existing) > 5 else ""
        raise UserError(
            f"refusing to overwrite {shown}{more}",
            remedy="move them away, or pass --force to overwrite them",
        )
    written = []
    for f in result.files:
        target = root / f.path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(f.text, encoding="utf-8")
        written.append(target)
    return written


def env_var_lines(env_vars: Mapping[str, str]) -> Iterable[str]:
    """``NAME  what it is`` lines, sorted, for the export summary."""
    width = max((len(k) for k in env_vars), default=0)
    for name in sorted(env_vars):
        yield f"{name.ljust(width)}  {env_vars[name]}"
