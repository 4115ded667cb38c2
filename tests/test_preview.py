"""``o2kit preview``: pictures of dashboards from query answers (preview, cli_preview)."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from o2kit.cli import app as cli
from o2kit.cli import base as cli_base
from o2kit.cli import preview as cli_preview
from o2kit.query import check, preview
from o2kit.query.preview import QueryResult

REPO = Path(__file__).resolve().parents[1]


def _panel(pid: str, kind: str, title: str, layout: tuple[int, int, int, int], *,
           x: list[str] | None = None, y: list[str] | None = None,
           breakdown: list[str] | None = None, sql: str = "SELECT 1",
           config: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    def fields(aliases: list[str] | None) -> list[dict[str, Any]]:
        return [{"alias": a, "label": a.replace("_", " ").title(), "column": a}
                for a in aliases or []]

    lx, ly, w, h = layout
    return {"id": pid, "type": kind, "title": title, "queryType": "sql",
            "layout": {"x": lx, "y": ly, "w": w, "h": h, "i": pid},
            "config": config or {},
            "queries": [{"query": sql, "fields": {"stream": "s", "x": fields(x), "y": fields(y),
                                                  "breakdown": fields(breakdown), "z": []}}],
            **extra}


BODY: dict[str, Any] = {
    "version": 8, "title": "Hand made",
    "tabs": [
        {"tabId": "main", "name": "Main", "panels": [
            _panel("cost", "metric", "Cost", (0, 0, 48, 8), y=["total"],
                   config={"unit": "currency-dollar"}),
            _panel("calls", "line", "Calls", (48, 0, 144, 16), x=["ts"], y=["calls"],
                   breakdown=["model"]),
            _panel("models", "table", "Models", (0, 8, 48, 12), x=["model"], y=["calls"],
                   config={"decimals": 0}),
            _panel("broken", "bar", "Broken", (0, 20, 96, 10), x=["ts"], y=["calls"]),
            _panel("empty", "area", "Empty", (96, 20, 96, 10), x=["ts"], y=["calls"]),
        ]},
        {"tabId": "more", "name": "More", "panels": [
            _panel("share", "donut", "Share", (0, 0, 64, 12), x=["model"], y=["calls"]),
            _panel("notes", "markdown", "Notes", (64, 0, 64, 12), queries=[],
                   markdownContent="# Read me\n\n| a | b |\n|---|---|\n| 1 | 22 |"),
            _panel("heat", "heatmap", "Heat", (128, 0, 64, 6), x=["ts"], y=["calls"]),
        ]},
    ],
}

ROWS = [{"ts": f"2026-01-01T10:{m:02d}:00", "model": model, "calls": calls}
        for m in (0, 5, 10) for model, calls in (("alpha", 10 + m), ("beta", 3 * m))]


def _results(**changes: list[QueryResult]) -> dict[preview.PanelKey, list[QueryResult]]:
    results = {
        ("main", "cost"): [QueryResult(rows=[{"total": 2.046}])],
        ("main", "calls"): [QueryResult(rows=ROWS, bucket_seconds=300)],
        ("main", "models"): [QueryResult(rows=[{"model": "alpha", "calls": 45.0},
                                               {"model": "beta", "calls": 45.0}])],
        ("main", "broken"): [QueryResult(error="Search field not found: nope")],
        ("main", "empty"): [QueryResult(rows=[])],
        ("more", "share"): [QueryResult(rows=[{"model": "alpha", "calls": 3},
                                              {"model": "beta", "calls": 1}])],
        ("more", "heat"): [QueryResult(rows=ROWS)],
    }
    for name, value in changes.items():
        tab, panel = name.split("__")
        results[(tab, panel)] = value
    return results


def _png_chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    chunks, at = [], 8
    while at < len(data):
        (length,) = struct.unpack(">I", data[at:at + 4])
        kind, body = data[at + 4:at + 8], data[at + 8:at + 8 + length]
        (crc,) = struct.unpack(">I", data[at + 8 + length:at + 12 + length])
        assert zlib.crc32(kind + body) == crc
        chunks.append((kind, body))
        at += 12 + length
    return chunks


def _size(data: bytes) -> tuple[int, int]:
    kind, body = _png_chunks(data)[0]
    assert kind == b"IHDR"
    width, height = struct.unpack(">II", body[:8])
    return width, height


@pytest.fixture(scope="module")
def pictures() -> list[preview.Picture]:
    return preview.draw_dashboard(BODY, _results(), subtitle="test data")


def test_one_valid_png_per_tab_sized_by_the_grid(pictures: list[preview.Picture]) -> None:
    assert [p.name for p in pictures] == ["main", "more"]
    main_rows, more_rows = 30, 12  # the lowest panel edge of each tab, in grid rows
    for picture, rows in zip(pictures, (main_rows, more_rows), strict=True):
        width, height = _size(picture.png)
        assert (width, height) == (picture.width, picture.height)
        assert width == preview.WIDTH_PX
        assert height == preview.HEADER_PX + 2 * preview.MARGIN_PX + rows * preview.ROW_PX
        kinds = [k for k, _ in _png_chunks(picture.png)]
        assert kinds[-1] == b"IEND" and b"IDAT" in kinds
        # No Software, date or other text chunk that would change between runs.
        assert not {b"tEXt", b"iTXt", b"zTXt", b"tIME"} & set(kinds)


def test_panels_say_what_they_show(pictures: list[preview.Picture]) -> None:
    main, more = (p.texts for p in pictures)
    assert main[("main", "cost")] == ["Cost", "$2.05"]
    assert main[("main", "broken")] == ["Broken", "query failed: Search field not found: nope"]
    assert main[("main", "empty")] == ["Empty", "no data"]
    assert main[("main", "calls")] == ["Calls", "alpha", "beta"]  # title, then the legend
    assert main[("main", "models")] == ["Models", "Model", "alpha", "beta", "Calls", "45", "45"]
    assert more[("more", "share")][0] == "Share"
    assert "alpha  75%" in more[("more", "share")]
    assert more[("more", "notes")][:2] == ["Notes", "Read me"]
    assert "1  22" in more[("more", "notes")]  # the markdown table, padded into columns
    assert more[("more", "heat")] == ["Heat", "heatmap panel — not drawn in previews"]


def test_same_data_same_bytes_and_changed_data_changed_picture(
        pictures: list[preview.Picture]) -> None:
    again = preview.draw_dashboard(BODY, _results(), subtitle="test data")
    assert [p.png for p in again] == [p.png for p in pictures]
    changed_rows = [dict(r, calls=r["calls"] + (7 if r["model"] == "beta" else 0)) for r in ROWS]
    changed = preview.draw_dashboard(
        BODY, _results(main__calls=[QueryResult(rows=changed_rows, bucket_seconds=300)]),
        subtitle="test data")
    assert changed[0].png != pictures[0].png
    assert changed[1].png == pictures[1].png  # the other tab did not change


def test_all_tabs_in_one_picture() -> None:
    [whole] = preview.draw_dashboard(BODY, _results(), split_tabs=False)
    assert whole.name == ""
    assert _size(whole.png) == (preview.WIDTH_PX, preview.HEADER_PX + 2 * preview.MARGIN_PX
                                + 2 * preview.TAB_HEADER_PX + (30 + 12) * preview.ROW_PX)
    assert whole.texts[("more", "share")][0] == "Share"


def test_run_panels_keeps_answers_and_errors_per_panel() -> None:
    rows = [{"_timestamp": 1_767_261_600_000_000 + i * 60_000_000, "model": m, "n": i}
            for i in range(10) for m in ("alpha", "beta")]
    body = {"title": "t", "tabs": [{"tabId": "a", "panels": [
        _panel("ok", "line", "ok", (0, 0, 96, 8), x=["ts"], y=["n"], breakdown=["model"],
               sql="SELECT histogram(_timestamp, '5 minute') AS ts, model, SUM(n) AS n "
                   'FROM "s" GROUP BY ts, model ORDER BY ts'),
        _panel("bad", "metric", "bad", (96, 0, 96, 8), y=["n"], sql='SELECT nope FROM "s"'),
        _panel("md", "markdown", "md", (0, 8, 96, 8), markdownContent="hi"),
        dict(_panel("prom", "line", "prom", (96, 8, 96, 8), sql="up"), queryType="promql"),
    ]}]}
    start = rows[0]["_timestamp"]
    results = preview.run_panels(body, check.local_runner({"s": rows}), start_us=start,
                                 end_us=start + 3_600_000_000)
    ok, = results[("a", "ok")]
    assert ok.error is None and ok.bucket_seconds == 300
    assert {(r["ts"], r["model"], r["n"]) for r in ok.rows} >= {
        ("2026-01-01T10:00:00", "alpha", 0 + 1 + 2 + 3 + 4)}
    bad, = results[("a", "bad")]
    assert bad.rows == [] and "nope" in (bad.error or "")
    assert ("a", "md") not in results
    assert results[("a", "prom")][0].skipped == "promql queries are not run here"
    texts = preview.draw_dashboard(body, results)[0].texts
    assert texts[("a", "bad")][1].startswith("query failed: ")
    assert texts[("a", "prom")] == ["prom", "promql queries are not run here"]


@pytest.mark.parametrize(("value", "unit", "decimals", "expected"), [
    (1500, "milliseconds", None, "1.50s"),
    (949.65, "milliseconds", 0, "950ms"),
    (1239.6, "milliseconds", 0, "1s"),  # as OpenObserve shows it: the unit steps up first
    (2048, "bytes", 1, "2.0KB"),
    (4.1702, "percent", None, "4.17%"),
    (0.25, "percent-1", 1, "25.0%"),
    (1234.5, "currency-dollar", 2, "$1,234.50"),
    (926, None, None, "926.00"),
    (926, "numbers", 0, "926"),
    (12_500, "numbers", 1, "12.5K"),
    (None, "percent", None, "-"),
])
def test_units_as_openobserve_formats_them(value: Any, unit: str | None, decimals: int | None,
                                           expected: str) -> None:
    assert preview.format_value(value, unit, decimals) == expected


# --- the command on the shipped project -----------------------------------------------------


def _app() -> Any:
    if not any(c.name == "preview" for c in cli.app.registered_commands):
        cli_preview.register(cli.app)
    return cli.app


def test_preview_command_on_the_shipped_project(tmp_path: Path) -> None:
    app = _app()
    runner = CliRunner()
    result = runner.invoke(app, ["-C", str(REPO), "preview", "--out", str(tmp_path),
                                 "--minutes", "15"])
    assert result.exit_code == 0, result.output
    printed = [Path(line) for line in result.stdout.splitlines() if line.endswith(".png")]
    assert printed, result.output
    folder = tmp_path / "bedrock"
    assert sorted(p.name for p in folder.glob("*.png")) == sorted(p.name for p in printed)
    # One picture per tab of the shipped dashboard, named <dashboard>-<tab id>.
    from o2kit.project.loader import load_project

    [dashboard] = load_project(REPO).of("dashboard")
    tabs = [t["tabId"] for t in dashboard.body["tabs"]]
    assert len(tabs) > 1
    assert {p.name for p in printed} == {f"bedrock-overview-{t}.png" for t in tabs}
    # the tabs of issue 13 are drawn, every panel with an answer (the local traffic carries
    # prompt caching, guardrails, agents and knowledge bases)
    assert {"caching", "guardrails", "agents", "knowledge_bases"} <= set(tabs)
    assert "query failed" not in result.output, result.output
    for path in printed:
        assert _size(path.read_bytes())[0] == preview.WIDTH_PX
    index = (tmp_path / "index.html").read_text(encoding="utf-8")
    assert index.count("<img ") == len(printed)



def test_a_rerun_removes_only_the_pictures_it_wrote_before(tmp_path: Path) -> None:
    first = [tmp_path / "f" / "d-a.png", tmp_path / "f" / "d-b.png"]
    for path in first:
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(b"old")
    cli_preview._forget_stale(tmp_path, first)
    (tmp_path / "f" / "mine.png").write_bytes(b"not ours")
    single = tmp_path / "f" / "d.png"
    single.write_bytes(b"new")
    cli_preview._forget_stale(tmp_path, [single])  # e.g. a second run with --single
    assert sorted(p.name for p in (tmp_path / "f").iterdir()) == ["d.png", "mine.png"]
    assert (tmp_path / cli_preview.MANIFEST).read_text() == "f/d.png\n"


def test_preview_help_has_an_example() -> None:
    result = CliRunner().invoke(_app(), ["preview", "--help"])
    assert result.exit_code == 0
    assert "Example: o2kit preview" in result.output


def test_preview_from_a_server_draws_its_answers_and_its_errors(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Against the fake OpenObserve holding invocation logs only: log panels draw the server's
    answers; metric-stream panels draw the server's "stream not found" error in red."""
    import base64
    import time

    from o2kit.aws.synth import Scenario, firehose_bodies, generate
    from o2kit.fake import DEFAULT_PASSWORD, DEFAULT_USER, FakeOpenObserve
    from o2kit.project.config import ServerSettings
    from o2kit.project.loader import load_project
    from o2kit.query.engine import QueryEngine
    from o2kit.sync.client import OpenObserveClient

    fake = FakeOpenObserve(query_engine_factory=QueryEngine)
    traffic = generate(Scenario(minutes=10, requests_per_minute=20.0),
                       end_ms=int(time.time() * 1000) - 60_000, seed=3)
    logs, _metrics = firehose_bodies(traffic)
    settings = ServerSettings(url="http://o2", org="default", user=DEFAULT_USER,
                              password=DEFAULT_PASSWORD, retries=0)
    key = base64.b64encode(f"{DEFAULT_USER}:{DEFAULT_PASSWORD}".encode()).decode()
    with OpenObserveClient(settings, transport=fake.transport()) as client:
        for body in logs:
            client.post_firehose("bedrock_logs", body, access_key=key)

    drawn: list[preview.Picture] = []
    real_draw = preview.draw_dashboard

    def keep(*args: Any, **kwargs: Any) -> list[preview.Picture]:
        drawn.extend(real_draw(*args, **kwargs))
        return drawn[-len(args[0].get("tabs") or [1]):]

    monkeypatch.setattr(preview, "draw_dashboard", keep)
    monkeypatch.setattr(cli_base, "_TRANSPORT", fake.transport())
    monkeypatch.setenv("OPENOBSERVE_USER", DEFAULT_USER)
    monkeypatch.setenv("OPENOBSERVE_PASSWORD", DEFAULT_PASSWORD)
    result = CliRunner().invoke(_app(), ["-C", str(REPO), "preview", "--out", str(tmp_path),
                                         "--url", "http://o2", "--minutes", "30"])
    assert result.exit_code == 0, result.output
    texts = {k: v for picture in drawn for k, v in picture.texts.items()}
    [dashboard] = load_project(REPO).of("dashboard")
    streams = {key: str((panel["queries"] or [{}])[0].get("fields", {}).get("stream", ""))
               for key, panel in preview.panel_keys(dashboard.body) if panel.get("queries")}
    on_logs = [k for k, s in streams.items() if s == "bedrock_logs"]
    on_metrics = [k for k, s in streams.items() if s == "bedrock_metrics"]
    assert on_logs and on_metrics
    for k in on_metrics:
        assert texts[k][1].startswith("query failed: "), (k, texts[k])
        assert "bedrock_metrics" in " ".join(texts[k]), texts[k]  # the server names the stream
    drew_data = [k for k in on_logs if not texts[k][1].startswith(("query failed", "no data"))]
    assert drew_data, {k: texts[k][:2] for k in on_logs}
    assert len(list(tmp_path.rglob("*.png"))) == len(drawn)


@pytest.mark.parametrize("kind", ["line", "area", "area-stacked", "scatter", "bar", "stacked",
                                  "h-bar", "h-stacked"])
@pytest.mark.parametrize("x_values", ["time", "categories"])
def test_every_chart_type_draws_its_series(kind: str, x_values: str) -> None:
    rows = ROWS if x_values == "time" else [
        {"ts": f"region-{i}", "model": r["model"], "calls": r["calls"]} for i, r in enumerate(ROWS)]
    body = {"title": "t", "tabs": [{"tabId": "a", "panels": [
        _panel("p", kind, "Chart", (0, 0, 192, 14), x=["ts"], y=["calls"], breakdown=["model"])]}]}
    [picture] = preview.draw_dashboard(body, {("a", "p"): [QueryResult(rows=rows)]})
    assert picture.texts[("a", "p")] == ["Chart", "alpha", "beta"]


def test_several_y_fields_share_a_colour_per_group_and_keep_their_label() -> None:
    rows = [dict(r, p99=r["calls"] * 2) for r in ROWS]
    body = {"title": "t", "tabs": [{"tabId": "a", "panels": [
        _panel("p", "line", "Latency", (0, 0, 96, 14), x=["ts"], y=["calls", "p99"],
               breakdown=["model"])]}]}
    [picture] = preview.draw_dashboard(body, {("a", "p"): [QueryResult(rows=rows)]})
    assert picture.texts[("a", "p")] == ["Latency", "alpha · Calls", "alpha · P99",
                                         "beta · Calls", "beta · P99"]
    name = preview._legend_name(preview._Series("x" * 80 + " · P99", [], "x" * 80, "P99"), 120)
    assert name.endswith("… · P99")
