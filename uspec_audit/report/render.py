"""Entry point of the file reports: HTML, PDF and Markdown, rendered from a results folder.

The reports are built from the files the engine wrote (``manifest.json`` and the
Parquet tables) and nothing else: no models, no data. ``uspec-audit run`` calls
:func:`render_reports` after writing results; ``uspec-audit report DIR`` calls it
on a finished run. The HTML is built once and serves both the HTML and the PDF.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from uspec_audit.report.errors import ReportError

__all__ = ["ReportError", "render_reports", "report_steps"]


@contextmanager
def _progress_step(progress: Any, total: int):
    """``advance()`` for a progress bar: ``progress`` is a :class:`uspec_audit.engine.progress.Progress`
    (``step(description, total)``), a callable ``progress(done, total)``, or None."""
    if progress is None:
        yield lambda: None
    elif hasattr(progress, "step"):
        with progress.step("Rendering reports", total) as advance:
            yield lambda: advance(1)
    else:
        done = 0

        def advance() -> None:
            nonlocal done
            done += 1
            progress(done, total)

        progress(0, total)
        yield advance


def report_steps(results, html: bool, pdf: bool, markdown: bool) -> int:
    """Progress steps of one :func:`render_reports` call: the HTML's sections and figures, the PDF, the Markdown."""
    from uspec_audit.report.html import html_steps

    return (html_steps(results) if html or pdf else 0) + int(html) + int(pdf) + int(markdown)


def render_reports(
    results_dir: Path,
    html: Path | None = None,
    pdf: Path | None = None,
    markdown: Path | None = None,
    progress: Callable[[int, int], None] | Any | None = None,
    on_pdf_error: Callable[[str], None] | None = None,
) -> list[Path]:
    """Render the requested reports from ``results_dir`` and return the paths written.

    ``html``, ``pdf`` and ``markdown`` are output paths; ``None`` skips that format.
    ``progress`` gets a bar with a known total (see :func:`_progress_step`).
    Without ``on_pdf_error`` a PDF that no engine can make raises; with it, the
    message goes to ``on_pdf_error`` and the other reports are still written.
    Raises :class:`ReportError` when the folder has no ``manifest.json``, the
    manifest's status is not ``"complete"``, a required table is missing or
    unreadable, or no PDF engine is available.
    """
    # Imported here so that this entry point imports without pandas and matplotlib.
    from uspec_audit.report.tables import load_results

    results = load_results(Path(results_dir))
    written: list[Path] = []
    total = report_steps(results, html is not None, pdf is not None, markdown is not None)
    with _progress_step(progress, total) as advance:
        page = None
        if html is not None or pdf is not None:
            from uspec_audit.report.html import build_html

            page = build_html(results, advance)
        if html is not None:
            assert page is not None
            written.append(_write_text(Path(html), page.html))
            advance()
        if pdf is not None:
            from uspec_audit.report.pdf import write_pdf

            assert page is not None
            try:
                written.append(write_pdf(page.print_html, Path(pdf)))
            except ReportError as error:
                if on_pdf_error is None:
                    raise
                on_pdf_error(str(error))
            advance()
        if markdown is not None:
            from uspec_audit.report.markdown import build_markdown

            written.append(_write_text(Path(markdown), build_markdown(results)))
            advance()
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
