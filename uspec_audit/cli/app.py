"""The Typer application: ``uspec-audit run | validate | plugins | schema | report``."""

from __future__ import annotations

import json
import shlex
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.text import Text

from uspec_audit import __version__
from uspec_audit.cli.cache import cache_app
from uspec_audit.cli.errors import (
    EXIT_CONTRACT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_RUNTIME,
    report_interrupt,
    reports_errors,
)
from uspec_audit.errors import printable
from uspec_audit.signals import install, interrupted


class _Command(typer.core.TyperCommand):
    """A command whose --help shows no type placeholder after a flag (``--fresh``, not ``--fresh <bool>``)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for param in self.params:
            if getattr(param, "is_flag", False):
                param.metavar = ""

    def get_help_option(self, ctx):
        option = super().get_help_option(ctx)
        if option is not None:
            option.metavar = ""
        return option

    def collect_usage_pieces(self, ctx) -> list[str]:
        # "run [OPTIONS] AUDIT", not "{audit}": the argument's metavar names it, required is implied
        return [
            piece[1:-1] if piece.startswith("{") and piece.endswith("}") else piece
            for piece in super().collect_usage_pieces(ctx)
        ]


class _Group(typer.core.TyperGroup, _Command):
    """The application's group, with the same help (its --version and --help are flags too)."""


app = typer.Typer(
    cls=_Group,
    name="uspec-audit",
    help="Audit machine-learning model ensembles for underspecification (D'Amour et al. 2020).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
stdout = Console(highlight=False, soft_wrap=False, width=None)
stderr = Console(stderr=True, highlight=False)


class Executor(StrEnum):
    local = "local"
    ray = "ray"


class Device(StrEnum):
    auto = "auto"
    cpu = "cpu"
    cuda = "cuda"
    tensorrt = "tensorrt"


def _version(value: bool) -> None:
    if value:
        print(f"uspec-audit {__version__}")
        raise typer.Exit()


@app.callback()
def main_callback(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version.")
    ] = False,
) -> None:
    """Audit machine-learning model ensembles for underspecification."""


def _warn_plugin_failures(registry) -> None:
    """One line per plugin problem: the audit does not use what was left out (else it would have failed)."""
    for failure in registry.failures:
        stderr.print(f"[yellow]warning:[/] {escape(printable(failure.error))} (this audit does not use it)")


ALLOW_CODE_HELP = (
    "Let the audit file's factory = 'MODULE:function' options import and call code from MODULE (and "
    "its submodules); repeatable. Only for code you trust; never the standard library."
)


@app.command(cls=_Command)
@reports_errors
def run(
    audit: Annotated[Path, typer.Argument(help="The audit TOML file.", metavar="AUDIT")],
    out: Annotated[
        Path | None, typer.Option("--out", help="Results folder (default: the audit's output).")
    ] = None,
    device: Annotated[Device, typer.Option("--device", help="Where models run.")] = Device.auto,
    fresh: Annotated[
        bool, typer.Option("--fresh", help="Ignore the cache: recompute predictions, statistics and reports.")
    ] = False,
    executor: Annotated[
        Executor | None,
        typer.Option(
            "--executor",
            help="Where members run: local (this process) or "
            "ray (a Ray cluster; default: the audit's [execution]).",
        ),
    ] = None,
    address: Annotated[
        str | None,
        typer.Option(
            "--address",
            help="--executor ray: join the cluster at this address "
            "(host:port, ray://host:10001, auto); default a local one.",
        ),
    ] = None,
    only: Annotated[
        list[str] | None,
        typer.Option("--only", help="Run only this test (repeatable); the iid reference always runs."),
    ] = None,
    reports: Annotated[
        bool,
        typer.Option(
            "--reports/--no-reports", help="Write the reports the audit asks for (default html and markdown)."
        ),
    ] = True,
    pdf: Annotated[
        bool, typer.Option("--pdf", help="Also write report.pdf (an error if no PDF engine works).")
    ] = False,
    all_metrics: Annotated[
        bool, typer.Option("--all-metrics", help="Show every metric in the terminal report.")
    ] = False,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print a machine-readable result instead of the report.")
    ] = False,
    allow_code: Annotated[
        list[str] | None, typer.Option("--allow-code", metavar="MODULE", help=ALLOW_CODE_HELP)
    ] = None,
    wait: Annotated[
        bool,
        typer.Option(
            "--wait",
            help="If another run is writing to the same results folder, wait "
            "for it to finish instead of exiting.",
        ),
    ] = False,
) -> None:
    """Run an audit: stream every test through every member, compute the statistics, check the contracts."""
    from uspec_audit.engine.progress import Progress, RichProgress
    from uspec_audit.pipeline.run import RunOptions, execute_audit
    from uspec_audit.plugins import get_registry
    from uspec_audit.report.terminal import render_terminal
    from uspec_audit.validation import load_audit

    registry = get_registry()
    checked = load_audit(audit, registry, allow_code=allow_code or [], output_given=out is not None)
    progress = Progress() if as_json else RichProgress(stderr)
    if not as_json:
        _warn_plugin_failures(registry)
    for warning in checked.warnings:
        if not as_json:
            stderr.print(f"[yellow]warning:[/] {escape(printable(warning))}")
    options = RunOptions(
        output=out,
        device=device.value,
        fresh=fresh,
        only=list(only or []),
        executor=executor.value if executor else None,
        address=address,
        command=" ".join(["uspec-audit", *map(shlex.quote, sys.argv[1:])]) if sys.argv else "",
        reports=None if reports else set(),
        pdf=pdf,
        wait=wait,
        allow_code=list(allow_code or []),
    )
    outcome = execute_audit(checked, registry, options, progress)  # renders the reports before the manifest
    if as_json:
        summary = outcome.tables["summary"]
        contracts = outcome.tables["contracts"]
        print(
            json.dumps(
                {
                    "status": "complete",
                    "output": str(outcome.output),
                    "contracts": {
                        "checked": int(len(contracts)),
                        "failed": outcome.contracts_failed,
                        "rows": json.loads(contracts.to_json(orient="records")),
                    },
                    "summary": json.loads(summary.to_json(orient="records")),
                    "reports": [str(p) for p in outcome.reports],
                    "warnings": outcome.warnings,
                    "timings": outcome.manifest["timings"],
                },
                indent=2,
            )
        )
    else:
        render_terminal(outcome.output, stdout, all_metrics=all_metrics)
        for warning in outcome.report_warnings:
            stderr.print(f"[yellow]warning:[/] {escape(printable(warning))}")
        stdout.print(Text(f"Results: {outcome.output}" + "".join(f"\nReport: {p}" for p in outcome.reports)))
    if outcome.contracts_failed:
        raise typer.Exit(EXIT_CONTRACT_FAILED)


@app.command(cls=_Command)
@reports_errors
def validate(
    audit: Annotated[Path, typer.Argument(help="The audit TOML file.", metavar="AUDIT")],
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
    allow_code: Annotated[
        list[str] | None, typer.Option("--allow-code", metavar="MODULE", help=ALLOW_CODE_HELP)
    ] = None,
) -> None:
    """Check an audit file without running it: syntax, keys, names, paths, contracts, the datasets' columns and
    the members' inputs (read from file headers), the code it would run, and the work units a run would
    compute."""
    from uspec_audit.engine.plan import build_plan
    from uspec_audit.plugins import get_registry
    from uspec_audit.validation import load_audit

    registry = get_registry()
    checked = load_audit(audit, registry, allow_code=allow_code or [])
    plan = build_plan(checked, registry)
    units = plan.unit_count
    if as_json:
        print(
            json.dumps(
                {
                    "status": "valid",
                    "audit": str(checked.path),
                    "sha256": checked.loaded.sha256,
                    "ensembles": {k: len(v) for k, v in plan.members.items()},
                    "tests": [t.config.name for t in plan.tests],
                    "units": units,
                    "warnings": list(checked.warnings),
                    "notes": list(checked.notes),
                    "code": list(checked.trust_notes),
                    "plugin_failures": [f.error for f in registry.failures],
                },
                indent=2,
            )
        )
        return
    _warn_plugin_failures(registry)
    for warning in checked.warnings:
        stderr.print(f"[yellow]warning:[/] {escape(printable(warning))}")
    for note in checked.notes:
        stderr.print(f"note: {escape(printable(note))}")
    for note in checked.trust_notes:
        stderr.print(f"[yellow]code:[/] {escape(printable(note))}")
    members = ", ".join(f"{k} ({len(v)} members)" for k, v in plan.members.items())
    stdout.print(
        f"[green]valid[/]: {escape(printable(str(checked.path)))} — ensembles {escape(printable(members))}; "
        f"{len(plan.tests)} "
        f"tests; {len(plan.groups)} dataset streams (a dataset under one variant, read once); {units} "
        f"work units (one ensemble on one stream: what the run computes or reuses from its cache)."
    )


@app.command(cls=_Command)
@reports_errors
def plugins(
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """List every registered component with its plugin, package and version, and the plugins (or components)
    that were left out and why; exits 3 when any was."""
    from rich.table import Table

    from uspec_audit.plugins import get_registry

    registry = get_registry()
    rows = [
        {
            "family": item.family,
            "name": item.name,
            "plugin": item.plugin,
            "package": item.package,
            "version": item.version,
            "doc": getattr(item.spec, "doc", ""),
        }
        for item in registry.all()
    ]
    failures = [
        {
            "plugin": f.plugin,
            "package": f.package,
            "family": f.family,
            "component": f.component,
            "error": f.error,
        }
        for f in registry.failures
    ]
    if as_json:
        print(json.dumps({"components": rows, "failures": failures, "plugins": registry.plugins}, indent=2))
    else:
        table = Table(title="Registered components")
        for header in ("family", "name", "plugin", "package", "version"):
            table.add_column(header)
        for row in rows:
            table.add_row(row["family"], row["name"], row["plugin"], row["package"], row["version"])
        stdout.print(table)
        for failure in failures:
            stderr.print(f"[red]plugin failure:[/] {escape(printable(failure['error']))}")
    if failures:  # everything else is listed and usable; the exit code says that something is not
        raise typer.Exit(EXIT_RUNTIME)


@app.command(cls=_Command)
@reports_errors
def schema(
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write to this file instead of stdout.")
    ] = None,
) -> None:
    """Print the JSON Schema of audit files (with the parameters of every registered perturbation)."""
    from uspec_audit.config.schema import audit_schema
    from uspec_audit.plugins import get_registry

    text = json.dumps(audit_schema(get_registry()), indent=2, sort_keys=True) + "\n"
    if output is None:
        sys.stdout.write(text)
    else:
        output.write_text(text, encoding="utf-8")


@app.command(cls=_Command)
@reports_errors
def report(
    results: Annotated[Path, typer.Argument(help="A results folder of a finished run.", metavar="RESULTS")],
    html: Annotated[Path | None, typer.Option("--html", help="Write the HTML report here.")] = None,
    pdf: Annotated[Path | None, typer.Option("--pdf", help="Write the PDF report here.")] = None,
    markdown: Annotated[
        Path | None, typer.Option("--markdown", help="Write the Markdown summary here.")
    ] = None,
    all_metrics: Annotated[bool, typer.Option("--all-metrics", help="Show every metric.")] = False,
) -> None:
    """Render the reports of a finished run from its result files alone (no models or data needed)."""
    from uspec_audit.errors import AuditFileError
    from uspec_audit.report.terminal import render_terminal
    from uspec_audit.results.reading import reading

    with reading(results) as (folder, notes):  # finishes an interrupted commit; checks the tables' checksums
        for note in notes:
            stderr.print(f"[yellow]note:[/] {escape(printable(note))}")
        render_terminal(folder.path, stdout, all_metrics=all_metrics, from_folder=True)
        if html or pdf or markdown:
            from uspec_audit.report.render import ReportError, render_reports

            try:
                written = render_reports(folder.path, html=html, pdf=pdf, markdown=markdown)
            except ReportError as error:
                raise AuditFileError(str(error)) from error
            for path in written:
                stdout.print(Text(f"Report: {path}"))


for _command in cache_app.registered_commands:  # the same --help style as every other command
    _command.cls = _Command
app.add_typer(cache_app, name="cache", cls=_Group)


def main() -> None:
    """Console-script entry point: the process is ours, so Ctrl-C is handled our way (exit 130, no traceback,
    see :mod:`uspec_audit.signals`), onnxruntime's pools are sized for it and numpy does not advise huge pages
    (:mod:`uspec_audit.cli.memory`)."""
    install()
    try:
        from uspec_audit.cli.memory import prefer_small_pages
        from uspec_audit.models.onnx import configure_threads

        configure_threads()
        prefer_small_pages()
        app()
    except KeyboardInterrupt:  # outside a command (while starting): the same message and code
        report_interrupt(as_json=False)
        sys.exit(EXIT_INTERRUPTED)
    except SystemExit as exit_:
        if interrupted() and exit_.code != EXIT_INTERRUPTED:  # e.g. click's "Aborted!" while parsing
            report_interrupt(as_json=False)
            sys.exit(EXIT_INTERRUPTED)
        raise
