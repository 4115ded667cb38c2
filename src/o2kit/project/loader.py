"""The project on disk → the desired OpenObserve resources.

Reads ``o2kit.yaml`` (+ ``envs/<env>.yaml``), the price table, every ``dashboards/*.yaml`` and
``alerts/*.yaml``; renders their templates (``o2kit.project.render``); assembles folder, alert
template,
destination, dashboard and alert resources (keys as in ``o2kit.model``). Every problem in every
file is collected and raised at once as ``ValidationFailed`` — it never stops at the first file.

``${env:NAME}`` secrets stay as placeholders in the bodies (see ``o2kit.project.envrefs``).

File formats (one example each; the pydantic models below are the reference)::

    # dashboards/bedrock.yaml — one dashboard
    template: bedrock/dashboard.yaml.j2      # under templates/
    title: Bedrock overview
    folder: Bedrock                          # optional; default o2kit.yaml folders.dashboards
    description: ""                          # optional; else the template's
    params: {interval: 5 minute}             # typed by the template's manifest

    # alerts/bedrock.yaml — notification objects and alerts; names are the mapping keys
    folder: Bedrock                          # optional; default o2kit.yaml folders.alerts
    templates:
      bedrock_slack: {type: http, body: {text: "{alert_name}: {rows}"}}
    destinations:
      bedrock_slack: {type: http, url: "${env:SLACK_WEBHOOK_URL}", template: bedrock_slack}
    alerts:
      bedrock_throttling:
        template: bedrock/throttling.yaml.j2
        destinations: [bedrock_slack]
        params: {threshold: 10}

Raw OpenObserve JSON is a template too: ``template: exported/payments/stripe.json`` (a path under
``templates/`` ending in ``.json``) uses that file's JSON object as the body, unrendered and
without ``params`` — what ``o2kit export`` writes. A raw dashboard at an older schema version
(1–7) is upgraded to v8 as the OpenObserve UI does (``o2kit.kinds.dashboard_upgrade``);
server-owned keys (``dashboardId``, ``owner``, alert ``id``…) in it are ignored,
so a file exported from the UI works as it is.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import hashlib
import json
import logging
import os
import re
import sys
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Annotated, Any, Literal, TypeVar

import jinja2
from jinja2.sandbox import SandboxedEnvironment
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    field_validator,
    model_validator,
)

from o2kit import kinds
from o2kit.errors import (
    Problem,
    UserError,
    ValidationFailed,
    problem_from_json,
    problem_to_json,
)
from o2kit.kinds import KindSpec, SourceProblem
from o2kit.kinds import dashboard_upgrade as upgrade
from o2kit.model import Resource, SourceRef
from o2kit.project.cache import (
    BlobDamaged,
    BlobMissing,
    Cache,
    digest,
    files_digest,
    read_blob,
    tool_digest,
    tree_digest,
)
from o2kit.project.config import (
    Budget,
    BudgetCallerScope,
    BudgetTeamScope,
    Config,
    LoadedConfig,
    OutsideProject,
    load_config,
    project_path,
)
from o2kit.project.envrefs import (
    find_env_ref_paths,
    find_env_refs,
    malformed_env_refs,
    reserved_env_refs,
)
from o2kit.project.jsontext import decode_json
from o2kit.project.prices import (
    PriceTable,
    TemplatePrices,
    model_pricing_definitions,
    parse_prices,
)
from o2kit.project.quotas import TemplateQuotas
from o2kit.project.render import (
    LoadedTemplate,
    RenderError,
    RenderMemo,
    TemplateValueError,
    finish_dashboard,
    load_template,
    make_environment,
    mark_params,
    resolve_params,
)
from o2kit.project.workers import MIN_ITEMS, fork_map, worker_count
from o2kit.project.yamlsrc import (
    MAX_FILE_BYTES,
    MAX_TOTAL_BYTES,
    LineIndex,
    ModelErrors,
    YamlError,
    load_json,
    load_yaml,
    load_yaml_file,
    parse_as,
)

log = logging.getLogger(__name__)
M = TypeVar("M", bound=BaseModel)

DASHBOARDS_DIR = "dashboards"
ALERTS_DIR = "alerts"
TEMPLATES_DIR = "templates"
RENDER_MANIFEST = ".o2kit-rendered"

# Server-assigned or server-owned keys a template must not write (reference §3, §5.1, §10).
_DASHBOARD_SERVER_KEYS = ("dashboardId", "owner", "created", "hash", "role", "updatedAt")
_ALERT_FILE_KEYS = ("name", "destinations", "enabled")  # set from the YAML file
_ALERT_SERVER_KEYS: tuple[str, ...] = ("id", "owner", "folder", "folder_id", "org_id")
_ALERT_SERVER_KEYS += ("last_edited_by", "updated_at", "last_triggered_at", "last_satisfied_at")

# System alert templates every org can see (reference §7); destinations may name them.
_SYSTEM_TEMPLATES = frozenset({"o2_default_content"})
_PREBUILT_KINDS: tuple[str, ...] = ("slack", "msteams", "pagerduty", "discord", "webhook")
_PREBUILT_KINDS += ("opsgenie",)
_PREBUILT_KINDS += ("servicenow", "email")


# --------------------------------------------------------------------------------------------
# File formats.
# --------------------------------------------------------------------------------------------


def _object_name(value: str) -> str:
    # OpenObserve's rules for alert, destination and template names (reference §5.2, §6, §7).
    if not value:
        raise ValueError("name cannot be empty")
    bad = sorted({ch for ch in value if ch.isspace() or ch in ":#?&%'\"/"})
    if bad:
        shown = " ".join("space" if ch == " " else repr(ch) for ch in bad)
        raise ValueError(
            f"name {value!r} contains {shown}; OpenObserve names cannot contain spaces, '/' "
            "or : # ? & % ' \""
        )
    return value


def _folder_name(value: str) -> str:
    if not value.strip():
        raise ValueError("folder name cannot be empty")
    if value != value.strip():
        raise ValueError("folder name has leading or trailing spaces (OpenObserve trims them)")
    return value


def _title(value: str) -> str:
    if not value.strip():
        raise ValueError("title cannot be empty")
    return value


_TEMPLATE_SEGMENT = r"[A-Za-z0-9_][A-Za-z0-9_.-]*"


RAW_TEMPLATE_SUFFIX = ".json"


def _template_name(value: str) -> str:
    if not re.fullmatch(rf"{_TEMPLATE_SEGMENT}(/{_TEMPLATE_SEGMENT})*\.(j2|json)", value):
        raise ValueError(
            f"{value!r} is not a template path under {TEMPLATES_DIR}/ (like bedrock/x.yaml.j2, "
            "or exported/x.json for raw OpenObserve JSON; no leading '/', no '..')"
        )
    return value


def is_raw_template(name: str) -> bool:
    """True for a raw OpenObserve JSON template (used as it is, not rendered)."""
    return name.endswith(RAW_TEMPLATE_SUFFIX)


ObjectName = Annotated[str, AfterValidator(_object_name)]
FolderName = Annotated[str, AfterValidator(_folder_name)]
TemplateName = Annotated[str, AfterValidator(_template_name)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DashboardFile(_Strict):
    """``dashboards/*.yaml``: one dashboard rendered from one template."""

    template: TemplateName
    title: Annotated[str, AfterValidator(_title)]
    folder: FolderName | None = None
    description: str = ""
    params: dict[str, Any] = Field(default_factory=dict)


class AlertSpec(_Strict):
    """One alert in ``alerts/*.yaml`` (its name is the mapping key)."""

    template: TemplateName
    destinations: list[ObjectName]
    description: str = ""
    enabled: StrictBool = True
    params: dict[str, Any] = Field(default_factory=dict)

    @field_validator("destinations")
    @classmethod
    def _destinations(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("an alert needs at least one destination")
        if len(set(value)) != len(value):
            raise ValueError("a destination is listed twice")
        return value


class DestinationSpec(_Strict):
    """An alert destination (reference §6). Secrets as ``${env:NAME}``."""

    type: Literal["http", "email", "sns"] = "http"
    url: str | None = None
    method: Literal["post", "put", "get"] = "post"
    skip_tls_verify: StrictBool = False
    headers: dict[str, str] = Field(default_factory=dict)
    # The alert template used to format messages. OpenObserve also accepts an alert destination
    # without one when each alert names a template (src/api/management/src/models/destinations.rs
    # `Destination::into`); o2kit sets templates on destinations only, so it requires one here
    # unless a prebuilt kind (whose template the server attaches) is named.
    template: ObjectName | None = None
    destination_type_name: (
        Literal[
            "slack",
            "msteams",
            "pagerduty",
            "discord",
            "webhook",
            "opsgenie",
            "servicenow",
            "email",
            "custom",
        ]
        | None
    ) = None
    emails: list[str] = Field(default_factory=list)
    sns_topic_arn: str | None = None
    aws_region: str | None = None
    metadata: dict[str, str] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _per_type(self) -> DestinationSpec:
        if self.type == "http" and not self.url:
            raise ValueError("url: an http destination needs a url")
        if self.type == "email" and not self.emails:
            raise ValueError("emails: an email destination needs at least one address")
        if self.type == "sns" and not (self.sns_topic_arn and self.aws_region):
            raise ValueError("an sns destination needs sns_topic_arn and aws_region")
        if self.type != "http" and self.url:
            raise ValueError(f"url: a {self.type} destination has no url")
        prebuilt = self.destination_type_name in _PREBUILT_KINDS
        if self.template is None and not prebuilt:
            raise ValueError(
                "template: name the alert template that formats this destination's messages"
            )
        return self


class AlertTemplateSpec(_Strict):
    """An alert template (reference §7): the message body, with OpenObserve placeholders such as
    ``{alert_name}`` and ``{rows}``. A mapping or list body is written as JSON for you."""

    type: Literal["http", "email", "sns"] = "http"
    title: str = ""
    body: str | dict[str, Any] | list[Any]

    @model_validator(mode="after")
    def _checks(self) -> AlertTemplateSpec:
        if isinstance(self.body, str) and not self.body.strip():
            raise ValueError("body: the template body cannot be empty")
        if self.type == "email" and not self.title.strip():
            raise ValueError("title: an email template needs a title")
        return self

    def body_text(self) -> str:
        if isinstance(self.body, str):
            return self.body
        return json.dumps(self.body, ensure_ascii=False, indent=2)


class AlertsFile(_Strict):
    """``alerts/*.yaml``: alerts, and the destinations and alert templates they notify. Each
    entry is checked on its own (``TemplateEntry`` …) so one bad entry hides no other problem."""

    folder: FolderName | None = None
    templates: dict[str, Any] = Field(default_factory=dict)
    destinations: dict[str, Any] = Field(default_factory=dict)
    alerts: dict[str, Any] = Field(default_factory=dict)


# --------------------------------------------------------------------------------------------
# The project.
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Project:
    config: LoadedConfig
    resources: list[Resource]
    prices: PriceTable | None = None
    # (kind, key) → a digest of everything the resource was made from (o2kit, config, prices,
    # templates, its file): ``validate_resources`` keys its cache on it. Folders have none.
    digests: dict[tuple[str, tuple[str, ...]], str] = field(default_factory=dict)
    # The line of each row of the price table (``models[i]`` → line), for problems about rows.
    price_lines: dict[int, int] = field(default_factory=dict)
    # (kind, key) → what ``load_project``'s ``check`` found, for the resources it checked where
    # they were made (``validate_resources`` takes these instead of checking them again).
    checked: dict[tuple[str, tuple[str, ...]], list[Problem]] = field(default_factory=dict)

    def of(self, kind: str) -> list[Resource]:
        return [r for r in self.resources if r.kind == kind]


_HEADER_SECRET = re.compile(r"auth|token|key|secret|password|signature|cookie", re.IGNORECASE)
_URL_SECRET_HOSTS = re.compile(
    r"hooks\.slack\.com/|discord(app)?\.com/api/webhooks/|\.webhook\.office\.com/|"
    r"outlook\.office\.com/webhook/|api\.opsgenie\.com/.*apiKey=",
    re.IGNORECASE,
)


def _literal_secrets(spec: DestinationSpec) -> list[tuple[tuple[str | int, ...], str]]:
    """Values that look like secrets written in the clear (they must come from ${env:…})."""
    found: list[tuple[tuple[str | int, ...], str]] = []
    url = spec.url or ""
    if url and not find_env_refs(url):
        if _URL_SECRET_HOSTS.search(url):
            found.append((("url",), "this webhook URL is a secret; write it as ${env:NAME}"))
        elif re.match(r"^[a-z][a-z0-9+.-]*://[^/@]+:[^/@]*@", url, re.IGNORECASE):
            found.append((("url",), "the URL holds a password; write it as ${env:NAME}"))
    for name, value in spec.headers.items():
        if _HEADER_SECRET.search(name) and not find_env_refs(value):
            found.append(
                (
                    ("headers", name),
                    f"header {name!r} looks secret; write its value as ${{env:NAME}}",
                )
            )
    return found


class _Collector:
    """Problems from every file, plus the bookkeeping for cross-file checks."""

    def __init__(self) -> None:
        self.problems: list[Problem] = []

    def add(self, problem: Problem) -> None:
        self.problems.append(problem)

    def extend(self, problems: list[Problem]) -> None:
        self.problems.extend(problems)


EarlyCheck = Callable[[Resource, "str | None"], "list[Problem] | None"]
"""Checks one resource in the process that made it, right after its file was read: called
with the resource and its ``body_json`` when known; returns its problems, or None when it cannot
be checked on its own (its rules read other resources). What it returns is cached with the
file's record, so it must depend on nothing but the resource, o2kit's code and the
configuration (what the record is keyed on). ``load_project`` takes a factory of one
(``check``), called with the configuration once, before any file is read;
``o2kit.validate.rules.early_check`` makes it (this package may not import ``validate``)."""


@dataclass
class _FileRecord:
    """What reading one dashboards/ or alerts/ file produced, replayed into the loader (and
    stored in the cache, keyed on the file's bytes and every shared input)."""

    problems: list[Problem] = field(default_factory=list)
    resources: list[Resource] = field(default_factory=list)
    folders: list[tuple[str, str, SourceRef]] = field(default_factory=list)
    # (file, line, field, destination name) of each destination an alert names.
    destinations: list[tuple[str, int, str, str]] = field(default_factory=list)

    # The JSON text (``body_json``) of some bodies, by index in ``resources``, where the loader
    # made it already (to look for ``${``): written to the cache as it is, not encoded again.
    texts: dict[int, str] = field(default_factory=dict)
    # What the early check (``EarlyCheck``) found, by index in ``resources``; cached with the
    # record, so a file read from the cache is not checked again.
    checked: dict[int, list[Problem]] = field(default_factory=dict)

    def to_entry(self, cache: Cache) -> dict[str, Any] | None:
        """The record as plain JSON data for ``cache``, each body stored as a blob (its JSON
        text, under its SHA-256; ``Cache.put_blob``) and named by its address and size. None when
        a body does not survive JSON unchanged or cannot be stored: the file is not cached."""
        resources = []
        for i, r in enumerate(self.resources):
            text = self.texts.get(i) or body_json(r.body)
            try:
                data = text.encode("utf-8") if text is not None else b""
                # Read back as ``_CachedResource`` will read it: only what comes back equal is
                # cached, so a body read from the cache is the body a miss makes.
                if text is None or decode_json(data) != r.body:
                    return None
            except (ValueError, RecursionError):  # UnicodeEncodeError: a lone surrogate
                return None
            address = cache.put_blob(data)
            if address is None:
                return None
            resources.append(
                {"kind": r.kind, "key": list(r.key), "body": address, "size": len(data),
                 "meta": r.meta, "source": [r.source.file, r.source.line] if r.source else None})
        return {
            "problems": [problem_to_json(p) for p in self.problems],
            "resources": resources,
            "folders": [[t, n, src.file, src.line] for t, n, src in self.folders],
            "destinations": [list(d) for d in self.destinations],
            # What the early check found: keyed on everything it reads (o2kit's code, the
            # configuration, the file), as the record is, so it is kept with it.
            "checked": [[i, [problem_to_json(p) for p in found]]
                        for i, found in sorted(self.checked.items())],
        }

    @classmethod
    def from_entry(cls, data: Any, cache: Cache) -> _FileRecord:
        """The record ``to_entry`` stored, its bodies left in their blobs until read
        (``_CachedResource``). Raises ValueError/TypeError/KeyError on anything that is not
        exactly a record, or when a blob is missing or of another size: then the file is read
        again (a miss)."""
        if not isinstance(data, dict):
            raise ValueError("not a record")
        record = cls(problems=[problem_from_json(p) for p in data["problems"]])
        for item in data["resources"]:
            kind, key, address, size, meta = (item["kind"], item["key"], item["body"],
                                               item["size"], item["meta"])
            file, line = item["source"]
            if kind not in kinds.SPECS or not isinstance(meta, dict):
                raise ValueError("not a resource")
            if not (isinstance(key, list) and all(isinstance(k, str) for k in key)):
                raise ValueError("not a resource key")
            if not isinstance(size, int) or isinstance(size, bool):
                raise ValueError("not a body size")
            # Checked (and marked used with the entry, so a trim keeps it) now; read later.
            path = cache.stored_blob(address, size) if isinstance(address, str) else None
            if path is None:
                raise ValueError("the body's blob is missing, of another size or not an address")
            resource = _CachedResource(kind, tuple(key), {}, _source(file, line), meta=meta)
            resource.__dict__["_blob"] = (path, address, size)
            record.resources.append(resource)
        for folder_type, name, file, line in data["folders"]:
            if folder_type not in ("dashboards", "alerts") or not isinstance(name, str):
                raise ValueError("not a folder")
            record.folders.append((folder_type, name, _source(file, line)))
        for file, line, where, dest in data["destinations"]:
            if not (isinstance(where, str) and isinstance(dest, str)):
                raise ValueError("not a destination reference")
            source = _source(file, line)
            record.destinations.append((source.file, source.line, where, dest))
        for i, found in data["checked"]:
            if (not isinstance(i, int) or isinstance(i, bool) or not 0 <= i < len(record.resources)
                    or not isinstance(found, list)):
                raise ValueError("not the problems of a resource")
            record.checked[i] = [problem_from_json(p) for p in found]
        return record


def body_json(body: Any) -> str | None:
    """The compact JSON text of ``body`` (what the cache stores), or None when it is not plain
    JSON data. Made once per body: it also tells whether the body holds ``${`` at all."""
    try:
        return json.dumps(body, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    except (TypeError, ValueError, RecursionError):
        return None


class CacheDamaged(UserError):
    """A cache entry read earlier turned out not to hold what its checks promised."""


def _shared_strings(value: Any) -> Any:
    """``value`` (decoded JSON) with each string value replaced by the one equal string
    ``sys.intern`` keeps: a thousand dashboards decoded from the cache then hold one copy of each
    SQL text, as rendered ones do (measured: ~170 KB of objects per 220 KB dashboard instead of
    ~480 KB, for ~10 % more decoding time). Values are unchanged (equal strings, same type)."""
    todo = [value] if type(value) in (dict, list) else []
    while todo:
        node = todo.pop()
        items = node.items() if type(node) is dict else enumerate(node)
        for key, item in items:
            kind = type(item)
            if kind is str:
                node[key] = sys.intern(item)
            elif kind is dict or kind is list:
                todo.append(item)
    return value


class _CachedResource(Resource):
    """A resource replayed from the cache. Its body stays in its blob until something reads it:
    a warm ``validate`` never does (its results are cached too), so it reads and decodes
    nothing and holds no body in memory; ``plan`` reads and decodes each body once. The blob's
    size was checked when the entry was read; its SHA-256 is checked when it is read."""

    @property
    def body(self) -> dict[str, Any]:
        state = self.__dict__
        if "_blob" in state:
            state["_body"] = _shared_strings(self._decoded())
            del state["_blob"]
        return state["_body"]  # type: ignore[no-any-return]

    @body.setter
    def body(self, value: dict[str, Any]) -> None:
        self.__dict__["_body"] = value

    def transient_body(self) -> dict[str, Any]:
        """The body decoded for this call only (``Resource.transient_body``), unless it was
        decoded and kept already."""
        state = self.__dict__
        return self._decoded() if "_blob" in state else state["_body"]

    def _decoded(self) -> dict[str, Any]:
        path, address, size = self.__dict__["_blob"]
        try:
            body = decode_json(read_blob(path, address, size))
        except BlobMissing as exc:
            # Deleted since its entry was hit: runs sharing the folder on one machine keep a
            # trim out (``o2kit.project.cache``: the lock), so someone else deleted it. The
            # body is not guessed: the command stops; the next run reads the file afresh.
            log.debug("cached body of %s: %s", self.address, exc)
            raise CacheDamaged(
                f"the cached body of {self.address} was deleted from the cache while this "
                "command ran (by another program, or a trim on another machine sharing the "
                "folder)",
                remedy="run the command again: its file is then read afresh") from None
        except (BlobDamaged, ValueError, RecursionError) as exc:
            log.debug("cached body of %s: %s", self.address, exc)
            body = None
        if not isinstance(body, dict):
            raise CacheDamaged(
                f"the cached body of {self.address} is damaged",
                remedy="run `o2kit cache clean`, or run with --no-cache")
        return body

    # Equal to, and shown as, the Resource it stands for.
    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Resource):
            return NotImplemented
        return all(getattr(self, f.name) == getattr(other, f.name)
                   for f in dataclasses.fields(Resource))

    __hash__ = Resource.__hash__

    def __repr__(self) -> str:
        return "Resource" + Resource.__repr__(self).removeprefix(type(self).__qualname__)


@dataclass(frozen=True)
class _FileJob:
    """A project file to parse and render: its folder (or kind), path, bytes and cache key."""

    kind: str
    rel: str
    data: bytes
    key: str


def _source(file: Any, line: Any) -> SourceRef:
    if not isinstance(file, str) or not isinstance(line, int) or isinstance(line, bool):
        raise ValueError("not a source reference")
    return SourceRef(file, line)


@dataclass
class _Loader:
    root: Path
    loaded: LoadedConfig
    prices: PriceTable
    env: SandboxedEnvironment
    out: _Collector
    defaults_problem: Callable[[str, str], Problem]
    templates: dict[str, LoadedTemplate | RenderError] = field(default_factory=dict)
    resources: list[Resource] = field(default_factory=list)
    folders: dict[tuple[str, str], SourceRef] = field(default_factory=dict)
    seen: dict[tuple[str, tuple[str, ...]], SourceRef] = field(default_factory=dict)
    # (file, line, field, destination name) of each destination an alert names: checked once
    # every file is read.
    alert_destinations: list[tuple[str, int, str, str]] = field(default_factory=list)
    cache: Cache | None = None
    inputs: str = ""  # digest of everything shared by all files (see load_project)
    digests: dict[tuple[str, tuple[str, ...]], str] = field(default_factory=dict)
    record: _FileRecord | None = None  # the file being read
    check: EarlyCheck | None = None
    checked: dict[tuple[str, tuple[str, ...]], list[Problem]] = field(default_factory=dict)

    # ---- shared ----

    def template(self, name: str) -> LoadedTemplate | RenderError:
        if name not in self.templates:
            try:
                self.templates[name] = load_template(self.env, name)
            except RenderError as exc:
                self.templates[name] = exc
        return self.templates[name]

    # One of each per project, so their memoised SQL serves every render.
    @functools.cached_property
    def template_prices(self) -> TemplatePrices:
        return TemplatePrices(self.prices)

    @functools.cached_property
    def template_quotas(self) -> TemplateQuotas:
        return TemplateQuotas(self.loaded.config.quotas)

    @functools.cached_property
    def memo(self) -> RenderMemo:
        return RenderMemo(self.env)

    def base_context(self) -> dict[str, Any]:
        config = self.loaded.config
        app = config.streams.application_logs
        streams = {
            "metrics": config.streams.metrics,
            "invocation_logs": config.streams.invocation_logs,
            "application_logs": app.model_dump() if app is not None else None,
            # Which metric-stream columns exist (templates/lib/bedrock.j2 picks them by this).
            "metrics_layout": config.streams.metrics_layout,
            # The CloudWatch percentiles the metric stream carries (value_pNN columns).
            "metric_percentiles": list(config.streams.metric_percentiles),
        }
        return {
            "org": mark_params(config.org),
            "streams": mark_params(streams),
            "regions": mark_params(list(config.regions)),
            "prices": self.template_prices,
            "quotas": self.template_quotas,
            # o2kit.yaml budgets: (the Budgets tab; their alerts come from budget_alerts).
            "budgets": mark_params([_budget_context(b) for b in config.budgets]),
            # o2kit.yaml ingest: pipeline on/off (typed columns), privacy, prompt_hash.
            "ingest": mark_params(config.ingest.context()),
        }

    def add_resource(self, resource: Resource, text: str | None = None) -> None:
        """Add a resource (to the record of the file being read, if any); ``text`` is its
        body's ``body_json`` when the caller made it already."""
        if self.record is not None:
            self.record.resources.append(resource)
            if text is not None:
                self.record.texts[len(self.record.resources) - 1] = text
            return
        self._add_resource(resource)

    def _add_resource(self, resource: Resource) -> bool:
        assert resource.source is not None
        ident = (resource.kind, resource.key)
        first = self.seen.get(ident)
        if first is not None:
            self.out.add(
                Problem(
                    resource.source.file,
                    resource.source.line,
                    "",
                    f"{resource.address} is already defined at {first}",
                )
            )
            return False
        self.seen[ident] = resource.source
        self.resources.append(resource)
        return True

    def use_folder(self, folder_type: str, name: str, source: SourceRef) -> None:
        if self.record is not None:
            self.record.folders.append((folder_type, name, source))
            return
        self.folders.setdefault((folder_type, name), source)

    # ---- one file, through the cache ----

    @contextlib.contextmanager
    def _recording(self) -> Iterator[_FileRecord]:
        """What is read inside the block goes to a new record (its problems too), not to the
        project: a file's (or the budgets') record, to cache and replay."""
        record = _FileRecord()
        saved, self.out, self.record = self.out, _Collector(), record
        try:
            yield record
            record.problems = self.out.problems
        finally:
            self.out, self.record = saved, None

    def _cached_record(self, key: str, what: str) -> _FileRecord | None:
        """The record stored under ``key``, or None (absent, or not a record: a miss)."""
        if self.cache is None:
            return None
        cached = self.cache.get("load", key)
        if cached is None:
            return None
        try:
            return _FileRecord.from_entry(cached, self.cache)
        except (ValueError, TypeError, KeyError) as exc:  # untrusted: a miss
            log.debug("ignoring cached load of %s: %s", what, exc)
            self.cache.refused()
            return None

    def load_file(self, kind: str, rel: str, path: Path) -> None:
        """Read one dashboards/ or alerts/ file (``kind`` is the folder), or replay what reading
        the same bytes produced before, with the same shared inputs (``self.inputs``)."""
        job = self.file_job(kind, rel, path)
        if isinstance(job, _FileJob):
            self.replay(job.key, self.read_job(job))
        else:
            self.replay(*job)

    def file_job(self, kind: str, rel: str, path: Path) -> _FileJob | tuple[str, _FileRecord]:
        """What reading a file needs: a job for ``read_job``, or the (key, record) already
        known — from the cache, or the problem that the file cannot be read."""
        try:
            if path.stat().st_size > MAX_FILE_BYTES:
                load_yaml_file(path, rel)  # refuses it, with the size limit's message
            data = path.read_bytes()
        except YamlError as exc:
            return "", _FileRecord(problems=[exc.problem])
        except OSError as exc:
            return "", _FileRecord(problems=[Problem(rel, 1, "", f"cannot read file: "
                                                     f"{exc.strerror}")])
        key = digest(self.inputs, kind, rel, data) if self.cache is not None else ""
        cached = self._cached_record(key, rel)
        return (key, cached) if cached is not None else _FileJob(kind, rel, data, key)

    def read_job(self, job: _FileJob) -> _FileRecord:
        """Parse and render one file (in any process: ``load_project`` shares them out) and
        store what it produced in the cache."""
        spec = kinds.SPECS.get(job.kind)
        record = (self._read_kind_file(spec, job.rel, job.data) if spec is not None
                  else self._read_file(job.kind, job.rel, job.data))
        return self._checked_and_stored(job.key, record)

    def _checked_and_stored(self, key: str, record: _FileRecord) -> _FileRecord:
        """``record`` with what the early check finds in it, stored in the cache under ``key``."""
        if self.check is not None and not record.problems:
            for i, resource in enumerate(record.resources):
                found = self.check(resource, record.texts.get(i))
                if found is not None:
                    record.checked[i] = found
        entry = record.to_entry(self.cache) if self.cache is not None else None
        if self.cache is not None and entry is not None:
            self.cache.put("load", key, entry, verify=True)
        record.texts = {}
        if self.cache is None or entry is None or not record.checked:
            return record
        # A body that was checked is in the cache now and not read again by this command unless
        # it needs it (``plan`` does, ``validate`` does not): it is kept there, not in memory,
        # and a worker (``fork_map``) sends the record back without it (a few hundred bytes,
        # not 200 KB, to pickle per dashboard). The others stay whole: they are checked later.
        try:
            lazy = _FileRecord.from_entry(entry, self.cache)
        except (ValueError, TypeError, KeyError):  # a blob removed meanwhile: keep the bodies
            return record
        record.resources = [lazy.resources[i] if i in record.checked else resource
                            for i, resource in enumerate(record.resources)]
        return record

    def replay(self, key: str, record: _FileRecord) -> None:
        """Add what reading one file produced to the project."""
        self.out.extend(record.problems)
        for folder_type, name, source in record.folders:
            self.folders.setdefault((folder_type, name), source)
        self.alert_destinations.extend(record.destinations)
        for i, resource in enumerate(record.resources):
            if not self._add_resource(resource):
                continue
            if key:
                self.digests[(resource.kind, resource.key)] = digest(key, i)
            if i in record.checked:
                self.checked[(resource.kind, resource.key)] = record.checked[i]

    def _read_file(self, kind: str, rel: str, data: bytes) -> _FileRecord:
        with self._recording() as record:
            try:
                text = data.decode("utf-8")
                content, index = load_yaml(text, rel)
            except UnicodeDecodeError:
                self.out.add(Problem(rel, 1, "", "file is not UTF-8 text"))
            except YamlError as exc:
                self.out.add(exc.problem)
            else:
                if kind == DASHBOARDS_DIR:
                    self.dashboard_file(rel, content, index)
                else:
                    self.alerts_file(rel, content, index)
        return record

    def _read_kind_file(self, spec: KindSpec, rel: str, data: bytes) -> _FileRecord:
        """A file of a kind that reads its own files (``KindSpec.files``): render it when its name
        ends in ``.j2``, parse YAML when the kind asks for it, and let the kind's pure ``parse``
        turn it into objects or problems."""
        assert spec.files is not None
        with self._recording() as record:
            try:
                text = data.decode("utf-8")
                if rel.endswith(".j2"):
                    text = self.env.from_string(text).render(self.base_context())
                content: Any = text
                index: LineIndex | None = None
                context = {**self.base_context(), "project": self.loaded.config.project,
                           "org_name": self.loaded.config.org,
                           "folders": {"dashboards": self.loaded.config.folders.dashboards,
                                       "alerts": self.loaded.config.folders.alerts}}
                if spec.files.yaml:
                    content, index = load_yaml(text, rel)
                    context["line_of"] = index.line
            except UnicodeDecodeError:
                self.out.add(Problem(rel, 1, "", "file is not UTF-8 text"))
            except YamlError as exc:
                self.out.add(exc.problem)
            except (jinja2.TemplateError, TemplateValueError) as exc:
                line = getattr(exc, "lineno", None) or 1
                self.out.add(Problem(rel, line, "", f"template error: {exc}"))
            else:
                for item in spec.files.parse(rel, content, context):
                    # A YAML path names the line (the parse is pure and never sees lines).
                    line = item.line
                    if item.path is not None and index is not None:
                        line = index.line(item.path)
                    if isinstance(item, SourceProblem):
                        self.out.add(Problem(rel, line, item.field, item.message))
                    else:
                        self._add_parsed(item.kind or spec.kind, item.key, item.body,
                                         SourceRef(rel, line))
        return record

    def _add_parsed(self, kind: str, key: tuple[str, ...], body: dict[str, Any],
                    source: SourceRef) -> None:
        """An object a kind's file declares — of that kind or another (an SLO's alerts): the
        folders it lives in are declared, the destinations it names checked like an
        alerts/*.yaml entry's."""
        for ref_kind, ref_key in kinds.SPECS[kind].references(key, body):
            if ref_kind == "folder" and len(ref_key) == 2:
                self.use_folder(ref_key[0], ref_key[1], source)
            elif ref_kind == "destination" and kind == "alert":
                ref = (source.file, source.line, f"{key[-1]}.destinations", ref_key[0])
                if self.record is not None:
                    self.record.destinations.append(ref)
                else:
                    self.alert_destinations.append(ref)
        self.add_resource(Resource(kind, key, body, source))

    def render(
        self,
        *,
        kind: str,
        file: str,
        index: LineIndex,
        base: tuple[str | int, ...],
        template_name: str,
        params: Mapping[str, Any],
        context: dict[str, Any],
    ) -> Any | None:
        """Resolve parameters and render; on failure record problems and return None."""
        template_line = index.line((*base, "template"))
        if is_raw_template(template_name):
            return self.raw_json(kind, file, index, base, template_name, params)
        loaded = self.template(template_name)
        if isinstance(loaded, RenderError):
            self.out.add(_render_problem(file, template_line, base, loaded))
            return None
        if loaded.manifest.kind != kind:
            other = loaded.manifest.kind
            self.out.add(
                index.problem(
                    (*base, "template"),
                    f"{loaded.file} is {'an' if other == 'alert' else 'a'} {other} template; "
                    f"a file in {kind}s/ needs {'an' if kind == 'alert' else 'a'} {kind} template",
                )
            )
            return None
        refs = find_env_ref_paths(dict(params))
        for path, var in refs:
            self.out.add(
                index.problem(
                    (*base, "params", *path),
                    f"${{env:{var}}}: secrets are only resolved in destinations and alert "
                    "templates, not in template parameters",
                )
            )
        if refs:
            return None
        values, problems = resolve_params(
            loaded,
            params,
            index,
            (*base, "params"),
            self.loaded.config.defaults,
            self.defaults_problem,
        )
        if problems:
            self.out.extend(problems)
            return None
        try:
            return self.memo.render(loaded, {**context, **mark_params(values)})
        except RenderError as exc:
            self.out.add(_render_problem(file, template_line, base, exc))
            return None

    def raw_json(
        self,
        kind: str,
        file: str,
        index: LineIndex,
        base: tuple[str | int, ...],
        template_name: str,
        params: Mapping[str, Any],
    ) -> Any | None:
        """A raw OpenObserve JSON template: the object in the file, server-owned keys removed
        (a dashboard at version 1–7 upgraded to v8). None (problems recorded) when unusable."""
        where = (*base, "template")
        if params:
            self.out.add(
                index.problem(
                    (*base, "params"),
                    f"{template_name} is raw JSON, which takes no params (use a .j2 template)",
                )
            )
            return None
        templates_dir = (self.root / TEMPLATES_DIR).resolve()
        path = (templates_dir / template_name).resolve()
        shown = f"{TEMPLATES_DIR}/{template_name}"
        if not path.is_relative_to(templates_dir):
            self.out.add(index.problem(where, f"{shown} leads outside {TEMPLATES_DIR}/"))
            return None
        try:
            found = path.is_file()
        except OSError as exc:  # e.g. a name longer than the file system allows
            self.out.add(index.problem(where, f"{shown}: {exc.strerror}"))
            return None
        if not found:
            self.out.add(index.problem(where, f"{shown} not found"))
            return None
        try:
            if path.stat().st_size > MAX_FILE_BYTES:
                raise YamlError(Problem(shown, 1, "", f"file is over {MAX_FILE_BYTES:,} bytes "
                                        "(o2kit's limit)"), limit=True)
            data = load_json(path.read_text(encoding="utf-8"), shown)
        except UnicodeDecodeError:
            self.out.add(Problem(shown, 1, "", "not UTF-8 text"))
            return None
        except YamlError as exc:
            self.out.add(exc.problem)
            return None
        if kind == "dashboard" and isinstance(data, list) and len(data) == 1:
            data = data[0]  # the UI's dashboard export is a list of dashboards
        if not isinstance(data, dict):
            self.out.add(Problem(shown, 1, "", f"expected one JSON object (a {kind})"))
            return None
        server_keys = _DASHBOARD_SERVER_KEYS if kind == "dashboard" else _ALERT_SERVER_KEYS
        body = {k: v for k, v in data.items() if k not in server_keys}
        if kind == "dashboard":
            if "version" not in body:
                body["version"] = 8  # what the server reads a missing version as
            elif upgrade.needs_upgrade(body):
                try:
                    body = upgrade.upgrade_dashboard(body)
                except upgrade.UpgradeError as exc:
                    message = f"cannot upgrade to v8: {exc.message}"
                    self.out.add(Problem(shown, 1, exc.path, message))
                    return None
        return body

    def check_no_env_refs(self, body: Any, source: SourceRef, what: str) -> str | None:
        """Problems for ``${env:}`` references in ``body``; returns its ``body_json`` (made once:
        a body whose text holds no ``${`` has nothing to find, and the cache stores that text)."""
        text = body_json(body)
        if text is not None and "${" not in text:
            return text
        for path, var in find_env_refs(body):
            self.out.add(
                Problem(
                    source.file,
                    source.line,
                    path,
                    f"${{env:{var}}} in a {what}: secrets are only resolved in destinations and "
                    "alert templates",
                )
            )
        return text

    # ---- dashboards ----

    def dashboard_file(self, file: str, data: Any, index: LineIndex) -> None:
        if data is None:
            self.out.add(index.problem((), "file is empty; expected template, title and params"))
            return
        try:
            spec = parse_as(DashboardFile, data, index)
        except ModelErrors as exc:
            self.out.extend(exc.problems)
            return
        folder = spec.folder or self.loaded.config.folders.dashboards
        source = SourceRef(file, index.line(("title",)))
        context = {
            **self.base_context(),
            "title": mark_params(spec.title),
            "description": mark_params(spec.description),
            "folder": mark_params(folder),
        }
        rendered = self.render(
            kind="dashboard",
            file=file,
            index=index,
            base=(),
            template_name=spec.template,
            params=spec.params,
            context=context,
        )
        if rendered is None:
            return
        if not isinstance(rendered, dict):
            self.out.add(index.problem(("template",), "the template must render a mapping"))
            return
        body = dict(rendered)
        for key in _DASHBOARD_SERVER_KEYS:
            if key in body:
                self.out.add(
                    index.problem(
                        ("template",), f"the template sets {key!r}, which the server owns"
                    )
                )
        if "title" in body and body["title"] != spec.title:
            self.out.add(
                index.problem(
                    ("title",),
                    f"the template renders title {body['title']!r}; the title comes from this file",
                )
            )
        body["title"] = spec.title
        body["description"] = spec.description or str(body.get("description") or "")
        # Raw JSON is used as it is: finish_dashboard would renumber its layout.i.
        problems = [] if is_raw_template(spec.template) else finish_dashboard(body)
        for message in problems:
            self.out.add(index.problem(("template",), f"rendered dashboard: {message}"))
        if body.get("version") != 8:
            self.out.add(index.problem(("template",), "the template must render version 8"))
        text = self.check_no_env_refs(body, source, "dashboard")
        self.use_folder("dashboards", folder, source)
        self.add_resource(
            Resource("dashboard", (folder, spec.title), body, source, meta=_origin(spec.template)),
            text,
        )

    # ---- alerts ----

    def alerts_file(self, file: str, data: Any, index: LineIndex) -> None:
        if data is None:
            self.out.add(
                index.problem((), "file is empty; expected alerts, destinations, templates")
            )
            return
        try:
            spec = parse_as(AlertsFile, data, index)
        except ModelErrors as exc:
            self.out.extend(exc.problems)
            return
        for name, tpl in self.entries(spec.templates, "templates", AlertTemplateSpec, index):
            source = SourceRef(file, index.line(("templates", name)))
            body = {
                "name": name,
                "type": tpl.type,
                "title": tpl.title,
                "body": tpl.body_text(),
                "kind": "custom",
            }
            for path, text in malformed_env_refs(body):
                self.out.add(index.problem(("templates", name, *path.split(".")), _malformed(text)))
            for path, var in reserved_env_refs(body):
                self.out.add(index.problem(("templates", name, *path.split(".")), _reserved(var)))
            self.add_resource(Resource("template", (name,), body, source))
        for name, dest in self.entries(spec.destinations, "destinations", DestinationSpec, index):
            source = SourceRef(file, index.line(("destinations", name)))
            for path_parts, message in _literal_secrets(dest):
                self.out.add(index.problem(("destinations", name, *path_parts), message))
            body = _destination_body(name, dest)
            for path, text in malformed_env_refs(body):
                self.out.add(
                    index.problem(("destinations", name, *path.split(".")), _malformed(text))
                )
            for path, var in reserved_env_refs(body):
                self.out.add(
                    index.problem(("destinations", name, *path.split(".")), _reserved(var))
                )
            self.add_resource(Resource("destination", (name,), body, source))
        folder = spec.folder or self.loaded.config.folders.alerts
        for name, alert in self.entries(spec.alerts, "alerts", AlertSpec, index):
            for i, dest_name in enumerate(alert.destinations):
                where = index.problem(("alerts", name, "destinations", i), "")
                ref = (where.file, where.line, where.field, dest_name)
                if self.record is not None:
                    self.record.destinations.append(ref)
                else:
                    self.alert_destinations.append(ref)
            self.alert(file, index, folder, name, alert)

    def entries(
        self, section: Mapping[str, Any], key: str, model: type[M], index: LineIndex
    ) -> list[tuple[str, M]]:
        """Valid ``(name, entry)`` pairs of one section; problems for the others."""
        valid = []
        for name, data in section.items():
            try:
                _object_name(name)
            except ValueError as exc:
                self.out.add(index.problem((key, name), str(exc)))
                continue
            try:
                valid.append((name, parse_as(model, data, index, (key, name))))
            except ModelErrors as exc:
                self.out.extend(exc.problems)
        return valid

    def alert(self, file: str, index: LineIndex, folder: str, name: str, spec: AlertSpec) -> None:
        base: tuple[str | int, ...] = ("alerts", name)
        source = SourceRef(file, index.line(base))
        context = {
            **self.base_context(),
            "name": mark_params(name),
            "description": mark_params(spec.description),
            "folder": mark_params(folder),
        }
        rendered = self.render(
            kind="alert",
            file=file,
            index=index,
            base=base,
            template_name=spec.template,
            params=spec.params,
            context=context,
        )
        if rendered is None:
            return
        if not isinstance(rendered, dict):
            self.out.add(index.problem((*base, "template"), "the template must render a mapping"))
            return
        for key in (*_ALERT_FILE_KEYS, *_ALERT_SERVER_KEYS):
            if key in rendered:
                owner = "this file" if key in _ALERT_FILE_KEYS else "the server"
                self.out.add(
                    index.problem(
                        (*base, "template"),
                        f"the template sets {key!r}, which comes from {owner}",
                    )
                )
        body = {
            "name": name,
            **rendered,
            "destinations": list(spec.destinations),
            "enabled": spec.enabled,
        }
        body["description"] = spec.description or str(rendered.get("description") or "")
        text = self.check_no_env_refs(body, source, "alert")
        self.use_folder("alerts", folder, source)
        self.add_resource(
            Resource("alert", (folder, name), body, source, meta=_origin(spec.template)), text
        )

    # ---- prices.yaml → OpenObserve's model prices (o2kit.yaml prices_sync: true) ----

    def model_prices(self, table: PriceTable, lines: Mapping[int, int]) -> None:
        """One ``model_price`` per row and price period of the table
        (``prices.model_pricing_definitions``), located at its row of prices.yaml."""
        name = self.loaded.config.prices
        for item in model_pricing_definitions(table):
            self.add_resource(Resource("model_price", (item.name,), item.body,
                                       SourceRef(name, lines.get(item.row, 1))))

    # ---- o2kit.yaml budgets: ----

    def budget_alerts(self) -> None:
        """The alerts of ``budgets:`` in o2kit.yaml: one per threshold and one forecast per
        budget (``Budget.alert_names``), rendered from bedrock/budget.yaml.j2 and
        bedrock/budget-forecast.yaml.j2 like an alerts/*.yaml entry; problems point at the
        budget's line. What they produced is replayed from the cache while the shared inputs
        (o2kit.yaml and templates/ among them: all they are made from) are unchanged: rendering
        them compiles two Jinja templates, ~0.25 s, most of a warm validate otherwise."""
        if not self.loaded.config.budgets:
            return
        key = digest(self.inputs, "budgets") if self.cache is not None else ""
        record = self._cached_record(key, "budgets")
        if record is None:
            with self._recording() as record:
                self._budget_alerts(record)
            record = self._checked_and_stored(key, record)
        self.replay(key, record)

    def _budget_alerts(self, record: _FileRecord) -> None:
        budgets = self.loaded.config.budgets
        file, lines = _budget_lines(self.root, self.loaded)
        folder = self.loaded.config.folders.alerts
        for i, budget in enumerate(budgets):
            index = LineIndex(file, {(): lines.get(i, 1)})
            scope: dict[str, Any] = {}
            if isinstance(budget.scope, BudgetTeamScope):
                scope = {"team_tag": budget.scope.team_tag, "team": budget.scope.team}
            elif isinstance(budget.scope, BudgetCallerScope):
                scope = {"caller": budget.scope.caller}
            common = {"budget_name": budget.name, "amount": budget.amount,
                      "period": budget.period, **scope}
            for dest in budget.destinations:
                record.destinations.append(
                    (file, lines.get(i, 1), f"budgets[{i}].destinations", dest))
            for name, pct in budget.alert_names():
                if pct is None:
                    template, params = "bedrock/budget-forecast.yaml.j2", common
                else:
                    template, params = "bedrock/budget.yaml.j2", {**common, "threshold_pct": pct}
                spec = AlertSpec(template=template, destinations=budget.destinations,
                                 params=params)
                self.alert(file, index, folder, name, spec)

    # ---- across files ----

    def cross_checks(self) -> None:
        destinations = {r.key[0]: r for r in self.resources if r.kind == "destination"}
        templates = {r.key[0] for r in self.resources if r.kind == "template"}
        for file, line, where, dest in self.alert_destinations:
            if dest not in destinations:
                known = ", ".join(sorted(destinations)) or "none"
                self.out.add(
                    Problem(
                        file,
                        line,
                        where,
                        f"destination {dest!r} is not defined in {ALERTS_DIR}/*.yaml "
                        f"(defined: {known})",
                    )
                )
        for resource in destinations.values():
            name = resource.body.get("template")
            if name is None or name in templates:
                continue
            if name in _SYSTEM_TEMPLATES or str(name).startswith("prebuilt_"):
                continue
            assert resource.source is not None
            known = ", ".join(sorted(templates)) or "none"
            self.out.add(
                Problem(
                    resource.source.file,
                    resource.source.line,
                    f"destinations.{resource.key[0]}.template",
                    f"alert template {name!r} is not defined in {ALERTS_DIR}/*.yaml "
                    f"(defined: {known})",
                )
            )


RAW_JSON_META = "raw_json"
"""``Resource.meta`` key set on resources whose template is raw OpenObserve JSON (its path)."""


def _origin(template: str) -> dict[str, Any]:
    # Lets later checks tell exported/raw objects (written for some other stream layout) from
    # the project's own templates.
    return {RAW_JSON_META: template} if is_raw_template(template) else {}


def _malformed(text: str) -> str:
    return f"{text!r} is not a valid reference; write ${{env:NAME}} (NAME: letters, digits, _)"


def _reserved(var: str) -> str:
    return (
        f"${{env:{var}}} is o2kit's own credential or a CI token; o2kit never sends it to the "
        "server: give the secret a variable of its own"
    )


def _destination_body(name: str, spec: DestinationSpec) -> dict[str, Any]:
    # The shape GET returns (reference §6): name, url, method, skip_tls_verify, emails, type,
    # metadata always; the rest only when set.
    body: dict[str, Any] = {
        "name": name,
        "type": spec.type,
        "url": spec.url or "",
        "method": spec.method,
        "skip_tls_verify": spec.skip_tls_verify,
        "emails": list(spec.emails),
        "metadata": dict(spec.metadata),
    }
    if spec.headers:
        body["headers"] = dict(spec.headers)
    if spec.template is not None:
        body["template"] = spec.template
    if spec.destination_type_name is not None:
        body["destination_type_name"] = spec.destination_type_name
    if spec.sns_topic_arn is not None:
        body["sns_topic_arn"] = spec.sns_topic_arn
    if spec.aws_region is not None:
        body["aws_region"] = spec.aws_region
    return body


def _render_problem(file: str, line: int, base: tuple[str | int, ...], exc: RenderError) -> Problem:
    where = exc.where()
    message = f"{where}: {exc.message}" if where else exc.message
    field_path = ".".join(str(p) for p in (*base, "template"))
    return Problem(file, line, field_path, message)


def _project_files(
    root: Path, folder: str, out: _Collector, *, allow_outside: bool = False,
    suffixes: tuple[str, ...] = (".yaml",),
) -> list[tuple[str, Path]]:
    directory = root / folder
    if not directory.is_dir():
        return []
    try:
        project_path(root, folder, allow_outside=allow_outside)
    except OutsideProject as exc:
        out.add(Problem(folder, 1, "", str(exc)))
        return []
    files = []
    for path in sorted(directory.iterdir()):
        if path.name.startswith(".") or not path.is_file():
            continue
        rel = f"{folder}/{path.name}"
        try:
            project_path(root, rel, allow_outside=allow_outside)
        except OutsideProject as exc:
            out.add(Problem(rel, 1, "", str(exc)))
            continue
        if path.suffix == ".yml" and ".yaml" in suffixes:
            out.add(Problem(rel, 1, "", "use the .yaml extension (this file is not read)"))
        elif path.name.endswith(suffixes):
            files.append((rel, path))
    return files


def _defaults_locator(root: Path, loaded: LoadedConfig) -> Callable[[str, str], Problem]:
    """Problems about ``defaults.<key>``, located in the overlay if it sets the key."""
    indexes: list[LineIndex] = []
    for name in reversed(loaded.files):  # overlay first
        try:
            indexes.append(load_yaml_file(root / name, name)[1])
        except YamlError:  # already reported by load_config
            continue

    def locate(key: str, message: str) -> Problem:
        for index in indexes:
            if ("defaults", key) in index.lines:
                return index.problem(("defaults", key), message)
        first = loaded.files[0]
        return Problem(first, 1, f"defaults.{key}", message)

    return locate


def _budget_context(budget: Budget) -> dict[str, Any]:
    scope = budget.scope
    return {
        "name": budget.name,
        "amount": budget.amount,
        "period": budget.period,
        "thresholds": list(budget.thresholds),
        "team_tag": scope.team_tag if isinstance(scope, BudgetTeamScope) else "team",
        "team": scope.team if isinstance(scope, BudgetTeamScope) else "",
        "caller": scope.caller if isinstance(scope, BudgetCallerScope) else "",
    }


def _budget_lines(root: Path, loaded: LoadedConfig) -> tuple[str, dict[int, int]]:
    """The file that sets ``budgets:`` (the overlay's if it does) and the line of each entry."""
    name, _ = _config_line(root, loaded, "budgets")
    try:
        index = load_yaml_file(root / name, name)[1]
    except YamlError:
        return name, {}
    return name, {p[1]: line for p, line in index.lines.items()
                  if len(p) == 2 and p[0] == "budgets" and isinstance(p[1], int)}


def _config_line(root: Path, loaded: LoadedConfig, key: str) -> tuple[str, int]:
    """File and line of a top-level key of the configuration (the overlay's if it sets it)."""
    for name in reversed(loaded.files):
        try:
            index = load_yaml_file(root / name, name)[1]
        except YamlError:
            continue
        if (key,) in index.lines:
            return name, index.lines[(key,)]
    return loaded.files[0], 1


def _load_price_table(root: Path, loaded: LoadedConfig, out: _Collector
                      ) -> tuple[PriceTable | None, dict[int, int]]:
    """The price table and the line of each of its rows (``models[i]`` → line)."""
    name = loaded.config.prices
    try:
        path = project_path(root, name, allow_outside=loaded.config.allow_outside_project)
        found = path.is_file()
    except (OutsideProject, OSError) as exc:
        file, line = _config_line(root, loaded, "prices")
        reason = str(exc) if isinstance(exc, OutsideProject) else f"{name!r}: {exc.strerror}"
        out.add(Problem(file, line, "prices", reason))
        return None, {}
    if not found:
        file, line = _config_line(root, loaded, "prices")
        out.add(Problem(file, line, "prices", f"price table {name!r} not found"))
        return None, {}
    try:
        data, index = load_yaml_file(path, name)
        table = parse_prices(data if data is not None else {}, index)
        return table, {i: index.line(("models", i)) for i in range(len(table.models))}
    except YamlError as exc:
        out.add(exc.problem)
    except ModelErrors as exc:
        out.extend(exc.problems)
    return None, {}


def _check_total_size(root: Path, loaded: LoadedConfig) -> None:
    """Refuse a project whose files together are over ``MAX_TOTAL_BYTES`` before reading them."""
    paths = [root / name for name in (*loaded.files, loaded.config.prices)]
    for folder in (DASHBOARDS_DIR, ALERTS_DIR):
        if (root / folder).is_dir():
            paths.extend((root / folder).glob("*.yaml"))
    for spec in kinds.SPECS.values():
        if spec.files is not None and (root / spec.files.directory).is_dir():
            paths.extend(p for p in (root / spec.files.directory).iterdir()
                         if p.name.endswith(spec.files.suffixes))
    if (root / TEMPLATES_DIR).is_dir():
        paths.extend(p for p in (root / TEMPLATES_DIR).rglob("*") if not p.is_symlink())
    total = 0
    for path in paths:
        try:
            if path.is_file():
                total += path.stat().st_size
        except OSError:
            continue  # reported when the file is read
    if total > MAX_TOTAL_BYTES:
        raise UserError(
            f"the project's files total {total:,} bytes; o2kit reads at most "
            f"{MAX_TOTAL_BYTES:,} bytes ({MAX_TOTAL_BYTES // (1024 * 1024)} MiB) per project",
            remedy="remove large files from dashboards/, alerts/ and templates/",
        )


_EMPTY_PRICES = PriceTable.model_validate(
    {"currency": "USD", "effective_date": "1970-01-01", "checked_on": "1970-01-01", "source": "-"}
)


def _shared_inputs(root: Path, loaded: LoadedConfig, prices: PriceTable | None) -> str:
    """Digest of everything besides its own bytes that reading a project file depends on: o2kit
    itself, the configuration (its values and its files, whose lines problems name), the price
    table, every file under templates/ and the environment name."""
    return digest(
        tool_digest(),
        loaded.env,
        loaded.config.model_dump(mode="json"),
        files_digest(root, [root / name for name in loaded.files]),
        prices.model_dump(mode="json") if prices is not None else None,
        tree_digest(root / TEMPLATES_DIR),
    )


# Top-level keys of a dashboards/*.yaml file that name the dashboard rather than what it shows.
_NAMING_LINE = re.compile(rb"^(?:title|description|folder)[ \t]*:.*$", re.MULTILINE)


def _alike(jobs: list[_FileJob], workers: int) -> list[list[_FileJob]]:
    """The files to read in groups that one process reads together: dashboards files equal but
    for their title, description and folder lines (most likely the same template and params,
    which ``RenderMemo`` then renders once in that process, and the same SQL, parsed once),
    at most a fair share each (``workers`` must all get work); largest groups first. Only a
    guess for speed: any grouping gives the same result."""
    most = max(1, -(-len(jobs) // (workers * 4)))
    alike: dict[Any, list[_FileJob]] = {}
    for i, job in enumerate(jobs):
        key: Any = i
        if job.kind == DASHBOARDS_DIR:
            key = (job.kind, _NAMING_LINE.sub(b"", job.data))
        alike.setdefault(key, []).append(job)
    groups = [group[i:i + most] for group in alike.values() for i in range(0, len(group), most)]
    return sorted(groups, key=len, reverse=True)


def load_project(root: Path, env: str | None = None, cache: Cache | None = None,
                 overrides: Mapping[str, Any] | None = None, *,
                 check: Callable[[Config], EarlyCheck | None] | None = None) -> Project:
    """Load, render and assemble the whole project; every problem at once (``ValidationFailed``).

    Configuration errors that make the rest meaningless (no o2kit.yaml, unknown --env, an invalid
    o2kit.yaml) are raised by ``load_config`` before anything else is read. With an enabled
    ``cache`` (``o2kit.project.cache``), a file whose bytes and shared inputs are unchanged is not
    parsed
    or rendered again: what reading it produced (resources and problems) is replayed.

    ``check`` (``EarlyCheck``): the resources of each file read are checked where the file was
    read — in the worker that rendered it, while its bodies are at hand — and what was found is
    in ``Project.checked`` and cached with the file's record (a file replayed from the cache
    brings what was found then). A worker sends back without its body each checked resource
    whose body is in the cache (it is read from there if ever needed).
    """
    loaded = load_config(root, env, overrides)
    if overrides:
        cache = None  # cached results are keyed on the files, not on settings given here
    _check_total_size(root, loaded)
    out = _Collector()
    prices, price_lines = _load_price_table(root, loaded, out)
    if cache is not None and not cache.enabled:
        cache = None
    loader = _Loader(
        root=root,
        loaded=loaded,
        prices=prices or _EMPTY_PRICES,  # keep rendering to find the other problems
        env=make_environment(root / TEMPLATES_DIR),
        out=out,
        defaults_problem=_defaults_locator(root, loaded),
        cache=cache,
        inputs=_shared_inputs(root, loaded, prices) if cache is not None else "",
        check=check(loaded.config) if check is not None else None,
    )
    outside = loaded.config.allow_outside_project
    if (root / TEMPLATES_DIR).is_dir():
        try:
            project_path(root, TEMPLATES_DIR, allow_outside=outside)
        except OutsideProject as exc:
            raise ValidationFailed([Problem(TEMPLATES_DIR, 1, "", str(exc))]) from None
    # Every file in order: what listing a folder found, then each of its files. Files not in
    # the cache are read by ``fork_map`` (both cores when there are many), then everything is
    # replayed in this order, so the project and its problems are those of a serial read.
    steps: list[list[Problem] | _FileJob | tuple[str, _FileRecord]] = []
    folders: list[tuple[str, str, tuple[str, ...]]] = [
        (folder, folder, (".yaml",)) for folder in (DASHBOARDS_DIR, ALERTS_DIR)]
    folders += [(spec.kind, spec.files.directory, spec.files.suffixes)
                for spec in kinds.SPECS.values() if spec.files is not None]
    for kind, directory, suffixes in folders:
        listing = _Collector()
        files = _project_files(root, directory, listing, allow_outside=outside,
                               suffixes=suffixes)
        steps.append(listing.problems)
        steps.extend(loader.file_job(kind, rel, path) for rel, path in files)
    jobs = [step for step in steps if isinstance(step, _FileJob)]
    groups = _alike(jobs, worker_count())
    done = fork_map(lambda group: [loader.read_job(job) for job in group], groups,
                    min_items=1 if len(jobs) >= MIN_ITEMS else None)
    read = {id(job): record for group, records in zip(groups, done, strict=True)
            for job, record in zip(group, records, strict=True)}
    for step in steps:
        if isinstance(step, list):
            out.extend(step)
        elif isinstance(step, _FileJob):
            loader.replay(step.key, read[id(step)])
        else:
            loader.replay(*step)
    loader.budget_alerts()
    if prices is not None and loaded.config.prices_sync:
        loader.model_prices(prices, price_lines)
    loader.cross_checks()
    for (folder_type, name), source in sorted(loader.folders.items()):
        loader.resources.append(
            Resource("folder", (folder_type, name), {"name": name, "description": ""}, source)
        )
    if out.problems:
        raise ValidationFailed(out.problems)
    order = {kind: i for i, kind in enumerate(kinds.APPLY_ORDER)}
    resources = sorted(loader.resources, key=lambda r: (order[r.kind], r.key))
    log.debug("loaded %d resources from %s", len(resources), root)
    return Project(config=loaded, resources=resources, prices=prices, digests=loader.digests,
                   price_lines=price_lines, checked=loader.checked)


# --------------------------------------------------------------------------------------------
# Writing the rendered JSON.
# --------------------------------------------------------------------------------------------


def _file_slug(text: str) -> str:
    slug = re.sub(r"[^a-z0-9_.-]+", "-", text.lower()).strip("-.")
    return re.sub(r"-{2,}", "-", slug) or "x"


def rendered_path(resource: Resource) -> PurePosixPath:
    """Where ``write_rendered`` puts a resource, relative to the output directory."""
    key = [_file_slug(part) for part in resource.key]
    if resource.kind == "folder":
        return PurePosixPath("folders", key[0], f"{key[1]}.json")
    if resource.kind in ("dashboard", "alert"):
        return PurePosixPath(f"{resource.kind}s", key[0], f"{key[1]}.json")
    if resource.kind in ("template", "destination"):
        return PurePosixPath(f"{resource.kind}s", f"{key[0]}.json")
    if resource.kind in kinds.SPECS and key:  # kinds described as data: <kind>s/<key…>.json
        return PurePosixPath(f"{resource.kind}s", *key[:-1], f"{key[-1]}.json")
    raise ValueError(f"unknown kind {resource.kind!r}")


def rendered_text(resource: Resource) -> str:
    return json.dumps(resource.body, sort_keys=True, indent=2, ensure_ascii=False) + "\n"


# What ``rendered_path`` can produce: the only manifest entries ``write_rendered`` will delete.
_RENDERED_ENTRY = re.compile(
    r"^(?:(?:folders|dashboards|alerts)/[a-z0-9_.-]+|templates|destinations)/[a-z0-9_.-]+\.json$"
)


def _no_links(out_dir: Path, rel: PurePosixPath | Path) -> Path:
    """``out_dir / rel`` with no symlink on the way from ``out_dir``: a symlinked folder inside
    the output folder is replaced by a real one (the link is removed, never what it points to),
    so nothing is written outside ``out_dir`` through it."""
    current = out_dir
    for part in rel.parts[:-1]:
        current = current / part
        if current.is_symlink():
            log.warning("%s is a symlink inside the output folder; replaced by a folder "
                        "(o2kit never writes through a link)", current)
            current.unlink()
        current.mkdir(exist_ok=True)
    return current / rel.parts[-1]


def output_path(out_dir: Path, rel: PurePosixPath | Path) -> Path:
    """Where to write ``rel`` under an output folder: no symlink on the way (see ``_no_links``)."""
    return _no_links(out_dir, rel)


def write_output(path: Path, data: str | bytes) -> None:
    """``_write_file`` for any output folder (text or bytes)."""
    _write_file(path, data)


def _write_file(path: Path, text: str | bytes) -> None:
    """Write a regular file, replacing a symlink at ``path`` rather than writing through it
    (``O_NOFOLLOW``: a link put there between the check and the write fails the write)."""
    if path.is_symlink():
        log.warning("%s is a symlink inside the output folder; replaced by a file (o2kit never "
                    "writes through a link)", path)
        path.unlink()
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0)
    fd = os.open(path, flags, 0o644)
    if isinstance(text, bytes):
        with os.fdopen(fd, "wb") as raw:
            raw.write(text)
        return
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)


def _stale_entries(out_dir: Path, manifest: Path) -> set[str]:
    """The manifest's entries that name a file ``write_rendered`` itself writes, as a regular
    file under ``out_dir``. The manifest is a file anyone can edit: an absolute path, ``..``, a
    path of another shape or one through a symlink is ignored with a warning."""
    if manifest.is_symlink() or not manifest.is_file():
        return set()
    entries: set[str] = set()
    for line in manifest.read_text(encoding="utf-8", errors="replace").splitlines():
        entry = line.strip()
        if not entry:
            continue
        shown = entry[:200]
        if not _RENDERED_ENTRY.fullmatch(entry) or ".." in PurePosixPath(entry).parts:
            log.warning("%s: ignored %r: not a file o2kit render writes", manifest, shown)
            continue
        path, inside = out_dir, True
        for part in PurePosixPath(entry).parts:
            path = path / part
            if path.is_symlink():
                inside = False
                break
        if not inside:
            log.warning("%s: ignored %r: it leads through a symlink", manifest, shown)
            continue
        entries.add(entry)
    return entries


def write_rendered(resources: list[Resource], out_dir: Path) -> list[Path]:
    """Write one JSON file per resource under ``out_dir`` (stable, sorted keys) and remove the
    files a previous run wrote there that are no longer produced. Returns the files written or
    kept, sorted.

    Files o2kit did not write are never touched: only manifest entries of the shape it writes
    are deleted (see ``_stale_entries``), and nothing is written or deleted through a symlink
    inside ``out_dir`` (a link in the way is replaced, never followed).
    """
    out_dir = Path(out_dir)
    if (out_dir / "o2kit.yaml").exists():
        raise UserError(
            f"refusing to render into {out_dir}: it is a project directory",
            remedy="pass an output directory such as rendered/",
        )
    if out_dir.exists() and not out_dir.is_dir():
        raise UserError(f"{out_dir} exists and is not a directory")
    planned: dict[PurePosixPath, Resource] = {}
    taken: dict[str, PurePosixPath] = {}
    for resource in sorted(resources, key=lambda r: (r.kind, r.key)):
        path = rendered_path(resource)
        if str(path).lower() in taken:  # two keys with the same slug: disambiguate by key hash
            digest = hashlib.sha1(json.dumps([resource.kind, *resource.key]).encode()).hexdigest()[
                :8
            ]
            path = path.with_name(f"{path.stem}-{digest}.json")
        taken[str(path).lower()] = path
        planned[path] = resource
    out_dir.mkdir(parents=True, exist_ok=True)
    manifest = out_dir / RENDER_MANIFEST
    previous = _stale_entries(out_dir, manifest)
    written: list[Path] = []
    for rel, resource in planned.items():
        target = _no_links(out_dir, rel)
        text = rendered_text(resource)
        if (target.is_symlink() or not target.is_file()
                or target.read_text(encoding="utf-8") != text):
            _write_file(target, text)
        written.append(target)
    current = {str(rel) for rel in planned}
    for stale in sorted(previous - current):
        stale_path = out_dir / stale
        if stale_path.is_file() and not stale_path.is_symlink():
            stale_path.unlink()
            _remove_empty_parents(stale_path.parent, out_dir)
    _write_file(manifest, "".join(f"{p}\n" for p in sorted(current)))
    return sorted(written)


def _remove_empty_parents(directory: Path, stop: Path) -> None:
    while directory != stop and directory.is_relative_to(stop):
        try:
            directory.rmdir()
        except OSError:
            return
        directory = directory.parent
