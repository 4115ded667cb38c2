"""Writing ingested rows into a stream: name formatting, schema evolution, Arrow tables.

What OpenObserve does with the rows of one ingestion request for one stream, reimplemented from
the source (commit fbab9b80):

* the stream name goes through ``format_stream_name`` (``src/config/src/utils/schema.rs``): every
  run of characters outside ``[A-Za-z0-9_:]`` becomes one ``_``, then ASCII capitals are
  lower-cased (``ZO_FORMAT_STREAM_NAME_TO_LOWERCASE`` defaults to true);
* the batch's schema is inferred from its JSON values (``infer_json_schema_from_map`` and
  ``convert_data_type``, same file): string → Utf8, integer → Int64 (UInt64 above ``i64::MAX``),
  other number → Float64, boolean → Boolean, ``null`` → no column. Within a batch a conflict
  widens: Int64 + Float64 → Float64, numbers + string → Utf8, Boolean + anything → the other;
  Utf8 never narrows. ``_timestamp`` is always Int64 and the fields are sorted by name
  (``fix_schema``);
* the inferred schema is merged into the stored one (``get_merge_schema_changes`` in
  ``src/infra/src/schema/mod.rs``): new fields are added and the merged list is sorted by name
  again; a field whose inferred type differs takes the new type when the change is a widening
  (``is_widening_conversion``: Boolean → anything, Int64 → UInt64/Float64/Utf8, Float64 → Utf8),
  otherwise the stored type stays and the incoming values are cast to it (``zo_cast``,
  ``cast_to_type`` in ``src/core/src/logs/mod.rs``: to Utf8 by their JSON text, to numbers by
  parsing strings, booleans as 1/0). A value that cannot be cast fails *that record only*: it is
  not written, the request still succeeds (the ingestion status counts it as failed).

Where the server decodes JSON into Arrow columns we make these choices (documented, not taken
from the source): a value of another kind than its column (an integer in a Utf8 column after the
batch widened, a boolean in a Float64 column) is converted the way ``cast_to_type`` would convert
it (JSON text; 1/0); one with no conversion (text in a number column) is stored as NULL. Rows
written before a widening keep their old values and are cast to the new column type when read,
as the querier casts old Parquet files to the latest schema.

Each stream keeps its rows (for inspection) and one Arrow chunk per write; :func:`stream_table`
concatenates the chunks, cast to the current schema, and caches the result until the next write
(``Stream.generation`` says when).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from .firehose import ryu_text
from .state import Store, Stream
from .streams import default_settings

TIMESTAMP_COL = "_timestamp"
_STREAM_NAME_OTHER = re.compile(r"[^a-zA-Z0-9_:]+")
_I64_MIN, _I64_MAX, _U64_MAX = -(2**63), 2**63 - 1, 2**64 - 1

ARROW_TYPES: dict[str, pa.DataType] = {
    "Utf8": pa.string(), "LargeUtf8": pa.large_string(), "Int64": pa.int64(),
    "Int32": pa.int32(), "UInt64": pa.uint64(), "Float64": pa.float64(),
    "Float32": pa.float32(), "Boolean": pa.bool_(),
}
_STRINGS = {"Utf8", "LargeUtf8"}
_SIGNED = {"Int64", "Int32"}
_FLOATS = {"Float64", "Float32"}

# is_widening_conversion (src/infra/src/schema/mod.rs), for the types a stream can hold here.
_WIDENS_TO: dict[str, frozenset[str]] = {
    "Boolean": frozenset({"Utf8", "LargeUtf8", "Int32", "Int64", "Float32", "Float64"}),
    "Int32": frozenset({"Utf8", "LargeUtf8", "Int64", "UInt64", "Float32", "Float64"}),
    "Int64": frozenset({"Utf8", "LargeUtf8", "UInt64", "Float64"}),
    "UInt64": frozenset({"Utf8", "LargeUtf8"}),
    "Float32": frozenset({"Utf8", "LargeUtf8", "Float64"}),
    "Float64": frozenset({"Utf8", "LargeUtf8"}),
    "Utf8": frozenset({"LargeUtf8"}),
    "LargeUtf8": frozenset({"LargeUtf8"}),
}


def format_stream_name(name: str) -> str:
    """The name OpenObserve stores a stream under (``format_stream_name``)."""
    # Only ASCII letters survive the substitution, so lower() only touches ASCII capitals.
    return _STREAM_NAME_OTHER.sub("_", name).lower()


def value_type(value: Any) -> str | None:
    """The Arrow type ``infer_json_schema_from_object`` gives one JSON value; None for null."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "Boolean"
    if isinstance(value, int):
        if _I64_MIN <= value <= _I64_MAX:
            return "Int64"
        return "UInt64" if 0 <= value <= _U64_MAX else "Utf8"
    if isinstance(value, float):
        return "Float64"
    return "Utf8"  # strings (and anything flattening left as text)


def _combine(current: str, incoming: str) -> str:
    """``convert_data_type``: the type a batch column ends with when two kinds meet."""
    if current == incoming or current in _STRINGS:
        return current
    if current == "Boolean":
        return incoming
    if current == "Float64":
        return incoming if incoming in _STRINGS else current
    if current == "Int64":
        return incoming if incoming in ("UInt64", "Float64", "Utf8", "LargeUtf8") else current
    if current == "UInt64":
        return incoming if incoming in ("Float64", "Utf8", "LargeUtf8") else current
    return incoming


def infer_schema(rows: Iterable[Mapping[str, Any]]) -> dict[str, str]:
    """The batch schema: field → Arrow type name, sorted by name, ``_timestamp`` Int64."""
    fields: dict[str, str] = {}
    for row in rows:
        for key, value in row.items():
            kind = value_type(value)
            if kind is None:
                continue
            known = fields.get(key)
            fields[key] = kind if known is None else _combine(known, kind)
    if TIMESTAMP_COL in fields:
        fields[TIMESTAMP_COL] = "Int64"
    return dict(sorted(fields.items()))


@dataclass(frozen=True)
class SchemaMerge:
    fields: dict[str, str]  # the stream's schema after this batch
    casts: dict[str, str]  # field → stored type the incoming values must be cast to
    changed: bool


def merge_schema(stored: Mapping[str, str], inferred: Mapping[str, str]) -> SchemaMerge:
    """``get_merge_schema_changes``: add new fields, widen where allowed, else cast to stored."""
    merged = dict(stored)
    casts: dict[str, str] = {}
    changed = False
    for name, kind in inferred.items():
        old = merged.get(name)
        if old is None:
            merged[name] = kind
            changed = True
        elif old != kind:
            if kind in _WIDENS_TO.get(old, frozenset({"Utf8"})):
                merged[name] = kind
                changed = True
            else:
                casts[name] = old
    if changed:
        merged = dict(sorted(merged.items()))
    return SchemaMerge(merged, casts, changed)


class _CastFailed(Exception):
    pass


def json_text(value: Any) -> str:
    """``get_string_value``: a JSON value as text (numbers as serde prints them)."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return ryu_text(value)
    if isinstance(value, int):
        return str(value)
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def cast_value(value: Any, kind: str) -> Any:
    """``cast_to_type`` for one value; raises :class:`_CastFailed` like its parse errors."""
    if value is None:
        return None
    if kind in _STRINGS:
        return json_text(value)
    if kind in _SIGNED or kind == "UInt64":
        if isinstance(value, bool):
            return 1 if value else 0
        if isinstance(value, int | float):
            return value
        # Rust's str::parse::<i64>: optional sign, ASCII digits, nothing else.
        text = value if isinstance(value, str) else ""
        number = int(text) if re.fullmatch(r"[+-]?[0-9]+", text) else None
        low = 0 if kind == "UInt64" else _I64_MIN
        high = _U64_MAX if kind == "UInt64" else _I64_MAX
        if number is None or not low <= number <= high:
            raise _CastFailed(f"Failed to cast to type {kind}")
        return number
    if kind in _FLOATS:
        if isinstance(value, bool):
            return 1.0 if value else 0.0
        if isinstance(value, int | float):
            return value
        try:
            return float(value)
        except (TypeError, ValueError):
            raise _CastFailed(f"Failed to cast to type {kind}") from None
    if kind == "Boolean":
        if isinstance(value, bool):
            return value
        if isinstance(value, int | float):
            return value > 0
        if value in ("true", "false"):
            return value == "true"
        raise _CastFailed(f"Failed to cast to type {kind}")
    return value


def _column_value(value: Any, kind: str) -> Any:
    """A value as its Arrow column holds it (see the module docstring for the choices)."""
    if value is None:
        return None
    if kind in _STRINGS:
        return json_text(value)
    if isinstance(value, bool) and kind != "Boolean":
        value = int(value)  # as cast_to_type reads a boolean as a number (1/0)
    if kind in _SIGNED:
        return value if isinstance(value, int) and _I64_MIN <= value <= _I64_MAX else None
    if kind == "UInt64":
        return value if isinstance(value, int) and 0 <= value <= _U64_MAX else None
    if kind in _FLOATS:
        return float(value) if isinstance(value, int | float) and math.isfinite(value) else None
    return None


_KIND_OF_ARROW: dict[pa.DataType, str] = {
    pa.int64(): "Int64", pa.uint64(): "UInt64", pa.float64(): "Float64", pa.bool_(): "Boolean",
    pa.string(): "Utf8",
}


def batch_columns(rows: list[dict[str, Any]]) -> tuple[dict[str, str], dict[str, pa.Array]]:
    """Infer the batch schema and build its columns in one pass over the keys.

    Arrow's own inference agrees with ``convert_data_type`` whenever a column holds one kind of
    value (or ints and floats: Float64), which is the common case and runs in C. A column Arrow
    refuses (strings mixed with numbers, ...) is inferred value by value with
    :func:`infer_schema`'s rules and built from converted values.
    """
    names = dict.fromkeys(k for row in rows for k in row)
    kinds: dict[str, str] = {}
    arrays: dict[str, pa.Array] = {}
    for name in names:
        values = [row.get(name) for row in rows]
        array: pa.Array | None
        try:
            array = pa.array(values)
            kind = _KIND_OF_ARROW.get(array.type)
        except (pa.ArrowException, OverflowError, TypeError, ValueError):
            array, kind = None, None
        if array is not None and array.type == pa.null():
            continue  # only nulls: no column (fix_schema drops Null fields)
        if kind is None:
            kind = infer_schema({name: v} for v in values).get(name)
            if kind is None:
                continue
            array = pa.array([_column_value(v, kind) for v in values], ARROW_TYPES[kind])
        assert array is not None
        if name == TIMESTAMP_COL and kind != "Int64":
            kind = "Int64"  # fix_schema; finalize_row always writes an integer here
            array = pa.array([_column_value(v, kind) for v in values], pa.int64())
        kinds[name] = kind
        arrays[name] = array
    return dict(sorted(kinds.items())), arrays


def _cast_column(column: pa.ChunkedArray, target: pa.DataType) -> pa.ChunkedArray:
    """Old values read under a newer column type, as the querier casts old files."""
    source = column.type
    kind = _KIND_OF_ARROW.get(target) or next(
        (k for k, t in ARROW_TYPES.items() if t == target), "Utf8")
    if not (pa.types.is_floating(source) and kind in _STRINGS):
        try:
            return column.cast(target)
        except (pa.ArrowException, OverflowError):
            pass
    # JSON number text for floats (1.0 stays "1.0"), NULL where no conversion exists.
    return pa.chunked_array([pa.array([_column_value(v, kind) for v in column.to_pylist()],
                                      target)])


def _conform(table: pa.Table, schema: pa.Schema) -> pa.Table:
    columns = []
    for field in schema:
        if field.name in table.column_names:
            column = table.column(field.name)
            columns.append(column if column.type == field.type
                           else _cast_column(column, field.type))
        else:
            columns.append(pa.nulls(table.num_rows, field.type))
    return pa.Table.from_arrays(columns, schema=schema)


@dataclass(frozen=True)
class WriteResult:
    stream: str  # the stored (formatted) name
    written: int
    failed: int


def write_rows(store: Store, org: str, stream_name: str, rows: list[dict[str, Any]],
               stream_type: str = "logs") -> WriteResult:
    """Store one request's rows in ``org``'s stream, evolving its schema as the server does."""
    name = format_stream_name(stream_name)
    if not rows:
        return WriteResult(name, 0, 0)
    stream = store.stream(org, stream_type, name)
    if stream is None:
        stream = Stream(org, name, stream_type, {}, default_settings(), store.now_micros())
        store.streams[(org, stream_type, name)] = stream
    inferred, arrays = batch_columns(rows)
    merge = merge_schema(stream.fields, inferred)
    kept = rows
    if merge.casts:
        # zo_cast: values of a field whose stored type stays are cast to it; a record with a
        # value that cannot be cast is not written.
        kept = []
        for row in rows:
            try:
                kept.append({**row, **{k: cast_value(row[k], t)
                                       for k, t in merge.casts.items() if k in row}})
            except _CastFailed:
                continue
        if kept:
            _, arrays = batch_columns(kept)
    stream.fields = merge.fields
    if kept:
        chunk = pa.table(arrays)
        stream.rows.extend(kept)
        # The stats' original size: here the Arrow size of the rows, close enough for a fake.
        stream.stored_bytes += chunk.nbytes
        stream.chunks.append(chunk)
        if TIMESTAMP_COL in arrays:
            bounds = pc.min_max(arrays[TIMESTAMP_COL]).as_py()
            if bounds["min"] is not None:
                low, high = bounds["min"], bounds["max"]
                stream.doc_time_min = (low if not stream.doc_time_min
                                       else min(low, stream.doc_time_min))
                stream.doc_time_max = max(high, stream.doc_time_max)
    stream.generation += 1
    return WriteResult(name, len(kept), len(rows) - len(kept))


def stream_table(stream: Stream) -> pa.Table:
    """All of the stream's rows as one Arrow table with its current schema (cached)."""
    cached = stream.table_cache
    if cached is not None and cached[0] == stream.generation:
        return cached[1]
    schema = pa.schema([pa.field(n, ARROW_TYPES.get(t, pa.string()))
                        for n, t in stream.fields.items()])
    if TIMESTAMP_COL not in stream.fields:
        schema = schema.append(pa.field(TIMESTAMP_COL, pa.int64()))
    if stream.chunks:
        table = pa.concat_tables([_conform(c, schema) for c in stream.chunks]).combine_chunks()
    else:
        table = schema.empty_table()
    stream.table_cache = (stream.generation, table)
    return table
