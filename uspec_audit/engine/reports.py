"""The run's report step: render the file reports into the staging folder, before the final manifest.

The reports are part of a complete results folder: a run whose HTML report
fails does not commit (exit 3, previous results untouched). One exception,
kept from the first release: a PDF that the audit file asks for but no PDF
engine can make is a warning, because the tables and the HTML are complete;
a PDF asked for with ``--pdf`` is an error. The HTML is built once for the
HTML and the PDF.
"""

from __future__ import annotations

from pathlib import Path

from uspec_audit.errors import RunError, describe_os_error

REPORT_FILES = {"html": "report.html", "markdown": "report.md", "pdf": "report.pdf"}
PDF_HINT = "pip install 'uspec-audit[pdf]'"


def render_into(folder: Path, formats: set[str], pdf_required: bool, progress=None) -> tuple[list[str], list[str]]:
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
            folder, html=wanted.get("html"), pdf=wanted.get("pdf"), markdown=wanted.get("markdown"),
            progress=progress,
            on_pdf_error=None if pdf_required else lambda message: warnings.append(
                f"no PDF report: {message} ({PDF_HINT})"))
    except ReportError as error:
        raise _failed(error) from error
    return [Path(p).name for p in written], warnings


def _failed(error: Exception) -> RunError:
    reason = str(error)
    if isinstance(error.__cause__, OSError):  # a write failed: say why (disk full...) and what to do
        reason = f"{reason.split(':')[0]}: {describe_os_error(error.__cause__)}"
    return RunError(f"the reports could not be rendered: {reason}. Nothing was changed in the results folder.")
