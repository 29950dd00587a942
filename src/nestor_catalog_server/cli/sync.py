"""``nestor-catalog sync``: sync the configured git repositories and directories into the
configured storage, once (``--once``, for cron jobs and CI) or continuously in the foreground
(a dedicated sync worker beside read-only servers) until SIGINT or SIGTERM.

On a terminal (and not in CI), ``--once`` draws a bar on stderr as sources finish.

Exit codes: 0 every source synced, 1 at least one failed, 2 the configuration (or a
``--repository`` name) is wrong. Files rejected by validation do not fail the command: they are
listed with their findings, as the server's sync status lists them.
"""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Final, NoReturn, TextIO

import click

from nestor_catalog_core import Catalog, CatalogError, ConfigError, Finding, open_store
from nestor_catalog_core.cli import progress
from nestor_catalog_server.cli._options import config_option
from nestor_catalog_server.config import GitConfig, Settings, catalog_settings, load_settings
from nestor_catalog_server.observability.logging import configure_logging
from nestor_catalog_server.process import tune_gc
from nestor_catalog_server.sync import SyncManager, SyncReport

__all__ = ["EXIT_CONFIG", "EXIT_FAILED", "EXIT_OK", "format_report", "sync"]

EXIT_OK: Final = 0
EXIT_FAILED: Final = 1
EXIT_CONFIG: Final = 2


@click.command("sync")
@config_option
@click.option("--once", is_flag=True, help="Sync every source once, print a summary and exit.")
@click.option(
    "--repository",
    "-r",
    "names",
    multiple=True,
    metavar="NAME",
    help="Only this source (repeatable); default: every configured repository and directory.",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="Summary format for --once: text for people, json for tools (one object).",
)
def sync(config_path: Path | None, once: bool, names: tuple[str, ...], fmt: str) -> None:
    """Sync git repositories and local directories into the catalog's storage."""
    try:
        settings = load_settings(config_path)
    except ConfigError as exc:
        _fail_config(exc.message)
    configure_logging(settings.logging, settings.service.name, stream=sys.stderr)
    tune_gc()
    try:
        code = asyncio.run(_run(settings, names, once=once, fmt=fmt))
    except ConfigError as exc:
        _fail_config(exc.message)
    except CatalogError as exc:
        click.echo(f"nestor-catalog sync: {exc.message}", err=True)
        code = EXIT_FAILED
    sys.exit(code)


def _fail_config(message: str) -> NoReturn:
    click.echo(f"nestor-catalog sync: {message}", err=True)
    sys.exit(EXIT_CONFIG)


async def _run(settings: Settings, names: Sequence[str], *, once: bool, fmt: str) -> int:
    git = _selected(settings, names)
    catalog = Catalog(open_store(settings.store_uri()), catalog_settings(settings))
    await catalog.start()
    try:
        manager = SyncManager(catalog, git, data_dir=settings.service.data_dir)
        if once:
            total = len(git.repositories) + len(git.directories)
            with progress(total, label="syncing", threshold=1) as advance:
                reports = await manager.sync_once(on_done=lambda _report: advance(1))
            await manager.stop()
            _print(reports, fmt, sys.stdout)
            return EXIT_OK if all(report.ok for report in reports) else EXIT_FAILED
        await _run_until_signalled(manager)
        return EXIT_OK
    finally:
        await catalog.close()


def _selected(settings: Settings, names: Sequence[str]) -> GitConfig:
    """The git section narrowed to ``names`` (every source when empty); unknown names are a
    ``ConfigError`` naming the configured ones."""
    git = settings.git
    if not names:
        return git
    known = [repository.name for repository in git.repositories] + [directory.name for directory in git.directories]
    unknown = [name for name in names if name not in known]
    if unknown:
        raise ConfigError(
            f"no source named {', '.join(map(repr, unknown))} in the configuration; "
            f"configured: {', '.join(known) or 'none'}"
        )
    wanted = set(names)
    return git.model_copy(
        update={
            "repositories": tuple(r for r in git.repositories if r.name in wanted),
            "directories": tuple(d for d in git.directories if d.name in wanted),
        }
    )


async def _run_until_signalled(manager: SyncManager) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    signals = (signal.SIGINT, signal.SIGTERM)
    for signum in signals:
        loop.add_signal_handler(signum, stop.set)
    try:
        await manager.start()
        await stop.wait()
    finally:
        for signum in signals:
            loop.remove_signal_handler(signum)
        await manager.stop()


def _print(reports: Sequence[SyncReport], fmt: str, out: TextIO) -> None:
    if fmt == "json":
        payload = {"ok": all(report.ok for report in reports), "sources": [report.to_dict() for report in reports]}
        out.write(json.dumps(payload, indent=2, ensure_ascii=False) + "\n")
    else:
        if not reports:
            out.write("no repositories or directories are configured (git.repositories, git.directories)\n")
        for report in reports:
            out.writelines(line + "\n" for line in format_report(report))
    out.flush()


def format_report(report: SyncReport) -> list[str]:
    """A source's summary for people: one headline, then each rejected file's findings."""
    name = f"{report.source} ({report.kind.value})"
    if report.error is not None:
        return [
            f"{name}: FAILED after {report.duration_ms:.0f} ms: {report.error['message']} [{report.error['reason']}]"
        ]
    counts = report.counts
    where = f" at {report.commit[:12]}" if report.commit else ""
    moved = (
        f" from {report.previous_commit[:12]}"
        if report.previous_commit and report.previous_commit != report.commit
        else ""
    )
    lines = [
        f"{name}: {report.outcome}{where}{moved} in {report.duration_ms:.0f} ms: "
        f"files +{counts.added} ~{counts.modified} -{counts.deleted} >{counts.renamed}, "
        f"versions {counts.published} published, {counts.unchanged} unchanged, {counts.withdrawn} withdrawn, "
        f"{counts.rejected} file(s) rejected"
    ]
    for path, findings in sorted(report.findings.items()):
        lines.append(f"  rejected {path}:")
        lines.extend(f"    {Finding.from_dict(item)}" for item in findings)
    return lines
