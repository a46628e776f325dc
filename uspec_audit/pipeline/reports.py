"""The run's report step: render the file reports into the staging folder, before the final manifest.

The reports are part of a complete results folder: a run whose HTML report
fails does not commit (exit 3, previous results untouched). One exception,
kept from the first release: a PDF that the audit file asks for but no PDF
engine can make is a warning, because the tables and the HTML are complete;
a PDF asked for with ``--pdf`` is an error. The HTML is built once for the
HTML and the PDF.

Rendering (figures, and the PDF above all) is the slowest part of a re-run,
so the reports are cached (:func:`render_or_reuse`) under the content of
what they show: the sha256 of every result table, the first manifest less
its run-specific times (``started_at``, ``finished_at``, ``timings``), the
formats asked for, and the renderer's identity (uspec-audit version, the
source of the report code and templates, the versions of matplotlib,
WeasyPrint and pydyf, the PDF engine choice). A hit copies the reports that an
earlier run rendered into the staging folder: byte-identical files whose run
record (times, timings, the manifest sha256 they cite) is that earlier run's.
The manifest says so: ``reports_reused``, ``reports_rendered_at`` and
``report_source_sha256`` (the sha256 the reused reports cite). Reports rendered
with a warning (a PDF that could not be made) are not cached, so the next run
tries again.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import os
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from uspec_audit import __version__
from uspec_audit.engine.bundle_cache import REPORTS, Bundle, BundleCache
from uspec_audit.errors import RunError, describe_os_error

REPORT_FILES = {"html": "report.html", "markdown": "report.md", "pdf": "report.pdf"}
PDF_HINT = "pip install 'uspec-audit[pdf]'"


def render_into(
    folder: Path, formats: set[str], pdf_required: bool, progress=None
) -> tuple[list[str], list[str]]:
    """Render the reports in ``formats`` (html, markdown, pdf) from ``folder`` into it, with a progress bar.

    Returns the names written and the warnings (a PDF that could not be made and was not required).
    """
    from uspec_audit.report.render import ReportError, render_reports

    if pdf_required:
        formats = formats | {"pdf"}
    wanted = {kind: folder / name for kind, name in REPORT_FILES.items() if kind in formats}
    if not wanted:
        return [], []
    warnings: list[str] = []
    try:
        written = render_reports(
            folder,
            html=wanted.get("html"),
            pdf=wanted.get("pdf"),
            markdown=wanted.get("markdown"),
            progress=progress,
            on_pdf_error=None
            if pdf_required
            else lambda message: warnings.append(f"no PDF report: {message} ({PDF_HINT})"),
        )
    except ReportError as error:
        raise _failed(error) from error
    return [Path(p).name for p in written], warnings


def _failed(error: Exception) -> RunError:
    reason = str(error)
    if isinstance(error.__cause__, OSError):  # a write failed: say why (disk full...) and what to do
        reason = f"{reason.split(':')[0]}: {describe_os_error(error.__cause__)}"
    return RunError(
        f"the reports could not be rendered: {reason}. Nothing was changed in the results folder."
    )


# Fields of the first manifest that differ between two runs of the same audit with the same results.
RUN_SPECIFIC = ("started_at", "finished_at", "timings")
RENDERER_PACKAGES = ("matplotlib", "weasyprint", "pydyf", "pandas", "numpy")
RENDERER_FILES = ("*.py", "*.html", "*.css")


@dataclass
class Rendered:
    """The reports of a run: written names, warnings, the sha256 of the manifest they cite, and the cache."""

    written: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    source_sha256: str | None = None
    key: str | None = None
    reused: bool = False
    rendered_at: str | None = None

    def manifest_fields(self) -> dict:
        """What the final manifest records about the reports' cache."""
        return {
            "reports_key": self.key,
            "reports_reused": self.reused,
            "reports_rendered_at": self.rendered_at,
        }


def _versions() -> dict[str, str]:
    versions = {}
    for name in RENDERER_PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = ""
    return versions


def renderer_identity() -> dict:
    """The code and tools that turn result tables into report files."""
    from uspec_audit.engine.stats_cache import PACKAGE, source_digest
    from uspec_audit.report.pdf import find_chromium

    return {
        "tool": __version__,
        "code": source_digest(PACKAGE, ("report", "pipeline/reports.py"), RENDERER_FILES),
        "packages": _versions(),
        "pdf_engine": os.environ.get("USPEC_AUDIT_PDF_ENGINE", "auto").lower(),
        "chromium": find_chromium() or "",
    }


def section_identities() -> list[list[str]]:
    """Name and identity (package, version, code hash) of every registered report section, a plugin's too: a
    changed or newly installed section renders the reports again."""
    from uspec_audit.plugins import get_registry

    registry = get_registry()
    return [
        [name, registry.identity("report_section", name)] for name in sorted(registry.names("report_section"))
    ]


def reports_key(folder: Path, manifest: dict, formats: set[str], pdf_required: bool) -> str:
    """The content key of the reports rendered from ``folder`` (its result tables) and ``manifest``."""
    tables = {}
    for path in sorted(Path(folder).iterdir()):
        if path.is_file() and path.name != "manifest.json":  # the report lists and reads these files
            tables[path.name] = hashlib.sha256(path.read_bytes()).hexdigest()
    material = {
        "tables": tables,
        "manifest": {k: v for k, v in manifest.items() if k not in RUN_SPECIFIC},
        "formats": sorted(formats),
        "pdf_required": pdf_required,
        "renderer": renderer_identity(),
        "sections": section_identities(),
    }
    return hashlib.sha256(json.dumps(material, sort_keys=True, default=str).encode()).hexdigest()


def render_or_reuse(
    folder: Path,
    formats: set[str],
    pdf_required: bool,
    progress,
    results: Path,
    manifest: dict,
    source_sha256: str,
    fresh: bool = False,
) -> Rendered:
    """The reports of ``folder`` (a staging folder holding the tables and ``manifest``): copied from the
    cache of ``results`` when an earlier run rendered the same, else rendered (:func:`render_into`) and stored."""
    cache = BundleCache(results, REPORTS, enabled=not fresh)
    cache.remove_partial_writes()
    key = reports_key(folder, manifest, formats, pdf_required)
    bundle = cache.get(key)
    meta = bundle.meta if bundle is not None else {}
    written = meta.get("written")
    if (
        bundle is not None
        and meta.get("key") == key
        and isinstance(written, list)
        and set(bundle.files) == set(written)
        and all(name in REPORT_FILES.values() for name in written)
    ):
        from uspec_audit.results.writer import atomic_write

        with _step(progress, "Reports (reused from the cache)", len(written)) as advance:
            for name in written:
                atomic_write(Path(folder) / name, lambda stream, data=bundle.files[name]: stream.write(data))
                advance()
        return Rendered(
            list(written), list(cache.warnings), meta.get("source_sha256"), key, True, meta.get("rendered_at")
        )
    if bundle is not None:
        cache.discard(key, "not a reports entry of this key")
    written, warnings = render_into(folder, formats, pdf_required, progress)
    rendered_at = datetime.now(UTC).isoformat(timespec="seconds")
    if not warnings:  # a PDF that could not be made is tried again next time
        cache.put(
            key,
            Bundle(
                {"key": key, "written": written, "source_sha256": source_sha256, "rendered_at": rendered_at},
                {name: (Path(folder) / name).read_bytes() for name in written},
            ),
        )
    return Rendered(written, cache.warnings + warnings, source_sha256, key, False, rendered_at)


def _step(progress, description: str, total: int):
    from contextlib import nullcontext

    if progress is None:
        return nullcontext(lambda n=1: None)
    return progress.step(description, total)
