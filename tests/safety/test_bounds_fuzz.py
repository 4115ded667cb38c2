"""Property-based fuzzing (issue 11): random YAML files and random flag values never end in a
traceback or an undocumented exit code, and never reach the server before validation passes.

The CLI runs in-process with the fake OpenObserve mounted as its transport; the fake's request
log is the recording of every HTTP request. Budgets are small (``max_examples``) so the file runs
in well under 30 s.
"""

from __future__ import annotations

import math
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml
from bounds_helpers import DOCUMENTED_EXIT_CODES, run, server_env
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from shipped_project import REPO

from o2kit.fake import FakeOpenObserve

FUZZ = settings(max_examples=20, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow])

ODD_TEXT = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)),
                   max_size=40) | st.sampled_from([
    "${env:OPENOBSERVE_PASSWORD}", "\x1b[31mred", "a" * 300, "../../etc/passwd", "*alias",
    "&anchor", "{{ 7*7 }}", "%", "null", "~", "0x1F", "1e400", "-.inf", ".nan", "\u202e"])
SCALARS = (st.none() | st.booleans() | st.integers(min_value=-2**70, max_value=2**70)
           | st.floats(allow_nan=True, allow_infinity=True) | ODD_TEXT)
VALUES = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=4)
                      | st.dictionaries(ODD_TEXT | st.integers(), inner, max_size=4),
                      max_leaves=25)
KEYS = {
    "o2kit.yaml": ["org", "folders", "streams", "prices", "regions", "defaults", "aws",
                   "allow_outside_project"],
    "dashboards/fuzz.yaml": ["template", "title", "folder", "description", "params"],
    "alerts/fuzz.yaml": ["folder", "templates", "destinations", "alerts"],
}


def _document(place: str) -> st.SearchStrategy[str]:
    """YAML text: a mapping with the file's real keys and random values, random structures, or
    raw text (deep brackets, anchors, tabs, broken quoting)."""
    shaped = st.dictionaries(st.sampled_from(KEYS[place]), VALUES, max_size=5)
    dumped = (shaped | VALUES).map(
        lambda v: yaml.safe_dump(v, allow_unicode=True, default_flow_style=None))
    raw = st.one_of(
        st.text(max_size=200),
        st.integers(min_value=1, max_value=3000).map(lambda n: "a: " + "[" * n),
        st.integers(min_value=1, max_value=300).map(
            lambda n: "".join("  " * i + f"k{i}:\n" for i in range(n)) + "  " * n + "v: 1"),
        st.sampled_from(["a: &x [1]\nb: [*x, *x]\n", "a: &x [*x]\n", "\t- x", "'unclosed",
                         "key: value\nkey: again\n", "? [a]\n: b\n", "--- 1\n--- 2\n"]),
    )
    return dumped | raw


@pytest.fixture(scope="module")
def project_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("fuzz") / "repo"
    root.mkdir()
    for name in ("o2kit.yaml", "prices.yaml"):
        shutil.copy(REPO / name, root / name)
    shutil.copytree(REPO / "templates", root / "templates")
    (root / "dashboards").mkdir()
    (root / "alerts").mkdir()
    return root


@pytest.fixture()
def fake(monkeypatch: pytest.MonkeyPatch) -> FakeOpenObserve:
    server = FakeOpenObserve(seed=5)
    server.add_stream("default", "bedrock_metrics")
    server.add_stream("default", "bedrock_logs")
    server_env(monkeypatch, server)
    return server


def _check(result: Any, fake: FakeOpenObserve) -> None:
    output = result.output
    assert result.exit_code in DOCUMENTED_EXIT_CODES, output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(
        result.exception)
    assert "Traceback" not in output and "Internal error" not in output, output
    if result.exit_code != 0:  # refused: nothing may have been sent before validation passed
        assert fake.request_log == [] or "problem" not in output, output


@pytest.mark.parametrize("place", list(KEYS))
def test_random_yaml_files_never_crash_or_reach_the_server(
        project_template: Path, fake: FakeOpenObserve, place: str) -> None:
    target = project_template / place
    original = target.read_text(encoding="utf-8") if target.exists() else None

    @FUZZ
    @given(text=_document(place))
    def check(text: str) -> None:
        fake.request_log.clear()
        target.write_text(text, encoding="utf-8")
        result = run(project_template, "plan")
        _check(result, fake)
        if "problem" in result.output or "Error: invalid" in result.output:
            assert fake.request_log == [], result.output

    try:
        check()
    finally:
        if original is None:
            target.unlink(missing_ok=True)
        else:
            target.write_text(original, encoding="utf-8")


NUMBERS = (st.floats(allow_nan=True, allow_infinity=True).map(repr)
           | st.integers(min_value=-10**12, max_value=10**12).map(str)
           | st.sampled_from(["nan", "-nan", "inf", "-inf", "1e999", "0x10", "", " ", "1_0",
                              "１", "3.", ".5", "--", "-0"]))
FLAGS = {
    "plan": ["--timeout", "--concurrency"],
    "apply": ["--timeout", "--concurrency", "--max-delete-fraction"],
    "seed": ["--rpm", "--minutes", "--timeout", "--concurrency", "--seed"],
}


_PLAIN_FLOAT = re.compile(r"^-?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?$", re.ASCII)
_PLAIN_INT = re.compile(r"^-?\d+$", re.ASCII)
RANGES = {"--timeout": (0, 3600, True), "--concurrency": (1, 64, False),
          "--max-delete-fraction": (0, 1, False), "--rpm": (0, 5000, True),
          "--minutes": (1, 299, False), "--seed": (-math.inf, math.inf, False)}


def _expected(flag: str, value: str) -> str | None:
    """"ok" or "usage" for a value o2kit must accept or refuse (README "Limits"); None for
    spellings the option parser may read either way (``1_0``, full-width digits)."""
    integer = flag in ("--concurrency", "--minutes", "--seed")
    plain = (_PLAIN_INT if integer else _PLAIN_FLOAT).fullmatch(value.strip())
    if not plain:
        try:
            number = float(value)
        except ValueError:
            return "usage"
        return "usage" if not math.isfinite(number) else None
    number = float(value)
    if not math.isfinite(number):
        return "usage"
    low, high, open_low = RANGES[flag]
    inside = (number > low if open_low else number >= low) and number <= high
    return "ok" if inside else "usage"


@pytest.mark.parametrize("command", list(FLAGS))
def test_random_flag_values_are_validated_before_any_request(
        project_template: Path, fake: FakeOpenObserve, command: str) -> None:
    @FUZZ
    @given(flag=st.sampled_from(FLAGS[command]), value=NUMBERS)
    def check(flag: str, value: str) -> None:
        fake.request_log.clear()
        extra = ["--url", "http://o2.test"] if command == "seed" else []
        result = run(project_template, command, *extra, f"{flag}={value}")
        _check(result, fake)
        expected = _expected(flag, value)
        if expected == "usage":
            assert result.exit_code == 64, (flag, value, result.output)
        elif expected == "ok":
            assert result.exit_code != 64, (flag, value, result.output)
        if result.exit_code == 64:
            assert fake.request_log == []

    check()


def test_a_list_as_a_mapping_key_is_a_problem_not_an_internal_error(
        project_template: Path, fake: FakeOpenObserve) -> None:
    """Found by the fuzzing above: `? []` (a complex key) crashed the duplicate-key check."""
    target = project_template / "alerts" / "fuzz.yaml"
    target.write_text("? []\n: 1\n", encoding="utf-8")
    try:
        result = run(project_template, "plan")
    finally:
        target.unlink()
    _check(result, fake)
    assert result.exit_code == 1
    assert "alerts/fuzz.yaml:1: invalid YAML" in result.output and "mapping key" in result.output
    assert fake.request_log == []
