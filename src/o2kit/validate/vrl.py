"""VRL (Vector Remap Language) checked and run offline, the way OpenObserve runs a function.

OpenObserve compiles and runs functions with the ``vrl`` crate (0.31.0 at commit fbab9b80,
``Cargo.toml``). o2kit uses the optional ``vrl-python`` binding (extra ``o2kit[vrl]``), imported
lazily; it bundles an older VRL (git ``main`` between 0.27 and 0.28, see README "VRL functions"
for the gaps). Without it :func:`compile_vrl` returns one *warning* that says the source was not
checked, and :func:`run_vrl` raises :class:`VrlUnavailable`.

What the server does around the compiler, reproduced here (paths in openobserve/openobserve):

* ``src/core/src/functions.rs`` ``save_function`` / ``test_run_vrl_function``: the source gets
  ``" \\n ."`` appended unless it already ends with ``.``, so the program's *result* is the
  event (``apply_vrl_fn`` returns the value of the last expression, not the target). The suffix
  is added at the end, so line and column numbers of the user's text are unchanged.
* ``src/transform/src/lib.rs`` ``compile_vrl_function``: a source containing the substring
  ``get_env_var`` (a comment too) is refused with ``get_env_var is not supported``.
* ``apply_vrl_fn`` (same file): a runtime error (``abort`` included) keeps the *original* row and
  reports the error; the pipeline forwards that row (``src/core/src/pipeline/
  batch_execution.rs``, FunctionNode). A ``null`` result is dropped at the destination.

Local runs refuse programs that call the network (``http_request``, ``dns_lookup``,
``reverse_dns``): ``o2kit validate`` and ``o2kit test`` run in CI on pull-request code, and the
binding has no time limit. The server's enrichment-table functions are not in the binding;
they are reported as unknown functions by the compiler.

Pure apart from the binding: no files, no clock, no environment.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from o2kit.kinds.function import SERVER_SUFFIX  # the server's suffix (src/core/src/functions.rs)

#: What the extra is called in messages.
INSTALL_HINT = "pip install 'o2kit[vrl]'"
#: Bounds: a function source, and the events one test may hold.
MAX_SOURCE_CHARS = 256 * 1024
#: Functions a local run must not call (they reach the network; the server may run them).
NETWORK_FUNCTIONS = ("http_request", "dns_lookup", "reverse_dns")

_ENV_BAN = "get_env_var"
_HEADLINE = re.compile(r"^(error|warning)\[(E\d+)\]: (.*)$")
_LOCATION = re.compile(r"┌─ [^:\n]*:(\d+):(\d+)")


@dataclass(frozen=True)
class VrlError:
    """One compiler diagnostic (or the "not checked" note) at a 1-based line and column of the
    user's source. ``severity`` is ``"error"`` or ``"warning"``; ``code`` the VRL error code
    (``E105``), ``""`` for o2kit's own messages."""

    line: int
    column: int
    message: str
    severity: str = "error"
    code: str = ""

    def __str__(self) -> str:
        code = f"{self.code}: " if self.code else ""
        return f"{self.line}:{self.column}: {code}{self.message}"


class VrlUnavailable(RuntimeError):
    """``vrl-python`` is not installed."""

    def __init__(self) -> None:
        super().__init__(f"VRL functions are not run locally without vrl-python: {INSTALL_HINT}")


class VrlCompileFailed(ValueError):
    """The program does not compile; ``errors`` says where and why."""

    def __init__(self, errors: list[VrlError]) -> None:
        super().__init__("; ".join(str(e) for e in errors))
        self.errors = errors


@dataclass(frozen=True)
class VrlRun:
    """One event through a function. ``output``: what the server forwards — the program's
    result, or the unchanged input on a runtime error (then ``error`` holds the diagnostic).
    ``dropped``: the result is ``null`` (the destination writes nothing)."""

    output: Any
    error: str | None = None

    @property
    def dropped(self) -> bool:
        return self.error is None and self.output is None


def available() -> bool:
    """True when the ``vrl-python`` binding can be imported."""
    return _runtime() is not None


@lru_cache(maxsize=1)
def _runtime() -> Any:
    try:
        from vrl_python import VRLRuntime  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        return None
    # The server runs with TimeZone::Local (its own zone); o2kit pins UTC so a test gives the
    # same answer on every machine. Functions that must be zone-independent should say so.
    return VRLRuntime(timezone="UTC")


def server_source(source: str) -> str:
    """The text the server compiles: ``source`` plus ``" \\n ."`` unless it ends with ``.``
    (src/core/src/functions.rs checks the untrimmed text; the handler trimmed it before)."""
    text = source.strip()
    return text if text.endswith(".") else text + SERVER_SUFFIX


def _restrictions(source: str, *, local_run: bool) -> list[VrlError]:
    problems: list[VrlError] = []
    if len(source) > MAX_SOURCE_CHARS:
        problems.append(VrlError(1, 1, f"the function is {len(source)} characters; at most "
                                       f"{MAX_SOURCE_CHARS} are read"))
        return problems
    if not source.strip():
        problems.append(VrlError(1, 1, "the function is empty (the server refuses an empty "
                                       "body)"))
    at = source.find(_ENV_BAN)
    if at >= 0:
        line, column = _position(source, at)
        problems.append(VrlError(line, column, "get_env_var is not supported (OpenObserve refuses "
                                               "any source containing that word, comments too)"))
    if local_run:
        for name in NETWORK_FUNCTIONS:
            match = re.search(rf"\b{name}\s*!?\s*\(", source)
            if match:
                line, column = _position(source, match.start())
                problems.append(VrlError(line, column, f"{name} reaches the network; o2kit does "
                                                       "not run it locally"))
    return problems


@lru_cache(maxsize=64)
def _run_restrictions(source: str) -> tuple[VrlError, ...]:
    return tuple(p for p in _restrictions(source, local_run=True) if p.severity == "error")


def _position(source: str, offset: int) -> tuple[int, int]:
    before = source[:offset]
    return before.count("\n") + 1, offset - (before.rfind("\n") + 1) + 1


def parse_diagnostics(text: str, source_lines: int) -> list[VrlError]:
    """The diagnostics of a VRL error text (``error[E105]: …`` blocks with ``┌─ :line:col`` and
    labels). A position in the server's suffix is reported at the end of the user's text."""
    out: list[VrlError] = []
    block: list[str] = []

    def flush() -> None:
        if not block:
            return
        head = _HEADLINE.match(block[0])
        assert head is not None
        line = column = 1
        labels: list[str] = []
        for row in block[1:]:
            where = _LOCATION.search(row)
            if where:
                line, column = int(where.group(1)), int(where.group(2))
                continue
            if row.lstrip().startswith("="):
                continue  # "see language documentation …"
            stripped = row.strip()
            if not stripped.startswith("│"):
                continue  # a quoted source line ("2 │ .b = …") or the headline's blank
            text_ = stripped.lstrip("│-^~ ")
            if text_ and text_ not in labels:
                labels.append(text_)
        if line > source_lines:
            line, column = max(source_lines, 1), 1
        message = head.group(3).strip()
        if labels:
            message += " (" + "; ".join(labels[:3]) + ")"
        out.append(VrlError(line, column, message,
                            "warning" if head.group(1) == "warning" else "error", head.group(2)))
        block.clear()

    for raw in text.splitlines():
        if _HEADLINE.match(raw):
            flush()
            block.append(raw)
        elif block:
            block.append(raw)
    flush()
    if not out and text.strip():
        out.append(VrlError(1, 1, text.strip().splitlines()[0]))
    return out


def compile_vrl(source: str) -> list[VrlError]:
    """Every problem of ``source`` as the server would compile it (empty list = compiles).
    Without ``vrl-python``: one warning, "not checked"."""
    problems = _restrictions(source, local_run=False)
    if problems and len(source) > MAX_SOURCE_CHARS:
        return problems
    runtime = _runtime()
    if runtime is None:
        return [*problems, VrlError(1, 1, f"not checked: install o2kit[vrl] ({INSTALL_HINT}) to "
                                          "compile VRL functions offline", "warning")]
    try:
        runtime.compile(server_source(source))
    except ValueError as exc:
        problems.extend(parse_diagnostics(str(exc), source.strip().count("\n") + 1))
    return problems


def execute_vrl(source: str, event: Any) -> VrlRun:
    """Run ``source`` on one event (JSON values) as a pipeline's function node does.
    Raises :class:`VrlUnavailable` without the binding and :class:`VrlCompileFailed` when the
    program does not compile or calls what a local run refuses."""
    runtime = _runtime()
    if runtime is None:
        raise VrlUnavailable()
    problems = _run_restrictions(source)
    if problems:
        raise VrlCompileFailed(list(problems))
    text = server_source(source)
    try:
        result = runtime.execute(text, _plain(event))
    except ValueError as exc:
        raise VrlCompileFailed(parse_diagnostics(str(exc), source.strip().count("\n") + 1)) \
            from None
    except RuntimeError as exc:
        return VrlRun(event, _first_line(str(exc)))
    return VrlRun(result.runtime_result)


def run_vrl(source: str, event: Mapping[str, Any]) -> dict[str, Any] | list[Any] | None:
    """The event a function forwards: the program's result (an object or array), or None when
    the result is ``null`` (dropped) or the program aborted / failed (the server then forwards
    the unchanged row and logs the error: :func:`execute_vrl` says which)."""
    run = execute_vrl(source, event)
    if run.error is not None or run.output is None:
        return None
    if isinstance(run.output, dict | list):
        return run.output
    return None


def _first_line(text: str) -> str:
    for raw in text.splitlines():
        head = _HEADLINE.match(raw.strip())
        if head:
            return head.group(3).strip() if head.group(3).strip() != "aborted" else "aborted"
        if raw.strip():
            return raw.strip()
    return "runtime error"


def _plain(value: Any) -> Any:
    """JSON values as plain Python types (float subclasses, tuples) for the binding."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, bool) or value is None or isinstance(value, int | str):
        return value
    if isinstance(value, float):
        return float(value)
    return value
