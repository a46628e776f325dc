"""The reports as a person sees them: the HTML in headless Chromium, the PDF rasterised by pdftoppm.

Screenshots and page images are kept under $USPEC_REPORT_ARTIFACTS when that is
set (to look at them), else in pytest's tmp dir. The tools come from Debian:
``apt-get install -y chromium poppler-utils``; ``pip install websocket-client``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from report_helpers import Chromium, find_chromium

from uspec_audit.report.render import render_reports


def _artifacts(tmp_path: Path, name: str) -> Path:
    base = os.environ.get("USPEC_REPORT_ARTIFACTS")
    out = Path(base) / name if base else tmp_path / name
    out.mkdir(parents=True, exist_ok=True)
    return out


def _ink(png: Path) -> float:
    """Share of pixels that are not (near) white."""
    a = np.asarray(Image.open(png).convert("L"), dtype=np.uint8)
    return float((a < 235).mean())


def test_html_in_headless_chromium(rendered, tmp_path):
    binary = find_chromium()
    if binary is None:
        pytest.skip("chromium is not installed (Debian: apt-get install -y chromium)")
    pytest.importorskip(
        "websocket", reason="websocket-client is not installed (pip install websocket-client)"
    )
    shots = _artifacts(tmp_path, "html")
    with Chromium(binary) as browser:
        page = browser.check_page(rendered["html"], shots=shots)
    assert page.console_errors == []
    external = [u for u in page.requests if not u.startswith(("file:", "data:", "about:"))]
    assert external == [], external
    assert "&lt;" not in page.title and "<demo>" in page.title
    imgs = [f for f in page.figures if f["tag"] == "img"]
    assert len(imgs) >= 10
    for f in page.figures:
        assert f["w"] > 100 and f["h"] > 100, f
        if f["tag"] == "img":
            assert f["complete"] and f["nw"] > 0 and f["nh"] > 0, f  # decoded, not a broken image
            assert len(f["alt"]) > 40
    for shot in page.screenshots:
        with Image.open(shot) as im:
            assert im.size == (1280, 1600)
        assert _ink(shot) > 0.03, shot  # something is drawn


def test_pdf_pages(rendered, tmp_path):
    if shutil.which("pdftoppm") is None or shutil.which("pdftotext") is None:
        pytest.skip("pdftoppm/pdftotext are not installed (Debian: apt-get install -y poppler-utils)")
    if rendered["pdf"] is None:
        from report_helpers import pdf_engine_reason

        pytest.skip(pdf_engine_reason())
    out = _artifacts(tmp_path, "pdf")
    pdf = shutil.copy(rendered["pdf"], out / "report.pdf")
    info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True, check=True).stdout
    pages = int(next(line.split()[-1] for line in info.splitlines() if line.startswith("Pages:")))
    assert pages >= 12  # title page + 7 sections + figures
    subprocess.run(["pdftoppm", "-r", "40", "-png", str(pdf), str(out / "page")], check=True)
    images = sorted(out.glob("page-*.png"))
    assert len(images) == pages
    texts = [
        subprocess.run(
            ["pdftotext", "-layout", "-f", str(i), "-l", str(i), str(pdf), "-"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        for i in range(1, pages + 1)
    ]
    # title page: the title and the verdict line, alone on page 1
    assert "Skin-condition classifier" in texts[0] and "contracts FAIL" in texts[0]
    assert "Executive summary" not in texts[0]
    # every page has content; every page with a figure caption has a drawn figure on it
    figure_pages = [i for i, t in enumerate(texts) if "Figure " in t]
    assert len(figure_pages) >= 8
    for i, png in enumerate(images):
        assert _ink(png) > (0.04 if i in figure_pages else 0.002), (png, _ink(png))
    # the page furniture: "page N of M"
    assert f"page 2 of {pages}" in texts[1]


def test_pdf_with_chromium_engine(results_dir, tmp_path, monkeypatch, build_results):
    from uspec_audit.report.pdf import find_chromium as pdf_chromium

    if pdf_chromium() is None:
        pytest.skip("chromium is not installed (Debian: apt-get install -y chromium)")
    if shutil.which("pdfinfo") is None:
        pytest.skip("pdfinfo is not installed (Debian: apt-get install -y poppler-utils)")
    monkeypatch.setenv("USPEC_AUDIT_PDF_ENGINE", "chromium")
    small = build_results(
        tmp_path / "small", members_cnn=4, members_mlp=0, minimal=True, only_tests=("skin-type",)
    )
    pdf = render_reports(small, pdf=tmp_path / "c.pdf")[0]
    info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True, check=True).stdout
    assert int(next(line.split()[-1] for line in info.splitlines() if line.startswith("Pages:"))) >= 5


BADGES_JS = """JSON.stringify(Array.from(document.querySelectorAll('.table-wrap .badge')).map(function (b) {
  var wrap = b.closest('.table-wrap'), cell = b.closest('td'), r = b.getBoundingClientRect();
  return {right: r.right, cell: cell.getBoundingClientRect().right, wrap: wrap.getBoundingClientRect().right,
          scroll: wrap.scrollWidth - wrap.clientWidth, text: b.textContent,
          summary: !!b.closest('section, main') && wrap.compareDocumentPosition(document.getElementById('scope')) === 4};
}))"""


@pytest.mark.parametrize("width", [1280, 1024])
def test_badges_stay_inside_their_tables(rendered, width):
    """Verdict badges are drawn inside their cell and the summary tables need no horizontal scrolling."""
    binary = find_chromium()
    if binary is None:
        pytest.skip("chromium is not installed (Debian: apt-get install -y chromium)")
    pytest.importorskip(
        "websocket", reason="websocket-client is not installed (pip install websocket-client)"
    )
    import json

    with Chromium(binary) as browser:
        browser.check_page(rendered["html"], width=width)
        result = browser.send("Runtime.evaluate", expression=BADGES_JS, returnByValue=True)
    badges = json.loads(result["result"]["value"])
    assert len(badges) > 50
    for badge in badges:
        assert badge["right"] <= badge["cell"] + 0.5 and badge["right"] <= badge["wrap"] + 0.5, badge
    summary = [b for b in badges if b["summary"]]
    assert summary and all(b["scroll"] <= 0 for b in summary), [b for b in summary if b["scroll"] > 0][:3]
