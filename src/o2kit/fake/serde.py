"""A small model of the serde rules OpenObserve's Rust request types follow.

OpenObserve reads every JSON body into a Rust struct with ``serde`` and writes back what the
struct holds. Emulating that *by rule* (instead of by example) is what lets the fake answer like
the server for bodies nobody thought of. The rules modelled here:

* a struct ignores unknown keys; a key it lacks takes the field's default, ``None`` for an
  ``Option``, or fails with ``missing field `x```;
* ``null`` is only accepted by ``Option`` fields (``#[serde(default)]`` covers *absent*, not
  ``null``);
* ``f64`` accepts integers and writes them back as floats (``0`` → ``0.0``), ``i64`` rejects
  floats (``invalid type: floating point `1.5`, expected i64``);
* ``#[serde(untagged)]`` enums try their variants in order; internally tagged enums read a tag;
* on output, ``skip_serializing_if`` omits a field, otherwise ``None`` is written as ``null``.

``Kind.de`` therefore returns the *normalised output* directly: the JSON the server would write
back for that input.

Numbers and ``arbitrary_precision``: OpenObserve builds serde_json with the
``arbitrary_precision`` feature (``/work/oo/Cargo.toml``: ``serde_json = { features =
["arbitrary_precision"] }``). Two consequences are modelled with :class:`MapNumber`:

* A value read through ``serde_json::Value`` (dashboards: ``DashboardRequestBody`` first reads a
  ``Map<String, Value>``, ``src/api/management/src/models/dashboards.rs``) keeps each number's
  text; when that text is not how Rust would print the float (``2.50``, ``1e3``), serde hands it to
  the target type as a *map*, so an ``f64`` field fails with ``invalid type: map, expected f64``.
* A body read through ``#[serde(flatten)]`` (alerts: ``CreateAlertRequestBody``,
  ``src/api/management/src/models/alerts/requests.rs``) is buffered, and *every* non-integer
  number becomes such a map (the source pins this in
  ``test_plain_option_f64_behind_flatten_still_cannot_read_a_float``).
"""

from __future__ import annotations

import copy
import datetime as _dt
import json
import math
import re
from collections.abc import Callable, Iterable, Sequence
from typing import Any

MISSING: Any = object()
NUMBER_TOKEN = "$serde_json::private::Number"  # the key serde_json uses for a number-as-map


class SerdeError(Exception):
    """A deserialisation failure, with the JSON path it happened at (innermost last)."""

    def __init__(self, message: str, path: Sequence[str | int] = ()) -> None:
        super().__init__(message)
        self.message = message
        self.path: tuple[str | int, ...] = tuple(path)

    def at(self, segment: str | int) -> SerdeError:
        return SerdeError(self.message, (segment, *self.path))

    def path_text(self) -> str:
        """The path as serde_path_to_error prints it (``a.b[0].c``), or ``""`` at the root."""
        text = ""
        for segment in self.path:
            if isinstance(segment, int):
                text += f"[{segment}]"
            else:
                text += ("." if text else "") + segment
        return text

    def __str__(self) -> str:
        where = self.path_text()
        return f"{where}: {self.message}" if where else self.message


class MapNumber:
    """A JSON number that serde hands to the target type as a map (see module docstring)."""

    __slots__ = ("text", "value")

    def __init__(self, text: str) -> None:
        self.text = text
        self.value = float(text)

    def __repr__(self) -> str:  # pragma: no cover - debugging aid
        return f"MapNumber({self.text})"


# --- parsing request bodies ------------------------------------------------------------------


def _ryu_text(value: float) -> str:
    """How Rust's ``ryu`` (serde_json's float writer) prints a finite float."""
    if value == 0:
        return "-0.0" if math.copysign(1.0, value) < 0 else "0.0"
    sign = "-" if value < 0 else ""
    digits, point = _shortest_digits(abs(value))
    kk = point  # value = 0.digits * 10**kk
    n = len(digits)
    if 0 <= kk <= 16 and n <= kk:
        return f"{sign}{digits}{'0' * (kk - n)}.0"
    if 0 < kk <= 16:
        return f"{sign}{digits[:kk]}.{digits[kk:]}"
    if -5 < kk <= 0:
        return f"{sign}0.{'0' * -kk}{digits}"
    exp = kk - 1
    body = digits[0] + ("." + digits[1:] if n > 1 else "")
    return f"{sign}{body}e{exp}"


def _display_text(value: float) -> str:
    """How Rust's ``Display`` for ``f64`` prints a float: shortest digits, never an exponent."""
    if value == 0:
        return "-0" if math.copysign(1.0, value) < 0 else "0"
    sign = "-" if value < 0 else ""
    digits, point = _shortest_digits(abs(value))
    n = len(digits)
    if point >= n:
        return f"{sign}{digits}{'0' * (point - n)}"
    if point > 0:
        return f"{sign}{digits[:point]}.{digits[point:]}"
    return f"{sign}0.{'0' * -point}{digits}"


def _shortest_digits(value: float) -> tuple[str, int]:
    """Shortest round-trip digits of a positive float and ``k`` with value = 0.DIGITS * 10**k."""
    text = repr(value)
    mantissa, _, exponent = text.partition("e")
    exp = int(exponent) if exponent else 0
    whole, _, frac = mantissa.partition(".")
    digits = (whole + frac).lstrip("0")
    lead_zeros = len(whole + frac) - len((whole + frac).lstrip("0"))
    point = len(whole) + exp - lead_zeros
    digits = digits.rstrip("0") or "0"
    return digits, point


def rust_prints_as(text: str) -> bool:
    """True when Rust would print this number's value back as exactly ``text``.

    serde_json (``arbitrary_precision``) only hands a ``Value`` number to a visitor as a float
    when its text round-trips this way; otherwise it becomes a :class:`MapNumber`.
    """
    value = float(text)
    if not math.isfinite(value):
        return False
    return text in (_ryu_text(value), _display_text(value))


def parse_json(body: bytes, numbers: str = "plain") -> Any:
    """Parse a request body like OpenObserve's extractor would see it.

    ``numbers``: ``"plain"`` (floats stay floats), ``"value"`` (floats whose text Rust would
    not print back become :class:`MapNumber`), ``"flatten"`` (every float becomes one).
    Raises ``ValueError`` (``json.JSONDecodeError``) on malformed JSON.
    """
    text = body.decode("utf-8")

    def parse_float(token: str) -> Any:
        if numbers == "flatten" or (numbers == "value" and not rust_prints_as(token)):
            return MapNumber(token)
        return float(token)

    def reject_constant(token: str) -> Any:
        raise json.JSONDecodeError(f"expected value ({token})", text, 0)

    return json.loads(text, parse_float=parse_float, parse_constant=reject_constant)


def plain(value: Any) -> Any:
    """``value`` with every :class:`MapNumber` turned back into a float (what a Value keeps)."""
    if isinstance(value, MapNumber):
        return value.value
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


# --- describing values the way serde_json does in "invalid type" errors -----------------------


def unexpected(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"boolean `{'true' if value else 'false'}`"
    if isinstance(value, int):
        return f"integer `{value}`"
    if isinstance(value, float):
        return f"floating point `{_ryu_text(value)}`"
    if isinstance(value, str):
        return f"string {json.dumps(value, ensure_ascii=False)}"
    if isinstance(value, list):
        return "sequence"
    return "map"  # dict or MapNumber


def invalid_type(value: Any, expecting: str) -> SerdeError:
    return SerdeError(f"invalid type: {unexpected(value)}, expected {expecting}")


def one_of(names: Sequence[str]) -> str:
    quoted = [f"`{n}`" for n in names]
    if not quoted:
        return "there are no variants"
    if len(quoted) == 1:
        return f"expected {quoted[0]}"
    if len(quoted) == 2:
        return f"expected {quoted[0]} or {quoted[1]}"
    return "expected one of " + ", ".join(quoted)


# --- kinds -------------------------------------------------------------------------------------


class Kind:
    """One Rust type: ``de`` checks a JSON value and returns what the server writes back."""

    expecting = "a value"

    def de(self, value: Any) -> Any:
        raise NotImplementedError

    def default(self) -> Any:
        raise TypeError(f"{type(self).__name__} has no Default")


class Str(Kind):
    expecting = "a string"

    def de(self, value: Any) -> Any:
        if isinstance(value, str):
            return value
        raise invalid_type(value, self.expecting)

    def default(self) -> Any:
        return ""


class Bool(Kind):
    expecting = "a boolean"

    def de(self, value: Any) -> Any:
        if isinstance(value, bool):
            return value
        raise invalid_type(value, self.expecting)

    def default(self) -> Any:
        return False


class Int(Kind):
    """A Rust integer type (``i64``, ``i32``, ``u8``...): floats are refused, range is checked."""

    RANGES = {
        "i64": (-(2**63), 2**63 - 1),
        "i32": (-(2**31), 2**31 - 1),
        "i16": (-(2**15), 2**15 - 1),
        "u64": (0, 2**64 - 1),
        "u32": (0, 2**32 - 1),
        "u8": (0, 255),
        "usize": (0, 2**64 - 1),
    }

    def __init__(self, name: str = "i64") -> None:
        self.name = name
        self.expecting = name
        self.low, self.high = self.RANGES[name]

    def de(self, value: Any) -> Any:
        if isinstance(value, int) and not isinstance(value, bool):
            if self.low <= value <= self.high:
                return value
            raise SerdeError(f"invalid value: integer `{value}`, expected {self.name}")
        raise invalid_type(value, self.expecting)

    def default(self) -> Any:
        return 0


class F64(Kind):
    """``f64`` / ``OrderedFloat<f64>``: integers are read as floats and written back as floats."""

    expecting = "f64"

    def de(self, value: Any) -> Any:
        if isinstance(value, bool):
            raise invalid_type(value, self.expecting)
        if isinstance(value, (int, float)):
            return float(value)
        raise invalid_type(value, self.expecting)

    def default(self) -> Any:
        return 0.0


class Value(Kind):
    """``serde_json::Value``: anything goes and is kept as given."""

    def de(self, value: Any) -> Any:
        return plain(value)

    def default(self) -> Any:
        return None


class Enum(Kind):
    """A fieldless enum written as a string; ``aliases`` are accepted and written canonically."""

    expecting = "variant identifier"

    def __init__(
        self,
        name: str,
        variants: Iterable[str],
        *,
        default: str | None = None,
        aliases: dict[str, str] | None = None,
    ) -> None:
        self.name = name
        self.variants = tuple(variants)
        self._default = default
        self.aliases = aliases or {}

    def de(self, value: Any) -> Any:
        if not isinstance(value, str):
            raise invalid_type(value, self.expecting)
        if value in self.variants:
            return value
        if value in self.aliases:
            return self.aliases[value]
        names = list(self.variants) + list(self.aliases)
        raise SerdeError(f"unknown variant `{value}`, {one_of(names)}")

    def default(self) -> Any:
        if self._default is None:
            raise TypeError(f"enum {self.name} has no Default")
        return self._default


class Vec(Kind):
    expecting = "a sequence"

    def __init__(self, item: Kind) -> None:
        self.item = item

    def de(self, value: Any) -> Any:
        if not isinstance(value, list):
            raise invalid_type(value, self.expecting)
        out = []
        for index, element in enumerate(value):
            try:
                out.append(self.item.de(element))
            except SerdeError as err:
                raise err.at(index) from None
        return out

    def default(self) -> Any:
        return []


class Map(Kind):
    """``HashMap<String, T>``."""

    expecting = "a map"

    def __init__(self, item: Kind) -> None:
        self.item = item

    def de(self, value: Any) -> Any:
        if not isinstance(value, dict):
            raise invalid_type(value, self.expecting)
        out = {}
        for key, element in value.items():
            try:
                out[key] = self.item.de(element)
            except SerdeError as err:
                raise err.at(key) from None
        return out

    def default(self) -> Any:
        return {}


class Opt(Kind):
    """``Option<T>``: ``null`` is ``None``; anything else must be a ``T``."""

    def __init__(self, inner: Kind) -> None:
        self.inner = inner
        self.expecting = inner.expecting

    def de(self, value: Any) -> Any:
        return None if value is None else self.inner.de(value)

    def default(self) -> Any:
        return None


class Lazy(Kind):
    """A forward reference for recursive types (a filter group holds filters)."""

    def __init__(self, resolve: Callable[[], Kind]) -> None:
        self.resolve = resolve

    def de(self, value: Any) -> Any:
        return self.resolve().de(value)

    def default(self) -> Any:
        return self.resolve().default()


class Mapped(Kind):
    """A type whose written form differs from what was read (a custom ``Serialize``)."""

    def __init__(self, inner: Kind, write: Callable[[Any], Any]) -> None:
        self.inner = inner
        self.write = write
        self.expecting = inner.expecting

    def de(self, value: Any) -> Any:
        return self.write(self.inner.de(value))

    def default(self) -> Any:
        return self.write(self.inner.default())


class Custom(Kind):
    """A hand-written ``Deserialize``: ``read`` checks and normalises, raising SerdeError."""

    def __init__(self, name: str, read: Callable[[Any], Any], default: Any = MISSING) -> None:
        self.name = name
        self.read = read
        self._default = default
        self.expecting = name

    def de(self, value: Any) -> Any:
        return self.read(value)

    def default(self) -> Any:
        if self._default is MISSING:
            raise TypeError(f"{self.name} has no Default")
        return _fresh(self._default)


class Field:
    """One struct field.

    ``default``: the value (or a zero-argument callable) used when the key is absent; absent and
    without default, an ``Opt`` field is ``None`` and anything else is a missing field.
    ``omit``: when the output leaves the field out — ``"none"`` (``Option::is_none``),
    ``"empty"`` (``Vec::is_empty``), ``"false"`` (``Not::not``), ``"always"``
    (``skip_serializing``) or ``None`` (always written).
    """

    __slots__ = ("key", "kind", "default", "omit", "aliases")

    def __init__(
        self,
        key: str,
        kind: Kind,
        *,
        default: Any = MISSING,
        omit: str | None = None,
        aliases: Sequence[str] = (),
    ) -> None:
        self.key = key
        self.kind = kind
        self.default = default
        self.omit = omit
        self.aliases = tuple(aliases)


def opt(key: str, kind: Kind, **kw: Any) -> Field:
    """``Option<T>`` with ``skip_serializing_if = "Option::is_none"``: omitted when absent."""
    return Field(key, Opt(kind), omit="none", **kw)


def nullable(key: str, kind: Kind, **kw: Any) -> Field:
    """``Option<T>`` without ``skip_serializing_if``: written as ``null`` when absent."""
    return Field(key, Opt(kind), **kw)


def _fresh(default: Any) -> Any:
    return default() if callable(default) else copy.deepcopy(default)


class Struct(Kind):
    """A Rust struct. ``default_all`` is ``#[serde(default)]`` on the struct itself."""

    def __init__(self, name: str, fields: Sequence[Field], *, default_all: bool = False) -> None:
        self.name = name
        self.fields = list(fields)
        self.default_all = default_all
        self.expecting = f"struct {name}"
        self._by_key: dict[str, Field] = {}
        self._index: dict[str, int] = {}
        for index, field in enumerate(self.fields):
            self._index[field.key] = index
            for key in (field.key, *field.aliases):
                self._by_key.setdefault(key, field)
        self._plan: list[tuple[str, str, Any, str | None]] | None = None
        self._always: list[int] = []

    def de(self, value: Any) -> Any:
        if isinstance(value, MapNumber):
            value = {NUMBER_TOKEN: value.text}  # serde sees the number as a one-key map
        if not isinstance(value, dict):
            raise invalid_type(value, self.expecting)
        # serde visits the input's keys in their order, so the first bad value *in the input*
        # is the one reported; missing fields are only noticed afterwards, in field order.
        found: dict[str, Any] = {}
        for key, raw in value.items():
            field = self._by_key.get(key)
            if field is None or field.key in found:
                continue
            try:
                found[field.key] = field.kind.de(raw)
            except SerdeError as err:
                raise err.at(field.key) from None
        if self._plan is None:
            self._plan, self._always = self._make_plan()
        out: dict[str, Any] = {}
        # Visit, in declaration order, the present fields and those an absence still writes
        # (a missing Option that is skipped when None need not be looked at: it stays out).
        for index in sorted({*self._always, *(self._index[k] for k in found)}):
            key, how, payload, omit = self._plan[index]
            if key in found:
                result = found[key]
            elif how == "value":
                result = payload
            elif how == "empty":
                result = type(payload)()
            elif how == "copy":
                result = copy.deepcopy(payload)
            elif how == "call":
                result = payload()
            else:
                raise SerdeError(f"missing field `{key}`")
            if omit is None or not _omitted(omit, result):
                out[key] = result
        return out

    def _make_plan(self) -> tuple[list[tuple[str, str, Any, str | None]], list[int]]:
        """How each field is filled when absent: a value, a copy, a call or an error."""
        plan: list[tuple[str, str, Any, str | None]] = []
        always: list[int] = []
        for index, field in enumerate(self.fields):
            if field.default is not MISSING:
                value = field.default
            elif self.default_all and _has_default(field.kind):
                value = field.kind.default()
            elif isinstance(field.kind, Opt):
                value = None
            else:
                plan.append((field.key, "required", None, field.omit))
                always.append(index)
                continue
            if callable(value):
                plan.append((field.key, "call", value, field.omit))
            else:
                how = "value"
                if isinstance(value, (list, dict)):
                    how = "copy" if value else "empty"
                plan.append((field.key, how, value, field.omit))
                if _omitted(field.omit, value):
                    continue  # absent means omitted: nothing to write
            always.append(index)
        return plan, always

    def default(self) -> Any:
        if not self.default_all:
            raise TypeError(f"struct {self.name} has no Default")
        return self.de({})


def _has_default(kind: Kind) -> bool:
    try:
        kind.default()
    except TypeError:
        return False
    return True


def _omitted(rule: str | None, value: Any) -> bool:
    if rule is None:
        return False
    if rule == "always":
        return True
    if rule == "none":
        return value is None
    if rule == "empty":
        return value == [] or value is None
    if rule == "false":
        return value is False
    raise ValueError(rule)


class Untagged(Kind):
    """``#[serde(untagged)]``: the first variant that accepts the value wins."""

    def __init__(self, name: str, variants: Sequence[Kind]) -> None:
        self.name = name
        self.variants = list(variants)

    def de(self, value: Any) -> Any:
        for variant in self.variants:
            try:
                return variant.de(value)
            except SerdeError:
                continue
        raise SerdeError(f"data did not match any variant of untagged enum {self.name}")


class Tagged(Kind):
    """``#[serde(tag = "...")]``: the tag key names the variant; the rest fills its struct."""

    def __init__(self, name: str, tag: str, variants: dict[str, Struct]) -> None:
        self.name = name
        self.tag = tag
        self.variants = variants
        self.expecting = f"internally tagged enum {name}"

    def de(self, value: Any) -> Any:
        if not isinstance(value, dict):
            raise invalid_type(value, self.expecting)
        if self.tag not in value:
            raise SerdeError(f"missing field `{self.tag}`")
        tag = value[self.tag]
        if not isinstance(tag, str):
            raise invalid_type(tag, "variant identifier")
        if tag not in self.variants:
            raise SerdeError(f"unknown variant `{tag}`, {one_of(list(self.variants))}")
        body = self.variants[tag].de({k: v for k, v in value.items() if k != self.tag})
        return {self.tag: tag, **body}


_RFC3339 = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?([Zz]|[+-]\d{2}:?\d{2})$"
)


def format_datetime(moment: _dt.datetime, nanos: int) -> str:
    """chrono's ``Serialize`` for ``DateTime<FixedOffset>``: RFC 3339, ``Z`` for a zero offset,
    and as many fraction digits as needed in groups of three (``SecondsFormat::AutoSi``)."""
    text = moment.strftime("%Y-%m-%dT%H:%M:%S")
    if nanos:
        if nanos % 1_000_000 == 0:
            text += f".{nanos // 1_000_000:03d}"
        elif nanos % 1000 == 0:
            text += f".{nanos // 1000:06d}"
        else:
            text += f".{nanos:09d}"
    offset = moment.utcoffset() or _dt.timedelta(0)
    minutes = int(offset.total_seconds()) // 60
    if minutes == 0:
        return text + "Z"
    sign = "+" if minutes > 0 else "-"
    minutes = abs(minutes)
    return f"{text}{sign}{minutes // 60:02d}:{minutes % 60:02d}"


def datetime_from_epoch(seconds: float) -> str:
    """``datetime_now()`` (``config/src/meta/dashboards/mod.rs``) rendered for a clock value."""
    micros = round(seconds * 1_000_000)
    moment = _dt.datetime.fromtimestamp(micros // 1_000_000, tz=_dt.UTC)
    return format_datetime(moment, (micros % 1_000_000) * 1000)


class DateTime(Kind):
    """``chrono::DateTime<FixedOffset>``: an RFC 3339 string, the offset is preserved."""

    expecting = "a formatted date and time string or a unix timestamp"

    def __init__(self, now: Callable[[], str] | None = None) -> None:
        self._now = now

    def de(self, value: Any) -> Any:
        if not isinstance(value, str):
            raise invalid_type(value, self.expecting)
        match = _RFC3339.match(value)
        if not match:
            raise SerdeError("input contains invalid characters")
        year, month, day, hour, minute, second = (int(g) for g in match.groups()[:6])
        fraction = (match.group(7) or "")[:9].ljust(9, "0")
        zone = match.group(8)
        if zone in ("Z", "z"):
            offset = _dt.timedelta(0)
        else:
            digits = zone[1:].replace(":", "")
            offset = _dt.timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
            offset = -offset if zone[0] == "-" else offset
        try:
            moment = _dt.datetime(
                year, month, day, hour, minute, second, tzinfo=_dt.timezone(offset)
            )
        except ValueError:
            raise SerdeError("input is out of range") from None
        return format_datetime(moment, int(fraction))

    def default(self) -> Any:
        if self._now is None:
            raise TypeError("DateTime has no Default")
        return self._now()
