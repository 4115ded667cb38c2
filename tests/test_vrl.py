"""The VRL runtime (o2kit.validate.vrl) and the function tests of the shipped functions.

The shipped functions run on events written by hand from AWS's documented formats
(function-tests/*.yaml); every expectation there is checked here, and each test below changes
one thing and checks that the answer changes with it."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from o2kit.project.config import Ingest
from o2kit.query import functiontest as ft
from o2kit.validate import vrl

pytest.importorskip("vrl_python")

REPO = Path(__file__).resolve().parents[1]


def _source(name: str, **ingest: object) -> str:
    return ft.render_function(REPO / "functions", name,
                              ft.ingest_context(Ingest(pipeline=True), ingest or None))


# --- compile ------------------------------------------------------------------------------------


def test_a_function_that_does_not_compile_names_line_and_column() -> None:
    errors = vrl.compile_vrl(".a = 1\n.b = to_int(.x)\n.c = no_such_fn(1)\n")
    assert [(e.line, e.column, e.code) for e in errors] == [(2, 6, "E103"), (3, 6, "E105")]
    assert "fallible" in errors[0].message and errors[0].severity == "error"
    assert "undefined function" in errors[1].message


def test_a_syntax_error_is_on_its_line() -> None:
    errors = vrl.compile_vrl(".a = 1\n\nif .b {\n  .c = \n")
    assert errors and errors[0].code in ("E203", "E204") and errors[0].line == 4


def test_compiling_adds_the_server_suffix_so_the_result_is_the_event() -> None:
    # src/core/src/functions.rs appends " \n ." — without it `.a = 1` would return 1.
    assert vrl.server_source(".a = 1") == ".a = 1 \n ."
    assert vrl.server_source(".a = 1\n.\n") == ".a = 1\n."
    assert vrl.run_vrl(".a = 1", {"x": 2}) == {"a": 1, "x": 2}


def test_get_env_var_is_refused_like_the_server_even_in_a_comment() -> None:
    errors = vrl.compile_vrl(".a = 1\n# get_env_var would leak\n")
    assert [(e.line, e.column) for e in errors] == [(2, 3)]
    assert "get_env_var is not supported" in errors[0].message


def test_network_functions_are_not_run_locally() -> None:
    with pytest.raises(vrl.VrlCompileFailed, match="http_request reaches the network"):
        vrl.run_vrl('.a = http_request("http://127.0.0.1:9/")', {})


def test_without_the_binding_compile_is_a_warning_and_run_refuses(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(vrl, "_runtime", lambda: None)
    (note,) = vrl.compile_vrl(".a = 1")
    assert note.severity == "warning" and "not checked: install o2kit[vrl]" in note.message
    with pytest.raises(vrl.VrlUnavailable, match=r"o2kit\[vrl\]"):
        vrl.run_vrl(".a = 1", {})


# --- run ----------------------------------------------------------------------------------------


def test_null_result_is_dropped_and_a_runtime_error_keeps_the_original_row() -> None:
    assert vrl.run_vrl(". = null", {"x": 1}) is None
    run = vrl.execute_vrl(".a = to_int!(.x)", {"x": "q"})
    assert run.output == {"x": "q"} and "Invalid integer" in (run.error or "")
    assert vrl.run_vrl(".a = to_int!(.x)", {"x": "q"}) is None
    aborted = vrl.execute_vrl("abort", {"x": 1})
    assert aborted.error == "aborted" and aborted.output == {"x": 1} and not aborted.dropped


# --- the shipped functions ----------------------------------------------------------------------


def test_the_shipped_functions_compile_under_every_ingest_setting() -> None:
    assert vrl.compile_vrl(_source("bedrock_metric_stream")) == []
    for privacy in ("keep", "drop", {"truncate": 5}):
        for prompt_hash in (False, True):
            src = _source("bedrock_invocation_logs", privacy=privacy, prompt_hash=prompt_hash)
            assert vrl.compile_vrl(src) == [], (privacy, prompt_hash)


def _test_files() -> list[Path]:
    return sorted((REPO / ft.TESTS_DIR).glob("*.yaml"))


@pytest.mark.parametrize("path", _test_files(), ids=lambda p: p.name)
def test_function_test_files_pass(path: Path) -> None:
    test_file, index = ft.load_function_test_file(path, str(path.relative_to(REPO)))

    def source_for(name: str, overrides: object) -> str:
        return ft.render_function(REPO / "functions", name,
                                  ft.ingest_context(Ingest(pipeline=True), overrides))  # type: ignore[arg-type]

    results = ft.run_function_test_file(test_file, index, source_for)
    assert results and all(r.passed for r in results), [r.failures for r in results]


def _converse_event(prompt: str = "hi") -> dict[str, object]:
    return {"_timestamp": 1764331205000, "message": {
        "schemaType": "ModelInvocationLog", "operation": "Converse", "modelId": "m",
        "input": {"inputBodyJson": {"messages": [{"role": "user", "content": [{"text": prompt}]}]},
                  "inputTokenCount": 3},
        "output": {"outputBodyJson": {"metrics": {"latencyMs": 77}}, "outputTokenCount": 2},
        "requestMetadata": {"team": "a"}}}


def test_a_function_test_fails_when_the_output_differs() -> None:
    case = ft.FunctionCase(name="wrong latency", events=[_converse_event()],
                           expect=[{"latency_ms": 78}], match="subset")
    result = ft.run_case(case, _source("bedrock_invocation_logs"), 1)
    assert result.failures == ["event 1: latency_ms: expected 78, got 77"]
    exact = ft.FunctionCase(name="exact", events=[_converse_event()],
                            expect=[{"latency_ms": 77}])
    assert any("not expected" in f for f in ft.run_case(
        exact, _source("bedrock_invocation_logs"), 1).failures)


def test_prompt_hash_is_sha256_of_the_canonical_request_body() -> None:
    event = _converse_event("count me")
    row = vrl.run_vrl(_source("bedrock_invocation_logs", prompt_hash=True), event)
    assert isinstance(row, dict)
    body = event["message"]["input"]["inputBodyJson"]  # type: ignore[index]
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"))
    assert row["prompt_sha256"] == hashlib.sha256(canonical.encode()).hexdigest()
    other = vrl.run_vrl(_source("bedrock_invocation_logs", prompt_hash=True),
                        _converse_event("another"))
    assert isinstance(other, dict) and other["prompt_sha256"] != row["prompt_sha256"]
    plain = vrl.run_vrl(_source("bedrock_invocation_logs"), event)
    assert isinstance(plain, dict) and "prompt_sha256" not in plain


@pytest.mark.parametrize(("privacy", "expected"), [
    ("keep", '{"messages":[{"content":[{"text":"secret words"}],"role":"user"}]}'),
    ({"truncate": 10}, '{"messages'),
    ("drop", None),
])
def test_privacy_setting_decides_the_body(privacy: object, expected: str | None) -> None:
    row = vrl.run_vrl(_source("bedrock_invocation_logs", privacy=privacy),
                      _converse_event("secret words"))
    assert isinstance(row, dict)
    assert row.get("input_body") == expected
    assert row["input_tokens"] == 3 and row["latency_ms"] == 77
    if expected is None:
        assert "secret" not in json.dumps(row)


def test_function_test_file_errors_name_the_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("function: bedrock_invocation_logs\ntests:\n  - name: x\n    events: [{}]\n"
                    "    expect: []\n")
    with pytest.raises(ft.FunctionTestError) as err:
        ft.load_function_test_file(path, "function-tests/bad.yaml")
    (problem,) = err.value.problems
    assert problem.file == "function-tests/bad.yaml" and problem.line == 3
    assert "one per event" in problem.message


def test_check_and_test_read_the_same_function_test_files(tmp_path: Path) -> None:
    """``o2kit check --remote`` samples events from the files ``o2kit test`` runs: ``.yml`` as
    well as ``.yaml`` (check read ``*.yaml`` only)."""
    from o2kit.query import check

    folder = tmp_path / ft.TESTS_DIR
    folder.mkdir()
    (folder / "a.yml").write_text(
        "function: f\ntests:\n  - name: one\n    events: [{x: 1}]\n    expect: [{x: 1}]\n")
    (folder / "b.yaml").write_text(
        "function: g\ntests:\n  - name: two\n    events: [{y: 2}]\n    expect: [{y: 2}]\n")
    (folder / "notes.txt").write_text("not a test")
    (folder / "sub.yml").mkdir()
    assert [p.name for p in ft.function_test_files(folder)] == ["a.yml", "b.yaml"]
    assert ft.function_test_files(tmp_path / "none") == []
    assert check.function_samples(tmp_path) == {"f": [{"x": 1}], "g": [{"y": 2}]}
