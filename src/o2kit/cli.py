"""Command line (the only module that talks to the terminal)."""

from __future__ import annotations

import typer

app = typer.Typer(no_args_is_help=True, add_completion=True)


@app.callback()
def _root() -> None:
    """OpenObserve dashboards and alerts as code."""


def main() -> None:
    app()
