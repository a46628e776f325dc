"""The PDF report: the print variant of the HTML report, paginated by a CSS paged-media engine.

Route: WeasyPrint (pure Python on top of Pango) renders the very same HTML with
its print CSS — title page, running header, "page N of M", page breaks before
sections, figures never split. It needs no browser, no sandbox and no network,
and gives the same PDF on every run. If WeasyPrint is not installed (or its
Pango libraries are missing), headless Chromium's ``--print-to-pdf`` is used
when a ``chromium`` binary is on PATH. ``USPEC_AUDIT_PDF_ENGINE`` =
``weasyprint`` | ``chromium`` forces one engine.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from uspec_audit.report.errors import ReportError

INSTALL_HINT = (
    "install the PDF engine: `pip install 'weasyprint>=61'` plus the Pango libraries "
    "(Debian/Ubuntu: `apt-get install -y libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 "
    "fonts-dejavu-core`), or install Chromium (`apt-get install -y chromium`)"
)
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome")


def find_chromium() -> str | None:
    """Path of a Chromium/Chrome binary, or None."""
    env = os.environ.get("USPEC_AUDIT_CHROMIUM")
    if env and Path(env).is_file():
        return env
    for name in CHROMIUM_NAMES:
        path = shutil.which(name)
        if path:
            return path
    return None


def _weasyprint(html: str, path: Path) -> None:
    from weasyprint import HTML  # optional dependency

    # WeasyPrint logs every CSS property it ignores (e.g. overflow-x); keep the CLI quiet.
    for name in ("weasyprint", "fontTools"):
        logging.getLogger(name).setLevel(logging.ERROR)
    HTML(string=html, base_url=None).write_pdf(str(path))


def _chromium(html: str, path: Path, binary: str) -> None:
    with tempfile.TemporaryDirectory(prefix="uspec-audit-pdf-") as tmp:
        page = Path(tmp) / "report.html"
        page.write_text(html, encoding="utf-8")
        cmd = [
            binary,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={Path(tmp) / 'profile'}",
            "--no-pdf-header-footer",
            f"--print-to-pdf={path}",
            page.as_uri(),
        ]
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=180)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise ReportError(f"Chromium could not print the PDF: {exc}") from exc
        if proc.returncode != 0 or not path.is_file() or path.stat().st_size == 0:
            raise ReportError(
                f"Chromium could not print the PDF (exit {proc.returncode}): {proc.stderr.strip()[-500:]}"
            )


def write_pdf(print_html: str, path: Path) -> Path:
    """Write the PDF of ``print_html`` to ``path``; raise ReportError when no engine works."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ReportError(f"cannot write {path}: {exc.strerror or exc}") from exc
    engine = os.environ.get("USPEC_AUDIT_PDF_ENGINE", "auto").lower()
    tmp = path.with_name(path.name + ".tmp")
    errors = []
    if engine in ("auto", "weasyprint"):
        try:
            _weasyprint(print_html, tmp)
            tmp.replace(path)
            return path
        except (ImportError, OSError) as exc:  # not installed, or Pango missing
            errors.append(f"WeasyPrint unavailable ({exc})")
    if engine in ("auto", "chromium"):
        binary = find_chromium()
        if binary:
            _chromium(print_html, tmp.absolute(), binary)
            tmp.replace(path)
            return path
        errors.append("no chromium binary on PATH")
    tmp.unlink(missing_ok=True)
    raise ReportError(
        f"cannot render the PDF report: {'; '.join(errors) or 'unknown engine ' + engine}; {INSTALL_HINT}"
    )
