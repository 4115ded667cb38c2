"""Pictures of dashboards for review: a dashboard v8 body plus query answers → PNG images.

``o2kit preview`` draws every dashboard the way a reviewer would see it in OpenObserve — panels at
their place on the 192-column grid, each with its title and its chart drawn from the answers of
its queries (the local engine over synthetic traffic, or a server) — so a pull request can show
what a change looks like, not only its JSON.

Two steps, both usable on their own:

- ``run_panels(body, runner, start_us=, end_us=)`` runs every SQL query of every panel through a
  ``check.Runner`` and keeps each answer or error per panel (``PanelKey`` = tab id, panel id);
- ``draw_dashboard(body, results, ...)`` draws one ``Picture`` per tab (or one tall picture with
  every tab stacked). Each picture carries its PNG bytes and, per panel, the text it drew — the
  hook tests use to check what a panel says without reading pixels.

Drawing rules: line/area/scatter over time (x from ``histogram``), one series per breakdown value
(and per y alias when there are several); bar, stacked, h-bar and h-stacked; metric and gauge as a
big number in the panel's unit; table as its first rows; pie and donut; markdown and html as text;
any other type as a labelled placeholder. A query error is drawn in red inside its panel, an empty
answer as "no data".

The output is a pure function of its inputs: fixed size (``WIDTH_PX`` wide; ``ROW_PX`` per grid
row, OpenObserve's GridStack ``cellHeight`` of 17px in
``web/src/views/Dashboards/RenderDashboardCharts.vue``), fixed DPI, matplotlib's bundled DejaVu
fonts, no clock, and no ``Software`` or date in the PNG metadata — the same data gives the same
bytes, so a picture can be committed and compared. matplotlib is used without pyplot (no global
figure registry, no display).
"""

from __future__ import annotations

import datetime as dt
import io
import logging
import math
import re
import textwrap
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from o2kit.errors import O2kitError

log = logging.getLogger(__name__)

GRID_COLUMNS = 192
WIDTH_PX = 1600
ROW_PX = 17  # OpenObserve's GridStack cellHeight (RenderDashboardCharts.vue)
DPI = 100
HEADER_PX = 52  # the dashboard title bar
TAB_HEADER_PX = 28  # a tab's name bar when tabs are stacked in one picture
MARGIN_PX = 8  # around the grid
GAP_PX = 3  # inside each grid cell, between neighbouring panels
PANEL_TITLE_PX = 22
EMPTY_TAB_ROWS = 4

PanelKey = tuple[str, str]  # (tab id, panel id)

_BACKGROUND = "#eef0f3"
_PANEL = "#ffffff"
_BORDER = "#c9ced6"
_INK = "#1f2328"
_MUTED = "#6e7781"
_ERROR = "#c62828"
_HEADER = "#24292f"
# Colour-blind-safe qualitative palette (Okabe–Ito, then tab10's extras).
_PALETTE = ("#0072b2", "#e69f00", "#009e73", "#d55e00", "#cc79a7", "#56b4e9", "#f0e442",
            "#000000", "#8c564b", "#7f7f7f", "#bcbd22", "#17becf")
_MAX_LEGEND = 16
_DASHES: tuple[Literal["-", "--", ":", "-."], ...] = ("-", "--", ":", "-.")

_TIME_SERIES = {"line", "area", "area-stacked", "scatter"}
_BARS = {"bar", "stacked", "h-bar", "h-stacked"}
_METRICS = {"metric", "gauge"}


@dataclass(frozen=True)
class QueryResult:
    """The answer of one panel query: its rows, or why there are none."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None
    skipped: str | None = None  # a query the preview does not run (e.g. PromQL)
    bucket_seconds: int | None = None  # the query's histogram interval, when it has one


@dataclass
class Picture:
    """One drawn image: a tab (``name`` = tab id) or a whole dashboard (``name`` = "")."""

    name: str
    png: bytes
    width: int
    height: int
    texts: dict[PanelKey, list[str]]  # what was written inside each panel (title first)


# --- running the queries --------------------------------------------------------------------------


def panel_keys(body: Mapping[str, Any]) -> list[tuple[PanelKey, Mapping[str, Any]]]:
    """Every panel of a dashboard with its key, in tab and panel order."""
    out = []
    for t_index, tab in enumerate(body.get("tabs") or []):
        tab_id = str(tab.get("tabId") or t_index)
        for p_index, panel in enumerate(tab.get("panels") or []):
            out.append(((tab_id, str(panel.get("id") or p_index)), panel))
    return out


def run_panels(body: Mapping[str, Any], runner: Any, *, start_us: int,
               end_us: int) -> dict[PanelKey, list[QueryResult]]:
    """Run each panel's SQL queries through ``runner(sql, start_us, end_us) -> rows``.

    An ``O2kitError`` from the runner (an engine or server error) becomes that query's ``error``;
    anything else is a bug and propagates."""
    results: dict[PanelKey, list[QueryResult]] = {}
    for key, panel in panel_keys(body):
        if panel.get("type") in ("markdown", "html"):
            continue
        answers: list[QueryResult] = []
        query_type = panel.get("queryType") or "sql"
        for query in panel.get("queries") or []:
            sql = query.get("query")
            if query_type != "sql":
                answers.append(QueryResult(skipped=f"{query_type} queries are not run here"))
            elif not sql:
                continue
            else:
                try:
                    rows = list(runner(str(sql), start_us, end_us))
                except O2kitError as exc:
                    answers.append(QueryResult(error=exc.message))
                    continue
                answers.append(QueryResult(rows=rows, bucket_seconds=_bucket_seconds(
                    str(sql), start_us, end_us)))
        results[key] = answers
    return results


def failed_queries(body: Mapping[str, Any], results: Mapping[PanelKey, Sequence[QueryResult]]
                   ) -> tuple[int, list[tuple[str, str]]]:
    """How many queries ran (answered or failed; skipped ones not counted), and each failure as
    (``tab "…" › panel "…"``, the error), in panel order."""
    tab_names = {str(t.get("tabId") or i): _tab_name(t)
                 for i, t in enumerate(body.get("tabs") or [])}
    ran, failures = 0, []
    for key, panel in panel_keys(body):
        for answer in results.get(key, ()):
            if answer.skipped:
                continue
            ran += 1
            if answer.error:
                title = str(panel.get("title") or key[1])
                failures.append((f'tab "{tab_names.get(key[0], key[0])}" › panel "{title}"',
                                 answer.error))
    return ran, failures


def _bucket_seconds(sql: str, start_us: int, end_us: int) -> int | None:
    """The width of the query's time buckets, so a lone bucket is drawn at its true width."""
    from o2kit.query.engine import query_histogram_seconds

    try:
        return query_histogram_seconds(sql, start_us, end_us, None) or None
    except O2kitError:
        return None


# --- numbers and units ----------------------------------------------------------------------------

# Unit ladders: (suffix, divisor), smallest first. OpenObserve picks the largest step not above the
# value (web/src/utils/dashboard/convertDataIntoUnitValue.ts, getUnitValue).
_TIME_STEPS_S = (("ns", 1e-9), ("μs", 1e-6), ("ms", 1e-3), ("s", 1.0), ("m", 60.0),
                 ("h", 3600.0), ("D", 86400.0), ("M", 2592000.0), ("Y", 31536000.0))
_BYTES = tuple((u, 1024.0 ** i) for i, u in enumerate(("B", "KB", "MB", "GB", "TB", "PB")))
_LADDERS: dict[str, tuple[tuple[str, float], ...]] = {
    "seconds": _TIME_STEPS_S,
    "milliseconds": tuple((u, d * 1e3) for u, d in _TIME_STEPS_S),
    "microseconds": tuple((u, d * 1e6) for u, d in _TIME_STEPS_S),
    "nanoseconds": tuple((u, d * 1e9) for u, d in _TIME_STEPS_S),
    "bytes": _BYTES,
    "kilobytes": tuple((u, d / 1024.0) for u, d in _BYTES),
    "megabytes": tuple((u, d / 1024.0 ** 2) for u, d in _BYTES),
    "bps": tuple((u + "/s", d) for u, d in _BYTES),
    "numbers": tuple(zip(("", "K", "M", "B", "T", "Q"), (1.0, 1e3, 1e6, 1e9, 1e12, 1e15),
                         strict=True)),
}
_CURRENCY = {"currency-dollar": "$", "currency-euro": "€", "currency-pound": "£",
             "currency-yen": "¥", "currency-rupee": "₹"}


def as_number(value: Any) -> float | None:
    """A finite float, or None for missing, text and NaN."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        number = float(value)
    else:
        try:
            number = float(str(value))
        except ValueError:
            return None
    return number if math.isfinite(number) else None


def format_value(value: Any, unit: str | None, decimals: int | None = None,
                 custom_unit: str | None = None) -> str:
    """A value as the panel shows it: OpenObserve's units (``getUnitValue`` +
    ``formatUnitValue``), ``decimals`` defaulting to 2 as there."""
    number = as_number(value)
    if number is None:
        return "-" if value in (None, "") else str(value)
    places = 2 if decimals is None else max(0, int(decimals))
    unit = unit or "default"
    if unit in _CURRENCY:
        return f"{_CURRENCY[unit]}{number:,.{places}f}"
    if unit in _LADDERS:
        steps = _LADDERS[unit]
        index = len(steps) - 1
        while index > 0 and abs(number) < steps[index][1]:
            index -= 1
        suffix, divisor = steps[index]
        return f"{number / divisor:.{places}f}{suffix}"
    if unit == "percent":
        return f"{number:.{places}f}%"
    if unit == "percent-1":
        return f"{number * 100:.{places}f}%"
    if unit == "custom":
        return f"{number:.{places}f}{custom_unit or ''}"
    return f"{number:.{places}f}"


def _axis_value(value: float, unit: str | None, custom_unit: str | None) -> str:
    """A short tick label: the unit's ladder with trailing zeros dropped."""
    if value == 0:
        return "0"  # not "0ns": the ladder's smallest step means nothing at zero
    text = format_value(value, unit if unit and unit != "default" else "numbers", 2, custom_unit)
    return re.sub(r"\.0+(?=\D|$)|(\.\d*?)0+(?=\D|$)", r"\1", text)


def parse_time(value: Any) -> dt.datetime | None:
    """A histogram bucket as the search API returns it (``2026-01-01T10:05:00``, maybe with
    fraction or zone), or microseconds since the epoch; naive UTC."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        if value > 1e14:  # microseconds
            return dt.datetime(1970, 1, 1) + dt.timedelta(microseconds=int(value))
        return None
    if not isinstance(value, str) or len(value) < 16 or value[4] != "-":
        return None
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(dt.UTC).replace(tzinfo=None)
    return parsed


# --- panel data -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Field:
    alias: str
    label: str


def _fields(panel: Mapping[str, Any], slot: str, query_index: int = 0) -> list[_Field]:
    queries = panel.get("queries") or []
    if query_index >= len(queries):
        return []
    out = []
    for item in (queries[query_index].get("fields") or {}).get(slot) or []:
        if isinstance(item, Mapping) and item.get("alias"):
            out.append(_Field(str(item["alias"]), str(item.get("label") or item["alias"])))
    return out


@dataclass
class _Series:
    name: str
    points: list[tuple[Any, float]]  # (x, y): x a datetime or a category string
    group: str = ""  # the breakdown value(s); the colour follows it across panels
    measure: str = ""  # the y label
    y_index: int = 0  # which y: drawn solid, dashed, dotted, … when there are several

    @property
    def colour_key(self) -> str:
        return self.group or self.measure


def _series(panel: Mapping[str, Any], results: Sequence[QueryResult]) -> tuple[list[_Series], bool]:
    """Series of every answered query and whether x is time. A series is one breakdown value
    (plus any x fields after the first) and one y alias; names are the breakdown values alone
    when there is one y, else "value · y label"."""
    series: dict[str, _Series] = {}
    x_is_time = True
    for q_index, result in enumerate(results):
        xs, ys = _fields(panel, "x", q_index), _fields(panel, "y", q_index)
        groups = _fields(panel, "breakdown", q_index) + xs[1:]
        if not xs or not ys:
            continue
        for row in result.rows:
            x_raw = row.get(xs[0].alias)
            x_time = parse_time(x_raw)
            if x_time is None:
                x_is_time = False
            group = " · ".join(str(row.get(g.alias, "")) for g in groups)
            for y in ys:
                number = as_number(row.get(y.alias))
                if number is None:
                    continue
                name = group if group and len(ys) == 1 else \
                    (f"{group} · {y.label}" if group else y.label)
                series.setdefault(name, _Series(name, [], group, y.label,
                                                ys.index(y))).points.append(
                    (x_time if x_time is not None else str(x_raw), number))
    out = sorted(series.values(), key=lambda s: s.name)
    if x_is_time:
        for s in out:
            s.points.sort(key=lambda p: p[0])
    else:  # categories: keep them as strings in first-seen order
        for s in out:
            s.points = [(p[0] if isinstance(p[0], str) else p[0].isoformat(), p[1])
                        for p in s.points]
    return out, x_is_time and any(s.points for s in out)


def _colour(index: int) -> str:
    return _PALETTE[index % len(_PALETTE)]


def _colour_map(body: Mapping[str, Any],
                results: Mapping[PanelKey, Sequence[QueryResult]]) -> dict[str, str]:
    """One colour per breakdown value (or y label) for the whole dashboard, so a model has the
    same colour in every panel and every tab."""
    keys: set[str] = set()
    for key, panel in panel_keys(body):
        answers = results.get(key) or []
        if panel.get("type") in ("pie", "donut"):
            xs = _fields(panel, "x")
            keys.update(str(r.get(xs[0].alias, "")) for a in answers[:1] for r in a.rows
                        if xs)
        elif panel.get("type") in _TIME_SERIES | _BARS:
            keys.update(s.colour_key for s in _series(panel, answers)[0])
    return {k: _colour(i) for i, k in enumerate(sorted(keys))}


def _fit(text: str, width_px: float, font_pt: float) -> str:
    """Cut ``text`` to about ``width_px`` (DejaVu Sans averages ~0.6 em per character)."""
    per_char = font_pt * DPI / 72 * 0.6
    limit = max(1, int(width_px / per_char))
    return text if len(text) <= limit else text[: max(1, limit - 1)] + "…"


# --- drawing --------------------------------------------------------------------------------------


class _Canvas:
    """A figure addressed in pixels from the top-left corner, recording the text per panel."""

    def __init__(self, width: int, height: int) -> None:
        from matplotlib.figure import Figure

        self.width, self.height = width, height
        self.figure = Figure(figsize=(width / DPI, height / DPI), dpi=DPI,
                             facecolor=_BACKGROUND)
        self.texts: dict[PanelKey, list[str]] = {}
        self.colours: dict[str, str] = {}

    def colour(self, key: str) -> str:
        if key not in self.colours:  # not seen by the dashboard-wide pass
            self.colours[key] = _colour(len(self.colours))
        return self.colours[key]

    def box(self, x: float, y: float, w: float, h: float) -> tuple[float, float, float, float]:
        return (x / self.width, 1 - (y + h) / self.height, w / self.width, h / self.height)

    def rect(self, x: float, y: float, w: float, h: float, *, face: str,
             edge: str | None = None) -> Any:
        from matplotlib.patches import Rectangle

        left, bottom, width, height = self.box(x, y, w, h)
        patch = Rectangle((left, bottom), width, height, transform=self.figure.transFigure,
                          facecolor=face, edgecolor=edge or face, linewidth=0.8,
                          zorder=-10)  # under the chart axes (zorder 0)
        self.figure.patches.append(patch)
        return patch

    def text(self, key: PanelKey | None, x: float, y: float, text: str, *, size: float = 8,
             color: str = _INK, weight: str = "normal", ha: str = "left", va: str = "top",
             clip: Any = None, family: str | None = None) -> None:
        artist = self.figure.text(x / self.width, 1 - y / self.height, text, fontsize=size,
                                  color=color, fontweight=weight, ha=ha, va=va,
                                  family=family or "DejaVu Sans")
        if clip is not None:
            artist.set_clip_path(clip)
        if key is not None:
            self.texts.setdefault(key, []).append(text)

    def png(self) -> bytes:
        from matplotlib.backends.backend_agg import FigureCanvasAgg

        FigureCanvasAgg(self.figure)
        buffer = io.BytesIO()
        # No Software/date chunks: the same drawing gives the same bytes.
        self.figure.savefig(buffer, format="png", dpi=DPI,
                            metadata={"Software": None})
        return buffer.getvalue()


@dataclass(frozen=True)
class _Box:
    x: float
    y: float
    w: float
    h: float


def _grid_rows(tab: Mapping[str, Any]) -> int:
    bottom = 0
    for panel in tab.get("panels") or []:
        layout = panel.get("layout") or {}
        bottom = max(bottom, int(layout.get("y") or 0) + int(layout.get("h") or 0))
    return bottom or EMPTY_TAB_ROWS


def picture_height(tabs: Sequence[Mapping[str, Any]], *, stacked: bool) -> int:
    """Pixel height of a picture of ``tabs``: the title bar, then each tab's grid rows (with a
    name bar per tab when stacked)."""
    rows = sum(_grid_rows(t) for t in tabs)
    bars = TAB_HEADER_PX * len(tabs) if stacked else 0
    return HEADER_PX + bars + rows * ROW_PX + 2 * MARGIN_PX


def draw_dashboard(body: Mapping[str, Any], results: Mapping[PanelKey, Sequence[QueryResult]],
                   *, split_tabs: bool = True, subtitle: str = "",
                   window_us: tuple[int, int] | None = None) -> list[Picture]:
    """Draw ``body`` with ``results`` (from ``run_panels``): one picture per tab, or with
    ``split_tabs=False`` one picture of every tab stacked. ``subtitle`` goes under the title
    (say where the data came from); ``window_us`` fixes the time axes to the queried range."""
    from matplotlib import rc_context

    tabs = list(enumerate(body.get("tabs") or [])) or [(0, {"tabId": "", "panels": []})]
    groups = [[t] for t in tabs] if split_tabs else [tabs]
    pictures = []
    style: Any = {"font.family": "DejaVu Sans", "axes.unicode_minus": False,
             "path.simplify": True, "axes.linewidth": 0.6}
    colours = _colour_map(body, results)
    with rc_context(style):
        for group in groups:
            canvas = _Canvas(WIDTH_PX, picture_height([t for _, t in group],
                                                      stacked=not split_tabs))
            canvas.colours = dict(colours)
            title = str(body.get("title") or "")
            if split_tabs and len(tabs) > 1:
                title += f"  ›  {_tab_name(group[0][1])}"
            _draw_header(canvas, title, subtitle)
            top = HEADER_PX + MARGIN_PX
            for t_index, tab in group:
                if not split_tabs:
                    canvas.rect(MARGIN_PX, top + 2, WIDTH_PX - 2 * MARGIN_PX,
                                TAB_HEADER_PX - 6, face="#dde1e7")
                    canvas.text(None, MARGIN_PX + 8, top + TAB_HEADER_PX / 2 - 1,
                                _tab_name(tab), size=10, weight="bold", va="center")
                    top += TAB_HEADER_PX
                _draw_tab(canvas, tab, str(tab.get("tabId") or t_index), top, results,
                          window_us)
                top += _grid_rows(tab) * ROW_PX
            name = str(group[0][1].get("tabId") or group[0][0]) if split_tabs else ""
            pictures.append(Picture(name=name, png=canvas.png(), width=canvas.width,
                                    height=canvas.height, texts=canvas.texts))
    return pictures


def _tab_name(tab: Mapping[str, Any]) -> str:
    return str(tab.get("name") or tab.get("tabId") or "")


def _draw_header(canvas: _Canvas, title: str, subtitle: str) -> None:
    canvas.rect(0, 0, canvas.width, HEADER_PX, face=_HEADER)
    canvas.text(None, MARGIN_PX + 4, 8, _fit(title, canvas.width - 40, 14), size=14,
                color="#ffffff", weight="bold")
    if subtitle:
        canvas.text(None, MARGIN_PX + 4, 33, _fit(subtitle, canvas.width - 40, 8), size=8,
                    color="#d0d7de")


def _draw_tab(canvas: _Canvas, tab: Mapping[str, Any], tab_id: str, top: float,
              results: Mapping[PanelKey, Sequence[QueryResult]],
              window_us: tuple[int, int] | None) -> None:
    panels = tab.get("panels") or []
    column_px = (canvas.width - 2 * MARGIN_PX) / GRID_COLUMNS
    if not panels:
        canvas.text(None, canvas.width / 2, top + EMPTY_TAB_ROWS * ROW_PX / 2, "no panels",
                    size=10, color=_MUTED, ha="center", va="center")
    for p_index, panel in enumerate(panels):
        layout = panel.get("layout") or {}
        box = _Box(MARGIN_PX + int(layout.get("x") or 0) * column_px + GAP_PX,
                   top + int(layout.get("y") or 0) * ROW_PX + GAP_PX,
                   int(layout.get("w") or 0) * column_px - 2 * GAP_PX,
                   int(layout.get("h") or 0) * ROW_PX - 2 * GAP_PX)
        if box.w <= 0 or box.h <= 0:
            continue
        key = (tab_id, str(panel.get("id") or p_index))
        _draw_panel(canvas, key, panel, box, results.get(key), window_us)


def _draw_panel(canvas: _Canvas, key: PanelKey, panel: Mapping[str, Any], box: _Box,
                results: Sequence[QueryResult] | None,
                window_us: tuple[int, int] | None) -> None:
    frame = canvas.rect(box.x, box.y, box.w, box.h, face=_PANEL, edge=_BORDER)
    title = str(panel.get("title") or "")
    canvas.text(key, box.x + 8, box.y + 5, _fit(title, box.w - 16, 9), size=9, weight="bold",
                clip=frame)
    inner = _Box(box.x + 6, box.y + PANEL_TITLE_PX, box.w - 12, box.h - PANEL_TITLE_PX - 4)
    kind = str(panel.get("type") or "")
    if kind == "markdown":
        _draw_markdown(canvas, key, str(panel.get("markdownContent") or ""), inner, frame)
        return
    if kind == "html":
        text = re.sub(r"<[^>]+>", " ", str(panel.get("htmlContent") or ""))
        _draw_markdown(canvas, key, text, inner, frame)
        return
    known = _TIME_SERIES | _BARS | _METRICS | {"table", "pie", "donut"}
    if kind not in known:
        _message(canvas, key, inner, f"{kind or 'untyped'} panel — not drawn in previews",
                 _MUTED, frame)
        return
    answers = list(results or [])
    errors = [a.error for a in answers if a.error]
    if errors:  # tinted, so a broken panel stands out even in a thumbnail
        canvas.rect(box.x + 1, box.y + 1, box.w - 2, box.h - 2, face="#fdecea")
        _message(canvas, key, inner, "query failed: " + errors[0], _ERROR, frame, wrap=True)
        return
    skipped = [a.skipped for a in answers if a.skipped]
    if skipped and not any(a.rows for a in answers):
        _message(canvas, key, inner, skipped[0], _MUTED, frame)
        return
    if not any(a.rows for a in answers):
        _message(canvas, key, inner, "no data", _MUTED, frame)
        return
    config = panel.get("config") or {}
    unit = config.get("unit")
    custom = config.get("unit_custom")
    decimals = config.get("decimals")
    if kind in _METRICS:
        _draw_metric(canvas, key, panel, answers[0], inner, unit, decimals, custom, frame)
    elif kind == "table":
        _draw_table(canvas, key, panel, answers[0], inner, unit, decimals, custom, frame)
    elif kind in ("pie", "donut"):
        _draw_pie(canvas, key, panel, answers[0], inner, donut=kind == "donut")
    else:
        series, x_is_time = _series(panel, answers)
        buckets = [a.bucket_seconds for a in answers if a.bucket_seconds]
        if not series:
            _message(canvas, key, inner, "no data", _MUTED, frame)
            return
        legend = bool(config.get("show_legends", True)) and len(series) > 1
        _draw_chart(canvas, key, kind, series, x_is_time, inner, unit, custom, legend,
                    window_us, min(buckets) if buckets else None)


def _message(canvas: _Canvas, key: PanelKey, box: _Box, text: str, color: str, clip: Any,
             *, wrap: bool = False) -> None:
    if not wrap:
        canvas.text(key, box.x + box.w / 2, box.y + box.h / 2, _fit(text, box.w - 8, 9), size=9,
                    color=color, ha="center", va="center", clip=clip)
        return
    per_char = 8 * DPI / 72 * 0.6
    lines = textwrap.wrap(text, width=max(10, int((box.w - 12) / per_char)))
    fit = max(1, int(box.h // 14))
    if len(lines) > fit:
        lines = lines[: fit - 1] + [lines[fit - 1][:-1] + "…"]
    canvas.text(key, box.x + 4, box.y + 4, "\n".join(lines), size=8, color=color, clip=clip)


def _draw_metric(canvas: _Canvas, key: PanelKey, panel: Mapping[str, Any], answer: QueryResult,
                 box: _Box, unit: str | None, decimals: Any, custom: str | None,
                 clip: Any) -> None:
    ys = _fields(panel, "y")
    row = answer.rows[0]
    alias = ys[0].alias if ys else next(iter(row), "")
    if alias not in row:
        _message(canvas, key, box, f"the answer has no column {alias!r}", _ERROR, clip)
        return
    text = format_value(row.get(alias), unit, decimals, custom)
    # The biggest size that fits the box: height-bound, or width-bound for long numbers.
    by_height = box.h * 0.5 * 72 / DPI
    by_width = (box.w - 16) / (len(text) * 0.62) * 72 / DPI
    size = max(8.0, min(by_height, by_width, 40.0))
    canvas.text(key, box.x + box.w / 2, box.y + box.h / 2, text, size=round(size, 1),
                weight="bold", ha="center", va="center", clip=clip)


def _numeric_column(rows: Sequence[Mapping[str, Any]], alias: str) -> bool:
    """OpenObserve's test: the first 20 values are numbers or empty
    (``isSampleValuesNumbers`` in web/src/utils/dashboard/convertTableData.ts)."""
    return all(isinstance(v, int | float) and not isinstance(v, bool) or v in (None, "")
               for v in (row.get(alias) for row in rows[:20]))


def _unit_overrides(config: Mapping[str, Any]) -> dict[str, tuple[str, str | None]]:
    """Per-column units of ``config.override_config`` by lower-case alias
    (``parseOverrideConfigs`` in web/src/utils/dashboard/tableConfigUtils.ts)."""
    out: dict[str, tuple[str, str | None]] = {}
    for item in config.get("override_config") or []:
        alias = ((item or {}).get("field") or {}).get("value") if isinstance(item, Mapping) \
            else None
        for entry in (item.get("config") or []) if alias else []:
            if isinstance(entry, Mapping) and entry.get("type") == "unit":
                value = entry.get("value") or {}
                out[str(alias).lower()] = (str(value.get("unit") or ""),
                                           value.get("customUnit"))
    return out


def _draw_table(canvas: _Canvas, key: PanelKey, panel: Mapping[str, Any], answer: QueryResult,
                box: _Box, unit: str | None, decimals: Any, custom: str | None,
                clip: Any) -> None:
    """The first rows that fit. Every numeric column (by its values, as OpenObserve decides)
    is formatted with the panel's unit and decimals unless ``override_config`` gives the column
    its own unit (web/src/utils/dashboard/convertTableData.ts)."""
    declared = _fields(panel, "x") + _fields(panel, "breakdown") + _fields(panel, "y")
    present = {k for row in answer.rows for k in row}
    columns = [f for f in declared if f.alias in present] or \
        [_Field(k, k) for k in dict.fromkeys(k for row in answer.rows for k in row)]
    overrides = _unit_overrides(panel.get("config") or {})
    row_px, size = 16, 7.5
    fit = max(1, int((box.h - row_px) // row_px))
    shown = answer.rows if len(answer.rows) <= fit else answer.rows[: max(0, fit - 1)]
    numeric = [_numeric_column(answer.rows, c.alias) for c in columns]
    cells = []
    for row in shown:
        line = []
        for c, is_number in zip(columns, numeric, strict=True):
            value = row.get(c.alias)
            if value in (None, ""):
                line.append("")
            elif is_number:
                c_unit, c_custom = overrides.get(c.alias.lower()) or (unit, custom)
                line.append(format_value(value, c_unit or unit, decimals, c_custom or custom))
            else:
                line.append(str(value))
        cells.append(line)
    # Column widths in proportion to their longest text, numbers right-aligned.
    lengths = [max([len(c.label)] + [len(r[i]) for r in cells]) + 3 for i, c in
               enumerate(columns)]
    scale = box.w / max(1, sum(lengths))
    x = box.x
    canvas.rect(box.x, box.y, box.w, row_px, face="#f3f4f6")
    for i, column in enumerate(columns):
        width = lengths[i] * scale
        anchor = x + width - 6 if numeric[i] else x + 4
        ha = "right" if numeric[i] else "left"
        canvas.text(key, anchor, box.y + 3, _fit(column.label, width - 8, size), size=size,
                    weight="bold", ha=ha, clip=clip)
        for r, line in enumerate(cells):
            canvas.text(key, anchor, box.y + row_px * (r + 1) + 3, _fit(line[i], width - 8, size),
                        size=size, ha=ha, clip=clip)
        x += width
    if len(shown) < len(answer.rows):
        canvas.text(key, box.x + 4, box.y + row_px * (len(shown) + 1) + 3,
                    f"… {len(answer.rows) - len(shown)} more rows", size=size, color=_MUTED,
                    clip=clip)


def _draw_pie(canvas: _Canvas, key: PanelKey, panel: Mapping[str, Any], answer: QueryResult,
              box: _Box, *, donut: bool) -> None:
    xs, ys = _fields(panel, "x"), _fields(panel, "y")
    if not xs or not ys:
        _message(canvas, key, box, "no data", _MUTED, None)
        return
    slices = [(str(r.get(xs[0].alias, "")), as_number(r.get(ys[0].alias)) or 0.0)
              for r in answer.rows]
    slices = [s for s in slices if s[1] > 0]
    if not slices:
        _message(canvas, key, box, "no data", _MUTED, None)
        return
    side = min(box.h, box.w * 0.5)
    axes = canvas.figure.add_axes(canvas.box(box.x + 4, box.y, side, side))
    wedge = {"width": 0.4} if donut else {}
    axes.pie([s[1] for s in slices], colors=[canvas.colour(s[0]) for s in slices],
             startangle=90, counterclock=False, wedgeprops=wedge)
    axes.set_aspect("equal")
    total = sum(s[1] for s in slices)
    legend_x = box.x + side + 16
    for i, (name, value) in enumerate(slices[: int(box.h // 14)]):
        label = _fit(f"{name}  {value / total:.0%}", box.x + box.w - legend_x - 14, 7.5)
        canvas.rect(legend_x, box.y + 6 + i * 14, 9, 9, face=canvas.colour(name))
        canvas.text(key, legend_x + 14, box.y + 4 + i * 14, label, size=7.5)


def _draw_chart(canvas: _Canvas, key: PanelKey, kind: str, series: list[_Series],
                x_is_time: bool, box: _Box, unit: str | None, custom: str | None,
                legend: bool, window_us: tuple[int, int] | None,
                bucket_seconds: int | None) -> None:
    from matplotlib.ticker import FuncFormatter, MaxNLocator

    horizontal = kind in ("h-bar", "h-stacked")
    # The legend takes what its longest name needs, at most 240px or 30% of the panel.
    longest = max((len(s.name) for s in series), default=0)
    legend_px = min(240.0, box.w * 0.3, 30 + longest * 7 * DPI / 72 * 0.6) if legend else 0.0
    left_px = 110.0 if horizontal and not x_is_time else 46.0
    plot = _Box(box.x + left_px, box.y + 4, box.w - left_px - legend_px - 6, box.h - 24)
    if plot.w < 40 or plot.h < 30:
        _message(canvas, key, box, "panel too small to draw", _MUTED, None)
        return
    axes = canvas.figure.add_axes(canvas.box(plot.x, plot.y, plot.w, plot.h))
    for side in ("top", "right"):
        axes.spines[side].set_visible(False)
    axes.tick_params(labelsize=7, length=2, colors=_MUTED)
    axes.set_facecolor(_PANEL)
    value_axis = axes.xaxis if horizontal else axes.yaxis
    value_axis.grid(True, color="#e5e7eb", linewidth=0.6)
    axes.set_axisbelow(True)
    value_axis.set_major_formatter(FuncFormatter(lambda v, _pos: _axis_value(v, unit, custom)))
    value_axis.set_major_locator(MaxNLocator(nbins=5))  # fewer, rounder ticks; faster too
    colours = {s.name: canvas.colour(s.colour_key) for s in series}

    if x_is_time:
        _time_chart(axes, kind, series, colours, window_us, bucket_seconds)
    else:
        _category_chart(axes, kind, series, colours, horizontal)

    if legend:
        _draw_legend(canvas, key, series, colours,
                     _Box(plot.x + plot.w + 10, plot.y, legend_px - 10, plot.h),
                     lines=x_is_time and kind in ("line", "area") or kind == "line")


def _time_chart(axes: Any, kind: str, series: list[_Series], colours: Mapping[str, str],
                window_us: tuple[int, int] | None, bucket_seconds: int | None) -> None:
    import matplotlib.dates as mdates

    times = sorted({p[0] for s in series for p in s.points})
    numbers = mdates.date2num(times)
    if bucket_seconds:
        step = bucket_seconds / 86400
    else:
        step = min((b - a for a, b in zip(numbers, numbers[1:], strict=False)),
                   default=1 / 1440)
    stacked = kind in ("area-stacked", "stacked", "h-stacked")
    if stacked or kind in _BARS:
        index = {t: i for i, t in enumerate(times)}
        base = [0.0] * len(times)
        width = step * (0.8 if stacked else 0.8 / max(1, len(series)))
        for n, s in enumerate(series):
            values = [0.0] * len(times)
            for t, v in s.points:
                values[index[t]] += v
            if kind == "area-stacked":
                top = [b + v for b, v in zip(base, values, strict=True)]
                axes.fill_between(numbers, base, top, color=colours[s.name], alpha=0.55,
                                  linewidth=0)
                base = top
            elif stacked:
                axes.bar(numbers, values, width=width, bottom=base, color=colours[s.name],
                         align="center")
                base = [b + v for b, v in zip(base, values, strict=True)]
            else:
                offset = (n - (len(series) - 1) / 2) * width
                axes.bar([x + offset for x in numbers], values, width=width,
                         color=colours[s.name], align="center")
    else:
        for s in series:
            xs = mdates.date2num([p[0] for p in s.points])
            ys = [p[1] for p in s.points]
            if kind == "scatter":
                axes.scatter(xs, ys, s=6, color=colours[s.name])
                continue
            axes.plot(xs, ys, color=colours[s.name], linewidth=1.3,
                      linestyle=_DASHES[s.y_index % len(_DASHES)],
                      marker="o" if len(xs) <= 3 else None, markersize=3)
            if kind == "area":
                axes.fill_between(xs, 0, ys, color=colours[s.name], alpha=0.15, linewidth=0)
    low, high = numbers[0] - step / 2, numbers[-1] + step / 2
    if window_us is not None:
        epoch = dt.datetime(1970, 1, 1)
        low = min(low, float(mdates.date2num(epoch + dt.timedelta(microseconds=window_us[0]))))
        high = max(high, float(mdates.date2num(epoch + dt.timedelta(microseconds=window_us[1]))))
    axes.set_xlim(low, high)
    span_days = high - low
    axes.xaxis.set_major_locator(mdates.AutoDateLocator(minticks=3, maxticks=7))
    axes.xaxis.set_major_formatter(mdates.DateFormatter("%H:%M" if span_days <= 1 else
                                                        "%m-%d %H:%M"))
    axes.set_ylim(bottom=min(0.0, axes.get_ylim()[0]))


def _category_chart(axes: Any, kind: str, series: list[_Series], colours: Mapping[str, str],
                    horizontal: bool) -> None:
    categories = list(dict.fromkeys(str(p[0]) for s in series for p in s.points))
    index = {c: i for i, c in enumerate(categories)}
    stacked = kind in ("stacked", "h-stacked", "area-stacked")
    base = [0.0] * len(categories)
    width = 0.8 if stacked else 0.8 / max(1, len(series))
    draw = axes.barh if horizontal else axes.bar
    for n, s in enumerate(series):
        values = [0.0] * len(categories)
        for c, v in s.points:
            values[index[str(c)]] += v
        if kind in ("line", "area", "scatter"):
            axes.plot(range(len(categories)), values, color=colours[s.name], linewidth=1.3,
                      marker="o", markersize=3)
            continue
        positions = list(range(len(categories)))
        if stacked:
            if horizontal:
                draw(positions, values, height=width, left=base, color=colours[s.name])
            else:
                draw(positions, values, width=width, bottom=base, color=colours[s.name])
            base = [b + v for b, v in zip(base, values, strict=True)]
        else:
            offset = (n - (len(series) - 1) / 2) * width
            shifted = [p + offset for p in positions]
            if horizontal:
                draw(shifted, values, height=width, color=colours[s.name])
            else:
                draw(shifted, values, width=width, color=colours[s.name])
    labels = [_fit(c, 100 if horizontal else 80, 7) for c in categories]
    if horizontal:
        axes.set_yticks(range(len(categories)), labels)
        axes.invert_yaxis()
    else:
        axes.set_xticks(range(len(categories)), labels)


def _draw_legend(canvas: _Canvas, key: PanelKey, series: list[_Series],
                 colours: Mapping[str, str], box: _Box, *, lines: bool) -> None:
    from matplotlib.lines import Line2D

    line_px = 13
    room = max(1, int(box.h // line_px))
    shown = series if len(series) <= min(room, _MAX_LEGEND) else \
        series[: max(1, min(room, _MAX_LEGEND) - 1)]
    for i, s in enumerate(shown):
        top = box.y + 3 + i * line_px
        if lines:  # a short stroke in the series' colour and dash
            left, bottom, width, _ = canvas.box(box.x - 2, top + 4, 12, 0)
            canvas.figure.add_artist(Line2D(
                [left, left + width], [bottom, bottom], transform=canvas.figure.transFigure,
                color=colours[s.name], linewidth=1.6,
                linestyle=_DASHES[s.y_index % len(_DASHES)]))
        else:
            canvas.rect(box.x, top, 8, 8, face=colours[s.name])
        canvas.text(key, box.x + 14, top - 2, _legend_name(s, box.w - 16), size=7)
    if len(shown) < len(series):
        canvas.text(key, box.x + 14, box.y + 1 + len(shown) * line_px,
                    f"+{len(series) - len(shown)} more", size=7, color=_MUTED)


def _legend_name(s: _Series, width_px: float) -> str:
    """The series name cut to fit, keeping its y label whole when both are in it."""
    if s.group and s.name.endswith(f" · {s.measure}"):
        suffix = f" · {s.measure}"
        per_char = 7 * DPI / 72 * 0.6
        return _fit(s.group, max(per_char * 4, width_px - len(suffix) * per_char), 7) + suffix
    return _fit(s.name, width_px, 7)


def _inline(text: str) -> str:
    text = re.sub(r"\*\*(.+?)\*\*|__(.+?)__", lambda m: m.group(1) or m.group(2), text)
    text = re.sub(r"`([^`]*)`", r"\1", text)
    return re.sub(r"\[([^\]]+)\]\([^)]*\)", r"\1", text)


def _markdown_lines(text: str) -> list[tuple[str, str]]:
    """Markdown as plain lines with a style ("normal", "bold" for headings, "mono" for table
    rows, whose cells are padded into columns); emphasis, code and link marks are dropped."""
    out: list[tuple[str, str]] = []
    table: list[list[str]] = []

    def flush() -> None:
        if table:
            widths = [max(len(r[i]) if i < len(r) else 0 for r in table)
                      for i in range(max(len(r) for r in table))]
            out.extend(("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=False)).rstrip(),
                        "mono") for r in table)
            table.clear()

    for raw in text.splitlines():
        line = raw.rstrip()
        if line.strip().startswith("|"):
            if not re.fullmatch(r"\s*\|[\s:|-]+\|?\s*", line):  # not the separator row
                table.append([_inline(c.strip()) for c in line.strip().strip("|").split("|")])
            continue
        flush()
        heading = re.match(r"\s*#{1,6}\s+", line)
        out.append((_inline(line[heading.end():] if heading else line),
                    "bold" if heading else "normal"))
    flush()
    while out and not out[-1][0]:
        out.pop()
    return out


def _draw_markdown(canvas: _Canvas, key: PanelKey, text: str, box: _Box, clip: Any) -> None:
    lines = _markdown_lines(text)
    if not lines:
        _message(canvas, key, box, "(empty)", _MUTED, clip)
        return
    line_px, size = 13, 7.5
    per_char = size * DPI / 72 * 0.52  # prose is narrower than the worst case _fit assumes
    wrapped: list[tuple[str, str]] = []
    for line, style in lines:
        if style == "mono":  # table rows are cut, not wrapped, to keep their columns
            wrapped.append((_fit(line, box.w - 8, size), style))
            continue
        pieces = textwrap.wrap(line, width=max(10, int((box.w - 8) / per_char))) or [""]
        wrapped.extend((p, style) for p in pieces)
    room = max(1, int(box.h // line_px))
    if len(wrapped) > room:
        wrapped = wrapped[: room - 1] + [(f"… {len(wrapped) - room + 1} more lines", "normal")]
    for i, (line, style) in enumerate(wrapped):
        if line:
            canvas.text(key, box.x + 4, box.y + i * line_px, line, size=size,
                        weight="bold" if style == "bold" else "normal", clip=clip,
                        family="DejaVu Sans Mono" if style == "mono" else None)
