"""What every command shares: the global options, the terminal, error mapping, project loading.

``o2kit.cli.app`` (the app and its core commands) and every ``o2kit.cli.<name>`` command module
import
this module; it imports none of them, so the command line has no import cycle.

Kept cheap to import, because ``o2kit --help`` and ``o2kit --version`` load it: rich, pydantic
(through ``o2kit.project.config``) and the rest of o2kit are imported by the functions that use
them. The consoles ``out`` and ``err`` are made on first use (``base.out``, ``base.err``).

Output safety (``o2kit.redact``): ``install_output_safety`` (called by the root callback) wraps
``sys.stdout``/``sys.stderr`` in a ``SafeStream`` that masks every registered secret and URL
password and strips control characters and escape sequences from everything written (keeping
only our own colours on a terminal), and redacts every log record. Errors and ``--debug``
tracebacks are formatted, then redacted (``_safe``).

Optional dependencies: a command that needs an extra (``EXTRAS``) calls ``require_extra`` first;
without it, the command stops with one line naming the ``pip install`` that brings it.
"""

from __future__ import annotations

import errno
import importlib
import logging
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import typer

from o2kit.cli.flags import EXIT_ERROR, EXIT_INTERRUPTED
from o2kit.errors import O2kitError, UserError, ValidationFailed

if TYPE_CHECKING:
    from rich.console import Console

    from o2kit.project.config import ServerSettings

T = TypeVar("T")


@dataclass
class Globals:
    project: Path
    env: str | None
    verbose: int
    quiet: bool
    debug: bool
    color: bool
    command: str | None = None  # the subcommand being run, for messages
    no_cache: bool = False  # --no-cache: neither read nor write .o2kit/cache/ (o2kit.project.cache)


_state = Globals(project=Path("."), env=None, verbose=0, quiet=False, debug=False, color=False)

# --- the terminal -------------------------------------------------------------------------------

_consoles: dict[str, Console] = {}


def console(name: str) -> Console:
    """``out`` (standard output) or ``err`` (standard error), made on first use."""
    made = _consoles.get(name)
    if made is None:
        from rich.console import Console

        made = Console(stderr=name == "err", highlight=False, soft_wrap=True,
                       no_color=not _state.color)
        _consoles[name] = made
    return made


def __getattr__(name: str) -> Any:
    # ``base.out`` / ``base.err``: the consoles, without importing rich at start-up.
    if name in ("out", "err"):
        return console(name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def install_output_safety() -> None:
    """The last-line mask over everything this process prints (see the module docstring)."""
    from o2kit.redact import SafeStream, install_logging_redaction

    if not isinstance(sys.stdout, SafeStream):
        sys.stdout = SafeStream(sys.stdout, lambda: _state.color)
    if not isinstance(sys.stderr, SafeStream):
        sys.stderr = SafeStream(sys.stderr, lambda: _state.color)
    install_logging_redaction(logging.getLogger().handlers)


class _StderrHandler(logging.StreamHandler):
    """Log lines to the ``sys.stderr`` of the moment (a test runner swaps it per invocation), so
    library warnings — "waiting 30 s: server said 429" — reach the user however o2kit is run."""

    @property
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, value: Any) -> None:
        pass


def install_log_handler(level: int) -> None:
    """The one handler that prints log records (``logging.basicConfig`` does nothing when a
    handler is already installed, as under a test runner). Idempotent."""
    root = logging.getLogger()
    for handler in [h for h in root.handlers if isinstance(h, _StderrHandler)]:
        root.removeHandler(handler)
    handler = _StderrHandler()
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    handler.setLevel(level)
    root.addHandler(handler)
    root.setLevel(min(level, root.level) if root.handlers[:-1] else level)


def _safe(text: str) -> str:
    """Text that may hold server or user input, fit for the terminal: secrets masked, control
    characters and escape sequences removed (line breaks kept)."""
    from o2kit.redact import clean_text, redact

    return clean_text(redact(text))


def use_color(no_color: bool) -> bool:
    if no_color or os.environ.get("NO_COLOR") or os.environ.get("CI"):
        return False
    return sys.stdout.isatty()


def set_color(color: bool) -> None:
    _state.color = color
    for made in _consoles.values():
        made.no_color = not color


# --- errors -------------------------------------------------------------------------------------

# The optional dependencies of each extra (pyproject.toml [project.optional-dependencies]) and the
# import names that show it is missing. ``preview`` holds the local engine too.
EXTRAS: dict[str, tuple[str, ...]] = {
    "local": ("datafusion", "pyarrow"),
    "preview": ("datafusion", "pyarrow", "matplotlib"),
    "vrl": ("vrl_python",),
}


def missing_extra(extra: str, command: str | None) -> UserError:
    what = f"o2kit {command}" if command else "this o2kit command"
    return UserError(f"{what} needs the '{extra}' extra: pip install 'o2kit[{extra}]'")


def ingest_functions(project: Any, command: str) -> dict[str, str]:
    """Stream name → the project's rendered ingest VRL when ``ingest.pipeline`` is on (empty
    when off): the synthetic rows of ``check``, ``preview`` and ``test`` go through it, as the
    server's realtime pipelines would store them. Needs the ``vrl`` extra."""
    config = project.config.config
    if not config.ingest.pipeline:
        return {}
    require_extra("vrl", command)
    from o2kit.query.functiontest import pipeline_functions

    return pipeline_functions(project.config.root, config)


def require_extra(extra: str, command: str) -> None:
    """Stop with one line (exit 1) when a module of ``extra`` cannot be imported."""
    for module in EXTRAS[extra]:
        try:
            importlib.import_module(module)
        except ImportError:
            _fail(missing_extra(extra, command))


def _extra_of(exc: ImportError) -> str | None:
    """The extra that would bring the module an ImportError is about, if any."""
    top = (exc.name or "").split(".")[0]
    for extra, modules in EXTRAS.items():
        if top in modules:
            return extra
    return None


def _fail(exc: O2kitError) -> NoReturn:
    err = console("err")
    if isinstance(exc, ValidationFailed):
        for problem in exc.problems:
            err.print(_safe(str(problem)), markup=False)
    err.print(f"Error: {_safe(exc.message)}", style="bold red", markup=False)
    if exc.remedy:
        err.print(f"  → {_safe(exc.remedy)}", markup=False)
    raise typer.Exit(exc.exit_code)


def one_line(text: str, limit: int = 500) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def plain_error(exc: BaseException) -> tuple[str, str | None] | None:
    """(message, remedy) for failures that are the input's or the machine's, not o2kit's."""
    if isinstance(exc, RecursionError):
        return ("the input is nested too deeply to process",
                "flatten the structure (o2kit reads at most 100 levels of nesting)")
    if isinstance(exc, UnicodeDecodeError):
        return f"a file is not UTF-8 text ({exc.reason})", "save the file as UTF-8"
    if isinstance(exc, OSError):
        what = exc.strerror or type(exc).__name__
        names = [str(n) for n in (exc.filename, exc.filename2) if n is not None]
        where = " → ".join(names)
        remedy = ("shorten the file or folder name" if exc.errno == errno.ENAMETOOLONG
                  else None)
        return (f"{where}: {what}" if where else one_line(str(exc) or what)), remedy
    if isinstance(exc, MemoryError):
        return "out of memory", "the input is too large"
    if type(exc).__module__.split(".")[0] == "yaml":
        return f"invalid YAML: {one_line(str(exc))}", None
    return None


def _run(fn: Callable[[], T]) -> T:
    """Run a command body, mapping errors to one line and an exit code (README "Exit codes");
    no traceback unless ``--debug``."""
    try:
        return fn()
    except O2kitError as exc:
        _fail(exc)
    except (typer.Exit, typer.Abort):
        raise
    except KeyboardInterrupt:
        if _state.debug:
            raise
        console("err").print("Interrupted.", style="bold red", markup=False)
        raise typer.Exit(EXIT_INTERRUPTED) from None
    except ImportError as exc:  # an optional dependency a command did not ask for up front
        extra = _extra_of(exc)
        if extra is None or _state.debug:
            _internal_error(exc)
        _fail(missing_extra(extra, _state.command))
    except Exception as exc:
        plain = None if _state.debug else plain_error(exc)
        if plain is None:  # an o2kit bug, not a user error
            _internal_error(exc)
        err = console("err")
        err.print(f"Error: {_safe(one_line(plain[0]))}", style="bold red", markup=False)
        if plain[1]:
            err.print(f"  → {_safe(plain[1])}", markup=False)
        raise typer.Exit(EXIT_ERROR) from None
    raise AssertionError("unreachable")  # pragma: no cover


def _internal_error(exc: BaseException) -> NoReturn:
    err = console("err")
    if _state.debug:
        import traceback

        # Formatted first, then redacted: a secret in an exception's text or arguments never
        # reaches the terminal (typer's own hook would print it as is).
        err.print(_safe("".join(traceback.format_exception(exc))), markup=False)
        raise typer.Exit(1) from None
    else:
        err.print(f"Internal error: {_safe(one_line(repr(exc)))}", style="bold red",
                  markup=False)
        err.print("  → run again with --debug to see the traceback, and report it", markup=False)
        raise typer.Exit(EXIT_ERROR) from None


def _write(text: str) -> None:
    """Text report.render_* already coloured (ANSI) or left plain, to standard output as is."""
    sys.stdout.write(text if text.endswith("\n") else text + "\n")


def _say(message: str) -> None:
    if not _state.quiet:
        console("err").print(_safe(message), markup=False)


# --- project loading ----------------------------------------------------------------------------


def _load_validated(*, strict: bool = False) -> Any:
    """The project, rendered and validated. Errors refuse (``ValidationFailed``); warnings — rules
    OpenObserve does not enforce — are printed and refuse only with ``strict``.

    Loaded, rendered and validated once per command, through the on-disk cache
    (``o2kit.project.cache``:
    files and objects unchanged since an earlier run are not read or checked again) unless
    --no-cache."""
    from o2kit.project.cache import open_cache, scratch_cache, tool_digest
    from o2kit.project.loader import load_project
    from o2kit.project.workers import fewer_collections, fork_map
    from o2kit.validate.rules import early_check, validate_resources

    # --no-cache: a scratch cache of this command only, so the rendered bodies wait on disk
    # instead of all coming back to this process.
    cache = scratch_cache() if _state.no_cache else open_cache(_state.project, os.environ)
    tool = tool_digest() if cache.enabled else ""
    memo = cache if cache.enabled else None
    with fewer_collections():
        # Resources whose rules read no other resource (dashboards) are checked in the worker
        # that rendered them (``early_check``), the others once every file is read.
        project = load_project(_state.project, _state.env, cache=cache,
                               check=lambda config: early_check(config, memo=memo, tool=tool))
        problems = validate_resources(
            project.resources, project.config.config, memo=cache, digests=project.digests,
            mapper=fork_map, tool=tool, checked=project.checked,
        )
    logging.getLogger("o2kit.project.cache").info(
        "cache %s: %d hits, %d misses", cache.directory or "off", cache.hits, cache.misses
    )
    errors = [p for p in problems if p.is_error or strict]
    if errors:
        raise ValidationFailed(errors)
    for problem in problems:
        _say(str(problem))
    return project


def finish_cache() -> None:
    """At the end of every command (the root callback's ``call_on_close``): release the cache
    folders it used and trim each when due (``o2kit.project.cache.finish``; logged with -v).
    Nothing to do, and nothing imported, when no cache was opened."""
    module = sys.modules.get("o2kit.project.cache")
    if module is None:
        return
    try:
        module.finish(os.environ)
    except Exception as exc:  # the command's own outcome stands; the cache only loses a trim
        logging.getLogger("o2kit.project.cache").debug("cache not trimmed: %r", exc)


# --- the server ---------------------------------------------------------------------------------

# Tests mount the fake OpenObserve here (httpx transport); None means real HTTP.
_TRANSPORT: Any = None


def _settings(
    url: str | None,
    org: str | None,
    ca: str | None,
    insecure: bool,
    timeout: float,
    concurrency: int,
    config_org: str,
) -> ServerSettings:
    from o2kit.project.config import server_settings

    return server_settings(
        env=os.environ,
        config_org=config_org,
        url=url,
        org=org,
        ca_bundle=ca,
        insecure=insecure,
        timeout=timeout,
        concurrency=concurrency,
    )


def _server_args(url: str | None, org: str | None, ca_bundle: str | None, insecure: bool,
                 timeout: float, concurrency: int) -> dict[str, Any]:
    """The server flags of plan/apply, as ``_settings`` takes them."""
    return dict(url=url, org=org, ca=ca_bundle, insecure=insecure, timeout=timeout,
                concurrency=concurrency)


def _desired_state(project: Any) -> tuple[list[Any], dict[Any, Any], dict[Any, str]]:
    """The desired objects as plan sends them, the paths of their ``${env:}`` references, and
    their ``plan.desired_digest`` (for ``fetch_live`` and ``build_plan``).

    Only what the user wrote is resolved; every value used is registered for masking, and the
    paths of the references mark the plan's fields sensitive on both sides. A body with nothing
    to resolve (most dashboards) is used as it is. Such a body's digest is cached, keyed on the
    loader's digest of its source (``Project.digests``: o2kit's own code, the configuration, the
    file's bytes…): a hit says the body is used as written and gives its digest, so a run where a
    file did not change neither looks for references in its objects nor normalises them again.
    --no-cache computes everything."""
    from o2kit.model import Resource
    from o2kit.project import envrefs
    from o2kit.project.cache import digest, open_cache
    from o2kit.project.workers import fork_map
    from o2kit.redact import register
    from o2kit.sync.plan import desired_digest

    cache = open_cache(_state.project, os.environ, enabled=not _state.no_cache)
    desired: list[Any] = []
    refs: dict[Any, Any] = {}
    known: dict[Any, str] = {}
    keys: list[str] = []
    cached: list[str | None] = []
    for r in project.resources:
        source = project.digests.get((r.kind, r.key)) if cache.enabled else None
        key = digest("plan: desired body used as written", source) if source else ""
        entry = cache.get("plan", key) if key else None
        keys.append(key)
        cached.append(entry if isinstance(entry, str) and len(entry) == 64 else None)
    # The digests not in the cache (a first plan: ~3 ms per dashboard) on both cores. A child
    # only digests bodies with no reference to resolve; the others are resolved here, where
    # each secret is registered for masking.
    missing = [r for r, c in zip(project.resources, cached, strict=True) if c is None]
    computed = iter(fork_map(_digest_as_written, missing))
    for r, key, known_digest in zip(project.resources, keys, cached, strict=True):
        if known_digest is not None:
            # Used as loaded: a body replayed from the cache stays undecoded until something
            # reads it, and a plan in sync never does (its digest stands for it).
            desired.append(r)
            refs[(r.kind, r.key)] = []
            known[(r.kind, r.key)] = known_digest
            continue
        as_written, value = next(computed)
        if as_written:
            # A body used as written stays the loaded resource: one replayed from the cache is
            # decoded for its digest only, not kept (apply decodes it again for its payload).
            desired.append(r)
            refs[(r.kind, r.key)] = []
        else:
            written = r.transient_body()
            body, paths = envrefs.resolve_and_locate(written, os.environ, on_secret=register)
            resolved = Resource(kind=r.kind, key=r.key, body=body, source=r.source)
            as_written = body is written and not paths  # "${" but nothing to resolve
            desired.append(r if as_written else resolved)
            refs[(r.kind, r.key)] = paths
            value = desired_digest(resolved)
        if value is None:
            continue
        known[(r.kind, r.key)] = value
        if key and as_written:
            cache.put("plan", key, value)
    return desired, refs, known


def _digest_as_written(resource: Any) -> tuple[bool, str | None]:
    """``(True, plan.desired_digest)`` of a desired body with no ``${env:}`` reference or escape
    in it, used as written; ``(False, None)`` for one that may have some (resolved by the
    caller). Reads no environment variable, so it may run in a forked child."""
    from o2kit.model import Resource
    from o2kit.project import envrefs
    from o2kit.sync.plan import desired_digest

    body = resource.transient_body()
    if envrefs.may_hold_env_refs(body):
        return False, None
    return True, desired_digest(Resource(kind=resource.kind, key=resource.key, body=body,
                                         source=resource.source))


class _LiveDigests:
    """The digests of live dashboards an earlier plan against this server found in sync, by
    ``plan.live_digest_key`` (their OpenObserve hash): one cache entry per server and org, keyed
    on o2kit's own code too, so a new normalisation never reuses an old digest. Empty (and not
    saved) with --no-cache."""

    def __init__(self, settings: Any) -> None:
        from o2kit.project.cache import digest, open_cache, tool_digest

        self._cache = open_cache(_state.project, os.environ, enabled=not _state.no_cache)
        self._key = (digest("plan: live dashboard digests", tool_digest(), settings.url,
                            settings.org) if self._cache.enabled else "")
        stored = self._cache.get("plan", self._key) if self._key else None
        self.entries: dict[str, str] | None = None
        if self._key:
            self.entries = {k: v for k, v in stored.items()
                            if isinstance(k, str) and isinstance(v, str)} \
                if isinstance(stored, dict) else {}
        self._loaded = dict(self.entries or {})

    def save(self) -> None:
        if self._key and self.entries is not None and self.entries != self._loaded:
            self._cache.put("plan", self._key, self.entries)

    # ``remote.OutlineMemo``: one entry per answer, named by its bytes' digest and o2kit's code
    # (not by server: equal bytes have an equal outline), ~235 KB for a folder of 100
    # dashboards; trimmed with the rest of the cache when no plan has used it for days.
    def _outline_key(self, answer_digest: str) -> str:
        from o2kit.project.cache import digest, tool_digest

        return digest("plan: dashboard list outline", tool_digest(), answer_digest)

    def outline(self, answer_digest: str) -> list[dict[str, Any]] | None:
        items = self._cache.get("plan", self._outline_key(answer_digest))
        if isinstance(items, list) and all(isinstance(item, dict) for item in items):
            return items
        if items is not None:  # not an outline: a miss, never trusted
            self._cache.refused()
        return None

    def keep_outline(self, answer_digest: str, items: list[dict[str, Any]]) -> None:
        self._cache.put("plan", self._outline_key(answer_digest), items)


@dataclass
class _Planned:
    plan: Any
    live: Any
    client: Any
    checksum: str


def _make_plan(
    settings_args: dict[str, Any], *, prune: bool, adopt: bool, transport: Any = None
) -> _Planned:
    from o2kit.project.workers import fewer_collections
    from o2kit.sync.client import OpenObserveClient
    from o2kit.sync.plan import build_plan, mark_sensitive, plan_checksum
    from o2kit.sync.remote import fetch_live

    project = _load_validated()
    config = project.config.config
    if prune and config.project is None:
        from o2kit.errors import PlanError
        from o2kit.sync.plan import NO_PROJECT_PRUNE

        raise PlanError(
            NO_PROJECT_PRUNE,
            remedy="add a stable id to o2kit.yaml, e.g. `project: bedrock-monitoring-7f3a` "
            "(lower-case letters, digits, '-'); plan and apply without --prune migrate the "
            "markers of objects in code to it",
        )
    desired, refs, known = _desired_state(project)
    settings = _settings(config_org=config.org, **settings_args)
    client = OpenObserveClient(settings, transport=transport or _TRANSPORT)
    stream_types = {str(r.body.get("stream_type") or "logs") for r in desired if r.kind == "alert"}
    memo = _LiveDigests(settings)
    # Decoding dashboard lists (~25 MB each at 100 per folder) allocates millions of objects.
    with fewer_collections():
        live = fetch_live(client, desired=desired, stream_types=stream_types,
                          desired_digests=known, live_digests=memo.entries,
                          outlines=memo if memo.entries is not None else None)
    memo.save()
    plan = build_plan(
        desired,
        live.resources,
        prune=prune,
        adopt=adopt,
        existing_streams=live.existing_streams,
        org=settings.org,
        env=_state.env,
        project=config.project,
        declared_folders=[
            ("dashboards", config.folders.dashboards), ("alerts", config.folders.alerts)
        ],
        desired_digests=known,
    )
    plan = mark_sensitive(plan, refs)
    return _Planned(plan=plan, live=live, client=client, checksum=plan_checksum(plan))
