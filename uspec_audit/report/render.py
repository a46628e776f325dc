"""Entry point of the file reports: HTML, PDF and Markdown, rendered from a results folder.

The reports are built from the files the engine wrote (``manifest.json`` and the
Parquet tables) and nothing else: no models, no data. ``uspec-audit run`` calls
:func:`render_reports` after writing results; ``uspec-audit report DIR`` calls it
on a finished run.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["ReportError", "render_reports"]


class ReportError(Exception):
    """A report could not be rendered (missing or incomplete results, no PDF engine...).

    The message is meant for the user as is.
    """


def render_reports(
    results_dir: Path,
    html: Path | None = None,
    pdf: Path | None = None,
    markdown: Path | None = None,
) -> list[Path]:
    """Render the requested reports from ``results_dir`` and return the paths written.

    ``html``, ``pdf`` and ``markdown`` are output paths; ``None`` skips that format.
    Raises :class:`ReportError` when the folder has no ``manifest.json``, the
    manifest's status is not ``"complete"``, a required table is missing or
    unreadable, or no PDF engine is available.
    """
    # Imported here so that ``ReportError`` can be imported without matplotlib.
    from uspec_audit.report.tables import load_results

    results = load_results(Path(results_dir))
    written: list[Path] = []
    page = None
    if html is not None or pdf is not None:
        from uspec_audit.report.html import build_html

        page = build_html(results)
    if html is not None:
        written.append(_write_text(Path(html), page.html))
    if pdf is not None:
        from uspec_audit.report.pdf import write_pdf

        written.append(write_pdf(page.print_html, Path(pdf)))
    if markdown is not None:
        from uspec_audit.report.markdown import build_markdown

        written.append(_write_text(Path(markdown), build_markdown(results)))
    return written


def _write_text(path: Path, text: str) -> Path:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(path)
    except OSError as exc:
        raise ReportError(f"cannot write {path}: {exc.strerror or exc}") from exc
    return path
