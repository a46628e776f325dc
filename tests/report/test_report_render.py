"""The file reports rendered from a synthetic results folder, as a reader would get them."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pytest

from uspec_audit.report.render import ReportError, render_reports


def test_all_three_outputs_are_written(rendered):
    from report_helpers import pdf_engine_reason

    reason = pdf_engine_reason()
    if reason:
        pytest.skip(reason)
    out = rendered["dir"]
    assert rendered["paths"] == [out / "report.html", out / "report.pdf", out / "report.md"]
    assert all(p.stat().st_size > 0 for p in rendered["paths"])
    assert rendered["pdf"].read_bytes().startswith(b"%PDF-")
    assert not list(out.glob("*.tmp"))


def test_html_is_self_contained_and_escaped(rendered):
    text = rendered["html"].read_text(encoding="utf-8")
    assert text.startswith("<!DOCTYPE html>")
    assert len(text.encode()) < 5_000_000
    # nothing fetched from anywhere: no external src/href, no <link>, no @import, no web fonts
    assert not re.search(r'(src|href)\s*=\s*"(?!data:|#)', text)
    assert "<link" not in text and "@import" not in text and "@font-face" not in text
    assert "http://" not in text.split("<main>")[0] and "https://" not in text.split("<main>")[0]
    # the audit title holds "<demo>": it must be escaped everywhere
    assert "<demo>" not in text and "&lt;demo&gt;" in text
    # every image has alt text and a caption with a reading guide
    imgs = re.findall(r"<img [^>]*>", text)
    assert len(imgs) >= 10
    for img in imgs:
        alt = re.search(r'alt="([^"]*)"', img)
        assert alt and len(alt.group(1)) > 40, img[:120]
    assert text.count("<figcaption>") == len(imgs)
    # print CSS with page breaks
    assert "@media print" in text and "break-before: page" in text


def test_html_has_every_section_and_every_contract(rendered, results_dir):
    text = rendered["html"].read_text(encoding="utf-8")
    for heading in (
        "Executive summary",
        "Scope",
        "Methodology",
        "Results by ensemble",
        "Results per test",
        "Limitations",
        "Reproducibility",
    ):
        assert f"{heading}</h2>" in text, heading
    for cite in ("D'Amour", "Krueger", "Sellam", "Benjamini", "Guo", "Hendrycks"):
        assert cite in text.replace("&#x27;", "'"), cite
    contracts = pd.read_parquet(results_dir / "contracts.parquet")
    assert text.count('class="badge s-FAIL"') == (contracts["status"] == "FAIL").sum()
    assert text.count('class="badge s-PASS"') == (contracts["status"] == "PASS").sum()
    manifest = json.loads((results_dir / "manifest.json").read_text())
    for ens in manifest["ensembles"]:
        for member in ens["members"]:
            assert member["sha256"] in text
    for ds in manifest["datasets"]:
        assert ds["sha256"] in text
    assert manifest["command"] in text
    assert "Synthetic data" in text  # limitation from datasets marked synthetic
    for kind in ("parallel", "corr", "strip", "calib", "marg", "flips", "pca", "groups"):
        assert f'id="fig-{kind}-' in text, kind


def test_rendering_is_deterministic(build_results, tmp_path):
    d = build_results(tmp_path / "res", members_cnn=4, members_mlp=0, only_tests=("skin-type", "tone-swap"))
    one = render_reports(d, html=tmp_path / "one.html", markdown=tmp_path / "one.md")
    two = render_reports(d, html=tmp_path / "two.html", markdown=tmp_path / "two.md")
    for a, b in zip(one, two, strict=True):
        assert a.read_bytes() == b.read_bytes(), a.name


def test_markdown_lists_every_contract_verdict(rendered, results_dir):
    md = rendered["markdown"].read_text(encoding="utf-8")
    contracts = pd.read_parquet(results_dir / "contracts.parquet")
    lines = md.splitlines()
    for _, c in contracts.iterrows():
        hits = [
            ln
            for ln in lines
            if c["status"] in ln
            and f"| {c['ensemble']} |" in ln
            and f"| {c['stratum']} |" in ln
            and f"| {c['contract']} |" in ln
            and f"| {c['test']} |" in ln
        ]
        assert len(hits) == 1, (c.to_dict(), hits)
    failed = int((contracts["status"] == "FAIL").sum())
    assert f"{failed} of {len(contracts)} contracts FAIL" in md
    summary = pd.read_parquet(results_dir / "summary.parquet")
    for verdict in set(summary["verdict"]):
        assert verdict in md


def test_missing_manifest_is_a_clear_error(tmp_path):
    with pytest.raises(ReportError, match="no manifest.json"):
        render_reports(tmp_path, html=tmp_path / "r.html")
    with pytest.raises(ReportError, match="not found"):
        render_reports(tmp_path / "nope", html=tmp_path / "r.html")


def test_incomplete_run_is_refused(build_results, tmp_path):
    d = build_results(tmp_path / "res", status="running", minimal=True)
    with pytest.raises(ReportError, match="incomplete run.*'running'"):
        render_reports(d, html=tmp_path / "r.html")
    assert not (tmp_path / "r.html").exists()


def test_missing_required_table_is_named(build_results, tmp_path):
    d = build_results(tmp_path / "res", minimal=True)
    (d / "summary.parquet").unlink()
    with pytest.raises(ReportError, match="summary.parquet is missing"):
        render_reports(d, markdown=tmp_path / "r.md")


def test_minimal_folder_renders_without_optional_tables(build_results, tmp_path):
    d = build_results(tmp_path / "res", minimal=True, only_tests=("skin-type",))
    (d / "contracts.parquet").unlink()
    html, md = render_reports(d, html=tmp_path / "r.html", markdown=tmp_path / "r.md")
    text = html.read_text(encoding="utf-8")
    assert "fig-parallel-" in text and "fig-corr-" not in text and "fig-calib-" not in text
    assert "Not in this results folder" in text
    assert "No contracts in this audit" in md.read_text(encoding="utf-8")


def test_damaged_optional_table_is_reported_not_fatal(build_results, tmp_path):
    d = build_results(tmp_path / "res", members_cnn=3, members_mlp=0, only_tests=("skin-type",))
    (d / "calibration.parquet").write_bytes(b"not parquet")
    text = render_reports(d, html=tmp_path / "r.html")[0].read_text(encoding="utf-8")
    assert "calibration.parquet could not be read" in text and "fig-calib-" not in text


def test_one_member_ensemble_and_no_groups(build_results, tmp_path):
    d = build_results(tmp_path / "res", members_cnn=1, members_mlp=0, only_tests=("skin-type",))
    text = render_reports(d, html=tmp_path / "r.html")[0].read_text(encoding="utf-8")
    assert "has one member" in text
    assert "fig-parallel-" not in text  # no spread to draw


def test_few_members_and_columns_missing(build_results, tmp_path):
    d = build_results(tmp_path / "res", members_cnn=4, members_mlp=3, minimal=True, only_tests=("skin-type",))
    s = pd.read_parquet(d / "summary.parquet").drop(columns=["spearman_ci_low", "mean_ci_low", "anova_p"])
    s.to_parquet(d / "summary.parquet")
    text = render_reports(d, html=tmp_path / "r.html")[0].read_text(encoding="utf-8")
    assert "has 4 members" in text and "has 3 members" in text
    assert Path(tmp_path / "r.html").stat().st_size > 0


def test_markdown_has_no_raw_html_and_no_entities(rendered):
    """Plain text and rendered Markdown read the same: a tag-like title is backslash-escaped, p-values read
    "< 0.001", and no HTML entity or tag appears anywhere."""
    md = rendered["markdown"].read_text(encoding="utf-8")
    assert r"\<demo>" in md
    assert not re.search(r"(?<!\\)<[A-Za-z/!?]", md), "a raw HTML tag in report.md"
    assert not re.search(r"&(#\d+|#x[0-9a-f]+|[a-z]+);", md), "an HTML entity in report.md"
    assert "< 0.001" in md


def test_pdf_without_an_engine_says_what_to_install(tmp_path, monkeypatch):
    from uspec_audit.report.pdf import write_pdf

    monkeypatch.setenv("USPEC_AUDIT_PDF_ENGINE", "chromium")
    monkeypatch.setenv("PATH", str(tmp_path))  # no chromium binary anywhere
    monkeypatch.delenv("USPEC_AUDIT_CHROMIUM", raising=False)
    with pytest.raises(ReportError, match="no chromium binary.*pip install 'weasyprint"):
        write_pdf("<html><body>x</body></html>", tmp_path / "r.pdf")
    assert not (tmp_path / "r.pdf").exists()
