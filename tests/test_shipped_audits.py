"""The shipped audits run end to end through the real command line, as the README's first command does."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

ROOT = Path(__file__).resolve().parents[1]


def _run(audit: str, out: Path) -> tuple[subprocess.CompletedProcess, dict]:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "uspec_audit",
            "run",
            str(ROOT / "audits" / audit),
            "--out",
            str(out),
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=900,
    )
    payload = json.loads(result.stdout) if result.stdout.strip().startswith("{") else {}
    return result, payload


@pytest.fixture(scope="module")
def derm(tmp_path_factory):
    out = tmp_path_factory.mktemp("derm")
    result, payload = _run("derm.toml", out)
    assert result.returncode == 0, result.stderr[-3000:]
    return out, payload


def test_derm_shows_the_underspecification_signature(derm):
    out, payload = derm
    summary = pd.read_parquet(out / "summary.parquet")
    accuracy = summary.query("ensemble == 'cnn' and metric == 'accuracy'")
    skin = accuracy.query("test == 'skin-type' and stratum != 'all'")
    camera = accuracy.query("test == 'heldout-camera'")
    # measured, not constructed: spread on some skin types and the held-out camera is >= 2x the iid spread
    assert skin["sd_ratio"].max() >= 2.0
    assert camera["sd_ratio"].item() >= 1.5
    assert set(skin["stratum"]) == {f"fitzpatrick={t}" for t in ("I", "II", "III", "IV", "V", "VI")}
    assert payload["contracts"]["failed"] == 0


def test_derm_verdicts_follow_the_rules(derm):
    """docs/methods.md §14: per-metric verdicts with reasons, insufficient below min_members, honest p-values."""
    out, _ = derm
    summary = pd.read_parquet(out / "summary.parquet")
    assert set(summary["verdict"]) <= {"underspecified", "degraded", "stable", "insufficient"}
    assert summary["verdict_reason"].str.len().gt(10).all()
    # the 2-member TorchScript ensemble never gets a verdict, whatever its spread
    two = summary.query("ensemble == 'cnn-torchscript'")
    assert (two["verdict"] == "insufficient").all() and two["verdict_reason"].str.contains(
        "min_members"
    ).all()
    cnn = summary.query("ensemble == 'cnn'")
    iid = cnn.query("test == 'iid' and stratum == 'all'")
    assert (iid["verdict"] == "stable").all() and iid["perm_p_adj"].notna().all()
    for column in ("perm_p", "perm_p_adj", "excess_p", "excess_p_adj", "degraded_p", "degraded_p_adj"):
        p = cnn[column].dropna()
        assert len(p) and p.gt(0).all() and p.le(1).all(), column
    assert (
        cnn["excess_p_adj"].dropna() >= cnn["excess_p"].dropna().reindex(cnn["excess_p_adj"].dropna().index)
    ).all()
    # the headline ranking key is finite wherever it is defined, never inf
    key = cnn["sd_ratio_corrected_ci_low"].dropna()
    assert len(key) and np.isfinite(key).all()
    # strong corruptions spread the seeds beyond what iid predicts: underspecified on accuracy's own evidence
    under = cnn.query("metric == 'accuracy' and verdict == 'underspecified'")
    assert len(under) >= 10 and (under["excess_sd"] >= under["excess_floor"]).all()
    differences = pd.read_parquet(out / "differences.parquet")
    assert differences["p_value"].gt(0).all()
    assert np.allclose(differences["p_adj"], sps.false_discovery_control(differences["p_value"]))


def test_derm_writes_every_result_and_report(derm):
    out, _ = derm
    for name in (
        "metrics",
        "summary",
        "contracts",
        "flips",
        "corruptions",
        "differences",
        "calibration",
        "pca",
    ):
        assert (out / f"{name}.parquet").exists(), name
    for report in ("report.html", "report.md"):
        assert (out / report).stat().st_size > 1000
    manifest = json.loads((out / "manifest.json").read_text())
    assert all(d["synthetic"] for d in manifest["datasets"])
    loaders = {e["name"]: e["loader"] for e in manifest["ensembles"]}
    assert loaders == {"cnn": "onnx", "cnn-torchscript": "torch"}


def test_torchscript_members_agree_with_their_onnx_twins(derm):
    out, _ = derm
    metrics = pd.read_parquet(out / "metrics.parquet").query("test == 'iid' and metric == 'accuracy'")
    onnx = metrics.query("ensemble == 'cnn'").set_index("member")["value"]
    torch = metrics.query("ensemble == 'cnn-torchscript'").set_index("member")["value"]
    for member in ("seed-0", "seed-1"):
        assert abs(onnx[member] - torch[member]) <= 2 / 2000  # at most a couple of argmax ties differ


def test_derm_counterfactual_flips(derm):
    out, _ = derm
    flips = pd.read_parquet(out / "flips.parquet")
    rates = flips.query("test == 'counterfactual-skin' and kind == 'rate'")
    assert len(rates) == 10 and rates["value"].between(0, 1).all()
    overlap = flips.query("kind == 'overlap'")
    assert len(overlap) == 100


def test_digits_audit_on_real_data(tmp_path):
    result, payload = _run("digits.toml", tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    summary = pd.read_parquet(tmp_path / "summary.parquet")
    rotated = summary.query("test == 'rotated' and metric == 'accuracy'")
    iid = summary.query("test == 'iid' and metric == 'accuracy' and stratum == 'all'")
    assert rotated["mean"].item() < iid["mean"].item() - 0.1  # a real shift costs accuracy
    assert payload["contracts"]["checked"] > 0
