"""End-to-end runs through the real CLI: tables, manifest, determinism, cache and resume."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from builders import basic_audit
from typer.testing import CliRunner

from uspec_audit.cli.app import app
from uspec_audit.results.schemas import arrow_type_matches, load_schema

runner = CliRunner()
NOISE = """
        [[tests]]
        name = "noise"
        kind = "perturbed"
        dataset = "test"
        metrics = ["accuracy"]
        perturbations = [{ name = "gaussian_noise", severities = [1, 3, 5] }, { name = "pixelate", severities = [2, 4] }]
"""


@pytest.fixture(scope="module")
def finished_run(digits_world, tmp_path_factory):
    folder = tmp_path_factory.mktemp("run")
    audit = basic_audit(digits_world, folder, extra=NOISE)
    result = runner.invoke(app, ["run", str(audit), "--no-reports"])
    assert result.exit_code == 0, result.output
    return folder, audit, result


def test_run_writes_every_table(finished_run):
    folder, _, result = finished_run
    results = folder / "results"
    for name in (
        "metrics",
        "summary",
        "contracts",
        "correlations",
        "calibration",
        "pca",
        "marginalization",
        "rex",
    ):
        assert (results / f"{name}.parquet").exists(), name
    manifest = json.loads((results / "manifest.json").read_text())
    assert manifest["status"] == "complete"
    assert manifest["audit"]["seed"] == 7 and len(manifest["audit"]["sha256"]) == 64
    members = manifest["ensembles"][0]["members"]
    assert len(members) == 4 and all(m["providers"] == ["CPUExecutionProvider"] for m in members)
    assert all(len(d["sha256"]) == 64 for d in manifest["datasets"])
    assert "Ensemble linear" in result.output and "sd ratio" in result.output


def test_metrics_match_an_independent_computation(finished_run, digits_world):
    """Accuracy of each member recomputed with a bare onnxruntime session and sklearn."""
    import onnxruntime as ort
    from sklearn.metrics import accuracy_score

    folder, _, _ = finished_run
    metrics = pd.read_parquet(folder / "results" / "metrics.parquet")
    for path in digits_world.onnx_members:
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        x = digits_world.test_images.transpose(0, 3, 1, 2).astype(np.float32) / 255.0
        expected = accuracy_score(digits_world.test_labels, session.run(None, {"image": x})[0].argmax(1))
        row = metrics.query(
            "test == 'iid' and member == @path.stem and metric == 'accuracy' and stratum == 'all'"
        )
        assert row["value"].item() == pytest.approx(expected, abs=1e-12)


def test_strata_partition_the_test(finished_run):
    folder, _, _ = finished_run
    metrics = pd.read_parquet(folder / "results" / "metrics.parquet")
    strata = metrics.query("test == 'by-ink' and metric == 'accuracy' and member == 'seed-0'")
    assert sorted(strata["stratum"]) == ["all", "ink=heavy", "ink=light", "ink=medium"]
    parts = strata[strata["stratum"] != "all"]
    weighted = (parts["value"] * parts["n"]).sum() / parts["n"].sum()
    assert weighted == pytest.approx(strata.query("stratum == 'all'")["value"].item())


def test_summary_sd_ratio_against_pandas(finished_run):
    folder, _, _ = finished_run
    metrics = pd.read_parquet(folder / "results" / "metrics.parquet")
    summary = pd.read_parquet(folder / "results" / "summary.parquet")
    acc = metrics.query("metric == 'accuracy' and stratum == 'all' and variant == 'none'")
    sd = acc.groupby("test")["value"].std(ddof=1)
    row = summary.query("test == 'shift' and metric == 'accuracy' and stratum == 'all'")
    assert row["sd_ratio"].item() == pytest.approx(sd["shift"] / sd["iid"])


def test_predictions_are_hive_partitioned(finished_run):
    folder, _, _ = finished_run
    table = pq.read_table(folder / "results" / "predictions", partitioning="hive").to_pandas()
    assert set(table["test"].astype(str)) == {"iid", "by-ink", "shift", "noise"}
    assert set(table["variant"].astype(str)) >= {"none", "gaussian_noise@1", "pixelate@4"}
    iid = table[(table["test"].astype(str) == "iid")]
    assert len(iid) == 4 * 597 and iid["true_prob"].between(0, 1).all()


def test_perturbed_variants_degrade_with_severity(finished_run):
    folder, _, _ = finished_run
    summary = pd.read_parquet(folder / "results" / "summary.parquet")
    noise = summary.query("test == 'noise' and metric == 'accuracy' and stratum == 'all'").set_index(
        "variant"
    )
    assert noise.loc["gaussian_noise@5", "mean"] < noise.loc["gaussian_noise@1", "mean"]


def test_tables_follow_their_schemas(finished_run):
    folder, _, _ = finished_run
    for path in sorted((folder / "results").glob("*.parquet")):
        schema = load_schema(path.stem)
        arrow = pq.read_schema(path)
        declared = [c["name"] for c in schema["columns"]]
        assert arrow.names == declared, path.stem
        for column in schema["columns"]:
            assert arrow_type_matches(column["type"], arrow.field(column["name"]).type), (
                path.stem,
                column["name"],
            )


def test_rerun_reuses_cache_and_gives_identical_tables(finished_run):
    folder, audit, _ = finished_run
    before = {p.name: pd.read_parquet(p) for p in (folder / "results").glob("*.parquet")}
    result = runner.invoke(app, ["run", str(audit), "--no-reports", "--json"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.output)
    assert payload["timings"]["units_computed"] == 0 and payload["timings"]["units_reused"] > 0
    for name, frame in before.items():
        pd.testing.assert_frame_equal(frame, pd.read_parquet(folder / "results" / name), check_exact=True)


def test_fresh_recomputes_everything_identically(finished_run, tmp_path):
    folder, audit, _ = finished_run
    out = tmp_path / "fresh"
    result = runner.invoke(app, ["run", str(audit), "--no-reports", "--json", "--fresh", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["timings"]["units_reused"] == 0
    for name in ("metrics.parquet", "summary.parquet", "correlations.parquet"):
        pd.testing.assert_frame_equal(
            pd.read_parquet(folder / "results" / name), pd.read_parquet(out / name), check_exact=True
        )


def test_only_runs_one_test_plus_reference(finished_run, tmp_path):
    _, audit, _ = finished_run
    result = runner.invoke(
        app, ["run", str(audit), "--no-reports", "--only", "shift", "--out", str(tmp_path / "o")]
    )
    assert result.exit_code == 0, result.output
    tests = set(pd.read_parquet(tmp_path / "o" / "metrics.parquet")["test"])
    assert tests == {"iid", "shift"}
    bad = runner.invoke(app, ["run", str(audit), "--only", "nope"])
    assert bad.exit_code == 2 and "unknown test" in bad.output


def test_kill_9_then_resume_recomputes_only_unfinished(digits_world, tmp_path):
    audit = basic_audit(digits_world, tmp_path, extra=NOISE.replace("[1, 3, 5]", "[1, 2, 3, 4, 5]"))
    audit.write_text(audit.read_text().replace("batch_size = 128", "batch_size = 8"))
    cache = tmp_path / "results" / ".cache" / "predictions"
    process = subprocess.Popen(
        [sys.executable, "-m", "uspec_audit", "run", str(audit), "--no-reports", "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    deadline = time.time() + 120

    def finished_units():
        return [p for p in cache.glob("*.npz") if not p.name.startswith(".tmp-")]

    while time.time() < deadline and process.poll() is None and len(finished_units()) < 2:
        time.sleep(0.005)
    interrupted = process.poll() is None
    if interrupted:
        os.kill(process.pid, signal.SIGKILL)
    process.wait()
    finished_before = len(finished_units())
    if interrupted:
        assert not (tmp_path / "results" / "manifest.json").exists()  # nothing looks complete
    resumed = subprocess.run(
        [sys.executable, "-m", "uspec_audit", "run", str(audit), "--no-reports", "--json"],
        capture_output=True,
        text=True,
    )
    assert resumed.returncode == 0, resumed.stderr
    timings = json.loads(resumed.stdout)["timings"]
    total = timings["units_computed"] + timings["units_reused"]
    assert timings["units_reused"] >= min(finished_before, total)
    assert not list(cache.glob(".tmp-*"))  # the killed write's temp file was cleaned up
    reference = tmp_path / "reference"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "uspec_audit",
            "run",
            str(audit),
            "--no-reports",
            "--fresh",
            "--json",
            "--out",
            str(reference),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    for name in ("metrics.parquet", "summary.parquet"):
        pd.testing.assert_frame_equal(
            pd.read_parquet(tmp_path / "results" / name), pd.read_parquet(reference / name), check_exact=True
        )


def test_console_script_subprocess(finished_run):
    folder, audit, _ = finished_run
    out = subprocess.run(["uspec-audit", "report", str(folder / "results")], capture_output=True, text=True)
    if out.returncode == 127:
        pytest.skip("uspec-audit is not on PATH (package not installed)")
    assert out.returncode == 0, out.stderr
    assert "Ensemble linear" in out.stdout


def test_report_refuses_incomplete_folder(tmp_path):
    (tmp_path / "metrics.parquet").write_bytes(b"")
    result = runner.invoke(app, ["report", str(tmp_path)])
    assert result.exit_code == 2 and "no manifest.json" in result.output
