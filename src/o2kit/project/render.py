"""Templates: turn a template under ``templates/`` plus typed parameters into an OpenObserve object.

How a template works (and why it is built this way):

- Jinja runs **sandboxed**, with ``StrictUndefined`` (a misspelt variable is an error, never an
  empty string), autoescape off (there is no HTML here), and a loader that cannot leave
  ``templates/`` — not by ``..``, not by a symlink.
- A template renders a small **YAML skeleton** (tabs, their names) whose bulky parts are single
  lines of JSON produced by helper functions and ``|tojson``: ``- {{ panel(...) | tojson }}``.
  JSON is valid YAML, so indentation never depends on what a value contains, and every value is
  escaped by the JSON encoder rather than by hand. This is more robust than templating JSON (no
  trailing-comma bookkeeping) or free-form YAML (indentation and quoting depend on the values).
  (That JSON is not parsed back when it need not be: see "The fast path" below.)
- SQL is written as SQL inside ``{% set sql %}…{% endset %}`` blocks. A *value* reaches SQL only
  through a quoting filter: ``|sql_str`` (string literal), ``|sql_ident`` (double-quoted
  identifier), ``|sql_num`` (number), ``|sql_list`` (list of literals). To make a slip loud,
  every string that comes from outside the template (parameters, configuration) is marked as a
  ``Param``; printing one with a bare ``{{ value }}`` is an error that names the filters to use.
- The first lines of each template declare what it is and which typed parameters it takes, in a
  Jinja comment (the *manifest*)::

      {#- o2kit
      kind: alert
      params:
        threshold: {type: integer, default_from: throttle_threshold, default: 10, min: 0}
      -#}

  ``o2kit.project.loader`` checks a YAML file's ``params`` against it before rendering, so a wrong
  type or an unknown parameter is reported at the YAML file's line.

Every failure is a ``RenderError`` that names the template file and line; ``o2kit.project.loader``
turns it into a ``Problem`` that also names the YAML file that used the template.
"""

from __future__ import annotations

import functools
import json
import math
import re
import unicodedata
from collections.abc import Callable, Iterable, Mapping, Sequence
from copy import deepcopy
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from types import TracebackType
from typing import Annotated, Any, Literal, get_args

import jinja2
import jinja2.meta
import pydantic
import yaml
from jinja2.sandbox import SandboxedEnvironment
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, Strict, TypeAdapter

from o2kit.errors import Problem
from o2kit.project.yamlsrc import (
    MAX_DEPTH,
    MAX_FILE_BYTES,
    FastUniqueKeyLoader,
    LineIndex,
    YamlError,
    check_bounds,
    load_yaml,
    pydantic_problems,
)

TEMPLATES_DIR = "templates"
GRID_COLUMNS = 192  # OpenObserve dashboards use a 192-column grid (reference openobserve-api §4.2)


class RenderError(Exception):
    """A template could not be rendered. ``file``/``line`` locate the template (relative path)."""

    def __init__(self, message: str, file: str | None = None, line: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.file = file
        self.line = line

    def where(self) -> str:
        if self.file is None:
            return ""
        return f"{self.file}:{self.line}" if self.line else self.file


class TemplateValueError(ValueError):
    """A filter or helper refused a value (raised while rendering; located by the traceback)."""


# --------------------------------------------------------------------------------------------
# Quoting: the only way a value gets into SQL.
# --------------------------------------------------------------------------------------------

# Characters no SQL value of ours needs and that could change how the text is read further on:
# control characters (NUL ends C strings, newlines end comments), lone surrogates (not UTF-8),
# and the Unicode line/paragraph separators.
_REFUSED_CATEGORIES = {"Cc", "Cs"}
_REFUSED_CHARS = {"\u2028": "line separator U+2028", "\u2029": "paragraph separator U+2029"}


def _check_text(value: object, what: str) -> str:
    if isinstance(value, jinja2.Undefined):
        plain(value)
    if not isinstance(value, str):
        raise TemplateValueError(f"{what} expects text, got {type(value).__name__}")
    for ch in value:
        if ch in _REFUSED_CHARS:
            raise TemplateValueError(f"{what}: value contains a {_REFUSED_CHARS[ch]}")
        if unicodedata.category(ch) in _REFUSED_CATEGORIES:
            raise TemplateValueError(
                f"{what}: value contains the control character U+{ord(ch):04X}"
            )
    # The OpenObserve web UI substitutes dashboard variables by plain text replacement of
    # `$name`, `${name}` and `{{name}}` anywhere in a panel's SQL, quotes included
    # (web/src/composables/dashboard/usePanelVariableSubstitution.ts, replaceQueryValue). A
    # multi-select value is pasted as `'a','b'`, which would end our literal. So a quoted value
    # may not contain these markers.
    if "$" in value:
        raise TemplateValueError(
            f"{what}: value contains '$', which the OpenObserve UI treats as a dashboard variable"
        )
    if "{{" in value or "}}" in value:
        raise TemplateValueError(
            f"{what}: value contains '{{{{' or '}}}}', which the OpenObserve UI treats as a "
            "dashboard variable"
        )
    return plain(value)


def sql_str(value: object) -> str:
    """SQL string literal: ``it's`` → ``'it''s'``.

    OpenObserve parses SQL with the PostgreSQL dialect (src/config/src/meta/sql.rs,
    src/search/src/datafusion/exec.rs ``Dialect::PostgreSQL``), where a backslash inside
    ``'…'`` is an ordinary character; doubling the quote is the only escape needed.
    """
    text = _check_text(value, "sql_str")
    return "'" + text.replace("'", "''") + "'"


def sql_ident(value: object) -> str:
    """Double-quoted SQL identifier: ``my"col`` → ``"my""col"``."""
    text = _check_text(value, "sql_ident")
    if not text:
        raise TemplateValueError("sql_ident: an identifier cannot be empty")
    return '"' + text.replace('"', '""') + '"'


def decimal_text(value: object) -> str:
    """A finite number as plain decimal text (never ``1e-05``; ``Decimal`` keeps it exact)."""
    if isinstance(value, jinja2.Undefined):
        plain(value)
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        raise TemplateValueError(f"expected a number, got {type(value).__name__}")
    if isinstance(value, int):
        return str(value)
    number = Decimal(repr(value)) if isinstance(value, float) else value
    if not number.is_finite():
        raise TemplateValueError(f"number {value!r} is not finite")
    text = format(number.normalize(), "f")
    return "0" if text in ("-0", "0") else text


def sql_num(value: object) -> str:
    """SQL number literal. Negative numbers are parenthesised so ``a -{{ n|sql_num }}`` can never
    read as the start of a ``--`` comment."""
    text = decimal_text(value)
    return f"({text})" if text.startswith("-") else text


def sql_list(values: object) -> str:
    """Comma-separated string literals for ``IN (…)``; an empty list is an error (``IN ()`` is
    not SQL)."""
    if isinstance(values, jinja2.Undefined):
        plain(values)
    if isinstance(values, str) or not isinstance(values, Iterable):
        raise TemplateValueError("sql_list expects a list of strings")
    items = [sql_str(v) for v in values]
    if not items:
        raise TemplateValueError("sql_list: the list is empty")
    return ", ".join(items)


# --------------------------------------------------------------------------------------------
# JSON text for the YAML skeleton.
# --------------------------------------------------------------------------------------------

# json.dumps(ensure_ascii=False) leaves these raw; YAML either refuses them in a stream or reads
# them as line breaks, so they are written as \uXXXX (all in the BMP, so no surrogate pairs).
_JSON_UNSAFE = re.compile("[\u007f-\u009f\u2028\u2029\ufeff]")


def to_json_text(value: Any) -> str:
    """Deterministic one-line JSON that reads back identically as YAML (the ``tojson`` filter).

    Keys keep their order (callers build them in the order the API documents). Floats are written
    as plain decimals: PyYAML reads ``1e-05`` as a *string*.

    The result is a ``JsonText``: the same text, plus — when the C encoder could write it — the
    plain data that text reads back as, which ``render_document`` uses instead of parsing the
    text again (a dashboard's panels are ~100 KB of it).
    """
    fast = _fast_json(value)
    if fast is not None:
        return fast
    return JsonText(_JSON_UNSAFE.sub(_escape_unsafe, _json(value)))


def _escape_unsafe(match: re.Match[str]) -> str:
    return f"\\u{ord(match.group()):04x}"


_NO_DATA: Any = object()


class JsonText(str):
    """The text of ``|tojson``. To a template it is that text (a ``str``); ``data`` is what the
    text reads back as from YAML (``_NO_DATA`` when unknown), so ``render_document`` can put the
    object in place of the text without parsing it. ``__str__`` returns the object itself, so
    Jinja's ``str()`` around every ``{{ … }}`` keeps it recognisable in the output stream."""

    data: Any = _NO_DATA

    def __str__(self) -> str:
        return self


def _no_default(value: Any) -> Any:
    raise TypeError(f"not plain JSON: {type(value).__name__}")


_ENCODER = json.JSONEncoder(
    ensure_ascii=False, allow_nan=False, separators=(", ", ": "), default=_no_default
)
# Where the C encoder's text may differ from ``_json``'s, or YAML would not read the text at all:
# a float in exponent form (``_json`` writes plain decimals), a negative zero (``_json`` writes
# ``0.0``), and characters YAML refuses in a stream (lone surrogates, U+FFFE, U+FFFF). A match
# (also one inside a string, which is harmless) sends the value down the exact path.
_NOT_FAST = re.compile("[0-9]e[-+]|-0\\.0(?![0-9])|[\ud800-\udfff\ufffe\uffff]")


# YAML drops a flow mapping's key that runs over 1,024 characters to its ':' (PyYAML's and
# libyaml's scanners, ``stale_possible_simple_keys``): such text does not read back as JSON does.
_MAX_FAST_KEY = 1000


def _short_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    for key, _ in pairs:
        if len(key) > _MAX_FAST_KEY:
            raise ValueError("a key too long for the fast path")
    return dict(pairs)


def _fast_json(value: Any) -> JsonText | None:
    """``to_json_text`` by the C encoder, with the data it reads back as; None when that could
    differ in any way from ``_json`` (then the caller takes the exact path)."""
    try:
        text = _ENCODER.encode(value)
        if _NOT_FAST.search(text):
            return None
        data = json.loads(text, object_pairs_hook=_short_keys)
        # Catches what the C encoder accepts and ``_json`` does not: mapping keys that are not
        # text (True, 1, None are written as strings). Tuples and Decimals also end up here
        # (they compare unequal to their JSON form); the exact path handles them.
        if data != value:
            return None
    except (TypeError, ValueError, RecursionError):
        return None
    out = JsonText(_JSON_UNSAFE.sub(_escape_unsafe, text))
    out.data = data
    return out


def _json(value: Any) -> str:
    if isinstance(value, jinja2.Undefined):
        plain(value)
    if value is None or isinstance(value, bool):
        return json.dumps(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return json.dumps(plain(value), ensure_ascii=False)
    if isinstance(value, float | Decimal):
        if isinstance(value, float) and not math.isfinite(value):
            raise TemplateValueError(f"tojson: {value!r} is not a JSON number")
        text = decimal_text(value)
        return text if "." in text else text + ".0"
    if isinstance(value, Mapping):
        parts = []
        for k, v in value.items():
            if not isinstance(k, str):
                raise TemplateValueError(f"tojson: mapping key {k!r} is not text")
            parts.append(f"{_json(k)}: {_json(v)}")
        return "{" + ", ".join(parts) + "}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_json(v) for v in value) + "]"
    raise TemplateValueError(f"tojson: cannot write a {type(value).__name__}")


# --------------------------------------------------------------------------------------------
# Values from outside the template are marked, so printing them unquoted is an error.
# --------------------------------------------------------------------------------------------


class Param(str):
    """Text that came from a parameter or the configuration.

    It can leave this state only through a quoting filter (``sql_str``, ``sql_ident``,
    ``sql_list``, ``tojson``) or the explicit ``|text`` (for labels that end up in JSON anyway).
    Printing it bare, concatenating it with ``~``, ``%``-formatting it, joining it or calling a
    string method on it is an error, so SQL cannot be assembled from it by pasting.
    """

    __slots__ = ()

    def __str__(self) -> str:
        raise TemplateValueError(_PASTE_MESSAGE.format(value=_preview(self)))


_PASTE_MESSAGE = (
    "the value {value} is used without a quoting filter; use |sql_str (SQL text), |sql_ident "
    "(SQL name), |sql_list, |tojson (YAML/JSON), or |text for a label"
)


def plain(value: object) -> str:
    """The text of ``value`` as a plain ``str`` (also for a ``Param``)."""
    if isinstance(value, jinja2.Undefined):
        str(value)  # a StrictUndefined raises its own, precise error here
    return str.__str__(value) if isinstance(value, str) else str(value)


def _preview(value: str) -> str:
    text = str.__str__(value)
    return repr(text if len(text) <= 40 else text[:40] + "…")


def text_filter(value: object) -> str:
    """``|text``: a parameter as plain text, for labels and titles (which go through tojson)."""
    return plain(value)


def mark_params(value: Any) -> Any:
    """Mark every string inside ``value`` (recursively) as a ``Param``."""
    if isinstance(value, str):
        return Param(value)
    if isinstance(value, Mapping):
        return {mark_params(k): mark_params(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [mark_params(v) for v in value]
    return value


def _finalize(value: Any) -> Any:
    """Runs on every ``{{ … }}`` output: only template text, filter output and integers pass."""
    if isinstance(value, Param):
        raise TemplateValueError(_PASTE_MESSAGE.format(value=_preview(value)))
    if isinstance(value, jinja2.Undefined):
        plain(value)
    if isinstance(value, bool) or value is None or not isinstance(value, str | int):
        raise TemplateValueError(
            f"a {type(value).__name__} is printed directly; use |tojson or |sql_num"
        )
    return value


def require_sql_fragment(value: object, what: str) -> str:
    """Helpers that paste SQL *expressions* (column names written in the template) refuse values
    that came from parameters or configuration."""
    if isinstance(value, jinja2.Undefined):
        plain(value)
    if isinstance(value, Param) or not isinstance(value, str):
        raise TemplateValueError(
            f"{what} expects an SQL expression written in the template, not a parameter value"
        )
    return value


# --------------------------------------------------------------------------------------------
# The environment.
# --------------------------------------------------------------------------------------------


class ConfinedLoader(jinja2.FileSystemLoader):
    """A FileSystemLoader that also refuses files whose real path is outside its root (symlinks).

    ``..`` segments are already refused by Jinja's ``split_template_path``.
    """

    def __init__(self, root: Path) -> None:
        super().__init__(str(root), followlinks=False)
        self.root = root.resolve()

    def get_source(
        self, environment: jinja2.Environment, template: str
    ) -> tuple[str, str, Callable[[], bool]]:
        source, filename, uptodate = super().get_source(environment, template)
        if not Path(filename).resolve().is_relative_to(self.root):
            raise jinja2.TemplateNotFound(template)
        return source, filename, uptodate


# Built-in filters that keep a parameter's text intact (or do not look at it) may take one; any
# other built-in filter (replace, upper, format, join, …) would turn it into unmarked text.
_FILTERS_FOR_PARAMS = frozenset(
    {"length", "count", "default", "d", "first", "last", "list", "sort", "dictsort", "unique"}
    | {"map", "select", "reject", "selectattr", "rejectattr", "batch", "slice", "groupby"}
    | {"items", "sum", "min", "max", "attr", "string", "int", "float", "abs", "round"}
)


def _has_param(value: Any) -> bool:
    if isinstance(value, Param):
        return True
    if isinstance(value, list | tuple):
        return any(isinstance(v, Param) for v in value)
    return False


def _guard_filter(name: str, func: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(func)  # keeps Jinja's pass_context/pass_environment marker
    def guarded(*args: Any, **kwargs: Any) -> Any:
        for arg in (*args, *kwargs.values()):
            if _has_param(arg):
                raise TemplateValueError(
                    f"the filter |{name} cannot take parameter values; quote them with "
                    "|sql_str, |sql_ident, |sql_list or |tojson (or use |text for a label)"
                )
        return func(*args, **kwargs)

    return guarded


class TemplateSandbox(SandboxedEnvironment):
    """The sandbox, plus: no attribute or method of a parameter's text may be used (a method
    such as ``replace`` would return unmarked text)."""

    def is_safe_attribute(self, obj: Any, attr: str, value: Any) -> bool:
        if isinstance(obj, Param):
            return False
        return super().is_safe_attribute(obj, attr, value)


def make_environment(templates_dir: Path) -> TemplateSandbox:
    env = TemplateSandbox(
        loader=ConfinedLoader(templates_dir),
        undefined=jinja2.StrictUndefined,
        autoescape=False,
        finalize=_finalize,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        auto_reload=False,
    )
    for name, func in list(env.filters.items()):
        if name not in _FILTERS_FOR_PARAMS:
            env.filters[name] = _guard_filter(name, func)
    env.filters.update(
        sql_str=sql_str,
        sql_ident=sql_ident,
        sql_num=sql_num,
        sql_list=sql_list,
        tojson=to_json_text,
        text=text_filter,
    )
    env.globals.update(
        panel=panel,
        markdown_panel=markdown_panel,
        query_values_variable=query_values_variable,
        custom_variable=custom_variable,
        sql_alert=sql_alert,
        currency_unit=currency_unit,
    )
    return env


# --------------------------------------------------------------------------------------------
# The manifest: what a template is and which typed parameters it takes.
# --------------------------------------------------------------------------------------------

_MANIFEST = re.compile(r"\A\{#-?[ \t]*o2kit[ \t]*\n(?P<body>.*?)\n[ \t]*-?#\}", re.DOTALL)

ParamType = Literal[
    "string",
    "integer",
    "number",
    "boolean",
    "model_id",
    "list[string]",
    "list[model_id]",
    "map[model_id,integer]",
    "map[model_id,number]",
    "list[region]",
    "interval",
    "time_range",
]
PARAM_TYPES: tuple[str, ...] = get_args(ParamType)

# Names the template context already uses; a parameter cannot shadow them.
RESERVED_NAMES = frozenset(
    {"title", "name", "description", "folder", "streams", "regions", "prices", "quotas", "org"}
    | {"budgets", "ingest"}
    | {"panel", "markdown_panel", "query_values_variable", "custom_variable", "sql_alert"}
    | {"currency_unit", "range", "loop", "self", "true", "false", "none"}
)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ParamSpec(_Strict):
    """One declared parameter. Without ``default`` and ``default_from`` it is required."""

    type: ParamType
    default: Any = None
    # Key in o2kit.yaml `defaults` whose value is used when the YAML file does not set this
    # parameter; `default` applies when that key is absent too.
    default_from: str | None = None
    min: float | None = None
    max: float | None = None
    help: str = ""

    @property
    def has_default(self) -> bool:
        return "default" in self.model_fields_set


def _param_name(value: str) -> str:
    if not re.fullmatch(r"[a-z][a-z0-9_]*", value):
        raise ValueError("parameter names use lower-case letters, digits and '_'")
    if value in RESERVED_NAMES:
        raise ValueError(f"{value!r} is a reserved name in templates")
    return value


class Manifest(_Strict):
    kind: Literal["dashboard", "alert"]
    description: str = ""
    params: dict[Annotated[str, AfterValidator(_param_name)], ParamSpec] = Field(
        default_factory=dict
    )


@dataclass(frozen=True)
class LoadedTemplate:
    name: str  # as written in YAML, relative to templates/
    file: str  # display path, e.g. templates/bedrock/dashboard.yaml.j2
    manifest: Manifest


def template_display(name: str) -> str:
    return f"{TEMPLATES_DIR}/{name}"


def load_template(env: SandboxedEnvironment, name: str) -> LoadedTemplate:
    """Compile ``name`` (syntax errors surface here) and read its manifest."""
    file = template_display(name)
    loader = env.loader
    assert loader is not None
    try:
        source, _filename, _ = loader.get_source(env, name)
        env.get_template(name)
    except jinja2.TemplateNotFound as exc:
        raise RenderError(f"template {name!r} not found under {TEMPLATES_DIR}/") from exc
    except jinja2.TemplateSyntaxError as exc:
        raise _syntax_error(exc, env) from exc
    match = _MANIFEST.match(source)
    if match is None:
        raise RenderError(
            "template must start with a '{#- o2kit' comment declaring kind and params", file, 1
        )
    try:
        data, index = load_yaml(match.group("body"), file)
    except YamlError as exc:
        raise RenderError(f"manifest: {exc.problem.message}", file, exc.problem.line + 1) from exc
    try:
        manifest = Manifest.model_validate(data or {})
    except pydantic.ValidationError as exc:
        first = pydantic_problems(exc, index)[0]
        field_path = first.field.replace(".[key]", "")  # an invalid parameter *name*
        where = f"{field_path}: " if field_path else ""
        raise RenderError(f"manifest: {where}{first.message}", file, first.line + 1) from exc
    for pname, spec in manifest.params.items():
        if spec.has_default:
            try:
                param_adapter(spec).validate_python(spec.default)
            except pydantic.ValidationError as exc:
                msg = exc.errors()[0]["msg"].removeprefix("Value error, ")
                raise RenderError(
                    f"manifest: params.{pname}.default: {msg}",
                    file,
                    index.line(("params", pname, "default")) + 1,
                ) from exc
    return LoadedTemplate(name=name, file=file, manifest=manifest)


# --------------------------------------------------------------------------------------------
# Parameter types.
# --------------------------------------------------------------------------------------------

# Bedrock model ids and ARNs: letters, digits and . _ : / - (foundation-model ids, inference
# profile ids such as us.anthropic.claude-3-5-haiku-20241022-v1:0, and ARNs). Anything else —
# a quote above all — is refused with the offending character named.
MODEL_ID_CHARS = re.compile(r"[A-Za-z0-9._:/-]+")
_MODEL_ID_MAX = 2048


def check_model_id(value: str) -> str:
    if not value:
        raise ValueError("model id cannot be empty")
    if len(value) > _MODEL_ID_MAX:
        raise ValueError(f"model id is longer than {_MODEL_ID_MAX} characters")
    bad = sorted({ch for ch in value if not MODEL_ID_CHARS.fullmatch(ch)})
    if bad:
        shown = ", ".join(repr(ch) for ch in bad)
        raise ValueError(
            f"model id {value!r} contains {shown}; Bedrock model ids use only letters, digits "
            "and . _ : / -"
        )
    return value


def _check_region(value: str) -> str:
    if not re.fullmatch(r"[a-z]{2}(-gov|-iso[a-z]*)?-[a-z]+-[0-9]+", value):
        raise ValueError(f"{value!r} is not an AWS region name (e.g. us-east-1)")
    return value


def _check_interval(value: str) -> str:
    # histogram(_timestamp, '<n> <unit>'); "auto" lets OpenObserve choose from the time range.
    if value != "auto" and not re.fullmatch(r"[1-9][0-9]* (second|minute|hour|day)s?", value):
        raise ValueError(f"{value!r} is not an interval like '5 minute', '1 hour' or 'auto'")
    return value


def _check_time_range(value: str) -> str:
    if not re.fullmatch(r"[1-9][0-9]*[smhdwM]", value):
        raise ValueError(f"{value!r} is not a relative time like '15m', '6h', '7d' or '1M'")
    return value


def _check_plain_text(value: str) -> str:
    bad = [ch for ch in value if unicodedata.category(ch) == "Cc" and ch not in "\n\t"]
    if bad:
        raise ValueError(f"text contains the control character U+{ord(bad[0]):04X}")
    return value


StrictText = Annotated[str, Strict(), AfterValidator(_check_plain_text)]
ModelId = Annotated[str, Strict(), AfterValidator(check_model_id)]
Region = Annotated[str, Strict(), AfterValidator(_check_region)]


def _unique(values: list[str]) -> list[str]:
    seen = set()
    for v in values:
        if v in seen:
            raise ValueError(f"{v!r} is listed twice")
        seen.add(v)
    return values


def _number(value: Any) -> int | float:
    # A number may be written as 10 or 10.5; YAML booleans and numeric strings are refused.
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError("Input should be a valid number")
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError("Input should be a finite number")
    return value


def _bounded(low: float | None, high: float | None) -> Callable[[Any], Any]:
    def check(value: Any) -> Any:
        if low is not None and value < low:
            raise ValueError(f"Input should be greater than or equal to {decimal_text(low)}")
        if high is not None and value > high:
            raise ValueError(f"Input should be less than or equal to {decimal_text(high)}")
        return value

    return check


def param_adapter(spec: ParamSpec) -> TypeAdapter[Any]:
    """The pydantic type of a parameter (strict: ``"10"`` is not an integer). Built once per
    type and bounds (building one takes about 0.2 ms; a project of 1,000 dashboards asks for
    ten thousand). The bounds are keyed by type and value: ``1`` and ``1.0`` print apart in
    messages."""
    return _param_adapter(spec.type, (type(spec.min), spec.min), (type(spec.max), spec.max))


@functools.lru_cache(maxsize=256)
def _param_adapter(kind: str, low: tuple[type, float | None],
                   high: tuple[type, float | None]) -> TypeAdapter[Any]:
    bounded = AfterValidator(_bounded(low[1], high[1]))
    integer = Annotated[int, Strict(), bounded]
    number = Annotated[Any, AfterValidator(_number), bounded]
    types: dict[str, Any] = {
        "string": StrictText,
        "integer": integer,
        "number": number,
        "boolean": Annotated[bool, Strict()],
        "model_id": ModelId,
        "list[string]": Annotated[list[StrictText], AfterValidator(_unique)],
        "list[model_id]": Annotated[list[ModelId], AfterValidator(_unique)],
        "map[model_id,integer]": dict[ModelId, integer],
        "map[model_id,number]": dict[ModelId, number],
        "list[region]": Annotated[list[Region], AfterValidator(_unique)],
        "interval": Annotated[str, Strict(), AfterValidator(_check_interval)],
        "time_range": Annotated[str, Strict(), AfterValidator(_check_time_range)],
    }
    return TypeAdapter(types[kind])


def resolve_params(
    template: LoadedTemplate,
    given: Mapping[str, Any],
    given_index: LineIndex,
    given_base: tuple[str | int, ...],
    defaults: Mapping[str, Any],
    defaults_problem: Callable[[str, str], Problem],
) -> tuple[dict[str, Any], list[Problem]]:
    """Check ``given`` (the YAML file's ``params``) against the template's manifest.

    Returns the full set of parameter values (given, else ``o2kit.yaml`` defaults, else the
    manifest default) and every problem found, located in the YAML file or o2kit.yaml.
    """
    problems: list[Problem] = []
    values: dict[str, Any] = {}
    declared = template.manifest.params
    for pname in given:
        if pname not in declared:
            known = ", ".join(sorted(declared)) or "none"
            problems.append(
                given_index.problem(
                    (*given_base, pname),
                    f"unknown parameter for {template.file} (it takes: {known})",
                )
            )
    for pname, spec in declared.items():
        adapter = param_adapter(spec)
        if pname in given:
            try:
                values[pname] = adapter.validate_python(given[pname])
            except pydantic.ValidationError as exc:
                problems.extend(pydantic_problems(exc, given_index, (*given_base, pname)))
        elif spec.default_from is not None and spec.default_from in defaults:
            try:
                values[pname] = adapter.validate_python(defaults[spec.default_from])
            except pydantic.ValidationError as exc:
                msg = exc.errors()[0]["msg"].removeprefix("Value error, ")
                problems.append(
                    defaults_problem(
                        spec.default_from, f"{msg} (used as {pname} by {template.file})"
                    )
                )
        elif spec.has_default:
            values[pname] = adapter.validate_python(spec.default)
        else:
            hint = (
                f" (or set defaults.{spec.default_from} in o2kit.yaml)" if spec.default_from else ""
            )
            problems.append(
                given_index.problem(
                    given_base, f"parameter {pname!r} is required by {template.file}{hint}"
                )
            )
    return values, problems


# --------------------------------------------------------------------------------------------
# Rendering.
# --------------------------------------------------------------------------------------------


def render_document(
    env: SandboxedEnvironment, template: LoadedTemplate, context: Mapping[str, Any]
) -> Any:
    """Render and parse the template's YAML output. Raises ``RenderError``."""
    try:
        parts, size = _bounded_render(env.get_template(template.name), dict(context),
                                      template.file)
    except RenderError:
        raise
    except jinja2.TemplateSyntaxError as exc:
        raise _syntax_error(exc, env) from exc
    except jinja2.TemplateNotFound as exc:
        file, line = _template_frame(exc.__traceback__, env)
        raise RenderError(
            f"template {exc.name!r} not found under {TEMPLATES_DIR}/", file, line
        ) from exc
    except Exception as exc:  # any failure inside the template: locate it by the traceback
        file, line = _template_frame(exc.__traceback__, env)
        raise RenderError(_runtime_message(exc, template), file, line) from exc
    name = f"output of {template.file}"
    data = _parse_skeleton(parts, size, name)
    if data is not _NO_DATA:
        return data
    try:
        data = _parse_output("".join(parts), name)
    except YamlError as exc:
        what = "is over a limit" if exc.limit else "is not valid YAML"
        raise RenderError(
            f"rendered output {what} (output line {exc.problem.line}): "
            f"{exc.problem.message.removeprefix('invalid YAML: ')}",
            template.file,
            None,
        ) from exc
    return data


# --------------------------------------------------------------------------------------------
# Rendering each distinct input once: a project renders one template for many files (a dashboard
# per team and application) and most of them ask for the same document.
# --------------------------------------------------------------------------------------------

# Globals whose result is not a function of the context (``lipsum`` draws random words).
_IMPURE_GLOBALS = frozenset({"lipsum"})
MAX_MEMO_ENTRIES = 512


class _NameTracker(jinja2.meta.TrackingCodeGenerator):
    """``jinja2.meta.find_undeclared_variables``, globals included (a context value may stand
    in for one, and ``lipsum`` must be seen)."""

    def __init__(self, environment: jinja2.Environment) -> None:
        super().__init__(environment)
        self.names: set[str] = set()

    def enter_frame(self, frame: Any) -> None:
        super().enter_frame(frame)
        for action, param in frame.symbols.loads.values():
            if action == "resolve":
                self.names.add(param)


def template_reads(
    env: SandboxedEnvironment,
    name: str,
    parsed: dict[str, tuple[set[str], list[str | None]]] | None = None,
) -> frozenset[str] | None:
    """Every context variable that rendering ``name`` can read: the undeclared names of the
    template and of every template it imports, includes or extends (jinja2.meta). None when that
    cannot be told (a template named by an expression, a syntax error) or the template calls
    something impure: then its renders are not shared. ``parsed`` keeps what each template
    file says across calls (a library imported by every template is parsed once)."""
    names: set[str] = set()
    todo, seen = [name], set()
    loader = env.loader
    assert loader is not None
    parsed = {} if parsed is None else parsed
    try:
        while todo:
            current = todo.pop()
            if current in seen:
                continue
            seen.add(current)
            if current not in parsed:
                tree = env.parse(loader.get_source(env, current)[0], current)
                tracker = _NameTracker(env)
                tracker.visit(tree)
                parsed[current] = (tracker.names,
                                   list(jinja2.meta.find_referenced_templates(tree)))
            undeclared, refs = parsed[current]
            names |= undeclared
            for ref in refs:
                if ref is None:
                    return None
                todo.append(ref)
    except jinja2.TemplateError:
        return None
    if names & _IMPURE_GLOBALS:
        return None
    return frozenset(names)


def _freeze(value: Any, keep: list[Any]) -> Any:
    """A hashable stand-in for a context value: equal only for values a template cannot tell
    apart (types included: ``1``, ``1.0``, ``True`` and a ``Param`` differ). Other objects (the
    project's ``prices``) stand for themselves, kept alive in ``keep`` so their id is theirs."""
    if isinstance(value, str):
        return ("P" if isinstance(value, Param) else "s", str.__str__(value))
    if value is None or isinstance(value, bool | int):
        return (type(value).__name__, value)
    if isinstance(value, float | Decimal):  # by text: 0.0 and -0.0, 1.0 and 1.00 print apart
        return (type(value).__name__, repr(value))
    if isinstance(value, Mapping):
        return ("m", tuple((_freeze(k, keep), _freeze(v, keep)) for k, v in value.items()))
    if isinstance(value, list | tuple):
        return (type(value).__name__, tuple(_freeze(v, keep) for v in value))
    keep.append(value)
    return ("id", id(value))


_IMMUTABLE = (str, int, float, bool, type(None))


def _copy_document(data: Any) -> Any:
    """A copy of every mapping and list of ``data`` (callers change documents in place) that
    shares its strings and numbers, which cannot change: a thousand dashboards rendered from one
    template hold one copy of each SQL text, and pickle sends it once (``fork_map``)."""
    kind = type(data)
    if kind is dict:
        return {key: _copy_document(value) for key, value in data.items()}
    if kind is list:
        return [_copy_document(value) for value in data]
    if kind in _IMMUTABLE:
        return data
    return deepcopy(data)  # anything else YAML can make (a set, a date): copied whole


class RenderMemo:
    """``render_document`` that renders each distinct (template, values it reads) once per
    object and hands out copies: the same document, or the same ``RenderError``, as rendering
    again would give. Templates that read something it cannot key on are always rendered."""

    def __init__(self, env: SandboxedEnvironment) -> None:
        self.env = env
        self._reads: dict[str, frozenset[str] | None] = {}
        self._parsed: dict[str, tuple[set[str], list[str | None]]] = {}
        self._done: dict[Any, tuple[Any, list[Any]]] = {}
        self.renders = 0

    def render(self, template: LoadedTemplate, context: Mapping[str, Any]) -> Any:
        if template.name not in self._reads:
            self._reads[template.name] = template_reads(self.env, template.name, self._parsed)
        reads = self._reads[template.name]
        key = None
        keep: list[Any] = []
        if reads is not None:
            key = (template.name,
                   tuple((n, _freeze(context[n], keep)) for n in sorted(reads) if n in context))
            found = self._done.get(key)
            if found is not None:
                return _replay(found[0])
        self.renders += 1
        try:
            data = render_document(self.env, template, context)
        except RenderError as exc:
            outcome: Any = ("error", exc.message, exc.file, exc.line)
            if key is not None and len(self._done) < MAX_MEMO_ENTRIES:
                self._done[key] = (outcome, keep)
            raise
        if key is not None and len(self._done) < MAX_MEMO_ENTRIES:
            self._done[key] = (("ok", _copy_document(data)), keep)
        return data


def _replay(outcome: Any) -> Any:
    if outcome[0] == "error":
        raise RenderError(outcome[1], outcome[2], outcome[3])
    return _copy_document(outcome[1])


# The most text one template may render (a shipped dashboard renders ~100 KB): a loop that
# multiplies output is stopped here rather than by the machine's memory.
MAX_RENDERED_CHARS = 5 * 1024 * 1024


def _bounded_render(
    template: jinja2.Template, context: dict[str, Any], file: str
) -> tuple[list[str], int]:
    """The output's parts as Jinja yields them (a ``{{ x | tojson }}`` at the top level of the
    template is one ``JsonText`` part) and their total length."""
    parts: list[str] = []
    size = 0
    for part in template.generate(context):
        size += len(part)
        if size > MAX_RENDERED_CHARS:
            raise RenderError(
                f"rendered output is over {MAX_RENDERED_CHARS:,} characters (o2kit's limit)",
                file, None)
        parts.append(part)
    return parts, size


# Rendered output is parsed with libyaml when PyYAML has it: a dashboard is ~100 KB of YAML and
# the pure-Python parser takes over a second for it. Only failures go through the slower
# ``load_yaml``, for its file:line message.
def _parse_output(text: str, name: str) -> Any:
    check_bounds(text, name)  # size, depth and aliases, before libyaml builds anything
    try:
        return yaml.load(text, Loader=FastUniqueKeyLoader)  # noqa: S506 - SafeLoader-based
    except yaml.YAMLError:
        data, _ = load_yaml(text, name)  # raises YamlError with the line
        return data


# --------------------------------------------------------------------------------------------
# The fast path: a ``{{ x | tojson }}`` that stands alone as a YAML value is put in place as the
# object the C encoder wrote, and only the rest of the output — a small skeleton — is parsed.
# Whenever the result could differ from parsing the whole text, in value, error or limit, the
# whole text is parsed instead (``_NO_DATA``), so both paths give the same document and the
# same messages (tests/test_render_fastpath.py compares them).
# --------------------------------------------------------------------------------------------

_TOKEN = "__o2kit_tojson_"
_TOKEN_RE = re.compile(r"__o2kit_tojson_([0-9]+)__")
# Strings, then innermost [] / {} pairs, removed from JSON text: one pass per level of nesting.
_JSON_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"')
_JSON_INNERMOST = re.compile(r"[\[{][^\[\]{}]*[\]}]")


def _json_text_depth(text: str, limit: int) -> int:
    """How deep lists and objects nest in the JSON ``text`` (0 for a scalar), counted up to just
    past ``limit``."""
    rest = _JSON_STRING.sub("", text)
    depth = 0
    while depth <= limit:
        rest, found = _JSON_INNERMOST.subn("", rest)
        if not found:
            break
        depth += 1
    return depth


class _SkeletonLoader(FastUniqueKeyLoader):  # type: ignore[misc]
    """Builds the skeleton's nodes as usual, except the token nodes in ``swap``."""

    swap: dict[int, JsonText]

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        part = self.swap.get(id(node))
        if part is None:
            return super().construct_object(node, deep=deep)
        data = part.data
        part.data = _NO_DATA  # handed out once: the caller owns (and mutates) it
        return data


def _token_nodes(root: yaml.Node, values: list[JsonText]) -> dict[int, JsonText] | None:
    """Node id → value for every token, or None unless each token is found exactly once, as a
    plain untagged scalar in a value position, nested within the depth limit."""
    swap: dict[int, JsonText] = {}
    todo: list[tuple[yaml.Node, int, bool]] = [(root, 0, False)]
    while todo:
        node, depth, is_key = todo.pop()
        if isinstance(node, yaml.ScalarNode):
            if _TOKEN not in node.value:
                continue
            match = _TOKEN_RE.fullmatch(node.value)
            # A plain scalar: style None (PyYAML) or "" (libyaml).
            if match is None or is_key or node.style:
                return None
            part = values[int(match.group(1))]
            if id(node) in swap or part.data is _NO_DATA:
                return None
            if depth + _json_text_depth(part, MAX_DEPTH) > MAX_DEPTH:
                return None
            swap[id(node)] = part
        elif isinstance(node, yaml.MappingNode):
            for key_node, value_node in node.value:
                todo.append((key_node, depth + 1, True))
                todo.append((value_node, depth + 1, False))
        elif isinstance(node, yaml.SequenceNode):
            todo.extend((item, depth + 1, False) for item in node.value)
    return swap if len(swap) == len(values) else None


def _parse_skeleton(parts: list[str], size: int, name: str) -> Any:
    """The document, with each top-level ``tojson`` value (a ``JsonText`` part with data) put
    in place as its object and the rest parsed as YAML; ``_NO_DATA`` when the whole text must
    be parsed instead."""
    values: list[JsonText] = []
    seen: set[int] = set()
    pieces: list[str] = []
    for part in parts:
        if type(part) is JsonText and part.data is not _NO_DATA and id(part) not in seen:
            seen.add(id(part))
            pieces.append(f"{_TOKEN}{len(values)}__")
            values.append(part)
        else:
            pieces.append(part)
    if not values or size > MAX_FILE_BYTES:
        return _NO_DATA
    skeleton = "".join(pieces)
    if skeleton.count(_TOKEN) != len(values):
        return _NO_DATA  # the template's own text holds the marker
    stats: dict[str, int] = {}
    try:
        check_bounds(skeleton, name, stats)
        if stats["anchors"] or stats["aliases"] or stats["tags"]:
            return _NO_DATA  # what an alias or a tag would make of a value: the slow path says
        loader = _SkeletonLoader(skeleton)
        try:
            node = loader.get_single_node()
            swap = _token_nodes(node, values) if node is not None else None
            if swap is None:
                return _NO_DATA
            loader.swap = swap
            return loader.construct_document(node)
        finally:
            loader.dispose()
    except (yaml.YAMLError, YamlError, RecursionError):
        return _NO_DATA


def _runtime_message(exc: Exception, template: LoadedTemplate) -> str:
    if isinstance(exc, jinja2.UndefinedError):
        msg = exc.message or "undefined value"
        m = re.fullmatch(r"'(\w+)' is undefined", msg)
        if m:
            known = ", ".join(sorted(template.manifest.params)) or "none"
            return f"{msg} (not a parameter of this template; its parameters: {known})"
        return msg
    if isinstance(exc, jinja2.exceptions.SecurityError):
        if "of 'Param' object" in str(exc):
            return (
                "string methods cannot be used on parameter values; quote them with |sql_str, "
                "|sql_ident, |sql_list or |tojson (or use |text for a label)"
            )
        return f"not allowed in a template: {exc}"
    if isinstance(exc, TemplateValueError | pydantic.ValidationError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


def _display(filename: str | None, env: SandboxedEnvironment) -> str | None:
    if not filename:
        return None
    loader = env.loader
    assert isinstance(loader, ConfinedLoader)
    try:
        rel = Path(filename).resolve().relative_to(loader.root)
    except ValueError:
        return None
    return template_display(rel.as_posix())


def _syntax_error(exc: jinja2.TemplateSyntaxError, env: SandboxedEnvironment) -> RenderError:
    file = _display(exc.filename, env) or (template_display(exc.name) if exc.name else None)
    return RenderError(f"template syntax error: {exc.message}", file, exc.lineno)


def _template_frame(
    tb: TracebackType | None, env: SandboxedEnvironment
) -> tuple[str | None, int | None]:
    """The innermost frame that belongs to a template file. Jinja rewrites tracebacks so that
    template frames carry the template's path and line (jinja2/debug.py)."""
    found: tuple[str | None, int | None] = (None, None)
    while tb is not None:
        display = _display(tb.tb_frame.f_code.co_filename, env)
        if display is not None:
            found = (display, tb.tb_lineno)
        tb = tb.tb_next
    return found


# --------------------------------------------------------------------------------------------
# Helpers exposed to templates: they build OpenObserve objects so a panel or an alert is a call.
# --------------------------------------------------------------------------------------------

# Panel types the UI knows (web/src/utils/dashboard/panelValidation.ts; reference §4.2).
PANEL_TYPES = frozenset(
    {"area", "area-stacked", "bar", "h-bar", "line", "scatter", "stacked", "h-stacked", "pie"}
    | {"donut", "heatmap", "table", "metric", "gauge", "geomap", "maps", "sankey"}
    | {"custom_chart", "html", "markdown"}
)
_CURRENCY_UNITS = {
    "USD": "currency-dollar",
    "EUR": "currency-euro",
    "GBP": "currency-pound",
    "JPY": "currency-yen",
    "INR": "currency-rupee",
}


def currency_unit(currency: str) -> dict[str, str]:
    """Panel config keys that show money in ``currency`` (UI unit names, reference §4.4)."""
    unit = _CURRENCY_UNITS.get(plain(currency))
    return {"unit": unit} if unit else {"unit": "custom", "unit_custom": f" {currency}"}


def _axis(spec: Mapping[str, str] | Sequence[str] | str | None, *, x: bool) -> list[dict[str, Any]]:
    if spec is None:
        return []
    if isinstance(spec, str):
        spec = [spec]
    pairs = list(spec.items()) if isinstance(spec, Mapping) else [(a, a) for a in spec]
    items = []
    for alias, label in pairs:
        if not re.fullmatch(r"[a-z_][a-z0-9_]*", plain(alias)):
            raise TemplateValueError(
                f"panel: column alias {alias!r} must be a plain lower-case name"
            )
        item: dict[str, Any] = {
            "label": plain(label),
            "alias": plain(alias),
            "column": plain(alias),
            "color": None,
            "type": "custom",
        }
        if x:
            # The time bucket is a timestamp axis; any other x column (a model id) is a category.
            item["treatAsNonTimestamp"] = alias != "ts"
        items.append(item)
    return items


def _layout_hint(w: int, h: int) -> dict[str, int]:
    if isinstance(w, bool) or not isinstance(w, int) or not 1 <= w <= GRID_COLUMNS:
        raise TemplateValueError(f"panel: w must be an integer from 1 to {GRID_COLUMNS}")
    if isinstance(h, bool) or not isinstance(h, int) or h < 1:
        raise TemplateValueError("panel: h must be a positive integer")
    return {"w": w, "h": h}


def panel(
    type: str,
    title: str,
    sql: str,
    *,
    stream: str,
    x: Any = None,
    y: Any = None,
    breakdown: Any = None,
    description: str = "",
    unit: str | None = None,
    unit_custom: str | None = None,
    decimals: int | None = None,
    w: int = 96,
    h: int = 18,
    config: Mapping[str, Any] | None = None,
    column_units: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """A v8 SQL panel (custom query). ``x``/``y``/``breakdown`` name the SQL's output columns,
    as a list of aliases or a mapping alias → label. ``id`` and ``layout.x/y/i`` are filled in
    by ``finish_dashboard``; ``w``/``h`` are the size on the 192-column grid. ``column_units``
    gives some columns their own unit (``override_config``, matched by name as the UI writes it
    in web/src/composables/dashboard/useColumnFormatting.ts), e.g. a sample count in a table of
    milliseconds."""
    if type not in PANEL_TYPES:
        raise TemplateValueError(f"panel: unknown panel type {type!r}")
    if not plain(title).strip():
        raise TemplateValueError("panel: title cannot be empty")
    panel_config: dict[str, Any] = {"show_legends": True, "legends_position": None}
    if unit is not None:
        panel_config["unit"] = plain(unit)
    if unit_custom is not None:
        panel_config["unit_custom"] = plain(unit_custom)
    if decimals is not None:
        panel_config["decimals"] = decimals
    if column_units:
        panel_config["override_config"] = [
            {"field": {"matchBy": "name", "value": plain(column)},
             "config": [{"type": "unit", "value": {"unit": plain(unit), "customUnit": ""}}]}
            for column, unit in sorted(column_units.items())
        ]
    if config:
        panel_config.update(dict(config))
    query = {
        "query": require_sql_fragment(sql, "panel: sql").strip(),
        "vrlFunctionQuery": None,
        "customQuery": True,
        "fields": {
            "stream": plain(stream),
            "stream_type": "logs",
            "x": _axis(x, x=True),
            "y": _axis(y, x=False),
            "z": [],
            "breakdown": _axis(breakdown, x=False),
            "filter": {"filterType": "group", "logicalOperator": "AND", "conditions": []},
        },
        "config": {"promql_legend": ""},
    }
    return {
        "id": None,
        "type": type,
        "title": plain(title),
        "description": plain(description),
        "config": panel_config,
        "queryType": "sql",
        "queries": [query],
        "layout": _layout_hint(w, h),
    }


def markdown_panel(title: str, content: str, *, w: int = 96, h: int = 18) -> dict[str, Any]:
    if not plain(content).strip():
        raise TemplateValueError("markdown_panel: content cannot be empty")
    return {
        "id": None,
        "type": "markdown",
        "title": plain(title),
        "description": "",
        "config": {"show_legends": False, "legends_position": None},
        "queryType": "",
        "queries": [],
        "markdownContent": plain(content),
        "layout": _layout_hint(w, h),
    }


def _variable_common(name: str, label: str) -> dict[str, Any]:
    if not re.fullmatch(r"[a-z][a-z0-9_]*", plain(name)):
        raise TemplateValueError(f"variable name {name!r} must be a plain lower-case name")
    return {"name": plain(name), "label": plain(label)}


def query_values_variable(
    name: str, label: str, *, stream: str, field: str, max_record_size: int | None = None
) -> dict[str, Any]:
    """Multi-select variable filled from a stream field; "All" (``_o2_all_``) by default.

    Use it in SQL as ``column IN ($name)``: the UI pastes the selection as quoted, escaped
    literals, and the server rewrites an ``IN`` list holding ``'_o2_all_'`` to ``true``
    (src/search/src/sql/rewriter/remove_dashboard_placeholder.rs)."""
    return {
        "type": "query_values",
        **_variable_common(name, label),
        "query_data": {
            "stream_type": "logs",
            "stream": plain(stream),
            "field": plain(field),
            "max_record_size": max_record_size,
        },
        "value": None,
        "options": [],
        "multiSelect": True,
        "selectAllValueForMultiSelect": "all",
        "escapeSingleQuotes": True,
    }


def custom_variable(name: str, label: str, *, choices: Sequence[str]) -> dict[str, Any]:
    """Multi-select variable with fixed choices (validated by the parameter type)."""
    if not choices:
        raise TemplateValueError("custom_variable: choices cannot be empty")
    return {
        "type": "custom",
        **_variable_common(name, label),
        "query_data": None,
        "value": None,
        "options": [{"label": plain(c), "value": plain(c)} for c in choices],
        "multiSelect": True,
        "selectAllValueForMultiSelect": "all",
        "escapeSingleQuotes": True,
    }


def sql_alert(
    *,
    stream: str,
    sql: str,
    period: int,
    frequency: int,
    silence: int,
    description: str = "",
    row_template: str = "",
    operator: str = ">=",
    threshold: int = 1,
    tags: Sequence[str] = (),
    priority: int | None = None,
    context_attributes: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """A scheduled SQL alert (v2 shape, reference §5.1) without ``name``, ``destinations`` and
    ``enabled``, which come from the YAML file.

    For SQL alerts OpenObserve compares the *number of rows* the query returns with
    ``operator``/``threshold``; with the default ``>= 1`` the SQL alone decides what breaches.
    """
    for label, value, low in (
        ("period", period, 1),
        ("frequency", frequency, 1),
        ("silence", silence, 0),
    ):
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise TemplateValueError(f"sql_alert: {label} must be an integer ≥ {low} (minutes)")
    if operator not in ("=", "!=", ">", ">=", "<", "<="):
        raise TemplateValueError(f"sql_alert: unknown operator {operator!r}")
    body: dict[str, Any] = {
        "stream_type": "logs",
        "stream_name": plain(stream),
        "is_real_time": False,
        "query_condition": {
            "type": "sql",
            "conditions": None,
            "sql": require_sql_fragment(sql, "sql_alert: sql").strip(),
            "promql": None,
            "promql_condition": None,
            "aggregation": None,
            "vrl_function": None,
            "search_event_type": None,
            "multi_time_range": None,
        },
        "trigger_condition": {
            "period": period,
            "operator": operator,
            "threshold": threshold,
            "frequency": frequency,
            "frequency_type": "minutes",
            "cron": "",
            "silence": silence,
            "timezone": "UTC",
            "tolerance_in_secs": None,
            "align_time": True,
        },
        "description": plain(description),
        "row_template": plain(row_template),
        "row_template_type": "String",
        "tz_offset": 0,
        "tags": [plain(t) for t in tags],
    }
    if context_attributes:
        body["context_attributes"] = {plain(k): plain(v) for k, v in context_attributes.items()}
    if priority is not None:
        body["priority"] = priority
    return body


# --------------------------------------------------------------------------------------------
# After rendering: stable panel ids and a layout without overlaps.
# --------------------------------------------------------------------------------------------


def slug(text: str, *, sep: str = "_") -> str:
    """Lower-case ASCII words joined by ``sep``; ``"p50 / p99 (ms)"`` → ``"p50_p99_ms"``."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return sep.join(re.findall(r"[a-z0-9]+", ascii_text.lower())) or "x"


@dataclass
class _Placer:
    """Places panels left to right, wrapping to a new row when the next one does not fit."""

    x: int = 0
    y: int = 0
    row_height: int = 0
    placed: list[tuple[int, int, int, int]] = field(default_factory=list)

    def place(self, w: int, h: int) -> tuple[int, int]:
        if self.x + w > GRID_COLUMNS:
            self.x, self.y, self.row_height = 0, self.y + self.row_height, 0
        pos = (self.x, self.y)
        self.x += w
        self.row_height = max(self.row_height, h)
        return pos


def finish_dashboard(body: dict[str, Any]) -> list[str]:
    """Fill in what a template leaves to o2kit, in place: ``version``, tab ids, panel ids
    (``<tab>-<title>``, stable, unique across tabs) and ``layout.x/y/i`` (flow layout; ``i`` is
    1..n per tab). Returns problems with the rendered shape, as messages."""
    problems: list[str] = []
    body.setdefault("version", 8)
    tabs = body.get("tabs")
    if not isinstance(tabs, list) or not tabs:
        return ["no tabs (render a list of {name, panels})"]
    used_ids: set[str] = set()
    for t_index, tab in enumerate(tabs):
        if not isinstance(tab, dict) or not isinstance(tab.get("name"), str):
            problems.append(f"tabs[{t_index}]: each tab needs a name")
            continue
        tab.setdefault("tabId", slug(tab["name"]))
        panels = tab.setdefault("panels", [])
        if not isinstance(panels, list):
            problems.append(f"tabs[{t_index}].panels: must be a list")
            continue
        placer = _Placer()
        for p_index, item in enumerate(panels):
            where = f"tabs[{t_index}].panels[{p_index}]"
            if not isinstance(item, dict) or not isinstance(item.get("title"), str):
                problems.append(f"{where}: each panel needs a title")
                continue
            if item.get("id") is None:
                base = f"{slug(str(tab['tabId']))}-{slug(item['title'])}"
                candidate, n = base, 2
                while candidate in used_ids:
                    candidate, n = f"{base}-{n}", n + 1
                item["id"] = candidate
            used_ids.add(str(item["id"]))
            layout = item.get("layout")
            if not isinstance(layout, dict) or not {"w", "h"} <= layout.keys():
                problems.append(f"{where}: layout needs w and h")
                continue
            if "x" not in layout or "y" not in layout:
                x, y = placer.place(int(layout["w"]), int(layout["h"]))
                layout["x"], layout["y"] = x, y
            layout["i"] = p_index + 1
            item["layout"] = {k: layout[k] for k in ("x", "y", "w", "h", "i")}
    return problems
