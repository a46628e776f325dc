"""``uspec-audit cache info DIR`` and ``uspec-audit cache prune DIR``: the cache of a results folder (predictions,
statistics and reports)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from uspec_audit.cli.errors import reports_errors

cache_app = typer.Typer(
    help="Inspect or prune the cache of a results folder (DIR/.cache/: predictions, statistics, reports).",
    no_args_is_help=True,
)
stdout = Console(highlight=False, soft_wrap=False, width=None)


def _size(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:,} {unit}" if unit == "B" else f"{n:,.1f} {unit}"
        n /= 1024
    return str(n)  # pragma: no cover


@cache_app.command("info")
@reports_errors
def info(
    results: Annotated[Path, typer.Argument(help="A results folder.", metavar="DIR")],
    verify: Annotated[
        bool, typer.Option("--verify", help="Check every entry's checksum (reads all of them).")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Size of the cache, its entries by store, and which of them the current results use."""
    from uspec_audit.engine.cache_admin import STORE_NAMES, inventory, referenced_keys
    from uspec_audit.results.folder import ResultsFolder

    folder = ResultsFolder.existing(results)
    entries = inventory(folder, verify=verify)
    listed = referenced_keys(folder)
    groups = {
        "referenced": [e for e in entries if e.referenced],
        "unreferenced": [e for e in entries if e.kind == "entry" and not e.referenced],
        "from uspec-audit 0.1": [e for e in entries if e.kind == "legacy"],
        "partial writes": [e for e in entries if e.kind == "partial"],
    }
    stores = {name: [e for e in entries if e.store == name] for name in STORE_NAMES}
    damaged = [e for e in entries if e.damaged]
    if as_json:
        print(
            json.dumps(
                {
                    "cache": str(folder.cache_dir),
                    "entries": len(entries),
                    "bytes": sum(e.bytes for e in entries),
                    "groups": {
                        name: {"entries": len(g), "bytes": sum(e.bytes for e in g)}
                        for name, g in groups.items()
                    },
                    "stores": {
                        name: {
                            "entries": len(g),
                            "bytes": sum(e.bytes for e in g),
                            "referenced": sum(e.referenced for e in g),
                        }
                        for name, g in stores.items()
                    },
                    "referenced_known": listed is not None,
                    "verified": verify,
                    "damaged": [e.path.name for e in damaged],
                    "files": [
                        {
                            "name": e.path.name,
                            "store": e.store,
                            "bytes": e.bytes,
                            "kind": e.kind,
                            "referenced": e.referenced,
                            "damaged": e.damaged,
                        }
                        for e in entries
                    ],
                },
                indent=2,
            )
        )
        return
    table = Table(title=f"Cache of {folder.path}")
    for header in ("", "entries", "size"):
        table.add_column(header, justify="right" if header else "left")
    for name, group in groups.items():
        table.add_row(name, f"{len(group):,}", _size(sum(e.bytes for e in group)))
    table.add_row("total", f"{len(entries):,}", _size(sum(e.bytes for e in entries)), style="bold")
    stdout.print(table)
    by_store = Table(title="By store")
    for header in ("store", "entries", "referenced", "size"):
        by_store.add_column(header, justify="right" if header != "store" else "left")
    for name, group in stores.items():
        by_store.add_row(
            name,
            f"{len(group):,}",
            f"{sum(e.referenced for e in group):,}",
            _size(sum(e.bytes for e in group)),
        )
    stdout.print(by_store)
    if listed is None:
        stdout.print(
            "The folder has no complete run that lists its cache entries: none counts as referenced."
        )
    if verify:
        stdout.print(
            f"{len(damaged)} damaged entries"
            + (": " + ", ".join(e.path.name for e in damaged) if damaged else ".")
        )
    stdout.print("`uspec-audit cache prune DIR` removes everything but the referenced entries.")


@cache_app.command("prune")
@reports_errors
def prune_command(
    results: Annotated[Path, typer.Argument(help="A results folder.", metavar="DIR")],
    everything: Annotated[
        bool, typer.Option("--all", help="Remove every entry, the referenced ones too.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Remove cache entries (predictions, statistics, reports) the last complete run does not use, and damaged or
    partial ones; --all: every entry."""
    from uspec_audit.engine.cache_admin import prune
    from uspec_audit.results.folder import ResultsFolder
    from uspec_audit.results.lock import writer_lock

    folder = ResultsFolder.existing(results)
    with writer_lock(folder.path, command="uspec-audit cache prune"):
        removed = prune(folder, everything)
    freed = sum(e.bytes for e in removed)
    if as_json:
        print(json.dumps({"removed": [e.path.name for e in removed], "bytes": freed}, indent=2))
    else:
        stdout.print(f"removed {len(removed):,} cache files ({_size(freed)}) from {folder.cache_dir}")
