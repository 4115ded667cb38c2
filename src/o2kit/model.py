"""Plain values shared by the whole core: where a thing came from, and a desired or live resource.

Kinds (see ``o2kit.kinds`` for what o2kit knows about each):

- ``folder``       key ``(folder_type, name)`` with folder_type ``dashboards`` or ``alerts``
- ``template``     key ``(name,)``   alert template
- ``destination``  key ``(name,)``   alert destination
- ``dashboard``    key ``(folder_name, title)``
- ``alert``        key ``(folder_name, name)``

``body`` is the OpenObserve JSON object: for desired resources the request shape (dashboard: the
inner v8 object; alert: the v2 alert object), for live resources what the server returned.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

KINDS: tuple[str, ...] = ("folder", "template", "destination", "dashboard", "alert")
"""All kinds, in apply (dependency) order. Deletes run in reverse."""


@dataclass(frozen=True, order=True)
class SourceRef:
    """A place in a file of the project: where a desired resource (or a value) was written."""

    file: str
    line: int = 1

    def __str__(self) -> str:
        return f"{self.file}:{self.line}"


@dataclass(frozen=True)
class Resource:
    """A desired or live OpenObserve object, identified by o2kit's own key (never a server id)."""

    kind: str
    key: tuple[str, ...]
    body: dict[str, Any]
    source: SourceRef | None = None
    # Server identity of a live object (folderId, dashboardId, alert id, or the name);
    # None for a desired one.
    server_id: str | None = None
    # Live-only facts o2kit needs to write safely (e.g. a dashboard's current ``hash``).
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def address(self) -> str:
        """Human name used in plans and errors, e.g. ``dashboard "Bedrock/Bedrock overview"``."""
        return f'{self.kind} "{"/".join(self.key)}"'

    def transient_body(self) -> dict[str, Any]:
        """The body, for a reader that uses it once and keeps nothing of it (a digest, a diff,
        a payload). A body replayed from the cache is then decoded for this call only instead of
        being kept on the resource, so apply at 1,000 dashboards does not end up holding every
        decoded body at once. Never mutate what it returns."""
        return self.body


class _Missing:
    """Marks a value that is absent on one side of a field change."""

    _instance: _Missing | None = None

    def __new__(cls) -> _Missing:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "<absent>"

    def __bool__(self) -> bool:
        return False


MISSING: Any = _Missing()


@dataclass(frozen=True)
class FieldChange:
    """One field that differs: ``path`` like ``tabs[0].panels[2].title``; MISSING when absent."""

    path: str
    old: Any
    new: Any
    secret: bool = False


ACTIONS = ("create", "update", "replace", "delete", "noop")


@dataclass(frozen=True)
class Change:
    """What the plan will do to one resource (``replace`` = delete + create, e.g. an alert whose
    stream changed, which OpenObserve cannot update in place)."""

    action: str
    kind: str
    key: tuple[str, ...]
    desired: Resource | None = None
    live: Resource | None = None
    fields: tuple[FieldChange, ...] = ()
    reason: str = ""  # why a no-op is a no-op, or a note on a change
    # (stream_type, stream_name) of an alert whose stream does not exist yet: OpenObserve would
    # refuse it (404), so apply skips it unless it may create the stream first.
    missing_stream: tuple[str, str] | None = None
    # sha256 of the normalised live body the plan saw (``plan.fingerprint``), for kinds without a
    # server-side hash (alerts, templates, destinations): apply re-reads the object right before
    # it writes and stops when it changed since.
    fingerprint: str | None = None
    # sha256 of the normalised live and desired bodies the plan compared (``plan.normal_digest``;
    # None: not computed), so the checksum does not normalise them again. Derived from the bodies,
    # so not part of the value's equality.
    digests: tuple[str | None, str | None] = field(default=(None, None), compare=False, repr=False)

    @property
    def address(self) -> str:
        return f'{self.kind} "{"/".join(self.key)}"'


@dataclass(frozen=True)
class Plan:
    """The value ``plan`` computes and ``apply`` consumes."""

    changes: tuple[Change, ...]
    warnings: tuple[str, ...] = ()
    org: str = ""
    env: str | None = None
    project: str | None = None  # o2kit.yaml ``project:``; None: no project identity

    def of(self, action: str) -> list[Change]:
        return [c for c in self.changes if c.action == action]

    @property
    def has_changes(self) -> bool:
        return any(c.action != "noop" for c in self.changes)
