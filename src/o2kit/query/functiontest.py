"""Function unit tests: run a VRL function of ``functions/`` on sample events and compare what
it returns with what a test file expects (``function-tests/*.yaml``), like the alert tests.

Test-file format (the pydantic models below are the reference)::

    function: bedrock_invocation_logs   # functions/<name>.vrl or functions/<name>.vrl.j2
    ingest: {privacy: drop}             # optional: o2kit.yaml `ingest:` keys this file renders
                                        # the function with (a .vrl.j2 only); the rest as
                                        # configured
    tests:
      - name: a Converse call becomes one typed row
        events:                         # what the function node receives: the record *before*
          - {message: {...}, ...}       # flattening (a pipeline's function node with
                                        # after_flatten: false)
        expect:                         # one entry per event, in order:
          - {model_id: ..., latency_ms: 812}   # the object the function returns, or
          - null                        # null: the function dropped the event (`. = null`)
        match: exact                    # or `subset`: only the keys written are compared

A runtime error (``abort`` included) fails the test with the error, unless the entry expects
the unchanged event (that is what the server forwards then) and sets ``error: true``.

Runs with :mod:`o2kit.validate.vrl` (extra ``o2kit[vrl]``); rendering and file reading are the
caller's (``render_function`` here renders one ``.vrl.j2`` with the project's context).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictStr, model_validator

from o2kit.errors import ConfigError, Problem
from o2kit.project.config import Config, Ingest
from o2kit.project.render import make_environment, mark_params
from o2kit.project.yamlsrc import LineIndex, ModelErrors, YamlError, load_yaml_file, parse_as
from o2kit.validate import vrl

FUNCTIONS_DIR = "functions"
TESTS_DIR = "function-tests"


def function_test_files(folder: Path) -> list[Path]:
    """The function-test files directly in ``folder`` (``*.yaml`` and ``*.yml``), sorted; none
    when it is not a folder. ``o2kit test`` and ``o2kit check --remote`` read the same files."""
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file())
MAX_EVENTS = 1000


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FunctionCase(_Strict):
    name: StrictStr
    events: Annotated[list[Any], Field(min_length=1, max_length=MAX_EVENTS)]
    expect: list[dict[str, Any] | None]
    match: Literal["exact", "subset"] = "exact"
    error: StrictBool = False

    @model_validator(mode="after")
    def _one_per_event(self) -> FunctionCase:
        if len(self.expect) != len(self.events):
            raise ValueError(f"expect has {len(self.expect)} entries for {len(self.events)} "
                             "events: one per event, in order (null = dropped)")
        return self


class FunctionTestFile(_Strict):
    function: Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$", max_length=128)]
    ingest: dict[str, Any] | None = None
    tests: Annotated[list[FunctionCase], Field(min_length=1, max_length=500)]

    @model_validator(mode="after")
    def _ingest_keys(self) -> FunctionTestFile:
        if self.ingest is not None:
            Ingest.model_validate(self.ingest)  # same keys and values as o2kit.yaml
        return self


class FunctionTestError(ValueError):
    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("; ".join(str(p) for p in problems))
        self.problems = problems


def parse_function_test_file(data: Any, index: LineIndex) -> FunctionTestFile:
    try:
        return parse_as(FunctionTestFile, data, index)
    except ModelErrors as exc:
        raise FunctionTestError(sorted(exc.problems)) from exc


def load_function_test_file(path: Path, display: str) -> tuple[FunctionTestFile, LineIndex]:
    try:
        data, index = load_yaml_file(path, display)
    except YamlError as exc:
        raise FunctionTestError([exc.problem]) from exc
    return parse_function_test_file(data, index), index


def render_function(functions_dir: Path, name: str, context: Mapping[str, Any]) -> str:
    """The VRL text of ``functions/<name>.vrl`` (as is) or ``<name>.vrl.j2`` (rendered in the
    template sandbox with ``context``: ``config``-derived values such as ``ingest``)."""
    plain = functions_dir / f"{name}.vrl"
    if plain.is_file():
        return plain.read_text(encoding="utf-8")
    if not (functions_dir / f"{name}.vrl.j2").is_file():
        raise ConfigError(f"{FUNCTIONS_DIR}/{name}.vrl (or .vrl.j2) not found: the ingest "
                          "pipeline (o2kit.yaml ingest.pipeline) runs it; `o2kit init` writes the "
                          "shipped ones")
    env = make_environment(functions_dir)
    return env.get_template(f"{name}.vrl.j2").render(dict(context))


#: The shipped Bedrock functions and the stream role each runs on (the pipelines of
#: ``ingest.pipeline: true``: source stream → function → the same stream).
SHIPPED_FUNCTIONS = {"metrics": "bedrock_metric_stream",
                     "invocation_logs": "bedrock_invocation_logs"}


def pipeline_functions(root: Path, config: Config) -> dict[str, str]:
    """Stream name → the rendered VRL of the shipped function that runs on it; empty when
    ``ingest.pipeline`` is off."""
    if not config.ingest.pipeline:
        return {}
    context = ingest_context(config.ingest)
    streams = {"metrics": config.streams.metrics,
               "invocation_logs": config.streams.invocation_logs}
    return {streams[role]: render_function(root / FUNCTIONS_DIR, name, context)
            for role, name in SHIPPED_FUNCTIONS.items()}


def ingest_context(ingest: Ingest, overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The ``ingest`` template value, with a test file's overrides merged over o2kit.yaml's."""
    if overrides:
        ingest = Ingest.model_validate({**ingest.model_dump(), **overrides})
    return {"ingest": mark_params(ingest.context())}


# --- comparing ---------------------------------------------------------------------------------


def values_equal(expected: Any, actual: Any) -> bool:
    """JSON equality; numbers by value (1 == 1.0, floats within 1e-9 relative), booleans
    never equal to numbers."""
    if isinstance(expected, bool) or isinstance(actual, bool):
        return type(expected) is type(actual) and expected == actual
    if isinstance(expected, int | float) and isinstance(actual, int | float):
        return math.isclose(float(expected), float(actual), rel_tol=1e-9, abs_tol=0.0)
    if isinstance(expected, dict) and isinstance(actual, dict):
        return expected.keys() == actual.keys() and all(
            values_equal(v, actual[k]) for k, v in expected.items())
    if isinstance(expected, list) and isinstance(actual, list):
        return len(expected) == len(actual) and all(
            values_equal(e, a) for e, a in zip(expected, actual, strict=True))
    return bool(expected == actual) and type(expected) is type(actual)


def differences(expected: Mapping[str, Any] | None, actual: Any, *, subset: bool) -> list[str]:
    """What differs, one line per key (empty: the output is as expected)."""
    if expected is None or not isinstance(actual, dict):
        if expected is None and actual is None:
            return []
        return [f"expected {_short(expected)}, got {_short(actual)}"]
    out = []
    for key, value in expected.items():
        if key not in actual:
            if value is None:
                continue  # null expects "not there": the server stores no column for a null
            out.append(f"{key}: missing (expected {_short(value)})")
        elif not values_equal(value, actual[key]):
            out.append(f"{key}: expected {_short(value)}, got {_short(actual[key])}")
    if not subset:
        out.extend(f"{key}: not expected (got {_short(actual[key])})"
                   for key in actual if key not in expected)
    return out


def _short(value: Any, limit: int = 120) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


# --- running -----------------------------------------------------------------------------------


@dataclass
class CaseResult:
    name: str
    line: int
    failures: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.failures


def run_case(case: FunctionCase, source: str, line: int) -> CaseResult:
    result = CaseResult(case.name, line)
    for i, (event, expected) in enumerate(zip(case.events, case.expect, strict=True)):
        try:
            run = vrl.execute_vrl(source, event)
        except vrl.VrlCompileFailed as exc:
            result.failures.append(f"the function does not compile: {exc}")
            return result
        if run.error is not None and not case.error:
            result.failures.append(f"event {i + 1}: runtime error: {run.error}")
            continue
        if case.error and run.error is None:
            result.failures.append(f"event {i + 1}: expected a runtime error, the function "
                                   "returned a value")
            continue
        for diff in differences(expected, run.output, subset=case.match == "subset"):
            result.failures.append(f"event {i + 1}: {diff}")
    return result


def run_function_test_file(test_file: FunctionTestFile, index: LineIndex,
                           source_for: Callable[[str, Mapping[str, Any] | None], str],
                           ) -> list[CaseResult]:
    """Every case of one file. ``source_for(function, ingest_overrides)`` gives the function's
    VRL (rendered with the overrides); it raises ``FileNotFoundError`` for an unknown one."""
    source = source_for(test_file.function, test_file.ingest)
    return [run_case(case, source, index.line(("tests", i)))
            for i, case in enumerate(test_file.tests)]


def summary(results: Sequence[CaseResult]) -> tuple[int, int]:
    """(passed, failed)."""
    passed = sum(r.passed for r in results)
    return passed, len(results) - passed
