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
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import replace
from typing import Any

from o2kit import kinds
from o2kit.diff import diff, parse_path
from o2kit.errors import PlanError
from o2kit.model import KINDS, MISSING, Change, FieldChange, Plan, Resource

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
        raise PlanError(f"unknown resource kind {kind!r} (known: {', '.join(KINDS)})") from None


def _label(res: Resource) -> str:
    return f'{res.kind} "{"/".join(res.key)}"'


def managed_set(live: Sequence[Resource]) -> set[Ident]:
    """The live objects o2kit owns: those carrying its marker, plus — for kinds that cannot carry
    one (templates, e-mail/SNS destinations) — those used by at least one owned object and by no
    object that is not owned. Destinations are settled before templates, which they use."""
    owned: set[Ident] = set()
    for res in live:
        spec = _spec(res.kind)
        if spec.is_managed(res.body):
            owned.add(_ident(res))
    by_kind_key: dict[tuple[str, tuple[str, ...]], list[Resource]] = defaultdict(list)
    for res in live:
        by_kind_key[(res.kind, res.key)].append(res)
    for kind in ("destination", "template"):
        users: dict[tuple[str, ...], list[Resource]] = defaultdict(list)
        for res in live:
            for ref_kind, ref_key in _spec(res.kind).references(res.key, res.body):
                if ref_kind == kind:
                    users[ref_key].append(res)
        for res in live:
            if res.kind != kind or _spec(kind).can_mark(res.body):
                continue
            referrers = users.get(res.key, [])
            if referrers and all(_ident(r) in owned for r in referrers):
                owned.add(_ident(res))
    return owned


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
) -> Plan:
    """Compute the plan (see the module docstring for the rules)."""
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
    owned = managed_set(present)
    groups: dict[tuple[str, tuple[str, ...]], list[Resource]] = defaultdict(list)
    for res in present:
        _spec(res.kind)
        groups[(res.kind, res.key)].append(res)

    for (kind, key), found in groups.items():
        if len(found) < 2:
            continue
        if (kind, key) in wanted or any(_ident(r) in owned for r in found):
            ids = sorted(str(r.server_id) for r in found)
            errors.append(
                f'{len(found)} live {kind}s have the key "{"/".join(key)}" (ids {", ".join(ids)}); '
                "o2kit will not guess which one is meant: rename or delete all but one in "
                "OpenObserve"
            )
    errors.extend(_reserved_name_errors(wanted, live, org))
    if errors:
        raise PlanError("; ".join(errors), remedy="fix the problems named above, then plan again")

    changes: list[Change] = []
    warnings: list[str] = []

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
            changes.append(Change("create", kind, key, desired=want))
            continue
        have = found[0]
        managed = _ident(have) in owned
        if not managed and not adopt:
            reason = NOT_MANAGED if spec.can_mark(have.body) else NOT_MANAGED_UNMARKABLE
            changes.append(Change("noop", kind, key, desired=want, live=have, reason=reason))
            continue
        new_body = spec.normalize(spec.complete(want))
        old_body = spec.normalize(have.body)
        fields = _mark_secrets(kind, diff(old_body, new_body))
        if kind == "alert" and any(
            old_body.get(f) != new_body.get(f) for f in ("stream_type", "stream_name")
        ):
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
                    reason="" if managed else ADOPT_UPDATE,
                )
            )
        elif not managed and spec.can_mark(have.body):
            changes.append(Change("update", kind, key, desired=want, live=have, reason=ADOPT_MARK))
        else:
            changes.append(Change("noop", kind, key, desired=want, live=have, reason=IN_SYNC))
        if not managed and not spec.can_mark(have.body) and changes[-1].action == "update":
            warnings.append(
                f"{_label(have)}: adopted, but {kind}s cannot carry an ownership marker; later "
                "plans treat it as o2kit's only while an o2kit-managed object uses it"
            )

    # Live objects that are not in the code.
    candidates: list[Resource] = []
    for (kind, key), found in groups.items():
        if (kind, key) in wanted:
            continue
        for res in found:
            if _ident(res) not in owned:
                changes.append(Change("noop", kind, key, live=res, reason=UNMANAGED))
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

    order = {k: i for i, k in enumerate(KINDS)}
    changes.sort(
        key=lambda c: (order[c.kind], c.key, c.action, str(c.live.server_id) if c.live else "")
    )
    return Plan(changes=tuple(changes), warnings=tuple(warnings), org=org, env=env)


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
    (the server would refuse them anyway: 409/400). Referrers come later in ``KINDS`` than what
    they use, so deciding in reverse kind order settles every referrer first."""
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
    order = {k: i for i, k in enumerate(KINDS)}
    for res in sorted(candidates, key=lambda r: -order[r.kind]):
        still_used = [u for u in users.get((res.kind, res.key), []) if u not in leaving]
        if still_used:
            leaving.discard(_ident(res))
            out.append(Change("noop", res.kind, res.key, live=res, reason=STILL_USED))
        else:
            out.append(Change("delete", res.kind, res.key, live=res))
    return out


# ---------------------------------------------------------------------------------------------
# checksum


def _digest(value: Any) -> str:
    return hashlib.sha256(kinds.canonical_json(value).encode("utf-8")).hexdigest()


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
        if c.live is not None:
            entry["live"] = {
                "id": c.live.server_id,
                "hash": c.live.meta.get("hash"),
                "body": _digest(spec.normalize(c.live.body)),
            }
        if c.desired is not None:
            entry["desired"] = _digest(spec.normalize(spec.complete(c.desired)))
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
    return _digest(doc)


# ---------------------------------------------------------------------------------------------
# delete guard


def delete_guard(plan: Plan, live: Sequence[Resource], max_fraction: float = 0.3) -> list[str]:
    """One message per kind whose deletes exceed ``max_fraction`` of the live objects of that kind
    o2kit manages (apply then needs ``--force``). Replaces are not counted: they recreate."""
    owned = managed_set([r for r in live if not kinds.is_system(r.kind, r.body)])
    managed_per_kind: dict[str, int] = defaultdict(int)
    for kind, _key, _id in owned:
        managed_per_kind[kind] += 1
    deletes: dict[str, int] = defaultdict(int)
    for c in plan.of("delete"):
        deletes[c.kind] += 1
    messages = []
    for kind in KINDS:
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
