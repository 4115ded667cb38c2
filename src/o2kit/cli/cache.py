"""``o2kit cache``: where the cache is and what it holds (``info``), delete what was not used for
a while (``trim``) or everything (``clean``). A thin edge over ``o2kit.project.cache``.

The folder is the one every command uses: ``$O2KIT_CACHE_DIR`` or ``.o2kit/cache`` in the
project (``-C``). With ``--no-cache`` the cache is off: these commands neither read nor write it
and print nothing. ``trim`` and ``clean`` delete only files of the cache's own layout, in a folder
carrying o2kit's ``CACHEDIR.TAG``, and only while no other o2kit run uses the folder.

Kept cheap to import (every command module is imported at start-up, ``o2kit --help``): typer
only; the cache module is imported by the commands.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from o2kit.cli.flags import CliGroup, in_range

if TYPE_CHECKING:
    from o2kit.project.cache import Trimmed, Usage

DAYS_MAX = 3650.0  # o2kit.project.cache.TRIM_DAYS_MAX

cache_app = typer.Typer(
    cls=CliGroup,
    name="cache",
    no_args_is_help=True,
    rich_markup_mode=None,
    help="Show, trim or clean the cache (.o2kit/cache/ or $O2KIT_CACHE_DIR).",
)

JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]


def _directory() -> Path | None:
    """The cache folder of the project (``-C``, ``$O2KIT_CACHE_DIR``); None with --no-cache."""
    import os

    from o2kit.cli import base
    from o2kit.project.cache import cache_dir

    if base._state.no_cache:
        return None
    return cache_dir(base._state.project, os.environ)


def _size(n: int) -> str:
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("KB", 1e3)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n} bytes"


def _when(seconds: float | None) -> str | None:
    from datetime import UTC, datetime

    if seconds is None:
        return None
    try:
        return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    except (OverflowError, OSError, ValueError):
        return None


def _days() -> float:
    """``$O2KIT_CACHE_TRIM_DAYS`` or the default; a bad value is a configuration error."""
    import os

    from o2kit.errors import ConfigError
    from o2kit.project.cache import trim_days

    try:
        return trim_days(os.environ)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None


def _counted(found: Usage) -> str:
    return f"{found.entries} entries and {found.blobs} blobs ({_size(found.bytes)})"


@cache_app.command("info")
def info_command(as_json: JsonOpt = False) -> None:
    """Where the cache is, how many entries and blobs it holds, and their size.

    Example: o2kit cache info --json
    """
    from o2kit.cli import base

    def body() -> None:
        from o2kit.project.cache import last_trim, usage

        directory = _directory()
        if directory is None:
            return
        days = _days()
        found = usage(directory)
        doc: dict[str, Any] = {
            "directory": str(directory),
            "exists": directory.is_dir(),
            **found.as_json(),
            "last_trim": _when(last_trim(directory)),
            "trim_days": days,
        }
        if as_json:
            typer.echo(json.dumps(doc, indent=2, sort_keys=True))
            return
        lines = [f"Cache: {directory}" + ("" if doc["exists"] else " (not there yet)")]
        if found.namespaces:
            per = ", ".join(f"{name} {n}" for name, n in sorted(found.namespaces.items()))
            lines.append(f"  entries: {found.entries} ({per}), {_size(found.entry_bytes)}")
        else:
            lines.append("  entries: 0")
        lines.append(f"  blobs:   {found.blobs}, {_size(found.blob_bytes)}")
        lines.append(f"  total:   {_size(found.bytes)}")
        lines.append(f"  last trimmed: {doc['last_trim'] or 'never'}; the automatic trim "
                     f"(at most daily) removes what was not used for {days:g} days")
        base._write("\n".join(lines))

    base._run(body)


def _report(directory: Path, done: Trimmed, as_json: bool, what: str,
            days: float | None) -> None:
    from o2kit.cli import base

    if as_json:
        doc = {"directory": str(directory), "older_than_days": days,
               "removed": done.removed.as_json(), "kept": done.kept.as_json()}
        typer.echo(json.dumps(doc, indent=2, sort_keys=True))
        return
    line = f"Removed {_counted(done.removed)}{what} from {directory}"
    if done.kept.entries or done.kept.blobs:
        line += f"; kept {_counted(done.kept)}"
    base._write(line + ".")


@cache_app.command("trim")
def trim_command(
    older_than: Annotated[
        float | None,
        typer.Option("--older-than", metavar="DAYS", callback=in_range(0, DAYS_MAX),
                     help="Remove what was not used for this many days (default: "
                          "$O2KIT_CACHE_TRIM_DAYS, else 5)."),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Remove now what was not used for DAYS days (the automatic trim does this at most daily).

    Entries, blobs no remaining entry names, and temporary files of crashed writes older than
    an hour. Waits up to 10 s for other o2kit runs using the cache, then exits 1.

    Example: o2kit cache trim --older-than 2
    """
    from o2kit.cli import base

    def body() -> None:
        from o2kit.project.cache import trim

        directory = _directory()
        if directory is None:
            return
        days = older_than if older_than is not None else _days()
        done = trim(directory, days)
        _report(directory, done, as_json, f" unused for more than {days:g} days", days)

    base._run(body)


@cache_app.command("clean")
def clean_command(as_json: JsonOpt = False) -> None:
    """Remove every entry and blob of the cache (the folder stays, with its .gitignore).

    Example: o2kit cache clean
    """
    from o2kit.cli import base

    def body() -> None:
        from o2kit.project.cache import clean

        directory = _directory()
        if directory is None:
            return
        _report(directory, clean(directory), as_json, "", None)

    base._run(body)


def register(app: typer.Typer) -> None:
    """Add ``o2kit cache`` to the command line (once)."""
    if not any(g.name == "cache" for g in app.registered_groups):
        app.add_typer(cache_app, name="cache")
