"""OpenObserve's SQL functions, re-implemented as DataFusion Python UDFs for ``o2kit.query.engine``.

The DataFusion Python package ships DataFusion's built-ins (``date_bin``, ``split_part``,
``approx_percentile_cont`` in both forms, ``percentile_cont`` …) but neither OpenObserve's own
functions nor the ``datafusion-functions-json`` family OpenObserve registers next to them
(``src/search/src/datafusion/exec.rs`` ``register_builtin_udfs`` and
``datafusion_functions_json::register_all``). This module supplies the ones o2kit's templates use,
with the behaviour read from the OpenObserve source (each function cites its file). Nothing here is
copied from OpenObserve; it is the same behaviour written in Python.

Python UDFs have one exact signature each, while the JSON functions are variadic
(``json_get_int(body, 'metrics', 'latencyMs')``). The engine therefore rewrites every call of a
variadic JSON function to an arity-suffixed name (``json_get_int__3``) registered here for
1..``MAX_JSON_PATH`` path elements; see ``variadic_name``.
"""

from __future__ import annotations

import io
import json
import math
import re
from collections.abc import Callable, Sequence
from functools import lru_cache
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pa_json
from datafusion import Accumulator, AggregateUDF, ScalarUDF, SessionContext, udaf, udf

# Longest JSON path (number of keys after the JSON argument) we register a UDF for.
MAX_JSON_PATH = 8

# The variadic json_* functions and their Arrow result type.
JSON_FUNCTIONS: dict[str, pa.DataType] = {
    "json_get_int": pa.int64(),
    "json_get_float": pa.float64(),
    "json_get_str": pa.string(),
    "json_get_bool": pa.bool_(),
    "json_get_json": pa.string(),
    "json_as_text": pa.string(),
    "json_contains": pa.bool_(),
    "json_length": pa.int64(),
}


def variadic_name(function: str, path_len: int) -> str:
    """Internal name of the UDF that serves ``function`` with ``path_len`` path elements."""
    return f"{function}__{path_len}"


# --------------------------------------------------------------------------------------------
# String matching: src/search/src/datafusion/udf/str_match_udf.rs
# str_match(field, 'v') is a plain substring test, case-sensitive; match_field is its alias.
# The ignore-case variant lower-cases the needle with ASCII rules and the haystack with Unicode
# rules, then tests for a substring. A NULL field gives NULL (the row is filtered out).
# --------------------------------------------------------------------------------------------


def _scalar_text(array: pa.Array, what: str) -> str:
    """The constant string argument of a row-wise call (OpenObserve requires a literal)."""
    if len(array) == 0:
        return ""
    value = array[0].as_py()
    if value is None:
        raise ValueError(f"Invalid argument types[{what}]: the second argument must not be NULL")
    return str(value)


def _str_match(haystack: pa.Array, needle: pa.Array) -> pa.Array:
    word = _scalar_text(needle, "needle")
    return pa.array([None if h is None else word in h for h in haystack.to_pylist()], pa.bool_())


def _str_match_ignore_case(haystack: pa.Array, needle: pa.Array) -> pa.Array:
    word = _ascii_lower(_scalar_text(needle, "needle"))
    return pa.array(
        [None if h is None else word in h.lower() for h in haystack.to_pylist()], pa.bool_()
    )


def _ascii_lower(text: str) -> str:
    return "".join(c.lower() if c.isascii() else c for c in text)


# --------------------------------------------------------------------------------------------
# Regular expressions: src/search/src/datafusion/udf/regexp_udf.rs
# re_match(field, 're') is an unanchored search (Rust ``Regex::is_match``); re_not_match its
# negation. NULL fields stay NULL. Python's ``re`` is close to Rust's ``regex`` for the patterns
# dashboards use; look-around is accepted here although Rust's regex would refuse it.
# --------------------------------------------------------------------------------------------


@lru_cache(maxsize=256)
def _compile(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


def _regex(matches: bool) -> Callable[[pa.Array, pa.Array], pa.Array]:
    def run(field: pa.Array, pattern: pa.Array) -> pa.Array:
        regex = _compile(_scalar_text(pattern, "pattern"))
        return pa.array(
            [None if v is None else (regex.search(v) is not None) == matches
             for v in field.to_pylist()],
            pa.bool_(),
        )

    return run


# --------------------------------------------------------------------------------------------
# spath: src/search/src/datafusion/udf/spath_udf.rs
# spath(field, 'a.b') parses the field as JSON and walks object keys split on '.', returning the
# value as text (strings bare, numbers via Rust's f64 Display, anything else as compact JSON);
# NULL when the text is not JSON, a step is not an object, or a key is missing.
# --------------------------------------------------------------------------------------------


def _number_text(value: float) -> str:
    """Rust's ``f64`` Display, which OpenObserve uses for numbers (``1432.0`` → ``1432``)."""
    if math.isfinite(value) and value == int(value) and abs(value) < 1e17:
        return str(int(value))
    return repr(value)


def _stringify(value: Any) -> str:
    # src/search/src/datafusion/udf/mod.rs stringify_json_value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return _number_text(float(value))
    if isinstance(value, str):
        return value
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _spath(field: pa.Array, path: pa.Array) -> pa.Array:
    out: list[str | None] = []
    for text, route in zip(field.to_pylist(), path.to_pylist(), strict=True):
        if text is None or route is None:
            out.append(None)
            continue
        try:
            node = json.loads(text)
        except ValueError:
            out.append(None)
            continue
        for key in route.split("."):
            if isinstance(node, dict) and key in node:
                node = node[key]
            else:
                out.append(None)
                break
        else:
            out.append(_stringify(node))
    return pa.array(out, pa.string())


# --------------------------------------------------------------------------------------------
# The json_* family: the datafusion-functions-json crate (OpenObserve pins a fork of it in
# Cargo.toml, ``datafusion-functions-json``; registered in src/search/src/datafusion/exec.rs).
# json_get_int(json, k1, k2, ...) walks object keys (strings) or array indexes (integers) and
# returns the value only when it has the asked type; anything else — missing key, wrong type,
# invalid JSON, NULL input — is NULL. Upstream quirks kept: json_get_int refuses floats and
# big integers; json_get_float accepts ints; both refuse negative numbers (the crate rejects a
# leading '-'); json_get_str returns only JSON strings; json_as_text returns strings bare and
# any other value as JSON text.
# Limitation: a path element given as an integer literal arrives here as text (DataFusion coerces
# it to the Utf8 signature), so a numeric string key is also tried as an array index.
# --------------------------------------------------------------------------------------------

_MISSING = object()
_MEMO_LIMIT = 20_000  # a little over two 8,192-row batches
_MEMOS: list[dict[Any, Any]] = []


def clear_memos() -> None:
    """Forget remembered JSON answers (the engine calls this around every query)."""
    for memo in _MEMOS:
        memo.clear()


def _walk(text: str | None, path: Sequence[str | None]) -> Any:
    if text is None:
        return _MISSING
    try:
        node = json.loads(text)
    except ValueError:
        return _MISSING
    for key in path:
        if key is None:
            return _MISSING
        if isinstance(node, dict):
            if key not in node:
                return _MISSING
            node = node[key]
        elif isinstance(node, list) and key.lstrip("-").isdigit():
            index = int(key)
            if not -len(node) <= index < len(node):
                return _MISSING
            node = node[index]
        else:
            return _MISSING
    return node


def _as_int(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    if value < 0 or value >= 2**63:
        return None
    return value


def _as_float(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if value < 0:
        return None
    return float(value)


def _as_str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _as_bool(value: Any) -> bool | None:
    return value if isinstance(value, bool) else None


def _as_json(value: Any) -> str | None:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _as_text(value: Any) -> str | None:
    return value if isinstance(value, str) else _as_json(value)


def _length(value: Any) -> int | None:
    return len(value) if isinstance(value, dict | list) else None


_JSON_EXTRACTORS: dict[str, Callable[[Any], Any]] = {
    "json_get_int": _as_int,
    "json_get_float": _as_float,
    "json_get_str": _as_str,
    "json_get_bool": _as_bool,
    "json_get_json": _as_json,
    "json_as_text": _as_text,
    "json_length": _length,
}


def _json_function(name: str) -> Callable[..., pa.Array]:
    result_type = JSON_FUNCTIONS[name]
    if name == "json_contains":
        def contains(document: pa.Array, *path: pa.Array) -> pa.Array:
            keys = _constant_path(path, len(document))
            return pa.array(
                [None if doc is None else _walk(doc, k) is not _MISSING
                 for doc, k in zip(document.to_pylist(), keys, strict=True)],
                result_type,
            )

        return contains

    extract = _JSON_EXTRACTORS[name]
    # DataFusion evaluates a call in WHERE and again in SELECT on the same batch (the §6.3 latency
    # query does); remembering the last few thousand answers halves the parsing. Cleared when
    # full rather than LRU, to stay cheap; dict operations are atomic under the GIL.
    memo: dict[tuple[str, tuple[str | None, ...]], Any] = {}
    _MEMOS.append(memo)

    def run(document: pa.Array, *path: pa.Array) -> pa.Array:
        keys = _constant_path(path, len(document))
        if name in _ARROW_NUMBERS and keys and all(k is keys[0] for k in keys):
            fast = _arrow_number(document, keys[0], _ARROW_NUMBERS[name])
            if fast is not None:
                return fast
        if len(memo) > _MEMO_LIMIT:
            memo.clear()
        out: list[Any] = []
        for doc, k in zip(document.to_pylist(), keys, strict=True):
            if doc is None:
                out.append(None)
                continue
            key = (doc, tuple(k))
            if key in memo:
                out.append(memo[key])
                continue
            node = _walk(doc, k)
            value = None if node is _MISSING else extract(node)
            memo[key] = value
            out.append(value)
        return pa.array(out, result_type)

    return run


# The numeric getters have a fast path: Arrow's C++ JSON reader with an explicit schema for just
# the asked path. It is taken only when its answer is certainly the same as the row-by-row one:
# plain object keys, one document per line, and a reader that accepted every row (a float where
# an int is asked, a string, an array, invalid JSON… make it fail, and we fall back).
_ARROW_NUMBERS = {"json_get_int": pa.int64(), "json_get_float": pa.float64()}


def _arrow_number(document: pa.Array, path: Sequence[str | None],
                  kind: pa.DataType) -> pa.Array | None:
    if not path or any(k is None or k.lstrip("-").isdigit() for k in path):
        return None
    filled = pc.fill_null(document, "{}")
    if len(filled) == 0 or pc.any(pc.match_substring_regex(filled, r"[\r\n]")).as_py():
        return None
    field: pa.DataType = kind
    for key in reversed(path[1:]):
        field = pa.struct([pa.field(key, field)])
    schema = pa.schema([pa.field(path[0], field)])
    text = "\n".join(filled.to_pylist()).encode()
    try:
        table = pa_json.read_json(
            io.BytesIO(text),
            parse_options=pa_json.ParseOptions(explicit_schema=schema,
                                               unexpected_field_behavior="ignore"),
        )
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None
    if table.num_rows != len(document):
        return None
    values = table.column(0).combine_chunks()
    for key in path[1:]:
        values = pc.struct_field(values, [key])
    # The crate refuses a leading '-' (see above).
    return pc.if_else(pc.less(values, 0), pa.scalar(None, kind), values)


def _constant_path(path: Sequence[pa.Array], rows: int) -> list[Sequence[str | None]]:
    """Per-row key lists; computed once when every path element is the same on every row."""
    columns = [p.to_pylist() for p in path]
    if all(len(set(c)) <= 1 for c in columns):
        first = [c[0] if c else None for c in columns]
        return [first] * rows
    return [list(keys) for keys in zip(*columns, strict=True)] if columns else [[]] * rows


# --------------------------------------------------------------------------------------------
# summary_percentile(value, count, p): src/search/src/datafusion/udaf/summary_percentile.rs
# A weighted percentile over (value, count) pairs: sort the pairs by value, take running sums of
# the counts, and answer the first value whose running sum reaches p × total count. NULL values
# and counts count as 0; no rows gives NULL; p must be a constant within [0, 1]. The count must
# be Int64 (write CAST(x AS BIGINT)). We register it for a Float64 value (DataFusion coerces
# integer values), so the result is Float64 where OpenObserve would keep an integer value type.
# --------------------------------------------------------------------------------------------


class SummaryPercentile(Accumulator):
    """Accumulator keeping every (value, count) pair, like the OpenObserve original."""

    def __init__(self) -> None:
        self._values: list[float] = []
        self._counts: list[int] = []
        self._percentile: float | None = None

    def update(self, *arrays: pa.Array) -> None:
        values, counts, percentile = arrays
        if len(percentile) and self._percentile is None:
            p = percentile[0].as_py()
            if p is None or not 0.0 <= float(p) <= 1.0:
                raise ValueError(
                    f"Percentile value must be between 0.0 and 1.0 inclusive, {p} is invalid"
                )
            self._percentile = float(p)
        self._values.extend(0.0 if v is None else float(v) for v in values.to_pylist())
        self._counts.extend(0 if c is None else int(c) for c in counts.to_pylist())

    def merge(self, states: list[pa.Array]) -> None:
        values, counts, percentiles = states
        for vs, cs, p in zip(
            values.to_pylist(), counts.to_pylist(), percentiles.to_pylist(), strict=True
        ):
            self._values.extend(vs or [])
            self._counts.extend(cs or [])
            if p is not None and self._percentile is None:
                self._percentile = float(p)

    def state(self) -> list[pa.Scalar]:
        return [
            pa.scalar(self._values, pa.list_(pa.float64())),
            pa.scalar(self._counts, pa.list_(pa.int64())),
            pa.scalar(self._percentile, pa.float64()),
        ]

    def evaluate(self) -> pa.Scalar:
        if not self._values:
            return pa.scalar(None, pa.float64())
        return pa.scalar(
            weighted_percentile(self._values, self._counts, self._percentile or 0.0), pa.float64()
        )


def weighted_percentile(values: Sequence[float], counts: Sequence[int], p: float) -> float:
    """The value at which the running count first reaches ``p`` × total (values sorted)."""
    pairs = sorted(zip(values, counts, strict=True), key=lambda pair: pair[0])
    target = p * sum(c for _, c in pairs)
    running = 0
    for value, count in pairs:
        running += count
        if running >= target:
            return value
    return pairs[-1][0]


# --------------------------------------------------------------------------------------------
# Registration
# --------------------------------------------------------------------------------------------


def _scalar_udfs() -> list[ScalarUDF]:
    text, boolean = pa.string(), pa.bool_()
    udfs = [
        udf(_str_match, [text, text], boolean, "immutable", name="str_match"),
        udf(_str_match, [text, text], boolean, "immutable", name="match_field"),
        udf(_str_match_ignore_case, [text, text], boolean, "immutable",
            name="str_match_ignore_case"),
        udf(_str_match_ignore_case, [text, text], boolean, "immutable",
            name="match_field_ignore_case"),
        udf(_regex(True), [text, text], boolean, "immutable", name="re_match"),
        udf(_regex(False), [text, text], boolean, "immutable", name="re_not_match"),
        udf(_spath, [text, text], text, "immutable", name="spath"),
    ]
    for function, result in JSON_FUNCTIONS.items():
        implementation = _json_function(function)
        for path_len in range(0, MAX_JSON_PATH + 1):
            udfs.append(
                udf(implementation, [text] * (path_len + 1), result, "immutable",
                    name=variadic_name(function, path_len))
            )
    return udfs


def _aggregate_udfs() -> list[AggregateUDF]:
    return [
        udaf(
            SummaryPercentile,
            [pa.float64(), pa.int64(), pa.float64()],
            pa.float64(),
            [pa.list_(pa.float64()), pa.list_(pa.int64()), pa.float64()],
            "immutable",
            name="summary_percentile",
        )
    ]


def register_all(ctx: SessionContext) -> None:
    """Register every OpenObserve function this module implements on ``ctx``."""
    for scalar in _scalar_udfs():
        ctx.register_udf(scalar)
    for aggregate in _aggregate_udfs():
        ctx.register_udaf(aggregate)
