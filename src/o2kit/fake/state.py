"""The fake's stored state: organisations, users, folders, dashboards, alerts, destinations,
templates and streams, plus the server-side helpers several endpoints share.

Nothing here locks: :class:`o2kit.fake.app.FakeOpenObserve` holds one lock around every request.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .ids import SnowflakeIds, new_ksuid
from .serde import datetime_from_epoch

DEFAULT_ORG = "default"  # config/src/config.rs: DEFAULT_ORG — also the org of system templates
DEFAULT_FOLDER = "default"  # config/src/meta/folder.rs: DEFAULT_FOLDER
FOLDER_TYPES = ("dashboards", "alerts", "reports", "synthetics")  # models/folders.rs FolderType


@dataclass
class User:
    email: str
    password: str
    orgs: frozenset[str] | None  # None: the root user, who may use every existing org


@dataclass
class Folder:
    folder_id: str
    name: str
    description: str

    def to_json(self) -> dict[str, str]:
        # models/folders.rs Folder, camelCase
        return {"folderId": self.folder_id, "name": self.name, "description": self.description}


@dataclass
class Dashboard:
    dashboard_id: str
    org: str
    folder_id: str
    version: int
    inner: dict[str, Any]
    updated_at: int
    seq: int  # creation order, the last tie-break of the list order
    hash: str = ""  # dashboard_hash of the content; the server recomputes it on every read,
    # which gives the same value as long as the content is unchanged — so it is kept here.


@dataclass
class Alert:
    alert_id: str
    org: str
    folder_id: str
    meta: dict[str, Any]  # the stored alert, service-layer units (frequency in seconds)


@dataclass
class Destination:
    org: str
    name: str
    module: str  # "alert" | "pipeline"
    body: dict[str, Any]  # the stored destination in the API's (DTO) shape


@dataclass
class Template:
    org: str
    name: str
    body: str
    template_type: str  # "http" | "email" | "sns"
    title: str
    kind: str  # "custom" | "content"


@dataclass
class Stream:
    org: str
    name: str
    stream_type: str
    fields: dict[str, str]
    settings: dict[str, Any]
    created_at: int
    # Ingested rows (flattened, ``_timestamp`` in µs), kept as written; ``generation`` grows on
    # every write so readers can cache what they derive from the rows (see fake/ingest.py).
    rows: list[dict[str, Any]] = field(default_factory=list)
    generation: int = 0
    stored_bytes: int = 0  # Arrow size of the rows (stands in for the stats' original size)
    doc_time_min: int = 0  # µs; 0 while empty
    doc_time_max: int = 0
    chunks: list[Any] = field(default_factory=list)  # one Arrow table per write
    table_cache: tuple[int, Any] | None = None  # (generation, Arrow table of every chunk)


@dataclass
class Store:
    clock: Callable[[], float]
    rng: random.Random
    orgs: set[str] = field(default_factory=set)
    users: dict[str, User] = field(default_factory=dict)
    folders: dict[tuple[str, str], dict[str, Folder]] = field(default_factory=dict)
    dashboards: dict[str, Dashboard] = field(default_factory=dict)
    alerts: dict[str, Alert] = field(default_factory=dict)
    destinations: dict[tuple[str, str], Destination] = field(default_factory=dict)
    templates: dict[tuple[str, str], Template] = field(default_factory=dict)
    streams: dict[tuple[str, str, str], Stream] = field(default_factory=dict)
    kv: dict[tuple[str, str], bytes] = field(default_factory=dict)  # (org, key) -> value
    # Objects of the kinds served by a module of their own (``ROUTES``): kind -> (org, id) -> body.
    objects: dict[str, dict[tuple[str, str], Any]] = field(default_factory=dict)
    smtp_enabled: bool = False  # ZO_SMTP_ENABLED: email destinations need it
    ssrf_allow_loopback: bool = False  # ZO_SSRF_ALLOW_LOOPBACK: switches the SSRF guard off

    def __post_init__(self) -> None:
        self._snowflakes = SnowflakeIds(self.clock, self.rng)
        self._seq = 0

    # ids and time ----------------------------------------------------------------------------
    def snowflake(self) -> str:
        return self._snowflakes.next()

    def ksuid(self) -> str:
        return new_ksuid(self.clock, self.rng)

    def next_seq(self) -> int:
        self._seq += 1
        return self._seq

    def now_rfc3339(self) -> str:
        return datetime_from_epoch(self.clock())

    def now_micros(self) -> int:
        return int(self.clock() * 1_000_000)

    # folders ---------------------------------------------------------------------------------
    def folder_map(self, org: str, folder_type: str) -> dict[str, Folder]:
        return self.folders.setdefault((org, folder_type), {})

    def folder(self, org: str, folder_type: str, folder_id: str) -> Folder | None:
        return self.folders.get((org, folder_type), {}).get(folder_id)

    def ensure_default_folder(self, org: str, folder_type: str) -> Folder:
        """Create the lazy ``default`` folder (``core/src/dashboards/mod.rs`` create_dashboard,
        ``core/src/alerts/alert.rs`` create_default_alerts_folder): id, name and description are
        all ``default``."""
        folders = self.folder_map(org, folder_type)
        if DEFAULT_FOLDER not in folders:
            folders[DEFAULT_FOLDER] = Folder(DEFAULT_FOLDER, DEFAULT_FOLDER, DEFAULT_FOLDER)
        return folders[DEFAULT_FOLDER]

    # streams ---------------------------------------------------------------------------------
    def stream(self, org: str, stream_type: str, name: str) -> Stream | None:
        return self.streams.get((org, stream_type, name))
