"""What the file reports say: the synthetic-data banner in every format, one number format per column, the
corrected statistics when the results have them, figure notes instead of empty frames, identifiers never
plotted as attributes, timings labelled as what they are, and a progress bar with a known total."""

from __future__ import annotations

import base64
import json
import re
import shutil
import subprocess
from html.parser import HTMLParser

import pandas as pd
import pytest

from uspec_audit.report.render import render_reports, report_steps
from uspec_audit.report.tables import identifier_columns, is_identifier, load_results


class _Tables(HTMLParser):
    """Every <table> of a page as (caption, headers, rows of cell text)."""

    def __init__(self):
        super().__init__()
        self.tables, self._cell, self._row, self._in = [], None, None, []

    def handle_starttag(self, tag, attrs):
        if tag == "table":
            self.tables.append({"caption": "", "headers": [], "rows": []})
        elif tag in ("td", "th"):
            self._cell = []
        elif tag == "tr":
            self._row = []
        self._in.append(tag)

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            self._row.append(" ".join("".join(self._cell).split()))
            self._cell = None
        elif tag == "tr" and self._row is not None:
            table = self.tables[-1]
            (table["rows"] if table["headers"] else table["headers"]).extend(
                [self._row] if table["headers"] else self._row
            )
            self._row = None
        if self._in:
            self._in.pop()

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)
        elif self._in and self._in[-1] == "caption" and self.tables:
            self.tables[-1]["caption"] += data


def _tables(html: str) -> list[dict]:
    parser = _Tables()
    parser.feed(html)
    return parser.tables


def _decimals(cell: str) -> int | None:
    """Decimals of the first number of a cell (None for a missing value or a p below 0.001)."""
    if cell in ("—", "") or cell.startswith("< "):
        return None
    match = re.match(r"-?[\d,]*\.?(\d*)(e[-+]\d+)?", cell)
    assert match and not match.group(2), f"scientific notation in a fixed column: {cell!r}"
    return len(match.group(1))


NUMERIC = (
    "mean [95% CI]",
    "sd",
    "sd ratio",
    "corrected sd ratio [95% CI]",
    "excess p (adj.)",
    "ρ with iid [95% CI]",
    "bound",
    "observed",
    "n",
)


def test_one_number_format_per_column(rendered):
    tables = _tables(rendered["html"].read_text(encoding="utf-8"))
    checked = 0
    for table in tables:
        for j, header in enumerate(table["headers"]):
            name = header.replace("↕", "").strip()
            if name not in NUMERIC:
                continue
            decimals = {_decimals(row[j]) for row in table["rows"] if j < len(row)} - {None}
            assert len(decimals) <= 1, (table["caption"][:60], name, decimals)
            checked += 1
    assert checked > 30
    md = rendered["markdown"].read_text(encoding="utf-8")
    assert not re.search(r"\d\.\d+e-\d", md)
    headline = md[md.index("### Headline statistics") :]
    rows = [
        line.split(" | ") for line in headline.splitlines() if line.startswith("| ") and "---" not in line
    ]
    header = rows[0]
    for j, name in enumerate(header):
        if name.strip("| ") in ("mean", "sd", "sd ratio"):
            assert len({_decimals(r[j]) for r in rows[1:]} - {None}) == 1, name


def test_synthetic_banner_in_the_summary_the_title_page_and_markdown(rendered, build_results, tmp_path):
    html = rendered["html"].read_text(encoding="utf-8")
    summary = html[html.index('<h2 id="summary"') : html.index('<h2 id="scope"')]
    assert 'class="banner synthetic"' in summary and "<b>test</b> is generated" in summary
    md = rendered["markdown"].read_text(encoding="utf-8").splitlines()
    assert md[2].startswith("> **Synthetic data:** test is generated")
    real = build_results(tmp_path / "real", synthetic=False, minimal=True, only_tests=("skin-type",))
    html_real, md_real = render_reports(real, html=tmp_path / "r.html", markdown=tmp_path / "r.md")
    assert "banner synthetic" not in html_real.read_text() and "Synthetic data" not in md_real.read_text()


def test_synthetic_banner_on_the_pdf_title_page(rendered):
    if rendered["pdf"] is None or shutil.which("pdftotext") is None:
        pytest.skip("no PDF engine or no pdftotext (poppler-utils)")
    first = subprocess.run(
        ["pdftotext", "-f", "1", "-l", "1", str(rendered["pdf"]), "-"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "Synthetic data." in first and "generated, not collected from the real world" in " ".join(
        first.split()
    )
    summary_page = subprocess.run(
        ["pdftotext", "-f", "2", "-l", "3", str(rendered["pdf"]), "-"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "Synthetic data." in summary_page


def test_headline_ranks_by_the_corrected_ratio_and_leaves_out_insufficient_cells(build_results, tmp_path):
    folder = build_results(tmp_path / "res", members_cnn=8, members_mlp=2, minimal=True)
    html, md = render_reports(folder, html=tmp_path / "r.html", markdown=tmp_path / "r.md")
    table = next(
        t for t in _tables(html.read_text()) if t["caption"].startswith("Flagged cells ranked by the lower")
    )
    assert table["rows"] and all(not row[0].startswith("mlp") for row in table["rows"])
    summary = pd.read_parquet(folder / "summary.parquet")
    flagged = summary[summary["verdict"].isin(["underspecified", "degraded"])]
    expected = flagged.sort_values("sd_ratio_corrected_ci_low", ascending=False)
    first = expected.iloc[0]
    assert table["rows"][0][0].endswith(
        f"{first['test']} · {first['variant']}".replace(" · none", "")
        + ("" if first["stratum"] == "all" else f" · {first['stratum']}")
    )
    assert "excess p (adj.)" in table["headers"][-3] or "excess p (adj.)" in " ".join(table["headers"])
    text = md.read_text()
    headline = text[text.index("### Headline statistics") :]
    assert "| mlp |" not in headline and "corrected sd ratio [95% CI]" in headline and "| why |" in headline
    assert "Members spread beyond the iid spread and sampling noise." in headline


def test_old_results_show_the_raw_ratio_and_permutation_p(build_results, tmp_path):
    folder = build_results(tmp_path / "old", minimal=True, old_summary=True)
    html, md = render_reports(folder, html=tmp_path / "r.html", markdown=tmp_path / "r.md")
    text = html.read_text()
    assert "corrected sd ratio" not in text and "perm. p (adj.)" in text
    assert "Flagged cells ranked by the sd ratio" in text
    assert "perm. p (adj.)" in md.read_text()


def test_two_member_ensemble_gets_notes_not_blank_figures(build_results, tmp_path):
    folder = build_results(tmp_path / "res", members_cnn=2, members_mlp=0, only_tests=("skin-type",))
    corr = pd.DataFrame(
        [
            {
                "ensemble": "cnn",
                "metric": "accuracy",
                "test_a": "iid",
                "variant_a": "none",
                "stratum_a": "all",
                "test_b": "skin-type",
                "variant_b": "none",
                "stratum_b": s,
                "spearman": float("nan"),
                "pearson": float("nan"),
                "n_members": 2,
            }
            for s in ("fitzpatrick=I", "fitzpatrick=II", "fitzpatrick=III")
        ]
    )
    corr.to_parquet(folder / "correlations.parquet")  # what the statistics write for 2 members: NaN
    text = render_reports(folder, html=tmp_path / "r.html")[0].read_text()
    assert 'id="fig-corr-' not in text and 'id="fig-pca-' not in text
    assert (
        "<b>Rank correlations · cnn · accuracy:</b> not drawn: a rank correlation across members needs at "
        "least 3 members, and ensemble cnn has 2." in text
    )
    assert "Structure of disagreement · cnn · skin-type:</b> not drawn" in text


def test_identifiers_are_never_attributes(rendered, results_dir):
    results = load_results(results_dir)
    assert is_identifier("lesion_id", set()) and is_identifier("patient-ID", set())  # by their names
    assert not any(is_identifier(a, set()) for a in ("ita", "fitzpatrick", "camera", "valid", "age"))
    manifest = json.loads((results_dir / "manifest.json").read_text())
    manifest["audit"]["text"] += (
        '\n[[tests]]\nname = "pairs"\nkind = "contrastive"\ndataset = "test"\nlink = "case"\n'
    )
    manifest["audit"]["text"] = manifest["audit"]["text"].replace(
        'target = "label"', 'target = "label"\nid = "uid"'
    )
    results.manifest = manifest
    assert identifier_columns(results, "skin-type") == {
        "case",
        "uid",
    }  # the id and the link of the audit file
    assert not identifier_columns(results, "skin-type") & {"fitzpatrick", "camera", "age"}
    html = rendered["html"].read_text(encoding="utf-8")
    alts = re.findall(r'<img [^>]*alt="(PCA of member disagreement[^"]*)"', html)
    assert alts and all("lesion_id" not in a for a in alts)
    assert any("strongest attribute correlation is fitzpatrick" in a for a in alts)
    for src in re.findall(r'<figure id="fig-pca-[^"]*"><img src="data:image/svg\+xml;base64,([^"]+)"', html):
        svg = base64.b64decode(src)
        assert b"lesion_id" not in svg
        assert (
            b"camera (\xce\xb7)" in svg and b"fitzpatrick (\xcf\x81)" in svg
        )  # categorical eta, numeric rho


def test_figure_text_matches_its_colours(rendered):
    html = rendered["html"].read_text(encoding="utf-8")
    for fid, src in re.findall(
        r'<figure id="(fig-strip-[^"]*)"><img src="data:image/svg\+xml;base64,([^"]+)"', html
    ):
        svg = base64.b64decode(src).decode()
        assert "(red)" not in svg and "(blue)" not in svg, fid
        assert "ensemble mean ± 95% CI" in svg and "member" in svg, fid  # a legend names the marks instead
    captions = " ".join(re.findall(r"<figcaption>(.*?)</figcaption>", html))
    assert not re.search(r"\((red|blue|orange|green)\)", captions)


def test_timings_are_labelled_as_what_they_are(rendered):
    html = rendered["html"].read_text(encoding="utf-8")
    table = next(t for t in _tables(html) if t["headers"] and t["headers"][0].startswith("host / timing"))
    values = {row[0]: row[1] for row in table["rows"]}
    assert values["work units computed"] == "49" and values["work units reused from the cache"] == "0"
    assert values["total time"] == "412.7 s" and values["reports"] == "12.4 s"
    assert not any(k.startswith("units_") for k in values) and "49 s" not in values.values()


def test_progress_has_a_known_total_and_reaches_it(build_results, tmp_path):
    folder = build_results(
        tmp_path / "res", members_cnn=5, members_mlp=0, minimal=True, only_tests=("skin-type",)
    )
    calls: list[tuple[int, int]] = []
    render_reports(
        folder,
        html=tmp_path / "r.html",
        markdown=tmp_path / "r.md",
        progress=lambda d, t: calls.append((d, t)),
    )
    total = report_steps(load_results(folder), html=True, pdf=False, markdown=True)
    assert calls[0] == (0, total) and calls[-1] == (total, total)
    assert [d for d, _ in calls] == list(range(total + 1))

    from uspec_audit.engine.progress import Progress

    class Recorder(Progress):
        def __init__(self):
            self.steps = []

        def step(self, description, total=None):
            self.steps.append([description, total, 0])
            parent = super().step(description, total)
            record = self.steps[-1]

            class _Step:
                def __enter__(self_inner):
                    parent.__enter__()
                    return lambda n=1: record.__setitem__(2, record[2] + n)

                def __exit__(self_inner, *exc):
                    return parent.__exit__(*exc)

            return _Step()

    recorder = Recorder()
    render_reports(folder, markdown=tmp_path / "r2.md", progress=recorder)
    assert recorder.steps == [["Rendering reports", 1, 1]]


def test_html_is_built_once_for_html_and_pdf(build_results, tmp_path, monkeypatch):
    """A spy around the real builder: one build serves both the HTML and the PDF."""
    from report_helpers import pdf_engine_reason

    if pdf_engine_reason():
        pytest.skip(pdf_engine_reason())
    import uspec_audit.report.html as html_module

    calls = []
    real = html_module.build_html
    monkeypatch.setattr(html_module, "build_html", lambda *a, **k: calls.append(1) or real(*a, **k))
    folder = build_results(
        tmp_path / "res", members_cnn=5, members_mlp=0, minimal=True, only_tests=("skin-type",)
    )
    written = render_reports(folder, html=tmp_path / "r.html", pdf=tmp_path / "r.pdf")
    assert len(calls) == 1 and [p.name for p in written] == ["r.html", "r.pdf"]


def test_a_pdf_failure_can_be_a_warning(build_results, tmp_path, monkeypatch):
    monkeypatch.setenv("USPEC_AUDIT_PDF_ENGINE", "chromium")
    monkeypatch.setenv("PATH", str(tmp_path))  # no chromium binary anywhere
    monkeypatch.delenv("USPEC_AUDIT_CHROMIUM", raising=False)
    folder = build_results(
        tmp_path / "res", members_cnn=5, members_mlp=0, minimal=True, only_tests=("skin-type",)
    )
    warnings: list[str] = []
    written = render_reports(
        folder,
        html=tmp_path / "r.html",
        pdf=tmp_path / "r.pdf",
        markdown=tmp_path / "r.md",
        on_pdf_error=warnings.append,
    )
    assert [p.name for p in written] == ["r.html", "r.md"] and "no chromium binary" in warnings[0]


def test_reports_read_what_a_kind_says_not_its_name(results_dir):
    """A plugin kind's tests are read by their flags in the manifest (reference, strata, data left): a reference
    kind of another name is the reference, and a plugin kind with strata counts as a subgroup test."""
    from uspec_audit.report.sections import section_limitations
    from uspec_audit.report.tables import headline_rows

    results = load_results(results_dir)
    manifest = json.loads((results_dir / "manifest.json").read_text())
    old_limits = section_limitations(results)
    assert "No stratified test" not in old_limits  # an older manifest: read by the built-in kinds' names
    tests = []
    for t in manifest["tests"]:
        renamed = {"iid": "site-reference", "stratified": "mypkg/groups"}.get(t["kind"], t["kind"])
        tests.append(
            {
                **t,
                "kind": renamed,
                "reference": t["kind"] == "iid",
                "strata": bool(t.get("by")),
                "produces": ["flips"] if t["kind"] == "contrastive" else [],
            }
        )
    manifest["tests"] = tests
    results.manifest = manifest
    reference = next(t["name"] for t in tests if t["reference"])
    assert results.reference_tests() == {reference} and results.reference("no-such-ensemble") == reference
    limits = section_limitations(results)
    assert "No stratified test" not in limits and "No shifted, perturbed or contrastive test" not in limits
    summary = results.tables["summary"]
    rows = headline_rows(summary, references=results.reference_tests())
    assert not ((rows["test"] == reference) & (rows["stratum"] == "all")).any()
    manifest["tests"] = [{**t, "strata": False} for t in tests]  # no test has strata any more
    assert "No stratified test" in section_limitations(results)
