"""Render the reports and take pictures of them, to look at by eye.

    python tests/report/snapshot.py OUT_DIR [RESULTS_DIR]

Without RESULTS_DIR the synthetic fixture is built in OUT_DIR/results. Writes
report.html / report.pdf / report.md, Chromium screenshots (html-*.png), one PNG
per PDF page (pdf/page-*.png) and contact sheets of the pages (pdf-sheet-*.png).
Needs chromium, poppler-utils and websocket-client (see test_report_visual.py).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from PIL import Image

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from report_helpers import Chromium, find_chromium, load_results_fixture  # noqa: E402

from uspec_audit.report.render import render_reports  # noqa: E402


def contact_sheets(pages: list[Path], out: Path, per_sheet: int = 12) -> list[Path]:
    sheets = []
    for start in range(0, len(pages), per_sheet):
        ims = [Image.open(p) for p in pages[start : start + per_sheet]]
        w, h = ims[0].size
        sheet = Image.new("RGB", (6 * (w + 10), 2 * (h + 10)), "#808080")
        for i, im in enumerate(ims):
            sheet.paste(im, ((i % 6) * (w + 10), (i // 6) * (h + 10)))
        path = out / f"pdf-sheet-{start // per_sheet + 1}.png"
        sheet.save(path)
        sheets.append(path)
    return sheets


def main(out: Path, results: Path | None) -> None:
    out.mkdir(parents=True, exist_ok=True)
    if results is None:
        results = load_results_fixture().build_results(out / "results")
    html, pdf, md = render_reports(
        results, html=out / "report.html", pdf=out / "report.pdf", markdown=out / "report.md"
    )
    print(f"wrote {html} ({html.stat().st_size / 1e6:.2f} MB), {pdf}, {md}")
    binary = find_chromium()
    if binary:
        with Chromium(binary) as browser:
            page = browser.check_page(html, shots=out)
        print(f"screenshots: {[str(p) for p in page.screenshots]}; console errors: {page.console_errors}")
    (out / "pdf").mkdir(exist_ok=True)
    subprocess.run(["pdftoppm", "-r", "50", "-png", str(pdf), str(out / "pdf" / "page")], check=True)
    sheets = contact_sheets(sorted((out / "pdf").glob("page-*.png")), out)
    print(
        f"PDF pages: {len(list((out / 'pdf').glob('page-*.png')))}; contact sheets: {[str(s) for s in sheets]}"
    )


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    main(Path(sys.argv[1]), Path(sys.argv[2]) if len(sys.argv) > 2 else None)
