"""The plan: pair desired and live resources by o2kit's key and decide what to do with each.

``build_plan`` is a pure function from (desired, live) to a ``Plan`` value; ``report`` prints it and
``apply`` carries it out without diffing again. Rules:

- Pairing is by key (``kinds``), never by server id. Two *live* objects with one key are an error
  naming both ids when o2kit would have to choose between them — the key is in the code, or one of
  them is o2kit's. Two unmanaged look-alikes o2kit has no business with are simply left alone.
  Two *desired* resources with one key are an error naming both files.
- Both sides are normalised with the same per-kind function before diffing.
- Ownership (``managed_set``): o2kit updates or deletes only objects carrying its marker, or — for
  kinds that cannot carry one — used only by objects that do (see ``kinds``). A desired key whose
  live object is not o2kit's is a no-op "exists but is not managed by o2kit…" unless ``adopt``.
- Deletes only with ``prune``, only of managed objects, and never of an object something that stays
  still uses (a template used by a destination, a folder that keeps dashboards…).
- Live objects that are neither in the code nor o2kit's are listed as no-ops "unmanaged; left
  alone": they are counted in the summary (which tells a user how much is not yet under code) but
  never acted on. ``kinds.is_system`` objects (built-in folder, prebuilt templates) are dropped.
- An alert whose ``stream_type``/``stream_name`` changed is ``replace`` (OpenObserve keeps the
  stream fixed at creation: ``src/infra/src/table/alerts/mod.rs`` ``update_mutable_fields``).
- An alert whose stream does not exist (when ``existing_streams`` is known) gets a plan warning and
  ``Change.missing_stream``; its reason starts with ``stream-missing:`` so apply can skip it.

``plan_checksum`` ties ``apply --checksum`` to the reviewed plan; ``delete_guard`` names kinds whose
deletes exceed a share of what o2kit manages. Pure: no I/O.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from typing import Any

from o2kit import kinds
from o2kit.errors import PlanError
from o2kit.model import MISSING, Change, FieldChange, Plan, Resource
from o2kit.redact import redact
from o2kit.sync.diff import diff, parse_path

# No-op reasons. They are counted by reason in the summary, so they name no object.
IN_SYNC = "in sync"
NOT_MANAGED = "exists but is not managed by o2kit; left alone (use --adopt to take it over)"
NOT_MANAGED_UNMARKABLE = (
    "exists and carries no ownership marker (this kind cannot), and no o2kit-managed object uses "
    "it; left alone (use --adopt to take it over)"
)
UNMANAGED = "unmanaged; left alone"
NOT_IN_CODE = "not in code; use --prune to delete"
STILL_USED = "not in code, but still used by objects that stay; not deleted"
BUILTIN = "built-in; OpenObserve creates it on first use"

# Ownership per project (``ownership``). Reasons of no-ops that name what is not ours.
COPY = "a copy of an o2kit object (its marker names another key), not ours; left alone"
OTHER_PROJECT = "not ours (project {project}); left alone"
LEGACY_NOT_IN_CODE = (
    "carries the o2kit marker of before project identity and is not in this project's code: "
    "it may be another repository's, so --prune never deletes it (delete it in OpenObserve, or "
    "add it to the code to migrate it)"
)
UNDECLARED_FOLDER = (
    "ours, but in a folder this project does not declare; never touched, not even by --prune"
)
NOT_OURS_UNMARKABLE = (
    "exists, not ours — use --adopt ({kind}s carry no marker; o2kit records the ones it owns in "
    "the server's key-value store)"
)
MIGRATE = "migrate: rewrite the o2kit marker to name this project and the object's key"
DUPLICATE = "duplicate of ours (id {keep} is kept, the oldest); delete this extra copy"
NO_PROJECT_PRUNE = (
    "o2kit.yaml has no `project:`; without a project identity o2kit cannot tell its objects from "
    "another repository's, so --prune is refused"
)

def names_not_ours(change: Change) -> bool:
    """A no-op the plan names object by object: something o2kit sees but must not touch
    because it is another project's, a copy, a legacy object not in code, in an undeclared
    folder, or an unmarked object with a key in code."""
    if change.action != "noop":
        return False
    reason = change.reason
    fixed = (COPY, LEGACY_NOT_IN_CODE, UNDECLARED_FOLDER, NOT_MANAGED, NOT_MANAGED_UNMARKABLE)
    return (
        reason in fixed
        or reason.startswith(OTHER_PROJECT.split("{", 1)[0])
        or reason.startswith(NOT_OURS_UNMARKABLE.split("{", 1)[0])
    )


# Ownership states (``ownership``).
OURS, COPY_STATE, OTHER, LEGACY, NONE = "ours", "copy", "other", "legacy", "none"

ADOPT_MARK = "adopt: add o2kit's ownership marker"
ADOPT_UPDATE = "adopt: take over and update"
REPLACE_STREAM = (
    "the stream cannot change in place (OpenObserve fixes it at creation): delete, then create"
)
STREAM_MISSING_PREFIX = "stream-missing: "

CHECKSUM_FORMAT = 1

Ident = tuple[str, tuple[str, ...], str | None]  # (kind, key, server_id)


def _ident(res: Resource) -> Ident:
    return (res.kind, res.key, res.server_id)


def _spec(kind: str) -> kinds.KindSpec:
    try:
        return kinds.SPECS[kind]
    except KeyError:
        known = ", ".join(kinds.APPLY_ORDER)
        raise PlanError(f"unknown resource kind {kind!r} (known: {known})") from None


def _label(res: Resource) -> str:
    return f'{res.kind} "{"/".join(res.key)}"'


def _state_of_marked(res: Resource, project: str | None) -> tuple[str, str | None]:
    marker = _spec(res.kind).marker_of(res.body)
    if marker.state == "token":
        if project is None or marker.project != project:
            return OTHER, marker.project
        if marker.digest != kinds.key_digest(res.kind, res.key):
            return COPY_STATE, project
        return OURS, project
    if marker.state == "legacy":
        # Without a project (o2kit.yaml has none), o2kit keeps its behaviour of before project
        # identity: the plain marker is ours.
        return (OURS if project is None else LEGACY), None
    return NONE, None


def ownership(
    live: Sequence[Resource], project: str | None = None
) -> dict[Ident, tuple[str, str | None]]:
    """Whose each live object is: ``(state, project)`` with state one of

    - ``ours``: its marker names ``project`` and the object's own key;
    - ``copy``: its marker names ``project`` but another key (a UI copy carries the marker along);
    - ``other``: its marker names another project;
    - ``legacy``: the plain marker of o2kit before project identity (with ``project`` None,
      legacy markers are ``ours`` and project markers ``other``);
    - ``none``: no marker.

    Kinds that cannot carry a marker (templates, e-mail/SNS destinations) are ``ours``/``other``
    by the ownership record o2kit keeps in the server's key-value store (``meta["o2kit_project"]``,
    read by ``remote.fetch_live``). Without a record, one counts as ``legacy`` when it is used
    by an object with a legacy marker and by nothing that is not ours or legacy (the "managed by
    reference" rule of before); otherwise ``none``. Destinations are settled before templates,
    which they use.
    """
    states: dict[Ident, tuple[str, str | None]] = {}
    for res in live:
        spec = _spec(res.kind)
        if spec.can_mark(res.body):
            states[_ident(res)] = _state_of_marked(res, project)
            continue
        owner = res.meta.get("o2kit_project")
        if isinstance(owner, str) and owner:
            states[_ident(res)] = (OURS if owner == project else OTHER, owner)
    legacy_like = (OURS, LEGACY) if project is not None else (OURS,)
    for kind in ("destination", "template"):
        users: dict[tuple[str, ...], list[Resource]] = defaultdict(list)
        for res in live:
            for ref_kind, ref_key in _spec(res.kind).references(res.key, res.body):
                if ref_kind == kind:
                    users[ref_key].append(res)
        for res in live:
            if res.kind != kind or _ident(res) in states:
                continue
            referrers = users.get(res.key, [])
            referrer_states = [states.get(_ident(r), (NONE, None))[0] for r in referrers]
            by_legacy = (LEGACY if project is not None else OURS) in referrer_states
            if referrers and by_legacy and all(st in legacy_like for st in referrer_states):
                states[_ident(res)] = (LEGACY if project is not None else OURS, None)
            else:
                states[_ident(res)] = (NONE, None)
    return states


def managed_set(live: Sequence[Resource], project: str | None = None) -> set[Ident]:
    """The live objects that are ``project``'s (see ``ownership``)."""
    return {ident for ident, (st, _p) in ownership(live, project).items() if st == OURS}


def fingerprint(res: Resource) -> str:
    """sha256 of the normalised body: what apply compares with a fresh read of the object before
    it writes (kinds without a server-side hash: alerts, templates, destinations)."""
    spec = _spec(res.kind)
    return _digest(spec.normalize(res.body))


def _live_digest(res: Resource) -> str:
    """``fingerprint`` of a live object as plan read it (``settle_live`` kept only the digest of
    a settled one)."""
    settled = res.meta.get(SETTLED)
    return settled if isinstance(settled, str) else fingerprint(res)


# ``Resource.meta`` key of a live object ``settle_live`` found in sync: the digest of its
# normalised body, which stands for the bulky members it no longer holds.
SETTLED = "settled_digest"


def settle_live(res: Resource, desired: str | None, *, known: str | None = None) -> Resource:
    """``res`` (a live object) as plan needs it: when the digest of its normalised body is
    ``desired`` (the ``desired_digest`` of the desired object with its key), it is in sync, and
    its kind's ``bulky`` members (a dashboard's tabs: nearly all of its ~170 KB) are replaced by
    that digest in ``meta[SETTLED]``; otherwise ``res`` itself, whole, for the field diff.
    ``remote.fetch_live`` calls it on each object as it arrives, so a plan in sync never holds
    every live body at once. ``build_plan`` must then get the same ``desired`` digests.

    ``known``: the digest an earlier plan computed for this very body (found by
    ``live_digest_key``); when it is ``desired`` the body is not normalised again."""
    spec = _spec(res.kind)
    if desired is None or not spec.bulky or SETTLED in res.meta:
        return res
    if known != desired and _strict_digest(spec.normalize(res.body)) != desired:
        return res
    body = {k: v for k, v in res.body.items() if k not in spec.bulky}
    return replace(res, body=body, meta={**res.meta, SETTLED: desired})


def live_digest_key(res: Resource) -> str | None:
    """A name for the exact body of a live dashboard, from the ``hash`` OpenObserve lists with
    it, or None when there is no such hash.

    OpenObserve computes that hash each time it reads a dashboard: std ``DefaultHasher`` over the
    version and the whole typed body, ``updated_at`` included (``From<Dashboard> for
    super::Dashboard`` in ``src/config/src/meta/dashboards/v8/mod.rs``; optimistic locking in
    ``put``, ``src/core/src/dashboards/mod.rs``, relies on it changing with every write). So an
    unchanged hash is an unchanged body, and a digest computed for it earlier (keyed by o2kit's
    own code as well, by the caller) can stand in for normalising ~170 KB again. The key also
    holds the id, folder, version, title and panel count per tab, so a server that answered one
    hash for everything would still be caught on any change of shape; ``--no-cache`` does not use
    it at all."""
    digits = res.meta.get("hash")
    if res.kind != "dashboard" or not isinstance(digits, str) or not digits.isdigit():
        return None
    tabs = res.body.get("tabs")
    shape = ([len(t.get("panels") or ()) if isinstance(t, dict) else -1 for t in tabs]
             if isinstance(tabs, list) else None)
    title = res.body.get("title")
    return _digest([res.kind, str(res.server_id), str(res.meta.get("folder_id")),
                    res.meta.get("version"), digits, title if isinstance(title, str) else None,
                    shape])


def age_key(res: Resource) -> tuple[int, int, str]:
    """Oldest first, by server id: dashboard and folder ids are snowflakes (decimal, strictly
    increasing), alert ids KSUIDs (ordered by second, then random). Concurrent applies need only
    a total order they all agree on: each deletes every copy of ours but the first in it."""
    text = str(res.server_id or "")
    if text.isdigit():
        return (0, len(text), text)
    return (1, 0, text)


def _not_ours_reason(
    kind: str, body: dict[str, Any], state: str, owner: str | None, project: str | None
) -> str:
    if state == COPY_STATE:
        return COPY
    if state == OTHER:
        return OTHER_PROJECT.format(project=owner)
    if state == LEGACY:
        return LEGACY_NOT_IN_CODE
    if _spec(kind).can_mark(body):
        return NOT_MANAGED
    if project is None:
        return NOT_MANAGED_UNMARKABLE
    return NOT_OURS_UNMARKABLE.format(kind=kind)


def _container(res: Resource) -> tuple[str, tuple[str, ...]] | None:
    if res.kind == "dashboard":
        return ("folder", ("dashboards", res.key[0]))
    if res.kind == "alert":
        return ("folder", ("alerts", res.key[0]))
    return None


def _stream_of(desired: Resource) -> tuple[str, str] | None:
    body = kinds.SPECS["alert"].normalize(desired.body)
    if body.get("query_condition", {}).get("type") == "slo":
        return None  # an SLO alert runs no query and has no stream (prepare_alert)
    return (str(body.get("stream_type", "logs")), str(body.get("stream_name", "")))


def _mark_secrets(kind: str, changes: Iterable[FieldChange]) -> tuple[FieldChange, ...]:
    spec = _spec(kind)
    return tuple(
        replace(fc, secret=True) if spec.is_secret(parse_path(fc.path)) else fc for fc in changes
    )


def build_plan(
    desired: Sequence[Resource],
    live: Sequence[Resource],
    *,
    prune: bool = False,
    adopt: bool = False,
    existing_streams: set[tuple[str, str]] | None = None,
    org: str = "",
    env: str | None = None,
    project: str | None = None,
    declared_folders: Iterable[tuple[str, str]] = (),
    desired_digests: Mapping[tuple[str, tuple[str, ...]], str] | None = None,
) -> Plan:
    """Compute the plan (see the module docstring for the rules). ``project`` is the project
    identity (``o2kit.yaml`` ``project:``); None keeps o2kit's behaviour of before it (plain
    markers are o2kit's); the CLI then refuses ``--prune`` (``NO_PROJECT_PRUNE``).
    ``desired_digests``: ``desired_digest`` of desired resources by ``(kind, key)``, known from an
    earlier run (the CLI's cache); the others are computed."""
    errors: list[str] = []

    # Desired: one resource per key.
    wanted: dict[tuple[str, tuple[str, ...]], Resource] = {}
    for res in desired:
        _spec(res.kind)
        first = wanted.get((res.kind, res.key))
        if first is not None:
            where = [str(r.source) if r.source else "(unknown file)" for r in (first, res)]
            errors.append(f"{_label(res)} is defined twice: {where[0]} and {where[1]}")
            continue
        wanted[(res.kind, res.key)] = res

    present = [r for r in live if not kinds.is_system(r.kind, r.body, org=org or None)]
    states = ownership(present, project)
    groups: dict[tuple[str, tuple[str, ...]], list[Resource]] = defaultdict(list)
    for res in present:
        _spec(res.kind)
        groups[(res.kind, res.key)].append(res)

    def state(res: Resource) -> str:
        return states.get(_ident(res), (NONE, None))[0]

    for (kind, key), found in groups.items():
        if (kind, key) not in wanted:
            continue
        # Several live objects with a key in code: ours are settled below (the oldest is kept,
        # the others deleted); several legacy or — with --adopt — unmarked ones are a guess.
        for group in (LEGACY, NONE):
            same = [r for r in found if state(r) == group]
            if len(same) < 2 or any(state(r) == OURS for r in found):
                continue
            if group == NONE and (not adopt or any(state(r) == LEGACY for r in found)):
                continue
            ids = sorted(str(r.server_id) for r in same)
            errors.append(
                f'{len(same)} live {kind}s have the key "{"/".join(key)}" (ids {", ".join(ids)}); '
                "o2kit will not guess which one is meant: rename or delete all but one in "
                "OpenObserve"
            )
    errors.extend(_reserved_name_errors(wanted, live, org))
    if errors:
        raise PlanError("; ".join(errors), remedy="fix the problems named above, then plan again")

    changes: list[Change] = []
    warnings: list[str] = []
    rebound = _rebind_ids(wanted, groups, state, adopt)
    if rebound and desired_digests:  # digests of the bodies before their references moved
        desired_digests = {k: v for k, v in desired_digests.items() if k not in rebound}

    for (kind, key), want in wanted.items():
        spec = kinds.SPECS[kind]
        found = groups.get((kind, key), [])
        if kinds.is_builtin_key(kind, key):
            changes.append(
                Change(
                    "noop",
                    kind,
                    key,
                    desired=want,
                    live=found[0] if found else None,
                    reason=BUILTIN,
                )
            )
            continue
        if not found:
            known = desired_digests.get((kind, key)) if desired_digests else None
            changes.append(Change("create", kind, key, desired=want, digests=(None, known)))
            continue
        ours = sorted((r for r in found if state(r) == OURS), key=age_key)
        legacy = [r for r in found if state(r) == LEGACY]
        unmarked = [r for r in found if state(r) == NONE]
        note = ""
        if ours:
            have, managed = ours[0], True
            for extra in ours[1:]:
                changes.append(
                    Change(
                        "delete", kind, key, live=extra,
                        reason=DUPLICATE.format(keep=have.server_id),
                        fingerprint=_fingerprint_if_needed(extra),
                    )
                )
        elif legacy:
            have, managed, note = legacy[0], True, MIGRATE
        elif unmarked and adopt:
            have, managed = unmarked[0], False
        else:
            for res in found:
                st, owner = states.get(_ident(res), (NONE, None))
                changes.append(
                    Change(
                        "noop", kind, key, desired=want, live=res,
                        reason=_not_ours_reason(kind, res.body, st, owner, project),
                    )
                )
            continue
        for res in found:
            if res is have or (state(res) == OURS and res in ours):
                continue
            st, owner = states.get(_ident(res), (NONE, None))
            changes.append(
                Change("noop", kind, key, live=res,
                       reason=_not_ours_reason(kind, res.body, st, owner, project))
            )
        # Hash first: equal digests of the normalised bodies mean equal bodies, so no field
        # diff (most objects of a plan are in sync); the diff runs only where they differ.
        new_digest = desired_digests.get((kind, key)) if desired_digests else None
        new_body: dict[str, Any] | None = None
        if new_digest is None:
            new_body = spec.normalize(spec.complete(want))
            new_digest = _strict_digest(new_body)
        settled = have.meta.get(SETTLED)
        if settled is not None and settled != new_digest:
            # settle_live kept only the digest of a body equal to another desired one.
            raise AssertionError(f"{_label(have)} was settled against another desired body")
        old_body = None if settled is not None else spec.normalize(have.body)
        old_digest = settled if old_body is None else _strict_digest(old_body)
        digests = (old_digest, new_digest)
        if new_digest is not None and new_digest == old_digest:
            fields: tuple[FieldChange, ...] = ()
            stream_changed = False
        else:
            assert old_body is not None
            if new_body is None:
                new_body = spec.normalize(spec.complete(want))
            fields = _mark_secrets(kind, diff(old_body, new_body))
            stream_changed = kind == "alert" and any(
                old_body.get(f) != new_body.get(f) for f in ("stream_type", "stream_name")
            )
        del old_body, new_body
        if stream_changed:
            changes.append(
                Change(
                    "replace",
                    kind,
                    key,
                    desired=want,
                    live=have,
                    fields=fields,
                    reason=REPLACE_STREAM,
                )
            )
        elif fields:
            changes.append(
                Change(
                    "update",
                    kind,
                    key,
                    desired=want,
                    live=have,
                    fields=fields,
                    reason=note if managed else ADOPT_UPDATE,
                )
            )
        elif not managed or note:
            changes.append(
                Change("update", kind, key, desired=want, live=have,
                       reason=note or ADOPT_MARK)
            )
        else:
            changes.append(Change("noop", kind, key, desired=want, live=have, reason=IN_SYNC))
        if changes[-1].action in ("update", "replace"):
            changes[-1] = replace(
                changes[-1], fingerprint=_fingerprint_if_needed(have, old_digest)
            )
        changes[-1] = replace(changes[-1], digests=digests)
        if (
            project is None
            and not managed
            and not spec.can_mark(have.body)
            and changes[-1].action == "update"
        ):
            warnings.append(
                f"{_label(have)}: adopted, but {kind}s cannot carry an ownership marker; later "
                "plans treat it as o2kit's only while an o2kit-managed object uses it (set "
                "`project:` in o2kit.yaml to record ownership on the server)"
            )

    # Live objects that are not in the code.
    # Folders this project declares: those in code, those its objects live in, and
    # ``declared_folders`` (o2kit.yaml ``folders``, as (folder_type, name)).
    declared = {k for k in wanted if k[0] == "folder"}
    declared.update(("folder", (t, n)) for t, n in declared_folders)
    for want in wanted.values():
        folder = _container(want)
        if folder is not None:
            declared.add(folder)
    candidates: list[Resource] = []
    for (kind, key), found in groups.items():
        if (kind, key) in wanted:
            continue
        for res in found:
            st, owner = states.get(_ident(res), (NONE, None))
            if st == NONE:
                changes.append(Change("noop", kind, key, live=res, reason=UNMANAGED))
            elif st != OURS:
                changes.append(
                    Change("noop", kind, key, live=res,
                           reason=_not_ours_reason(kind, res.body, st, owner, project))
                )
            elif _container(res) is not None and _container(res) not in declared:
                changes.append(Change("noop", kind, key, live=res, reason=UNDECLARED_FOLDER))
            elif not prune:
                changes.append(Change("noop", kind, key, live=res, reason=NOT_IN_CODE))
            else:
                candidates.append(res)
    changes.extend(_deletes(candidates, wanted, present))

    # Alerts the server would refuse for want of a stream.
    if existing_streams is not None:
        for i, change in enumerate(changes):
            if change.kind != "alert" or change.action not in ("create", "update", "replace"):
                continue
            assert change.desired is not None
            stream = _stream_of(change.desired)
            if stream is None or stream in existing_streams:
                continue
            message = (
                f"stream {stream[0]}/{stream[1]} does not exist yet: OpenObserve will refuse the "
                "alert (404 Stream not found). Ingest data first or run apply with "
                "--create-streams."
            )
            warnings.append(f"{change.address}: {message}")
            reason = (
                f"{STREAM_MISSING_PREFIX}stream {stream[0]}/{stream[1]} does not exist yet; "
                "apply skips this alert unless run with --create-streams"
            )
            if change.reason:
                reason += f"; {change.reason}"
            changes[i] = replace(change, reason=reason, missing_stream=stream)

    order = {k: i for i, k in enumerate(kinds.APPLY_ORDER)}
    changes.sort(
        key=lambda c: (order[c.kind], c.key, c.action, str(c.live.server_id) if c.live else "")
    )
    return Plan(
        changes=tuple(changes), warnings=tuple(warnings), org=org, env=env, project=project
    )


def _rebind_ids(
    wanted: dict[tuple[str, tuple[str, ...]], Resource],
    groups: Mapping[tuple[str, tuple[str, ...]], list[Resource]],
    state: Any,
    adopt: bool,
) -> set[tuple[str, tuple[str, ...]]]:
    """A desired object that names another by server id (an SLO alert's ``slo_id``) names the
    id o2kit gives the object it creates (``kinds.slo.slo_id``); when the live object the plan
    pairs it with has another id (adopted, or created before o2kit chose ids), the reference
    follows the live id. In place, on ``wanted``; kinds say where their ids are (``rebind``)."""
    moved: dict[tuple[str, str], str] = {}
    for (kind, key), want in wanted.items():
        api = kinds.SPECS[kind].api
        own = want.body.get(api.id_field) if api is not None else None
        if not own:
            continue
        found = groups.get((kind, key), [])
        pick = ([r for r in found if state(r) == OURS] or [r for r in found if state(r) == LEGACY]
                or ([r for r in found if state(r) == NONE] if adopt else []))
        if pick:
            live_id = str(sorted(pick, key=age_key)[0].server_id or "")
            if live_id and live_id != str(own):
                moved[(kind, str(own))] = live_id
    rebound: set[tuple[str, tuple[str, ...]]] = set()
    if not moved:
        return rebound
    for ident, want in wanted.items():
        spec = kinds.SPECS[ident[0]]
        refs = {(k, ref[1]) for k, ref in spec.references(want.key, want.body)
                if len(ref) == 2 and ref[0] == "@id" and (k, ref[1]) in moved}
        if refs:
            body = spec.rebind(want.body, {old: moved[(k, old)] for k, old in refs})
            wanted[ident] = replace(want, body=body)
            rebound.add(ident)
    return rebound


def _reserved_name_errors(
    wanted: dict[tuple[str, tuple[str, ...]], Resource], live: Sequence[Resource], org: str
) -> list[str]:
    """Desired objects whose name a system object takes: OpenObserve lists org default's alert
    templates in every org and refuses another template with such a name
    (src/core/src/alerts/templates.rs), so a desired one would fail at apply. A desired key that
    *names* a built-in object (folder ``default``, which dashboards and alerts are kept in:
    src/config/src/meta/folder.rs ``DEFAULT_FOLDER``, created by the server on first use in
    src/core/src/dashboards/mod.rs and src/core/src/alerts/alert.rs) is a reference to it, not a
    clash: plan never creates, updates or deletes it (``kinds.is_builtin_key``)."""
    return [
        f"{_label(res)} is a name the server reserves here (a system template, or one "
        f'that already exists in org "default", which OpenObserve shows in every org); '
        "rename it in code (an --env overlay can), or do not deploy the same project to "
        "org default and other orgs on one server"
        for res in live
        if (res.kind, res.key) in wanted
        and not kinds.is_builtin_key(res.kind, res.key)
        and kinds.is_system(res.kind, res.body, org=org or None)
    ]


def _deletes(
    candidates: list[Resource],
    wanted: dict[tuple[str, tuple[str, ...]], Resource],
    present: Sequence[Resource],
) -> list[Change]:
    """Deletes for the managed, pruned candidates — except those something that stays still uses
    (the server would refuse them anyway: 409/400). Referrers come later in
    ``kinds.APPLY_ORDER`` than what they use, so deciding in reverse kind order settles every
    referrer first."""
    if not candidates:  # (the loops below would read every desired body: most plans prune none)
        return []
    leaving = {_ident(r) for r in candidates}
    users: dict[tuple[str, tuple[str, ...]], list[Ident]] = defaultdict(list)
    for res in wanted.values():
        for ref in kinds.SPECS[res.kind].references(res.key, res.body):
            users[ref].append((res.kind, res.key, None))
    for res in present:
        if (res.kind, res.key) in wanted:
            continue  # its desired version's references count, not the live one's
        for ref in kinds.SPECS[res.kind].references(res.key, res.body):
            users[ref].append(_ident(res))
    out: list[Change] = []
    order = {k: i for i, k in enumerate(kinds.APPLY_ORDER)}
    for res in sorted(candidates, key=lambda r: -order[r.kind]):
        # A reference may name the server id instead of the key: (kind, ("@id", id)) — an SLO
        # alert's slo_condition.slo_id (kinds.alert).
        referrers = [*users.get((res.kind, res.key), []),
                     *users.get((res.kind, ("@id", str(res.server_id))), [])]
        still_used = [u for u in referrers if u not in leaving]
        if still_used:
            leaving.discard(_ident(res))
            out.append(Change("noop", res.kind, res.key, live=res, reason=STILL_USED))
        else:
            out.append(
                Change("delete", res.kind, res.key, live=res,
                       fingerprint=_fingerprint_if_needed(res))
            )
    return out


# Kinds without a server-side hash: apply re-reads them right before writing and compares.
# Kinds with no server-side hash: apply re-reads them and compares fingerprints before writing
# (and so does every kind reached through ``kinds.RestApi``).
FINGERPRINTED = frozenset({"template", "destination", "alert"})


def _fingerprint_if_needed(res: Resource, known: str | None = None) -> str | None:
    rest = res.kind in kinds.SPECS and kinds.SPECS[res.kind].api is not None
    if (res.kind not in FINGERPRINTED and not rest) or res.meta.get("partial"):
        return None
    return known or _live_digest(res)


# ---------------------------------------------------------------------------------------------
# checksum


def _digest(value: Any) -> str:
    return hashlib.sha256(kinds.canonical_json(value).encode("utf-8")).hexdigest()


def _strict_digest(value: Any) -> str | None:
    """``_digest`` of a body that is plain JSON; None when it holds NaN or an infinity, which
    ``diff.same`` never finds equal to itself (such a body is always diffed field by field)."""
    try:
        text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                          allow_nan=False)
    except ValueError:
        return None
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def desired_digest(res: Resource) -> str | None:
    """The digest ``build_plan`` compares for a desired resource: of its normalised, completed
    body (None for a body with NaN or an infinity). A function of the body and key only, so it
    may be cached with them (``build_plan``'s ``desired_digests``)."""
    spec = _spec(res.kind)
    return _strict_digest(spec.normalize(spec.complete(res)))


def _checksum_value(value: Any, secret: bool) -> Any:
    if value is MISSING:
        return {"$absent": True}
    if secret:
        return {"$sha256": _digest(value)}
    return value


def plan_checksum(plan: Plan) -> str:
    """sha256 (hex) of the canonical content of the plan's actions.

    Covers, for every change that is not a no-op: action, kind, key, the live object it acts on
    (server id, dashboard ``hash``, digest of the normalised live body), the digest of the
    normalised desired body, every field change (secret values only as their sha256), the missing
    stream; and the plan's org, env and warnings. No-ops are left out, so unrelated activity on
    the server (someone creating an unmanaged dashboard) does not invalidate a reviewed plan,
    while any change to what apply would send does. Stable across processes.
    """
    entries = []
    for c in plan.changes:
        if c.action == "noop":
            continue
        spec = kinds.SPECS[c.kind]
        entry: dict[str, Any] = {"action": c.action, "kind": c.kind, "key": list(c.key)}
        live_digest, want_digest = c.digests
        if c.live is not None:
            entry["live"] = {
                "id": c.live.server_id,
                "hash": c.live.meta.get("hash"),
                "body": live_digest or _live_digest(c.live),
            }
        if c.desired is not None:
            entry["desired"] = want_digest or _digest(spec.normalize(spec.complete(c.desired)))
        entry["fields"] = [
            [f.path, _checksum_value(f.old, f.secret), _checksum_value(f.new, f.secret)]
            for f in c.fields
        ]
        entry["missing_stream"] = list(c.missing_stream) if c.missing_stream else None
        entries.append(entry)
    doc = {
        "format": CHECKSUM_FORMAT,
        "org": plan.org,
        "env": plan.env,
        "changes": entries,
        "warnings": list(plan.warnings),
    }
    if plan.project is not None:
        doc["project"] = plan.project
    return _digest(doc)


# ---------------------------------------------------------------------------------------------
# delete guard


def delete_guard(
    plan: Plan,
    live: Sequence[Resource],
    max_fraction: float = 0.3,
    project: str | None = None,
) -> list[str]:
    """One message per kind whose deletes exceed ``max_fraction`` of the live objects of that kind
    that are ``project``'s (apply then needs ``--force``). Replaces are not counted (they
    recreate), nor deletes of extra copies of ours (one copy stays). ``max_fraction`` must be a
    finite number in [0, 1]."""
    if not isinstance(max_fraction, int | float) or not 0.0 <= max_fraction <= 1.0:
        # NaN fails both comparisons, so it is refused here too.
        raise PlanError(
            f"--max-delete-fraction must be a number from 0 to 1, not {max_fraction!r}",
            remedy="pass e.g. --max-delete-fraction 0.3",
        )
    owned = managed_set([r for r in live if not kinds.is_system(r.kind, r.body)], project)
    managed_per_kind: dict[str, int] = defaultdict(int)
    for kind, _key, _id in owned:
        managed_per_kind[kind] += 1
    deletes: dict[str, int] = defaultdict(int)
    for c in plan.of("delete"):
        if c.reason.startswith(DUPLICATE.split("{", 1)[0]):
            continue
        deletes[c.kind] += 1
    messages = []
    for kind in kinds.APPLY_ORDER:
        n = deletes.get(kind, 0)
        if not n:
            continue
        total = max(managed_per_kind.get(kind, 0), n)
        if n > max_fraction * total:
            messages.append(
                f"would delete {n} of {total} o2kit-managed {kind}s ({n / total:.0%}, more than "
                f"the {max_fraction:.0%} allowed)"
            )
    return messages


# ---------------------------------------------------------------------------------------------
# secrets in a plan (after ${env:} references and the redaction registry)

def _holds_secret(value: Any) -> bool:
    if value is MISSING or value is None or isinstance(value, bool | int | float):
        return False
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    return redact(text) != text


def _related(a: Sequence[str | int], b: Sequence[str | int]) -> bool:
    """One path is the other or lies inside it."""
    n = min(len(a), len(b))
    return list(a[:n]) == list(b[:n])


def mark_sensitive(
    plan: Plan, refs: Mapping[tuple[str, tuple[str, ...]], Sequence[Sequence[str | int]]]
) -> Plan:
    """``plan`` with ``FieldChange.secret`` set on every field that holds a secret, besides the
    kinds' own secret paths (``kinds.KindSpec.secret_paths``, set by ``build_plan``):

    - a field at, above or inside a path where the code wrote ``${env:NAME}`` (``refs``: the
      paths of each desired resource's references, by ``(kind, key)``) — on both sides, so the
      server's old value of that field is masked too, and a body with a token inside a longer
      text is masked whole;
    - a field whose old or new value contains a registered secret or a URL password.

    Such a field is shown as ``(sensitive)`` / ``(sensitive value changed)`` by
    ``o2kit.sync.report``.
    """
    changes = []
    for change in plan.changes:
        paths = refs.get((change.kind, change.key), ())
        fields = []
        for fc in change.fields:
            secret = fc.secret
            if not secret and paths:
                tokens = parse_path(fc.path)
                secret = any(_related(tokens, p) for p in paths)
            if not secret:
                secret = _holds_secret(fc.old) or _holds_secret(fc.new)
            fields.append(replace(fc, secret=True) if secret and not fc.secret else fc)
        changes.append(replace(change, fields=tuple(fields)) if fields else change)
    return replace(plan, changes=tuple(changes))
