"""SLOs: ``/api/{org}/slos`` and the SLO side of SLO alerts.

Sources (OpenObserve commit fbab9b80):

* routes: ``src/api/http/src/handler/http/router/mod.rs`` (not enterprise-gated);
* handlers, messages, status mapping: ``src/api/management/src/request/slos/mod.rs``
  (``create_slo`` keeps a non-empty ``id`` and generates one otherwise, defaults ``folder_id`` to
  ``default`` and ``owner`` to the caller, refuses an empty or >256-byte name on create only;
  ``update_slo`` takes ``org`` and ``id`` from the path; ``save_error``: validation 400, budget
  413 — sent as HTTP 200 with ``"code": 413``, because ``HttpResponse::into_response``
  (``src/common/src/meta/http.rs``) maps unknown codes to 200 — not found 404, duplicate 409);
* model: ``src/config/src/meta/slo/mod.rs`` (``Slo``, adjacently tagged ``SliConfig`` /
  ``CountSource``), ``validate_slo`` and ``validate_query_safety`` in their order;
* service: ``src/core/src/slo/service.rs`` (validate → folder → budget → unique name;
  ``delete`` deletes every alert whose ``slo_condition.slo_id`` is the SLO);
* storage: ``src/infra/src/table/slos.rs`` (empty ``group_by``/``tags``/``description`` stored
  as NULL and read back absent / ``[]`` / ``""``; ``definition_generation`` bumped when the
  definition changes);
* SLO alerts: ``src/config/src/meta/slo/condition.rs`` ``validate_slo_alert`` (wired in
  ``src/core/src/alerts/alert.rs`` ``validate_slo_alert_wiring``).

Approximated: the query-safety rules parse predicates with a tokenizer of their own (statement
separators, subqueries, functions outside the allowlist, a boolean shape), not sqlparser; the
org budget counts SLOs (``store.objects["slo_budget"][(org, "max_slos")]``, unset = unlimited)
instead of slice rows. Not modelled: ``/slos/move``, ``/slos/{id}/groups``, the status view
(always ``null``), alert SLIs' source facts, PromQL parsing.
"""

from __future__ import annotations

import copy
import math
import re
from typing import Any

from .http import (
    Request,
    Response,
    error,
    json_response,
    message,
    parse_bool,
    query_error,
    read_json,
    shape_error,
)
from .serde import (
    F64,
    Bool,
    Field,
    Int,
    SerdeError,
    Str,
    Struct,
    Value,
    Vec,
    opt,
)
from .state import DEFAULT_FOLDER, Store

KIND = "slo"

SLO_FIELDS = Struct("Slo", [
    Field("id", Str(), default=""),
    Field("org", Str(), default=""),
    Field("folder_id", Str(), default=""),
    Field("name", Str()),
    Field("description", Str(), default=""),
    Field("sli_type", Str()),
    Field("config", Value()),
    opt("group_by", Vec(Str())),
    Field("window_secs", Int()),
    Field("slice_interval_secs", Int()),
    Field("target", F64()),
    Field("tags", Vec(Str()), default=list),
    Field("enabled", Bool(), default=False),
    opt("owner", Str()),
    Field("definition_generation", Int("i32"), default=0),
    opt("groups_estimate", Int()),
    Field("groups_reserved", Int(), default=0),
])
_DEFINITION = ("sli_type", "config", "group_by", "window_secs", "slice_interval_secs")


def _d(value: Any) -> dict[str, Any]:
    """``value`` when it is an object, else an empty one."""
    return value if isinstance(value, dict) else {}

WINDOWS = (604_800, 2_592_000, 7_776_000)
ALLOWLIST = {"lower", "upper", "trim", "length", "abs", "round", "floor", "ceil", "coalesce",
             "concat", "substr", "starts_with", "ends_with", "cast"}
_FUNCTION = re.compile(r"\b([A-Za-z_][A-Za-z0-9_]*)\s*\(")
_COMPARISON = re.compile(r"(<=|>=|<>|!=|=|<|>|\bIS\s+(NOT\s+)?NULL\b|\bIN\s*\(|\bBETWEEN\b|"
                         r"\bI?LIKE\b)", re.IGNORECASE)
_WORDS = {"and", "or", "not", "in", "is", "null", "like", "ilike", "between", "case", "when",
          "then", "else", "end", "as"}


class Refused(Exception):
    def __init__(self, status: int, text: str) -> None:
        super().__init__(text)
        self.status = status
        self.text = text


def _objects(store: Store) -> dict[tuple[str, str], Any]:
    return store.objects.setdefault(KIND, {})


def _predicate(field: str, fragment: Any) -> None:
    """``parse_predicate`` (mod.rs), approximated without sqlparser."""
    if not isinstance(fragment, str) or not fragment.strip():
        raise Refused(400, f"{field} must be exactly one boolean expression")
    if ";" in fragment:
        raise Refused(400, f"{field} must not contain a statement separator")
    if fragment.count("(") != fragment.count(")") or fragment.count("'") % 2:
        raise Refused(400, f"{field} could not be parsed")
    unquoted = re.sub(r"'[^']*'", "''", fragment)
    if re.search(r"\bselect\b", unquoted, re.IGNORECASE):
        raise Refused(400, f"{field} must not contain a subquery")
    for name in _FUNCTION.findall(unquoted):
        if name.lower() in _WORDS:
            continue
        if name.lower() not in ALLOWLIST:
            raise Refused(400, f"{field} uses function `{name.lower()}`, which is not allowed")
    if not _COMPARISON.search(unquoted):
        raise Refused(400, f"{field} must be exactly one boolean expression")


def _count_query(field: str, member: Any, group_by: list[str], slice_secs: int) -> None:
    """``validate_count_query``: one SELECT projecting slice_start, the groups, zo_slo_value."""
    sql = member.get("sql", "") if isinstance(member, dict) else ""
    if not re.match(r"^\s*select\b", sql, re.IGNORECASE) or ";" in sql.rstrip().rstrip(";"):
        raise Refused(400, f"{field} must be a single SELECT")
    if not re.search(r"\bAS\s+zo_slo_value\b", sql, re.IGNORECASE):
        raise Refused(400, f"{field} has an invalid projection: missing a numeric "
                           "`zo_slo_value` column")
    literal = {60: "1 minute", 300: "5 minute"}.get(slice_secs, f"{slice_secs} second")
    m = re.search(r"histogram\s*\(\s*_timestamp\s*,\s*'([^']*)'\s*\)\s+AS\s+slice_start", sql,
                  re.IGNORECASE)
    if m is None:
        raise Refused(400, f"{field} has an invalid projection: `slice_start` must be "
                           "histogram(_timestamp, '<interval>')")
    if m.group(1).strip().lower() != literal:
        raise Refused(400, f"{field} has an invalid projection: histogram interval "
                           f"'{m.group(1)}' must be '{literal}'")
    group = re.search(r"\bGROUP\s+BY\s+(.+?)(\bORDER\b|\bLIMIT\b|$)", sql,
                      re.IGNORECASE | re.DOTALL)
    got = sorted(g.strip().strip('"').lower() for g in group.group(1).split(",")) if group else []
    want = sorted(["slice_start", *(g.lower() for g in group_by)])
    if got != want:
        raise Refused(400, f"{field} has an invalid projection: groups by {got}, expected "
                           f"{want}")


def validate(slo: dict[str, Any]) -> None:
    """``validate_slo`` then ``validate_query_safety`` (mod.rs), in their documented order."""
    target = slo["target"]
    if not math.isfinite(target) or target <= 0 or target >= 100:
        raise Refused(400, f"target {_num(target)} must be greater than 0 and strictly below "
                           "100 — a 100% target has a zero error budget, so every burn rate is "
                           "0 or infinite")
    if round(target * 1000) / 1000 != target:
        raise Refused(400, f"target {_num(target)} has more than 3 decimal places")
    if slo["window_secs"] not in WINDOWS:
        raise Refused(400, f"window {slo['window_secs']}s is not one of the supported rolling "
                           "windows (7d, 30d, 90d)")
    if slo["slice_interval_secs"] not in (60, 300):
        raise Refused(400, f"slice interval {slo['slice_interval_secs']}s must be 60 or 300")
    group_by = slo.get("group_by") or []
    if group_by and slo["slice_interval_secs"] != 300:
        raise Refused(400, "grouped SLOs are pinned to 300s slices; got "
                           f"{slo['slice_interval_secs']}s")
    config = _d(slo["config"])
    sli_type = slo["sli_type"]
    if sli_type not in ("count", "time_slice", "alert"):
        raise Refused(422, f"unknown variant `{sli_type}`, expected one of `count`, "
                           "`time_slice`, `alert`")
    if sli_type == "time_slice":
        if config.get("comparator") not in (">", ">=", "<", "<="):
            raise Refused(400, f"time-slice comparator `{config.get('comparator')}` has no "
                               "severity direction; use >, >=, < or <=")
        threshold = config.get("threshold")
        if not isinstance(threshold, (int, float)) or not math.isfinite(threshold):
            raise Refused(400, f"time-slice threshold {threshold} must be a finite number")
        if config.get("absent_is_bad") and group_by:
            raise Refused(400, "absent_is_bad is not yet supported on a grouped SLO: a group "
                               "absent from the whole pass cannot be gap-filled, so it would "
                               "freeze instead of reading bad; remove the grouping or turn the "
                               "flag off")
    elif sli_type == "alert":
        if group_by:
            raise Refused(400, "an alert-based SLI cannot be grouped: the availability ledger "
                               "records one run per alert, not per group, so there is no "
                               "per-group coverage to stand on; remove the grouping")
        raise Refused(400, "an alert-based SLI requires facts about its source alert")
    # query safety
    if sli_type == "count":
        source = _d(config.get("source"))
        query = _d(source.get("query"))
        mode = source.get("mode")
        if mode == "single_query":
            if query.get("scope") is not None:
                _predicate("scope", query["scope"])
            _predicate("good_expr", query.get("good_expr"))
        elif mode == "dual_query":
            _count_query("good_query", query.get("good"), group_by, slo["slice_interval_secs"])
            _count_query("total_query", query.get("total"), group_by,
                         slo["slice_interval_secs"])
        elif mode == "prom_ql":
            for side in ("good", "total"):
                if not str(query.get(side) or "").strip():
                    raise Refused(400, f"{side} must be a non-empty expression")
        else:
            raise Refused(422, f"unknown variant `{mode}`, expected one of `single_query`, "
                               "`dual_query`, `prom_ql`")
    elif sli_type == "time_slice":
        language = config.get("query_language")
        if language == "prom_ql" and config.get("stream_type") != "metrics":
            raise Refused(400, f"PromQl cannot be used against a `{config.get('stream_type')}` "
                               "stream")
        if language == "prom_ql":
            if str(config.get("scope") or "").strip():
                raise Refused(400, "scope is a SQL filter and cannot be applied to a PromQl "
                                   "query; put label matchers inside the expression instead")
        elif config.get("scope") is not None:
            _predicate("scope", config["scope"])
        if not str(config.get("query") or "").strip():
            raise Refused(400, "query must be a non-empty expression")


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(value)


def _read(req: Request) -> dict[str, Any]:
    raw = read_json(req)
    try:
        body: dict[str, Any] = SLO_FIELDS.de(raw)
    except SerdeError as err:
        raise shape_error(err) from None
    return body


def _stored(slo: dict[str, Any]) -> dict[str, Any]:
    """What a read gives back (slos.rs to_model / to_slo)."""
    out = copy.deepcopy(slo)
    if not out.get("group_by"):
        out.pop("group_by", None)
    if isinstance(out.get("config"), dict):
        config = out["config"]
        if config.get("absent_is_bad") is False:
            config.pop("absent_is_bad")
    return out


def _save(store: Store, org: str, slo: dict[str, Any], *, create: bool) -> Response | None:
    try:
        validate(slo)
    except Refused as refused:
        if refused.status == 422:
            return message(422, refused.text)
        raise error(refused.status, refused.text) from None
    folder = slo["folder_id"]
    if store.folder(org, "alerts", folder) is None:
        if folder != DEFAULT_FOLDER:
            raise error(404, f'folder "{folder}" not found')
        store.ensure_default_folder(org, "alerts")
    limit = store.objects.get("slo_budget", {}).get((org, "max_slos"))
    count = sum(1 for (o, i) in _objects(store) if o == org and i != slo["id"])
    if create and limit is not None and count >= limit:
        # SloError::Budget → 413, which HttpResponse::into_response sends as HTTP 200.
        return message(200, f"SLO row budget exceeded for org {org}: {count} SLOs reserved, "
                            f"limit {limit}", code=413)
    for (o, other_id), other in _objects(store).items():
        if (o == org and other_id != slo["id"] and other["folder_id"] == folder
                and other["name"] == slo["name"]):
            raise error(409, f'an SLO named "{slo["name"]}" already exists in this folder')
    return None


def list_slos(store: Store, req: Request) -> Response:
    org, folder = req.params["org"], req.query_map().get("folder")
    rows = [
        {**_stored(slo), "status": None}
        for (o, _i), slo in _objects(store).items()
        if o == org and (folder is None or slo["folder_id"] == folder)
    ]
    rows.sort(key=lambda s: s["name"])
    return json_response({"list": rows})


def get_slo(store: Store, req: Request) -> Response:
    slo = _objects(store).get((req.params["org"], req.params["slo_id"]))
    if slo is None:
        raise error(404, "SLO not found")
    return json_response({**_stored(slo), "status": None})


def create_slo(store: Store, req: Request) -> Response:
    org = req.params["org"]
    slo = _read(req)
    slo["org"] = org
    if not slo["id"]:
        slo["id"] = store.snowflake()
    if not slo["folder_id"]:
        slo["folder_id"] = DEFAULT_FOLDER
    if slo.get("owner") is None:
        slo["owner"] = req.user
    if not slo["name"] or len(slo["name"].encode("utf-8")) > 256:
        raise error(400, "name must be non empty and less than 256 characters")
    answer = _save(store, org, slo, create=True)
    if answer is not None:
        return answer
    if (org, slo["id"]) in _objects(store):
        raise error(409, f'an SLO named "{slo["name"]}" already exists in this folder')
    slo["groups_reserved"] = 1 if not slo.get("group_by") else 64
    slo["definition_generation"] = 1
    _objects(store)[(org, slo["id"])] = slo
    return message(200, "SLO saved", id=slo["id"], name=slo["name"])


def update_slo(store: Store, req: Request) -> Response:
    org, slo_id = req.params["org"], req.params["slo_id"]
    slo = _read(req)
    slo["org"], slo["id"] = org, slo_id
    if slo.get("owner") is None:
        slo["owner"] = req.user
    answer = _save(store, org, slo, create=False)
    if answer is not None:
        return answer
    existing = _objects(store).get((org, slo_id))
    if existing is None:
        raise error(404, "SLO not found")
    changed = any(_norm(existing.get(k)) != _norm(slo.get(k)) for k in _DEFINITION)
    slo["definition_generation"] = existing["definition_generation"] + (1 if changed else 0)
    slo["groups_reserved"] = 1 if not slo.get("group_by") else 64
    _objects(store)[(org, slo_id)] = slo
    return message(200, "SLO updated", id=slo_id, name=slo["name"])


def _norm(value: Any) -> Any:
    return None if value == [] else value


def delete_slo(store: Store, req: Request) -> Response:
    org, slo_id = req.params["org"], req.params["slo_id"]
    if (org, slo_id) not in _objects(store):
        raise error(404, "SLO not found")
    # S-12: the SLO's alerts go with it (service.rs delete, list_alerts_by_slo).
    for alert_id in [a.alert_id for a in store.alerts.values()
                     if a.org == org and slo_id_of(a.meta) == slo_id]:
        del store.alerts[alert_id]
    del _objects(store)[(org, slo_id)]
    return message(200, "SLO deleted")


def enable_slo(store: Store, req: Request) -> Response:
    query = req.query_map()
    if "value" not in query:
        raise query_error("missing field `value`")
    value = parse_bool("value", query["value"])
    slo = _objects(store).get((req.params["org"], req.params["slo_id"]))
    if slo is None:
        raise error(404, "SLO not found")
    slo["enabled"] = value
    return message(200, "SLO enabled" if value else "SLO paused")


# ---- SLO alerts (condition.rs) -------------------------------------------------------------


def slo_id_of(meta: dict[str, Any]) -> str | None:
    cond = (meta.get("query_condition") or {}).get("slo_condition")
    return str(cond.get("slo_id")) if isinstance(cond, dict) else None


def check_slo_alert(store: Store, org: str, meta: dict[str, Any]) -> None:
    """``validate_slo_alert``: the SLO exists, then ``validate`` (condition.rs) in its order,
    then the burn-window pair cap (``ZO_SLO_MAX_BURN_WINDOW_PAIRS`` = 8)."""
    cond = meta["query_condition"]["slo_condition"]
    if not isinstance(cond, dict):
        raise error(400, "an SLO alert requires an slo_condition; set query_type to something "
                         "else, or supply the condition")
    slo = _objects(store).get((org, str(cond.get("slo_id", ""))))
    if slo is None:
        raise error(400, f"SLO `{cond.get('slo_id', '')}` does not exist in this organization")
    kind = cond.get("kind")
    long_secs, short_secs = cond.get("long_window_secs"), cond.get("short_window_secs")
    if kind == "burn_rate" and (long_secs is None or short_secs is None):
        raise error(400, "burn-rate alerts require both a long and a short window")
    if kind == "error_budget" and (long_secs is not None or short_secs is not None):
        raise error(400, "error-budget alerts evaluate the SLO window and must not set burn "
                         "windows")
    if cond.get("operator") not in (">", ">="):
        raise error(400, f"operator `{cond.get('operator')}` is not supported for SLO alerts; "
                         "burn rate and budget consumption are bad when high, so use > or >=")
    critical, warning = cond.get("critical"), cond.get("warning")
    for name, value in (("critical", critical), ("warning", warning)):
        if value is None and name == "warning":
            continue
        if not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
            raise error(400, f"{name} must be a finite number greater than 0; got {value}")
    critical = float(critical or 0)  # checked above: a finite number > 0
    top = 100.0 / (100.0 - slo["target"])
    if kind == "burn_rate" and critical > top:
        raise error(400, f"critical burn rate {critical} exceeds the maximum {top:.0f} for this "
                         "target; it would require an error rate above 100% and can never fire")
    if kind == "error_budget" and critical > 100:
        raise error(400, f"error-budget threshold {critical} must be in (0, 100]")
    if isinstance(warning, (int, float)) and warning >= critical:
        raise error(400, f"warning ({warning}) must be lower than critical ({critical})")
    if long_secs is not None and short_secs is not None:
        slice_secs = slo["slice_interval_secs"]
        if not 3600 <= long_secs <= 48 * 3600:
            raise error(400, f"long window {long_secs}s must be between 1 and 48 hours")
        for window in (long_secs, short_secs):
            if window % slice_secs:
                raise error(400, f"window {window}s must be an exact multiple of the SLO's "
                                 f"{slice_secs}s slice interval")
        for name, window in (("long window", long_secs), ("short window", short_secs)):
            if window < 2 * slice_secs:
                raise error(400, f"{name} {window}s must be at least {2 * slice_secs}s (2 "
                                 "slices); a one-slice window has coverage 0 or 1, so a single "
                                 "gap freezes the alert")
        if short_secs > long_secs:
            raise error(400, f"short window {short_secs}s must not exceed the long window "
                             f"{long_secs}s")
        for window in (long_secs, short_secs):
            if window > slo["window_secs"]:
                raise error(400, f"window {window}s must fit inside the SLO's "
                                 f"{slo['window_secs']}s window")
    trigger = meta["trigger_condition"]
    if (trigger.get("threshold", 0) != 0 or trigger.get("operator", "=") != "="
            or trigger.get("warning_threshold") is not None):
        raise error(400, "SLO alerts have no count gate; leave the trigger threshold and "
                         "operator at their defaults")
    if cond.get("multi_alert"):
        if not slo.get("group_by"):
            raise error(400, "per-group alerting requires an SLO with group_by set")
        raise error(400, "per-group alerting (multi_alert) is not yet supported for SLO alerts; "
                         "alert on the rollup instead")
    if long_secs is not None and short_secs is not None:
        pairs = {
            (c.get("long_window_secs"), c.get("short_window_secs"))
            for a in store.alerts.values()
            if a.org == org and a.alert_id != meta.get("id")
            and slo_id_of(a.meta) == slo["id"]
            for c in [a.meta["query_condition"]["slo_condition"]]
            if c.get("long_window_secs") is not None
        }
        if (long_secs, short_secs) not in pairs and len(pairs) + 1 > 8:
            raise error(400, f"this SLO already has {len(pairs)} distinct burn-window pairs; the "
                             "maximum is 8")


ROUTES = [
    ("{org}/slos", {"GET": list_slos, "POST": create_slo}),
    ("{org}/slos/{slo_id}", {"GET": get_slo, "PUT": update_slo, "DELETE": delete_slo}),
    ("{org}/slos/{slo_id}/enable", {"PUT": enable_slo}),
]
