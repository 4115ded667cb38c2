"""``o2kit preview``: draw every dashboard as PNG pictures a reviewer can look at in a pull request.

Writes ``<out>/<folder>/<dashboard>-<tab>.png`` (or ``<dashboard>.png`` with ``--single``) and an
``index.html`` showing them all, and removes the pictures an earlier run wrote that are no longer
produced (listed in ``<out>/.o2kit-preview``; other files are never touched).

Locally the data is synthetic Bedrock traffic ending at a fixed instant, so the same project draws
the same bytes and a committed picture changes only when the dashboard does.
"""

from __future__ import annotations

import html
import re
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from o2kit.cli import flags as _flags
from o2kit.cli.check import MAX_WINDOW_MINUTES

# The end of the local synthetic traffic: fixed, so pictures are reproducible.
LOCAL_END_MS = 1_767_268_800_000  # 2026-01-01T12:00:00Z
MANIFEST = ".o2kit-preview"


def _slug(text: str) -> str:
    slug = re.sub(r"[^a-z0-9_.-]+", "-", text.lower()).strip("-.")
    return re.sub(r"-{2,}", "-", slug) or "x"


def preview_command(
    out_dir: Annotated[
        Path | None,
        typer.Option("--out", "-o", help="Directory for the pictures [default: build/preview "
                                         "under the project]."),
    ] = None,
    url: Annotated[
        str | None,
        typer.Option("--url", help="Draw from this server's search API instead of local data "
                                   "[env OPENOBSERVE_URL with --remote]"),
    ] = None,
    remote: Annotated[
        bool, typer.Option("--remote", help="Use OPENOBSERVE_URL (or --url) instead of local data.")
    ] = False,
    org: Annotated[str | None, typer.Option("--org", help="Org on the server.")] = None,
    minutes: Annotated[
        int, typer.Option("--minutes", callback=_flags.in_range(1, MAX_WINDOW_MINUTES),
                          help="Time window (and synthetic traffic, locally), 1-10080.")
    ] = 60,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the synthetic traffic.")] = 1,
    single: Annotated[
        bool, typer.Option("--single", help="One tall picture per dashboard, tabs stacked, "
                                             "instead of one per tab.")
    ] = False,
) -> None:
    """Draw each dashboard as PNG pictures: panels on their grid, charts from query answers.

    Locally (the default) the panels' queries run on the local engine over synthetic Bedrock
    traffic ending at a fixed instant, so the same project gives the same pictures. With
    --url/--remote they run through the server's search API over the last --minutes.
    Prints the path of each picture; an index.html beside them shows them all. A failed query is
    drawn in red and listed; when every query failed, preview says so and exits 1.

    Example: o2kit preview --out build/preview
    """
    from o2kit.cli import base

    base.require_extra("preview", "preview")
    from o2kit.project.loader import output_path, rendered_path, write_output
    from o2kit.query import check, preview

    def body() -> int:
        project = base._load_validated()
        config = project.config.config
        dashboards = project.of("dashboard")
        client: Any = None
        fatal: list[Any] = []  # a failure every query would share (see the runner guard)
        if url or remote:
            from o2kit.sync.client import OpenObserveClient

            settings = base._settings(url, org, None, False, 30.0, 4, config.org)
            client = OpenObserveClient(settings, transport=base._TRANSPORT)
            end_us = int(time.time() * 1_000_000)
            start_us = end_us - minutes * check.MINUTE_US
            subtitle = (f"data: {settings.url} org {settings.org}, last {minutes} minutes; "
                        "variables set to All; times in UTC")
            runner = _stop_when_the_server_cannot_answer(
                check.search_runner(client, resource="preview"), fatal)
        else:
            rows, traffic = check.synthetic_rows(config, now_ms=LOCAL_END_MS, minutes=minutes,
                                                 seed=seed,
                                                 functions=base.ingest_functions(project,
                                                                                 "preview"))
            start_us, end_us = traffic.start_ms * 1000, LOCAL_END_MS * 1000 + 1
            runner = check.local_runner(rows)
            subtitle = (f"data: synthetic Bedrock traffic (seed {seed}, {minutes} minutes) on "
                        "the local engine; variables set to All; times in UTC")
        target = out_dir if out_dir is not None else Path("build/preview")
        if not target.is_absolute():
            target = base._state.project / target
        written: list[Path] = []
        pages: list[tuple[str, str]] = []  # (heading, relative picture path)
        ran, failed = 0, 0
        try:
            for resource in dashboards:
                results = preview.run_panels(resource.body, runner, start_us=start_us,
                                             end_us=end_us)
                count, failures = preview.failed_queries(resource.body, results)
                ran, failed = ran + count, failed + len(failures)
                for where, error in failures if not fatal else ():
                    base._say(f'query failed: dashboard "{"/".join(resource.key)}" {where}: '
                              f"{error}")
                pictures = preview.draw_dashboard(resource.body, results,
                                                  split_tabs=not single, subtitle=subtitle,
                                                  window_us=(start_us, end_us))
                place = rendered_path(resource)  # dashboards/<folder>/<title>.json
                folder, stem = place.parts[1], place.stem
                tabs = {str(t.get("tabId")): str(t.get("name") or t.get("tabId"))
                        for t in resource.body.get("tabs") or []}
                for picture in pictures:
                    name = stem if len(pictures) == 1 else f"{stem}-{_slug(picture.name)}"
                    relative = Path(folder) / f"{name}.png"
                    target.mkdir(parents=True, exist_ok=True)
                    path = output_path(target, relative)  # never through a symlink
                    if (path.is_symlink() or not path.is_file()
                            or path.read_bytes() != picture.png):
                        write_output(path, picture.png)
                    written.append(path)
                    heading = "/".join(resource.key)
                    if picture.name:
                        heading += f" › {tabs.get(picture.name, picture.name)}"
                    pages.append((heading, relative.as_posix()))
        finally:
            if client is not None:
                client.close()
        index = target / "index.html"
        target.mkdir(parents=True, exist_ok=True)
        write_output(index, _index_html(pages, subtitle))
        _forget_stale(target, written + [index])
        for path in written:
            typer.echo(str(path))
        base._say(f"Drew {len(written)} picture{'s' if len(written) != 1 else ''} of "
                  f"{len(dashboards)} dashboard{'s' if len(dashboards) != 1 else ''} in {target}")
        if ran and failed == ran:
            # Pictures of nothing but errors are not a preview: a wrong --url/--org, credentials
            # without search rights or streams that do not exist there. Say so and fail.
            from o2kit.errors import UserError

            if fatal:
                raise UserError(
                    f"no panel query could run: {fatal[0].message} (the other {ran - 1} were not "
                    "sent); the pictures show only this error",
                    remedy=fatal[0].remedy or "check --url/--org and OPENOBSERVE_USER/PASSWORD",
                )
            raise UserError(
                f"every one of the {ran} panel queries failed (listed above); the pictures show "
                "only errors",
                remedy="check --url/--org and OPENOBSERVE_USER/PASSWORD (search rights), and "
                "that the streams the panels read exist there",
            )
        if failed:
            base._say(f"{failed} of {ran} panel queries failed (listed above); their panels show "
                      "the error")
        return 0

    raise typer.Exit(base._run(body))


# OpenObserve stamps each metric-stream row with its arrival time (the datapoint's own "timestamp"
# is an ordinary column), and Firehose delivers each minute's datapoints shortly after the minute.
# The synthetic bodies all "arrive" at one instant, which would put every datapoint in the last
# time bucket; re-stamp each row at its own minute, as if delivered without delay, so the charts
# show the traffic's shape in whole buckets.


def _stop_when_the_server_cannot_answer(runner: Any, fatal: list[Any]) -> Any:
    """``runner``, except that after a failure every query would share — the credentials are
    refused (401/403) or the request never reached the server (connect error or connect
    timeout: ``TransportError`` not ``ambiguous``) — the remaining queries fail at once with the
    same error instead of each waiting for it (35 panels × a 30 s connect timeout)."""
    from o2kit.errors import AuthError, TransportError

    def run(sql: str, start_us: int, end_us: int) -> Any:
        if fatal:
            raise fatal[0]
        try:
            return runner(sql, start_us, end_us)
        except (AuthError, TransportError) as exc:
            if isinstance(exc, AuthError) or not exc.ambiguous:
                fatal.append(exc)
            raise

    return run


def _index_html(pages: list[tuple[str, str]], subtitle: str) -> str:
    parts = ["<!doctype html>", '<meta charset="utf-8">', "<title>o2kit preview</title>",
             "<style>body{font-family:sans-serif;margin:16px;background:#f6f8fa}"
             "img{max-width:100%;border:1px solid #ccc}h2{font-size:16px}</style>",
             "<h1>o2kit preview</h1>", f"<p>{html.escape(subtitle)}</p>"]
    for heading, src in pages:
        parts.append(f"<h2>{html.escape(heading)}</h2>")
        parts.append(f'<img src="{html.escape(src)}" alt="{html.escape(heading)}">')
    return "\n".join(parts) + "\n"


def _forget_stale(target: Path, written: list[Path]) -> None:
    """Remove pictures an earlier run listed in the manifest and this run did not write (never
    through a symlink)."""
    from o2kit.project.loader import write_output

    manifest = target / MANIFEST
    keep = {p.relative_to(target).as_posix() for p in written}
    if manifest.exists():
        for line in manifest.read_text(encoding="utf-8").splitlines():
            old = line.strip()
            # Only relative paths inside ``target``: the manifest is a file anyone can edit.
            if (old and old not in keep and not Path(old).is_absolute()
                    and ".." not in Path(old).parts and old.endswith((".png", ".html"))):
                stale = target / old
                if stale.is_file() and not any(
                        p.is_symlink() for p in [stale, *stale.parents] if p != target
                        and p.is_relative_to(target)):
                    stale.unlink()
    write_output(manifest, "".join(f"{p}\n" for p in sorted(keep)))


def register(app: typer.Typer) -> None:
    app.command(name="preview")(preview_command)

