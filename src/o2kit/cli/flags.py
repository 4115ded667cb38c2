"""Exit codes, usage errors and the range checks of numeric flags, shared by every command.

Every numeric flag goes through ``in_range``: a finite number within its documented range (README
"Limits"), else a usage error naming the flag, exit 64, before anything is read or sent.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import typer

try:  # typer >= 0.20 carries its own copy of click
    from typer._click.exceptions import UsageError as _UsageError
except ImportError:  # pragma: no cover - older typer on click
    from click.exceptions import UsageError as _UsageError  # type: ignore[no-redef]
from typer.core import TyperGroup

EXIT_ERROR = 1
EXIT_CHANGES = 2  # plan --detailed-exitcode only
EXIT_USAGE = 64  # sysexits.h EX_USAGE: bad flags; never 2, which means "changes" to CI
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as shells report Ctrl-C


class CliGroup(TyperGroup):
    """Typer's group with usage errors (unknown option, bad flag value) exiting 64, not 2."""

    def make_context(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return super().make_context(*args, **kwargs)
        except _UsageError as exc:
            exc.exit_code = EXIT_USAGE
            raise

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except _UsageError as exc:
            exc.exit_code = EXIT_USAGE
            raise


def in_range(
    low: float, high: float, *, above: bool = False, unit: str = "", why: str = ""
) -> Callable[[Any], Any]:
    """An option callback: the value must be a finite number with ``low <= value <= high``
    (``low < value`` when ``above``). ``nan`` and ``inf`` are refused: a NaN compares false with
    everything, so it would silently pass (or switch off) any later check."""

    def check(value: Any) -> Any:
        if value is None:
            return value
        if isinstance(value, float) and not math.isfinite(value):
            raise typer.BadParameter(f"{value} is not a finite number")
        if value < low or (above and value == low) or value > high:
            lower = f"more than {low:g}" if above else f"at least {low:g}"
            raise typer.BadParameter(
                f"must be {lower} and at most {high:g}{unit}, got {value:g}{why}")
        return value

    return check


# The ranges of the numeric flags (README "Limits").
TIMEOUT_MAX = 3600.0  # seconds per request
CONCURRENCY_MAX = 64  # requests in flight
check_timeout = in_range(0, TIMEOUT_MAX, above=True, unit=" s")
check_concurrency = in_range(1, CONCURRENCY_MAX)
